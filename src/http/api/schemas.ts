/**
 * Request-body schemas derived from the TableDefinitions: one derivation for every table, so the
 * API accepts exactly the columns the schema declares, with their types and limits. Unknown
 * fields are refused (strict objects), generated columns (id, timestamps) cannot be written.
 */
import { z } from 'zod';
import { ValidationError } from '../../errors/index.js';
import type { ColumnDefinition, TableDefinition } from '../../schema/tables.js';

export const UUID_PATTERN = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
export const uuid = z.string().regex(UUID_PATTERN, 'must be a UUID');
const INT32 = { min: -2_147_483_648, max: 2_147_483_647 };

function characterCount(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Columns that have a database default and may be omitted on create. */
function hasDefault(column: ColumnDefinition): boolean {
  return column.type === 'json' || column.type === 'boolean' || column.type === 'integer' || column.default !== undefined;
}

function columnSchema(column: ColumnDefinition): z.ZodType {
  let schema: z.ZodType;
  switch (column.type) {
    case 'uuid':
      schema = uuid;
      break;
    case 'text': {
      const max = column.maxLength ?? 10_000;
      // Characters (code points), as the databases count them: an emoji is one, not two UTF-16 units.
      schema = z
        .string()
        .refine((v) => v.length <= max || characterCount(v) <= max, `must be at most ${max} characters`);
      break;
    }
    case 'integer':
      schema = z.number().int('must be a whole number').min(INT32.min).max(INT32.max);
      break;
    case 'boolean':
      schema = z.boolean();
      break;
    case 'json':
      schema = z.record(z.string(), z.unknown(), 'must be a JSON object');
      break;
    case 'timestamp':
      schema = z.iso.datetime({ offset: true });
      break;
  }
  return column.nullable ? schema.nullable() : schema;
}

export interface TableSchemas {
  readonly create: z.ZodType<Record<string, unknown>>;
  readonly update: z.ZodType<Record<string, unknown>>;
}

const cache = new WeakMap<TableDefinition, TableSchemas>();

/** The create and update body schemas of a table. */
export function schemasFor(table: TableDefinition): TableSchemas {
  const cached = cache.get(table);
  if (cached) return cached;
  const create: Record<string, z.ZodType> = {};
  const update: Record<string, z.ZodType> = {};
  for (const [name, column] of Object.entries(table.columns)) {
    if (column.generated) continue;
    const schema = columnSchema(column);
    create[name] = column.nullable || hasDefault(column) ? schema.optional() : schema;
    update[name] = schema.optional();
  }
  const schemas: TableSchemas = {
    create: z.strictObject(create) as unknown as z.ZodType<Record<string, unknown>>,
    update: z
      .strictObject(update)
      .refine((v) => Object.keys(v).length > 0, 'must change at least one column') as unknown as z.ZodType<
      Record<string, unknown>
    >,
  };
  cache.set(table, schemas);
  return schemas;
}

/** Formats a zod path (`items.3.email`) as `items[3].email`. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out || '(body)';
}

/** The value at `path` inside `root`; undefined when any step is missing. */
function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** Parses `value` or throws a ValidationError naming every offending field. */
export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.slice(0, 50).map((issue) => {
    const path = formatPath(issue.path);
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : undefined;
    // zod says "expected string, received undefined" for an absent field; say what to do instead.
    const missing = issue.code === 'invalid_type' && valueAt(value, issue.path) === undefined;
    return {
      path: keys ? `${path === '(body)' ? '' : `${path}.`}${keys.join(', ')}`.replace(/^\./, '') : path,
      message: keys
        ? `unknown field${keys.length > 1 ? 's' : ''}`
        : missing
          ? `is required (${issue.expected})`
          : issue.message,
    };
  });
  const first = issues
    .slice(0, 3)
    .map((i) => `${i.path}: ${i.message}`)
    .join('; ');
  const more = result.error.issues.length > 3 ? ` (and ${result.error.issues.length - 3} more)` : '';
  throw new ValidationError(`Invalid ${what}: ${first}${more}.`, { issues });
}
