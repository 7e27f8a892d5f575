/**
 * Preparing rows for insert and update from the TableDefinition, the same for every backend:
 * unknown columns rejected, values normalised (see values.ts), the service-generated columns
 * (`id`, `created_at`, `updated_at`) filled in. The result keeps the table's column order, so rows
 * with the same set of columns produce the same statement text (and reuse one prepared statement).
 */
import { randomUUID } from 'node:crypto';

import { ValidationError } from '../../errors/index.js';
import type { TableDefinition } from '../../schema/tables.js';
import type { Row } from '../contract.js';
import { normalizeValue } from './values.js';

function assertPlainObject(value: unknown, what: string): asserts value is Row {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError(`${what} must be an object of column values.`);
  }
}

/** Own enumerable keys whose value is not `undefined` (undefined means "not given", as in JSON). */
function givenKeys(row: Row): string[] {
  return Object.keys(row).filter((k) => row[k] !== undefined);
}

/** The table's column order restricted to `present`, so equal column sets give equal SQL. */
function inTableOrder(table: TableDefinition, values: Map<string, unknown>): Row {
  const out: Row = {};
  for (const column of Object.keys(table.columns)) {
    if (values.has(column)) out[column] = values.get(column);
  }
  return out;
}

export interface PrepareOptions {
  /** The time written to created_at / updated_at when absent (ISO-8601); one value per batch. */
  readonly now: string;
  /** Generates ids for rows without one (default crypto.randomUUID). */
  readonly newId?: () => string;
}

/**
 * Validates and normalises a row to insert; fills `id`, `created_at` and `updated_at` when absent.
 * Columns the caller omits are left out, so the database's defaults (JSON `{}`, status…) and NOT
 * NULL checks apply.
 */
export function prepareInsertRow(table: TableDefinition, row: unknown, options: PrepareOptions): Row {
  assertPlainObject(row, `A ${table.name} row`);
  const values = new Map<string, unknown>();
  for (const column of givenKeys(row)) values.set(column, normalizeValue(table, column, row[column]));
  if (!values.has(table.primaryKey)) {
    values.set(table.primaryKey, (options.newId ?? randomUUID)());
  }
  for (const column of ['created_at', 'updated_at']) {
    if (column in table.columns && !values.has(column)) values.set(column, options.now);
  }
  return inTableOrder(table, values);
}

/**
 * Validates and normalises the changes of an update. The primary key cannot change; `updated_at`
 * is set to `now` unless the caller gives it.
 */
export function prepareUpdateChanges(table: TableDefinition, changes: unknown, options: PrepareOptions): Row {
  assertPlainObject(changes, `The changes to a ${table.name} row`);
  const values = new Map<string, unknown>();
  for (const column of givenKeys(changes)) {
    if (column === table.primaryKey) {
      throw new ValidationError(`${table.name}.${table.primaryKey} cannot be changed.`, { column });
    }
    values.set(column, normalizeValue(table, column, changes[column]));
  }
  if ('updated_at' in table.columns && !values.has('updated_at')) values.set('updated_at', options.now);
  return inTableOrder(table, values);
}

/** A primary-key value from a caller, normalised (lower-case UUID), or ValidationError. */
export function normalizeId(table: TableDefinition, id: unknown): string {
  if (id === null || id === undefined) throw new ValidationError(`A ${table.name} id is required.`);
  return normalizeValue(table, table.primaryKey, id) as string;
}

/** The same key (its column list, in table order) for rows with the same columns; used to group batch rows. */
export function columnSetKey(row: Row): string {
  return Object.keys(row).join(',');
}
