/**
 * SQLite faults, provoked for real and observed through the HTTP API (responses, stored state,
 * metrics), with `/health/live` answering throughout:
 *
 * - another process holding the write lock: briefly (the write waits and succeeds) and past
 *   SQLITE_BUSY_TIMEOUT_MS (503 DB_BUSY within the busy timeout; the event loop never stalls, reads
 *   keep being served);
 * - a read-only database: the service runs as an unprivileged user (uid 65534 when the suite runs
 *   as root, since root writes through file modes) on a 0444 file: reads served, every write 503
 *   DB_READ_ONLY, the file unchanged;
 * - a missing directory: start-up fails with DB_CANNOT_OPEN naming the path, readiness 503 with the
 *   reason, liveness 200, nothing created; start succeeds once the directory exists;
 * - a file that is not a database (the real entry point as a child process): liveness up,
 *   readiness 503, one error log line, no crash loop, the file untouched;
 * - each SQLite error class through the API with its status, and no failed batch leaving part of
 *   itself behind (unique and foreign-key violations at row k, a full database, a missing id, a
 *   damaged table, a table dropped behind the service's back);
 * - WAL growth under steady writes with a long reader: bounded again once the reader is gone
 *   (`journal_size_limit`);
 * - `kill -9` during writes (a child process, real SIGKILL), then a restart: quick_check ok, every
 *   acknowledged write present, no batch half-present.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import type { Row } from '../../src/adapters/contract.js';
import { SqliteAdapter, type WorkerConnection } from '../../src/adapters/sqlite/index.js';
import { TABLES } from '../../src/schema/tables.js';
import { TEST_POOL_SETTINGS } from '../contract/sqlite-fixture.js';
import { parseExposition, sumOf } from '../support/metrics-text.js';
import { Fixtures, expectApiError, missingId, uniqueTag } from '../support/fixtures.js';
import { startTestService, type TestResponse, type TestService } from '../support/service.js';
import {
  FAULT_ENV,
  LivenessWatch,
  call,
  countWhere,
  holdWriteLock,
  httpCount,
  idleConnections,
  metric,
  sleep,
  spawnService,
  sqliteOf,
  waitUntil,
  type ChildService,
} from './support.js';

const tempDir = (prefix: string): string => fs.mkdtempSync(path.join(os.tmpdir(), prefix));

/** Plot rows with `summaryBytes` of text each, titled `${tag} ${i}`. */
function plots(sessionId: unknown, tag: string, n: number, summaryBytes = 100): Row[] {
  return Array.from({ length: n }, (_, i) => ({
    session_id: sessionId,
    title: `${tag} ${i}`,
    summary: 's'.repeat(summaryBytes),
  }));
}

async function timed(
  service: TestService,
  method: string,
  pathname: string,
  body?: unknown,
): Promise<TestResponse & { ms: number }> {
  const started = performance.now();
  const res = await service.request(method, pathname, body);
  return { ...res, ms: performance.now() - started };
}

describe('faults: SQLite', function () {
  this.timeout(60_000);

  describe('another process holds the write lock', function () {
    let service: TestService;
    let sessionId: string;

    before(async function () {
      service = await startTestService({ env: { ...FAULT_ENV, SQLITE_BUSY_TIMEOUT_MS: '600' } });
      sessionId = String((await new Fixtures(service).session()).id);
    });

    after(async function () {
      await service?.stop();
    });

    it('for 200 ms (shorter than the busy timeout): the writes wait for it and succeed', async function () {
      const watch = new LivenessWatch(service.url);
      const tag = uniqueTag('short');
      const lock = await holdWriteLock(service.config.sqlite.path, 200);
      const lockedAt = performance.now();
      const [one, batch] = await Promise.all([
        timed(service, 'POST', '/api/plots', { session_id: sessionId, title: `${tag} one` }),
        timed(service, 'POST', '/api/plots/batch', { items: plots(sessionId, tag, 50) }),
      ]);
      const releasedAt = await lock.released;
      expect(one.status, one.text).to.equal(201);
      expect(batch.status, batch.text).to.equal(201);
      // They finished after the other process let go, i.e. they waited for it rather than failing.
      expect(lockedAt + Math.max(one.ms, batch.ms), 'the writes waited for the lock').to.be.at.least(
        lockedAt + 150,
      );
      expect(releasedAt - lockedAt).to.be.at.least(190);
      expect(await countWhere(service, 'plots', 'session_id', sessionId)).to.equal(51);
      expect(
        await service.container.adapter.getById(TABLES.plots, String((one.body as Row).id)),
      ).to.deep.equal(one.body);
      expect(
        await metric(service, 'db_client_operation_duration_seconds_count', {
          collection: 'plots',
          outcome: 'error',
        }),
      ).to.equal(0);
      await watch.stop();
    });

    it('for 3 s (past the 600 ms busy timeout), on the real process: 503 DB_BUSY within the busy timeout, nothing stored, reads served, the service’s event-loop p99 < 50 ms', async function () {
      // The service in its own process, so that its event loop carries only its own work (the
      // client's requests and parsing run here); its loop delay is read from its metrics API.
      const dir = tempDir('bw-lock-');
      const child = await spawnService({
        SQLITE_DB_PATH: path.join(dir, 'lock.db'),
        SQLITE_BUSY_TIMEOUT_MS: '600',
      });
      try {
        await child.log.waitFor(/service ready/, 20_000);
        const { url } = child;
        const user = await call(`${url}/api/users`, 'POST', {
          email: `${uniqueTag('l')}@example.test`,
          display_name: 'L',
        });
        const session = await call(`${url}/api/sessions`, 'POST', { user_id: user.body.id, title: 'lock' });
        const sid = String(session.body.id);
        const stored = async (): Promise<number> =>
          Number((await call(`${url}/api/plots?session_id=eq.${sid}&limit=1`, 'GET')).body.total_count);
        const tag = uniqueTag('long');
        const lock = await holdWriteLock(path.join(dir, 'lock.db'), 3000);
        expect((await call(`${url}/metrics/database/pool/reset`, 'POST')).status).to.equal(200);
        let reads = 0;
        let readFailures = 0;
        let lives = 0;
        let reading = true;
        const reader = (async () => {
          while (reading) {
            const r = await call(`${url}/api/plots?session_id=eq.${sid}&limit=5`, 'GET');
            if (r.status === 200) reads++;
            else readFailures++;
            if ((await call(`${url}/health/live`, 'GET')).status === 200) lives++;
            await sleep(10);
          }
        })();
        const timedCall = async (
          pathname: string,
          body: unknown,
        ): Promise<{ status: number; code?: string; retryAfter: string | null; ms: number }> => {
          const started = performance.now();
          const r = await call(`${url}${pathname}`, 'POST', body);
          return {
            status: r.status,
            code: r.body.error?.code,
            retryAfter: r.headers.get('retry-after'),
            ms: performance.now() - started,
          };
        };
        let one: Awaited<ReturnType<typeof timedCall>>;
        let batch: Awaited<ReturnType<typeof timedCall>>;
        try {
          one = await timedCall('/api/plots', { session_id: sid, title: `${tag} one` });
          batch = await timedCall('/api/plots/batch', { items: plots(sid, tag, 100) });
        } finally {
          reading = false;
          await reader;
        }
        const summary = (await call(`${url}/metrics/performance/summary`, 'GET')).body as unknown as {
          event_loop: { p99_ms: number; max_ms: number };
        };
        for (const r of [one, batch]) {
          expect(r).to.include({ status: 503, code: 'DB_BUSY', retryAfter: '1' });
          // The busy timeout bounds the wait (plus the request's own cost on a loaded machine).
          expect(r.ms, 'time to DB_BUSY (ms)').to.be.within(550, 600 + 900);
        }
        expect(reads, 'reads served during the lock').to.be.greaterThan(5);
        expect(readFailures).to.equal(0);
        expect(lives).to.equal(reads + readFailures);
        const { p99_ms: p99, max_ms: max } = summary.event_loop;
        expect(
          p99,
          'the service’s event-loop delay p99 during the lock (ms, 10 ms sampling interval included)',
        ).to.be.below(50);
        expect(await stored(), 'nothing of the refused writes stored').to.equal(0);
        const scrape = parseExposition(
          await fetch(`${url}/metrics`, { headers: { accept: 'text/plain' } }).then((r) => r.text()),
        );
        expect(
          sumOf(scrape, 'db_client_operation_duration_seconds_count', {
            collection: 'plots',
            outcome: 'error',
          }),
        ).to.equal(2);

        await lock.released;
        const after = await call(`${url}/api/plots/batch`, 'POST', { items: plots(sid, tag, 10) });
        expect(after.status).to.equal(201);
        expect(await stored()).to.equal(10);
        this.test!.title += ` [p99 ${p99.toFixed(1)} ms, max ${max.toFixed(1)} ms, ${reads} reads served]`;
      } finally {
        child.kill();
        await child.exited;
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('a read-only database file', function () {
    const asRoot = process.getuid?.() === 0;
    let dir: string;
    let file: string;
    let child: ChildService | undefined;
    let userId: string;

    before(async function () {
      dir = tempDir('bw-ro-');
      file = path.join(dir, 'ro.db');
      // A migrated database with one user, closed cleanly (WAL checkpointed and removed).
      const adapter = new SqliteAdapter({
        path: file,
        mode: 'inline',
        readers: { min: 0, max: 1 },
        pool: TEST_POOL_SETTINGS,
        busyTimeoutMs: 100,
      });
      await adapter.start();
      userId = String(
        (
          await adapter.insertOne(TABLES.users, {
            email: `${uniqueTag('ro')}@example.test`,
            display_name: 'RO',
          })
        ).id,
      );
      await adapter.stop();
      for (const suffix of ['-wal', '-shm']) fs.rmSync(file + suffix, { force: true });
      fs.chmodSync(file, 0o444);
      // Root writes through 0444; an unprivileged user does not. It owns the directory, so SQLite can
      // create its -shm/-wal files next to the file, as on a real deployment with a read-only file.
      if (asRoot) fs.chownSync(dir, 65534, 65534);
    });

    after(async function () {
      child?.kill();
      await child?.exited;
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it(`reads served, every write 503 DB_READ_ONLY, the file unchanged (service runs as ${process.getuid?.() === 0 ? 'uid 65534' : 'the current user'})`, async function () {
      const digest = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
      child = await spawnService({ SQLITE_DB_PATH: file }, asRoot ? { uid: 65534, gid: 65534 } : {});
      await child.log.waitFor(/service ready/, 20_000);
      const { url } = child;
      expect((await call(`${url}/health/ready`, 'GET')).status).to.equal(200);

      const read = await call(`${url}/api/users/${userId}`, 'GET');
      expect(read.status).to.equal(200);
      expect(read.body.id).to.equal(userId);
      const attempts = [
        await call(`${url}/api/users`, 'POST', {
          email: `${uniqueTag('w')}@example.test`,
          display_name: 'W',
        }),
        await call(`${url}/api/users/batch`, 'POST', {
          items: [{ email: `${uniqueTag('b')}@example.test`, display_name: 'B' }],
        }),
        await call(`${url}/api/users/${userId}`, 'PATCH', { display_name: 'changed' }),
        await call(`${url}/api/users/${userId}`, 'DELETE'),
      ];
      for (const r of attempts) {
        expect(r.status, JSON.stringify(r.body)).to.equal(503);
        expect(r.body.error?.code).to.equal('DB_READ_ONLY');
        expect(r.body.error?.message).to.match(/refuses writes/);
        expect(r.body.error?.message, 'no path in a response').not.to.include(dir);
      }
      expect((await call(`${url}/api/users/${userId}`, 'GET')).body.display_name).to.equal('RO');
      expect((await call(`${url}/health/live`, 'GET')).status).to.equal(200);
      const scrape = parseExposition(
        await fetch(`${url}/metrics`, { headers: { accept: 'text/plain' } }).then((r) => r.text()),
      );
      expect(
        sumOf(scrape, 'http_server_request_duration_seconds_count', { http_response_status_code: '503' }),
      ).to.equal(4);
      expect(
        sumOf(scrape, 'db_client_operation_duration_seconds_count', {
          collection: 'users',
          outcome: 'error',
        }),
      ).to.equal(4);

      child.child.kill('SIGTERM');
      expect((await child.exited).code).to.equal(0);
      expect(
        createHash('sha256').update(fs.readFileSync(file)).digest('hex'),
        'the file is byte-for-byte unchanged',
      ).to.equal(digest);
      const db = new Database(file, { readonly: true });
      try {
        expect(db.prepare('SELECT count(*) AS n FROM users').get()).to.deep.equal({ n: 1 });
      } finally {
        db.close();
      }
    });
  });

  describe('a missing directory', function () {
    let service: TestService;
    let missingDir: string;

    before(async function () {
      service = await startTestService({
        env: { ...FAULT_ENV, SQLITE_DB_PATH: path.join('data', 'nested', 'db.sqlite') },
        start: false,
      });
      missingDir = path.dirname(service.config.sqlite.path);
    });

    after(async function () {
      await service?.stop();
    });

    it('start fails with DB_CANNOT_OPEN naming the path; readiness 503 with the reason, liveness 200, API 503; starts once the directory exists', async function () {
      const err = await service.container.start().then(
        () => null,
        (e: unknown) => e as Error & { code?: string },
      );
      expect(err?.code).to.equal('DB_CANNOT_OPEN');
      expect(err!.message).to.include(service.config.sqlite.path);
      expect(err!.message).to.include(`the directory ${missingDir} does not exist`);
      expect(fs.existsSync(missingDir), 'nothing created').to.equal(false);

      expect((await service.request('GET', '/health/live')).status).to.equal(200);
      const ready = await service.request('GET', '/health/ready');
      expect(ready.status).to.equal(503);
      expect((ready.body as { reason: string }).reason).to.equal(err!.message);
      const api = await service.request('GET', `/api/users/${missingId()}`);
      expectApiError(api, 503, 'DB_UNAVAILABLE');
      expect(api.text).not.to.include(missingDir);

      fs.mkdirSync(missingDir, { recursive: true });
      await service.container.start();
      expect((await service.request('GET', '/health/ready')).status).to.equal(200);
      const user = await new Fixtures(service).user();
      expect(await service.container.adapter.getById(TABLES.users, String(user.id))).to.deep.equal(user);
    });
  });

  describe('a file that is not a database, at start (the real process)', function () {
    let dir: string;
    let child: ChildService | undefined;

    before(function () {
      dir = tempDir('bw-notadb-');
    });

    after(async function () {
      child?.kill();
      await child?.exited;
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('stays up: liveness 200, readiness 503 naming the file, one error log line, no crash loop, the file untouched', async function () {
      const file = path.join(dir, 'notes.db');
      fs.writeFileSync(file, randomBytes(64 * 1024));
      const digest = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
      // A short health-check interval: the pools keep retrying in the background, and must stay quiet.
      child = await spawnService({ SQLITE_DB_PATH: file, DB_POOL_HEALTH_CHECK_INTERVAL: '0.3' });
      const failed = await child.log.waitFor(/^database start-up failed/, 20_000);
      const { url, child: proc } = child;
      const pid = proc.pid;

      const ready = await call(`${url}/health/ready`, 'GET');
      expect(ready.status).to.equal(503);
      expect(ready.body.state).to.equal('failed');
      expect(String(ready.body.reason)).to.include(file);
      expect(String(ready.body.reason)).to.match(/damaged or is not an SQLite database/);
      for (let i = 0; i < 10; i++) {
        expect((await call(`${url}/health/live`, 'GET')).status).to.equal(200);
        await sleep(150);
      }
      const api = await call(`${url}/api/users/${missingId()}`, 'GET');
      expect(api.status).to.equal(503);

      expect(proc.exitCode, 'still running').to.equal(null);
      expect(proc.pid).to.equal(pid);
      const errors = child.log.lines.filter((l) => Number(l.level) >= 50);
      expect(errors, JSON.stringify(errors)).to.have.length(1);
      expect(errors[0]).to.equal(failed);
      expect(String(failed.msg)).to.include(file);
      expect((failed.err as { code?: string }).code).to.equal('DB_CORRUPT');
      expect(child.log.lines.filter((l) => /start-up failed/.test(String(l.msg)))).to.have.length(1);
      expect(child.log.stderr).to.equal('');
      expect(
        createHash('sha256').update(fs.readFileSync(file)).digest('hex'),
        'the file was not overwritten',
      ).to.equal(digest);
      expect(fs.existsSync(`${file}-wal`)).to.equal(false);
    });
  });

  describe('each SQLite error class through the API; a failed batch never leaves part of itself behind', function () {
    let service: TestService;
    let fixtures: Fixtures;
    let sessionId: string;

    before(async function () {
      service = await startTestService({
        env: { ...FAULT_ENV, DB_POOL_MIN_CONNECTIONS: '2', DB_POOL_MAX_CONNECTIONS: '2' },
      });
      fixtures = new Fixtures(service);
      sessionId = String((await fixtures.session()).id);
    });

    after(async function () {
      await service?.stop();
    });

    it('SQLITE_CONSTRAINT_UNIQUE → 409 CONFLICT naming the column; at row 57 of a batch → nothing of the batch stored', async function () {
      const existing = await fixtures.user();
      const dup = await service.request('POST', '/api/users', { email: existing.email, display_name: 'dup' });
      const error = expectApiError(dup, 409, 'CONFLICT');
      expect(error.details).to.include({ constraint: 'unique', table: 'users' });
      expect((error.details as { columns: string[] }).columns).to.deep.equal(['email']);
      const tag = uniqueTag('uq');
      const items = Array.from({ length: 100 }, (_, i) => ({
        email: i === 57 ? existing.email : `${tag}-${i}@example.test`,
        display_name: tag,
      }));
      const batch = await service.request('POST', '/api/users/batch', { items });
      expect(expectApiError(batch, 409, 'CONFLICT').details).to.include({ row: 57 });
      expect(await countWhere(service, 'users', 'display_name', tag)).to.equal(0);
      expect(await countWhere(service, 'users', 'email', existing.email)).to.equal(1);
    });

    it('SQLITE_CONSTRAINT_FOREIGNKEY → 409 CONFLICT; at row 300 of a 500-row batch → nothing of the batch stored', async function () {
      const orphan = await service.request('POST', '/api/sessions', {
        user_id: missingId(),
        title: 'orphan',
      });
      expect(expectApiError(orphan, 409, 'CONFLICT').details).to.include({
        constraint: 'foreign_key',
        table: 'sessions',
      });
      const tag = uniqueTag('fk');
      const items = plots(sessionId, tag, 500);
      items[300] = { ...items[300], session_id: missingId() };
      const batch = await service.request('POST', '/api/plots/batch', { items });
      expect(expectApiError(batch, 409, 'CONFLICT').details).to.include({
        constraint: 'foreign_key',
        row: 300,
      });
      expect(
        await service.container.adapter.count(TABLES.plots, [
          { column: 'title', op: 'contains', value: tag },
        ]),
      ).to.equal(0);
    });

    it('SQLITE_FULL (the writer’s max_page_count reached mid-batch) → 507 DB_FULL; nothing of the batch stored; writes resume once there is room', async function () {
      const writer = sqliteOf(service).writerPool;
      const pages = Number(
        Object.values((await writer.withConnection((c) => c.get('PRAGMA page_count')))!)[0],
      );
      await writer.withConnection((c) => c.get(`PRAGMA max_page_count = ${pages + 20}`));
      const tag = uniqueTag('full');
      try {
        const batch = await service.request('POST', '/api/plots/batch', {
          items: plots(sessionId, tag, 300, 2000),
        });
        const error = expectApiError(batch, 507, 'DB_FULL');
        expect(error.message).to.match(/disk .* is full/);
        expect(batch.text).not.to.include(service.dir);
        expect(
          await service.container.adapter.count(TABLES.plots, [
            { column: 'title', op: 'contains', value: tag },
          ]),
        ).to.equal(0);
        const small = await service.request('POST', '/api/plots', {
          session_id: sessionId,
          title: `${tag} small`,
        });
        expect(small.status, 'a small write still fits').to.equal(201);
      } finally {
        await writer.withConnection((c) => c.get('PRAGMA max_page_count = 4294967294'));
      }
      const again = await service.request('POST', '/api/plots/batch', {
        items: plots(sessionId, `${tag}b`, 300, 2000),
      });
      expect(again.status, again.text).to.equal(201);
      expect(
        await service.container.adapter.count(TABLES.plots, [
          { column: 'title', op: 'contains', value: tag },
        ]),
      ).to.equal(301);
    });

    it('a batch update naming one missing id → 404 NOT_FOUND; none of its updates applied', async function () {
      const tag = uniqueTag('upd');
      const created = await fixtures.createMany('plots', plots(sessionId, tag, 20));
      const items = created.map((p, i) => ({
        id: i === 13 ? missingId() : p.id,
        changes: { genre: 'changed' },
      }));
      const res = await service.request('PATCH', '/api/plots/batch', { items });
      expect(expectApiError(res, 404, 'NOT_FOUND').details).to.include({ row: 13 });
      for (const p of created)
        expect((await service.container.adapter.getById(TABLES.plots, String(p.id)))!.genre).to.equal(null);
    });

    it('SQLITE_CORRUPT (a table’s pages damaged on disk) → 500 DB_CORRUPT for that table; other tables still served', async function () {
      const tag = uniqueTag('wb');
      await fixtures.createMany(
        'world_building',
        Array.from({ length: 300 }, (_, i) => ({
          session_id: sessionId,
          name: `${tag} ${i}`,
          description: 'd'.repeat(500),
        })),
      );
      const adapter = sqliteOf(service);
      // Everything into the main file, then damage the table's pages there (as a bad disk would).
      await adapter.writerPool.withConnection((c) => c.get('PRAGMA wal_checkpoint(TRUNCATE)'));
      const { pages, pageSize } = await adapter.readerPool.withConnection(async (c) => ({
        pages: (await c.all("SELECT pageno FROM dbstat WHERE name = 'world_building'")).map((r) =>
          Number(r.pageno),
        ),
        pageSize: Number(Object.values((await c.get('PRAGMA page_size'))!)[0]),
      }));
      expect(pages.length).to.be.greaterThan(10);
      const fd = fs.openSync(service.config.sqlite.path, 'r+');
      try {
        for (const page of pages) fs.writeSync(fd, randomBytes(pageSize), 0, pageSize, (page - 1) * pageSize);
      } finally {
        fs.closeSync(fd);
      }
      // Readers that cached the old pages are replaced by fresh ones (as after a restart).
      await Promise.all(
        ((await idleConnections(adapter.readerPool)) as WorkerConnection[]).map((c) => c.terminate()),
      );

      const res = await service.request('GET', `/api/world_building?session_id=eq.${sessionId}&limit=50`);
      const error = expectApiError(res, 500, 'DB_CORRUPT');
      expect(error.message).to.match(/damaged or is not an SQLite database; restore it from a backup/);
      expect(res.text).not.to.include(service.dir);
      expect((await service.request('GET', `/api/sessions/${sessionId}`)).status).to.equal(200);
      expect((await service.request('GET', '/health/live')).status).to.equal(200);
      expect(await httpCount(service, 500, '/api/world_building')).to.equal(1);
    });

    it('SQLITE_ERROR (a table dropped behind the service’s back) → 500 INTERNAL without the driver’s text', async function () {
      const other = new Database(service.config.sqlite.path);
      try {
        other.pragma('foreign_keys = OFF');
        other.exec('DROP TABLE characters');
      } finally {
        other.close();
      }
      const res = await service.request('GET', '/api/characters?limit=5');
      const error = expectApiError(res, 500, 'INTERNAL');
      expect(error.message).to.equal('Unexpected SQLite error during SELECT on characters (SQLITE_ERROR).');
      expect(res.text).not.to.match(/no such table/i);
      expect((await service.request('GET', `/api/sessions/${sessionId}`)).status).to.equal(200);
    });
  });

  describe('WAL growth under steady writes with a long reader (SQLITE_JOURNAL_SIZE_LIMIT_BYTES = 4 MiB)', function () {
    const LIMIT = 4 * 1024 * 1024;
    let service: TestService;

    before(async function () {
      service = await startTestService({
        env: { ...FAULT_ENV, SQLITE_JOURNAL_SIZE_LIMIT_BYTES: String(LIMIT) },
      });
    });

    after(async function () {
      await service?.stop();
    });

    it('the WAL grows while a reader pins an old snapshot, and is truncated back under the bound once it is released', async function () {
      const sessionId = String((await new Fixtures(service).session()).id);
      const wal = `${service.config.sqlite.path}-wal`;
      const walSize = (): number => (fs.existsSync(wal) ? fs.statSync(wal).size : 0);
      const watch = new LivenessWatch(service.url);
      let written = 0;
      let failures = 0;
      let batchNo = 0;
      const writeFor = async (ms: number, onSample: (bytes: number) => void): Promise<void> => {
        const started = performance.now();
        while (performance.now() - started < ms) {
          const res = await service.request('POST', '/api/plots/batch', {
            items: plots(sessionId, `wal ${batchNo++}`, 20, 100_000),
          });
          if (res.status === 201) written += 20;
          else failures++;
          onSample(walSize());
        }
      };

      // A long reader in another connection: a read transaction left open on an old snapshot.
      const reader = new Database(service.config.sqlite.path, { readonly: true });
      let peak = 0;
      let afterRelease: number[] = [];
      try {
        reader.exec('BEGIN');
        reader.prepare('SELECT count(*) FROM plots').get();
        await writeFor(2500, (bytes) => (peak = Math.max(peak, bytes)));
      } finally {
        reader.exec('COMMIT');
        reader.close();
      }
      // Steady writes go on: the next automatic checkpoint completes and the WAL is rewound and cut.
      await writeFor(400, () => undefined);
      await writeFor(1500, (bytes) => afterRelease.push(bytes));
      afterRelease = afterRelease.filter((b) => b > 0);

      const bound = LIMIT + 2 * 1024 * 1024; // the limit plus one checkpoint interval's overshoot
      expect(failures).to.equal(0);
      expect(peak, 'WAL size while the reader held its snapshot').to.be.greaterThan(2 * bound);
      expect(afterRelease.length).to.be.greaterThan(3);
      expect(Math.max(...afterRelease), 'WAL size after the reader was released').to.be.at.most(bound);
      expect(await countWhere(service, 'plots', 'session_id', sessionId)).to.equal(written);
      await watch.stop();
      this.test!.title += ` [peak ${(peak / 2 ** 20).toFixed(1)} MiB, then ≤ ${(Math.max(...afterRelease) / 2 ** 20).toFixed(1)} MiB]`;
    });
  });

  describe('kill -9 during writes, then a restart (the real process)', function () {
    let dir: string;
    let first: ChildService | undefined;
    let second: ChildService | undefined;

    before(function () {
      dir = tempDir('bw-kill9-');
    });

    after(async function () {
      for (const c of [first, second]) {
        c?.kill();
        await c?.exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('quick_check ok, every acknowledged write present, every unacknowledged batch all-or-nothing', async function () {
      const file = path.join(dir, 'kill9.db');
      first = await spawnService({ SQLITE_DB_PATH: file });
      await first.log.waitFor(/service ready/, 20_000);
      const url = first.url;
      const user = await call(`${url}/api/users`, 'POST', {
        email: `${uniqueTag('k')}@example.test`,
        display_name: 'K',
      });
      const session = await call(`${url}/api/sessions`, 'POST', { user_id: user.body.id, title: 'kill -9' });
      expect(session.status).to.equal(201);
      const sid = session.body.id;

      const acked = new Set<string>();
      const unackedBatches: string[] = [];
      let stop = false;
      const writer = async (w: number): Promise<void> => {
        for (let i = 0; !stop; i++) {
          const tag = `k9 w${w} n${i}`;
          const batch = w % 2 === 0;
          try {
            const res = batch
              ? await call(`${url}/api/plots/batch`, 'POST', { items: plots(sid, tag, 100, 300) })
              : await call(`${url}/api/plots`, 'POST', { session_id: sid, title: `${tag} 0` });
            if (res.status !== 201) throw new Error(`status ${res.status}`);
            const rows = batch ? (res.body.data as Row[]) : [res.body];
            for (const r of rows) acked.add(String(r.id));
          } catch {
            if (batch) unackedBatches.push(tag);
            return;
          }
        }
      };
      const writers = Promise.all(Array.from({ length: 6 }, (_, w) => writer(w)));
      await waitUntil(() => acked.size >= 1000, 20_000, 'writes to be acknowledged');
      first.child.kill('SIGKILL');
      const exit = await first.exited;
      stop = true;
      await writers;
      expect(exit.signal).to.equal('SIGKILL');
      expect(fs.existsSync(`${file}-wal`), 'the WAL was left behind').to.equal(true);

      second = await spawnService({ SQLITE_DB_PATH: file });
      await second.log.waitFor(/service ready/, 20_000);
      const ids = [...acked];
      for (let i = 0; i < ids.length; i += 1000) {
        const res = await call(`${second.url}/api/plots/lookup`, 'POST', { ids: ids.slice(i, i + 1000) });
        expect(res.status).to.equal(200);
        expect(res.body.missing, 'acknowledged writes missing after kill -9').to.deep.equal([]);
      }
      const db = new Database(file, { readonly: true });
      try {
        expect(db.pragma('quick_check', { simple: true })).to.equal('ok');
        for (const tag of unackedBatches) {
          const { n } = db.prepare("SELECT count(*) AS n FROM plots WHERE title LIKE ? || ' %'").get(tag) as {
            n: number;
          };
          expect(n, `rows of the unacknowledged batch "${tag}"`).to.be.oneOf([0, 100]);
        }
        const { n: stored } = db.prepare('SELECT count(*) AS n FROM plots').get() as { n: number };
        expect(stored).to.be.at.least(acked.size);
        this.test!.title += ` [${acked.size} acknowledged rows, ${stored} stored, ${unackedBatches.length} batches in flight]`;
      } finally {
        db.close();
      }
      second.child.kill('SIGTERM');
      expect((await second.exited).code).to.equal(0);
    });
  });
});
