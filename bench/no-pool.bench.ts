/**
 * No-pool baseline: a pooled point read against open → query → close per operation (what the
 * original BooksWriter did for every call). The per-operation connection is opened exactly as a
 * pooled connection is (read-only, the service's pragmas), since that is what it would need to
 * behave the same; a diagnostic variant opens with no pragmas at all (the least a fresh connection
 * can cost).
 */
import Database from 'better-sqlite3';

import { connectionPragmas } from '../src/adapters/sqlite/index.js';
import { statementsFor } from '../src/adapters/sqlite/sql.js';
import { TABLES } from '../src/schema/tables.js';
import { benchConfig, sqliteAdapter } from './support/adapters.js';
import { seedStory } from './support/data.js';
import {
  collectRounds,
  interleavedTimePerOp,
  main,
  measured,
  ratios,
  type BenchmarkDefinition,
  type ResultRow,
  type TimedOp,
} from './harness.js';

const MIN_MS_PER_ROUND = 300;

export const definition: BenchmarkDefinition = {
  name: 'no-pool',
  title: 'No-pool baseline: pooled point read vs open-query-close per operation',
  defaultRounds: 7,
  async run(ctx) {
    const dir = ctx.tmpDir();
    const config = benchConfig(dir);
    const sql = statementsFor(TABLES.plots).byId();
    const worker = sqliteAdapter(config, { mode: 'worker' });
    await worker.start();
    ctx.defer(() => worker.stop());
    const ids = (await seedStory(worker, { authors: 50, plots: 2000 })).plotIds;
    const inline = sqliteAdapter(config, { mode: 'inline' });
    await inline.start();
    ctx.defer(() => inline.stop());

    const pragmas = connectionPragmas(config.sqlite.busyTimeoutMs).filter(
      (p) => !p.startsWith('journal_mode'),
    );
    const openQueryClose =
      (withPragmas: boolean) =>
      (i: number): unknown => {
        const db = new Database(config.sqlite.path, {
          readonly: true,
          fileMustExist: true,
          timeout: config.sqlite.busyTimeoutMs,
        });
        try {
          if (withPragmas) for (const pragma of pragmas) db.pragma(pragma);
          return db.prepare(sql).get(ids[i % ids.length]);
        } finally {
          db.close();
        }
      };
    const pooled = (adapter: typeof worker): TimedOp => ({
      run: (i) => adapter.readerPool.withConnection((c) => c.get(sql, [ids[i % ids.length]])),
    });
    const ops: Record<string, TimedOp> = {
      'pooled (worker)': pooled(worker),
      'pooled (inline)': pooled(inline),
      'open-query-close': { sync: true, run: openQueryClose(true) },
      'open-query-close, no pragmas': { sync: true, run: openQueryClose(false) },
    };
    const samples = await collectRounds({ rounds: ctx.rounds, warmup: ctx.warmup, log: ctx.log }, () =>
      interleavedTimePerOp(ops, { minMs: MIN_MS_PER_ROUND }),
    );
    const s = (name: string): number[] => samples.get(name)!;
    const row = (pooledName: string, baseline: string, target: boolean): ResultRow => ({
      benchmark: `no-pool baseline (${pooledName.replace(/^pooled \(|\)$/g, '')}${baseline.includes('no pragmas') ? ', no pragmas' : ''})`,
      compares: `${baseline} vs ${pooledName}`,
      a: measured(pooledName, 'µs', s(pooledName)),
      b: measured(baseline, 'µs', s(baseline)),
      ratio: measured('open-close / pooled', '×', ratios(s(baseline), s(pooledName))),
      ...(target
        ? { target: { on: 'ratio', op: '>=', value: 10, text: 'pooled ≥ 10× faster' } as const }
        : { note: 'diagnostic' }),
    });
    return {
      rows: [
        row('pooled (worker)', 'open-query-close', true),
        row('pooled (inline)', 'open-query-close', true),
        row('pooled (worker)', 'open-query-close, no pragmas', false),
      ],
      extra: { sql, pragmas, samples: Object.fromEntries(samples) },
      notes: [
        'Pools with the service defaults (worker is the default execution mode); reads one after another.',
      ],
    };
  },
};

if (require.main === module) main(definition);
