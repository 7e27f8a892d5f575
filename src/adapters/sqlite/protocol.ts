/**
 * The messages between a SqliteConnection (main thread) and its worker thread. Kept flat and small:
 * every query pays for a structured clone in each direction, so nothing travels that the other
 * side does not need (no statement objects, no row metadata, errors as plain `{ code, message }`).
 */
import type { MigrationFile } from '../shared/migration-files.js';

/** How a statement's result is read: every row, the first row, or only the change count. */
export type StatementMode = 'all' | 'get' | 'run';

/** One statement run once per parameter list, inside a batch transaction. */
export interface TransactionStep {
  readonly sql: string;
  readonly mode: StatementMode;
  /** One bound-parameter list per execution (e.g. one per inserted row). */
  readonly params: readonly (readonly unknown[])[];
  /**
   * Every execution must touch a row (mode `get`: return one; mode `run`: change one); otherwise
   * the whole transaction is rolled back with code {@link ROW_NOT_FOUND}.
   */
  readonly requireRow?: boolean;
}

/** SQL function every connection registers for case-insensitive matching (Unicode lower case). */
export const FOLD_FUNCTION = 'bw_fold';

/** Code of the error raised when a `requireRow` step touched nothing. */
export const ROW_NOT_FOUND = 'BW_ROW_NOT_FOUND';

/** What a worker opens. */
export interface EngineOptions {
  /** Path of the database file. */
  readonly path: string;
  /** `writer` opens read-write (creating the file); `reader` opens read-only and needs the file. */
  readonly role: 'reader' | 'writer';
  /** How long a statement waits for another connection's lock before SQLITE_BUSY (ms). */
  readonly busyTimeoutMs: number;
  /**
   * `journal_size_limit` (bytes): the WAL file is truncated back to this size once a checkpoint has
   * emptied it; -1 keeps SQLite's default (never truncated). Default {@link DEFAULT_JOURNAL_SIZE_LIMIT_BYTES}.
   */
  readonly journalSizeLimitBytes?: number;
}

/** Default `journal_size_limit` of every connection (64 MiB). */
export const DEFAULT_JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

/** Statement modes on the wire (numbers: the hot path sends tuples of small values). */
export const MODE_CODES = { all: 0, get: 1, run: 2 } as const;
export type ModeCode = (typeof MODE_CODES)[StatementMode];

/**
 * One statement (the hot path), as a tuple: `[id, mode, statement, params, sql?]`. `statement` is
 * a number the connection assigned to this SQL text earlier (so the text crosses the thread
 * boundary once per connection, not once per query) or the SQL text itself; the first request
 * using a number carries the text as its fifth element so that the worker can learn it.
 */
export type StatementRequest =
  | readonly [id: number, mode: ModeCode, statement: number | string, params: readonly unknown[]]
  | readonly [id: number, mode: ModeCode, statement: number, params: readonly unknown[], sql: string];

/** The less frequent requests, as objects. */
export type ControlRequest =
  | { readonly id: number; readonly op: 'tx'; readonly steps: readonly TransactionStep[] }
  | {
      readonly id: number;
      readonly op: 'migrate';
      readonly files: readonly MigrationFile[];
      readonly where: string;
    }
  | {
      readonly id: number;
      readonly op: 'prepare';
      /** `[number, sql]` pairs: statements to prepare now and to know by number from now on. */
      readonly statements: readonly (readonly [number, string])[];
    }
  | { readonly id: number; readonly op: 'ping' }
  | { readonly id: number; readonly op: 'close' };

export type WorkerRequest = StatementRequest | ControlRequest;

/**
 * Rows of an `all` statement as `[columns, values-per-row]`: the column names once instead of
 * once per row, which is what structured clone would send for an array of objects.
 */
export type CompactRows = readonly [columns: readonly string[], rows: readonly (readonly unknown[])[]];

/** Rebuilds row objects from {@link CompactRows}. */
export function expandRows(compact: CompactRows): Record<string, unknown>[] {
  const [columns, rows] = compact;
  const out: Record<string, unknown>[] = new Array<Record<string, unknown>>(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const values = rows[r]!;
    const row: Record<string, unknown> = {};
    for (let c = 0; c < columns.length; c++) row[columns[c]!] = values[c];
    out[r] = row;
  }
  return out;
}

/** An error as it crosses the thread boundary. */
export interface SerializedError {
  /** The driver's code (`SQLITE_BUSY`…), {@link ROW_NOT_FOUND}, or the error's name. */
  readonly code: string;
  readonly message: string;
  /** The error class name (`SqliteError`, `MigrationError`, `TypeError`…). */
  readonly name: string;
  /** Position of the failing execution in a batch (0-based, over all steps). */
  readonly rowIndex?: number;
}

/** `[id, 1, result]` on success (an `all` result as {@link CompactRows}), `[id, 0, error]` on failure. */
export type WorkerResponse =
  readonly [id: number, ok: 1, result: unknown] | readonly [id: number, ok: 0, error: SerializedError];

/** The first message of a worker: opened, or failed to open (then it exits). */
export type WorkerHello =
  { readonly ready: true } | { readonly ready: false; readonly error: SerializedError };

/** Flattens any thrown value to a {@link SerializedError}. */
export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) {
    const e = err as Error & { code?: unknown; rowIndex?: unknown };
    const out: { code: string; message: string; name: string; rowIndex?: number } = {
      code: typeof e.code === 'string' ? e.code : err.name,
      message: err.message,
      name: err.name,
    };
    if (typeof e.rowIndex === 'number') out.rowIndex = e.rowIndex;
    return out;
  }
  return { code: 'UNKNOWN', message: String(err), name: 'Error' };
}

/**
 * An error rebuilt on the main thread from a {@link SerializedError}: same code, name and
 * message as in the worker, so the error mapping treats both modes alike.
 */
export class SqliteWorkerError extends Error {
  readonly code: string;
  readonly rowIndex: number | undefined;
  constructor(serialized: SerializedError) {
    super(serialized.message);
    this.name = serialized.name;
    this.code = serialized.code;
    this.rowIndex = serialized.rowIndex;
  }
}
