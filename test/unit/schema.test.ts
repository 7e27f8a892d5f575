/**
 * The SQL migrations create the logical schema of src/schema/tables.ts: every declared table and
 * column exists, with a matching type and nullability, in SQLite (always) and in PostgreSQL (when
 * TEST_DATABASE_URL is set; a throwaway schema is created and dropped).
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';

import { expect } from 'chai';
import Database from 'better-sqlite3';
import pg from 'pg';

import { applyPostgresMigrations } from '../../src/adapters/postgres-migrations.js';
import { loadMigrationFiles } from '../../src/adapters/shared/index.js';
import { applySqliteMigrations } from '../../src/adapters/sqlite/index.js';
import { migrationsDir } from '../../src/paths.js';
import { TABLES, TABLE_NAMES, type ColumnType } from '../../src/schema/tables.js';
import { makeTempDir, removeDir } from '../contract/sqlite-fixture.js';

const SQLITE_TYPES: Record<ColumnType, string> = {
  uuid: 'TEXT',
  text: 'TEXT',
  integer: 'INTEGER',
  boolean: 'INTEGER',
  json: 'TEXT',
  timestamp: 'TEXT',
};

const POSTGRES_TYPES: Record<ColumnType, string> = {
  uuid: 'uuid',
  text: 'text',
  integer: 'integer',
  boolean: 'boolean',
  json: 'jsonb',
  timestamp: 'timestamp with time zone',
};

interface SqliteColumnInfo {
  name: string;
  type: string;
  notnull: number;
  pk: number;
}

describe('schema migrations match src/schema/tables.ts', () => {
  describe('SQLite', () => {
    let dir: string;
    let db: Database.Database;

    before(() => {
      dir = makeTempDir();
      db = new Database(path.join(dir, 'schema.db'));
      applySqliteMigrations(db, loadMigrationFiles(migrationsDir('sqlite')));
    });

    after(() => {
      db.close();
      removeDir(dir);
    });

    for (const name of TABLE_NAMES) {
      it(`${name}: every declared column exists with its type and nullability`, () => {
        const info = db.prepare(`PRAGMA table_info("${name}")`).all() as SqliteColumnInfo[];
        expect(info.length, `table ${name} exists`).to.be.greaterThan(0);
        const byName = new Map(info.map((c) => [c.name, c]));
        for (const [column, def] of Object.entries(TABLES[name].columns)) {
          const actual = byName.get(column);
          expect(actual, `${name}.${column} exists`).to.not.equal(undefined);
          expect(actual!.type, `${name}.${column} type`).to.equal(SQLITE_TYPES[def.type]);
          expect(actual!.notnull === 1 || actual!.pk === 1, `${name}.${column} NOT NULL`).to.equal(
            !def.nullable,
          );
        }
        expect(info.map((c) => c.name).sort(), `${name} has no undeclared columns`).to.deep.equal(
          Object.keys(TABLES[name].columns).sort(),
        );
      });
    }

    it('declares the foreign keys with their ON DELETE actions', () => {
      const fks = (table: string) =>
        (
          db.prepare(`PRAGMA foreign_key_list("${table}")`).all() as {
            table: string;
            from: string;
            on_delete: string;
          }[]
        ).map((f) => `${f.from}->${f.table}:${f.on_delete}`);
      expect(fks('sessions')).to.deep.equal(['user_id->users:CASCADE']);
      expect(fks('plots').sort()).to.deep.equal([
        'author_id->authors:SET NULL',
        'session_id->sessions:CASCADE',
      ]);
      expect(fks('characters').sort()).to.deep.equal([
        'session_id->sessions:CASCADE',
        'world_building_id->world_building:SET NULL',
      ]);
      for (const t of ['authors', 'world_building'])
        expect(fks(t)).to.deep.equal(['session_id->sessions:CASCADE']);
    });

    it('indexes every foreign-key column (as the first column of an index)', () => {
      for (const name of TABLE_NAMES) {
        const fkColumns = Object.values(TABLES[name].relations)
          .filter((r) => r.kind === 'belongsTo')
          .map((r) => r.column);
        const indexes = db.prepare(`PRAGMA index_list("${name}")`).all() as { name: string }[];
        const leading = indexes.map(
          (i) => (db.prepare(`PRAGMA index_info("${i.name}")`).all() as { name: string }[])[0]?.name,
        );
        for (const column of fkColumns) expect(leading, `index on ${name}.${column}`).to.include(column);
      }
    });
  });

  describe('PostgreSQL (TEST_DATABASE_URL)', function () {
    this.timeout(30_000);
    const url = process.env.TEST_DATABASE_URL;
    const schema = `schema_test_${randomBytes(6).toString('hex')}`;
    let client: pg.Client;

    before(async function () {
      if (!url) this.skip();
      client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`create schema "${schema}"`);
    });

    after(async () => {
      if (!client) return;
      try {
        await client.query(`drop schema if exists "${schema}" cascade`);
      } finally {
        await client.end();
      }
    });

    it('the runner applies the migrations once into the given schema and records them', async () => {
      const applied = await applyPostgresMigrations(client, { schema });
      expect(applied.map((m) => m.name)).to.deep.equal(['0001_initial.sql']);
      expect(await applyPostgresMigrations(client, { schema })).to.deep.equal([]);
      const recorded = await client.query(
        `select version, name, checksum from "${schema}".schema_migrations`,
      );
      expect(recorded.rows).to.deep.equal([
        {
          version: 1,
          name: '0001_initial.sql',
          checksum: loadMigrationFiles(migrationsDir('postgres'))[0]!.checksum,
        },
      ]);
      // The session's own search_path was not changed.
      const searchPath = await client.query('show search_path');
      expect(String(searchPath.rows[0]?.search_path)).to.not.include(schema);
    });

    it('every declared column exists with its type and nullability', async () => {
      const result = await client.query<{
        table_name: string;
        column_name: string;
        data_type: string;
        is_nullable: string;
      }>(
        'select table_name, column_name, data_type, is_nullable from information_schema.columns where table_schema = $1',
        [schema],
      );
      for (const name of TABLE_NAMES) {
        const columns = result.rows.filter((r) => r.table_name === name);
        expect(columns.length, `table ${name} exists`).to.be.greaterThan(0);
        for (const [column, def] of Object.entries(TABLES[name].columns)) {
          const actual = columns.find((c) => c.column_name === column);
          expect(actual, `${name}.${column} exists`).to.not.equal(undefined);
          expect(actual!.data_type, `${name}.${column} type`).to.equal(POSTGRES_TYPES[def.type]);
          expect(actual!.is_nullable, `${name}.${column} nullability`).to.equal(def.nullable ? 'YES' : 'NO');
        }
        expect(columns.map((c) => c.column_name).sort()).to.deep.equal(
          Object.keys(TABLES[name].columns).sort(),
        );
      }
    });

    it('refuses to run when an applied migration changed', async () => {
      const files = loadMigrationFiles(migrationsDir('postgres')).map((f) => ({ ...f, checksum: 'edited' }));
      let error: unknown;
      try {
        await applyPostgresMigrations(client, { schema, files });
      } catch (err) {
        error = err;
      }
      expect(error).to.be.instanceOf(Error);
      expect((error as Error).message).to.match(/0001_initial\.sql was changed after it was applied/);
      // The failed run left no transaction open on the client.
      await client.query('select 1');
    });
  });
});
