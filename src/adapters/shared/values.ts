/**
 * Backend-independent value handling by column type. Both adapters first *normalise* a value to
 * its canonical logical form (lower-case UUID, ISO-8601 UTC timestamp with milliseconds, safe
 * integer…) and reject what does not fit with a ValidationError; only then does each backend encode
 * it for its wire format (SQLite: booleans as 0/1, JSON as text; PostgREST: JSON as is).
 *
 * Canonical timestamps matter beyond looks: SQLite stores them as text, so only one fixed format
 * makes text order equal time order for sorts and range filters.
 */
import { ValidationError } from '../../errors/index.js';
import type { ColumnDefinition, TableDefinition } from '../../schema/tables.js';

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/**
 * ISO-8601 dates and date-times. A time part must carry a zone (`Z` or an offset): JavaScript
 * would read a zone-less date-time as *local* time, so the same request would mean different
 * instants on differently configured hosts. A space instead of `T` and a `+HH` offset are what
 * PostgreSQL prints, so they are accepted too.
 */
const TIMESTAMP_PATTERN =
  /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?))?$/i;

/** True for a syntactically valid UUID (any version, any case). */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && value.length === 36 && UUID_PATTERN.test(value);
}

/** Number of characters (code points), as PostgreSQL's char_length and SQLite's length() count. */
function characterLength(text: string, limit: number): number {
  // UTF-16 units are never fewer than code points, so a string within the limit in units is within
  // it in characters: the common case costs nothing.
  if (text.length <= limit) return text.length;
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/**
 * Converts a timestamp (ISO string or Date) to `YYYY-MM-DDTHH:MM:SS.mmmZ`, or throws
 * ValidationError. Sub-millisecond digits (PostgreSQL keeps microseconds) are truncated.
 */
export function normalizeTimestamp(value: unknown, label = 'timestamp'): string {
  let date: Date | null = null;
  if (value instanceof Date) date = value;
  else if (typeof value === 'string' && TIMESTAMP_PATTERN.test(value)) {
    // `+HH` alone is not understood by every Date parser; spell out the minutes (only after a
    // time part: a bare date also ends in `-DD`).
    date = new Date(value.includes(':') ? value.replace(/([+-]\d{2})$/, '$1:00') : value);
  }
  if (date === null || Number.isNaN(date.getTime())) {
    throw new ValidationError(
      `${label} must be an ISO-8601 timestamp with a time zone (e.g. 2026-11-28T12:00:00Z).`,
      {
        column: label,
      },
    );
  }
  return date.toISOString();
}

/**
 * Checks and canonicalises one value for `column` of `table`. `null` is returned as is for
 * nullable columns and rejected for the others. JSON values are returned unchanged (they are
 * validated when serialised, see {@link jsonText}).
 */
export function normalizeValue(table: TableDefinition, column: string, value: unknown): unknown {
  const def = columnDefinition(table, column);
  const label = `${table.name}.${column}`;
  if (value === null) {
    if (!def.nullable) throw new ValidationError(`${label} cannot be null.`, { column });
    return null;
  }
  return normalizeNonNull(def, label, column, value);
}

function normalizeNonNull(def: ColumnDefinition, label: string, column: string, value: unknown): unknown {
  switch (def.type) {
    case 'uuid':
      if (!isUuid(value)) throw new ValidationError(`${label} must be a UUID.`, { column });
      return value.toLowerCase();
    case 'text': {
      if (typeof value !== 'string') throw new ValidationError(`${label} must be a string.`, { column });
      if (def.maxLength !== undefined && characterLength(value, def.maxLength) > def.maxLength) {
        throw new ValidationError(`${label} is longer than ${def.maxLength} characters.`, {
          column,
          maxLength: def.maxLength,
        });
      }
      return value;
    }
    case 'integer':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
        throw new ValidationError(`${label} must be a whole number.`, { column });
      }
      return value;
    case 'boolean':
      if (typeof value !== 'boolean')
        throw new ValidationError(`${label} must be true or false.`, { column });
      return value;
    case 'timestamp':
      return normalizeTimestamp(value, label);
    case 'json':
      if (
        value === undefined ||
        typeof value === 'function' ||
        typeof value === 'symbol' ||
        typeof value === 'bigint'
      ) {
        throw new ValidationError(`${label} must be a JSON value.`, { column });
      }
      return value;
  }
}

/**
 * Serialises a JSON column's value, or throws ValidationError (cyclic structures, BigInt).
 * `undefined` inside objects is dropped, as JSON does.
 */
export function jsonText(table: TableDefinition, column: string, value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new ValidationError(`${table.name}.${column} is not serialisable as JSON.`, {
      column,
      reason: String(err),
    });
  }
  if (text === undefined)
    throw new ValidationError(`${table.name}.${column} must be a JSON value.`, { column });
  return text;
}

/** The definition of `column`, or ValidationError naming the allowed columns. */
export function columnDefinition(table: TableDefinition, column: string): ColumnDefinition {
  // Own-property check: `constructor`, `__proto__` etc. must not pass as column names.
  const def = Object.prototype.hasOwnProperty.call(table.columns, column) ? table.columns[column] : undefined;
  if (def === undefined) {
    // User input echoed back: cut it short so that a megabyte of "column name" stays out of logs.
    const shown = column.length > 64 ? `${column.slice(0, 64)}…` : column;
    throw new ValidationError(`Unknown column ${JSON.stringify(shown)} on ${table.name}.`, {
      table: table.name,
      column: shown,
      allowed: Object.keys(table.columns),
    });
  }
  return def;
}
