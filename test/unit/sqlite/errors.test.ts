/**
 * SQLite error mapping: every class of driver error becomes an AppError with the right class and
 * stable code. Each class is provoked for real (a locked file, a read-only connection, random
 * bytes, a missing directory, a full database…), in both execution modes where a connection is
 * involved, and the code table is checked exhaustively with synthetic errors.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { expect } from 'chai';
import Database from 'better-sqlite3';

import { mapSqliteError, openConnection } from '../../../src/adapters/sqlite/index.js';
import { MigrationError } from '../../../src/adapters/shared/index.js';
import {
  AppError,
  ConflictError,
  DatabaseError,
  NotFoundError,
  ValidationError,
  type ErrorCode,
} from '../../../src/errors/index.js';
import { TABLES } from '../../../src/schema/tables.js';
import { createSqliteAdapter, makeTempDir, removeDir } from '../../contract/sqlite-fixture.js';

/** The rejection of `promise` (fails the test when it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  return expect.fail('expected a rejection');
}

function expectMapped(
  err: unknown,
  errorClass: abstract new (...args: never[]) => AppError,
  code: ErrorCode,
): AppError {
  expect(err).to.be.instanceOf(errorClass);
  const appError = err as AppError;
  expect(appError.code, appError.message).to.equal(code);
  return appError;
}

/** Runs `fn` on a plain better-sqlite3 connection and returns what it threw, mapped. */
function mappedDriverError(db: Database.Database, fn: (db: Database.Database) => unknown): AppError {
  try {
    fn(db);
  } catch (err) {
    expect((err as { code?: unknown }).code, 'driver error code').to.be.a('string');
    return mapSqliteError(err, { table: TABLES.users, operation: 'INSERT', path: db.name });
  }
  return expect.fail('expected the driver to throw');
}

describe('SQLite error mapping', function () {
  this.timeout(30_000);

  describe('mapSqliteError code table', () => {
    const cases: [string, abstract new (...args: never[]) => AppError, ErrorCode][] = [
      ['SQLITE_CONSTRAINT_UNIQUE', ConflictError, 'CONFLICT'],
      ['SQLITE_CONSTRAINT_PRIMARYKEY', ConflictError, 'CONFLICT'],
      ['SQLITE_CONSTRAINT_FOREIGNKEY', ConflictError, 'CONFLICT'],
      ['SQLITE_CONSTRAINT_NOTNULL', ValidationError, 'VALIDATION_FAILED'],
      ['SQLITE_CONSTRAINT_CHECK', ValidationError, 'VALIDATION_FAILED'],
      ['SQLITE_CONSTRAINT_DATATYPE', ValidationError, 'VALIDATION_FAILED'],
      ['SQLITE_CONSTRAINT', ValidationError, 'VALIDATION_FAILED'],
      ['SQLITE_BUSY', DatabaseError, 'DB_BUSY'],
      ['SQLITE_BUSY_SNAPSHOT', DatabaseError, 'DB_BUSY'],
      ['SQLITE_LOCKED', DatabaseError, 'DB_BUSY'],
      ['SQLITE_LOCKED_SHAREDCACHE', DatabaseError, 'DB_BUSY'],
      ['SQLITE_READONLY', DatabaseError, 'DB_READ_ONLY'],
      ['SQLITE_READONLY_DBMOVED', DatabaseError, 'DB_READ_ONLY'],
      ['SQLITE_FULL', DatabaseError, 'DB_FULL'],
      ['SQLITE_CORRUPT', DatabaseError, 'DB_CORRUPT'],
      ['SQLITE_CORRUPT_INDEX', DatabaseError, 'DB_CORRUPT'],
      ['SQLITE_NOTADB', DatabaseError, 'DB_CORRUPT'],
      ['SQLITE_CANTOPEN', DatabaseError, 'DB_CANNOT_OPEN'],
      ['SQLITE_CANTOPEN_ISDIR', DatabaseError, 'DB_CANNOT_OPEN'],
      ['SQLITE_ERROR', DatabaseError, 'INTERNAL'],
      ['SQLITE_IOERR_WRITE', DatabaseError, 'INTERNAL'],
      ['BW_ROW_NOT_FOUND', NotFoundError, 'NOT_FOUND'],
    ];
    for (const [code, errorClass, expected] of cases) {
      it(`${code} → ${errorClass.name} ${expected}, driver error kept as cause`, () => {
        const driverError = Object.assign(new Error(`synthetic ${code}`), { code });
        const mapped = expectMapped(
          mapSqliteError(driverError, { table: TABLES.plots, operation: 'INSERT' }),
          errorClass,
          expected,
        );
        expect(mapped.cause).to.equal(driverError);
        // Our wording, not the driver's — except CHECK / DATATYPE, whose message quotes the schema rule
        // that failed (the only actionable detail SQLite gives).
        if (!/CHECK|DATATYPE|^SQLITE_CONSTRAINT$/.test(code))
          expect(mapped.message).to.not.include('synthetic');
      });
    }

    it('an error without a code is INTERNAL, and AppErrors pass through unchanged', () => {
      expectMapped(mapSqliteError(new TypeError('boom')), DatabaseError, 'INTERNAL');
      expectMapped(mapSqliteError('a string'), DatabaseError, 'INTERNAL');
      const original = new ConflictError('kept');
      expect(mapSqliteError(original)).to.equal(original);
    });

    it('a MigrationError rebuilt from a worker becomes a MigrationError again', () => {
      const fromWorker = Object.assign(new Error('Migration 0002_x.sql was changed'), {
        name: 'MigrationError',
        code: 'INTERNAL',
      });
      const mapped = mapSqliteError(fromWorker);
      expect(mapped).to.be.instanceOf(MigrationError);
      expect(mapped.message).to.equal('Migration 0002_x.sql was changed');
    });

    it('names the unique columns and the failing batch row', () => {
      const driverError = Object.assign(new Error('UNIQUE constraint failed: users.email'), {
        code: 'SQLITE_CONSTRAINT_UNIQUE',
        rowIndex: 599,
      });
      const mapped = mapSqliteError(driverError, { table: TABLES.users, operation: 'BATCH INSERT' });
      expect(mapped.message).to.equal('A users row with the same email already exists.');
      expect(mapped.details).to.deep.include({
        constraint: 'unique',
        table: 'users',
        columns: ['email'],
        row: 599,
      });
    });

    it('names the foreign-key columns of the table', () => {
      const driverError = Object.assign(new Error('FOREIGN KEY constraint failed'), {
        code: 'SQLITE_CONSTRAINT_FOREIGNKEY',
      });
      const mapped = mapSqliteError(driverError, { table: TABLES.plots, operation: 'INSERT' });
      expect(mapped.message).to.equal(
        'The plots row refers to a row that does not exist (check session_id, author_id).',
      );
    });
  });

  describe('real driver errors (plain better-sqlite3 connection)', () => {
    let dir: string;
    let db: Database.Database;

    beforeEach(() => {
      dir = makeTempDir();
      db = new Database(path.join(dir, 'plain.db'));
      db.exec(
        'CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT UNIQUE, n INTEGER NOT NULL CHECK (n >= 0)) STRICT',
      );
    });

    afterEach(() => {
      db.close();
      removeDir(dir);
    });

    it('UNIQUE, NOT NULL, CHECK, STRICT type', () => {
      db.prepare("INSERT INTO t (email, n) VALUES ('a', 1)").run();
      expectMapped(
        mappedDriverError(db, (d) => d.prepare("INSERT INTO t (email, n) VALUES ('a', 1)").run()),
        ConflictError,
        'CONFLICT',
      );
      expectMapped(
        mappedDriverError(db, (d) => d.prepare("INSERT INTO t (email) VALUES ('b')").run()),
        ValidationError,
        'VALIDATION_FAILED',
      );
      expectMapped(
        mappedDriverError(db, (d) => d.prepare("INSERT INTO t (email, n) VALUES ('c', -1)").run()),
        ValidationError,
        'VALIDATION_FAILED',
      );
      expectMapped(
        mappedDriverError(db, (d) => d.prepare("INSERT INTO t (email, n) VALUES ('d', 'x')").run()),
        ValidationError,
        'VALIDATION_FAILED',
      );
    });

    it('SQLITE_FULL (max_page_count reached) → DB_FULL', () => {
      db.pragma('max_page_count = ' + String(db.pragma('page_count', { simple: true })));
      const insert = db.prepare('INSERT INTO t (email, n) VALUES (?, 1)');
      const mapped = mappedDriverError(db, () => {
        for (let i = 0; i < 10_000; i++) insert.run(randomBytes(64).toString('hex'));
      });
      expectMapped(mapped, DatabaseError, 'DB_FULL');
      expect(mapped.message).to.include(db.name);
    });

    it('SQLITE_CORRUPT (damaged pages) → DB_CORRUPT', () => {
      const insert = db.prepare('INSERT INTO t (email, n) VALUES (?, 1)');
      db.transaction(() => {
        for (let i = 0; i < 2_000; i++) insert.run(randomBytes(32).toString('hex'));
      })();
      db.close();
      // Overwrite everything after the header page with garbage: the file still opens, reading fails.
      const file = path.join(dir, 'plain.db');
      const size = fs.statSync(file).size;
      const fd = fs.openSync(file, 'r+');
      fs.writeSync(fd, randomBytes(size - 4096), 0, size - 4096, 4096);
      fs.closeSync(fd);
      db = new Database(file);
      const mapped = mappedDriverError(db, (d) => d.prepare('SELECT count(*), max(email) FROM t').get());
      expectMapped(mapped, DatabaseError, 'DB_CORRUPT');
    });

    it('a syntax error → INTERNAL (no driver text in the message)', () => {
      const mapped = mappedDriverError(db, (d) => d.prepare('SELEC nonsense').run());
      expectMapped(mapped, DatabaseError, 'INTERNAL');
      expect(mapped.message).to.not.include('nonsense');
    });
  });

  for (const mode of ['worker', 'inline'] as const) {
    describe(`through the adapter (${mode} mode)`, () => {
      it('busy: another connection holds BEGIN IMMEDIATE past the busy timeout → DB_BUSY', async () => {
        const subject = await createSqliteAdapter(mode, { busyTimeoutMs: 100 });
        const other = new Database(subject.path);
        try {
          other.exec('BEGIN IMMEDIATE');
          const started = Date.now();
          const err = await rejectionOf(
            subject.adapter.insertOne(TABLES.users, {
              email: `${randomUUID()}@x.test`,
              display_name: 'busy',
            }),
          );
          const mapped = expectMapped(err, DatabaseError, 'DB_BUSY');
          expect(mapped.retryAfterSeconds).to.equal(1);
          expect(Date.now() - started).to.be.at.least(90);
          other.exec('ROLLBACK');
          // Once the lock is gone the writer works again.
          const row = await subject.adapter.insertOne(TABLES.users, {
            email: `${randomUUID()}@x.test`,
            display_name: 'ok',
          });
          expect(await subject.adapter.getById(TABLES.users, String(row.id))).to.deep.equal(row);
        } finally {
          other.close();
          await subject.cleanup();
        }
      });

      it('read-only: a write on a read-only connection → DB_READ_ONLY', async () => {
        const subject = await createSqliteAdapter(mode);
        try {
          const err = await rejectionOf(
            subject.adapter.readerPool.withConnection((c) =>
              c.run("INSERT INTO users (id, email, display_name) VALUES (?, 'ro@x.test', 'ro')", [
                randomUUID(),
              ]),
            ),
          );
          expectMapped(mapSqliteError(err, { path: subject.path }), DatabaseError, 'DB_READ_ONLY');
        } finally {
          await subject.cleanup();
        }
      });

      it('read-only: a file without write permission → DB_READ_ONLY', async function () {
        if (process.getuid?.() === 0) this.skip(); // root writes through 0444; nothing to observe
        const subject = await createSqliteAdapter(mode);
        await subject.adapter.stop();
        fs.chmodSync(subject.path, 0o444);
        const again = await createSqliteAdapter(mode, { path: subject.path, start: false });
        try {
          const err = await rejectionOf(again.adapter.start());
          expectMapped(err, DatabaseError, 'DB_READ_ONLY');
        } finally {
          await again.cleanup();
          await subject.cleanup();
        }
      });

      it('corrupt: a file of random bytes → start() fails with DB_CORRUPT naming the file', async () => {
        const dir = makeTempDir();
        const file = path.join(dir, 'random.db');
        fs.writeFileSync(file, randomBytes(64 * 1024));
        const subject = await createSqliteAdapter(mode, { path: file, start: false });
        try {
          const err = expectMapped(await rejectionOf(subject.adapter.start()), DatabaseError, 'DB_CORRUPT');
          expect(err.message).to.include(file);
          expect((err.cause as { code?: unknown }).code).to.equal('SQLITE_NOTADB');
        } finally {
          await subject.cleanup();
          removeDir(dir);
        }
      });

      it('cannot open: a missing directory → start() fails with DB_CANNOT_OPEN naming it, creating nothing', async () => {
        const dir = makeTempDir();
        const missing = path.join(dir, 'no', 'such', 'dir');
        const subject = await createSqliteAdapter(mode, { path: path.join(missing, 'x.db'), start: false });
        try {
          const err = expectMapped(
            await rejectionOf(subject.adapter.start()),
            DatabaseError,
            'DB_CANNOT_OPEN',
          );
          expect(err.message).to.include(missing);
          expect(fs.existsSync(path.join(dir, 'no'))).to.equal(false);
          // The cause may be fixed and start() retried.
          fs.mkdirSync(missing, { recursive: true });
          await subject.adapter.start();
          expect((await subject.adapter.healthCheck()).healthy).to.equal(true);
        } finally {
          await subject.cleanup();
          removeDir(dir);
        }
      });

      it('cannot open: a new connection after the directory vanished (driver TypeError, no code) → DB_CANNOT_OPEN', async () => {
        const dir = makeTempDir();
        const file = path.join(dir, 'gone', 'x.db');
        try {
          for (const role of ['reader', 'writer'] as const) {
            const err = await rejectionOf(openConnection(mode, { path: file, role, busyTimeoutMs: 100 }));
            expect((err as Error).name).to.equal('TypeError');
            const mapped = expectMapped(mapSqliteError(err, { path: file }), DatabaseError, 'DB_CANNOT_OPEN');
            expect(mapped.message).to.include(file);
          }
        } finally {
          removeDir(dir);
        }
      });

      it('cannot open: the path is a directory → the connection fails with SQLITE_CANTOPEN → DB_CANNOT_OPEN', async () => {
        const dir = makeTempDir();
        try {
          const err = await rejectionOf(
            openConnection(mode, { path: dir, role: 'writer', busyTimeoutMs: 100 }),
          );
          expect((err as { code?: unknown }).code).to.match(/^SQLITE_CANTOPEN/);
          expectMapped(mapSqliteError(err, { path: dir }), DatabaseError, 'DB_CANNOT_OPEN');
        } finally {
          removeDir(dir);
        }
      });
    });
  }
});
