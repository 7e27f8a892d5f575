/**
 * SQL text for the SQLite adapter. Identifiers come only from a TableDefinition (and are quoted
 * anyway); every value is a `?` placeholder. Statement texts are memoised per table so that the
 * same operation always sends the same string, which is also the key of each connection's
 * prepared-statement cache.
 */
import type { TableDefinition } from '../../schema/tables.js';
import { paddedLength } from '../shared/chunk.js';
import type { ValidatedFilter } from '../shared/query.js';
import type { SortKey } from '../contract.js';
import { encodeValue } from './codec.js';
import { FOLD_FUNCTION } from './protocol.js';

/** Quotes an identifier (doubling embedded quotes), although only schema names ever get here. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

const COMPARISON_SQL = { eq: '=', neq: '<>', gt: '>', gte: '>=', lt: '<', lte: '<=' } as const;

/** `?, ?, ?` for n placeholders. */
function placeholders(n: number): string {
  return n === 1 ? '?' : `?${', ?'.repeat(n - 1)}`;
}

/**
 * Pads `values` to {@link paddedLength} by repeating the last one, so that IN lists of similar
 * length share one statement text (duplicates do not change an IN match).
 */
export function padValues(values: readonly unknown[]): unknown[] {
  const target = paddedLength(values.length);
  const out = values.slice();
  const last = values[values.length - 1];
  while (out.length < target) out.push(last);
  return out;
}

/** A WHERE clause (with its leading ` WHERE `, or empty) and its bound values in order. */
export interface WhereClause {
  readonly sql: string;
  readonly params: unknown[];
}

/** Statement texts for one table. Obtain with {@link statementsFor}. */
export class TableStatements {
  readonly table: TableDefinition;
  readonly #t: string;
  readonly #columns: string;
  readonly #cache = new Map<string, string>();

  constructor(table: TableDefinition) {
    this.table = table;
    this.#t = quoteIdentifier(table.name);
    this.#columns = Object.keys(table.columns).map(quoteIdentifier).join(', ');
  }

  #memo(key: string, build: () => string): string {
    let sql = this.#cache.get(key);
    if (sql === undefined) {
      sql = build();
      this.#cache.set(key, sql);
    }
    return sql;
  }

  /** `SELECT <columns> FROM t WHERE id = ?` */
  byId(): string {
    return this.#memo(
      'byId',
      () => `SELECT ${this.#columns} FROM ${this.#t} WHERE ${quoteIdentifier(this.table.primaryKey)} = ?`,
    );
  }

  /** Rows whose `column` is in a list of `n` placeholders. */
  selectIn(column: string, n: number): string {
    return this.#memo(
      `in:${column}:${n}`,
      () =>
        `SELECT ${this.#columns} FROM ${this.#t} WHERE ${quoteIdentifier(column)} IN (${placeholders(n)})`,
    );
  }

  /** Row count per value of `column` among `n` placeholders (one GROUP BY). */
  countIn(column: string, n: number): string {
    const c = quoteIdentifier(column);
    return this.#memo(
      `countIn:${column}:${n}`,
      () =>
        `SELECT ${c} AS "value", COUNT(*) AS "count" FROM ${this.#t} WHERE ${c} IN (${placeholders(n)}) GROUP BY ${c}`,
    );
  }

  /** Single-row INSERT of `columns`, returning the stored row. */
  insert(columns: readonly string[]): string {
    return this.#memo(
      `insert:${columns.join(',')}`,
      () =>
        `INSERT INTO ${this.#t} (${columns.map(quoteIdentifier).join(', ')}) VALUES (${placeholders(columns.length)}) ` +
        `RETURNING ${this.#columns}`,
    );
  }

  /** UPDATE of `columns` by id (the id is the last parameter), returning the stored row. */
  update(columns: readonly string[]): string {
    return this.#memo(
      `update:${columns.join(',')}`,
      () =>
        `UPDATE ${this.#t} SET ${columns.map((c) => `${quoteIdentifier(c)} = ?`).join(', ')} ` +
        `WHERE ${quoteIdentifier(this.table.primaryKey)} = ? RETURNING ${this.#columns}`,
    );
  }

  /** `DELETE FROM t WHERE id = ?` */
  deleteById(): string {
    return this.#memo(
      'delete',
      () => `DELETE FROM ${this.#t} WHERE ${quoteIdentifier(this.table.primaryKey)} = ?`,
    );
  }

  /** `SELECT COUNT(*)` with a WHERE clause. */
  count(where: WhereClause): string {
    return `SELECT COUNT(*) AS "count" FROM ${this.#t}${where.sql}`;
  }

  /** A page of rows: WHERE, ORDER BY (plus the id tie-break), LIMIT ? OFFSET ?. */
  page(where: WhereClause, sort: readonly SortKey[]): string {
    return `SELECT ${this.#columns} FROM ${this.#t}${where.sql} ORDER BY ${this.orderBy(sort)} LIMIT ? OFFSET ?`;
  }

  /**
   * ORDER BY keys with the primary key appended as the final ascending tie-break. NULLs sort as
   * in PostgreSQL (last when ascending, first when descending) so both backends page alike.
   */
  orderBy(sort: readonly SortKey[]): string {
    const pk = this.table.primaryKey;
    const keys = sort.map((key) => {
      const nullable = this.table.columns[key.column]?.nullable === true;
      const dir = key.direction === 'desc' ? 'DESC' : 'ASC';
      const nulls = nullable ? (key.direction === 'desc' ? ' NULLS FIRST' : ' NULLS LAST') : '';
      return `${quoteIdentifier(key.column)} ${dir}${nulls}`;
    });
    if (!sort.some((key) => key.column === pk)) keys.push(`${quoteIdentifier(pk)} ASC`);
    return keys.join(', ');
  }

  /** Renders validated filters and free text (see shared/query.ts) as one AND-ed WHERE clause. */
  where(
    filters: readonly ValidatedFilter[],
    text: string | null = null,
    textColumns: readonly string[] = [],
  ): WhereClause {
    const conditions: string[] = [];
    const params: unknown[] = [];
    for (const filter of filters) {
      const c = quoteIdentifier(filter.column);
      switch (filter.op) {
        case 'in': {
          if (filter.values.length === 0) {
            conditions.push('0');
            break;
          }
          const values = padValues(filter.values.map((v) => encodeValue(this.table, filter.column, v)));
          conditions.push(`${c} IN (${placeholders(values.length)})`);
          params.push(...values);
          break;
        }
        case 'contains':
          // instr() is a literal substring test: %, _ and \ in the user's text match themselves.
          conditions.push(`instr(${FOLD_FUNCTION}(${c}), ?) > 0`);
          params.push(filter.text.toLowerCase());
          break;
        case 'is_null':
          conditions.push(`${c} IS ${filter.isNull ? '' : 'NOT '}NULL`);
          break;
        default:
          conditions.push(`${c} ${COMPARISON_SQL[filter.op]} ?`);
          params.push(encodeValue(this.table, filter.column, filter.value));
      }
    }
    if (text !== null && textColumns.length > 0) {
      const folded = text.toLowerCase();
      conditions.push(
        `(${textColumns.map((col) => `instr(${FOLD_FUNCTION}(${quoteIdentifier(col)}), ?) > 0`).join(' OR ')})`,
      );
      for (let i = 0; i < textColumns.length; i++) params.push(folded);
    }
    return { sql: conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`, params };
  }
}

const byTable = new WeakMap<TableDefinition, TableStatements>();

/** The (memoised) statement texts of `table`. */
export function statementsFor(table: TableDefinition): TableStatements {
  let statements = byTable.get(table);
  if (statements === undefined) {
    statements = new TableStatements(table);
    byTable.set(table, statements);
  }
  return statements;
}
