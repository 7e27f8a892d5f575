/**
 * Memory: resident set size of the real service (`node dist/src/main.js`, metrics on, tracing on
 * at 100 % with batch export to a local OTLP sink — as deployed with a trace backend) under a
 * steady load from the load generator, sampled every second from /proc for `--soak-minutes`
 * (default 1; `--soak-minutes 5` for the full run), after a warm-up. Reported: RSS at steady load
 * (the first fifth of the soak) and at the end (the last fifth), and the V8 heap after GC (the
 * lowest `nodejs_heap_size_used_bytes` seen in each fifth — a leak shows there first).
 * "Growth beyond noise": the end median exceeds the steady window's max + 5 %.
 *
 * The mix writes a little (reads 65, search 30, batch 5 of 5 rows), so the data set — and SQLite's
 * page cache — grows slowly; the database size at the start and end is reported alongside.
 */
import fs from 'node:fs';
import path from 'node:path';

import { JsonClient, rssOf, spawnService } from './support/http.js';
import { LoadGenerator, type LoadSummary } from './support/load-core.js';
import { startOtlpSink } from './support/otlp-sink.js';
import { main, measured, sleep, summarize, type BenchmarkDefinition } from './harness.js';

const RATE = 100;
const WARMUP_S = 15;
const MIX = { read: 65, search: 30, batch: 5 } as const;

function fileSize(file: string): number {
  let total = 0;
  for (const suffix of ['', '-wal']) {
    try {
      total += fs.statSync(`${file}${suffix}`).size;
    } catch {
      // absent
    }
  }
  return total;
}

async function heapUsed(client: JsonClient): Promise<number> {
  const res = await client.request<string>('GET', '/metrics');
  const match = /^nodejs_heap_size_used_bytes (\S+)/m.exec(String(res.body));
  return match ? Number(match[1]) : Number.NaN;
}

const MiB = 1024 * 1024;

export const definition: BenchmarkDefinition = {
  name: 'memory',
  title: 'Memory: service RSS at steady load and after the soak',
  defaultRounds: 1,
  defaultWarmup: 0,
  async run(ctx) {
    const soakS = Math.round((ctx.flags.soakMinutes ?? 1) * 60);
    const sink = await startOtlpSink();
    ctx.defer(() => sink.close());
    const dir = ctx.tmpDir();
    const service = await spawnService(dir, {
      OTEL_TRACES_SAMPLER: 'always_on',
      OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    });
    ctx.defer(() => service.stop());
    const client = new JsonClient(service.url, 2);
    ctx.defer(() => client.close());
    const dbFile = path.join(dir, 'service.db');
    const rssAtIdle = rssOf(service.pid);

    ctx.log(`  warm-up ${WARMUP_S} s, then ${soakS} s at ${RATE} req/s`);
    const generator = new LoadGenerator({
      target: service.url,
      durationS: WARMUP_S + soakS,
      rate: RATE,
      mix: MIX,
      maxInFlight: 64,
      batchSize: 5,
      seedPlots: 500,
    });
    const loadDone = generator.run();
    let summary: LoadSummary | null = null;
    void loadDone.then((s) => {
      summary = s;
    });
    await sleep(WARMUP_S * 1000);
    const dbAtStart = fileSize(dbFile);
    const rss: number[] = [];
    const heap: Array<{ t: number; bytes: number }> = [];
    const started = Date.now();
    // Bounded by the soak length (plus one second of slack per sample).
    for (let t = 0; t < soakS && Date.now() - started < (soakS + 30) * 1000; t++) {
      const tick = Date.now();
      rss.push(rssOf(service.pid));
      if (t % 5 === 0) heap.push({ t, bytes: await heapUsed(client) });
      if ((t + 1) % 30 === 0)
        ctx.log(`  ${t + 1}/${soakS} s: RSS ${(rss[rss.length - 1]! / MiB).toFixed(1)} MiB`);
      await sleep(Math.max(0, 1000 - (Date.now() - tick)));
    }
    await loadDone;
    const dbAtEnd = fileSize(dbFile);
    const fifth = Math.max(1, Math.floor(rss.length / 5));
    const steady = rss.slice(0, fifth).map((b) => b / MiB);
    const end = rss.slice(-fifth).map((b) => b / MiB);
    const heapFifth = Math.max(1, Math.floor(heap.length / 5));
    const heapSteady = Math.min(...heap.slice(0, heapFifth).map((h) => h.bytes)) / MiB;
    const heapEnd = Math.min(...heap.slice(-heapFifth).map((h) => h.bytes)) / MiB;
    const steadyStats = summarize(steady);
    const endStats = summarize(end);
    const limit = steadyStats.max * 1.05;
    const growth = endStats.median - steadyStats.median;
    const s = summary as LoadSummary | null;
    return {
      rows: [
        {
          benchmark: `memory (RSS, ${(soakS / 60).toFixed(1)} min soak)`,
          compares: `service RSS in the first vs the last fifth of the soak at ${RATE} req/s`,
          a: measured('end', 'MiB', end),
          b: measured('steady', 'MiB', steady),
          ratio: measured('end / steady', '×', [endStats.median / steadyStats.median]),
          target: {
            on: 'a',
            op: '<=',
            value: Math.round(limit * 10) / 10,
            text: `report both; no growth beyond noise (end ≤ steady max + 5 % = ${limit.toFixed(1)} MiB)`,
          },
          note: `growth ${growth.toFixed(1)} MiB; heap after GC ${heapSteady.toFixed(1)} → ${heapEnd.toFixed(1)} MiB; idle ${(rssAtIdle / MiB).toFixed(0)} MiB; db ${(dbAtStart / MiB).toFixed(1)} → ${(dbAtEnd / MiB).toFixed(1)} MiB`,
        },
      ],
      extra: {
        soakSeconds: soakS,
        rate: RATE,
        mix: MIX,
        rssMiB: rss.map((b) => Math.round((b / MiB) * 10) / 10),
        heapUsedMiB: heap.map((h) => ({ t: h.t, mib: Math.round((h.bytes / MiB) * 10) / 10 })),
        rssAtIdleMiB: rssAtIdle / MiB,
        dbBytes: { start: dbAtStart, end: dbAtEnd },
        load:
          s === null
            ? null
            : { achievedRate: s.achievedRate, completed: s.completed, skipped: s.skipped, kinds: s.kinds },
        otlpSink: { ...sink.stats },
      },
      notes: [
        `Load generator in the bench process; service metrics on, tracing at 100 % to a local OTLP sink (${sink.stats.requests} exports).`,
        s === null
          ? 'load summary unavailable'
          : `load achieved ${s.achievedRate.toFixed(1)} req/s (${s.completed} requests, ${s.skipped} skipped at the in-flight cap).`,
      ],
    };
  },
};

if (require.main === module) main(definition);
