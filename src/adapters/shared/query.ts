/**
 * Validation of search input against the TableDefinition, shared by every backend: each filter,
 * sort key and the free-text search is checked here (allow-listed column, allowed operator, value
 * normalised), so an adapter only has to render what it gets back. Nothing user-supplied reaches a
 * query unless it passed through here (identifiers) or is bound as a value.
 */
import { ValidationError } from '../../errors/index.js';
import type { TableDefinition } from '../../schema/tables.js';
import type { Filter, FilterOperator, SearchQuery, SortKey } from '../contract.js';
import { columnDefinition, normalizeValue } from './values.js';

/** Most values one `in` filter may list (a single statement cannot be chunked). */
export const MAX_IN_FILTER_VALUES = 1000;

const OPERATORS: ReadonlySet<FilterOperator> = new Set([
  'eq',
  'neq',
  'gt',
  'gte',
  'lt',
  'lte',
  'in',
  'contains',
  'is_null',
]);

export type ComparisonOperator = 'eq' | 'neq' | 'gt' | 'gte' | 'lt' | 'lte';

/** A filter that passed validation; values are normalised logical values (not yet encoded). */
export type ValidatedFilter =
  | { readonly column: string; readonly op: ComparisonOperator; readonly value: unknown }
  | { readonly column: string; readonly op: 'in'; readonly values: readonly unknown[] }
  | { readonly column: string; readonly op: 'contains'; readonly text: string }
  | { readonly column: string; readonly op: 'is_null'; readonly isNull: boolean };

export interface ValidatedSearch {
  readonly filters: readonly ValidatedFilter[];
  /** The free text, or null when absent or blank. */
  readonly text: string | null;
  /** Columns the free text is matched against (the table's `searchable` columns). */
  readonly textColumns: readonly string[];
  /** Sort keys, the table's default sort when the query names none; the id tie-break is NOT included. */
  readonly sort: readonly SortKey[];
  readonly limit: number;
  readonly offset: number;
}

/** Checks one filter: column filterable, operator known and fitting the column type, value normalised. */
export function validateFilter(table: TableDefinition, filter: Filter): ValidatedFilter {
  if (filter === null || typeof filter !== 'object') throw new ValidationError('A filter must be an object.');
  const { column, op, value } = filter;
  if (typeof column !== 'string') throw new ValidationError('A filter needs a column name.');
  const def = columnDefinition(table, column);
  if (!def.filterable) {
    throw new ValidationError(`${table.name}.${column} cannot be filtered on.`, {
      column,
      filterable: filterableColumns(table),
    });
  }
  if (!OPERATORS.has(op)) {
    throw new ValidationError(`Unknown filter operator ${JSON.stringify(String(op)).slice(0, 40)}.`, {
      column,
      allowed: [...OPERATORS],
    });
  }
  switch (op) {
    case 'eq':
    case 'neq':
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      if (value === null || value === undefined) {
        throw new ValidationError(`Filter ${column} ${op} needs a value (use is_null for null).`, { column });
      }
      return { column, op, value: normalizeValue(table, column, value) };
    case 'in': {
      if (!Array.isArray(value))
        throw new ValidationError(`Filter ${column} in needs an array of values.`, { column });
      if (value.length > MAX_IN_FILTER_VALUES) {
        throw new ValidationError(`Filter ${column} in lists more than ${MAX_IN_FILTER_VALUES} values.`, {
          column,
        });
      }
      const values = value.map((v: unknown) => {
        if (v === null || v === undefined)
          throw new ValidationError(`Filter ${column} in cannot list null.`, { column });
        return normalizeValue(table, column, v);
      });
      return { column, op, values };
    }
    case 'contains':
      if (def.type !== 'text') {
        throw new ValidationError(`Filter contains applies to text columns only; ${column} is ${def.type}.`, {
          column,
        });
      }
      if (typeof value !== 'string')
        throw new ValidationError(`Filter ${column} contains needs a string.`, { column });
      return { column, op, text: value };
    case 'is_null':
      if (typeof value !== 'boolean') {
        throw new ValidationError(`Filter ${column} is_null needs true or false.`, { column });
      }
      return { column, op, isNull: value };
  }
}

/** Validates every filter (see {@link validateFilter}). */
export function validateFilters(table: TableDefinition, filters: readonly Filter[]): ValidatedFilter[] {
  if (!Array.isArray(filters)) throw new ValidationError('filters must be an array.');
  return filters.map((f) => validateFilter(table, f));
}

/** Sort keys checked against the table's `sortable` columns; the default sort when empty. */
export function validateSort(table: TableDefinition, sort: readonly SortKey[] | undefined): SortKey[] {
  if (sort !== undefined && !Array.isArray(sort)) throw new ValidationError('sort must be an array.');
  if (sort === undefined || sort.length === 0) return [{ column: table.defaultSort, direction: 'asc' }];
  return sort.map((key) => {
    const def = columnDefinition(table, key.column);
    if (!def.sortable) {
      throw new ValidationError(`${table.name}.${key.column} cannot be sorted on.`, {
        column: key.column,
        sortable: sortableColumns(table),
      });
    }
    if (key.direction !== 'asc' && key.direction !== 'desc') {
      throw new ValidationError(`Sort direction must be asc or desc.`, { column: key.column });
    }
    return { column: key.column, direction: key.direction };
  });
}

function nonNegativeInteger(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new ValidationError(`${name} must be a whole number of at least 0.`, { [name]: value });
  }
  return value;
}

/** Validates a whole search query. */
export function validateSearch(table: TableDefinition, query: SearchQuery): ValidatedSearch {
  if (query === null || typeof query !== 'object')
    throw new ValidationError('A search query must be an object.');
  const text = typeof query.text === 'string' && query.text.trim() !== '' ? query.text : null;
  if (query.text !== undefined && query.text !== null && typeof query.text !== 'string') {
    throw new ValidationError('The search text must be a string.');
  }
  return {
    filters: validateFilters(table, query.filters ?? []),
    text,
    textColumns: searchableColumns(table),
    sort: validateSort(table, query.sort),
    limit: nonNegativeInteger(query.limit, 'limit'),
    offset: nonNegativeInteger(query.offset, 'offset'),
  };
}

/** Columns allowed in filters. */
export function filterableColumns(table: TableDefinition): string[] {
  return Object.keys(table.columns).filter((c) => table.columns[c]?.filterable === true);
}

/** Columns allowed in sort keys. */
export function sortableColumns(table: TableDefinition): string[] {
  return Object.keys(table.columns).filter((c) => table.columns[c]?.sortable === true);
}

/** Columns matched by the free-text search. */
export function searchableColumns(table: TableDefinition): string[] {
  return Object.keys(table.columns).filter((c) => table.columns[c]?.searchable === true);
}

/**
 * Checks a column used for relation look-ups (getManyByColumn / countByColumn): it must exist and
 * hold scalar values (a JSON column cannot be matched with `IN`).
 */
export function validateLookupColumn(table: TableDefinition, column: string): void {
  const def = columnDefinition(table, column);
  if (def.type === 'json')
    throw new ValidationError(`${table.name}.${column} is a JSON column and cannot be looked up by value.`);
}
