/**
 * The logical schema, declared once. Adapters read it to convert values (JSON columns, booleans,
 * timestamps) and to allow-list identifiers; repositories read it for relations, filters and sorts;
 * the SQL migrations in migrations/sqlite and migrations/postgres create the same tables (a test
 * checks that every column declared here exists in both).
 *
 * Only identifiers that appear here ever reach SQL or a PostgREST query string.
 */

export type ColumnType = 'uuid' | 'text' | 'integer' | 'boolean' | 'json' | 'timestamp';

export interface ColumnDefinition {
  readonly type: ColumnType;
  /** May be null / omitted on insert. */
  readonly nullable: boolean;
  /** Set by the service (id, created_at, updated_at); clients may not write it. */
  readonly generated?: boolean;
  /** Allowed in search filters. */
  readonly filterable?: boolean;
  /** Allowed in `sort`. */
  readonly sortable?: boolean;
  /** Matched by the free-text `q` search (case-insensitive literal substring). */
  readonly searchable?: boolean;
  /** Maximum length for text columns (characters). */
  readonly maxLength?: number;
  /** The database default applied when the column is omitted on insert (mirrors the migrations). */
  readonly default?: string | number | boolean;
}

/** A many-to-one link: `column` on this table references `table.id`. */
export interface BelongsTo {
  readonly kind: 'belongsTo';
  readonly table: TableName;
  readonly column: string;
}

/** A one-to-many link: rows of `table` whose `column` references this table's id. */
export interface HasMany {
  readonly kind: 'hasMany';
  readonly table: TableName;
  readonly column: string;
}

export type Relation = BelongsTo | HasMany;

export interface TableDefinition {
  readonly name: TableName;
  readonly primaryKey: 'id';
  readonly columns: Readonly<Record<string, ColumnDefinition>>;
  /** Named relations usable with `include=`. */
  readonly relations: Readonly<Record<string, Relation>>;
  /** Default sort when a search names none (the primary key is always the final tie-break). */
  readonly defaultSort: string;
}

export const TABLE_NAMES = ['users', 'sessions', 'authors', 'plots', 'world_building', 'characters'] as const;
export type TableName = (typeof TABLE_NAMES)[number];

const id: ColumnDefinition = { type: 'uuid', nullable: false, generated: true, filterable: true, sortable: true };
const createdAt: ColumnDefinition = {
  type: 'timestamp',
  nullable: false,
  generated: true,
  filterable: true,
  sortable: true,
};
const updatedAt: ColumnDefinition = createdAt;
const fk = (nullable: boolean): ColumnDefinition => ({ type: 'uuid', nullable, filterable: true, sortable: false });
const shortText = (nullable: boolean, extra: Partial<ColumnDefinition> = {}): ColumnDefinition => ({
  type: 'text',
  nullable,
  maxLength: 500,
  filterable: true,
  sortable: true,
  searchable: true,
  ...extra,
});
const longText: ColumnDefinition = { type: 'text', nullable: true, maxLength: 200_000, searchable: true };
const json: ColumnDefinition = { type: 'json', nullable: false };

function define(table: TableDefinition): TableDefinition {
  return Object.freeze(table);
}

export const TABLES: Readonly<Record<TableName, TableDefinition>> = Object.freeze({
  users: define({
    name: 'users',
    primaryKey: 'id',
    defaultSort: 'created_at',
    columns: {
      id,
      email: shortText(false, { maxLength: 320 }),
      display_name: shortText(false, { maxLength: 200 }),
      preferences: json,
      created_at: createdAt,
      updated_at: updatedAt,
    },
    relations: { sessions: { kind: 'hasMany', table: 'sessions', column: 'user_id' } },
  }),
  sessions: define({
    name: 'sessions',
    primaryKey: 'id',
    defaultSort: 'created_at',
    columns: {
      id,
      user_id: fk(false),
      title: shortText(false),
      status: shortText(false, { maxLength: 32, searchable: false, default: 'active' }),
      metadata: json,
      created_at: createdAt,
      updated_at: updatedAt,
    },
    relations: {
      user: { kind: 'belongsTo', table: 'users', column: 'user_id' },
      plots: { kind: 'hasMany', table: 'plots', column: 'session_id' },
      authors: { kind: 'hasMany', table: 'authors', column: 'session_id' },
      world_building: { kind: 'hasMany', table: 'world_building', column: 'session_id' },
      characters: { kind: 'hasMany', table: 'characters', column: 'session_id' },
    },
  }),
  authors: define({
    name: 'authors',
    primaryKey: 'id',
    defaultSort: 'created_at',
    columns: {
      id,
      session_id: fk(false),
      name: shortText(false, { maxLength: 200 }),
      bio: longText,
      writing_style: shortText(true, { maxLength: 2000 }),
      metadata: json,
      created_at: createdAt,
      updated_at: updatedAt,
    },
    relations: {
      session: { kind: 'belongsTo', table: 'sessions', column: 'session_id' },
      plots: { kind: 'hasMany', table: 'plots', column: 'author_id' },
    },
  }),
  plots: define({
    name: 'plots',
    primaryKey: 'id',
    defaultSort: 'created_at',
    columns: {
      id,
      session_id: fk(false),
      author_id: fk(true),
      title: shortText(false),
      summary: longText,
      genre: shortText(true, { maxLength: 100 }),
      status: shortText(false, { maxLength: 32, searchable: false, default: 'draft' }),
      word_count: { type: 'integer', nullable: false, filterable: true, sortable: true },
      is_published: { type: 'boolean', nullable: false, filterable: true, sortable: true },
      metadata: json,
      created_at: createdAt,
      updated_at: updatedAt,
    },
    relations: {
      session: { kind: 'belongsTo', table: 'sessions', column: 'session_id' },
      author: { kind: 'belongsTo', table: 'authors', column: 'author_id' },
    },
  }),
  world_building: define({
    name: 'world_building',
    primaryKey: 'id',
    defaultSort: 'created_at',
    columns: {
      id,
      session_id: fk(false),
      name: shortText(false, { maxLength: 200 }),
      category: shortText(true, { maxLength: 100 }),
      description: longText,
      details: json,
      created_at: createdAt,
      updated_at: updatedAt,
    },
    relations: {
      session: { kind: 'belongsTo', table: 'sessions', column: 'session_id' },
      characters: { kind: 'hasMany', table: 'characters', column: 'world_building_id' },
    },
  }),
  characters: define({
    name: 'characters',
    primaryKey: 'id',
    defaultSort: 'created_at',
    columns: {
      id,
      session_id: fk(false),
      world_building_id: fk(true),
      name: shortText(false, { maxLength: 200 }),
      role: shortText(true, { maxLength: 100 }),
      description: longText,
      traits: json,
      created_at: createdAt,
      updated_at: updatedAt,
    },
    relations: {
      session: { kind: 'belongsTo', table: 'sessions', column: 'session_id' },
      world_building: { kind: 'belongsTo', table: 'world_building', column: 'world_building_id' },
    },
  }),
});

export function isTableName(name: string): name is TableName {
  return (TABLE_NAMES as readonly string[]).includes(name);
}

export function columnNames(table: TableDefinition): string[] {
  return Object.keys(table.columns);
}
