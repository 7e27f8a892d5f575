/**
 * The adapter contract: what a backend (SQLite, Supabase) must provide. Repositories depend on
 * this and nothing else; one contract test suite (test/contract) runs against every adapter.
 *
 * Conventions every adapter follows:
 * - Table and column names come from {@link TableDefinition}s only (allow-listed identifiers);
 *   values are always bound parameters (SQL) or encoded values (PostgREST), never spliced text.
 * - Rows come back in their logical shape: JSON columns as parsed values, booleans as booleans,
 *   timestamps as ISO-8601 strings in UTC with milliseconds (`2026-11-28T12:00:00.000Z`).
 * - Driver errors are converted to {@link DatabaseError}s / {@link ConflictError}s with stable
 *   codes before they leave the adapter.
 * - Batch operations (`insertMany`, `updateMany`) are all-or-nothing: one transaction.
 */
import type { ObservedPool } from '../pool/index.js';
import type { TableDefinition } from '../schema/tables.js';

/** A row as the service sees it: column name → logical value. */
export type Row = Record<string, unknown>;

export type FilterOperator = 'eq' | 'neq' | 'gt' | 'gte' | 'lt' | 'lte' | 'in' | 'contains' | 'is_null';

/**
 * One search condition. `contains` is a case-insensitive literal substring match (no wildcards:
 * `%`, `_`, `*` in the value match themselves). `is_null` takes a boolean value (true: IS NULL).
 * `in` takes an array.
 */
export interface Filter {
  readonly column: string;
  readonly op: FilterOperator;
  readonly value: unknown;
}

export interface SortKey {
  readonly column: string;
  readonly direction: 'asc' | 'desc';
}

export interface SearchQuery {
  /** All conditions must hold (AND). */
  readonly filters: readonly Filter[];
  /** Free text matched (OR) against every `searchable` column, literally and case-insensitively. */
  readonly text?: string;
  /** Sort keys; the primary key is always appended as the final ascending tie-break. */
  readonly sort: readonly SortKey[];
  readonly limit: number;
  readonly offset: number;
}

export interface SearchResult {
  readonly rows: Row[];
  /** Rows matching the filters, ignoring limit/offset. */
  readonly total: number;
}

/** One row's changes in an update-many call. */
export interface RowUpdate {
  readonly id: string;
  readonly changes: Row;
}

/** What the health endpoint shows per dependency. */
export interface AdapterHealth {
  readonly healthy: boolean;
  /** Round-trip of the test query in milliseconds. */
  readonly latencyMs: number;
  readonly error?: string;
  /** Circuit breaker of an adapter that has one (Supabase); SQLite reports none. */
  readonly circuit?: CircuitStatus;
}

/** A circuit breaker's state (Supabase adapter; see src/adapters/supabase/circuit-breaker.ts). */
export interface CircuitStatus {
  readonly state: 'closed' | 'open' | 'half_open';
  /** When it last opened (ISO-8601); null unless open / half-open. */
  readonly openedAt: string | null;
  /** Connection-level failures in a row (reset by any answer from the server). */
  readonly consecutiveFailures: number;
}

export interface DatabaseAdapter {
  /** `sqlite` or `postgresql` (the OTel `db.system.name`). */
  readonly dbSystem: 'sqlite' | 'postgresql';

  /** Opens and warms the pools, applies migrations if the adapter owns them. Idempotent. */
  start(): Promise<void>;
  /** Drains and closes the pools within their grace period. Idempotent. */
  stop(): Promise<void>;

  /** The observed pools of this adapter (for metrics and the JSON API). */
  pools(): readonly ObservedPool<unknown>[];

  getById(table: TableDefinition, id: string): Promise<Row | null>;
  /** Rows for the given ids in no particular order; missing ids are simply absent. Chunked. */
  getManyByIds(table: TableDefinition, ids: readonly string[]): Promise<Row[]>;
  /** Rows whose `column` is one of `values` (used for relations). Chunked, constant per chunk. */
  getManyByColumn(table: TableDefinition, column: string, values: readonly unknown[]): Promise<Row[]>;
  /** Count of rows per value of `column` among `values` (e.g. plot counts per author). */
  countByColumn(table: TableDefinition, column: string, values: readonly unknown[]): Promise<Map<string, number>>;
  /** Inserts one row (id and timestamps filled in if absent) and returns it as stored. */
  insertOne(table: TableDefinition, row: Row): Promise<Row>;
  /** Inserts all rows in one transaction (chunked statements); all or nothing. Returns rows in input order. */
  insertMany(table: TableDefinition, rows: readonly Row[]): Promise<Row[]>;
  /** Updates one row; null when it does not exist. */
  updateOne(table: TableDefinition, id: string, changes: Row): Promise<Row | null>;
  /** Updates every row in one transaction; if any id is missing nothing is written (NotFoundError). */
  updateMany(table: TableDefinition, updates: readonly RowUpdate[]): Promise<Row[]>;
  /** Deletes one row; false when it did not exist. */
  deleteOne(table: TableDefinition, id: string): Promise<boolean>;
  count(table: TableDefinition, filters: readonly Filter[]): Promise<number>;
  search(table: TableDefinition, query: SearchQuery): Promise<SearchResult>;

  /** Runs the adapter's test query through the pool. */
  healthCheck(): Promise<AdapterHealth>;

  /** The circuit breaker guarding `pool`, if the adapter has one (optional; SQLite has none). */
  circuitOf?(pool: string): CircuitStatus | null;
}

/**
 * What an adapter tells the observability layer about one database operation: one statement, or
 * one batch / transaction. `operation` is an upper-case SQL verb (`SELECT`, `INSERT`, `UPDATE`,
 * `DELETE`) or `BATCH <verb>` for a multi-row transaction (OTel `db.operation.name`); `collection`
 * is the table (`db.collection.name`); `queryText` is the parameterised statement (placeholders,
 * never values) or, for PostgREST, the method and path without query values.
 */
export interface OperationInfo {
  readonly operation: string;
  readonly collection: string;
  readonly queryText?: string;
  /** Rows sent in a batch (OTel `db.operation.batch.size`). */
  readonly batchSize?: number;
  /**
   * Set on every statement/request of one chunked call (a look-up split into `of` bounded
   * `IN (…)` lists; `index` is 0-based): the chunks are one logical operation, so the N+1 detector
   * counts the call's shape once (chunk 0) rather than once per chunk. Absent: not chunked.
   */
  readonly chunk?: { readonly index: number; readonly of: number };
}

/**
 * Wraps every database operation an adapter performs. Adapters call `run` once per statement or
 * batch, around the pool acquire, so that metrics, spans, N+1 detection and the tests' query
 * counters all see exactly the operations that were issued.
 */
export interface OperationInstrumentation {
  run<T>(info: OperationInfo, fn: () => Promise<T>): Promise<T>;
}

/** Instrumentation that only runs the operation (used when metrics and tracing are off). */
export const NO_INSTRUMENTATION: OperationInstrumentation = Object.freeze({
  run<T>(_info: OperationInfo, fn: () => Promise<T>): Promise<T> {
    return fn();
  },
});
