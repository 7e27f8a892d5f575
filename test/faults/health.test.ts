/**
 * Health faults, on the real service (in-process, real SQLite file, real worker threads):
 *
 * - liveness never depends on the database: it answers at once while every connection is busy,
 *   while the health probe hangs, and when the database could not be opened at all;
 * - readiness lists each dependency with its verdict and latency (`{name, healthy, latency_ms,
 *   error}`), goes 503 naming the failing one, and recovers on its own;
 * - health probes are bounded by HEALTH_CHECK_TIMEOUT_MS and at most one runs at a time: 20
 *   concurrent `/metrics/database/health` + 20 `/health/ready` against a slow database start one
 *   check (counted at the adapter, and seen as a single waiter in the reader pool);
 * - readiness reuses a verdict for about a second (READINESS_CACHE_MS) instead of querying per probe.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { expect } from 'chai';
import { SqliteAdapter } from '../../src/adapters/sqlite/index.js';
import { READINESS_CACHE_MS, sqliteAdapterOptions } from '../../src/container.js';
import type { DependencyHealth, HealthReport } from '../../src/observability/database-report.js';
import { startTestService, type TestResponse, type TestService } from '../support/service.js';
import { FAULT_ENV, LivenessWatch, holdConnections, sleep, sqliteOf, waitUntil } from './support.js';

interface ReadyBody {
  readonly status: 'ready' | 'not_ready';
  readonly state: string;
  readonly reason?: string;
  readonly dependencies: DependencyHealth[];
  readonly pools: Array<{ name: string; pending: number }>;
}

/** A service whose adapter counts its health checks (the probe under test must call it once). */
async function countingService(
  env: Record<string, string>,
): Promise<{ service: TestService; checks: () => number }> {
  let checks = 0;
  const service = await startTestService({
    env: { ...FAULT_ENV, ...env },
    containerOptions: {
      adapter: (config, wiring) => {
        const real = new SqliteAdapter(sqliteAdapterOptions(config, wiring));
        return new Proxy(real, {
          get(target, property) {
            if (property === 'healthCheck') {
              return () => {
                checks++;
                return target.healthCheck();
              };
            }
            const value: unknown = Reflect.get(target, property, target);
            return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
          },
        });
      },
    },
  });
  return { service, checks: () => checks };
}

function timed(service: TestService, pathname: string): Promise<TestResponse & { ms: number }> {
  const started = performance.now();
  return service.request('GET', pathname).then((res) => ({ ...res, ms: performance.now() - started }));
}

describe('faults: health probes', function () {
  this.timeout(30_000);

  describe('readiness and liveness on a healthy service', function () {
    let service: TestService;
    let checks: () => number;

    before(async function () {
      ({ service, checks } = await countingService({ HEALTH_CHECK_TIMEOUT_MS: '500' }));
    });

    after(async function () {
      await service?.stop();
    });

    it('readiness lists the database with its verdict and latency; liveness never asks the database', async function () {
      const before = checks();
      const live = await service.request('GET', '/health/live');
      expect(live.status).to.equal(200);
      expect(checks(), 'liveness ran no health check').to.equal(before);

      await sleep(READINESS_CACHE_MS + 50); // nothing cached from start-up
      const res = await service.request('GET', '/health/ready');
      expect(res.status, res.text).to.equal(200);
      const body = res.body as ReadyBody;
      expect(body.status).to.equal('ready');
      expect(body.dependencies).to.have.length(1);
      const [db] = body.dependencies;
      expect(db).to.include({ name: 'sqlite', healthy: true, error: null });
      expect(db!.latency_ms).to.be.a('number').within(0, 500);
      expect(Date.parse(db!.checked_at)).to.be.closeTo(Date.now(), 5000);
      expect(body.pools.map((p) => p.name)).to.deep.equal(['sqlite-read', 'sqlite-write']);
      expect(checks()).to.equal(before + 1);
    });

    it(`readiness reuses its verdict for ${READINESS_CACHE_MS} ms: 20 concurrent and 20 sequential probes run one check`, async function () {
      await sleep(READINESS_CACHE_MS + 50);
      const before = checks();
      const statuses = await Promise.all(
        Array.from({ length: 20 }, () => service.request('GET', '/health/ready')),
      );
      for (const r of statuses) expect(r.status).to.equal(200);
      const started = performance.now();
      for (let i = 0; i < 20 && performance.now() - started < READINESS_CACHE_MS - 300; i++) {
        expect((await service.request('GET', '/health/ready')).status).to.equal(200);
      }
      expect(checks() - before, 'health checks for 40 readiness probes').to.equal(1);
      // After the cache age a probe asks again.
      await sleep(READINESS_CACHE_MS + 50);
      expect((await service.request('GET', '/health/ready')).status).to.equal(200);
      expect(checks() - before).to.equal(2);
      // /metrics/database/health never answers from the cache, but shares a check in flight.
      const reports = await Promise.all(
        Array.from({ length: 10 }, () => service.request('GET', '/metrics/database/health')),
      );
      for (const r of reports) expect((r.body as HealthReport).status).to.equal('healthy');
      expect(checks() - before).to.equal(3);
      expect(service.container.databaseProbe.stats().inFlight).to.equal(false);
    });
  });

  describe('a slow database (every reader busy): probes bounded and never more than one in flight', function () {
    let service: TestService;
    let checks: () => number;

    before(async function () {
      ({ service, checks } = await countingService({
        HEALTH_CHECK_TIMEOUT_MS: '300',
        DB_POOL_MIN_CONNECTIONS: '2',
        DB_POOL_MAX_CONNECTIONS: '2',
        DB_POOL_CONNECTION_TIMEOUT: '10',
      }));
    });

    after(async function () {
      await service?.stop();
    });

    it('20 /metrics/database/health + 20 /health/ready: all answer within the timeout, one check runs, the reader pool sees one waiter', async function () {
      const readers = sqliteOf(service).readerPool;
      const watch = new LivenessWatch(service.url, 25);
      await sleep(READINESS_CACHE_MS + 50);
      const before = checks();
      const held = await holdConnections(readers, 2);
      let maxPending = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          maxPending = Math.max(maxPending, readers.snapshot().pending);
          await sleep(5);
        }
      })();
      try {
        const started = performance.now();
        const responses = await Promise.all([
          ...Array.from({ length: 20 }, () => timed(service, '/metrics/database/health')),
          ...Array.from({ length: 20 }, () => timed(service, '/health/ready')),
        ]);
        const wall = performance.now() - started;
        // Bounded by the 300 ms probe timeout, not by the 10 s acquire timeout the check waits on
        // (the margin is for 40 connections opened at once on a loaded machine).
        expect(wall, 'all 40 probes answered (ms)').to.be.below(300 + 1500);

        for (const r of responses.slice(0, 20)) {
          expect(r.status, r.text).to.equal(503);
          const report = r.body as HealthReport;
          expect(report.status).to.equal('unhealthy');
          expect(report.test_query.healthy).to.equal(false);
          expect(report.test_query.error).to.equal('no answer within 300 ms (HEALTH_CHECK_TIMEOUT_MS)');
          expect(report.dependencies[0]).to.include({ name: 'sqlite', healthy: false, latency_ms: 300 });
        }
        for (const r of responses.slice(20)) {
          expect(r.status, r.text).to.equal(503);
          expect(r.headers.get('retry-after')).to.equal('1');
          const body = r.body as ReadyBody;
          expect(body.status).to.equal('not_ready');
          expect(body.state).to.equal('ready');
          expect(body.reason).to.equal(
            'sqlite is failing: no answer within 300 ms (HEALTH_CHECK_TIMEOUT_MS)',
          );
          // One verdict, shared by every probe of the burst.
          expect(body.dependencies).to.deep.equal((responses[20]!.body as ReadyBody).dependencies);
          expect(body.dependencies[0]).to.include({ name: 'sqlite', healthy: false, latency_ms: 300 });
        }
        expect(checks() - before, 'health checks started for 40 probes').to.equal(1);
        expect(maxPending, 'waiters in the reader pool').to.equal(1);
        expect(service.container.databaseProbe.stats()).to.include({ inFlight: true });

        // The timed-out check is still waiting for a reader: new probes do not start a second one.
        await sleep(READINESS_CACHE_MS + 50);
        const again = await Promise.all([
          ...Array.from({ length: 10 }, () => timed(service, '/metrics/database/health')),
          ...Array.from({ length: 10 }, () => timed(service, '/health/ready')),
        ]);
        for (const r of again) expect(r.status).to.equal(503);
        const report = again[0]!.body as HealthReport;
        expect(report.test_query.error).to.match(/^the previous health check is still running after \d+ ms$/);
        expect(checks() - before).to.equal(1);
        expect(readers.snapshot().pending).to.equal(1);
      } finally {
        await held.release();
        sampling = false;
        await sampler;
      }
      // The slow check finishes once a reader is free; the next probe runs a new one and passes.
      await waitUntil(
        () => !service.container.databaseProbe.stats().inFlight,
        5000,
        'the slow check to finish',
      );
      await sleep(READINESS_CACHE_MS + 50);
      const ready = await service.request('GET', '/health/ready');
      expect(ready.status, ready.text).to.equal(200);
      expect((ready.body as ReadyBody).dependencies[0]).to.include({ healthy: true, error: null });
      expect(checks() - before).to.equal(2);
      expect(readers.snapshot().pending).to.equal(0);
      const live = await watch.stop();
      expect(live.probes).to.be.greaterThan(10);
    });
  });

  describe('the database file gone: readiness names the failing dependency, then recovers', function () {
    let service: TestService;

    before(async function () {
      service = await startTestService({
        env: {
          ...FAULT_ENV,
          HEALTH_CHECK_TIMEOUT_MS: '2000',
          DB_POOL_CONNECTION_TIMEOUT: '0.3',
          DB_POOL_MIN_CONNECTIONS: '1',
          DB_POOL_MAX_CONNECTIONS: '2',
        },
      });
    });

    after(async function () {
      await service?.stop();
    });

    it('503 with {name, healthy: false, latency_ms, error naming the file}; 200 again once the file is back', async function () {
      const watch = new LivenessWatch(service.url);
      const file = service.config.sqlite.path;
      const aside = path.join(path.dirname(file), 'moved-away.db');
      const adapter = sqliteOf(service);
      // The open reader keeps working on its open file; a new one must open the path, which is gone.
      fs.renameSync(file, aside);
      try {
        for (const c of await holdConnections(adapter.readerPool, 1).then(async (h) => {
          await h.release();
          return h.connections;
        })) {
          await (c as { terminate(): Promise<void> }).terminate();
        }
        await sleep(READINESS_CACHE_MS + 50);
        const res = await service.request('GET', '/health/ready');
        expect(res.status, res.text).to.equal(503);
        const body = res.body as ReadyBody;
        expect(body.state).to.equal('ready');
        const [db] = body.dependencies;
        expect(db).to.include({ name: 'sqlite', healthy: false });
        expect(db!.latency_ms).to.be.within(250, 1500);
        expect(db!.error).to.include('no new sqlite-read connection could be opened');
        expect(db!.error).to.include(file);
        expect(body.reason).to.equal(`sqlite is failing: ${db!.error}`);
        expect((await service.request('GET', '/health/live')).status).to.equal(200);
      } finally {
        fs.renameSync(aside, file);
      }
      await waitUntil(
        async () => (await service.request('GET', '/health/ready')).status === 200,
        READINESS_CACHE_MS + 3000,
        'readiness to recover',
      );
      await watch.stop();
    });
  });

  describe('liveness when the database could not be opened at all', function () {
    let service: TestService;

    before(async function () {
      service = await startTestService({
        env: { ...FAULT_ENV, SQLITE_DB_PATH: path.join('no', 'such', 'dir', 'x.db') },
        start: false,
      });
    });

    after(async function () {
      await service?.stop();
    });

    it('liveness 200 at once; readiness 503 listing the database with the start-up error', async function () {
      const err = await service.container.start().then(
        () => null,
        (e: unknown) => e as Error & { code?: string },
      );
      expect(err?.code).to.equal('DB_CANNOT_OPEN');
      const live = await timed(service, '/health/live');
      expect(live.status).to.equal(200);
      expect(live.ms).to.be.below(1000);
      const ready = await service.request('GET', '/health/ready');
      expect(ready.status).to.equal(503);
      const body = ready.body as ReadyBody;
      expect(body.state).to.equal('failed');
      expect(body.reason).to.equal(err!.message);
      expect(body.dependencies).to.have.length(1);
      expect(body.dependencies[0]).to.include({ name: 'sqlite', healthy: false, error: err!.message });
      expect(body.dependencies[0]!.latency_ms).to.be.a('number').at.least(0);
    });
  });
});
