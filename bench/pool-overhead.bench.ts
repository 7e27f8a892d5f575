/**
 * Pool overhead: `withConnection` + a prepared point read through the reader pool, in both
 * execution modes, against the same read on a bare better-sqlite3 handle (main thread, statement
 * prepared once, no pool). Operations run one after another, so the figures are per-operation
 * latencies in µs.
 *
 * Also measured, to explain the numbers: the same pools with leak detection off
 * (`leakThresholdMs: 0`, so no acquirer stack is captured per acquire) and with leak detection on
 * but `Error.stackTraceLimit` lowered to 3 while acquiring (the proposed cheaper capture), each at
 * a realistic call depth (the acquire made 12 frames below the caller, as in a request handler).
 */
import Database from 'better-sqlite3';

import { connectionPragmas, type SqliteAdapter } from '../src/adapters/sqlite/index.js';
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

/** Each variant runs for at least this long per round. */
const MIN_MS_PER_ROUND = 300;
/** Frames between the measuring loop and the acquire (a request handler's acquire is this deep or deeper). */
const CALL_DEPTH = 12;

/** Calls fn `depth` frames further down the stack (no inlining across the recursion). */
function atDepth<T>(depth: number, fn: () => T): T {
  return depth <= 0 ? fn() : atDepth(depth - 1, fn);
}

export const definition: BenchmarkDefinition = {
  name: 'pool-overhead',
  title: 'Pool overhead: withConnection + prepared point read vs bare better-sqlite3',
  defaultRounds: 7,
  async run(ctx) {
    const dir = ctx.tmpDir();
    const config = benchConfig(dir);
    const sql = statementsFor(TABLES.plots).byId();

    // Seed through a writer, then open every variant on the same file.
    const seeder = sqliteAdapter(config, { mode: 'inline', readers: { min: 1, max: 1 } });
    await seeder.start();
    const story = await seedStory(seeder, { authors: 50, plots: 2000 });
    const ids = story.plotIds;

    const adapters: Record<string, SqliteAdapter> = {
      inline: sqliteAdapter(config, { mode: 'inline' }),
      'inline, leak detection off': sqliteAdapter(config, { mode: 'inline', pool: { leakThresholdMs: 0 } }),
      worker: sqliteAdapter(config, { mode: 'worker' }),
      'worker, leak detection off': sqliteAdapter(config, { mode: 'worker', pool: { leakThresholdMs: 0 } }),
    };
    for (const adapter of Object.values(adapters)) {
      await adapter.start();
      ctx.defer(() => adapter.stop());
    }
    ctx.defer(() => seeder.stop());

    const bare = new Database(config.sqlite.path, { readonly: true, fileMustExist: true });
    for (const pragma of connectionPragmas(config.sqlite.busyTimeoutMs)) {
      if (!pragma.startsWith('journal_mode')) bare.pragma(pragma);
    }
    ctx.defer(() => bare.close());
    const statement = bare.prepare(sql);

    const pooled = (adapter: SqliteAdapter, stackTraceLimit?: number): TimedOp => {
      const pool = adapter.readerPool;
      const read = (i: number): Promise<unknown> =>
        atDepth(CALL_DEPTH, () => pool.withConnection((c) => c.get(sql, [ids[i % ids.length]])));
      if (stackTraceLimit === undefined) return { run: read };
      return {
        async run(i) {
          // Lowered only around the synchronous part of the acquire (where the stack is captured).
          const previous = Error.stackTraceLimit;
          Error.stackTraceLimit = stackTraceLimit;
          let pending: Promise<unknown>;
          try {
            pending = read(i);
          } finally {
            Error.stackTraceLimit = previous;
          }
          return pending;
        },
      };
    };

    const ops: Record<string, TimedOp> = {
      // Synchronous: the bare handle is synchronous, an await per call would flatter the pool.
      bare: { sync: true, run: (i) => statement.get(ids[i % ids.length]) },
      inline: pooled(adapters.inline!),
      'inline, leak detection off': pooled(adapters['inline, leak detection off']!),
      'inline, stackTraceLimit 3': pooled(adapters.inline!, 3),
      worker: pooled(adapters.worker!),
      'worker, leak detection off': pooled(adapters['worker, leak detection off']!),
      'worker, stackTraceLimit 3': pooled(adapters.worker!, 3),
    };
    const samples = await collectRounds({ rounds: ctx.rounds, warmup: ctx.warmup, log: ctx.log }, () =>
      interleavedTimePerOp(ops, { minMs: MIN_MS_PER_ROUND }),
    );
    const s = (name: string): number[] => samples.get(name)!;
    const bareM = measured('bare', 'µs', s('bare'));

    const row = (name: string, target?: ResultRow['target'], note?: string): ResultRow => ({
      benchmark: `pool overhead (${name})`,
      compares: `${name} pool point read vs bare better-sqlite3`,
      a: measured(name, 'µs', s(name)),
      b: bareM,
      ratio: measured(`${name.split(',')[0]} / bare`, '×', ratios(s(name), s('bare'))),
      ...(target ? { target } : {}),
      ...(note ? { note } : {}),
    });

    return {
      rows: [
        row('worker', { on: 'ratio', op: '<=', value: 10, text: 'worker ≤ 10× bare' }),
        row('inline', { on: 'ratio', op: '<=', value: 1.5, text: 'inline ≤ 1.5× bare' }),
        row('worker, leak detection off', undefined, 'diagnostic'),
        row('worker, stackTraceLimit 3', undefined, 'diagnostic'),
        row('inline, leak detection off', undefined, 'diagnostic'),
        row('inline, stackTraceLimit 3', undefined, 'diagnostic'),
      ],
      extra: {
        sql,
        callDepth: CALL_DEPTH,
        readers: { min: config.pool.minConnections, max: config.pool.maxConnections },
        leakThresholdMs: config.pool.leakThresholdSeconds * 1000,
        samples: Object.fromEntries(samples),
      },
      notes: [
        `Default service settings (leak detection on: DB_POOL_LEAK_THRESHOLD=${config.pool.leakThresholdSeconds} s); acquires made ${CALL_DEPTH} frames below the loop.`,
        'Sequential operations: per-operation latency, one connection busy at a time.',
      ],
    };
  },
};

if (require.main === module) main(definition);
