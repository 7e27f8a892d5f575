/**
 * The migration files loader and the SQLite runner: order, one transaction per file, idempotence,
 * checksums, and clear refusals.
 */
import fs from 'node:fs';
import path from 'node:path';

import { expect } from 'chai';
import Database from 'better-sqlite3';

import { MigrationError, loadMigrationFiles, migrationChecksum } from '../../../src/adapters/shared/index.js';
import { applySqliteMigrations } from '../../../src/adapters/sqlite/index.js';
import { findProjectRoot, migrationsDir } from '../../../src/paths.js';
import { makeTempDir, removeDir } from '../../contract/sqlite-fixture.js';

function tables(db: Database.Database): string[] {
  return (
    db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
      name: string;
    }[]
  ).map((r) => r.name);
}

describe('SQLite migrations', () => {
  let dir: string;
  let db: Database.Database;

  beforeEach(() => {
    dir = makeTempDir();
    db = new Database(path.join(dir, 'm.db'));
  });

  afterEach(() => {
    db.close();
    removeDir(dir);
  });

  function write(name: string, sql: string): void {
    fs.mkdirSync(path.join(dir, 'm'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'm', name), sql);
  }

  it('locates the project migrations from compiled code (walks up to package.json)', () => {
    const root = findProjectRoot();
    expect(fs.existsSync(path.join(root, 'package.json'))).to.equal(true);
    expect(migrationsDir('sqlite')).to.equal(path.join(root, 'migrations', 'sqlite'));
    expect(loadMigrationFiles(migrationsDir('sqlite')).map((f) => f.name)).to.include('0001_initial.sql');
    expect(loadMigrationFiles(migrationsDir('postgres')).map((f) => f.name)).to.include('0001_initial.sql');
  });

  it('loads files in numeric order with checksums that ignore CRLF line endings', () => {
    write('0010_ten.sql', 'SELECT 10;');
    write('0002_two.sql', 'SELECT 2;\r\n');
    write('README.md', 'not a migration');
    const files = loadMigrationFiles(path.join(dir, 'm'));
    expect(files.map((f) => [f.version, f.name])).to.deep.equal([
      [2, '0002_two.sql'],
      [10, '0010_ten.sql'],
    ]);
    expect(files[0]!.checksum).to.equal(migrationChecksum('SELECT 2;\n'));
  });

  it('refuses misnamed files, duplicate versions and a missing directory', () => {
    write('0001_a.sql', 'SELECT 1;');
    write('0001_b.sql', 'SELECT 1;');
    expect(() => loadMigrationFiles(path.join(dir, 'm'))).to.throw(MigrationError, /same version number 1/);
    fs.rmSync(path.join(dir, 'm', '0001_b.sql'));
    write('initial.sql', 'SELECT 1;');
    expect(() => loadMigrationFiles(path.join(dir, 'm'))).to.throw(
      MigrationError,
      /not named NNNN_description\.sql/,
    );
    expect(() => loadMigrationFiles(path.join(dir, 'nope'))).to.throw(
      MigrationError,
      /Cannot read the migrations directory/,
    );
  });

  it('applies the real schema once; a second run applies nothing', () => {
    const files = loadMigrationFiles(migrationsDir('sqlite'));
    expect(applySqliteMigrations(db, files).map((m) => m.version)).to.deep.equal([1]);
    expect(applySqliteMigrations(db, files)).to.deep.equal([]);
    expect(tables(db)).to.include.members([
      'users',
      'sessions',
      'authors',
      'plots',
      'world_building',
      'characters',
      'schema_migrations',
    ]);
  });

  it('runs each file in its own transaction: a failing file leaves the earlier ones applied and nothing of itself', () => {
    write('0001_a.sql', 'CREATE TABLE a (x INTEGER);');
    write('0002_b.sql', 'CREATE TABLE b (x INTEGER); INSERT INTO nowhere VALUES (1);');
    const files = loadMigrationFiles(path.join(dir, 'm'));
    expect(() => applySqliteMigrations(db, files, 'test.db')).to.throw(
      MigrationError,
      /0002_b\.sql failed on test\.db; nothing of it was applied: no such table: nowhere/,
    );
    expect(tables(db)).to.deep.equal(['a', 'schema_migrations']);
    expect(db.prepare('SELECT version FROM schema_migrations').all()).to.deep.equal([{ version: 1 }]);
    expect(db.inTransaction).to.equal(false);
  });

  it('refuses to run when an applied file changed, or when the database knows a migration the files do not', () => {
    write('0001_a.sql', 'CREATE TABLE a (x INTEGER);');
    applySqliteMigrations(db, loadMigrationFiles(path.join(dir, 'm')));
    write('0001_a.sql', 'CREATE TABLE a (x INTEGER, y TEXT);');
    write('0002_b.sql', 'CREATE TABLE b (x INTEGER);');
    expect(() => applySqliteMigrations(db, loadMigrationFiles(path.join(dir, 'm')), 'test.db')).to.throw(
      MigrationError,
      /Migration 0001_a\.sql was changed after it was applied to test\.db/,
    );
    expect(tables(db), 'nothing applied after the refusal').to.not.include('b');

    fs.rmSync(path.join(dir, 'm', '0001_a.sql'));
    expect(() => applySqliteMigrations(db, loadMigrationFiles(path.join(dir, 'm')), 'test.db')).to.throw(
      MigrationError,
      /has migration 1 \(0001_a\.sql\) applied, but this build has no such file/,
    );
  });
});
