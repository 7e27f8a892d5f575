/**
 * Hit rate: the real service (`node dist/src/main.js`, default pool sizes: SQLite readers 3–15,
 * one writer) under a steady load (the load generator's mix — reads, searches with include=author,
 * batch writes — at a fixed rate). After a warm-up, each round resets the JSON API's window
 * (`POST /metrics/database/pool/reset`), runs the load, and reads `GET /metrics/database/pool`.
 */
import { JsonClient, spawnService } from './support/http.js';
import { DEFAULT_MIX, LoadGenerator } from './support/load-core.js';
import { collectRounds, main, measured, type BenchmarkDefinition, type ResultRow } from './harness.js';

const RATE = 100;
const DEFAULT_SECONDS = 5;

interface PoolReport {
  readonly pool: string;
  readonly hit_rate: number | null;
  readonly pool_hits: number;
  readonly pool_misses: number;
  readonly total_connections: number;
  readonly max_connections: number;
}

export const definition: BenchmarkDefinition = {
  name: 'hit-rate',
  title: 'Hit rate: steady load at the default pool size (GET /metrics/database/pool)',
  defaultRounds: 5,
  async run(ctx) {
    const seconds = ctx.flags.seconds ?? DEFAULT_SECONDS;
    // Tracing off: with no collector to export to, the exporter's retries would only add noise.
    const service = await spawnService(ctx.tmpDir(), { OTEL_SDK_DISABLED: 'true' });
    ctx.defer(() => service.stop());
    const client = new JsonClient(service.url);
    ctx.defer(() => client.close());
    const load = (durationS: number) =>
      new LoadGenerator({
        target: service.url,
        durationS,
        rate: RATE,
        mix: DEFAULT_MIX,
        maxInFlight: 64,
        batchSize: 20,
        seedPlots: 200,
      }).run();

    const reports: PoolReport[][] = [];
    const samples = await collectRounds(
      { rounds: ctx.rounds, warmup: ctx.warmup, log: ctx.log },
      async () => {
        await client.expect(200, 'POST', '/metrics/database/pool/reset');
        const summary = await load(seconds);
        const body = await client.expect<{ pools: PoolReport[] }>(200, 'GET', '/metrics/database/pool');
        reports.push(body.pools);
        const out: Record<string, number> = { 'req/s': summary.achievedRate };
        for (const p of body.pools) out[p.pool] = p.hit_rate === null ? Number.NaN : p.hit_rate * 100;
        return out;
      },
    );
    const measuredReports = reports.slice(ctx.warmup);
    const rows: ResultRow[] = [];
    for (const name of ['sqlite-read', 'sqlite-write']) {
      const values = samples.get(name) ?? [];
      const last = measuredReports.map((r) => r.find((p) => p.pool === name)).filter((p) => p !== undefined);
      const hits = last.reduce((a, p) => a + p.pool_hits, 0);
      const misses = last.reduce((a, p) => a + p.pool_misses, 0);
      const sizes = [...new Set(last.map((p) => p.total_connections))].join('/');
      rows.push({
        benchmark: `hit rate (${name})`,
        compares: `hit rate per ${seconds} s window after warm-up`,
        a: measured(name, '%', values),
        target: { on: 'a', op: '>=', value: 99, text: '≥ 99 % after warm-up' },
        note: `${hits} hits, ${misses} misses over ${ctx.rounds} windows; open connections ${sizes} of max ${last[0]?.max_connections ?? '?'}`,
      });
    }
    return {
      rows,
      extra: { rate: RATE, secondsPerRound: seconds, achievedRate: samples.get('req/s'), reports },
      notes: [
        `Load: reads/search/batch ${DEFAULT_MIX.read}/${DEFAULT_MIX.search}/${DEFAULT_MIX.batch} at ${RATE} req/s from the bench process; service defaults (pools 3–15 readers, 1 writer).`,
      ],
    };
  },
};

if (require.main === module) main(definition);
