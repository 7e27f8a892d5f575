/**
 * Pool faults, through the HTTP API of the real service (in-process; real SQLite file, real worker
 * threads). Each test asserts the responses, the stored state and the pool's metrics, and that
 * `/health/live` answered throughout.
 *
 * - exhaustion: shed at once with 503 DB_POOL_SATURATED + Retry-After past the wait-queue bound,
 *   waiters get 503 DB_POOL_TIMEOUT + Retry-After or are served; pending never exceeds
 *   DB_POOL_MAX_WAITING_REQUESTS (sampled from /metrics/database/pool during the burst);
 * - connection creation failing then healing, and always failing: 503 DB_UNAVAILABLE, nothing left
 *   pending, no retry loop outliving the requests (the adapter's `openConnection` seam points new
 *   readers at a path that does not exist: the real driver fails in a real worker);
 * - a connection broken behind the pool's back (its worker thread terminated): found on lending or
 *   by the health monitor, replaced, zero failed requests;
 * - max-lifetime rotation under constant load: connections recycled, zero request errors.
 *
 * Double release and releasing a foreign object are refused by the pool itself; the service has no
 * path that could do either (withConnection is the only acquire/release site), so that proof stays
 * at unit level: test/unit/pool/registry.test.ts and randomized.test.ts.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { expect } from 'chai';
import type { Row } from '../../src/adapters/contract.js';
import { SqliteAdapter, openConnection, type WorkerConnection } from '../../src/adapters/sqlite/index.js';
import { sqliteAdapterOptions } from '../../src/container.js';
import { TABLES } from '../../src/schema/tables.js';
import { Fixtures, expectApiError, uniqueTag } from '../support/fixtures.js';
import { startTestService, type TestResponse, type TestService } from '../support/service.js';
import {
  FAULT_ENV,
  LivenessWatch,
  countWhere,
  holdConnections,
  httpCount,
  idleConnections,
  metric,
  poolReport,
  sleep,
  sqliteOf,
  waitUntil,
} from './support.js';

interface Timed extends TestResponse {
  readonly startedAt: number;
  readonly endedAt: number;
}

async function timedRequest(
  service: TestService,
  method: string,
  pathname: string,
  body?: unknown,
): Promise<Timed> {
  const startedAt = performance.now();
  const res = await service.request(method, pathname, body);
  return { ...res, startedAt, endedAt: performance.now() };
}

const codeOf = (res: TestResponse): string | undefined =>
  (res.body as { error?: { code?: string } } | undefined)?.error?.code;

/** Samples a pool's `pending_requests` from the JSON API until stopped; the largest value seen. */
function samplePending(
  service: TestService,
  pool: string,
): { stop(): Promise<{ max: number; samples: number }> } {
  let running = true;
  let max = 0;
  let samples = 0;
  const loop = (async () => {
    while (running) {
      max = Math.max(max, Number((await poolReport(service, pool)).pending_requests));
      samples++;
      await sleep(5);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { max, samples };
    },
  };
}

/**
 * A service whose readers open through a seam: while `failing` is set, a new reader opens a path
 * that does not exist, so better-sqlite3 fails with SQLITE_CANTOPEN in the worker, as it would if
 * the file vanished or became unreadable.
 */
async function serviceWithFailingReaders(
  env: Record<string, string>,
): Promise<{ service: TestService; fail(on: boolean): void; missing: string }> {
  let failing = false;
  let missing = '';
  const service = await startTestService({
    env: { ...FAULT_ENV, ...env },
    containerOptions: {
      adapter: (config, wiring) => {
        missing = path.join(path.dirname(config.sqlite.path), 'gone', 'test.db');
        return new SqliteAdapter({
          ...sqliteAdapterOptions(config, wiring),
          openConnection: (mode, options) =>
            openConnection(
              mode,
              failing && options.role === 'reader' ? { ...options, path: missing } : options,
            ),
        });
      },
    },
  });
  return {
    service,
    fail: (on) => {
      failing = on;
    },
    missing,
  };
}

describe('faults: the connection pool', function () {
  this.timeout(30_000);

  describe('exhaustion (2 readers, 1 writer, at most 5 waiting, 2 s acquire timeout)', function () {
    let service: TestService;
    let user: Row;

    before(async function () {
      service = await startTestService({
        env: {
          ...FAULT_ENV,
          DB_POOL_MIN_CONNECTIONS: '2',
          DB_POOL_MAX_CONNECTIONS: '2',
          DB_POOL_MAX_WAITING_REQUESTS: '5',
          DB_POOL_CONNECTION_TIMEOUT: '2',
        },
      });
      user = await new Fixtures(service).user();
    });

    after(async function () {
      await service?.stop();
    });

    it('a burst of 40 reads on a busy pool: 35 shed at once (DB_POOL_SATURATED), 5 wait and time out (DB_POOL_TIMEOUT), all with Retry-After; pending never above 5', async function () {
      const readers = sqliteOf(service).readerPool;
      const watch = new LivenessWatch(service.url);
      await service.request('POST', '/metrics/database/pool/reset');
      const rejectedBefore = await metric(service, 'db_client_connection_acquires_total', {
        pool: 'sqlite-read',
        outcome: 'rejected',
      });
      const timeoutsBefore = await metric(service, 'db_client_connection_acquires_total', {
        pool: 'sqlite-read',
        outcome: 'timeout',
      });
      const fast503Before = await metric(service, 'http_server_request_duration_seconds_bucket', {
        http_route: '/api/users/:id',
        http_response_status_code: '503',
        le: '0.5',
      });
      const held = await holdConnections(readers, 2);
      const pending = samplePending(service, 'sqlite-read');
      let responses: Timed[];
      try {
        responses = await Promise.all(
          Array.from({ length: 40 }, () => timedRequest(service, 'GET', `/api/users/${String(user.id)}`)),
        );
      } finally {
        await held.release();
      }
      const sampled = await pending.stop();

      const saturated = responses.filter((r) => codeOf(r) === 'DB_POOL_SATURATED');
      const timedOut = responses.filter((r) => codeOf(r) === 'DB_POOL_TIMEOUT');
      // 5 wait, the rest is shed; on a slow machine, requests arriving after the first waiters timed
      // out (2 s) may queue in their place.
      expect(saturated.length + timedOut.length, 'every request refused').to.equal(40);
      expect(timedOut.length, 'timed out').to.be.at.least(5);
      expect(saturated.length, 'shed').to.be.at.least(25);
      for (const r of saturated) {
        expectApiError(r, 503, 'DB_POOL_SATURATED');
        expect(r.headers.get('retry-after')).to.equal('1');
      }
      // Seen from the server: each shed request was answered well within the 2 s acquire timeout it
      // did not wait for (0.5 s: the margin is for a loaded machine; typically a few ms).
      const fast = await metric(service, 'http_server_request_duration_seconds_bucket', {
        http_route: '/api/users/:id',
        http_response_status_code: '503',
        le: '0.5',
      });
      expect(fast - fast503Before, '503s answered within 0.5 s').to.equal(saturated.length);
      for (const r of timedOut) {
        expectApiError(r, 503, 'DB_POOL_TIMEOUT');
        expect(r.headers.get('retry-after')).to.equal('1');
        expect(r.endedAt - r.startedAt).to.be.within(1950, 5000);
      }
      expect(sampled.samples, 'pending samples').to.be.greaterThan(10);
      expect(sampled.max, 'largest pending seen').to.equal(5);

      const report = await poolReport(service, 'sqlite-read');
      expect(report).to.include({
        rejected: saturated.length,
        timeouts: timedOut.length,
        pending_requests: 0,
        active_connections: 0,
      });
      expect(
        await metric(service, 'db_client_connection_acquires_total', {
          pool: 'sqlite-read',
          outcome: 'rejected',
        }),
      ).to.equal(rejectedBefore + saturated.length);
      expect(
        await metric(service, 'db_client_connection_acquires_total', {
          pool: 'sqlite-read',
          outcome: 'timeout',
        }),
      ).to.equal(timeoutsBefore + timedOut.length);
      // Served again at once.
      expect((await service.request('GET', `/api/users/${String(user.id)}`)).status).to.equal(200);
      await watch.stop();
    });

    it('a burst of 20 writes on a busy writer: 15 shed, the 5 waiters served once it frees up; exactly those 5 rows stored', async function () {
      const writer = sqliteOf(service).writerPool;
      const watch = new LivenessWatch(service.url);
      const tag = uniqueTag('sat');
      const rejectedBefore = writer.stats().rejected;
      const held = await holdConnections(writer, 1);
      const pending = samplePending(service, 'sqlite-write');
      const burst = Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          timedRequest(service, 'POST', '/api/users', {
            email: `${tag}-${i}@example.test`,
            display_name: tag,
          }),
        ),
      );
      await waitUntil(
        () => writer.snapshot().pending === 5 && writer.stats().rejected - rejectedBefore === 15,
        5000,
        'the burst to queue',
      );
      await sleep(200);
      await held.release();
      const responses = await burst;
      const sampled = await pending.stop();

      const created = responses.filter((r) => r.status === 201);
      const shed = responses.filter((r) => r.status !== 201);
      expect(created, 'served waiters').to.have.length(5);
      expect(shed).to.have.length(15);
      for (const r of shed) {
        expectApiError(r, 503, 'DB_POOL_SATURATED');
        expect(r.headers.get('retry-after')).to.equal('1');
      }
      expect(sampled.max).to.be.at.most(5);
      expect(await countWhere(service, 'users', 'display_name', tag), 'rows stored').to.equal(5);
      for (const r of created) {
        expect(
          await service.container.adapter.getById(TABLES.users, String((r.body as Row).id)),
        ).to.deep.equal(r.body);
      }
      expect(writer.snapshot()).to.include({ pending: 0, used: 0 });
      await watch.stop();
    });
  });

  describe('connection creation failing, then healing', function () {
    let service: TestService;
    let fail: (on: boolean) => void;
    let missing: string;

    before(async function () {
      ({ service, fail, missing } = await serviceWithFailingReaders({
        // No reader is kept open, so every burst after an idle moment needs a new connection.
        DB_POOL_MIN_CONNECTIONS: '0',
        DB_POOL_MAX_CONNECTIONS: '3',
        DB_POOL_MAX_IDLE_TIME: '0.1',
        DB_POOL_CONNECTION_TIMEOUT: '1',
        // Longer than the acquire timeout, so readiness reports the pool's verdict, not its own timeout.
        HEALTH_CHECK_TIMEOUT_MS: '3000',
      }));
    });

    after(async function () {
      await service?.stop();
    });

    it('reads fail with 503 DB_UNAVAILABLE while no reader can be opened and succeed as soon as one can; nothing left pending', async function () {
      const readers = sqliteOf(service).readerPool;
      const session = await new Fixtures(service).session();
      const pathname = `/api/sessions/${String(session.id)}`;
      const watch = new LivenessWatch(service.url);
      await service.request('POST', '/metrics/database/pool/reset');
      const createErrorsBefore = await metric(service, 'db_client_connection_creates_total', {
        pool: 'sqlite-read',
        outcome: 'error',
      });
      fail(true);
      await waitUntil(
        // Every reader closed and none being opened (one opened before fail(true) would still work).
        () => readers.snapshot().total === 0 && readers.snapshot().creating === 0,
        3000,
        'idle readers to be reaped',
      );

      // One failed read first, so every request below finds the create error already known.
      expectApiError(await service.request('GET', pathname), 503, 'DB_UNAVAILABLE');
      // Three clients read in a loop; creation heals once 6 of their reads have failed, and each
      // then goes on for 3 more reads (bounded: 20 s).
      const started = performance.now();
      let healedAt = Infinity;
      const responses: Timed[] = [];
      await Promise.all(
        Array.from({ length: 3 }, async () => {
          let afterHeal = 0;
          while (afterHeal < 3 && performance.now() - started < 20_000) {
            const r = await timedRequest(service, 'GET', pathname);
            responses.push(r);
            if (r.startedAt > healedAt) afterHeal++;
            if (healedAt === Infinity && responses.filter((x) => x.status === 503).length >= 6) {
              healedAt = performance.now();
              fail(false);
            }
          }
        }),
      );

      const failed = responses.filter((r) => r.status !== 200);
      const endedBeforeHeal = responses.filter((r) => r.endedAt < healedAt);
      const startedAfterHeal = responses.filter((r) => r.startedAt > healedAt);
      expect(endedBeforeHeal.length, 'requests answered while creation failed').to.be.at.least(6);
      for (const r of endedBeforeHeal) expect(r.status).to.equal(503);
      for (const r of failed) {
        const error = expectApiError(r, 503, 'DB_UNAVAILABLE');
        expect(r.headers.get('retry-after')).to.equal('1');
        expect(error.message).to.match(
          /no new sqlite-read connection could be opened within \d+ ms \(DB_CANNOT_OPEN\)/,
        );
        expect(error.message, 'no file path in an API response').not.to.include(path.dirname(missing));
        expect(r.endedAt - r.startedAt).to.be.within(950, 4000);
      }
      // Requests waiting when creation healed were served (the pool retries a failed create every
      // acquire timeout / 5 while callers wait), unless their time was up before the next retry
      // opened a worker: no request that began after the heal failed.
      for (const r of failed)
        expect(r.startedAt, 'a failed request began after the heal').to.be.below(healedAt);
      expect(startedAfterHeal.length).to.be.at.least(9);
      for (const r of startedAfterHeal) expect(r.status, r.text).to.equal(200);

      expect(readers.snapshot().pending, 'left pending').to.equal(0);
      // A create started for a caller that was then served by a released connection may still land.
      await waitUntil(() => readers.snapshot().creating === 0, 3000, 'creates in flight to finish');
      const report = await poolReport(service, 'sqlite-read');
      expect(report.pending_requests).to.equal(0);
      expect(report.creating_connections).to.equal(0);
      expect(Number(report.connection_create_failures)).to.be.greaterThan(0);
      expect(Number(report.timeouts)).to.equal(failed.length + 1);
      expect(
        await metric(service, 'db_client_connection_creates_total', {
          pool: 'sqlite-read',
          outcome: 'error',
        }),
      ).to.be.greaterThan(createErrorsBefore);
      await watch.stop();
    });

    it('creation always failing: every read 503 DB_UNAVAILABLE within the acquire timeout, nothing pending, no retry loop left; writes unaffected; readiness names the path', async function () {
      const readers = sqliteOf(service).readerPool;
      const session = await new Fixtures(service).session();
      const watch = new LivenessWatch(service.url);
      fail(true);
      try {
        await waitUntil(
          // Every reader closed and none being opened (one opened before fail(true) would still work).
          () => readers.snapshot().total === 0 && readers.snapshot().creating === 0,
          3000,
          'idle readers to be reaped',
        );
        // One failed read first, so the burst below finds the create error already known.
        expectApiError(
          await service.request('GET', `/api/sessions/${String(session.id)}`),
          503,
          'DB_UNAVAILABLE',
        );
        const responses = await Promise.all(
          Array.from({ length: 12 }, () =>
            timedRequest(service, 'GET', `/api/sessions/${String(session.id)}`),
          ),
        );
        for (const r of responses) {
          const error = expectApiError(r, 503, 'DB_UNAVAILABLE');
          expect(error.details).to.deep.equal({ pool: 'sqlite-read', reason: 'DB_CANNOT_OPEN' });
          expect(r.headers.get('retry-after')).to.equal('1');
          expect(r.endedAt - r.startedAt).to.be.within(950, 4000);
        }
        expect(readers.snapshot()).to.include({ pending: 0, used: 0, total: 0 });
        // No create keeps retrying once nobody waits (those already opening a worker finish first).
        await waitUntil(() => readers.snapshot().creating === 0, 3000, 'creates in flight to finish');
        const failures = readers.stats().createFailures;
        await sleep(400);
        expect(readers.stats().createFailures).to.equal(failures);
        expect(readers.snapshot()).to.include({ pending: 0, creating: 0 });

        // The writer has its connection: writes still work, and are stored.
        const tag = uniqueTag('w');
        const created = await service.request('POST', '/api/plots', { session_id: session.id, title: tag });
        expect(created.status, created.text).to.equal(201);
        fail(false);
        expect(await countWhere(service, 'plots', 'title', tag)).to.equal(1);
        fail(true);

        // Readiness says which dependency fails and why, for the operator (the path included).
        await sleep(1050);
        const ready = await service.request('GET', '/health/ready');
        expect(ready.status).to.equal(503);
        const dependency = (
          ready.body as { dependencies: Array<{ name: string; healthy: boolean; error: string }> }
        ).dependencies[0]!;
        expect(dependency).to.include({ name: 'sqlite', healthy: false });
        expect(dependency.error).to.include(`Cannot open the database file ${service.config.sqlite.path}`);
      } finally {
        fail(false);
      }
      expect((await service.request('GET', `/api/sessions/${String(session.id)}`)).status).to.equal(200);
      await watch.stop();
    });
  });

  describe('a connection broken behind the pool’s back (its worker thread terminated)', function () {
    it('health monitor off: broken readers and the writer are found on lending and replaced; zero failed requests', async function () {
      const service = await startTestService({
        env: { ...FAULT_ENV, DB_POOL_MIN_CONNECTIONS: '2', DB_POOL_MAX_CONNECTIONS: '4' },
      });
      try {
        const adapter = sqliteOf(service);
        const watch = new LivenessWatch(service.url);
        const session = await new Fixtures(service).session();
        const errorClosesBefore = await metric(service, 'db_client_connection_closes_total', {
          reason: 'error',
        });
        const readers = (await idleConnections(adapter.readerPool)) as WorkerConnection[];
        const [writer] = (await idleConnections(adapter.writerPool)) as WorkerConnection[];
        const killed = [...readers, writer!];
        const killedThreads = new Set(killed.map((c) => c.threadId));
        expect(killedThreads.size).to.equal(3);
        // Kill the threads as a crash would; the pool is not told.
        await Promise.all(killed.map((c) => c.terminate()));
        for (const c of killed) expect(c.isBroken).to.equal(true);

        const tag = uniqueTag('b');
        const responses = await Promise.all([
          ...Array.from({ length: 10 }, () => service.request('GET', `/api/sessions/${String(session.id)}`)),
          ...Array.from({ length: 5 }, (_, i) =>
            service.request('POST', '/api/plots', { session_id: session.id, title: `${tag} ${i}` }),
          ),
        ]);
        for (const r of responses) expect(r.status, r.text).to.be.oneOf([200, 201]);
        expect(await countWhere(service, 'plots', 'session_id', session.id)).to.equal(5);

        expect(adapter.readerPool.stats().closedByReason.error).to.equal(readers.length);
        expect(adapter.writerPool.stats().closedByReason.error).to.equal(1);
        expect(await metric(service, 'db_client_connection_closes_total', { reason: 'error' })).to.equal(
          errorClosesBefore + 3,
        );
        const now = [
          ...(await idleConnections(adapter.readerPool)),
          ...(await idleConnections(adapter.writerPool)),
        ] as WorkerConnection[];
        expect(now.length).to.be.at.least(3);
        for (const c of now) {
          expect(c.isBroken).to.equal(false);
          expect(killedThreads.has(c.threadId), 'a killed thread lent again').to.equal(false);
        }
        expect(await httpCount(service, 503)).to.equal(0);
        expect(await httpCount(service, 500)).to.equal(0);
        await watch.stop();
      } finally {
        await service.stop();
      }
    });

    it('health monitor on (every 0.2 s): broken idle connections are replaced before any request needs them', async function () {
      const service = await startTestService({
        env: {
          ...FAULT_ENV,
          DB_POOL_MIN_CONNECTIONS: '2',
          DB_POOL_MAX_CONNECTIONS: '4',
          DB_POOL_HEALTH_CHECK_INTERVAL: '0.2',
        },
      });
      try {
        const adapter = sqliteOf(service);
        const watch = new LivenessWatch(service.url);
        const session = await new Fixtures(service).session();
        // Every open reader (2, or 3 if the monitor, finding none idle while they were borrowed
        // here, opened one to prove that creates work).
        const readers = (await idleConnections(adapter.readerPool)) as WorkerConnection[];
        expect(readers.length).to.be.at.least(2);
        const killedThreads = new Set(readers.map((c) => c.threadId));
        await Promise.all(readers.map((c) => c.terminate()));

        await waitUntil(
          () =>
            adapter.readerPool.stats().closedByReason.unhealthy === readers.length &&
            adapter.readerPool.snapshot().total >= 2,
          3000,
          'the monitor to replace the readers',
        );
        const stats = adapter.readerPool.stats();
        expect(stats.closedByReason.error, 'nothing had to be found on lending').to.equal(0);
        expect(stats.healthCheckFailures).to.be.at.least(1);
        expect(stats.lastHealthError).to.equal('connection is broken');
        expect(
          await metric(service, 'db_client_connection_closes_total', {
            pool: 'sqlite-read',
            reason: 'unhealthy',
          }),
        ).to.equal(readers.length);

        const responses = await Promise.all(
          Array.from({ length: 10 }, () => service.request('GET', `/api/sessions/${String(session.id)}`)),
        );
        for (const r of responses) expect(r.status, r.text).to.equal(200);
        for (const c of (await idleConnections(adapter.readerPool)) as WorkerConnection[]) {
          expect(killedThreads.has(c.threadId)).to.equal(false);
        }
        await waitUntil(() => adapter.readerPool.stats().healthy, 2000, 'the pool to be healthy again');
        await watch.stop();
      } finally {
        await service.stop();
      }
    });
  });

  describe('max-lifetime rotation under constant load (DB_POOL_MAX_LIFETIME=1)', function () {
    let service: TestService;

    before(async function () {
      service = await startTestService({
        env: {
          ...FAULT_ENV,
          DB_POOL_MAX_LIFETIME: '1',
          DB_POOL_MIN_CONNECTIONS: '2',
          DB_POOL_MAX_CONNECTIONS: '4',
        },
      });
    });

    after(async function () {
      await service?.stop();
    });

    it('5 s of reads and writes: readers and the writer recycled (closes{reason=max_lifetime} > 0), zero request errors, every write stored', async function () {
      const fixtures = new Fixtures(service);
      const session = await fixtures.session();
      const sid = String(session.id);
      const watch = new LivenessWatch(service.url);
      const maxLifetimeBefore = {
        read: await metric(service, 'db_client_connection_closes_total', {
          pool: 'sqlite-read',
          reason: 'max_lifetime',
        }),
        write: await metric(service, 'db_client_connection_closes_total', {
          pool: 'sqlite-write',
          reason: 'max_lifetime',
        }),
      };
      const tag = uniqueTag('life');
      const statuses = new Map<number, number>();
      const failures: string[] = [];
      let written = 0;
      const count = (r: TestResponse): void => {
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status >= 300) failures.push(r.text.slice(0, 200));
      };
      const started = performance.now();
      const until = (): boolean => performance.now() - started < 5000;
      await Promise.all([
        ...Array.from({ length: 4 }, async (_, i) => {
          while (until()) {
            count(
              await service.request(
                'GET',
                i % 2 === 0 ? `/api/sessions/${sid}` : `/api/plots?session_id=eq.${sid}&limit=20`,
              ),
            );
          }
        }),
        (async () => {
          for (let i = 0; until(); i++) {
            const r = await service.request('POST', '/api/plots', {
              session_id: sid,
              title: `${tag} one ${i}`,
            });
            count(r);
            if (r.status === 201) written++;
          }
        })(),
        (async () => {
          for (let i = 0; until(); i++) {
            const items = Array.from({ length: 20 }, (_, k) => ({
              session_id: sid,
              title: `${tag} batch ${i}.${k}`,
            }));
            const r = await service.request('POST', '/api/plots/batch', { items });
            count(r);
            if (r.status === 201) written += 20;
          }
        })(),
      ]);

      expect(failures, 'failed requests').to.deep.equal([]);
      const total = [...statuses.values()].reduce((a, b) => a + b, 0);
      expect(total, 'requests made').to.be.greaterThan(60);
      expect(await countWhere(service, 'plots', 'session_id', sid), 'rows stored').to.equal(written);
      const recycledReaders =
        (await metric(service, 'db_client_connection_closes_total', {
          pool: 'sqlite-read',
          reason: 'max_lifetime',
        })) - maxLifetimeBefore.read;
      const recycledWriters =
        (await metric(service, 'db_client_connection_closes_total', {
          pool: 'sqlite-write',
          reason: 'max_lifetime',
        })) - maxLifetimeBefore.write;
      expect(recycledReaders, 'readers recycled').to.be.greaterThan(0);
      expect(recycledWriters, 'writers recycled').to.be.greaterThan(0);
      for (const outcome of ['timeout', 'rejected', 'error']) {
        expect(await metric(service, 'db_client_connection_acquires_total', { outcome }), outcome).to.equal(
          0,
        );
      }
      for (const pool of sqliteOf(service).pools()) pool.assertInvariants();
      this.test!.title += ` [${total} requests, ${written} rows, recycled ${recycledReaders} readers / ${recycledWriters} writers]`;
      await watch.stop();
    });
  });
});
