/**
 * The schema cache: tables, views and their columns in the exposed schema, read from pg_catalog.
 * Like PostgREST's, it is what request identifiers are checked against; unlike PostgREST's it is
 * also the only source of identifiers that reach SQL text (always through `escapeIdentifier`).
 */
import type { SqlQueryable } from './executor.js';

export interface ColumnInfo {
  readonly name: string;
  /** `format_type()` of the column, e.g. `timestamp with time zone`, `character varying(20)`. */
  readonly dataType: string;
  readonly notNull: boolean;
  /** The column default as SQL (from pg_attrdef), or for identity columns a `nextval(…)`. */
  readonly defaultExpr: string | null;
  /** `GENERATED ALWAYS AS (…) STORED`: never written. */
  readonly generated: boolean;
}

export interface TableInfo {
  readonly schema: string;
  readonly name: string;
  readonly kind: 'table' | 'view' | 'materialized view' | 'foreign table' | 'partitioned table';
  /** In attnum order (the order `*` expands to). */
  readonly columns: readonly ColumnInfo[];
  readonly columnsByName: ReadonlyMap<string, ColumnInfo>;
  /** Primary-key column names in key order; empty when there is none. */
  readonly primaryKey: readonly string[];
}

export interface SchemaCache {
  readonly schema: string;
  readonly tables: ReadonlyMap<string, TableInfo>;
}

const RELKINDS: Record<string, TableInfo['kind']> = {
  r: 'table',
  v: 'view',
  m: 'materialized view',
  f: 'foreign table',
  p: 'partitioned table',
};

interface ColumnRow {
  table_name: string;
  kind: string;
  column_name: string;
  data_type: string;
  not_null: boolean;
  default_expr: string | null;
  identity: string;
  generated: string;
}

interface KeyRow {
  table_name: string;
  column_name: string;
}

const COLUMNS_SQL = `
SELECT c.relname AS table_name,
       c.relkind::text AS kind,
       a.attname AS column_name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS data_type,
       a.attnotnull AS not_null,
       CASE WHEN a.attidentity IN ('a', 'd')
            THEN 'nextval(' || quote_literal(pg_catalog.pg_get_serial_sequence(quote_ident(n.nspname) || '.' || quote_ident(c.relname), a.attname)) || '::regclass)'
            ELSE pg_catalog.pg_get_expr(d.adbin, d.adrelid) END AS default_expr,
       a.attidentity::text AS identity,
       a.attgenerated::text AS generated
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
 WHERE n.nspname = $1 AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
 ORDER BY c.relname, a.attnum`;

const PRIMARY_KEYS_SQL = `
SELECT c.relname AS table_name, a.attname AS column_name
  FROM pg_catalog.pg_constraint con
  JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) ON true
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
 WHERE n.nspname = $1 AND con.contype = 'p'
 ORDER BY c.relname, k.ord`;

export async function loadSchemaCache(db: SqlQueryable, schema = 'public'): Promise<SchemaCache> {
  const columns = await db.query<ColumnRow>(COLUMNS_SQL, [schema]);
  const keys = await db.query<KeyRow>(PRIMARY_KEYS_SQL, [schema]);

  const byTable = new Map<string, { kind: string; columns: ColumnInfo[] }>();
  for (const row of columns.rows) {
    let entry = byTable.get(row.table_name);
    if (entry === undefined) {
      entry = { kind: row.kind, columns: [] };
      byTable.set(row.table_name, entry);
    }
    entry.columns.push({
      name: row.column_name,
      dataType: row.data_type,
      notNull: row.not_null,
      defaultExpr: row.default_expr,
      generated: row.generated === 's',
    });
  }
  const primaryKeys = new Map<string, string[]>();
  for (const row of keys.rows) {
    const list = primaryKeys.get(row.table_name) ?? [];
    list.push(row.column_name);
    primaryKeys.set(row.table_name, list);
  }

  const tables = new Map<string, TableInfo>();
  for (const [name, entry] of byTable) {
    tables.set(name, {
      schema,
      name,
      kind: RELKINDS[entry.kind] ?? 'table',
      columns: entry.columns,
      columnsByName: new Map(entry.columns.map((column) => [column.name, column])),
      primaryKey: primaryKeys.get(name) ?? [],
    });
  }
  return { schema, tables };
}
