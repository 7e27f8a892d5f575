/**
 * SQLite adapter lifecycle: start() migrates and warms both pools, stop() checkpoints and is
 * idempotent, use before start / after stop fails loudly, and an edited migration stops start-up.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { expect } from 'chai';
import Database from 'better-sqlite3';

import { SqliteAdapter } from '../../../src/adapters/sqlite/index.js';
import { MigrationError } from '../../../src/adapters/shared/index.js';
import { DatabaseError } from '../../../src/errors/index.js';
import { migrationsDir } from '../../../src/paths.js';
import { TABLES } from '../../../src/schema/tables.js';
import {
  TEST_POOL_SETTINGS,
  createSqliteAdapter,
  makeTempDir,
  removeDir,
} from '../../contract/sqlite-fixture.js';

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  return expect.fail('expected a rejection');
}

function walSize(file: string): number | null {
  return fs.existsSync(`${file}-wal`) ? fs.statSync(`${file}-wal`).size : null;
}

describe('SQLite adapter lifecycle', function () {
  this.timeout(60_000);

  for (const mode of ['worker', 'inline'] as const) {
    describe(`${mode} mode`, () => {
      it('start() creates the file, applies the migrations and warms both pools to min', async () => {
        const subject = await createSqliteAdapter(mode, { readers: { min: 2, max: 4 } });
        try {
          expect(fs.existsSync(subject.path)).to.equal(true);
          expect(subject.adapter.appliedMigrations.map((m) => m.name)).to.deep.equal(['0001_initial.sql']);
          expect(subject.adapter.readerPool.snapshot()).to.include({
            total: 2,
            idle: 2,
            used: 0,
            min: 2,
            max: 4,
          });
          expect(subject.adapter.writerPool.snapshot()).to.include({ total: 1, idle: 1, min: 1, max: 1 });
          // Warm-up connections count as neither hit nor miss.
          expect(subject.adapter.readerPool.stats()).to.include({ hits: 0, misses: 0 });
          await subject.adapter.start(); // idempotent
          expect(subject.adapter.readerPool.snapshot().total).to.equal(2);
        } finally {
          await subject.cleanup();
        }
      });

      it('stop() checkpoints the WAL (empty or gone afterwards), keeps the data, and is idempotent', async () => {
        const subject = await createSqliteAdapter(mode);
        try {
          const rows = Array.from({ length: 500 }, (_, i) => ({
            email: `${randomUUID()}@x.test`,
            display_name: `n${i}`,
          }));
          await subject.adapter.insertMany(TABLES.users, rows);
          expect(walSize(subject.path), 'WAL while running').to.be.greaterThan(0);
          const first = subject.adapter.stop();
          const second = subject.adapter.stop();
          expect(second).to.equal(first);
          await first;
          await subject.adapter.stop();
          const wal = walSize(subject.path);
          expect(wal === null || wal === 0, `WAL size after stop: ${wal}`).to.equal(true);
          expect(subject.adapter.readerPool.snapshot().total).to.equal(0);
          expect(subject.adapter.writerPool.snapshot().total).to.equal(0);
          // Everything is in the main database file.
          const db = new Database(subject.path, { readonly: true });
          try {
            expect(db.prepare('SELECT count(*) AS n FROM users').get()).to.deep.equal({ n: 500 });
          } finally {
            db.close();
          }
        } finally {
          await subject.cleanup();
        }
      });

      it('fails loudly when used before start() or after stop(); start() after stop() is refused', async () => {
        const subject = await createSqliteAdapter(mode, { start: false });
        try {
          const before = await rejectionOf(subject.adapter.count(TABLES.users, []));
          expect(before).to.be.instanceOf(DatabaseError);
          expect((before as DatabaseError).code).to.equal('DB_UNAVAILABLE');
          expect((await subject.adapter.healthCheck()).healthy).to.equal(false);
          await subject.adapter.start();
          await subject.adapter.stop();
          const after = await rejectionOf(subject.adapter.getById(TABLES.users, randomUUID()));
          expect((after as DatabaseError).code).to.equal('DB_POOL_CLOSED');
          const restart = await rejectionOf(subject.adapter.start());
          expect((restart as DatabaseError).code).to.equal('DB_POOL_CLOSED');
          const health = await subject.adapter.healthCheck();
          expect(health.healthy).to.equal(false);
          expect(health.error).to.match(/stopped/);
        } finally {
          await subject.cleanup();
        }
      });

      it('stop() before start() is harmless', async () => {
        const subject = await createSqliteAdapter(mode, { start: false });
        await subject.adapter.stop();
        await subject.cleanup();
      });
    });
  }

  it('worker mode: stop() does not hang on a query still running past the grace period', async () => {
    const subject = await createSqliteAdapter('worker', {
      readers: { min: 1, max: 1 },
      pool: { ...TEST_POOL_SETTINGS, shutdownGraceMs: 100 },
    });
    try {
      // Far longer than the grace period (seconds), yet bounded: a statement cannot be interrupted, so
      // the worker runs it to the end and would hold up the process exit of the whole test run.
      const slow = subject.adapter.readerPool.withConnection((c) =>
        c.get(
          'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1e7) SELECT sum(x) FROM c',
        ),
      );
      const outcome = slow.then(
        () => 'resolved',
        (e: unknown) => e,
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      const started = Date.now();
      await subject.adapter.stop();
      expect(Date.now() - started, 'stop() duration (ms)').to.be.below(2_500);
      const err = await outcome;
      expect(err).to.be.instanceOf(DatabaseError);
      expect((err as DatabaseError).code).to.equal('DB_UNAVAILABLE');
    } finally {
      await subject.cleanup();
    }
  });

  describe('migrations at start-up', () => {
    let dir: string;
    let migrations: string;

    beforeEach(() => {
      dir = makeTempDir();
      migrations = path.join(dir, 'migrations');
      fs.mkdirSync(migrations);
      fs.copyFileSync(
        path.join(migrationsDir('sqlite'), '0001_initial.sql'),
        path.join(migrations, '0001_initial.sql'),
      );
    });

    afterEach(() => removeDir(dir));

    function adapterOn(file: string): SqliteAdapter {
      return new SqliteAdapter({
        path: file,
        mode: 'inline',
        readers: { min: 1, max: 1 },
        pool: TEST_POOL_SETTINGS,
        busyTimeoutMs: 1_000,
        migrationsDir: migrations,
      });
    }

    it('a second start on the same file applies nothing; a new file is applied on the next start', async () => {
      const file = path.join(dir, 'db.sqlite');
      const first = adapterOn(file);
      await first.start();
      expect(first.appliedMigrations.map((m) => m.version)).to.deep.equal([1]);
      await first.stop();

      fs.writeFileSync(
        path.join(migrations, '0002_notes.sql'),
        'CREATE TABLE notes (id TEXT PRIMARY KEY) STRICT;\n',
      );
      const second = adapterOn(file);
      await second.start();
      expect(second.appliedMigrations.map((m) => m.name)).to.deep.equal(['0002_notes.sql']);
      await second.stop();

      const third = adapterOn(file);
      await third.start();
      expect(third.appliedMigrations).to.deep.equal([]);
      await third.stop();

      const db = new Database(file, { readonly: true });
      try {
        const recorded = db
          .prepare('SELECT version, name, applied_at, checksum FROM schema_migrations ORDER BY version')
          .all();
        expect(recorded.map((r) => (r as { name: string }).name)).to.deep.equal([
          '0001_initial.sql',
          '0002_notes.sql',
        ]);
        for (const r of recorded as { applied_at: string; checksum: string }[]) {
          expect(r.applied_at).to.match(/^\d{4}-\d{2}-\d{2}T/);
          expect(r.checksum).to.match(/^[0-9a-f]{64}$/);
        }
      } finally {
        db.close();
      }
    });

    it('refuses to start when an applied migration was edited, with a message saying what to do', async () => {
      const file = path.join(dir, 'db.sqlite');
      const first = adapterOn(file);
      await first.start();
      await first.stop();
      fs.appendFileSync(path.join(migrations, '0001_initial.sql'), '\n-- an innocent-looking edit\n');
      const second = adapterOn(file);
      try {
        const err = await rejectionOf(second.start());
        expect(err).to.be.instanceOf(MigrationError);
        expect((err as MigrationError).code).to.equal('INTERNAL');
        expect((err as Error).message).to.match(/0001_initial\.sql was changed after it was applied/);
        expect((err as Error).message).to.match(/new, higher-numbered migration/);
      } finally {
        await second.stop();
      }
    });
  });
});
