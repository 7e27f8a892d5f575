/**
 * The JSON metrics API (design §8) against the real service: exact per-pool numbers after a known
 * sequence of requests, the reset (windowed numbers only; Prometheus counters stay), health
 * (200 healthy, 503 when the database file is gone), the performance summary and its
 * recommendations when provoked, and the configuration with its secrets hidden.
 */
import fs from 'node:fs';
import { expect } from 'chai';
import type { Row } from '../../src/adapters/contract.js';
import type { DatabaseMetrics, HealthReport, PerformanceSummary, PoolReport } from '../../src/observability/database-report.js';
import { expectApiError, expectOk, Fixtures, missingId } from '../support/fixtures.js';
import { parseExposition, select } from '../support/metrics-text.js';
import { QueryCounter } from '../support/query-counter.js';
import { startTestService, type TestService } from '../support/service.js';

/** Every field design §8 names, plus the ones this service adds. */
const POOL_FIELDS = [
  'pool',
  'db_system',
  'total_connections',
  'active_connections',
  'idle_connections',
  'pending_requests',
  'max_connections',
  'min_connections',
  'utilization',
  'connections_created',
  'connections_closed',
  'pool_hits',
  'pool_misses',
  'hit_rate',
  'health_check_failures',
  'query_count',
  'avg_connection_time',
  'wait_time_ms',
  'last_reset',
];

function poolOf(metrics: DatabaseMetrics | PerformanceSummary, name: string): PoolReport {
  const pool = metrics.pools.find((p) => p.pool === name);
  expect(pool, `pool ${name}`).to.be.an('object');
  return pool!;
}

async function databaseMetrics(service: TestService): Promise<DatabaseMetrics> {
  return expectOk<DatabaseMetrics>(await service.request('GET', '/metrics/database/pool'));
}

/** Sleeps so that two ISO timestamps taken around it differ. */
const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5));

describe('JSON metrics API', function () {
  describe('with a warm pool (min 2, max 4 readers)', function () {
    let service: TestService;
    let f: Fixtures;

    before(async function () {
      service = await startTestService();
      f = new Fixtures(service);
    });

    after(async function () {
      await service?.stop();
    });

    it('after warm-up: every field present; total and idle equal the configured minimum', async function () {
      const metrics = await databaseMetrics(service);
      expect(metrics.database_mode).to.equal('sqlite');
      expect(metrics.pools.map((p) => p.pool)).to.deep.equal(['sqlite-read', 'sqlite-write']);
      for (const pool of metrics.pools) {
        expect(pool).to.include.all.keys(...POOL_FIELDS);
        expect(pool.db_system).to.equal('sqlite');
        expect(Date.parse(pool.last_reset)).to.be.a('number').and.not.NaN;
        expect(pool.wait_time_ms).to.have.all.keys('p50', 'p95', 'p99', 'max');
      }
      const reader = poolOf(metrics, 'sqlite-read');
      expect(reader).to.include({
        total_connections: 2,
        idle_connections: 2,
        active_connections: 0,
        pending_requests: 0,
        min_connections: 2,
        max_connections: 4,
        utilization: 0,
        connections_created: 2,
        connections_closed: 0,
        health_check_failures: 0,
      });
      const writer = poolOf(metrics, 'sqlite-write');
      expect(writer).to.include({ total_connections: 1, idle_connections: 1, min_connections: 1, max_connections: 1 });
    });

    it('counts exactly: pool_hits, pool_misses, query_count and hit_rate after a known sequence', async function () {
      expectOk(await service.request('POST', '/metrics/database/pool/reset'));
      // writer: 1 INSERT; readers: 1 SELECT
      const user = await f.user();
      expectOk(await service.request('GET', `/api/users/${String(user.id)}`));
      // readers: page + count
      expectOk(await service.request('GET', `/api/users?email=eq.${encodeURIComponent(String(user.email))}`));
      // writer: 1 UPDATE
      expectOk(await service.request('PATCH', `/api/users/${String(user.id)}`, { display_name: 'Renamed' }));
      // readers: the row + one batched count
      const withCount = expectOk<Row>(await service.request('GET', `/api/users/${String(user.id)}?include=sessions_count`));
      expect(withCount.sessions_count).to.equal(0);
      // A validation failure never reaches the pool.
      expectApiError(await service.request('GET', '/api/users?sort=nope'), 400, 'VALIDATION_FAILED');

      const metrics = await databaseMetrics(service);
      const reader = poolOf(metrics, 'sqlite-read');
      const writer = poolOf(metrics, 'sqlite-write');
      expect(reader).to.include({ pool_hits: 5, pool_misses: 0, query_count: 5, hit_rate: 1, timeouts: 0, rejected: 0 });
      expect(writer).to.include({ pool_hits: 2, pool_misses: 0, query_count: 2, hit_rate: 1 });
      // Sequential requests never needed more than the warm connections.
      expect(reader).to.include({ total_connections: 2, idle_connections: 2, active_connections: 0, connections_created: 0 });
      expect(reader.avg_connection_time).to.be.a('number').at.least(0);
      expect(reader.wait_time_ms.p50).to.be.a('number').at.least(0);
      expect(reader.wait_time_ms.max).to.be.at.least(reader.wait_time_ms.p50!);
    });

    it('reset: returns the numbers it cleared, zeroes the window, moves last_reset, leaves Prometheus counters alone', async function () {
      await f.user();
      expectOk(await service.request('GET', `/api/users?limit=1`));
      const before = await databaseMetrics(service);
      const scrapeBefore = parseExposition((await service.request('GET', '/metrics')).text);
      await tick();

      const cleared = expectOk<DatabaseMetrics>(await service.request('POST', '/metrics/database/pool/reset'));
      expect(poolOf(cleared, 'sqlite-read').pool_hits).to.equal(poolOf(before, 'sqlite-read').pool_hits);
      expect(poolOf(cleared, 'sqlite-write').query_count).to.be.greaterThan(0);

      const after = await databaseMetrics(service);
      for (const name of ['sqlite-read', 'sqlite-write']) {
        const pool = poolOf(after, name);
        expect(pool, name).to.include({
          pool_hits: 0,
          pool_misses: 0,
          query_count: 0,
          hit_rate: null,
          connections_created: 0,
          connections_closed: 0,
          health_check_failures: 0,
          avg_connection_time: null,
        });
        expect(Date.parse(pool.last_reset), name).to.be.greaterThan(Date.parse(poolOf(before, name).last_reset));
        // Connections are state, not window counters: still open.
        expect(pool.total_connections).to.equal(poolOf(before, name).total_connections);
      }

      const scrapeAfter = parseExposition((await service.request('GET', '/metrics')).text);
      for (const name of ['db_client_connection_acquires_total', 'db_client_connection_creates_total']) {
        const was = select(scrapeBefore, name);
        expect(was.length, name).to.be.greaterThan(0);
        expect(select(scrapeAfter, name), name).to.deep.equal(was);
      }
      const hits = select(scrapeAfter, 'db_client_connection_acquires_total', { pool: 'sqlite-read', outcome: 'hit' });
      expect(hits[0]!.value).to.be.at.least(poolOf(cleared, 'sqlite-read').pool_hits);
    });

    it('health: 200 healthy with the test query and every pool', async function () {
      const res = await service.request('GET', '/metrics/database/health');
      const report = expectOk<HealthReport>(res);
      expect(report.status).to.equal('healthy');
      expect(report.test_query.healthy).to.equal(true);
      expect(report.test_query.latencyMs).to.be.a('number').at.least(0);
      expect(report.pools.map((p) => p.pool)).to.deep.equal(['sqlite-read', 'sqlite-write']);
      for (const pool of report.pools) expect(pool).to.include({ healthy: true, consecutive_failures: 0, pending_requests: 0 });
      for (const pool of report.pools) expect(pool.issues).to.deep.equal([]);
    });

    it('performance summary: pools, HTTP numbers of the window, event loop, recommendations', async function () {
      expectOk(await service.request('POST', '/metrics/database/pool/reset'));
      expectOk(await service.request('GET', '/api/users?limit=1'));
      expectOk(await service.request('GET', '/health/live'));
      expectApiError(await service.request('GET', `/api/users/${missingId()}`), 404, 'NOT_FOUND');

      const summary = expectOk<PerformanceSummary>(await service.request('GET', '/metrics/performance/summary'));
      expect(summary).to.have.all.keys('collected_at', 'window_start', 'pools', 'http', 'event_loop', 'recommendations');
      expect(summary.pools.map((p) => p.pool)).to.deep.equal(['sqlite-read', 'sqlite-write']);
      // The reset's own response, the three above; the summary's own is not finished yet.
      expect(summary.http).to.include({ requests: 4, client_errors: 1, server_errors: 0, error_rate: 0 });
      expect(summary.http.latency_ms.count).to.equal(4);
      expect(summary.http.latency_ms.p99).to.be.at.least(summary.http.latency_ms.p50!);
      expect(summary.http.rate_per_second).to.be.greaterThan(0);
      expect(summary.event_loop).to.have.all.keys('p50_ms', 'p99_ms', 'max_ms', 'mean_ms');
      expect(Date.parse(summary.window_start)).to.be.at.most(Date.parse(summary.collected_at));
      expect(summary.recommendations).to.deep.equal([]);
    });
  });

  describe('concurrent writes on the single writer connection', function () {
    let service: TestService;
    let sessionId: string;

    before(async function () {
      service = await startTestService({ env: { DB_POOL_CONNECTION_TIMEOUT: '0.02' } });
      sessionId = (await new Fixtures(service).session()).id as string;
    });

    after(async function () {
      await service?.stop();
    });

    const batch = (n: number): { items: Row[] } => ({
      items: Array.from({ length: n }, (_, i) => ({ session_id: sessionId, title: `Plot ${i}`, summary: 'x'.repeat(200) })),
    });

    it('a busy writer (100 % in use, callers queued) is neither "degraded" nor told to raise DB_POOL_MAX_CONNECTIONS', async function () {
      let writing = true;
      const writer = async (): Promise<void> => {
        while (writing) {
          const res = await service.request('POST', '/api/plots/batch', batch(50));
          if (res.status !== 201) expectApiError(res, 503, 'DB_POOL_TIMEOUT');
        }
      };
      const writers = [writer(), writer(), writer()];
      let sawWriterBusy = false;
      try {
        for (let i = 0; i < 15; i++) {
          const health = await service.request('GET', '/metrics/database/health');
          const report = expectOk<HealthReport>(health);
          const writerPool = report.pools.find((p) => p.pool === 'sqlite-write')!;
          if (writerPool.utilization === 1) sawWriterBusy = true;
          expect(writerPool.issues, JSON.stringify(writerPool)).to.deep.equal([]);
          expect(report.status).to.equal('healthy');
        }
      } finally {
        writing = false;
        await Promise.all(writers);
      }
      expect(sawWriterBusy, 'the writer was seen in use').to.equal(true);
      const summary = expectOk<PerformanceSummary>(await service.request('GET', '/metrics/performance/summary'));
      for (const r of summary.recommendations.filter((x) => x.pool === 'sqlite-write')) {
        expect(r.message, r.kind).not.to.include('DB_POOL_MAX_CONNECTIONS');
        // Only refused acquires make a saturated writer.
        if (r.kind === 'saturation') expect(poolOf(summary, 'sqlite-write').timeouts).to.be.greaterThan(0);
      }
    });

    it('writes refused by the acquire timeout → 503 DB_POOL_TIMEOUT and a critical writer saturation advising batches', async function () {
      expectOk(await service.request('POST', '/metrics/database/pool/reset'));
      let timedOut: Awaited<ReturnType<TestService['request']>> | undefined;
      for (let round = 0; round < 5 && !timedOut; round++) {
        const responses = await Promise.all(Array.from({ length: 8 }, () => service.request('POST', '/api/plots/batch', batch(500))));
        for (const res of responses) if (res.status !== 201) expectApiError(res, 503, 'DB_POOL_TIMEOUT');
        timedOut = responses.find((r) => r.status === 503);
      }
      expect(timedOut, 'some write waited past DB_POOL_CONNECTION_TIMEOUT').not.to.equal(undefined);
      expect(timedOut!.headers.get('retry-after')).to.equal('1');

      const summary = expectOk<PerformanceSummary>(await service.request('GET', '/metrics/performance/summary'));
      const writer = poolOf(summary, 'sqlite-write');
      expect(writer.timeouts).to.be.greaterThan(0);
      const saturation = summary.recommendations.find((r) => r.kind === 'saturation' && r.pool === 'sqlite-write');
      expect(saturation, JSON.stringify(summary.recommendations)).to.include({ severity: 'critical' });
      expect(saturation!.message).to.include(`${writer.timeouts} acquire timeouts`).and.include('batches');
      expect(saturation!.message).not.to.include('DB_POOL_MAX_CONNECTIONS');
    });
  });

  describe('hit rate with a cold pool (min 0 readers)', function () {
    let service: TestService;

    before(async function () {
      service = await startTestService({ env: { DB_POOL_MIN_CONNECTIONS: '0', SQLITE_EXECUTION_MODE: 'inline' } });
    });

    after(async function () {
      await service?.stop();
    });

    it('the first read opens a connection (miss), the next reuse it (hits): hit_rate 2/3', async function () {
      const cold = poolOf(await databaseMetrics(service), 'sqlite-read');
      expect(cold).to.include({ total_connections: 0, idle_connections: 0, min_connections: 0 });
      expectOk(await service.request('POST', '/metrics/database/pool/reset'));
      for (let i = 0; i < 3; i++) {
        expectApiError(await service.request('GET', `/api/plots/${missingId()}`), 404, 'NOT_FOUND');
      }
      const reader = poolOf(await databaseMetrics(service), 'sqlite-read');
      expect(reader).to.include({ pool_misses: 1, pool_hits: 2, query_count: 3, connections_created: 1 });
      expect(reader.hit_rate).to.be.closeTo(2 / 3, 1e-9);
    });
  });

  describe('recommendations and health when provoked (min 0, connections recycled after 1 ms)', function () {
    let service: TestService;

    before(async function () {
      service = await startTestService({
        env: {
          DB_POOL_MIN_CONNECTIONS: '0',
          DB_POOL_MAX_LIFETIME: '0.001',
          DB_POOL_CONNECTION_TIMEOUT: '1',
          SQLITE_EXECUTION_MODE: 'inline',
        },
      });
    });

    after(async function () {
      await service?.stop();
    });

    it('low hit rate → a low_hit_rate recommendation naming the pool and the setting to change', async function () {
      expectOk(await service.request('POST', '/metrics/database/pool/reset'));
      for (let i = 0; i < 25; i++) {
        expectApiError(await service.request('GET', `/api/plots/${missingId()}`), 404, 'NOT_FOUND');
      }
      const summary = expectOk<PerformanceSummary>(await service.request('GET', '/metrics/performance/summary'));
      const reader = poolOf(summary, 'sqlite-read');
      expect(reader.pool_hits + reader.pool_misses).to.equal(25);
      expect(reader.hit_rate).to.be.lessThan(0.8);
      expect(reader.connections_closed).to.be.greaterThan(0);
      const low = summary.recommendations.filter((r) => r.kind === 'low_hit_rate');
      expect(low.map((r) => r.pool)).to.deep.equal(['sqlite-read']);
      expect(low[0]!.severity).to.equal('warning');
      expect(low[0]!.message).to.include('DB_POOL_MIN_CONNECTIONS');
    });

    it('health: 503 unhealthy when the database file is gone and a new connection is needed', async function () {
      expectOk<HealthReport>(await service.request('GET', '/metrics/database/health'));
      // Readers open the file read-only and never create it; the writer keeps its open handle.
      for (const suffix of ['', '-wal', '-shm']) fs.rmSync(`${service.config.sqlite.path}${suffix}`, { force: true });

      const res = await service.request('GET', '/metrics/database/health');
      expect(res.status).to.equal(503);
      const report = res.body as HealthReport;
      expect(report.status).to.equal('unhealthy');
      expect(report.test_query.healthy).to.equal(false);
      expect(report.test_query.error).to.be.a('string').and.not.equal('');
      expect(res.text).not.to.match(/\n\s+at /);

      // The API says the same, with a stable code and a retry hint, not a 500: no connection could be
      // opened (the pool had room), so the database is unavailable rather than the pool too small.
      const api = await service.request('GET', `/api/plots/${missingId()}`);
      const error = expectApiError(api, 503, 'DB_UNAVAILABLE');
      expect(error.message).to.be.a('string');
      expect(api.headers.get('retry-after')).to.equal('1');
    });
  });

  describe('saturation (one reader, no waiting allowed)', function () {
    let service: TestService;

    before(async function () {
      service = await startTestService({
        env: { DB_POOL_MIN_CONNECTIONS: '1', DB_POOL_MAX_CONNECTIONS: '1', DB_POOL_MAX_WAITING_REQUESTS: '0' },
      });
      const f = new Fixtures(service);
      const session = await f.session();
      await f.createMany(
        'plots',
        Array.from({ length: 200 }, (_, i) => ({ session_id: session.id, title: `Plot ${i}`, summary: 'x'.repeat(500) })),
      );
    });

    after(async function () {
      await service?.stop();
    });

    it('concurrent requests are shed with 503 DB_POOL_SATURATED, and the summary recommends a larger pool', async function () {
      const statuses: number[] = [];
      let shed: Awaited<ReturnType<TestService['request']>> | undefined;
      for (let round = 0; round < 5 && !shed; round++) {
        const responses = await Promise.all(
          Array.from({ length: 30 }, () => service.request('GET', '/api/plots?limit=200&include=session')),
        );
        statuses.push(...responses.map((r) => r.status));
        shed = responses.find((r) => r.status === 503);
      }
      expect(shed, `statuses: ${statuses.join(',')}`).not.to.equal(undefined);
      expectApiError(shed!, 503, 'DB_POOL_SATURATED');
      expect(shed!.headers.get('retry-after')).to.equal('1');
      expect(statuses.every((s) => s === 200 || s === 503)).to.equal(true);

      const summary = expectOk<PerformanceSummary>(await service.request('GET', '/metrics/performance/summary'));
      const reader = poolOf(summary, 'sqlite-read');
      expect(reader.rejected).to.be.greaterThan(0);
      const saturation = summary.recommendations.filter((r) => r.kind === 'saturation');
      expect(saturation.map((r) => r.pool)).to.include('sqlite-read');
      const forReader = saturation.find((r) => r.pool === 'sqlite-read')!;
      expect(forReader.severity).to.equal('critical');
      expect(forReader.message).to.include('DB_POOL_MAX_CONNECTIONS').and.include(`${reader.rejected} rejected`);
      expect(summary.http.server_errors).to.equal(statuses.filter((s) => s === 503).length);

      // Prometheus counts the same refusals.
      const scrape = parseExposition((await service.request('GET', '/metrics')).text);
      const rejected = select(scrape, 'db_client_connection_acquires_total', { pool: 'sqlite-read', outcome: 'rejected' });
      expect(rejected[0]!.value).to.equal(reader.rejected);
    });
  });

  describe('configuration', function () {
    const METRICS_TOKEN = 'canary-metrics-token-7f3e9a1c5b';
    const SUPABASE_KEY = 'canary-supabase-key-c0ffee1234';
    // METRICS_TOKEN is enforced on every /metrics endpoint.
    const auth = { authorization: `Bearer ${METRICS_TOKEN}` };
    let service: TestService;

    before(async function () {
      service = await startTestService({ env: { METRICS_TOKEN, SUPABASE_KEY } });
    });

    after(async function () {
      await service?.stop();
    });

    it('shows the effective configuration with secrets as "***", never the secret itself', async function () {
      const res = await service.request('GET', '/metrics/database/config', undefined, auth);
      const config = expectOk<{ http: Row; pool: Row; databaseMode: string; sqlite: Row }>(res);
      expect(config.databaseMode).to.equal('sqlite');
      expect(config.http.metricsToken).to.equal('***');
      expect(config.pool).to.include({ minConnections: 2, maxConnections: 4 });
      expect(config.sqlite.path).to.equal(service.config.sqlite.path);
      expect(res.text).not.to.include(METRICS_TOKEN);
      expect(res.text).not.to.include(SUPABASE_KEY);
      expect(JSON.stringify(service.logs)).not.to.include(METRICS_TOKEN);
    });

    it('hides SUPABASE_KEY in supabase mode (the backend swapped for SQLite: only the config is under test)', async function () {
      const supabase = await startTestService({
        env: { DATABASE_MODE: 'supabase', SUPABASE_URL: 'http://127.0.0.1:9/', SUPABASE_KEY, METRICS_TOKEN },
        containerOptions: { adapter: new QueryCounter().sqliteAdapter() },
      });
      try {
        const res = await supabase.request('GET', '/metrics/database/config', undefined, auth);
        const config = expectOk<{ databaseMode: string; supabase: Row; http: Row }>(res);
        expect(config.databaseMode).to.equal('supabase');
        expect(config.supabase).to.include({ url: 'http://127.0.0.1:9', key: '***' });
        expect(config.http.metricsToken).to.equal('***');
        expect(res.text).not.to.include(SUPABASE_KEY);
        expect(res.text).not.to.include(METRICS_TOKEN);
        const pool = await supabase.request('GET', '/metrics/database/pool', undefined, auth);
        expect(expectOk<DatabaseMetrics>(pool).database_mode).to.equal('supabase');
        expect(JSON.stringify(supabase.logs)).not.to.include(SUPABASE_KEY);
      } finally {
        await supabase.stop();
      }
    });
  });
});
