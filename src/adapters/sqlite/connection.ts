/**
 * The connection interface the SQLite adapter and its pools use, and its two implementations:
 * {@link WorkerConnection} (better-sqlite3 in a worker thread; the default) and
 * {@link InlineConnection} (better-sqlite3 on the main thread; for comparison). The adapter code
 * is the same for both; only the connection class differs.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';

import { DatabaseError } from '../../errors/index.js';
import type { MigrationFile } from '../shared/migration-files.js';
import { SqliteEngine } from './engine.js';
import type { AppliedMigration } from './migrations.js';
import {
  MODE_CODES,
  SqliteWorkerError,
  expandRows,
  type CompactRows,
  type ControlRequest,
  type SerializedError,
  type EngineOptions,
  type StatementMode,
  type TransactionStep,
  type WorkerHello,
  type WorkerRequest,
  type WorkerResponse,
} from './protocol.js';

/** A row as SQLite returns it (JSON as text, booleans as 0/1). */
export type RawRow = Record<string, unknown>;

/** Where a connection runs its statements. */
export type SqliteExecutionMode = 'worker' | 'inline';

/**
 * One SQLite connection. Methods reject with the driver's error (code `SQLITE_*`), rebuilt as a
 * {@link SqliteWorkerError} in worker mode; the adapter maps them with mapSqliteError. A connection
 * whose worker died rejects with DatabaseError `DB_UNAVAILABLE`.
 */
export interface SqliteConnection {
  readonly role: 'reader' | 'writer';
  readonly mode: SqliteExecutionMode;
  /** True once the connection can no longer answer (worker exited or crashed, or closed). */
  readonly isBroken: boolean;
  all(sql: string, params?: readonly unknown[]): Promise<RawRow[]>;
  get(sql: string, params?: readonly unknown[]): Promise<RawRow | undefined>;
  /** Runs a statement without reading rows; resolves to the number of changed rows. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
  /** Runs the steps in one transaction (all or nothing); per step, the result of each execution. */
  transaction(steps: readonly TransactionStep[]): Promise<unknown[][]>;
  /** Applies pending migrations (writer only); `where` names the database in messages. */
  migrate(files: readonly MigrationFile[], where: string): Promise<AppliedMigration[]>;
  /**
   * Prepares statements ahead of their first use (pool warm-up); resolves to how many were
   * prepared (statements that fail to prepare are skipped).
   */
  prepare(sqls: readonly string[]): Promise<number>;
  /** `SELECT 1` round trip. */
  ping(): Promise<boolean>;
  /** Closes cleanly (the writer checkpoints the WAL first). Idempotent; never rejects. */
  close(): Promise<void>;
  /** Ends the connection at once, abandoning in-flight work (force close at shutdown). */
  terminate(): Promise<void>;
}

/** Opens a connection of the given mode. Rejects with the driver's error when the file cannot be opened. */
export function openConnection(mode: SqliteExecutionMode, options: EngineOptions): Promise<SqliteConnection> {
  return mode === 'worker' ? WorkerConnection.open(options) : InlineConnection.open(options);
}

function isRowArray(value: unknown): value is RawRow[] {
  return Array.isArray(value);
}

function asRow(value: unknown): RawRow | undefined {
  return value === undefined || value === null ? undefined : (value as RawRow);
}

// ---------------------------------------------------------------------------------------------

/** The compiled worker script next to this file (dist/src/adapters/sqlite/worker.js). */
const WORKER_FILE = path.join(__dirname, 'worker.js');

/** How long a clean close may take (checkpoint included) before the thread is terminated (ms). */
const CLOSE_TIMEOUT_MS = 5_000;

/** How long close() / terminate() wait for the thread to exit before returning anyway (ms). */
const EXIT_WAIT_MS = 1_000;

/**
 * SQL texts a connection numbers; beyond this the text is sent with each request (search queries
 * with arbitrary filter combinations must not grow the map without bound).
 */
const MAX_STATEMENT_IDS = 1_000;

interface Pending {
  resolve(value: unknown): void;
  reject(reason: unknown): void;
}

/** A SQLite connection owned by a worker thread; requests and responses are correlated by id. */
export class WorkerConnection implements SqliteConnection {
  readonly role: 'reader' | 'writer';
  readonly mode = 'worker' as const;
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  readonly #exited: Promise<void>;
  readonly #threadId: number;
  #nextId = 0;
  #ready = false;
  #broken = false;
  #closing: Promise<void> | null = null;
  #onHello: Pending | null = null;
  /** Numbers assigned to SQL texts already sent to this worker (see StatementRequest). */
  readonly #statementIds = new Map<string, number>();
  #nextStatementId = 0;

  private constructor(worker: Worker, role: 'reader' | 'writer') {
    this.#worker = worker;
    // Read now: Node reports -1 once the thread has exited.
    this.#threadId = worker.threadId;
    this.role = role;
    this.#exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (message: WorkerHello | WorkerResponse) => this.#onMessage(message));
    worker.on('error', (err: Error) => {
      // An uncaught exception in the worker: it is exiting. Say so to everyone waiting.
      this.#fail(
        new DatabaseError('DB_UNAVAILABLE', `The SQLite ${this.role} worker thread crashed: ${err.message}`, {
          cause: err,
        }),
      );
    });
    worker.on('exit', (code: number) => {
      this.#fail(
        new DatabaseError(
          'DB_UNAVAILABLE',
          `The SQLite ${this.role} worker thread exited (code ${code}) before answering; ` +
            'the connection is discarded and the pool opens a new one.',
        ),
      );
    });
  }

  /** Spawns a worker, which opens the database; resolves once it is ready. */
  static open(options: EngineOptions): Promise<WorkerConnection> {
    const connection = new WorkerConnection(new Worker(WORKER_FILE, { workerData: options }), options.role);
    return new Promise<WorkerConnection>((resolve, reject) => {
      connection.#onHello = { resolve: () => resolve(connection), reject };
    });
  }

  get isBroken(): boolean {
    return this.#broken;
  }

  /** The worker thread's id (logs, and fault tests that kill one thread behind the pool's back). */
  get threadId(): number {
    return this.#threadId;
  }

  #onMessage(message: WorkerHello | WorkerResponse): void {
    if (!this.#ready) {
      const hello = message as WorkerHello;
      const waiter = this.#onHello;
      this.#onHello = null;
      if (hello.ready) {
        this.#ready = true;
        waiter?.resolve(undefined);
      } else {
        this.#broken = true;
        waiter?.reject(new SqliteWorkerError(hello.error));
      }
      return;
    }
    const [id, ok, payload] = message as WorkerResponse;
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    if (ok === 1) pending.resolve(payload);
    else pending.reject(new SqliteWorkerError(payload as SerializedError));
  }

  #fail(error: DatabaseError): void {
    this.#broken = true;
    const waiter = this.#onHello;
    this.#onHello = null;
    waiter?.reject(error);
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(error);
  }

  /** Sends one request; `unsent` runs when it could not be sent at all (nothing reached the worker). */
  #request(id: number, request: WorkerRequest, unsent?: () => void): Promise<unknown> {
    if (this.#broken) {
      return Promise.reject(
        new DatabaseError(
          'DB_UNAVAILABLE',
          `The SQLite ${this.role} connection is closed or its worker exited.`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      try {
        this.#worker.postMessage(request);
      } catch (err) {
        // Parameters that cannot be cloned (a function, a symbol): nothing was sent.
        this.#pending.delete(id);
        unsent?.();
        reject(err);
      }
    });
  }

  #control(request: ControlRequest): Promise<unknown> {
    return this.#request(request.id, request);
  }

  #statement(mode: StatementMode, sql: string, params: readonly unknown[]): Promise<unknown> {
    const id = ++this.#nextId;
    const known = this.#statementIds.get(sql);
    if (known !== undefined) return this.#request(id, [id, MODE_CODES[mode], known, params]);
    if (this.#statementIds.size >= MAX_STATEMENT_IDS)
      return this.#request(id, [id, MODE_CODES[mode], sql, params]);
    const statementId = ++this.#nextStatementId;
    this.#statementIds.set(sql, statementId);
    // If this request never leaves, the worker never learns the number: forget it here too.
    return this.#request(id, [id, MODE_CODES[mode], statementId, params, sql], () =>
      this.#statementIds.delete(sql),
    );
  }

  async all(sql: string, params: readonly unknown[] = []): Promise<RawRow[]> {
    return expandRows((await this.#statement('all', sql, params)) as CompactRows);
  }

  async get(sql: string, params: readonly unknown[] = []): Promise<RawRow | undefined> {
    return asRow(await this.#statement('get', sql, params));
  }

  async run(sql: string, params: readonly unknown[] = []): Promise<number> {
    return Number(await this.#statement('run', sql, params));
  }

  async transaction(steps: readonly TransactionStep[]): Promise<unknown[][]> {
    return (await this.#control({ id: ++this.#nextId, op: 'tx', steps })) as unknown[][];
  }

  async migrate(files: readonly MigrationFile[], where: string): Promise<AppliedMigration[]> {
    return (await this.#control({ id: ++this.#nextId, op: 'migrate', files, where })) as AppliedMigration[];
  }

  async prepare(sqls: readonly string[]): Promise<number> {
    const statements: [number, string][] = [];
    for (const sql of sqls) {
      if (this.#statementIds.has(sql) || this.#statementIds.size >= MAX_STATEMENT_IDS) continue;
      const statementId = ++this.#nextStatementId;
      this.#statementIds.set(sql, statementId);
      statements.push([statementId, sql]);
    }
    const id = ++this.#nextId;
    const sent = this.#request(id, { id, op: 'prepare', statements }, () => {
      for (const [, sql] of statements) this.#statementIds.delete(sql);
    });
    return Number(await sent);
  }

  async ping(): Promise<boolean> {
    return (await this.#control({ id: ++this.#nextId, op: 'ping' })) === true;
  }

  /**
   * Closes cleanly: the worker checkpoints (writer) and closes the database, then the thread ends.
   *
   * A connection with requests still in flight is being force-closed (pool shutdown past its grace
   * period). Its callers are rejected at once (DB_UNAVAILABLE) and the thread is terminated. Note
   * that a statement already running inside SQLite cannot be interrupted (better-sqlite3 has no
   * sqlite3_interrupt): the thread ends when that statement returns, and so the process cannot exit
   * before it. close() waits at most {@link EXIT_WAIT_MS} for that, so shutdown never hangs here;
   * SQLite rolls an interrupted transaction back on the next open.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#pending.size > 0) {
        this.#fail(
          new DatabaseError(
            'DB_UNAVAILABLE',
            `The SQLite ${this.role} connection was force-closed (shutdown) while a statement was running.`,
          ),
        );
      } else if (!this.#broken) {
        await withTimeout(this.#control({ id: ++this.#nextId, op: 'close' }), CLOSE_TIMEOUT_MS).catch(
          () => undefined,
        );
      }
      await this.#end();
    })();
    return this.#closing;
  }

  /**
   * Ends the thread abruptly, as a crash would. Requests in flight are rejected when the thread has
   * actually exited (after the statement it is running, if any; see {@link close}).
   */
  async terminate(): Promise<void> {
    await this.#end();
  }

  async #end(): Promise<void> {
    // terminate() resolves only once the thread has exited; bounded for the reason given in close().
    this.#worker.terminate().catch(() => undefined);
    await withTimeout(this.#exited, EXIT_WAIT_MS).catch(() => undefined);
  }
}

/** Resolves like `promise`, or rejects after `ms` milliseconds. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------

/**
 * A SQLite connection on the main thread. Every call blocks the event loop for the whole
 * statement; it exists to measure what the worker threads cost and save.
 */
export class InlineConnection implements SqliteConnection {
  readonly role: 'reader' | 'writer';
  readonly mode = 'inline' as const;
  readonly #engine: SqliteEngine;
  #closed = false;

  private constructor(engine: SqliteEngine) {
    this.#engine = engine;
    this.role = engine.role;
  }

  static open(options: EngineOptions): Promise<InlineConnection> {
    try {
      return Promise.resolve(new InlineConnection(SqliteEngine.open(options)));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  get isBroken(): boolean {
    return this.#closed;
  }

  #call<T>(fn: (engine: SqliteEngine) => T): Promise<T> {
    if (this.#closed) {
      return Promise.reject(
        new DatabaseError('DB_UNAVAILABLE', `The SQLite ${this.role} connection is closed.`),
      );
    }
    try {
      return Promise.resolve(fn(this.#engine));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async all(sql: string, params: readonly unknown[] = []): Promise<RawRow[]> {
    const rows = await this.#call((e) => e.execute('all', sql, params));
    return isRowArray(rows) ? rows : [];
  }

  async get(sql: string, params: readonly unknown[] = []): Promise<RawRow | undefined> {
    return asRow(await this.#call((e) => e.execute('get', sql, params)));
  }

  async run(sql: string, params: readonly unknown[] = []): Promise<number> {
    return Number(await this.#call((e) => e.execute('run', sql, params)));
  }

  transaction(steps: readonly TransactionStep[]): Promise<unknown[][]> {
    return this.#call((e) => e.transaction(steps));
  }

  migrate(files: readonly MigrationFile[], where: string): Promise<AppliedMigration[]> {
    return this.#call((e) => e.migrate(files, where));
  }

  prepare(sqls: readonly string[]): Promise<number> {
    return this.#call((e) => e.prepareAll(sqls));
  }

  ping(): Promise<boolean> {
    return this.#call((e) => e.ping());
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#engine.close();
      } catch {
        // Closing must not throw (pool contract); the handle is released by the driver regardless.
      }
    }
    return Promise.resolve();
  }

  terminate(): Promise<void> {
    return this.close();
  }
}
