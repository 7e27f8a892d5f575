/**
 * PostgREST's wire form of logical values. Bodies are JSON, so a prepared row (shared/rows.ts) is
 * sent as is; rows come back as PostgreSQL renders them into JSON (timestamptz as
 * `2024-02-29T21:30:00.123456+00:00`, jsonb as JSON, booleans and integers as JSON scalars) and
 * are normalised here to the contract's shape: exactly the table's columns, timestamps as
 * ISO-8601 UTC with milliseconds.
 */
import { DatabaseError } from '../../errors/index.js';
import type { ColumnDefinition, TableDefinition } from '../../schema/tables.js';
import type { Row } from '../contract.js';
import { columnDefinition, jsonText, normalizeTimestamp } from '../shared/values.js';
import { compactUuid } from './encoding.js';

function badRow(table: TableDefinition, why: string): DatabaseError {
  return new DatabaseError('DB_BAD_GATEWAY', `The Supabase API returned a ${table.name} row that ${why}.`, {
    details: { table: table.name },
  });
}

function decodeValue(table: TableDefinition, column: string, def: ColumnDefinition, value: unknown): unknown {
  if (value === null) return null;
  switch (def.type) {
    case 'timestamp':
      try {
        return normalizeTimestamp(value, `${table.name}.${column}`);
      } catch {
        throw badRow(table, `has an unreadable ${column} timestamp`);
      }
    case 'uuid':
      return typeof value === 'string' ? value.toLowerCase() : value;
    default:
      return value;
  }
}

/** A row from PostgREST in its logical shape: the table's columns, in table order. */
export function decodeRow(table: TableDefinition, raw: unknown): Row {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw badRow(table, 'is not an object');
  const source = raw as Record<string, unknown>;
  const row: Row = {};
  for (const [column, def] of Object.entries(table.columns)) {
    if (!(column in source)) throw badRow(table, `lacks the column ${column}`);
    row[column] = decodeValue(table, column, def, source[column]);
  }
  return row;
}

/** Rows of a read or a `return=representation` write. */
export function decodeRows(table: TableDefinition, data: unknown): Row[] {
  if (!Array.isArray(data)) throw badRow(table, 'list is not an array');
  return data.map((raw) => decodeRow(table, raw));
}

/** The `select=` list: the table's columns, so extra columns in the database are never fetched. */
export function selectList(table: TableDefinition): string {
  return Object.keys(table.columns).join(',');
}

/**
 * Checks that every JSON value of a prepared row serialises (cycles and BigInt fail here with a
 * ValidationError, as in SQLite, instead of inside postgrest-js).
 */
export function assertSerialisable(table: TableDefinition, row: Row): void {
  for (const column of Object.keys(row)) {
    if (table.columns[column]?.type === 'json') jsonText(table, column, row[column]);
  }
}

/** A normalised, non-null value as PostgREST filter text (`eq.`, `gt.`…). */
export function filterText(table: TableDefinition, column: string, value: unknown): string {
  const def = columnDefinition(table, column);
  switch (def.type) {
    case 'boolean':
      return value === true ? 'true' : 'false';
    case 'integer':
      return String(value);
    default:
      return String(value);
  }
}

/** A normalised value as an `in.(…)` element (UUIDs without hyphens, to keep long lists short). */
export function listText(table: TableDefinition, column: string, value: unknown): string {
  const def = columnDefinition(table, column);
  return def.type === 'uuid' ? compactUuid(String(value)) : filterText(table, column, value);
}
