/**
 * Related rows: "plots with their authors" for a page of 500 plots (each written by a different
 * author, the worst case), loaded by the repository — one query for the page, one for the count,
 * one batched look-up of the authors per chunk of ids — against a per-row loop (the page, then one
 * `getById` per plot for its author, one after another: the N+1 the repository exists to avoid).
 *
 * On SQLite (the adapter as the service builds it, worker mode) and on Supabase (supabase-js
 * through the PostgREST-protocol test server on the PostgreSQL at 127.0.0.1:5432, or PGlite when
 * no server answers). Query counts are counted at the adapter's instrumentation seam (one per
 * statement / PostgREST request) for 10 and 500 plots; for Supabase the test server's request
 * count is reported too.
 */
import { performance } from 'node:perf_hooks';

import type { DatabaseAdapter, Row } from '../src/adapters/contract.js';
import { IN_LIST_MAX_VALUES, SupabaseAdapter } from '../src/adapters/supabase/index.js';
import { migrationsDir } from '../src/paths.js';
import { createRepositories } from '../src/repositories/index.js';
import { TABLES } from '../src/schema/tables.js';
import { startPostgrestTestServer, type PostgrestTestServer } from '../test/support/postgrest/index.js';
import { benchConfig, OperationCounter, poolSettings, sqliteAdapter } from './support/adapters.js';
import { seedStory, type Story } from './support/data.js';
import {
  interleave,
  main,
  measured,
  ratios,
  type BenchContext,
  type BenchmarkDefinition,
  type ResultRow,
} from './harness.js';

const PAGE = 500;
const SMALL_PAGE = 10;
const DEFAULT_DATABASE_URL = 'postgres://postgres:postgres@127.0.0.1:5432/test';
const SUPABASE_KEY = 'bench-service-role-key';

interface Backend {
  readonly name: string;
  readonly adapter: DatabaseAdapter;
  readonly counter: OperationCounter;
  /** Requests the backend's server saw (Supabase only). */
  serverRequests?(): number;
}

function searchParams(story: Story, limit: number, include: string[]) {
  return {
    filters: [{ column: 'session_id', op: 'eq' as const, value: story.sessionId }],
    sort: [],
    limit,
    offset: 0,
    include,
  };
}

/** The repository's batched load; returns the page (checked by the caller). */
async function batched(backend: Backend, story: Story, limit: number): Promise<Row[]> {
  const repos = createRepositories(backend.adapter);
  const page = await repos.plots.search(searchParams(story, limit, ['author']));
  return page.data;
}

/**
 * The proposed Supabase variant (not what the repository does today): the page, then the authors'
 * `in.(…)` chunks requested concurrently instead of one after another, through the public
 * adapter API. Shows what parallel chunks would buy; diagnostic only.
 */
async function parallelChunks(backend: Backend, story: Story, limit: number): Promise<Row[]> {
  const repos = createRepositories(backend.adapter);
  const page = await repos.plots.search(searchParams(story, limit, []));
  const ids = [
    ...new Set(page.data.map((p) => p.author_id).filter((id): id is string => typeof id === 'string')),
  ];
  const parts: string[][] = [];
  for (let i = 0; i < ids.length; i += IN_LIST_MAX_VALUES) parts.push(ids.slice(i, i + IN_LIST_MAX_VALUES));
  const found = (
    await Promise.all(parts.map((part) => backend.adapter.getManyByIds(TABLES.authors, part)))
  ).flat();
  const byId = new Map(found.map((a) => [a.id, a]));
  for (const plot of page.data) plot.author = byId.get(plot.author_id) ?? null;
  return page.data;
}

/** The naive loop: the page, then one query per row. */
async function perRow(backend: Backend, story: Story, limit: number): Promise<Row[]> {
  const repos = createRepositories(backend.adapter);
  const page = await repos.plots.search(searchParams(story, limit, []));
  for (const plot of page.data) {
    plot.author =
      typeof plot.author_id === 'string'
        ? await backend.adapter.getById(TABLES.authors, plot.author_id)
        : null;
  }
  return page.data;
}

function check(rows: Row[], limit: number): void {
  if (rows.length !== limit) throw new Error(`expected ${limit} plots, got ${rows.length}`);
  for (const plot of rows) {
    const author = plot.author as Row | null;
    if (author === null || author.id !== plot.author_id)
      throw new Error(`plot ${String(plot.id)} lacks its author`);
  }
}

interface Counts {
  readonly batched: Record<number, number>;
  readonly perRow: Record<number, number>;
  readonly serverRequests?: { batched: Record<number, number>; perRow: Record<number, number> };
}

async function countQueries(backend: Backend, story: Story): Promise<Counts> {
  const out: Counts = {
    batched: {},
    perRow: {},
    ...(backend.serverRequests ? { serverRequests: { batched: {}, perRow: {} } } : {}),
  };
  for (const limit of [SMALL_PAGE, PAGE]) {
    for (const [kind, fn] of [
      ['batched', batched],
      ['perRow', perRow],
    ] as const) {
      backend.counter.reset();
      const before = backend.serverRequests?.() ?? 0;
      check(await fn(backend, story, limit), limit);
      out[kind][limit] = backend.counter.count;
      if (out.serverRequests && backend.serverRequests)
        out.serverRequests[kind][limit] = backend.serverRequests() - before;
    }
  }
  return out;
}

async function measureBackend(
  ctx: BenchContext,
  backend: Backend,
  story: Story,
  targetRatio: number,
  withParallel = false,
): Promise<{ rows: ResultRow[]; counts: Counts }> {
  const counts = await countQueries(backend, story);
  ctx.log(
    `  ${backend.name} queries: batched ${JSON.stringify(counts.batched)}, per-row ${JSON.stringify(counts.perRow)}`,
  );
  const samples = await interleave(
    [
      {
        name: 'batched',
        unit: 'ms',
        async measure() {
          const started = performance.now();
          const rows = await batched(backend, story, PAGE);
          const ms = performance.now() - started;
          check(rows, PAGE);
          return ms;
        },
      },
      {
        name: 'per-row loop',
        unit: 'ms',
        async measure() {
          const started = performance.now();
          const rows = await perRow(backend, story, PAGE);
          const ms = performance.now() - started;
          check(rows, PAGE);
          return ms;
        },
      },
      ...(withParallel
        ? [
            {
              name: 'parallel chunks',
              unit: 'ms',
              async measure() {
                const started = performance.now();
                const rows = await parallelChunks(backend, story, PAGE);
                const ms = performance.now() - started;
                check(rows, PAGE);
                return ms;
              },
            },
          ]
        : []),
    ],
    { rounds: ctx.rounds, warmup: ctx.warmup, log: ctx.log },
  );
  const b = samples.get('batched')!;
  const loop = samples.get('per-row loop')!;
  const constant = counts.batched[SMALL_PAGE] === counts.batched[PAGE];
  const queryNote =
    `queries at ${SMALL_PAGE}/${PAGE} rows: batched ${counts.batched[SMALL_PAGE]}/${counts.batched[PAGE]}` +
    `${constant ? ' (constant)' : ' (per chunk of ids)'}, loop ${counts.perRow[SMALL_PAGE]}/${counts.perRow[PAGE]}` +
    (counts.serverRequests
      ? `; HTTP requests batched ${counts.serverRequests.batched[SMALL_PAGE]}/${counts.serverRequests.batched[PAGE]}`
      : '');
  const parallel = samples.get('parallel chunks');
  const extraRows: ResultRow[] =
    parallel === undefined
      ? []
      : [
          {
            benchmark: `related rows (${backend.name}, parallel chunks)`,
            compares: 'the page, then the in.(…) chunks requested concurrently (proposal) vs per-row loop',
            a: measured('parallel chunks', 'ms', parallel),
            b: measured('per-row loop', 'ms', loop),
            ratio: measured('loop / parallel', '×', ratios(loop, parallel)),
            note: 'diagnostic: what concurrent chunks would give',
          },
        ];
  return {
    counts,
    rows: [
      {
        benchmark: `related rows (${backend.name})`,
        compares: `plots with authors for ${PAGE} plots: repository (batched) vs per-row loop`,
        a: measured('batched', 'ms', b),
        b: measured('per-row loop', 'ms', loop),
        ratio: measured('loop / batched', '×', ratios(loop, b)),
        target: {
          on: 'ratio',
          op: '>=',
          value: targetRatio,
          text: `≥ ${targetRatio}×; constant query count`,
        },
        note: queryNote,
      },
      ...extraRows,
    ],
  };
}

async function startSupabase(ctx: BenchContext): Promise<{ server: PostgrestTestServer; database: string }> {
  const url = process.env['TEST_DATABASE_URL'] || DEFAULT_DATABASE_URL;
  try {
    const server = await startPostgrestTestServer({
      databaseUrl: url,
      migrationsDir: migrationsDir('postgres'),
      requiredKey: SUPABASE_KEY,
    });
    return { server, database: 'PostgreSQL 127.0.0.1:5432' };
  } catch (err) {
    ctx.log(
      `  PostgreSQL at ${new URL(url).host} unavailable (${err instanceof Error ? err.message : String(err)}); using PGlite`,
    );
    const server = await startPostgrestTestServer({
      databaseUrl: null,
      migrationsDir: migrationsDir('postgres'),
      requiredKey: SUPABASE_KEY,
    });
    return { server, database: 'PGlite (in-process)' };
  }
}

export const definition: BenchmarkDefinition = {
  name: 'related-rows',
  title: 'Related rows: plots with authors for 500 plots, batched vs per-row loop (SQLite, Supabase)',
  defaultRounds: 5,
  async run(ctx) {
    const rows: ResultRow[] = [];
    const extra: Record<string, unknown> = {};
    const notes: string[] = [];

    // SQLite, as the service builds it.
    const config = benchConfig(ctx.tmpDir());
    const sqliteCounter = new OperationCounter();
    const sqlite = sqliteAdapter(config, { instrumentation: sqliteCounter });
    await sqlite.start();
    ctx.defer(() => sqlite.stop());
    const sqliteStory = await seedStory(sqlite, { authors: PAGE, plots: PAGE });
    const s = await measureBackend(
      ctx,
      { name: 'SQLite', adapter: sqlite, counter: sqliteCounter },
      sqliteStory,
      2,
    );
    rows.push(...s.rows);
    extra.sqlite = { mode: config.sqlite.executionMode, counts: s.counts };

    if (!ctx.flags.supabase) {
      notes.push('Supabase row skipped (--no-supabase).');
      return { rows, extra, notes };
    }
    const { server, database } = await startSupabase(ctx);
    ctx.defer(() => server.stop());
    const supabaseCounter = new OperationCounter();
    const supabase = new SupabaseAdapter({
      url: server.url,
      key: SUPABASE_KEY,
      requestTimeoutMs: 30_000,
      readRetries: 2,
      connections: { min: 2, max: 8 },
      pool: poolSettings(
        benchConfig(ctx.tmpDir(), { DATABASE_MODE: 'supabase', SUPABASE_URL: server.url, SUPABASE_KEY }),
      ),
      instrumentation: supabaseCounter,
    });
    await supabase.start();
    ctx.defer(() => supabase.stop());
    const supabaseStory = await seedStory(supabase, { authors: PAGE, plots: PAGE });
    const p = await measureBackend(
      ctx,
      {
        name: 'Supabase',
        adapter: supabase,
        counter: supabaseCounter,
        serverRequests: () => server.stats.requests,
      },
      supabaseStory,
      50,
      true,
    );
    rows.push(...p.rows);
    extra.supabase = { database, counts: p.counts };
    notes.push(
      `Supabase: supabase-js → PostgREST-protocol test server → ${database}, pool 2–8 (the Supabase defaults).`,
    );
    return { rows, extra, notes };
  },
};

if (require.main === module) main(definition);
