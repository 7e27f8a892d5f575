/**
 * The Supabase implementation of the adapter contract (design §6): supabase-js over PostgREST.
 *
 * Connections. One observed pool, `supabase`, whose connections are supabase-js clients each on
 * its own keep-alive undici agent with a single socket (see connection.ts): the pool bounds
 * concurrent sockets, a miss is a new TCP connection, and a connection whose socket closed is
 * replaced by the pool. Every HTTP request acquires a connection through `withConnection`.
 *
 * Requests. Each has a timeout (`requestTimeoutMs`, AbortSignal). supabase-js's built-in retries
 * are off; the adapter retries idempotent reads (GET) only, on connection failures and
 * gateway 502/503/504, at most `readRetries` times with exponential back-off and jitter, each
 * attempt on a freshly acquired connection. Writes are never retried (their outcome may be unknown
 * after a lost answer); only the compensation steps below, which are idempotent (delete by id,
 * write back the values read), are. `error` is checked on every response and mapped in errors.ts.
 *
 * Instrumentation. Every read request is one operation (`SELECT`, queryText `GET /rest/v1/<table>`,
 * no values); a single-row write is one operation; a batch (`insertMany`, `updateMany`) is one
 * operation (`BATCH INSERT` / `BATCH UPDATE`) covering all of its requests, as a SQLite batch
 * transaction is one operation. The health probe is not instrumented (it is not application
 * traffic).
 *
 * Reads never stop silently at PostgREST's `db-max-rows`: look-ups page by primary key (keyset,
 * `order=id`, `id=gt.<last>`) until the exact count taken with the first page is reached, and a
 * search pages by offset until its limit is filled. `in.(…)` lists hold at most 6,800 encoded
 * characters (206 UUIDs, sent without hyphens) and 250 values, so request targets stay around
 * 7 KB, well under the 8 KiB request line of nginx/Kong; longer URLs are refused before sending.
 *
 * Atomicity (a single PostgREST request is one transaction; several requests are not):
 * - insertMany sends one request while the body stays under `maxBodyBytes` (1 MiB), which is
 *   atomic. A larger batch is split into chunks; when a chunk fails, the rows of the chunks already
 *   written are deleted again by id (ids are generated client-side) and the original error is
 *   reported. This is all-or-nothing for readers *after* the call returns, not isolated while it
 *   runs: a concurrent reader may briefly see the earlier chunks. If a chunk's answer is lost (a
 *   timeout or reset after sending), its rows are read back and removed too when they were written;
 *   a timed-out chunk that the server commits only after that read-back (PostgREST does not cancel
 *   a statement when the client goes away) is left behind, which the error reports as
 *   `outcome_unknown`.
 * - updateMany first reads the current rows (NotFoundError, nothing written, if any id is missing),
 *   then groups the updates by their set of changed columns (a PostgREST bulk body must share its
 *   keys, or missing keys are written as NULL/default) and writes each group with one upsert
 *   (`on_conflict=id`, `resolution=merge-duplicates`). PostgreSQL checks NOT NULL on the proposed
 *   insert row before it detects the conflict, so the unchanged NOT NULL columns without a default
 *   (the foreign key, the title…) are re-sent with the values just read. When a group fails, the
 *   columns already written are restored to the values read at the start. Not isolated either: a
 *   concurrent change to a re-sent column between the read and the write is overwritten, and a row
 *   deleted concurrently in that window is re-created by the upsert.
 */
import { performance } from 'node:perf_hooks';

import type { SupabaseClient } from '@supabase/supabase-js';

import { AppError, DatabaseError, NotFoundError, ValidationError } from '../../errors/index.js';
import {
  isCreateFailureTimeout,
  ObservedPool,
  type ConnectionFactory,
  type ObservedPoolOptions,
  type PoolObserver,
  type PoolTimeoutError,
} from '../../pool/index.js';
import type { TableDefinition } from '../../schema/tables.js';
import {
  NO_INSTRUMENTATION,
  type AdapterHealth,
  type DatabaseAdapter,
  type Filter,
  type OperationInstrumentation,
  type Row,
  type RowUpdate,
  type SearchQuery,
  type SearchResult,
} from '../contract.js';
import { uniqueValues } from '../shared/chunk.js';
import { AdapterLifecycle } from '../shared/lifecycle.js';
import {
  validateFilters,
  validateLookupColumn,
  validateSearch,
  type ValidatedFilter,
} from '../shared/query.js';
import { columnSetKey, normalizeId, prepareInsertRow, prepareUpdateChanges } from '../shared/rows.js';
import { normalizeValue } from '../shared/values.js';
import { assertSerialisable, decodeRow, decodeRows, filterText, listText, selectList } from './codec.js';
import {
  SupabaseConnection,
  totalFromContentRange,
  type HttpMethod,
  type Reply,
  type RequestBuilder,
} from './connection.js';
import {
  chunkInList,
  encodedLength,
  escapeRegex,
  inListValue,
  listElement,
  logicConditions,
} from './encoding.js';
import {
  CircuitBreaker,
  DEFAULT_CIRCUIT_OPTIONS,
  type CircuitBreakerOptions,
  type CircuitSnapshot,
} from './circuit-breaker.js';
import { isTransient, mapSupabaseError, RequestFailure } from './errors.js';

/** Most values per `in.(…)` list; the character budget below usually decides first. */
export const IN_LIST_MAX_VALUES = 250;
/** Encoded length of one `in.(…)` list: 206 hyphen-less UUIDs (2,000 ids in 10 requests). */
export const IN_LIST_MAX_CHARS = 6_800;
/** Longest request target sent (path + query); nginx/Kong refuse request lines over 8 KiB. */
export const MAX_REQUEST_TARGET_LENGTH = 7_680;
/** Rows asked for per page (the server may cap pages lower with db-max-rows; paging copes). */
export const PAGE_ROWS = 1_000;
/** Default largest JSON body of one write request (bytes). */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
/**
 * Default largest response body accepted (bytes): a full page (PAGE_ROWS rows) of ordinary rows is
 * well under it; anything larger is a misbehaving upstream and is not buffered (502).
 */
export const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
/** Upper bound of the back-off between read retries (ms). */
const MAX_BACKOFF_MS = 2_000;
/** A guard on every paging loop (each page makes progress, so this is never reached in practice). */
const MAX_PAGES = 100_000;

/** Pool settings (names, sizes and the factory are the adapter's). */
export type SupabasePoolSettings = Omit<
  ObservedPoolOptions<SupabaseConnection>,
  'name' | 'dbSystem' | 'factory' | 'min' | 'max'
>;

export interface SupabaseAdapterOptions {
  /** Project URL, e.g. `https://xyz.supabase.co`. */
  readonly url: string;
  /** API key (the service_role key). Secret: sent in headers only, never logged or shown. */
  readonly key: string;
  /** Timeout of one PostgREST request, connect included (ms). */
  readonly requestTimeoutMs: number;
  /** Extra attempts for idempotent reads after a transient failure (0–10). */
  readonly readRetries: number;
  /** Size of the pool (= concurrent sockets); the service's defaults are 2–8. */
  readonly connections: { readonly min: number; readonly max: number };
  /** Timeouts, health checks, leak detection… of the pool. */
  readonly pool: SupabasePoolSettings;
  /** Largest JSON body of one write request before a batch is split (bytes; default 1 MiB). */
  readonly maxBodyBytes?: number;
  /** First retry back-off (ms; default 100, doubled per attempt, capped at 2 s, with jitter). */
  readonly retryBaseDelayMs?: number;
  /** Table probed by the health check (default `users`). */
  readonly probeTable?: string;
  /**
   * How long an idle socket is kept by the client (ms). Default: the larger of the pool's idle
   * timeout, twice the health-check interval and 60 s, so that health probes keep idle
   * connections warm; a shorter keep-alive announced by the server wins.
   */
  readonly keepAliveTimeoutMs?: number;
  /** Wraps every operation (metrics, spans). Default: none. */
  readonly instrumentation?: OperationInstrumentation;
  /** Receives the pool's events (Prometheus collectors). */
  readonly observer?: PoolObserver;
  /** Largest response body accepted (bytes; default 16 MiB); a larger one is a 502 DB_BAD_GATEWAY. */
  readonly maxResponseBytes?: number;
  /** Circuit breaker settings (default: 5 failures within 10 s open it for 5 s; threshold 0 = off). */
  readonly circuit?: Omit<CircuitBreakerOptions, 'now'>;
}


/** The postgrest-js filter-builder members the adapter calls (structurally; see connection.ts). */
interface Query extends RequestBuilder {
  filter(column: string, operator: QueryOperator, value: string): Query;
  or(filters: string): Query;
  order(column: string, options: { ascending: boolean }): Query;
  limit(count: number): Query;
  range(from: number, to: number): Query;
}

type QueryOperator = 'eq' | 'neq' | 'gt' | 'gte' | 'lt' | 'lte' | 'in' | 'is' | 'not.is' | 'imatch';

/** `select` on `table`, optionally with an exact count (`Prefer: count=exact`). */
function selectFrom(
  client: SupabaseClient,
  table: TableDefinition,
  columns: string,
  options: { count?: 'exact' } = {},
): Query {
  return client.from(table.name).select(columns, options);
}

function assertOptions(options: SupabaseAdapterOptions): void {
  const problems: string[] = [];
  let url: URL | null = null;
  try {
    url = new URL(options.url);
  } catch {
    url = null;
  }
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    problems.push('url must be an http(s) URL');
  else if (url.username !== '' || url.password !== '') problems.push('url must not contain credentials');
  // The key itself is never echoed.
  if (typeof options.key !== 'string' || options.key.trim() === '')
    problems.push('key must be a non-empty string');
  if (!Number.isInteger(options.requestTimeoutMs) || options.requestTimeoutMs < 1) {
    problems.push('requestTimeoutMs must be an integer >= 1');
  }
  if (!Number.isInteger(options.readRetries) || options.readRetries < 0 || options.readRetries > 10) {
    problems.push('readRetries must be an integer between 0 and 10');
  }
  const { min, max } = options.connections ?? {};
  if (!Number.isInteger(min) || min < 0) problems.push('connections.min must be an integer >= 0');
  if (!Number.isInteger(max) || max < 1 || max < min) {
    problems.push('connections.max must be an integer >= 1 and >= connections.min');
  }
  if (
    options.maxBodyBytes !== undefined &&
    (!Number.isInteger(options.maxBodyBytes) || options.maxBodyBytes < 1024)
  ) {
    problems.push('maxBodyBytes must be an integer >= 1024');
  }
  if (
    options.retryBaseDelayMs !== undefined &&
    (!Number.isInteger(options.retryBaseDelayMs) || options.retryBaseDelayMs < 0)
  ) {
    problems.push('retryBaseDelayMs must be an integer >= 0');
  }
  if (options.probeTable !== undefined && !/^[a-z_][a-z0-9_]*$/.test(options.probeTable)) {
    problems.push('probeTable must be a plain table name');
  }
  if (problems.length > 0) {
    throw new ValidationError(`Invalid Supabase adapter options: ${problems.join('; ')}.`, { problems });
  }
}

/** Back-off before retry `attempt` (0-based): exponential, capped, with "equal jitter". */
export function retryDelayMs(attempt: number, baseMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_BACKOFF_MS, baseMs * 2 ** attempt);
  return ceiling / 2 + (random() * ceiling) / 2;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Splits rows into request bodies of at most `maxBytes` of JSON (a larger single row goes alone). */
export function chunkByBodySize<T>(rows: readonly T[], maxBytes: number): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let size = 2; // `[` and `]`
  for (const row of rows) {
    const bytes = Buffer.byteLength(JSON.stringify(row), 'utf8') + 1;
    if (current.length > 0 && size + bytes > maxBytes) {
      chunks.push(current);
      current = [];
      size = 2;
    }
    current.push(row);
    size += bytes;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** Adds the failing row's position to a validation error of a batch (as the SQLite adapter does). */
function withRowDetail(err: unknown, index: number): unknown {
  if (err instanceof ValidationError) {
    const details = err.details !== null && typeof err.details === 'object' ? err.details : {};
    const wrapped = new ValidationError(`Row ${index}: ${err.message}`, { ...details, row: index });
    wrapped.cause = err;
    return wrapped;
  }
  return err;
}

const OPERATION_OF: Readonly<Record<HttpMethod, string>> = {
  GET: 'SELECT',
  HEAD: 'SELECT',
  POST: 'INSERT',
  PATCH: 'UPDATE',
  DELETE: 'DELETE',
};

function queryText(method: HttpMethod | readonly HttpMethod[], table: TableDefinition): string {
  const methods = typeof method === 'string' ? [method] : method;
  return methods.map((m) => `${m} /rest/v1/${table.name}`).join('; ');
}

export class SupabaseAdapter implements DatabaseAdapter {
  readonly dbSystem = 'postgresql' as const;
  readonly #options: Readonly<SupabaseAdapterOptions>;
  readonly #instrumentation: OperationInstrumentation;
  readonly #pool: ObservedPool<SupabaseConnection>;
  /** The project's origin, for messages (the URL carries no secret; the key is never shown). */
  readonly #origin: string;
  readonly #maxBodyBytes: number;
  readonly #retryBaseDelayMs: number;
  /** The last create failure, already mapped: start() reports it instead of a generic pool error. */
  #createError: AppError | null = null;
  readonly #breaker: CircuitBreaker;
  readonly #lifecycle = new AdapterLifecycle('Supabase');

  constructor(options: SupabaseAdapterOptions) {
    assertOptions(options);
    this.#options = Object.freeze({
      ...options,
      url: options.url.replace(/\/+$/, ''),
      connections: Object.freeze({ ...options.connections }),
      pool: Object.freeze({ ...options.pool }),
    });
    this.#origin = new URL(this.#options.url).origin;
    this.#instrumentation = options.instrumentation ?? NO_INSTRUMENTATION;
    this.#maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.#retryBaseDelayMs = options.retryBaseDelayMs ?? 100;
    this.#breaker = new CircuitBreaker(options.circuit ?? DEFAULT_CIRCUIT_OPTIONS);
    this.#pool = new ObservedPool<SupabaseConnection>(
      {
        ...options.pool,
        name: 'supabase',
        dbSystem: 'postgresql',
        min: options.connections.min,
        max: options.connections.max,
        factory: this.#factory(),
      },
      options.observer,
    );
  }

  /** Base URL of the Supabase project. */
  get url(): string {
    return this.#options.url;
  }

  /** The pool (tests and tools). */
  get pool(): ObservedPool<SupabaseConnection> {
    return this.#pool;
  }

  pools(): readonly ObservedPool<unknown>[] {
    return [this.#pool] as readonly ObservedPool<unknown>[];
  }

  #factory(): ConnectionFactory<SupabaseConnection> {
    const pool = this.#options.pool;
    const connectionOptions = {
      url: this.#options.url,
      key: this.#options.key,
      requestTimeoutMs: this.#options.requestTimeoutMs,
      keepAliveTimeoutMs:
        this.#options.keepAliveTimeoutMs ??
        Math.min(600_000, Math.max(pool.idleTimeoutMs, 2 * pool.healthCheckIntervalMs, 60_000)),
      probeTable: this.#options.probeTable ?? 'users',
      maxRequestTargetLength: MAX_REQUEST_TARGET_LENGTH,
      maxResponseBytes: this.#options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    };
    const context = { operation: 'connection probe', origin: this.#origin };
    return {
      create: async () => {
        try {
          const connection = await SupabaseConnection.open(connectionOptions);
          this.#createError = null;
          // A connection opened (its probe answered): the API is reachable again.
          this.#breaker.success();
          return connection;
        } catch (err) {
          // A connect that fails (refused, reset, timed out) counts towards opening the circuit,
          // which also releases the callers waiting for this connection.
          if (isConnectionLevel(err)) this.#breaker.failure();
          const mapped = mapSupabaseError(err, context);
          this.#createError = mapped;
          throw mapped;
        }
      },
      destroy: (connection) => connection.close(),
      validate: async (connection) => {
        try {
          await connection.probe();
          this.#breaker.success();
          return true;
        } catch (err) {
          // The pool keeps this message as the last health error: ours, never an upstream body.
          throw mapSupabaseError(err, { operation: 'health check', origin: this.#origin });
        }
      },
      isBroken: (connection) => connection.isBroken,
    };
  }

  /**
   * Opens and warms the pool: `min` connections, each opened by the health probe (so a wrong URL,
   * a rejected key or missing tables fail start-up with a message saying which). The adapter does
   * not migrate (PostgREST has no DDL): apply migrations/postgres first. Idempotent while starting
   * or started; may be retried after a failure; after stop() it fails with DB_POOL_CLOSED.
   */
  start(): Promise<void> {
    return this.#lifecycle.start(() => this.#start());
  }

  async #start(): Promise<void> {
    this.#createError = null;
    try {
      await this.#pool.start();
    } catch (err) {
      // The pool wraps the failing create; the mapped reason (key, URL, migrations) is the useful part.
      throw (
        this.#createError ?? mapSupabaseError(err, { operation: 'connection probe', origin: this.#origin })
      );
    }
  }

  /** Drains and closes the pool (each connection's agent and socket). Idempotent. */
  stop(): Promise<void> {
    return this.#lifecycle.stop(() => this.#pool.stop().then(() => undefined));
  }

  #assertStarted(): void {
    this.#lifecycle.assertStarted();
  }

  // ---- requests --------------------------------------------------------------------------

  /**
   * Sends one request on a pooled connection. Idempotent requests are retried on transient
   * failures (a new acquire each time: a connection whose socket failed is discarded by the pool).
   * Throws the unmapped failure (callers may need its kind); #operation maps it.
   */
  async #send(
    table: TableDefinition,
    method: HttpMethod,
    build: (client: SupabaseClient) => RequestBuilder,
    idempotent: boolean,
  ): Promise<Reply> {
    const retries = idempotent ? this.#options.readRetries : 0;
    let failure: unknown;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await sleep(retryDelayMs(attempt - 1, this.#retryBaseDelayMs));
      // Open circuit: fail fast, no network (a retry of a failed read stops here too).
      const probe = this.#breaker.admit();
      try {
        const reply = await this.#breaker.race((abandoned) =>
          this.#pool.withConnection((connection) => {
            // The circuit opened while this caller waited for a connection: it has been answered.
            if (abandoned()) throw this.#breaker.openError();
            return connection.send(method, table.name, build);
          }),
        );
        this.#breaker.success();
        return reply;
      } catch (err) {
        this.#recordOutcome(err, probe);
        if (!isTransient(err)) throw err;
        failure = err;
      }
    }
    throw failure;
  }

  /** An acquire that timed out because every connection create failed: the API is unreachable. */
  #unavailable(err: PoolTimeoutError): DatabaseError {
    const code = this.#createError?.code ?? 'DB_UNAVAILABLE';
    return new DatabaseError(
      'DB_UNAVAILABLE',
      `${this.#origin === '' ? 'The Supabase API' : `The Supabase API at ${this.#origin}`} is unavailable: no new ` +
        `connection could be opened within ${Math.round(err.waitedMs)} ms (${code}). Retry shortly.`,
      { cause: err, details: { pool: err.snapshot.name, reason: code }, retryAfterSeconds: 1 },
    );
  }

  /** Feeds the circuit breaker with the outcome of a failed attempt. */
  #recordOutcome(err: unknown, probe: boolean): void {
    if (isConnectionLevel(err)) this.#breaker.failure();
    else if (err instanceof RequestFailure) this.#breaker.success(); // the server answered
    else if (probe) this.#breaker.release();
  }

  /** The circuit breaker's state (for /metrics/database/health and tests). */
  circuit(): CircuitSnapshot {
    return this.#breaker.snapshot();
  }

  /** The breaker guards the one pool, `supabase`; null when disabled (threshold 0). */
  circuitOf(pool: string): CircuitSnapshot | null {
    return pool === this.#pool.name && this.#breaker.enabled ? this.#breaker.snapshot() : null;
  }

  /** One instrumented operation; failures leave it as mapped AppErrors. */
  #operation<T>(
    table: TableDefinition,
    info: {
      operation: string;
      method: HttpMethod | readonly HttpMethod[];
      batchSize?: number;
      chunk?: { index: number; of: number };
    },
    fn: () => Promise<T>,
  ): Promise<T> {
    return this.#instrumentation.run(
      {
        operation: info.operation,
        collection: table.name,
        queryText: queryText(info.method, table),
        ...(info.batchSize === undefined ? {} : { batchSize: info.batchSize }),
        ...(info.chunk === undefined ? {} : { chunk: info.chunk }),
      },
      async () => {
        try {
          return await fn();
        } catch (err) {
          // No connection could be opened (every create failed), not a busy pool: as SQLite says.
          if (isCreateFailureTimeout(err)) throw this.#unavailable(err);
          throw mapSupabaseError(err, { table, operation: info.operation, origin: this.#origin });
        }
      },
    );
  }

  /**
   * One read request as its own operation, retried when transient. Always GET: counts are
   * `limit=0` reads with `Prefer: count=exact` rather than HEAD, because undici closes the socket
   * after every HEAD request (nodejs/undici#258) and a count would cost a new TCP connection.
   */
  #read(
    table: TableDefinition,
    method: 'GET',
    build: (client: SupabaseClient) => RequestBuilder,
    chunk?: { index: number; of: number },
  ): Promise<Reply> {
    return this.#operation(table, { operation: 'SELECT', method, ...(chunk === undefined ? {} : { chunk }) }, () =>
      this.#send(table, method, build, true),
    );
  }

  /** One write request as its own operation, never retried. */
  #write(
    table: TableDefinition,
    method: HttpMethod,
    build: (client: SupabaseClient) => RequestBuilder,
  ): Promise<Reply> {
    return this.#operation(table, { operation: OPERATION_OF[method], method }, () =>
      this.#send(table, method, build, false),
    );
  }

  /**
   * Every row matching `where`, paged by primary key so that PostgREST's max-rows never truncates
   * the result: the first page carries an exact count, and `id=gt.<last>` pages follow until it is
   * reached (or a page comes back empty, if rows were deleted meanwhile). One request per page,
   * each its own operation. `send` replaces the default request path (batches use the raw one).
   */
  async #pagedById(
    table: TableDefinition,
    columns: string,
    where: (query: Query) => Query,
    send: (build: (client: SupabaseClient) => RequestBuilder) => Promise<Reply> = (build) =>
      this.#read(table, 'GET', build),
  ): Promise<Record<string, unknown>[]> {
    const pk = table.primaryKey;
    const rows: Record<string, unknown>[] = [];
    let total: number | null = null;
    let after: string | null = null;
    for (let page = 0; page < MAX_PAGES; page++) {
      const from = after;
      const reply = await send((client) => {
        let query = where(selectFrom(client, table, columns, page === 0 ? { count: 'exact' } : {}));
        if (from !== null) query = query.filter(pk, 'gt', from);
        return query.order(pk, { ascending: true }).limit(PAGE_ROWS);
      });
      if (!Array.isArray(reply.data))
        throw new DatabaseError('DB_BAD_GATEWAY', `The Supabase API returned no ${table.name} rows list.`);
      const data = reply.data as Record<string, unknown>[];
      if (page === 0) total = reply.count;
      rows.push(...data);
      const last = data[data.length - 1];
      if (last === undefined) break;
      if (total !== null ? rows.length >= total : data.length < PAGE_ROWS) break;
      after = String(last[pk]);
    }
    return rows;
  }

  /** Validated, normalised, distinct values for an `in` look-up; nulls dropped (they match nothing). */
  #lookupValues(table: TableDefinition, column: string, values: readonly unknown[]): unknown[] {
    validateLookupColumn(table, column);
    if (!Array.isArray(values)) throw new ValidationError('values must be an array.');
    return uniqueValues(
      values.filter((v) => v !== null && v !== undefined).map((v) => normalizeValue(table, column, v)),
    );
  }

  /** `in.(…)` lists for `texts`, each within the URL budget (a single overlong value is refused). */
  #inLists(table: TableDefinition, column: string, texts: readonly string[]): string[] {
    return chunkInList(texts, IN_LIST_MAX_VALUES, IN_LIST_MAX_CHARS).map((part) => {
      if (part.length === 1 && encodedLength(listElement(part[0] ?? '')) + 2 > IN_LIST_MAX_CHARS) {
        throw new ValidationError(
          `A ${table.name}.${column} value is too long to look up through the Supabase API.`,
          {
            column,
          },
        );
      }
      return inListValue(part);
    });
  }

  // ---- reads -----------------------------------------------------------------------------

  async getById(table: TableDefinition, id: string): Promise<Row | null> {
    this.#assertStarted();
    const key = normalizeId(table, id);
    const reply = await this.#read(table, 'GET', (client) =>
      selectFrom(client, table, selectList(table)).filter(table.primaryKey, 'eq', key),
    );
    return decodeRows(table, reply.data)[0] ?? null;
  }

  async getManyByIds(table: TableDefinition, ids: readonly string[]): Promise<Row[]> {
    this.#assertStarted();
    if (!Array.isArray(ids)) throw new ValidationError('ids must be an array.');
    const keys = uniqueValues(ids.map((id) => normalizeId(table, id)));
    return this.#selectIn(
      table,
      table.primaryKey,
      keys.map((k) => listText(table, table.primaryKey, k)),
    );
  }

  async getManyByColumn(table: TableDefinition, column: string, values: readonly unknown[]): Promise<Row[]> {
    this.#assertStarted();
    const texts = this.#lookupValues(table, column, values).map((v) => listText(table, column, v));
    return this.#selectIn(table, column, texts);
  }

  async #selectIn(table: TableDefinition, column: string, texts: readonly string[]): Promise<Row[]> {
    const rows: Row[] = [];
    // Sequential chunks: each holds one connection briefly instead of fanning one call out over
    // the whole pool (which would starve concurrent requests).
    const lists = this.#inLists(table, column, texts);
    for (const [index, list] of lists.entries()) {
      const chunk = lists.length > 1 ? { index, of: lists.length } : undefined;
      const raw = await this.#pagedById(
        table,
        selectList(table),
        (q) => q.filter(column, 'in', list),
        (build) => this.#read(table, 'GET', build, chunk),
      );
      for (const row of raw) rows.push(decodeRow(table, row));
    }
    return rows;
  }

  /**
   * PostgREST cannot GROUP BY without aggregates (off by default, and on Supabase): this selects
   * only the key and the column of the matching rows, paged, and counts them here. Requests: one per
   * chunk of values plus one per further page of `PAGE_ROWS` (or the server's max-rows) rows.
   */
  async countByColumn(
    table: TableDefinition,
    column: string,
    values: readonly unknown[],
  ): Promise<Map<string, number>> {
    this.#assertStarted();
    const normalized = this.#lookupValues(table, column, values);
    const texts = normalized.map((v) => listText(table, column, v));
    const counts = new Map<string, number>();
    // Every requested value is present, with 0 when no row has it.
    for (const value of normalized) counts.set(String(value), 0);
    const pk = table.primaryKey;
    const columns = column === pk ? pk : `${pk},${column}`;
    const lists = this.#inLists(table, column, texts);
    for (const [index, list] of lists.entries()) {
      const chunk = lists.length > 1 ? { index, of: lists.length } : undefined;
      const raw = await this.#pagedById(
        table,
        columns,
        (q) => q.filter(column, 'in', list),
        (build) => this.#read(table, 'GET', build, chunk),
      );
      for (const row of raw) {
        const value = decodeRow(table, { ...blankRow(table), ...row })[column];
        const key = String(value);
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
    return counts;
  }

  async count(table: TableDefinition, filters: readonly Filter[]): Promise<number> {
    this.#assertStarted();
    const validated = validateFilters(table, filters);
    if (matchesNothing(validated)) return 0;
    const reply = await this.#read(table, 'GET', (client) =>
      applyFilters(selectFrom(client, table, table.primaryKey, { count: 'exact' }), table, validated).limit(
        0,
      ),
    );
    return this.#countOf(table, reply);
  }

  #countOf(table: TableDefinition, reply: Reply): number {
    if (reply.count === null) {
      throw new DatabaseError(
        'DB_BAD_GATEWAY',
        `The Supabase API answered a ${table.name} count without a total.`,
      );
    }
    return reply.count;
  }

  async search(table: TableDefinition, query: SearchQuery): Promise<SearchResult> {
    this.#assertStarted();
    const search = validateSearch(table, query);
    if (matchesNothing(search.filters)) return { rows: [], total: 0 };
    const where = (q: Query): Query =>
      applyFilters(q, table, search.filters, search.text, search.textColumns);
    if (search.limit === 0) {
      const reply = await this.#read(table, 'GET', (client) =>
        where(selectFrom(client, table, table.primaryKey, { count: 'exact' })).limit(0),
      );
      return { rows: [], total: this.#countOf(table, reply) };
    }
    const order = (q: Query): Query => {
      let ordered = q;
      for (const key of search.sort)
        ordered = ordered.order(key.column, { ascending: key.direction === 'asc' });
      if (!search.sort.some((key) => key.column === table.primaryKey)) {
        ordered = ordered.order(table.primaryKey, { ascending: true });
      }
      return ordered;
    };
    const rows: Row[] = [];
    let total: number | null = null;
    // Pages until the limit is filled: PostgREST's max-rows may cap each answer below the limit.
    for (let page = 0; rows.length < search.limit && page < MAX_PAGES; page++) {
      const from = search.offset + rows.length;
      const to = search.offset + search.limit - 1;
      const reply = await this.#operation(table, { operation: 'SELECT', method: 'GET' }, async () => {
        try {
          return await this.#send(
            table,
            'GET',
            (client) =>
              order(
                where(selectFrom(client, table, selectList(table), page === 0 ? { count: 'exact' } : {})),
              ).range(from, to),
            true,
          );
        } catch (err) {
          // An offset past the end is 416 when a count is asked for; the total is in Content-Range.
          if (err instanceof RequestFailure && err.status === 416) {
            return { data: [], count: totalFromContentRange(err.contentRange), status: 416 };
          }
          throw err;
        }
      });
      const data = decodeRows(table, reply.data);
      if (page === 0) total = reply.count;
      rows.push(...data);
      if (data.length === 0) break;
    }
    if (total === null) {
      const reply = await this.#read(table, 'GET', (client) =>
        where(selectFrom(client, table, table.primaryKey, { count: 'exact' })).limit(0),
      );
      total = this.#countOf(table, reply);
    }
    return { rows, total };
  }

  // ---- writes ----------------------------------------------------------------------------

  async insertOne(table: TableDefinition, row: Row): Promise<Row> {
    this.#assertStarted();
    const prepared = prepareInsertRow(table, row, { now: new Date().toISOString() });
    assertSerialisable(table, prepared);
    const reply = await this.#write(table, 'POST', (client) =>
      client.from(table.name).insert(prepared, { defaultToNull: false }).select(selectList(table)),
    );
    const stored = decodeRows(table, reply.data)[0];
    if (stored === undefined)
      throw new DatabaseError('INTERNAL', `INSERT into ${table.name} returned no row.`);
    return stored;
  }

  async insertMany(table: TableDefinition, rows: readonly Row[]): Promise<Row[]> {
    this.#assertStarted();
    if (!Array.isArray(rows)) throw new ValidationError('rows must be an array.');
    if (rows.length === 0) return [];
    const now = new Date().toISOString();
    // Validate everything before anything is sent: a bad row 900 fails the call up front.
    const prepared = rows.map((row, index) => {
      try {
        const ready = prepareInsertRow(table, row, { now });
        assertSerialisable(table, ready);
        return ready;
      } catch (err) {
        throw withRowDetail(err, index);
      }
    });
    const chunks = chunkByBodySize(prepared, this.#maxBodyBytes);
    return this.#operation(
      table,
      { operation: 'BATCH INSERT', method: 'POST', batchSize: rows.length },
      async () => {
        const stored = new Map<string, Row>();
        const written: Row[][] = [];
        for (const part of chunks) {
          let reply: Reply;
          try {
            reply = await this.#send(
              table,
              'POST',
              // `missing=default`: keys absent from a row take the column default, not NULL.
              (client) =>
                client.from(table.name).insert(part, { defaultToNull: false }).select(selectList(table)),
              false,
            );
          } catch (err) {
            if (written.length > 0 || (err instanceof RequestFailure && err.outcomeUnknown)) {
              await this.#undoInsert(table, written, part, err);
            }
            throw err;
          }
          for (const row of decodeRows(table, reply.data)) stored.set(String(row[table.primaryKey]), row);
          written.push(part);
        }
        return prepared.map((row) => {
          const result = stored.get(String(row[table.primaryKey]));
          if (result === undefined)
            throw new DatabaseError('INTERNAL', `INSERT into ${table.name} did not return every row.`);
          return result;
        });
      },
    );
  }

  /**
   * Compensation of a failed chunked insert: deletes the rows of the chunks already written and,
   * when the failing chunk's answer was lost, its rows too if they are there (all of them, with our
   * created_at: a chunk is one transaction, and a row that existed before would have failed it).
   * On failure, throws an error that keeps the original code and says what is left behind.
   */
  async #undoInsert(
    table: TableDefinition,
    written: readonly Row[][],
    failed: readonly Row[],
    cause: unknown,
  ): Promise<void> {
    const pk = table.primaryKey;
    const ids = written.flat().map((row) => String(row[pk]));
    try {
      if (cause instanceof RequestFailure && cause.outcomeUnknown) {
        const texts = failed.map((row) => listText(table, pk, row[pk]));
        const found = new Map<string, unknown>();
        for (const list of this.#inLists(table, pk, texts)) {
          const raw = await this.#pagedById(
            table,
            `${pk},created_at`,
            (q) => q.filter(pk, 'in', list),
            (build) => this.#send(table, 'GET', build, true),
          );
          for (const row of raw)
            found.set(String(row[pk]), decodeRow(table, { ...blankRow(table), ...row }).created_at);
        }
        const ours = failed.every(
          (row) => found.has(String(row[pk])) && found.get(String(row[pk])) === row.created_at,
        );
        if (ours) ids.push(...failed.map((row) => String(row[pk])));
      }
      for (const list of this.#inLists(
        table,
        pk,
        ids.map((id) => listText(table, pk, id)),
      )) {
        // Deleting by id is idempotent, so this (unlike the insert) may be retried.
        await this.#send(
          table,
          'DELETE',
          (client) => client.from(table.name).delete().filter(pk, 'in', list),
          true,
        );
      }
    } catch (undoError) {
      throw compensationFailed(table, 'insertMany', cause, undoError, ids.length, this.#origin);
    }
  }

  async updateOne(table: TableDefinition, id: string, changes: Row): Promise<Row | null> {
    this.#assertStarted();
    const key = normalizeId(table, id);
    const prepared = prepareUpdateChanges(table, changes, { now: new Date().toISOString() });
    assertSerialisable(table, prepared);
    const reply = await this.#write(table, 'PATCH', (client) =>
      client.from(table.name).update(prepared).filter(table.primaryKey, 'eq', key).select(selectList(table)),
    );
    return decodeRows(table, reply.data)[0] ?? null;
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
        const changes = prepareUpdateChanges(table, update.changes, { now });
        assertSerialisable(table, changes);
        return { id: normalizeId(table, update.id), changes };
      } catch (err) {
        throw withRowDetail(err, index);
      }
    });
    return this.#operation(
      table,
      { operation: 'BATCH UPDATE', method: ['GET', 'POST'], batchSize: updates.length },
      () => this.#applyUpdates(table, prepared),
    );
  }

  async #applyUpdates(
    table: TableDefinition,
    prepared: readonly { id: string; changes: Row }[],
  ): Promise<Row[]> {
    const pk = table.primaryKey;
    // 1. The current rows; nothing is written when one is missing.
    const ids = uniqueValues(prepared.map((u) => u.id));
    const before = new Map<string, Row>();
    for (const list of this.#inLists(
      table,
      pk,
      ids.map((id) => listText(table, pk, id)),
    )) {
      const raw = await this.#pagedById(
        table,
        selectList(table),
        (q) => q.filter(pk, 'in', list),
        (build) => this.#send(table, 'GET', build, true),
      );
      for (const row of raw) before.set(String(row[pk]), decodeRow(table, row));
    }
    const missingAt = prepared.findIndex((u) => !before.has(u.id));
    if (missingAt >= 0) {
      const id = prepared[missingAt]?.id;
      throw new NotFoundError(`No ${table.name} row with id ${id}; nothing was updated.`, {
        table: table.name,
        id,
        row: missingAt,
      });
    }

    // 2. Rounds (an id updated twice goes to a later round) of groups with equal column sets.
    const resend = resentColumns(table);
    const current = new Map(before);
    const written = new Map<string, Set<string>>();
    const results: Row[] = new Array<Row>(prepared.length);
    for (const round of rounds(prepared)) {
      const groups = new Map<string, number[]>();
      for (const index of round) {
        const key = columnSetKey(prepared[index]!.changes);
        const group = groups.get(key);
        if (group === undefined) groups.set(key, [index]);
        else group.push(index);
      }
      for (const indexes of groups.values()) {
        const payload = indexes.map((index) => {
          const { id, changes } = prepared[index]!;
          return inTableOrder(table, { ...pick(current.get(id)!, resend), ...changes, [pk]: id });
        });
        for (const part of chunkByBodySize(payload, this.#maxBodyBytes)) {
          let reply: Reply;
          try {
            reply = await this.#send(
              table,
              'POST',
              (client) => client.from(table.name).upsert(part, { onConflict: pk }).select(selectList(table)),
              false,
            );
          } catch (err) {
            if (err instanceof RequestFailure && err.outcomeUnknown) markWritten(written, part, pk);
            if (written.size > 0) await this.#restore(table, before, written, err);
            throw err;
          }
          markWritten(written, part, pk);
          for (const row of decodeRows(table, reply.data)) current.set(String(row[pk]), row);
        }
        for (const index of indexes) results[index] = current.get(prepared[index]!.id)!;
      }
    }
    return results;
  }

  /**
   * Compensation of a failed updateMany: writes back, for every row written so far, the values
   * read at the start of the columns that were written (grouped by column set, one upsert each).
   * Idempotent, so retried like a read.
   */
  async #restore(
    table: TableDefinition,
    before: ReadonlyMap<string, Row>,
    written: ReadonlyMap<string, Set<string>>,
    cause: unknown,
  ): Promise<void> {
    const pk = table.primaryKey;
    const resend = resentColumns(table);
    const groups = new Map<string, Row[]>();
    for (const [id, columns] of written) {
      const row = inTableOrder(table, { ...pick(before.get(id)!, [...resend, ...columns]), [pk]: id });
      const key = columnSetKey(row);
      const group = groups.get(key);
      if (group === undefined) groups.set(key, [row]);
      else group.push(row);
    }
    try {
      for (const rows of groups.values()) {
        for (const part of chunkByBodySize(rows, this.#maxBodyBytes)) {
          await this.#send(
            table,
            'POST',
            (client) => client.from(table.name).upsert(part, { onConflict: pk }),
            true,
          );
        }
      }
    } catch (undoError) {
      throw compensationFailed(table, 'updateMany', cause, undoError, written.size, this.#origin);
    }
  }

  async deleteOne(table: TableDefinition, id: string): Promise<boolean> {
    this.#assertStarted();
    const key = normalizeId(table, id);
    const reply = await this.#write(table, 'DELETE', (client) =>
      client.from(table.name).delete().filter(table.primaryKey, 'eq', key).select(table.primaryKey),
    );
    return Array.isArray(reply.data) && reply.data.length > 0;
  }

  /**
   * The probe (`GET … limit=0` on the probe table) through the pool. Not instrumented as a query: it is not
   * application traffic and must not show up in query counts or N+1 detection.
   */
  async healthCheck(): Promise<AdapterHealth> {
    const started = performance.now();
    try {
      this.#assertStarted();
      // While the circuit is open the probe does not touch the network either.
      if (this.#breaker.state === 'open') throw this.#breaker.openError();
      await this.#pool.withConnection((connection) => connection.probe());
      return { healthy: true, latencyMs: performance.now() - started, circuit: this.#breaker.snapshot() };
    } catch (err) {
      const mapped = mapSupabaseError(err, { operation: 'health check', origin: this.#origin });
      return {
        healthy: false,
        latencyMs: performance.now() - started,
        error: mapped.message,
        circuit: this.#breaker.snapshot(),
      };
    }
  }
}

// ---- helpers ---------------------------------------------------------------------------------

/**
 * A failure that says the API could not be reached (connect refused/reset, socket closed before
 * the answer was complete, no answer in time, no connection could be created), as opposed to an
 * answer from the server. These feed the circuit breaker.
 */
function isConnectionLevel(err: unknown): boolean {
  if (err instanceof RequestFailure) return err.kind === 'transport' || err.kind === 'timeout';
  if (isCreateFailureTimeout(err)) return true;
  if (err instanceof AppError) {
    const cause = err.cause;
    return cause instanceof RequestFailure && (cause.kind === 'transport' || cause.kind === 'timeout');
  }
  return false;
}

/** True when a filter list can match no row (an empty `in`): no request is needed. */
function matchesNothing(filters: readonly ValidatedFilter[]): boolean {
  return filters.some((f) => f.op === 'in' && f.values.length === 0);
}

/** Adds validated filters (AND) and the free text (OR over the searchable columns) to a query. */
function applyFilters(
  query: Query,
  table: TableDefinition,
  filters: readonly ValidatedFilter[],
  text: string | null = null,
  textColumns: readonly string[] = [],
): Query {
  let q = query;
  for (const f of filters) {
    switch (f.op) {
      case 'in':
        q = q.filter(f.column, 'in', inListValue(f.values.map((v) => listText(table, f.column, v))));
        break;
      case 'contains':
        // Literal, case-insensitive substring: `~*` with the text regex-escaped (see encoding.ts).
        q = q.filter(f.column, 'imatch', escapeRegex(f.text));
        break;
      case 'is_null':
        q = q.filter(f.column, f.isNull ? 'is' : 'not.is', 'null');
        break;
      default:
        q = q.filter(f.column, f.op, filterText(table, f.column, f.value));
    }
  }
  if (text !== null && textColumns.length > 0) {
    const pattern = escapeRegex(text);
    q = q.or(logicConditions(textColumns.map((column) => ({ column, operator: 'imatch', value: pattern }))));
  }
  return q;
}

/** Columns re-sent unchanged in an upsert: NOT NULL, not service-generated, exact over JSON. */
function resentColumns(table: TableDefinition): string[] {
  return Object.entries(table.columns)
    .filter(
      ([column, def]) =>
        column !== table.primaryKey &&
        !def.nullable &&
        def.generated !== true &&
        // Timestamps lose microseconds and JSON big numbers lose digits through JavaScript; both
        // have database defaults, so the insert half of the upsert does not need them.
        def.type !== 'timestamp' &&
        def.type !== 'json',
    )
    .map(([column]) => column);
}

function pick(row: Row, columns: readonly string[]): Row {
  const out: Row = {};
  for (const column of columns) if (column in row) out[column] = row[column];
  return out;
}

/** The same keys in table order, so rows of one group serialise with identical keys. */
function inTableOrder(table: TableDefinition, row: Row): Row {
  const out: Row = {};
  for (const column of Object.keys(table.columns)) if (column in row) out[column] = row[column];
  return out;
}

/** A row of nulls, so a partial select can be decoded with decodeRow. */
function blankRow(table: TableDefinition): Row {
  return Object.fromEntries(Object.keys(table.columns).map((c) => [c, null]));
}

/** Indexes of `updates` in rounds: the n-th update of an id goes to round n. */
function rounds(updates: readonly { id: string }[]): number[][] {
  const seen = new Map<string, number>();
  const out: number[][] = [];
  updates.forEach((update, index) => {
    const round = seen.get(update.id) ?? 0;
    seen.set(update.id, round + 1);
    (out[round] ??= []).push(index);
  });
  return out;
}

function markWritten(written: Map<string, Set<string>>, rows: readonly Row[], pk: string): void {
  for (const row of rows) {
    const id = String(row[pk]);
    const columns = written.get(id) ?? new Set<string>();
    for (const column of Object.keys(row)) if (column !== pk) columns.add(column);
    written.set(id, columns);
  }
}

/** The error of a batch whose compensation failed too: the original code, and what is left. */
function compensationFailed(
  table: TableDefinition,
  what: 'insertMany' | 'updateMany',
  cause: unknown,
  undoError: unknown,
  rows: number,
  origin: string,
): DatabaseError {
  const original = mapSupabaseError(cause, {
    table,
    operation: what === 'insertMany' ? 'BATCH INSERT' : 'BATCH UPDATE',
    origin,
  });
  const undo = mapSupabaseError(undoError, { table, origin });
  const left =
    what === 'insertMany'
      ? `up to ${rows} rows written by its earlier requests may remain`
      : `up to ${rows} rows may keep their new values`;
  const details = original.details !== null && typeof original.details === 'object' ? original.details : {};
  return new DatabaseError(
    original.code,
    `${original.message} Undoing the partial ${what} failed too (${undo.code}): ${left}.`,
    {
      cause: original,
      details: { ...details, compensation: { failed: true, rows, error: undo.code } },
      retryAfterSeconds: original.retryAfterSeconds,
    },
  );
}
