/**
 * One generic repository, driven by a TableDefinition: users, sessions, plots, authors,
 * world_building and characters all use this class — no per-table copies.
 *
 * Related rows are loaded in batches: a page of N rows with `include=author` costs one query for
 * the page and one for all referenced authors (per chunk of ids), never one per row.
 */
import type { DatabaseAdapter, Filter, Row, RowUpdate, SortKey } from '../adapters/contract.js';
import { NotFoundError, ValidationError } from '../errors/index.js';
import { TABLES, type HasMany, type TableDefinition } from '../schema/tables.js';

/** The suffix that turns a has-many relation into a count (`plots_count`). */
export const COUNT_SUFFIX = '_count';

export interface SearchParams {
  readonly filters: readonly Filter[];
  readonly text?: string;
  readonly sort: readonly SortKey[];
  readonly limit: number;
  readonly offset: number;
  readonly include: readonly string[];
}

/** A page of results (design §9). */
export interface Page {
  readonly data: Row[];
  readonly total_count: number;
  readonly limit: number;
  readonly offset: number;
  readonly has_more: boolean;
}

/** The includes a table accepts: its relation names and `<hasMany>_count`. */
export function includeNames(table: TableDefinition): string[] {
  const names: string[] = [];
  for (const [name, relation] of Object.entries(table.relations)) {
    names.push(name);
    if (relation.kind === 'hasMany') names.push(`${name}${COUNT_SUFFIX}`);
  }
  return names;
}

function uniqueStrings(values: Iterable<unknown>): string[] {
  const out = new Set<string>();
  for (const v of values) if (typeof v === 'string') out.add(v);
  return [...out];
}

export class TableRepository {
  readonly table: TableDefinition;
  readonly #adapter: DatabaseAdapter;

  constructor(adapter: DatabaseAdapter, table: TableDefinition) {
    this.#adapter = adapter;
    this.table = table;
  }

  /** Throws ValidationError for includes this table does not have, listing the allowed ones. */
  validateIncludes(include: readonly string[]): void {
    const allowed = includeNames(this.table);
    const unknown = include.filter((name) => !allowed.includes(name));
    if (unknown.length > 0) {
      throw new ValidationError(
        `Unknown include ${unknown.map((u) => `"${u}"`).join(', ')} for ${this.table.name}; allowed: ${allowed.join(', ') || '(none)'}.`,
        { field: 'include', allowed },
      );
    }
  }

  async get(id: string, include: readonly string[] = []): Promise<Row> {
    this.validateIncludes(include);
    const row = await this.#adapter.getById(this.table, id);
    if (!row) throw new NotFoundError(`No ${this.table.name} row with id ${id}.`, { id });
    await this.attach([row], include);
    return row;
  }

  /** Rows for the given ids, in the order of `ids`; ids that do not exist are listed in `missing`. */
  async getMany(ids: readonly string[], include: readonly string[] = []): Promise<{ data: Row[]; missing: string[] }> {
    this.validateIncludes(include);
    const rows = await this.#adapter.getManyByIds(this.table, [...new Set(ids)]);
    const byId = new Map(rows.map((r) => [r.id as string, r]));
    const data: Row[] = [];
    const missing: string[] = [];
    for (const id of ids) {
      const row = byId.get(id);
      if (row) data.push(row);
      else missing.push(id);
    }
    await this.attach(rows, include);
    return { data, missing };
  }

  create(row: Row): Promise<Row> {
    return this.#adapter.insertOne(this.table, row);
  }

  /** All rows or none (one transaction). */
  createMany(rows: readonly Row[]): Promise<Row[]> {
    return this.#adapter.insertMany(this.table, rows);
  }

  async update(id: string, changes: Row): Promise<Row> {
    const row = await this.#adapter.updateOne(this.table, id, changes);
    if (!row) throw new NotFoundError(`No ${this.table.name} row with id ${id}.`, { id });
    return row;
  }

  /** All updates or none (one transaction); NotFoundError if any id is missing. */
  updateMany(updates: readonly RowUpdate[]): Promise<Row[]> {
    return this.#adapter.updateMany(this.table, updates);
  }

  async delete(id: string): Promise<void> {
    const deleted = await this.#adapter.deleteOne(this.table, id);
    if (!deleted) throw new NotFoundError(`No ${this.table.name} row with id ${id}.`, { id });
  }

  /** A page of rows with their related rows; a constant number of queries whatever the page size. */
  async search(params: SearchParams): Promise<Page> {
    this.validateIncludes(params.include);
    const result = await this.#adapter.search(this.table, {
      filters: params.filters,
      ...(params.text === undefined ? {} : { text: params.text }),
      sort: params.sort,
      limit: params.limit,
      offset: params.offset,
    });
    await this.attach(result.rows, params.include);
    return {
      data: result.rows,
      total_count: result.total,
      limit: params.limit,
      offset: params.offset,
      has_more: params.offset + result.rows.length < result.total,
    };
  }

  /**
   * Attaches the requested related rows to `rows` in place: one batched query per include (per
   * chunk of ids inside the adapter), never one per row.
   */
  async attach(rows: Row[], include: readonly string[]): Promise<void> {
    if (rows.length === 0 || include.length === 0) return;
    await Promise.all(include.map((name) => this.#attachOne(rows, name)));
  }

  async #attachOne(rows: Row[], name: string): Promise<void> {
    const counted = name.endsWith(COUNT_SUFFIX) ? name.slice(0, -COUNT_SUFFIX.length) : null;
    const relation = this.table.relations[counted ?? name];
    if (!relation) throw new ValidationError(`Unknown include "${name}".`);
    const target = TABLES[relation.table];

    if (relation.kind === 'belongsTo') {
      const ids = uniqueStrings(rows.map((r) => r[relation.column]));
      const related = ids.length > 0 ? await this.#adapter.getManyByIds(target, ids) : [];
      const byId = new Map(related.map((r) => [r.id as string, r]));
      for (const row of rows) {
        const fk = row[relation.column];
        row[name] = typeof fk === 'string' ? (byId.get(fk) ?? null) : null;
      }
      return;
    }

    const ids = uniqueStrings(rows.map((r) => r.id));
    if (counted !== null) {
      const counts = await this.#adapter.countByColumn(target, relation.column, ids);
      for (const row of rows) row[name] = counts.get(row.id as string) ?? 0;
      return;
    }
    const children = await this.#loadChildren(relation, target, ids);
    for (const row of rows) row[name] = children.get(row.id as string) ?? [];
  }

  async #loadChildren(relation: HasMany, target: TableDefinition, parentIds: string[]): Promise<Map<string, Row[]>> {
    const rows = await this.#adapter.getManyByColumn(target, relation.column, parentIds);
    // A stable order inside each group, whatever order the backend returned.
    rows.sort((a, b) => String(a.created_at).localeCompare(String(b.created_at)) || String(a.id).localeCompare(String(b.id)));
    const groups = new Map<string, Row[]>();
    for (const row of rows) {
      const key = row[relation.column] as string;
      const group = groups.get(key);
      if (group) group.push(row);
      else groups.set(key, [row]);
    }
    return groups;
  }
}
