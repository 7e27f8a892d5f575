/**
 * The one place where SQLite errors become typed AppErrors with stable codes. Works on the
 * driver's error (inline mode) and on its copy rebuilt from a worker (same `code` and `message`),
 * so both modes report alike. The driver error is kept as `cause` for logs; messages say what a
 * person can do about it.
 */
import {
  AppError,
  ConflictError,
  DatabaseError,
  NotFoundError,
  ValidationError,
} from '../../errors/index.js';
import type { TableDefinition } from '../../schema/tables.js';
import { MigrationError } from '../shared/migration-files.js';
import { ROW_NOT_FOUND } from './protocol.js';

/** What was being done when the error happened; only used to word the message. */
export interface SqliteErrorContext {
  /** The table operated on. */
  readonly table?: TableDefinition;
  /** Upper-case SQL verb or `BATCH <verb>`. */
  readonly operation?: string;
  /** The database file. */
  readonly path?: string;
}

function codeOf(err: unknown): string | null {
  if (err === null || typeof err !== 'object') return null;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : null;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function rowIndexOf(err: unknown): number | undefined {
  const index =
    err !== null && typeof err === 'object' ? (err as { rowIndex?: unknown }).rowIndex : undefined;
  return typeof index === 'number' ? index : undefined;
}

/** `UNIQUE constraint failed: users.email, users.x` → ['email', 'x']. */
function constrainedColumns(message: string): string[] {
  const colon = message.indexOf(':');
  if (colon < 0) return [];
  return message
    .slice(colon + 1)
    .split(',')
    .map((part) => part.trim().split('.').pop() ?? '')
    .filter((c) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(c));
}

function tableLabel(context: SqliteErrorContext): string {
  return context.table?.name ?? 'database';
}

function fileLabel(context: SqliteErrorContext): string {
  return context.path === undefined ? 'the database file' : `the database file ${context.path}`;
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function withRow(details: Record<string, unknown>, err: unknown): Record<string, unknown> {
  const row = rowIndexOf(err);
  return row === undefined ? details : { ...details, row };
}

/** ValidationError takes no options; the driver error is still worth keeping for the log. */
function validationError(message: string, details: Record<string, unknown>, cause: unknown): ValidationError {
  const error = new ValidationError(message, details);
  error.cause = cause;
  return error;
}

function foreignKeyError(err: unknown, context: SqliteErrorContext): ConflictError {
  const table = context.table;
  const fkColumns = table
    ? Object.values(table.relations)
        .filter((r) => r.kind === 'belongsTo')
        .map((r) => r.column)
    : [];
  const message =
    context.operation === 'DELETE'
      ? `The ${tableLabel(context)} row is still referenced by other rows and cannot be deleted.`
      : `The ${tableLabel(context)} row refers to a row that does not exist` +
        (fkColumns.length > 0 ? ` (check ${fkColumns.join(', ')}).` : '.');
  return new ConflictError(message, {
    cause: err,
    details: withRow({ constraint: 'foreign_key', table: table?.name, columns: fkColumns }, err),
  });
}

/**
 * better-sqlite3 checks the file's directory itself before SQLite runs and throws a plain TypeError
 * (no SQLITE_* code). At start-up the adapter checks the directory first; this is the same fault
 * later on, e.g. a new connection after the directory was removed or unmounted.
 */
function isMissingDirectory(err: unknown, message: string): boolean {
  return (
    err instanceof Error &&
    err.name === 'TypeError' &&
    message.startsWith('Cannot open database because the directory does not exist')
  );
}

/**
 * Converts anything thrown by a SQLite connection to an AppError. AppErrors (pool errors, worker
 * exits, validation) pass through unchanged.
 */
export function mapSqliteError(err: unknown, context: SqliteErrorContext = {}): AppError {
  if (err instanceof AppError) return err;
  const message = messageOf(err);
  if (err instanceof Error && err.name === 'MigrationError') return new MigrationError(message, err);
  const code = codeOf(err) ?? '';
  const table = context.table?.name;

  if (code === ROW_NOT_FOUND) {
    const notFound = new NotFoundError(
      `No ${tableLabel(context)} row with that id exists.`,
      withRow({ table }, err),
    );
    notFound.cause = err;
    return notFound;
  }
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    const columns = constrainedColumns(message);
    const what = columns.length > 0 ? ` with the same ${columns.join(', ')}` : ' with the same key';
    return new ConflictError(`A ${tableLabel(context)} row${what} already exists.`, {
      cause: err,
      details: withRow({ constraint: 'unique', table, columns }, err),
    });
  }
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return foreignKeyError(err, context);
  if (code === 'SQLITE_CONSTRAINT_NOTNULL') {
    const [column] = constrainedColumns(message);
    const label = column === undefined ? 'A required column' : `${table ?? 'the row'}.${column}`;
    return validationError(`${label} is required and cannot be null.`, withRow({ table, column }, err), err);
  }
  if (code.startsWith('SQLITE_CONSTRAINT')) {
    // CHECK (lengths, formats, ranges) and DATATYPE (STRICT tables): the value is malformed.
    const detail = message.replace(/^CHECK constraint failed: /, 'check failed: ');
    return validationError(
      `A value for the ${tableLabel(context)} row is not allowed (${detail}).`,
      withRow({ table }, err),
      err,
    );
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new DatabaseError(
      'DB_BUSY',
      `${capitalized(fileLabel(context))} stayed locked by another connection or process past the busy timeout; retry shortly.`,
      { cause: err, retryAfterSeconds: 1 },
    );
  }
  if (code.startsWith('SQLITE_READONLY')) {
    return new DatabaseError(
      'DB_READ_ONLY',
      `${capitalized(fileLabel(context))} refuses writes: check that the file and its directory are writable by the service ` +
        'and that the disk is not mounted read-only.',
      { cause: err },
    );
  }
  if (code.startsWith('SQLITE_FULL')) {
    return new DatabaseError(
      'DB_FULL',
      `The disk holding ${fileLabel(context)} is full; free space and retry.`,
      {
        cause: err,
      },
    );
  }
  if (code.startsWith('SQLITE_CORRUPT') || code.startsWith('SQLITE_NOTADB')) {
    return new DatabaseError(
      'DB_CORRUPT',
      `${capitalized(fileLabel(context))} is damaged or is not an SQLite database; restore it from a backup.`,
      { cause: err },
    );
  }
  if (code.startsWith('SQLITE_CANTOPEN') || isMissingDirectory(err, message)) {
    return new DatabaseError(
      'DB_CANNOT_OPEN',
      `Cannot open ${fileLabel(context)}: check that its directory exists and that the service may read and write it.`,
      { cause: err },
    );
  }
  const during =
    context.operation === undefined ? '' : ` during ${context.operation}${table ? ` on ${table}` : ''}`;
  return new DatabaseError('INTERNAL', `Unexpected SQLite error${during} (${code || 'no code'}).`, {
    cause: err,
  });
}
