/**
 * Search query strings → SearchParams, validated against the table's allow-lists.
 *
 *   GET /api/plots?genre=eq.fantasy&word_count=gte.1000&q=dragon&sort=-created_at,title
 *                 &limit=50&offset=100&include=author
 *
 * Reserved parameters: `limit`, `offset`, `sort`, `q`, `include`. Every other parameter is a
 * filter `column=operator.value` on a filterable column (repeat a column for ranges). Values are
 * typed by the column (UUID, integer, boolean, timestamp, text) before they reach the adapter.
 */
import { z } from 'zod';
import type { Filter, FilterOperator, SortKey } from '../../adapters/contract.js';
import { ValidationError } from '../../errors/index.js';
import type { ColumnDefinition, TableDefinition } from '../../schema/tables.js';
import type { SearchParams } from '../../repositories/index.js';
import { UUID_PATTERN } from './schemas.js';

const RESERVED = ['limit', 'offset', 'sort', 'q', 'include', 'ids'] as const;
const OPERATORS: readonly FilterOperator[] = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'contains', 'is_null'];
const MAX_OFFSET = 1_000_000;
const MAX_TEXT = 200;
const MAX_IN_VALUES = 500;
const INT32 = { min: -2_147_483_648, max: 2_147_483_647 };
/** A date (UTC midnight) or a date-time with a zone; calendar-checked (no 2024-02-30). */
const TIMESTAMP = z.union([z.iso.date(), z.iso.datetime({ offset: true })]);

/** User input echoed in a message: at most 64 characters, JSON-quoted. */
function shown(raw: string): string {
  return JSON.stringify(raw.length > 64 ? `${raw.slice(0, 64)}…` : raw);
}

/**
 * Query values must be Unicode text without U+0000: PostgreSQL cannot compare against U+0000, and
 * an unpaired surrogate (from `%ED%A0%80`-style input) is not text. Same rule as request bodies.
 */
function assertCleanText(name: string, raw: string): void {
  if (raw.includes('\u0000') || !raw.isWellFormed()) {
    throw new ValidationError(`Query parameter "${name.slice(0, 64)}" contains U+0000 or an unpaired surrogate.`, {
      field: name.slice(0, 64),
    });
  }
}

export interface QueryLimits {
  readonly maxPageSize: number;
  readonly defaultPageSize: number;
}

type QueryValue = string | string[] | undefined;

function single(name: string, value: QueryValue): string | undefined {
  if (Array.isArray(value)) throw new ValidationError(`Query parameter "${name}" was given more than once.`, { field: name });
  return value;
}

function integerParam(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) {
    throw new ValidationError(`"${name}" must be a whole number between ${min} and ${max}.`, { field: name });
  }
  const value = Number(raw);
  if (value < min || value > max) {
    throw new ValidationError(`"${name}" must be between ${min} and ${max} (got ${shown(raw)}).`, {
      field: name,
      min,
      max,
    });
  }
  return value;
}

/** A comma-separated list, trimmed, empty entries dropped. */
export function listParam(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Converts one filter value to the column's type, or throws naming the column. */
function typedValue(table: TableDefinition, columnName: string, column: ColumnDefinition, raw: string): unknown {
  const fail = (expected: string): never => {
    throw new ValidationError(`Filter on "${columnName}" needs ${expected} (got ${JSON.stringify(raw.slice(0, 100))}).`, {
      field: columnName,
    });
  };
  switch (column.type) {
    case 'uuid':
      return UUID_PATTERN.test(raw) ? raw.toLowerCase() : fail('a UUID');
    case 'integer': {
      const value = /^-?\d{1,10}$/.test(raw) ? Number(raw) : NaN;
      return value >= INT32.min && value <= INT32.max ? value : fail(`a whole number from ${INT32.min} to ${INT32.max}`);
    }
    case 'boolean':
      return raw === 'true' ? true : raw === 'false' ? false : fail('true or false');
    case 'timestamp': {
      // Date.parse alone would take 2024-02-30 as 1 March and a zone-less time as local time.
      if (!TIMESTAMP.safeParse(raw).success) fail('an ISO-8601 date, or date-time with Z or an offset');
      const time = Date.parse(raw);
      return Number.isNaN(time) ? fail('an ISO-8601 date, or date-time with Z or an offset') : new Date(time).toISOString();
    }
    case 'text':
      return raw.length <= (column.maxLength ?? 10_000) ? raw : fail(`at most ${column.maxLength} characters`);
    case 'json':
      return fail(`a filterable column (${table.name}.${columnName} is JSON)`);
  }
}

function parseFilter(table: TableDefinition, columnName: string, expression: string): Filter {
  const column = table.columns[columnName];
  const dot = expression.indexOf('.');
  const op = (dot === -1 ? '' : expression.slice(0, dot)) as FilterOperator;
  if (!OPERATORS.includes(op)) {
    throw new ValidationError(
      `Filter "${columnName}=${expression.slice(0, 50)}" must look like ${columnName}=<operator>.<value>; operators: ${OPERATORS.join(', ')}.`,
      { field: columnName, allowed_operators: OPERATORS },
    );
  }
  const raw = expression.slice(dot + 1);
  if (!column) throw new Error('unreachable: column checked by caller');
  switch (op) {
    case 'is_null':
      if (raw !== 'true' && raw !== 'false') {
        throw new ValidationError(`"${columnName}=is_null.<value>" takes true or false.`, { field: columnName });
      }
      return { column: columnName, op, value: raw === 'true' };
    case 'in': {
      const values = listParam(raw);
      if (values.length === 0 || values.length > MAX_IN_VALUES) {
        throw new ValidationError(`"${columnName}=in." takes 1 to ${MAX_IN_VALUES} comma-separated values.`, {
          field: columnName,
        });
      }
      return { column: columnName, op, value: values.map((v) => typedValue(table, columnName, column, v)) };
    }
    case 'contains':
      if (column.type !== 'text') {
        throw new ValidationError(`"contains" works on text columns only; ${columnName} is ${column.type}.`, {
          field: columnName,
        });
      }
      if (raw.length === 0 || raw.length > MAX_TEXT) {
        throw new ValidationError(`"${columnName}=contains." takes 1 to ${MAX_TEXT} characters.`, { field: columnName });
      }
      return { column: columnName, op, value: raw };
    default:
      return { column: columnName, op, value: typedValue(table, columnName, column, raw) };
  }
}

function parseSort(table: TableDefinition, raw: string | undefined): SortKey[] {
  const sortable = Object.entries(table.columns)
    .filter(([, c]) => c.sortable)
    .map(([name]) => name);
  const keys = listParam(raw).map((token): SortKey => {
    const direction = token.startsWith('-') ? 'desc' : 'asc';
    const column = token.replace(/^[-+]/, '');
    if (!sortable.includes(column)) {
      throw new ValidationError(`Cannot sort ${table.name} by "${column.slice(0, 64)}"; sortable columns: ${sortable.join(', ')}.`, {
        field: 'sort',
        allowed: sortable,
      });
    }
    return { column, direction };
  });
  if (keys.length > 5) throw new ValidationError('At most 5 sort keys.', { field: 'sort' });
  return keys.length > 0 ? keys : [{ column: table.defaultSort, direction: 'asc' }];
}

/** Parses a search query string for `table`. */
export function parseSearchQuery(
  table: TableDefinition,
  query: Readonly<Record<string, QueryValue>>,
  limits: QueryLimits,
): SearchParams {
  const filterable = Object.entries(table.columns)
    .filter(([, c]) => c.filterable)
    .map(([name]) => name);
  const filters: Filter[] = [];
  for (const [name, value] of Object.entries(query)) {
    for (const raw of Array.isArray(value) ? value : [value ?? '']) assertCleanText(name, raw);
    if ((RESERVED as readonly string[]).includes(name)) continue;
    if (!filterable.includes(name)) {
      throw new ValidationError(
        `Unknown query parameter "${name.slice(0, 64)}" for ${table.name}; filterable columns: ${filterable.join(', ')}; other parameters: ${RESERVED.filter((r) => r !== 'ids').join(', ')}.`,
        { field: name.slice(0, 64), allowed: [...filterable, ...RESERVED] },
      );
    }
    for (const expression of Array.isArray(value) ? value : [value ?? '']) {
      filters.push(parseFilter(table, name, expression));
    }
  }
  if (filters.length > 20) throw new ValidationError('At most 20 filters per search.');
  const text = single('q', query.q);
  if (text !== undefined && text.length > MAX_TEXT) {
    throw new ValidationError(`"q" must be at most ${MAX_TEXT} characters.`, { field: 'q' });
  }
  return {
    filters,
    ...(text === undefined || text === '' ? {} : { text }),
    sort: parseSort(table, single('sort', query.sort)),
    limit: integerParam('limit', single('limit', query.limit), limits.defaultPageSize, 1, limits.maxPageSize),
    offset: integerParam('offset', single('offset', query.offset), 0, 0, MAX_OFFSET),
    include: listParam(single('include', query.include)),
  };
}
