/**
 * Event loop: the p99 event-loop delay (`monitorEventLoopDelay`, 10 ms resolution) measured while
 * one 0.5 s read query runs through the reader pool, in worker mode (the query runs in a worker
 * thread) and in inline mode (it runs on the main thread and blocks it), interleaved. A third
 * variant measures the same window with no query at all: the machine's own timer noise.
 *
 * The query is CPU-bound (a recursive CTE counting to N), calibrated at start-up on a bare
 * connection to take about 0.5 s; each round reports how long it actually took.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

import Database from 'better-sqlite3';

import type { SqliteAdapter } from '../src/adapters/sqlite/index.js';
import { benchConfig, sqliteAdapter } from './support/adapters.js';
import { interleave, main, measured, ratios, sleep, summarize, type BenchmarkDefinition } from './harness.js';

const QUERY_MS = 500;
const RESOLUTION_MS = 10;
const SLOW_SQL =
  'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) SELECT count(*) AS n FROM c';

/** N such that SLOW_SQL takes about `ms` on this machine now (median of three probes). */
function calibrate(path: string, ms: number): number {
  const db = new Database(path, { readonly: true });
  try {
    const statement = db.prepare(SLOW_SQL);
    const probe = 200_000;
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      statement.get(probe);
      times.push(performance.now() - started);
    }
    const perRow = summarize(times).median / probe;
    return Math.max(10_000, Math.round(ms / perRow));
  } finally {
    db.close();
  }
}

export const definition: BenchmarkDefinition = {
  name: 'event-loop',
  title: 'Event loop: p99 delay while a 0.5 s read query runs, worker vs inline',
  defaultRounds: 7,
  async run(ctx) {
    const config = benchConfig(ctx.tmpDir());
    const adapters: Record<string, SqliteAdapter> = {
      worker: sqliteAdapter(config, { mode: 'worker' }),
      inline: sqliteAdapter(config, { mode: 'inline' }),
    };
    for (const adapter of Object.values(adapters)) {
      await adapter.start();
      ctx.defer(() => adapter.stop());
    }
    const n = calibrate(config.sqlite.path, QUERY_MS);
    ctx.log(`  calibrated: N = ${n.toLocaleString('en-US')} rows for ~${QUERY_MS} ms`);
    const queryMs: Record<string, number[]> = { worker: [], inline: [] };

    const window = async (run: () => Promise<void>): Promise<number> => {
      const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
      histogram.enable();
      await run();
      // A few more ticks so a delay that ended with the query is recorded.
      await sleep(5 * RESOLUTION_MS);
      histogram.disable();
      return histogram.percentile(99) / 1e6;
    };
    const withQuery = (mode: 'worker' | 'inline') => ({
      name: mode,
      unit: 'ms',
      measure: () =>
        window(async () => {
          // Let the histogram's timer start before the query.
          await sleep(3 * RESOLUTION_MS);
          const started = performance.now();
          const row = await adapters[mode]!.readerPool.withConnection((c) => c.get(SLOW_SQL, [n]));
          queryMs[mode]!.push(performance.now() - started);
          if (Number(row?.n) !== n) throw new Error(`query counted ${String(row?.n)}, expected ${n}`);
        }),
    });
    const samples = await interleave(
      [
        withQuery('worker'),
        withQuery('inline'),
        { name: 'no query', unit: 'ms', measure: () => window(() => sleep(3 * RESOLUTION_MS + QUERY_MS)) },
      ],
      { rounds: ctx.rounds, warmup: ctx.warmup, log: ctx.log, between: () => sleep(100) },
    );
    const worker = samples.get('worker')!;
    const inline = samples.get('inline')!;
    const idle = samples.get('no query')!;
    const q = (mode: string): number[] => queryMs[mode]!.slice(ctx.warmup);
    return {
      rows: [
        {
          benchmark: 'event loop',
          compares: 'p99 event-loop delay during a 0.5 s read query, worker vs inline',
          a: measured('worker', 'ms', worker),
          b: measured('inline', 'ms', inline),
          ratio: measured('inline / worker', '×', ratios(inline, worker)),
          target: { on: 'a', op: '<=', value: 20, text: 'worker ≤ 20 ms' },
        },
        {
          benchmark: 'event loop (no query)',
          compares: 'p99 event-loop delay over the same window with no query (machine noise)',
          a: measured('no query', 'ms', idle),
          note: `diagnostic; query took ${summarize(q('worker')).median.toFixed(0)} ms (worker), ${summarize(q('inline')).median.toFixed(0)} ms (inline)`,
        },
      ],
      extra: {
        n,
        sql: SLOW_SQL,
        resolutionMs: RESOLUTION_MS,
        queryMs: { worker: q('worker'), inline: q('inline') },
      },
      notes: [`monitorEventLoopDelay resolution ${RESOLUTION_MS} ms; p99 over the query's window.`],
    };
  },
};

if (require.main === module) main(definition);
