/**
 * `/metrics` as Prometheus sees it: every series of design §7 for both SQLite pools, with the right
 * type, help and values; route templates (never raw paths) on the HTTP histogram; no new series from
 * a scan of random URLs; DB_POOL_ENABLE_METRICS=false; `promtool check metrics` clean on our own
 * series; OpenMetrics when asked for.
 */
import { spawnSync } from 'node:child_process';
import { expect } from 'chai';
import { expectApiError, expectOk, Fixtures, missingId, uniqueTag } from '../support/fixtures.js';
import { parseExposition, select, seriesKey, valueOf, type Exposition } from '../support/metrics-text.js';
import { startTestService, type TestService } from '../support/service.js';

const POOLS = ['sqlite-read', 'sqlite-write'] as const;
const IN_CI = process.env.CI !== undefined && !/^(|0|false|no)$/i.test(process.env.CI.trim());

/** Per-pool families of design §7 and their label sets beyond `pool` and `db_system`. */
const POOL_GAUGES = [
  'db_client_connections_max',
  'db_client_connections_idle_min',
  'db_client_connections_pending_requests',
  'db_client_connections_hit_ratio',
  'db_client_connections_healthy',
  'db_client_connections_health_failures',
];
const POOL_COUNTERS: Record<string, { label?: string; values?: string[] }> = {
  db_client_connection_health_checks_total: { label: 'result', values: ['success', 'failure'] },
  db_client_connection_acquires_total: { label: 'outcome', values: ['hit', 'miss', 'timeout', 'rejected', 'error'] },
  db_client_connection_creates_total: { label: 'outcome', values: ['success', 'error'] },
  db_client_connection_closes_total: {
    label: 'reason',
    values: ['idle', 'unhealthy', 'max_lifetime', 'shutdown', 'error'],
  },
  db_client_connection_leaks_total: {},
};
const POOL_HISTOGRAMS = [
  'db_client_connection_wait_time_seconds',
  'db_client_connection_use_time_seconds',
  'db_client_connection_create_time_seconds',
];

async function scrape(service: TestService, accept?: string): Promise<{ text: string; contentType: string; metrics: Exposition }> {
  const res = await service.request('GET', '/metrics', undefined, accept ? { accept } : {});
  expect(res.status).to.equal(200);
  return { text: res.text, contentType: res.headers.get('content-type') ?? '', metrics: parseExposition(res.text) };
}

/** Checks one histogram series: ascending buckets ending in +Inf, cumulative counts, +Inf = _count. */
function expectHistogram(metrics: Exposition, name: string, labels: Record<string, string>): number {
  const buckets = select(metrics, `${name}_bucket`, labels);
  expect(buckets.length, `${name}${JSON.stringify(labels)} buckets`).to.be.greaterThan(1);
  const bounds = buckets.map((b) => (b.labels.le === '+Inf' ? Infinity : Number(b.labels.le)));
  expect(bounds[bounds.length - 1]).to.equal(Infinity);
  for (let i = 1; i < buckets.length; i++) {
    expect(bounds[i]!).to.be.greaterThan(bounds[i - 1]!);
    expect(buckets[i]!.value).to.be.at.least(buckets[i - 1]!.value);
  }
  const count = valueOf(metrics, `${name}_count`, labels);
  expect(buckets[buckets.length - 1]!.value).to.equal(count);
  expect(valueOf(metrics, `${name}_sum`, labels)).to.be.at.least(0);
  return count;
}

function findPromtool(): string | null {
  const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  return probe.error ? null : 'promtool';
}

describe('Prometheus exposition (/metrics)', function () {
  let service: TestService;
  let atStart: Exposition;

  before(async function () {
    service = await startTestService();
    // Before any traffic: the gauges show the warm pools exactly.
    atStart = (await scrape(service)).metrics;
    const f = new Fixtures(service);
    const graph = await f.graph();
    await f.plot(graph.session.id as string, graph.author.id as string);
    expectOk(await service.request('GET', `/api/plots?include=author`));
    expectApiError(await service.request('GET', `/api/plots/${missingId()}`), 404, 'NOT_FOUND');
    expectApiError(await service.request('POST', '/api/users', { email: graph.user.email, display_name: 'x' }), 409, 'CONFLICT');
    expectApiError(await service.request('POST', '/api/plots', '{"title":', { 'content-type': 'application/json' }), 400, 'VALIDATION_FAILED');
    expectApiError(await service.request('PATCH', `/api/plots/${missingId()}`, 'x', { 'content-type': 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  after(async function () {
    await service?.stop();
  });

  it('after warm-up the idle gauge equals the configured pool minimum, and nothing is used', function () {
    for (const [pool, min] of [
      ['sqlite-read', 2],
      ['sqlite-write', 1],
    ] as const) {
      const labels = { pool, db_system: 'sqlite' };
      expect(valueOf(atStart, 'db_client_connections', { ...labels, state: 'idle' }), pool).to.equal(min);
      expect(valueOf(atStart, 'db_client_connections', { ...labels, state: 'used' }), pool).to.equal(0);
      expect(valueOf(atStart, 'db_client_connections_idle_min', labels), pool).to.equal(min);
      expect(valueOf(atStart, 'db_client_connection_creates_total', { ...labels, outcome: 'success' }), pool).to.equal(min);
    }
    // No read yet: no ratio rather than a made-up one (the writer has run the migrations).
    expect(select(atStart, 'db_client_connections_hit_ratio', { pool: 'sqlite-read' })).to.deep.equal([]);
    expect(valueOf(atStart, 'db_client_connections_hit_ratio', { pool: 'sqlite-write' })).to.equal(1);
    expect(valueOf(atStart, 'db_client_connections_max', { pool: 'sqlite-read' })).to.equal(4);
    expect(valueOf(atStart, 'db_client_connections_max', { pool: 'sqlite-write' })).to.equal(1);
  });

  it('every pool series of design §7 is present for both SQLite pools, with its type and help', async function () {
    const { text, contentType, metrics } = await scrape(service);
    expect(contentType).to.match(/^text\/plain; version=0\.0\.4/);
    const help = (name: string): boolean => new RegExp(`^# HELP ${name} \\S`, 'm').test(text);

    expect(metrics.types.get('db_client_connections')).to.equal('gauge');
    for (const name of POOL_GAUGES) expect(metrics.types.get(name), name).to.equal('gauge');
    for (const name of Object.keys(POOL_COUNTERS)) expect(metrics.types.get(name), name).to.equal('counter');
    for (const name of POOL_HISTOGRAMS) expect(metrics.types.get(name), name).to.equal('histogram');
    for (const name of ['db_client_connections', ...POOL_GAUGES, ...Object.keys(POOL_COUNTERS), ...POOL_HISTOGRAMS]) {
      expect(help(name), `# HELP ${name}`).to.equal(true);
    }

    for (const pool of POOLS) {
      const labels = { pool, db_system: 'sqlite' };
      for (const state of ['idle', 'used']) {
        expect(select(metrics, 'db_client_connections', { ...labels, state }), `${pool} ${state}`).to.have.length(1);
      }
      for (const name of POOL_GAUGES) expect(select(metrics, name, labels), `${name} ${pool}`).to.have.length(1);
      for (const [name, { label, values }] of Object.entries(POOL_COUNTERS)) {
        if (!label) {
          expect(select(metrics, name, labels), `${name} ${pool}`).to.have.length(1);
          continue;
        }
        for (const value of values!) {
          expect(select(metrics, name, { ...labels, [label]: value }), `${name}{${label}="${value}"} ${pool}`).to.have.length(1);
        }
      }
      expectHistogram(metrics, 'db_client_connection_wait_time_seconds', labels);
      expectHistogram(metrics, 'db_client_connection_use_time_seconds', labels);
      expect(expectHistogram(metrics, 'db_client_connection_create_time_seconds', labels)).to.be.at.least(1);

      // Values agree with each other and with the pool.
      expect(valueOf(metrics, 'db_client_connections_healthy', labels)).to.equal(1);
      expect(valueOf(metrics, 'db_client_connections_health_failures', labels)).to.equal(0);
      const hits = valueOf(metrics, 'db_client_connection_acquires_total', { ...labels, outcome: 'hit' });
      const misses = valueOf(metrics, 'db_client_connection_acquires_total', { ...labels, outcome: 'miss' });
      expect(hits + misses, pool).to.be.greaterThan(0);
      expect(valueOf(metrics, 'db_client_connections_hit_ratio', labels)).to.be.closeTo(hits / (hits + misses), 1e-12);
      // Every acquire waited (timeouts included) and every successful one was released.
      expect(valueOf(metrics, 'db_client_connection_wait_time_seconds_count', labels)).to.equal(hits + misses);
      expect(valueOf(metrics, 'db_client_connection_use_time_seconds_count', labels)).to.equal(hits + misses);
    }
  });

  it('db_client_operation_duration_seconds by operation, collection and outcome', async function () {
    const { metrics } = await scrape(service);
    expect(metrics.types.get('db_client_operation_duration_seconds')).to.equal('histogram');
    const ok = { db_system: 'sqlite', outcome: 'success' };
    // The fixtures: one user, one session, then one author and one world-building row, one plot.
    for (const collection of ['users', 'sessions', 'authors', 'world_building', 'plots']) {
      expect(expectHistogram(metrics, 'db_client_operation_duration_seconds', { ...ok, operation: 'INSERT', collection })).to.equal(1);
    }
    // The search: page + count on plots, one batched authors query.
    expect(expectHistogram(metrics, 'db_client_operation_duration_seconds', { ...ok, operation: 'SELECT', collection: 'authors' })).to.equal(1);
    expect(
      expectHistogram(metrics, 'db_client_operation_duration_seconds', { ...ok, operation: 'SELECT', collection: 'plots' }),
    ).to.equal(3);
    // The duplicate email failed at the database.
    const failed = { db_system: 'sqlite', outcome: 'error', operation: 'INSERT', collection: 'users' };
    expect(expectHistogram(metrics, 'db_client_operation_duration_seconds', failed)).to.equal(1);
  });

  it('http_server_request_duration_seconds carries route templates, never raw paths', async function () {
    const { metrics } = await scrape(service);
    const http = (method: string, route: string, status: number): number =>
      expectHistogram(metrics, 'http_server_request_duration_seconds', {
        http_request_method: method,
        http_route: route,
        http_response_status_code: String(status),
      });
    expect(http('GET', '/api/plots/:id', 404)).to.equal(1);
    expect(http('GET', '/api/plots', 200)).to.equal(1);
    expect(http('POST', '/api/users', 201)).to.equal(1);
    expect(http('POST', '/api/users', 409)).to.equal(1);
    expect(http('POST', '/api/plots', 201)).to.equal(1);
    // Errors raised inside the nested routers (and by the body parser) keep the full template.
    expect(http('POST', '/api/plots', 400)).to.equal(1);
    expect(http('PATCH', '/api/plots/:id', 415)).to.equal(1);
    for (const sample of select(metrics, 'http_server_request_duration_seconds_count')) {
      expect(sample.labels.http_route).to.match(/^(unmatched|\/[a-z_/:]*)$/);
      expect(sample.labels.http_route).not.to.match(/[0-9a-f]{8}-/);
    }
  });

  it('50 requests to random unknown paths add no series (http_route="unmatched" only)', async function () {
    // The first unknown path creates the one "unmatched" series for GET 404.
    expectApiError(await service.request('GET', `/${uniqueTag()}`), 404, 'NOT_FOUND');
    const before = new Set((await scrape(service)).metrics.samples.map(seriesKey));
    const paths = Array.from({ length: 50 }, (_, i) =>
      [`/${uniqueTag()}`, `/api/${uniqueTag()}`, `/api/plots/${missingId()}/${uniqueTag()}`, `/metrics/${uniqueTag()}`, `/x/${i}/y?z=${i}`][i % 5]!,
    );
    for (const p of paths) expectApiError(await service.request('GET', p), 404, 'NOT_FOUND');
    const after = (await scrape(service)).metrics;
    const added = after.samples.filter((s) => !before.has(seriesKey(s)));
    expect(added.map(seriesKey)).to.deep.equal([]);
    expect(
      valueOf(after, 'http_server_request_duration_seconds_count', {
        http_request_method: 'GET',
        http_route: 'unmatched',
        http_response_status_code: '404',
      }),
    ).to.equal(51);
  });

  it('promtool check metrics reports nothing for our own series', async function () {
    const promtool = findPromtool();
    if (!promtool) {
      if (IN_CI) expect.fail('promtool is not on PATH (Debian package "prometheus"); CI must have it');
      this.skip();
    }
    const { text } = await scrape(service);
    const result = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    const problems = `${result.stdout}${result.stderr}`
      .split('\n')
      .filter((line) => line.trim() !== '')
      // prom-client's default nodejs_active_*_total gauges: not ours to rename.
      .filter((line) => !/^nodejs_\w+_total non-counter metrics should not have "_total" suffix$/.test(line));
    expect(problems).to.deep.equal([]);
    // It did read our series (an empty input would pass too).
    expect(text).to.include('db_client_connection_acquires_total{');
  });

  it('OpenMetrics when asked for: its content type, counters as _total samples, # EOF at the end', async function () {
    const { text, contentType, metrics } = await scrape(service, 'application/openmetrics-text; version=1.0.0,text/plain;q=0.5');
    expect(contentType).to.match(/^application\/openmetrics-text; version=1\.0\.0/);
    expect(text.endsWith('# EOF\n')).to.equal(true);
    expect(text.split('\n').filter((l) => l === '# EOF')).to.have.length(1);
    expect(metrics.types.get('db_client_connection_acquires')).to.equal('counter');
    expect(select(metrics, 'db_client_connection_acquires_total', { pool: 'sqlite-read', outcome: 'hit' })).to.have.length(1);
    expect(select(metrics, 'db_client_connections', { pool: 'sqlite-read', state: 'idle' })).to.have.length(1);
  });
});

describe('Prometheus exposition with DB_POOL_ENABLE_METRICS=false', function () {
  let service: TestService;

  before(async function () {
    service = await startTestService({ env: { DB_POOL_ENABLE_METRICS: 'false' } });
  });

  after(async function () {
    await service?.stop();
  });

  it('every metrics endpoint still answers 200, and no pool or query series is exported', async function () {
    const f = new Fixtures(service);
    await f.user();
    const { metrics } = await scrape(service);
    const ours = metrics.samples.filter((s) => s.name.startsWith('db_client_'));
    expect(ours.map(seriesKey)).to.deep.equal([]);
    // The process keeps its HTTP series and the defaults.
    expect(select(metrics, 'http_server_request_duration_seconds_count', { http_route: '/api/users' })).to.have.length(1);
    expect(select(metrics, 'process_cpu_user_seconds_total')).to.have.length(1);

    for (const url of ['/metrics/database/pool', '/metrics/performance/summary', '/metrics/database/health', '/metrics/database/config']) {
      expect((await service.request('GET', url)).status, url).to.equal(200);
    }
    expect((await service.request('POST', '/metrics/database/pool/reset')).status).to.equal(200);
  });
});
