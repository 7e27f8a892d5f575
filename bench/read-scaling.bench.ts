/**
 * Read scaling: CPU-bound reads through a reader pool of 1 worker vs 2 workers (worker mode; the
 * readers run in parallel in WAL mode). The read is a realistic expensive one: a free-text search
 * (`q`, case-insensitive substring over title, summary and genre with the Unicode fold function)
 * over 10,000 plots that matches nothing, so every row is scanned, twice (page + count). Eight
 * searches are kept in flight; throughput in searches/s.
 */
import { performance } from 'node:perf_hooks';

import type { SqliteAdapter } from '../src/adapters/sqlite/index.js';
import { TABLES } from '../src/schema/tables.js';
import { benchConfig, sqliteAdapter } from './support/adapters.js';
import { seedStory } from './support/data.js';
import { interleave, main, measured, ratios, type BenchmarkDefinition } from './harness.js';

const ROWS = 10_000;
const IN_FLIGHT = 8;
const SEARCHES_PER_ROUND = 16;

/** Process CPU time / wall time per round and variant: how many cores the process actually got. */
const coresUsed: Record<string, number[]> = {};

async function throughput(name: string, adapter: SqliteAdapter): Promise<number> {
  let next = 0;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const lane = async (): Promise<void> => {
    while (next < SEARCHES_PER_ROUND) {
      next++;
      const result = await adapter.search(TABLES.plots, {
        filters: [],
        text: 'no such words here',
        sort: [],
        limit: 20,
        offset: 0,
      });
      if (result.total !== 0) throw new Error('the search should match nothing');
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  (coresUsed[name] ??= []).push((cpu.user + cpu.system) / 1000 / wallMs);
  return SEARCHES_PER_ROUND / (wallMs / 1000);
}

export const definition: BenchmarkDefinition = {
  name: 'read-scaling',
  title: 'Read scaling: CPU-bound reads with 1 vs 2 reader workers',
  defaultRounds: 7,
  async run(ctx) {
    const config = benchConfig(ctx.tmpDir());
    const one = sqliteAdapter(config, { mode: 'worker', readers: { min: 1, max: 1 } });
    await one.start();
    ctx.defer(() => one.stop());
    for (let i = 0; i < ROWS / 5000; i++) await seedStory(one, { authors: 10, plots: 5000 });
    const two = sqliteAdapter(config, { mode: 'worker', readers: { min: 2, max: 2 } });
    await two.start();
    ctx.defer(() => two.stop());
    const samples = await interleave(
      [
        { name: '1 reader', unit: 'searches/s', measure: () => throughput('1 reader', one) },
        { name: '2 readers', unit: 'searches/s', measure: () => throughput('2 readers', two) },
      ],
      { rounds: ctx.rounds, warmup: ctx.warmup, log: ctx.log },
    );
    const a = samples.get('2 readers')!;
    const b = samples.get('1 reader')!;
    return {
      rows: [
        {
          benchmark: 'read scaling',
          compares: 'full-scan searches/s with 2 vs 1 reader workers',
          a: measured('2 readers', 'searches/s', a),
          b: measured('1 reader', 'searches/s', b),
          ratio: measured('2 / 1', '×', ratios(a, b)),
          target: { on: 'ratio', op: '>=', value: 1.5, text: '≥ 1.5× on 2 cores' },
        },
        {
          benchmark: 'read scaling (cores used)',
          compares: 'process CPU time / wall time while the searches ran',
          a: measured('2 readers', 'cores', coresUsed['2 readers']!.slice(ctx.warmup)),
          b: measured('1 reader', 'cores', coresUsed['1 reader']!.slice(ctx.warmup)),
          ratio: measured(
            '2 / 1',
            '×',
            ratios(coresUsed['2 readers']!.slice(ctx.warmup), coresUsed['1 reader']!.slice(ctx.warmup)),
          ),
          note: 'diagnostic: 2 readers can only scale if the process gets more than one core',
        },
      ],
      extra: { rows: ROWS, inFlight: IN_FLIGHT, searchesPerRound: SEARCHES_PER_ROUND, coresUsed },
      notes: [
        `${ROWS.toLocaleString('en-US')} plots, ${IN_FLIGHT} searches in flight, ${SEARCHES_PER_ROUND} per round and variant.`,
      ],
    };
  },
};

if (require.main === module) main(definition);
