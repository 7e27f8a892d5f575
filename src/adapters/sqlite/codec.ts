/**
 * SQLite's storage form of logical values: booleans as 0/1, JSON as text; UUIDs, text, integers
 * and (canonical ISO) timestamps as they are. Values arrive here already normalised by
 * shared/values.ts.
 */
import type { ColumnDefinition, TableDefinition } from '../../schema/tables.js';
import type { Row } from '../contract.js';
import { columnDefinition, jsonText } from '../shared/values.js';
import type { RawRow } from './connection.js';

/** Encodes one normalised value of `column` for binding. */
export function encodeValue(table: TableDefinition, column: string, value: unknown): unknown {
  if (value === null) return null;
  const def: ColumnDefinition = columnDefinition(table, column);
  if (def.type === 'boolean') return value === true ? 1 : 0;
  if (def.type === 'json') return jsonText(table, column, value);
  return value;
}

/** Encodes every value of a prepared row, in the row's key order. */
export function encodeRow(table: TableDefinition, row: Row): unknown[] {
  return Object.keys(row).map((column) => encodeValue(table, column, row[column]));
}

interface DecodePlan {
  readonly json: readonly string[];
  readonly boolean: readonly string[];
}

// Decoding touches only the columns that need it; the plan is computed once per table.
const plans = new WeakMap<TableDefinition, DecodePlan>();

function planFor(table: TableDefinition): DecodePlan {
  let plan = plans.get(table);
  if (plan === undefined) {
    const columns = Object.entries(table.columns);
    plan = {
      json: columns.filter(([, d]) => d.type === 'json').map(([c]) => c),
      boolean: columns.filter(([, d]) => d.type === 'boolean').map(([c]) => c),
    };
    plans.set(table, plan);
  }
  return plan;
}

/** Converts a stored row to its logical shape, in place (the row is fresh from the driver). */
export function decodeRow(table: TableDefinition, row: RawRow): Row {
  const plan = planFor(table);
  for (const column of plan.json) {
    const text = row[column];
    if (typeof text === 'string') row[column] = JSON.parse(text);
  }
  for (const column of plan.boolean) {
    const value = row[column];
    if (value !== null && value !== undefined) row[column] = value === 1 || value === 1n || value === true;
  }
  return row;
}

/** Decodes one stored value of `column` (used for countByColumn keys). */
export function decodeValue(table: TableDefinition, column: string, value: unknown): unknown {
  const def = columnDefinition(table, column);
  if (value === null || value === undefined) return null;
  if (def.type === 'boolean') return value === 1 || value === 1n || value === true;
  if (def.type === 'json' && typeof value === 'string') return JSON.parse(value);
  return value;
}
