/**
 * SQL for reads and writes, shaped like PostgREST v12's (src/PostgREST/Query/QueryBuilder.hs and
 * SqlFragment.hs): a `pgrst_source` CTE, `json_agg` of the rows rendered by PostgreSQL itself
 * (so timestamptz, jsonb, numeric… serialise exactly as behind PostgREST), request bodies passed
 * as one JSON parameter and typed by `json_to_recordset` with the columns' catalog types.
 *
 * Injection safety: identifiers come only from the schema cache and go through `escapeIdentifier`;
 * column types and defaults come from pg_catalog; casts are allow-listed by the parser; every value
 * from the request is a bound parameter. Integers (limit/offset) are validated numbers.
 */
import { escapeIdentifier as ident } from 'pg';

import { columnNotFoundInCache, pgrstError, undefinedColumn } from './errors.js';
import type { SqlParam } from './executor.js';
import type { Filter, LogicTree, Operation, OrderTerm, SelectItem, SimpleOperator } from './query-params.js';
import type { RowRange } from './range.js';
import type { ColumnInfo, TableInfo } from './schema-cache.js';

export interface Statement {
  readonly text: string;
  readonly params: readonly SqlParam[];
}

/** Bound parameters in `$n` order. */
class Params {
  readonly values: SqlParam[] = [];
  add(value: SqlParam): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

const SQL_OPERATORS: Readonly<Record<SimpleOperator, string>> = {
  eq: '=',
  neq: '<>',
  gt: '>',
  gte: '>=',
  lt: '<',
  lte: '<=',
  like: 'LIKE',
  ilike: 'ILIKE',
  match: '~',
  imatch: '~*',
  cs: '@>',
  cd: '<@',
  ov: '&&',
  sl: '<<',
  sr: '>>',
  nxr: '&<',
  nxl: '&>',
  adj: '-|-',
  isdistinct: 'IS DISTINCT FROM',
};

export function qualifiedTable(table: TableInfo): string {
  return `${ident(table.schema)}.${ident(table.name)}`;
}

function column(table: TableInfo, name: string): ColumnInfo {
  const info = table.columnsByName.get(name);
  if (info === undefined) throw undefinedColumn(table.name, name);
  return info;
}

function columnRef(table: TableInfo, name: string): string {
  return `${qualifiedTable(table)}.${ident(column(table, name).name)}`;
}

/** PostgREST's `*` wildcard for LIKE/ILIKE: every `*` becomes `%` (escaped or not). */
function starToPercent(value: string): string {
  return value.replaceAll('*', '%');
}

/** pgBuildArrayLiteral: every element double-quoted, `\` and `"` backslash-escaped. */
export function arrayLiteral(values: readonly string[]): string {
  return `{${values.map((value) => `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`).join(',')}}`;
}

function operationSql(target: string, operation: Operation, params: Params): string {
  switch (operation.kind) {
    case 'simple': {
      const value =
        operation.operator === 'like' || operation.operator === 'ilike'
          ? starToPercent(operation.value)
          : operation.value;
      return `${target} ${SQL_OPERATORS[operation.operator]} ${params.add(value)}`;
    }
    case 'quantified': {
      const value =
        operation.operator === 'like' || operation.operator === 'ilike'
          ? starToPercent(operation.value)
          : operation.value;
      return `${target} ${SQL_OPERATORS[operation.operator]} ${operation.quantifier.toUpperCase()}(${params.add(value)})`;
    }
    case 'in': {
      // `in.()` (and PostgREST's quirk: `in.("")`) matches nothing.
      if (operation.values.length === 1 && operation.values[0] === '') return `${target} = ANY('{}')`;
      return `${target} = ANY(${params.add(arrayLiteral(operation.values))})`;
    }
    case 'is':
      return `${target} IS ${operation.value.toUpperCase()}`;
  }
}

function filterSql(table: TableInfo, filter: Filter, params: Params): string {
  const sql = operationSql(columnRef(table, filter.field), filter.operation, params);
  return filter.negated ? `NOT ${sql}` : sql;
}

function logicSql(table: TableInfo, tree: LogicTree, params: Params): string {
  if (tree.kind === 'filter') return filterSql(table, tree.filter, params);
  const joined = tree.children
    .map((child) => logicSql(table, child, params))
    .join(` ${tree.operator.toUpperCase()} `);
  return `${tree.negated ? 'NOT ' : ''}(${joined})`;
}

export interface Conditions {
  readonly filters: readonly Filter[];
  readonly logic: readonly LogicTree[];
}

function whereClause(table: TableInfo, conditions: Conditions, params: Params): string {
  const parts = [
    ...conditions.filters.map((filter) => filterSql(table, filter, params)),
    ...conditions.logic.map((tree) => logicSql(table, tree, params)),
  ];
  return parts.length === 0 ? '' : ` WHERE ${parts.join(' AND ')}`;
}

function orderClause(table: TableInfo, order: readonly OrderTerm[]): string {
  if (order.length === 0) return '';
  const terms = order.map((term) => {
    const direction = term.direction === undefined ? '' : ` ${term.direction.toUpperCase()}`;
    const nulls = term.nulls === undefined ? '' : ` NULLS ${term.nulls.toUpperCase()}`;
    return `${columnRef(table, term.field)}${direction}${nulls}`;
  });
  return ` ORDER BY ${terms.join(', ')}`;
}

/** The select list over `source` (a table or the `pgrst_source` CTE aliased as the table). */
function selectList(table: TableInfo, items: readonly SelectItem[], source: string): string {
  const parts: string[] = [];
  for (const item of items) {
    if (item.kind === 'star') {
      for (const col of table.columns) parts.push(`${source}.${ident(col.name)} AS ${ident(col.name)}`);
      continue;
    }
    const ref = `${source}.${ident(column(table, item.name).name)}`;
    const expr = item.cast === undefined ? ref : `CAST(${ref} AS ${item.cast})`;
    parts.push(`${expr} AS ${ident(item.alias ?? item.name)}`);
  }
  return parts.join(', ');
}

export type BodyShape = 'array' | 'singular';

function bodyExpression(shape: BodyShape, stripNulls: boolean): string {
  const json = shape === 'singular' ? `(json_agg(_postgrest_t)->0)` : `json_agg(_postgrest_t)`;
  const stripped = stripNulls ? `json_strip_nulls(${json})` : json;
  return shape === 'singular' ? `coalesce(${stripped}::text, 'null')` : `coalesce(${stripped}, '[]')::text`;
}

export interface ReadRequest extends Conditions {
  readonly table: TableInfo;
  readonly select: readonly SelectItem[];
  readonly order: readonly OrderTerm[];
  readonly range: RowRange;
  readonly count: boolean;
  readonly shape: BodyShape;
  readonly stripNulls: boolean;
}

/** Row of every statement built here. Counts are text because pg and PGlite parse int8 differently. */
export interface ResultRow {
  total_result_set: string | null;
  page_total: string;
  inserted: string | null;
  body: string;
}

export function buildRead(request: ReadRequest): Statement {
  const params = new Params();
  const { table } = request;
  const qt = qualifiedTable(table);
  const where = whereClause(table, request, params);
  const limit = request.range.limit === undefined ? '' : ` LIMIT ${request.range.limit}`;
  const offset = request.range.offset === 0 ? '' : ` OFFSET ${request.range.offset}`;
  const count = request.count ? `(SELECT pg_catalog.count(*) FROM ${qt}${where})::text` : 'NULL::text';
  const text =
    `WITH pgrst_source AS (SELECT ${selectList(table, request.select, qt)} FROM ${qt}${where}` +
    `${orderClause(table, request.order)}${limit}${offset}) ` +
    `SELECT ${count} AS total_result_set, pg_catalog.count(_postgrest_t)::text AS page_total, ` +
    `NULL::text AS inserted, ${bodyExpression(request.shape, request.stripNulls)} AS body ` +
    `FROM (SELECT * FROM pgrst_source) _postgrest_t`;
  return { text, params: params.values };
}

// ---------------------------------------------------------------------------------------------
// writes
// ---------------------------------------------------------------------------------------------

export interface WriteOutput {
  readonly select: readonly SelectItem[];
  /** Build the JSON body at all (return=representation). */
  readonly representation: boolean;
  readonly shape: BodyShape;
  readonly stripNulls: boolean;
}

/**
 * `FROM … pgrst_body`: the request body (one JSON parameter, object or array) as typed rows, with
 * column defaults merged in for missing keys when `missing=default` (PostgREST's pgrst_json_defs).
 */
function bodySource(
  columns: readonly ColumnInfo[],
  rawBody: string,
  params: Params,
  applyDefaults: boolean,
  limitOne: boolean,
): string {
  const payload = params.add(rawBody);
  let source =
    `(SELECT ${payload}::json AS json_data) pgrst_payload, ` +
    `LATERAL (SELECT CASE WHEN json_typeof(pgrst_payload.json_data) = 'array' THEN pgrst_payload.json_data ` +
    `ELSE json_build_array(pgrst_payload.json_data) END AS val) pgrst_uniform_json, `;
  let rows = 'pgrst_uniform_json.val';
  let recordset = 'json_to_recordset';
  const defaults = columns.filter((col) => col.defaultExpr !== null);
  if (applyDefaults && defaults.length > 0) {
    // Keys present in the body (even with null) win over the defaults: `defaults || elem`.
    const defsJsonb = defaults
      .map((col) => `jsonb_build_object(${params.add(col.name)}::text, ${col.defaultExpr ?? 'NULL'})`)
      .join(' || ');
    source +=
      `LATERAL (SELECT jsonb_agg(${defsJsonb} || elem) AS val ` +
      `FROM jsonb_array_elements(pgrst_uniform_json.val::jsonb) elem) pgrst_json_defs, `;
    rows = 'pgrst_json_defs.val';
    recordset = 'jsonb_to_recordset';
  }
  const typed = columns.map((col) => `${ident(col.name)} ${col.dataType}`).join(', ');
  source += `LATERAL (SELECT * FROM ${recordset}(${rows}) AS _ (${typed})${limitOne ? ' LIMIT 1' : ''}) pgrst_body`;
  return source;
}

function writeWrapper(
  table: TableInfo,
  mutation: string,
  output: WriteOutput,
  withInserted: boolean,
): string {
  const alias = ident(table.name);
  const body = output.representation ? bodyExpression(output.shape, output.stripNulls) : `''`;
  const inserted = withInserted
    ? `(SELECT pg_catalog.count(*) FROM pgrst_source WHERE pgrst_source."pgrst$inserted")::text`
    : 'NULL::text';
  return (
    `WITH pgrst_source AS (${mutation}) ` +
    `SELECT NULL::text AS total_result_set, pg_catalog.count(_postgrest_t)::text AS page_total, ${inserted} AS inserted, ` +
    `${body} AS body FROM (SELECT ${selectList(table, output.select, alias)} FROM pgrst_source AS ${alias}) _postgrest_t`
  );
}

/** The columns a write names (`columns=` or the body's keys), each checked against the cache. */
export function writeColumns(table: TableInfo, names: readonly string[]): ColumnInfo[] {
  return names.map((name) => {
    const info = table.columnsByName.get(name);
    if (info === undefined) throw columnNotFoundInCache(name, table.name);
    return info;
  });
}

export interface InsertRequest {
  readonly table: TableInfo;
  readonly columns: readonly ColumnInfo[];
  readonly rawBody: string;
  readonly applyDefaults: boolean;
  /** Upsert: conflict target and what to do on conflict. */
  readonly onConflict?: {
    readonly columns: readonly string[];
    readonly resolution: 'merge-duplicates' | 'ignore-duplicates';
  };
  readonly output: WriteOutput;
}

export function buildInsert(request: InsertRequest): Statement {
  const params = new Params();
  const { table } = request;
  const qt = qualifiedTable(table);
  let mutation: string;
  if (request.columns.length === 0) {
    // `{}` / `[{}, {}]`: one all-defaults row per element.
    const payload = params.add(request.rawBody);
    mutation =
      `INSERT INTO ${qt} SELECT FROM (SELECT ${payload}::json AS json_data) pgrst_payload, ` +
      `LATERAL json_array_elements(CASE WHEN json_typeof(pgrst_payload.json_data) = 'array' THEN pgrst_payload.json_data ` +
      `ELSE json_build_array(pgrst_payload.json_data) END) _`;
  } else {
    const names = request.columns.map((col) => ident(col.name));
    mutation =
      `INSERT INTO ${qt}(${names.join(', ')}) SELECT ${names.map((name) => `pgrst_body.${name}`).join(', ')} ` +
      `FROM ${bodySource(request.columns, request.rawBody, params, request.applyDefaults, false)}`;
  }
  const upsert = request.onConflict;
  if (upsert !== undefined && upsert.columns.length > 0) {
    const target = upsert.columns.map((name) => {
      if (!table.columnsByName.has(name)) throw pgrstError(400, '42703', `column "${name}" does not exist`);
      return ident(name);
    });
    const merge = upsert.resolution === 'merge-duplicates' && request.columns.length > 0;
    const set = request.columns.map((col) => `${ident(col.name)} = EXCLUDED.${ident(col.name)}`).join(', ');
    mutation += ` ON CONFLICT(${target.join(', ')}) ${merge ? `DO UPDATE SET ${set}` : 'DO NOTHING'}`;
  }
  // xmax = 0 tells a freshly inserted row from one an upsert updated (201 vs 200).
  const withInserted = upsert !== undefined && table.kind === 'table';
  mutation += ` RETURNING ${qt}.*${withInserted ? `, ${qt}.xmax = 0 AS "pgrst$inserted"` : ''}`;
  return { text: writeWrapper(table, mutation, request.output, withInserted), params: params.values };
}

/** pg-safeupdate, loaded for API roles on Supabase: UPDATE/DELETE need a WHERE clause. */
function requireWhere(command: 'UPDATE' | 'DELETE', where: string, safeUpdate: boolean): void {
  if (safeUpdate && where === '') throw pgrstError(400, '21000', `${command} requires a WHERE clause`);
}

export interface UpdateRequest extends Conditions {
  readonly table: TableInfo;
  readonly columns: readonly ColumnInfo[];
  readonly rawBody: string;
  readonly applyDefaults: boolean;
  readonly safeUpdate: boolean;
  readonly output: WriteOutput;
}

export function buildUpdate(request: UpdateRequest): Statement {
  const params = new Params();
  const { table } = request;
  const qt = qualifiedTable(table);
  let mutation: string;
  if (request.columns.length === 0) {
    // Nothing to set: PostgREST answers with an empty result instead of invalid `SET` SQL.
    mutation = `SELECT ${qt}.* FROM ${qt} WHERE false`;
  } else {
    const source = bodySource(request.columns, request.rawBody, params, request.applyDefaults, true);
    const where = whereClause(table, request, params);
    requireWhere('UPDATE', where, request.safeUpdate);
    const set = request.columns.map((col) => `${ident(col.name)} = pgrst_body.${ident(col.name)}`).join(', ');
    mutation = `UPDATE ${qt} SET ${set} FROM ${source}${where} RETURNING ${qt}.*`;
  }
  return { text: writeWrapper(table, mutation, request.output, false), params: params.values };
}

export interface DeleteRequest extends Conditions {
  readonly table: TableInfo;
  readonly safeUpdate: boolean;
  readonly output: WriteOutput;
}

export function buildDelete(request: DeleteRequest): Statement {
  const params = new Params();
  const { table } = request;
  const qt = qualifiedTable(table);
  const where = whereClause(table, request, params);
  requireWhere('DELETE', where, request.safeUpdate);
  const mutation = `DELETE FROM ${qt}${where} RETURNING ${qt}.*`;
  return { text: writeWrapper(table, mutation, request.output, false), params: params.values };
}
