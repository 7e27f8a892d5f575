/**
 * The SQLite implementation of the adapter contract (design §5).
 *
 * Two observed pools: readers (`sqlite-read`, read-only connections, reads run in parallel in WAL
 * mode) and one writer (`sqlite-write`, min = max = 1) that runs every write and every batch
 * transaction, one at a time, so our own writers never meet SQLITE_BUSY. Connections live in
 * worker threads (mode `worker`) or on the main thread (mode `inline`, for comparison); the code
 * below is the same for both.
 *
 * Every statement or transaction goes through `instrumentation.run` exactly once, around the pool
 * acquire, so metrics, spans and query counters see precisely the operations issued.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import { AppError, DatabaseError, NotFoundError, ValidationError } from '../../errors/index.js';
import { migrationsDir } from '../../paths.js';
import {
  ObservedPool,
  isCreateFailureTimeout,
  type ConnectionFactory,
  type ObservedPoolOptions,
  type PoolObserver,
  type PoolTimeoutError,
} from '../../pool/index.js';
import { TABLES, TABLE_NAMES, type TableDefinition } from '../../schema/tables.js';
import {
  NO_INSTRUMENTATION,
  type AdapterHealth,
  type DatabaseAdapter,
  type Filter,
  type OperationInfo,
  type OperationInstrumentation,
  type Row,
  type RowUpdate,
  type SearchQuery,
  type SearchResult,
} from '../contract.js';
import { IN_LIST_CHUNK_SIZE, chunk, uniqueValues } from '../shared/chunk.js';
import { AdapterLifecycle } from '../shared/lifecycle.js';
import { loadMigrationFiles } from '../shared/migration-files.js';
import { validateFilters, validateLookupColumn, validateSearch } from '../shared/query.js';
import { columnSetKey, normalizeId, prepareInsertRow, prepareUpdateChanges } from '../shared/rows.js';
import { normalizeValue } from '../shared/values.js';
import { decodeRow, decodeValue, encodeRow, encodeValue } from './codec.js';
import { openConnection, type SqliteConnection, type SqliteExecutionMode } from './connection.js';
import { mapSqliteError } from './errors.js';
import type { AppliedMigration } from './migrations.js';
import {
  DEFAULT_JOURNAL_SIZE_LIMIT_BYTES,
  ROW_NOT_FOUND,
  type EngineOptions,
  type TransactionStep,
} from './protocol.js';
import { padValues, statementsFor } from './sql.js';

/** Pool settings shared by the reader and writer pools (names, sizes and factories are the adapter's). */
export type SqlitePoolSettings = Omit<
  ObservedPoolOptions<SqliteConnection>,
  'name' | 'dbSystem' | 'factory' | 'min' | 'max'
>;

export interface SqliteAdapterOptions {
  /** Database file. Its directory must exist (start() fails with DB_CANNOT_OPEN otherwise). */
  readonly path: string;
  /** `worker` (default in the service): connections in worker threads; `inline`: on the main thread. */
  readonly mode: SqliteExecutionMode;
  /** Size of the reader pool (the writer pool is always exactly one connection). */
  readonly readers: { readonly min: number; readonly max: number };
  /** Timeouts, health checks, leak detection… for both pools. */
  readonly pool: SqlitePoolSettings;
  /** How long a statement waits for a lock held by another process before DB_BUSY (ms). */
  readonly busyTimeoutMs: number;
  /**
   * WAL size (bytes) the file is truncated back to once a checkpoint emptied it (SQLite's
   * `journal_size_limit`; -1: never truncated). Default 64 MiB.
   */
  readonly journalSizeLimitBytes?: number;
  /** Directory of the SQLite migrations (default: `migrations/sqlite` of the project). */
  readonly migrationsDir?: string;
  /** Wraps every statement / transaction (metrics, spans). Default: none. */
  readonly instrumentation?: OperationInstrumentation;
  /** Receives the pools' events (Prometheus collectors). */
  readonly observer?: PoolObserver;
  /**
   * Test seam, never set in production: opens one connection (default: {@link openConnection}).
   * Fault tests wrap it to make connection creation fail for real (e.g. by pointing a reader at a
   * path that does not exist) and then heal.
   */
  readonly openConnection?: (mode: SqliteExecutionMode, options: EngineOptions) => Promise<SqliteConnection>;
}


/** The health probe's statement. */
const HEALTH_SQL = 'SELECT 1 AS ok';

/** Statements prepared on every new reader: the health probe and each table's point read. */
const WARM_READER_STATEMENTS: readonly string[] = [
  HEALTH_SQL,
  ...TABLE_NAMES.map((name) => statementsFor(TABLES[name]).byId()),
];

function assertOptions(options: SqliteAdapterOptions): void {
  const problems: string[] = [];
  if (typeof options.path !== 'string' || options.path.trim() === '')
    problems.push('path must be a file path');
  if (options.mode !== 'worker' && options.mode !== 'inline') problems.push('mode must be worker or inline');
  const { min, max } = options.readers ?? {};
  if (!Number.isInteger(min) || min < 0) problems.push('readers.min must be an integer >= 0');
  if (!Number.isInteger(max) || max < 1 || max < min)
    problems.push('readers.max must be an integer >= 1 and >= readers.min');
  if (!Number.isInteger(options.busyTimeoutMs) || options.busyTimeoutMs < 0) {
    problems.push('busyTimeoutMs must be an integer >= 0');
  }
  const limit = options.journalSizeLimitBytes;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < -1)) {
    problems.push('journalSizeLimitBytes must be an integer >= -1');
  }
  if (options.openConnection !== undefined && typeof options.openConnection !== 'function') {
    problems.push('openConnection must be a function when given');
  }
  // A programming or configuration error, not a bad request: a plain Error (like ObservedPool's).
  if (problems.length > 0) throw new Error(`Invalid SQLite adapter options: ${problems.join('; ')}.`);
}

export class SqliteAdapter implements DatabaseAdapter {
  readonly dbSystem = 'sqlite' as const;
  readonly #options: Readonly<SqliteAdapterOptions>;
  readonly #path: string;
  readonly #instrumentation: OperationInstrumentation;
  readonly #readers: ObservedPool<SqliteConnection>;
  readonly #writer: ObservedPool<SqliteConnection>;
  /** The last create failure per pool, already mapped: start() reports it instead of a generic pool error. */
  readonly #createErrors = new Map<'reader' | 'writer', Error>();
  readonly #lifecycle = new AdapterLifecycle('SQLite');
  #readersStarted = false;
  #writerStarted = false;
  #applied: AppliedMigration[] = [];

  constructor(options: SqliteAdapterOptions) {
    assertOptions(options);
    this.#options = Object.freeze({
      ...options,
      readers: Object.freeze({ ...options.readers }),
      pool: Object.freeze({ ...options.pool }),
    });
    this.#path = path.resolve(options.path);
    this.#instrumentation = options.instrumentation ?? NO_INSTRUMENTATION;
    this.#writer = new ObservedPool<SqliteConnection>(
      {
        ...options.pool,
        name: 'sqlite-write',
        dbSystem: 'sqlite',
        min: 1,
        max: 1,
        factory: this.#factory('writer'),
      },
      options.observer,
    );
    this.#readers = new ObservedPool<SqliteConnection>(
      {
        ...options.pool,
        name: 'sqlite-read',
        dbSystem: 'sqlite',
        min: options.readers.min,
        max: options.readers.max,
        factory: this.#factory('reader'),
      },
      options.observer,
    );
  }

  /** Absolute path of the database file. */
  get path(): string {
    return this.#path;
  }

  /** `worker` or `inline`. */
  get mode(): SqliteExecutionMode {
    return this.#options.mode;
  }

  /** Migrations applied by the last start() (empty when the database was up to date). */
  get appliedMigrations(): readonly AppliedMigration[] {
    return this.#applied;
  }

  #factory(role: 'reader' | 'writer'): ConnectionFactory<SqliteConnection> {
    return {
      create: async () => {
        try {
          const open = this.#options.openConnection ?? openConnection;
          const connection = await open(this.#options.mode, {
            path: this.#path,
            role,
            busyTimeoutMs: this.#options.busyTimeoutMs,
            journalSizeLimitBytes: this.#options.journalSizeLimitBytes ?? DEFAULT_JOURNAL_SIZE_LIMIT_BYTES,
          });
          // Readers open after the migrations, so the tables exist: the point reads every request
          // starts with are ready before the first acquire (design §4, warm-up).
          if (role === 'reader') await connection.prepare(WARM_READER_STATEMENTS).catch(() => 0);
          // Forgotten only now, in the same tick as the pool clears its last create error: a caller
          // timing out meanwhile still learns why creates had failed.
          this.#createErrors.delete(role);
          return connection;
        } catch (err) {
          const mapped = mapSqliteError(err, { path: this.#path });
          this.#createErrors.set(role, mapped);
          throw mapped;
        }
      },
      destroy: (connection) => connection.close(),
      validate: (connection) => connection.ping(),
      isBroken: (connection) => connection.isBroken,
    };
  }

  pools(): readonly ObservedPool<unknown>[] {
    return [this.#readers, this.#writer] as readonly ObservedPool<unknown>[];
  }

  /** The reader pool (tests and tools that need raw SQL on a read-only connection). */
  get readerPool(): ObservedPool<SqliteConnection> {
    return this.#readers;
  }

  /** The writer pool (tests and tools that need raw SQL on the writer). */
  get writerPool(): ObservedPool<SqliteConnection> {
    return this.#writer;
  }

  /**
   * Checks the data directory, opens the writer (creating the file), applies the migrations, then
   * opens and warms the readers (read-only, so they need the migrated file). Idempotent while
   * starting or started. After a failed start the adapter may be started again (the cause may be
   * fixed meanwhile: a directory created, a disk remounted) or stopped to release what was opened;
   * after stop() it fails with DB_POOL_CLOSED (create a new adapter).
   */
  start(): Promise<void> {
    return this.#lifecycle.start(() => this.#start());
  }

  async #start(): Promise<void> {
    const dir = path.dirname(this.#path);
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
      throw new DatabaseError(
        'DB_CANNOT_OPEN',
        `Cannot open the SQLite database ${this.#path}: the directory ${dir} does not exist. ` +
          'Create it (or set SQLITE_DB_PATH to a file in an existing directory).',
        { details: { path: this.#path, directory: dir } },
      );
    }
    const files = loadMigrationFiles(this.#options.migrationsDir ?? migrationsDir('sqlite'));
    this.#writerStarted = true;
    await this.#startPool(this.#writer, 'writer');
    this.#applied = await this.#writer
      .withConnection((c) => c.migrate(files, this.#path))
      .catch((err: unknown) => {
        throw mapSqliteError(err, { path: this.#path });
      });
    this.#readersStarted = true;
    await this.#startPool(this.#readers, 'reader');
  }

  async #startPool(pool: ObservedPool<SqliteConnection>, role: 'reader' | 'writer'): Promise<void> {
    this.#createErrors.delete(role);
    try {
      await pool.start();
    } catch (err) {
      // The pool may wrap or time out a failing create; the driver's reason is the useful part.
      throw this.#createErrors.get(role) ?? mapSqliteError(err, { path: this.#path });
    }
  }

  /** Stops the readers, then the writer (which checkpoints and truncates the WAL). Idempotent. */
  stop(): Promise<void> {
    return this.#lifecycle.stop(() => this.#stop());
  }

  async #stop(): Promise<void> {
    const errors: unknown[] = [];
    // Readers first: the writer's checkpoint cannot pass a reader's snapshot, and the last
    // connection to close is the one that removes the WAL file.
    if (this.#readersStarted) await this.#readers.stop().catch((e: unknown) => errors.push(e));
    if (this.#writerStarted) await this.#writer.stop().catch((e: unknown) => errors.push(e));
    if (errors.length > 0) throw errors[0];
  }

  #assertStarted(): void {
    this.#lifecycle.assertStarted();
  }

  /** One instrumented operation on one pooled connection; driver errors mapped on the way out. */
  #run<T>(
    pool: ObservedPool<SqliteConnection>,
    table: TableDefinition,
    info: OperationInfo,
    fn: (connection: SqliteConnection) => Promise<T>,
  ): Promise<T> {
    return this.#instrumentation.run(info, async () => {
      try {
        return await pool.withConnection(fn);
      } catch (err) {
        if (isCreateFailureTimeout(err)) throw this.#unavailable(err, false);
        // No file path here: these messages reach API clients; start-up errors (for operators) name it.
        throw mapSqliteError(err, { table, operation: info.operation });
      }
    });
  }

  /**
   * An acquire that timed out because no connection could be *opened* (the file vanished, its
   * directory became unreadable…), not because the pool was busy: the database is unavailable.
   * `forOperator`: the health check's message may name the file and the driver's reason; a
   * response to an API client names neither.
   */
  #unavailable(err: PoolTimeoutError, forOperator: boolean): DatabaseError {
    const role = err.snapshot.name === this.#writer.name ? 'writer' : 'reader';
    const createError = this.#createErrors.get(role);
    const code = createError instanceof AppError ? createError.code : 'DB_UNAVAILABLE';
    const reason = forOperator
      ? `: ${createError?.message ?? err.snapshot.lastCreateError ?? 'unknown error'}`
      : ` (${code})`;
    return new DatabaseError(
      'DB_UNAVAILABLE',
      `The database is unavailable: no new ${err.snapshot.name} connection could be opened within ` +
        `${Math.round(err.waitedMs)} ms${reason}. Retry shortly.`,
      { cause: err, details: { pool: err.snapshot.name, reason: code }, retryAfterSeconds: 1 },
    );
  }

  async getById(table: TableDefinition, id: string): Promise<Row | null> {
    this.#assertStarted();
    const key = normalizeId(table, id);
    const sql = statementsFor(table).byId();
    const row = await this.#run(
      this.#readers,
      table,
      { operation: 'SELECT', collection: table.name, queryText: sql },
      (c) => c.get(sql, [key]),
    );
    return row === undefined ? null : decodeRow(table, row);
  }

  async getManyByIds(table: TableDefinition, ids: readonly string[]): Promise<Row[]> {
    this.#assertStarted();
    if (!Array.isArray(ids)) throw new ValidationError('ids must be an array.');
    const keys = uniqueValues(ids.map((id) => normalizeId(table, id)));
    return this.#selectIn(table, table.primaryKey, keys);
  }

  async getManyByColumn(table: TableDefinition, column: string, values: readonly unknown[]): Promise<Row[]> {
    this.#assertStarted();
    const encoded = this.#lookupValues(table, column, values);
    return this.#selectIn(table, column, encoded);
  }

  /** Validated, normalised, encoded, distinct values for an IN look-up; nulls dropped (they match nothing). */
  #lookupValues(table: TableDefinition, column: string, values: readonly unknown[]): unknown[] {
    validateLookupColumn(table, column);
    if (!Array.isArray(values)) throw new ValidationError('values must be an array.');
    const encoded = values
      .filter((v) => v !== null && v !== undefined)
      .map((v) => encodeValue(table, column, normalizeValue(table, column, v)));
    return uniqueValues(encoded);
  }

  async #selectIn(table: TableDefinition, column: string, values: readonly unknown[]): Promise<Row[]> {
    const statements = statementsFor(table);
    const rows: Row[] = [];
    // Sequential chunks: each holds one reader briefly instead of fanning one call out over the
    // whole pool (which would starve concurrent requests and trip the wait-queue bound).
    for (const part of chunk(values, IN_LIST_CHUNK_SIZE)) {
      const params = padValues(part);
      const sql = statements.selectIn(column, params.length);
      const found = await this.#run(
        this.#readers,
        table,
        { operation: 'SELECT', collection: table.name, queryText: sql },
        (c) => c.all(sql, params),
      );
      for (const row of found) rows.push(decodeRow(table, row));
    }
    return rows;
  }

  async countByColumn(
    table: TableDefinition,
    column: string,
    values: readonly unknown[],
  ): Promise<Map<string, number>> {
    this.#assertStarted();
    const encoded = this.#lookupValues(table, column, values);
    const counts = new Map<string, number>();
    // Every requested value is present, with 0 when no row has it ("authors with their plot counts").
    for (const value of encoded) counts.set(String(decodeValue(table, column, value)), 0);
    const statements = statementsFor(table);
    for (const part of chunk(encoded, IN_LIST_CHUNK_SIZE)) {
      const params = padValues(part);
      const sql = statements.countIn(column, params.length);
      const found = await this.#run(
        this.#readers,
        table,
        { operation: 'SELECT', collection: table.name, queryText: sql },
        (c) => c.all(sql, params),
      );
      for (const row of found) counts.set(String(decodeValue(table, column, row.value)), Number(row.count));
    }
    return counts;
  }

  async insertOne(table: TableDefinition, row: Row): Promise<Row> {
    this.#assertStarted();
    const prepared = prepareInsertRow(table, row, { now: new Date().toISOString() });
    const sql = statementsFor(table).insert(Object.keys(prepared));
    const params = encodeRow(table, prepared);
    const stored = await this.#run(
      this.#writer,
      table,
      { operation: 'INSERT', collection: table.name, queryText: sql },
      (c) => c.get(sql, params),
    );
    if (stored === undefined)
      throw new DatabaseError('INTERNAL', `INSERT into ${table.name} returned no row.`);
    return decodeRow(table, stored);
  }

  async insertMany(table: TableDefinition, rows: readonly Row[]): Promise<Row[]> {
    this.#assertStarted();
    if (!Array.isArray(rows)) throw new ValidationError('rows must be an array.');
    if (rows.length === 0) return [];
    const now = new Date().toISOString();
    // Validate everything before the writer sees anything: a bad row 900 fails the call up front.
    const prepared = rows.map((row, index) => {
      try {
        return prepareInsertRow(table, row, { now });
      } catch (err) {
        throw withRowDetail(err, index);
      }
    });
    const steps = groupSteps(
      prepared,
      (r) => ({ key: columnSetKey(r), params: encodeRow(table, r) }),
      (columns) => statementsFor(table).insert(columns),
    );
    const results = await this.#run(
      this.#writer,
      table,
      {
        operation: 'BATCH INSERT',
        collection: table.name,
        queryText: describeSteps(steps),
        batchSize: rows.length,
      },
      (c) => c.transaction(steps.map((s) => ({ sql: s.sql, mode: 'get', params: s.params }))),
    );
    return results.flat().map((stored) => decodeRow(table, stored as Row));
  }

  async updateOne(table: TableDefinition, id: string, changes: Row): Promise<Row | null> {
    this.#assertStarted();
    const key = normalizeId(table, id);
    const prepared = prepareUpdateChanges(table, changes, { now: new Date().toISOString() });
    const sql = statementsFor(table).update(Object.keys(prepared));
    const params = [...encodeRow(table, prepared), key];
    const stored = await this.#run(
      this.#writer,
      table,
      { operation: 'UPDATE', collection: table.name, queryText: sql },
      (c) => c.get(sql, params),
    );
    return stored === undefined ? null : decodeRow(table, stored);
  }

  async updateMany(table: TableDefinition, updates: readonly RowUpdate[]): Promise<Row[]> {
    this.#assertStarted();
    if (!Array.isArray(updates)) throw new ValidationError('updates must be an array.');
    if (updates.length === 0) return [];
    const now = new Date().toISOString();
    const prepared = updates.map((update, index) => {
      try {
        if (update === null || typeof update !== 'object')
          throw new ValidationError('Each update needs an id and changes.');
        return {
          id: normalizeId(table, update.id),
          changes: prepareUpdateChanges(table, update.changes, { now }),
        };
      } catch (err) {
        throw withRowDetail(err, index);
      }
    });
    const steps = groupSteps(
      prepared,
      (u) => ({ key: columnSetKey(u.changes), params: [...encodeRow(table, u.changes), u.id] }),
      (columns) => statementsFor(table).update(columns),
      (u) => Object.keys(u.changes),
    );
    const results = await this.#run(
      this.#writer,
      table,
      {
        operation: 'BATCH UPDATE',
        collection: table.name,
        queryText: describeSteps(steps),
        batchSize: updates.length,
      },
      async (c) => {
        try {
          return await c.transaction(
            steps.map((s) => ({ sql: s.sql, mode: 'get', params: s.params, requireRow: true })),
          );
        } catch (err) {
          const index = (err as { rowIndex?: unknown }).rowIndex;
          if ((err as { code?: unknown }).code === ROW_NOT_FOUND && typeof index === 'number') {
            const id = prepared[index]?.id;
            throw new NotFoundError(`No ${table.name} row with id ${id}; nothing was updated.`, {
              table: table.name,
              id,
              row: index,
            });
          }
          throw err;
        }
      },
    );
    return results.flat().map((stored) => decodeRow(table, stored as Row));
  }

  async deleteOne(table: TableDefinition, id: string): Promise<boolean> {
    this.#assertStarted();
    const key = normalizeId(table, id);
    const sql = statementsFor(table).deleteById();
    const changes = await this.#run(
      this.#writer,
      table,
      { operation: 'DELETE', collection: table.name, queryText: sql },
      (c) => c.run(sql, [key]),
    );
    return changes > 0;
  }

  async count(table: TableDefinition, filters: readonly Filter[]): Promise<number> {
    this.#assertStarted();
    const statements = statementsFor(table);
    const where = statements.where(validateFilters(table, filters));
    const sql = statements.count(where);
    const row = await this.#run(
      this.#readers,
      table,
      { operation: 'SELECT', collection: table.name, queryText: sql },
      (c) => c.get(sql, where.params),
    );
    return Number(row?.count ?? 0);
  }

  async search(table: TableDefinition, query: SearchQuery): Promise<SearchResult> {
    this.#assertStarted();
    const search = validateSearch(table, query);
    const statements = statementsFor(table);
    const where = statements.where(search.filters, search.text, search.textColumns);
    const countSql = statements.count(where);
    const pageSql = statements.page(where, search.sort);
    const info = (sql: string): OperationInfo => ({
      operation: 'SELECT',
      collection: table.name,
      queryText: sql,
    });
    const rows =
      search.limit === 0
        ? []
        : await this.#run(this.#readers, table, info(pageSql), (c) =>
            c.all(pageSql, [...where.params, search.limit, search.offset]),
          );
    const total = await this.#run(this.#readers, table, info(countSql), (c) => c.get(countSql, where.params));
    return { rows: rows.map((r) => decodeRow(table, r)), total: Number(total?.count ?? 0) };
  }

  /**
   * `SELECT 1` through the read pool. Not instrumented as a query: the probe is not application
   * traffic and must not show up in query counts or N+1 detection.
   */
  async healthCheck(): Promise<AdapterHealth> {
    const started = performance.now();
    try {
      this.#assertStarted();
      await this.#readers.withConnection((c) => c.get(HEALTH_SQL));
      return { healthy: true, latencyMs: performance.now() - started };
    } catch (err) {
      const mapped = isCreateFailureTimeout(err)
        ? this.#unavailable(err, true)
        : mapSqliteError(err, { path: this.#path });
      return { healthy: false, latencyMs: performance.now() - started, error: mapped.message };
    }
  }
}

/** Adds the failing row's position to a validation error of a batch. */
function withRowDetail(err: unknown, index: number): unknown {
  if (err instanceof ValidationError) {
    const details = err.details !== null && typeof err.details === 'object' ? err.details : {};
    const wrapped = new ValidationError(`Row ${index}: ${err.message}`, { ...details, row: index });
    wrapped.cause = err;
    return wrapped;
  }
  return err;
}

interface Step {
  readonly sql: string;
  readonly params: unknown[][];
}

/**
 * Groups consecutive items with the same column set into one step (one prepared statement run
 * once per item), keeping input order, so results come back in input order.
 */
function groupSteps<T extends Row | { changes: Row }>(
  items: readonly T[],
  describe: (item: T) => { key: string; params: unknown[] },
  sqlFor: (columns: string[]) => string,
  columnsOf: (item: T) => string[] = (item) => Object.keys(item),
): Step[] {
  const steps: { key: string; sql: string; params: unknown[][] }[] = [];
  for (const item of items) {
    const { key, params } = describe(item);
    const last = steps[steps.length - 1];
    if (last !== undefined && last.key === key) last.params.push(params);
    else steps.push({ key, sql: sqlFor(columnsOf(item)), params: [params] });
  }
  return steps.map(({ sql, params }) => ({ sql, params }));
}

/** The distinct statements of a batch, for `db.query.text`. */
function describeSteps(steps: readonly TransactionStep[] | readonly Step[]): string {
  return uniqueValues(steps.map((s) => s.sql)).join(';\n');
}
