/**
 * The end-to-end proof of the monitoring bundle (design §11): the real Prometheus binary scrapes
 * the running service under load, with the repository's recording and alerting rules loaded, and
 *
 *   (a) every query in every committed dashboard (grafana/dashboards/*.json; Grafana variables
 *       substituted) parses and returns data — at least one sample that is a number, not NaN;
 *       the dashboards' template-variable queries (`label_values(metric{…}, label)`) find values;
 *   (b) every recording rule returns data;
 *   (c) every alert expression parses (evaluated as it is, and its rule is healthy in
 *       /api/v1/rules), and without its threshold returns data (see stripThreshold in
 *       test/support/promql.ts for how the threshold is removed);
 *   (d) every metric name referenced anywhere (dashboards, rules, the allow-list in
 *       grafana/src/metrics.ts) exists in the service's scrape and in Prometheus;
 *   (e) `promtool check metrics` reports nothing for our own series on the live scrape.
 *
 * Also: the scrape is negotiated as OpenMetrics and Prometheus stores the trace-id exemplars.
 *
 * The service runs in-process (test/support/observed-service.ts) with spans recorded in memory (so
 * that exemplars carry sampled trace ids), on small pool limits so that the load produces every
 * series: misses and creates (bursts above the minimum), idle closes (DB_POOL_MAX_IDLE_TIME=1),
 * health checks every second, rejections (DB_POOL_MAX_WAITING_REQUESTS=2), a leak and an acquire
 * timeout (the writer held past DB_POOL_LEAK_THRESHOLD and DB_POOL_CONNECTION_TIMEOUT), 4xx and
 * 5xx answers, and one N+1 route (a test-only naive route).
 *
 * Without /usr/bin/prometheus or /usr/bin/promtool (Debian package `prometheus`) the suite is
 * skipped, or fails when CI is set.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { parse } from 'yaml';
import { ALLOWED_METRIC_NAMES, metricNamesInExpr, SCRAPE_JOB } from '../../grafana/src/metrics.js';
import { findProjectRoot } from '../../src/paths.js';
import { parseExposition, samplesOf } from '../support/exposition.js';
import { startInMemoryTracing, type InMemoryTracing } from '../support/in-memory-tracing.js';
import { seedStory, startObservedService, type ObservedService } from '../support/observed-service.js';
import {
  PROMETHEUS_BIN,
  PROMTOOL_BIN,
  runPromtool,
  startPrometheus,
  type PrometheusServer,
  type PromVectorResult,
} from '../support/prometheus.js';
import { stripThreshold, substituteVariables } from '../support/promql.js';

const ROOT = findProjectRoot(__dirname);
const DASHBOARD_DIR = path.join(ROOT, 'grafana', 'dashboards');
const RULE_DIR = path.join(ROOT, 'prometheus', 'rules');
const NAIVE_ROUTE = '/test/naive/sessions/:id/plots-with-authors';
/** What Grafana would put in for the dashboards' variables here. */
const RATE_INTERVAL = '1m';
const VARIABLES = {
  __rate_interval: RATE_INTERVAL,
  __interval: '1s',
  __range: '5m',
  job: SCRAPE_JOB,
  instance: '.+',
  pool: '.+',
  datasource: 'prometheus',
};
/**
 * prom-client's default metrics include gauges named `nodejs_active_{handles,requests,resources}_total`;
 * promtool (rightly) says a gauge should not end in `_total`. Those names are prom-client's, not
 * ours, and dashboards use one of them, so they are filtered from the lint (and reported).
 */
const FOREIGN_LINT = /^nodejs_active_[a-z_]+_total\b/;

interface RuleFile {
  groups: Array<{ name: string; rules: Array<{ record?: string; alert?: string; expr: string }> }>;
}

interface ApiRule {
  name: string;
  query: string;
  health: string;
  lastError?: string;
  type: 'recording' | 'alerting';
  lastEvaluation: string;
}

/** Every `expr` in a dashboard (panels, rows, nested panels), with where it is. */
function dashboardQueries(): Array<{ where: string; expr: string }> {
  const out: Array<{ where: string; expr: string }> = [];
  for (const file of fs.readdirSync(DASHBOARD_DIR).filter((f) => f.endsWith('.json')).sort()) {
    const dashboard = JSON.parse(fs.readFileSync(path.join(DASHBOARD_DIR, file), 'utf8')) as unknown;
    const walk = (node: unknown, where: string): void => {
      if (Array.isArray(node)) {
        node.forEach((child, i) => walk(child, `${where}[${i}]`));
        return;
      }
      if (node === null || typeof node !== 'object') return;
      const record = node as Record<string, unknown>;
      const here = typeof record.title === 'string' ? `${where} «${record.title}»` : where;
      if (typeof record.expr === 'string' && record.expr.trim() !== '') {
        out.push({ where: `${here} ${String(record.refId ?? '')}`.trim(), expr: record.expr });
      }
      for (const [key, child] of Object.entries(record)) if (key !== 'templating') walk(child, `${here}.${key}`);
    };
    walk(dashboard, file);
  }
  return out;
}

/** The dashboards' `label_values(selector, label)` variable queries. */
function variableQueries(): Array<{ where: string; selector: string; label: string }> {
  const out: Array<{ where: string; selector: string; label: string }> = [];
  for (const file of fs.readdirSync(DASHBOARD_DIR).filter((f) => f.endsWith('.json')).sort()) {
    const dashboard = JSON.parse(fs.readFileSync(path.join(DASHBOARD_DIR, file), 'utf8')) as {
      templating?: { list?: Array<{ name: string; type: string; query?: unknown }> };
    };
    for (const variable of dashboard.templating?.list ?? []) {
      if (variable.type !== 'query') continue;
      const query = typeof variable.query === 'string' ? variable.query : (variable.query as { query?: string })?.query;
      const m = /^label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\)$/.exec(query ?? '');
      if (!m) throw new Error(`${file} variable ${variable.name}: unsupported query ${JSON.stringify(query)}`);
      out.push({ where: `${file} $${variable.name}`, selector: m[1]!.trim(), label: m[2]! });
    }
  }
  return out;
}

function ruleFiles(): string[] {
  return fs
    .readdirSync(RULE_DIR)
    .filter((f) => f.endsWith('.yml') || f.endsWith('.yaml'))
    .sort()
    .map((f) => path.join(RULE_DIR, f));
}

function rules(): Array<{ file: string; group: string; record?: string; alert?: string; expr: string }> {
  return ruleFiles().flatMap((file) =>
    (parse(fs.readFileSync(file, 'utf8')) as RuleFile).groups.flatMap((g) =>
      g.rules.map((r) => ({ file: path.basename(file), group: g.name, ...r })),
    ),
  );
}

/** A result has data when at least one sample is a number (NaN is a panel gap, not data). */
function hasNumber(result: readonly PromVectorResult[]): boolean {
  return result.some((r) => !Number.isNaN(Number(r.value[1])));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('end to end: a real Prometheus scrapes the service under load', function () {
  this.timeout(120_000);
  let otel: InMemoryTracing | undefined;
  let service: ObservedService | undefined;
  let prometheus: PrometheusServer | undefined;
  let scrapeText = '';
  const statuses = new Map<number, number>();
  const problems: string[] = [];

  before(async function () {
    const missing = [PROMETHEUS_BIN, PROMTOOL_BIN].filter((bin) => !fs.existsSync(bin));
    if (missing.length > 0) {
      const message = `${missing.join(' and ')} not installed (Debian package "prometheus")`;
      if (process.env.CI) throw new Error(`${message}: the end-to-end scrape test cannot run in CI without it`);
      console.log(`      skipped: ${message}`);
      this.skip();
    }

    otel = startInMemoryTracing({ http: true });
    service = await startObservedService({
      env: {
        DB_POOL_MIN_CONNECTIONS: '1',
        DB_POOL_MAX_CONNECTIONS: '4',
        DB_POOL_MAX_IDLE_TIME: '1',
        DB_POOL_HEALTH_CHECK_INTERVAL: '1',
        DB_POOL_MAX_WAITING_REQUESTS: '2',
        DB_POOL_CONNECTION_TIMEOUT: '0.25',
        DB_POOL_LEAK_THRESHOLD: '0.4',
        LOG_LEVEL: 'warn',
      },
      extraRoutes: (router, container) => {
        // Deliberately naive: one query per plot for its author (an N+1 for the counter to see).
        router.get(NAIVE_ROUTE, async (req, res) => {
          const page = await container.repositories.plots.search({
            filters: [{ column: 'session_id', op: 'eq', value: String(req.params.id) }],
            sort: [],
            limit: 12,
            offset: 0,
            include: [],
          });
          const data = [];
          for (const plot of page.data) data.push({ ...plot, author: await container.repositories.authors.get(String(plot.author_id)) });
          res.json({ data });
        });
      },
    });
    prometheus = await startPrometheus({
      configFile: path.join(ROOT, 'prometheus', 'prometheus.yml'),
      ruleFiles: ruleFiles(),
      serviceTarget: new URL(service.url).host,
    });
    const checked = await runPromtool(['check', 'config', prometheus.configFile]);
    expect(checked.code, `promtool check config:\n${checked.stdout}${checked.stderr}`).to.equal(0);

    // A few scrapes before the load, so that rate() sees the counters move from their first value.
    await waitFor('the target to be up and scraped 3 times', 20_000, async () => {
      const [up] = await prometheus!.query(`count_over_time(up{job="${SCRAPE_JOB}"}[1m]) >= 3 and on () (up{job="${SCRAPE_JOB}"} == 1)`);
      return up !== undefined;
    });

    await driveLoad();
    await sleep(2500); // idle readers close (DB_POOL_MAX_IDLE_TIME=1): the second burst must reopen them
    await driveLoad();
    const loadEnd = Date.now();

    // Every rule evaluated at least twice after the load, and a few scrapes taken.
    await waitFor('every rule to be evaluated after the load', 20_000, async () => {
      const all = await apiRules();
      return all.length > 0 && all.every((r) => Date.parse(r.lastEvaluation) > loadEnd + 1500);
    });
    const scrape = await fetch(`${service.url}/metrics`);
    scrapeText = await scrape.text();
  });

  after(async function () {
    // Always: Prometheus first (it scrapes the service), then the service, then tracing.
    await prometheus?.stop();
    await service?.stop();
    await otel?.stop();
    if (problems.length > 0) console.log(`      findings:\n        ${problems.join('\n        ')}`);
  });

  async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await check().catch(() => false)) return;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${prometheus?.log().slice(-3000) ?? ''}`);
      await sleep(250);
    }
  }

  async function apiRules(): Promise<ApiRule[]> {
    const data = await prometheus!.api<{ groups: Array<{ rules: ApiRule[] }> }>('rules');
    return data.groups.flatMap((g) => g.rules);
  }

  async function call(method: string, pathname: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const res = await service!.request(method, pathname, body);
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    return res;
  }

  /** One round of traffic through every kind of endpoint and outcome. */
  async function driveLoad(): Promise<void> {
    const story = await seedStory(service!, { authors: 12, plots: 24 });
    const sid = story.sessionId;
    const place = (await call('POST', '/api/world_building', { session_id: sid, name: 'Harbour town' })).body as { id: string };
    const person = (await call('POST', '/api/characters', { session_id: sid, world_building_id: place.id, name: 'Ferryman' }))
      .body as { id: string };
    await call('PATCH', `/api/plots/${story.plotIds[0]}`, { title: 'Renamed' });
    await call('PATCH', '/api/plots/batch', { items: story.plotIds.slice(0, 5).map((id) => ({ id, changes: { word_count: 5 } })) });
    await call('DELETE', `/api/characters/${person.id}`);
    await call('GET', `/api/plots?session_id=eq.${sid}&include=author&limit=200`);
    await call('GET', `/api/authors?session_id=eq.${sid}&include=plots_count&sort=-name&limit=50`);
    await call('GET', `/api/sessions/${sid}/content`);
    await call('POST', '/api/plots/lookup', { ids: story.plotIds, include: ['author'] });
    await call('GET', `/api/plots/${story.plotIds[1]}?include=author,session`);
    await call('GET', `/api/plots?q=Plot&word_count=gte.100&limit=5`);
    // Client errors: 404 (row, route), 400 (malformed id, bad parameter), 409 (missing parent).
    await call('GET', `/api/plots/${randomUUID()}`);
    await call('GET', '/no/such/route');
    await call('GET', '/api/plots/not-a-uuid');
    await call('GET', '/api/plots?limit=lots');
    await call('POST', '/api/plots', { session_id: randomUUID(), title: 'Orphan' });
    // The N+1 route (12 author queries > N_PLUS_ONE_THRESHOLD=10).
    await call('GET', NAIVE_ROUTE.replace(':id', sid));
    // The JSON metrics API.
    await call('GET', '/metrics/database/pool');
    await call('GET', '/metrics/performance/summary');
    await call('GET', '/metrics/database/health');

    // A burst above the pool's maximum: misses (new reader connections), waits, shed requests (503).
    await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        call('GET', i % 2 === 0 ? `/api/plots?session_id=eq.${sid}&include=author&limit=200` : `/api/sessions/${sid}/content`),
      ),
    );

    // The writer held (as by a slow transaction) past the leak threshold and the acquire timeout:
    // a leak, an acquire timeout and a 503 DB_POOL_TIMEOUT.
    const writer = service!.container.adapter.pools().find((p) => p.name === 'sqlite-write')!;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let held!: () => void;
    const holding = new Promise<void>((resolve) => (held = resolve));
    const holder = writer.withConnection(async () => {
      held();
      await released;
    });
    try {
      await holding;
      const res = await call('POST', '/api/plots', { session_id: sid, title: 'Waits in vain' });
      expect(res.status).to.equal(503);
      await sleep(600); // past DB_POOL_LEAK_THRESHOLD (0.4 s) plus a leak sweep (every 0.2 s)
    } finally {
      release();
      await holder;
    }
  }

  it('drove every kind of answer through the service', () => {
    const seen = Object.fromEntries([...statuses.entries()].sort((a, b) => a[0] - b[0]));
    console.log(`      responses by status: ${JSON.stringify(seen)}`);
    for (const status of [200, 201, 204, 400, 404, 409, 503]) expect(seen, `a ${status}`).to.have.property(String(status));

    // …and moved every counter and histogram the dashboards and alerts read.
    const samples = parseExposition(scrapeText);
    const total = (name: string, labels: Record<string, string> = {}): number =>
      samplesOf(samples, name, labels).reduce((sum, s) => sum + s.value, 0);
    const acquires = 'db_client_connection_acquires_total';
    const moved = {
      hits: total(acquires, { outcome: 'hit' }),
      misses: total(acquires, { outcome: 'miss' }),
      timeouts: total(acquires, { pool: 'sqlite-write', outcome: 'timeout' }),
      rejected: total(acquires, { outcome: 'rejected' }),
      readerCreates: total('db_client_connection_creates_total', { pool: 'sqlite-read', outcome: 'success' }),
      idleCloses: total('db_client_connection_closes_total', { reason: 'idle' }),
      leaks: total('db_client_connection_leaks_total', { pool: 'sqlite-write' }),
      healthChecks: total('db_client_connection_health_checks_total', { result: 'success' }),
      nPlusOne: total('db_client_n_plus_one_suspected_total', { http_route: NAIVE_ROUTE, collection: 'authors' }),
    };
    console.log(`      counters: ${JSON.stringify(moved)}`);
    expect(moved.hits).to.be.greaterThan(0);
    expect(moved.misses, 'misses (bursts above the minimum)').to.be.greaterThan(0);
    expect(moved.timeouts, 'one acquire timeout per round').to.be.at.least(2);
    expect(moved.rejected, 'requests shed by the bounded queue').to.be.greaterThan(0);
    expect(moved.readerCreates, 'reader connections opened beyond the warm-up').to.be.greaterThan(1);
    expect(moved.idleCloses, 'idle readers closed between the rounds').to.be.greaterThan(0);
    expect(moved.leaks, 'the held writer reported as a leak').to.be.at.least(2);
    expect(moved.healthChecks).to.be.greaterThan(0);
    expect(moved.nPlusOne).to.equal(2);
    for (const histogram of [
      'db_client_connection_wait_time_seconds',
      'db_client_connection_use_time_seconds',
      'db_client_connection_create_time_seconds',
      'db_client_operation_duration_seconds',
      'http_server_request_duration_seconds',
    ]) {
      expect(total(`${histogram}_count`), histogram).to.be.greaterThan(0);
    }
  });

  it('Prometheus scrapes the target as OpenMetrics and stores trace-id exemplars', async () => {
    const targets = await prometheus!.api<{ activeTargets: Array<{ labels: Record<string, string>; health: string; lastError: string }> }>(
      'targets',
    );
    const ours = targets.activeTargets.filter((t) => t.labels.job === SCRAPE_JOB);
    expect(ours).to.have.length(1);
    expect(ours[0]!.health, ours[0]!.lastError).to.equal('up');

    const now = Date.now() / 1000;
    const exemplars = await prometheus!.api<Array<{ seriesLabels: Record<string, string>; exemplars: Array<{ labels: Record<string, string> }> }>>(
      'query_exemplars',
      { query: `http_server_request_duration_seconds_bucket{job="${SCRAPE_JOB}"}`, start: String(now - 300), end: String(now) },
    );
    const traceIds = new Set(otel!.spans().map((s) => s.spanContext().traceId));
    const stored = exemplars.flatMap((e) => e.exemplars.map((x) => x.labels.trace_id));
    expect(stored.length, 'exemplars stored by Prometheus').to.be.greaterThan(0);
    expect(stored.every((id) => id !== undefined && traceIds.has(id)), 'every exemplar names a recorded trace').to.equal(true);
  });

  it('(a) every dashboard query parses and returns data', async () => {
    const queries = dashboardQueries();
    expect(queries.length).to.be.greaterThan(10);
    const failures: string[] = [];
    for (const { where, expr } of queries) {
      const promql = substituteVariables(expr, VARIABLES);
      try {
        const result = await prometheus!.query(promql);
        if (!hasNumber(result)) failures.push(`${where}: no data (${result.length} series, all NaN or none): ${promql}`);
      } catch (err) {
        failures.push(`${where}: ${(err as Error).message}`);
      }
    }
    const variables = variableQueries();
    for (const { where, selector, label } of variables) {
      const series = await prometheus!.api<Array<Record<string, string>>>('series', {
        'match[]': substituteVariables(selector, VARIABLES),
        start: String(Date.now() / 1000 - 60),
      });
      if (!series.some((s) => s[label] !== undefined && s[label] !== '')) failures.push(`${where}: label_values found no ${label}`);
    }
    console.log(`      dashboard queries evaluated: ${queries.length} panel queries + ${variables.length} variable queries`);
    expect(failures, failures.join('\n')).to.deep.equal([]);
  });

  it('(b) every recording rule returns data, and is healthy', async () => {
    const recording = rules().filter((r) => r.record !== undefined);
    expect(recording.length).to.be.greaterThan(0);
    const health = new Map((await apiRules()).filter((r) => r.type === 'recording').map((r) => [r.name, r]));
    const failures: string[] = [];
    for (const rule of recording) {
      const api = health.get(rule.record!);
      if (api?.health !== 'ok') failures.push(`${rule.record}: health ${api?.health ?? 'missing'} ${api?.lastError ?? ''}`);
      const stored = await prometheus!.query(rule.record!);
      if (!hasNumber(stored)) failures.push(`${rule.record}: no data recorded`);
    }
    console.log(`      recording rules evaluated: ${recording.length}`);
    expect(failures, failures.join('\n')).to.deep.equal([]);
  });

  it('(c) every alert expression parses, and without its threshold returns data', async () => {
    const alerts = rules().filter((r) => r.alert !== undefined);
    expect(alerts.length).to.be.greaterThan(0);
    const health = new Map((await apiRules()).filter((r) => r.type === 'alerting').map((r) => [r.name, r]));
    const failures: string[] = [];
    for (const rule of alerts) {
      const api = health.get(rule.alert!);
      if (api?.health !== 'ok') failures.push(`${rule.alert}: health ${api?.health ?? 'missing'} ${api?.lastError ?? ''}`);
      try {
        await prometheus!.query(rule.expr);
      } catch (err) {
        failures.push(`${rule.alert}: does not evaluate: ${(err as Error).message}`);
        continue;
      }
      const stripped = stripThreshold(rule.expr);
      expect(stripped, `${rule.alert}: a threshold was removed`).not.to.equal(rule.expr.trim());
      try {
        if (!hasNumber(await prometheus!.query(stripped))) failures.push(`${rule.alert}: no data for ${stripped}`);
      } catch (err) {
        failures.push(`${rule.alert}: stripped expression ${stripped}: ${(err as Error).message}`);
      }
    }
    console.log(`      alert expressions evaluated: ${alerts.length} (each as written and without its threshold)`);
    expect(failures, failures.join('\n')).to.deep.equal([]);
  });

  it('(d) every metric name referenced anywhere exists in the scrape and in Prometheus', async () => {
    const scraped = new Set(parseExposition(scrapeText).map((s) => s.name));
    const stored = new Set(await prometheus!.api<string[]>('label/__name__/values'));
    const records = new Set(rules().flatMap((r) => (r.record ? [r.record] : [])));
    const referenced = new Map<string, string>();
    for (const { where, expr } of dashboardQueries()) for (const n of metricNamesInExpr(expr)) referenced.set(n, where);
    for (const { where, selector } of variableQueries()) for (const n of metricNamesInExpr(selector)) referenced.set(n, where);
    for (const r of rules()) for (const n of metricNamesInExpr(r.expr)) referenced.set(n, `${r.file} ${r.record ?? r.alert}`);
    for (const n of ALLOWED_METRIC_NAMES) if (!referenced.has(n)) referenced.set(n, 'grafana/src/metrics.ts allow-list');

    const failures: string[] = [];
    for (const [name, where] of [...referenced.entries()].sort()) {
      if (name.includes(':')) {
        if (!records.has(name)) failures.push(`${name} (${where}): no recording rule records it`);
      } else if (name === 'up') {
        // Written by Prometheus for each target, not by the service.
      } else if (!scraped.has(name)) {
        failures.push(`${name} (${where}): not in the service's scrape`);
      }
      if (!stored.has(name)) failures.push(`${name} (${where}): Prometheus has no series of that name`);
    }
    console.log(`      metric names checked: ${referenced.size}`);
    expect(failures, failures.join('\n')).to.deep.equal([]);
  });

  it('(e) promtool check metrics reports nothing for our own series on the live scrape', async () => {
    const res = await fetch(`${service!.url}/metrics`);
    expect(res.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
    const lint = await runPromtool(['check', 'metrics'], await res.text());
    const lines = `${lint.stdout}\n${lint.stderr}`
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    const foreign = lines.filter((l) => FOREIGN_LINT.test(l));
    const ours = lines.filter((l) => !FOREIGN_LINT.test(l));
    if (foreign.length > 0) problems.push(`promtool on prom-client's default metrics (not ours, ignored): ${foreign.join('; ')}`);
    expect(ours, ours.join('\n')).to.deep.equal([]);
    // The exit status is 0 when nothing (or only the filtered lint) was reported.
    if (foreign.length === 0) expect(lint.code).to.equal(0);
  });

  it('the alerting rules fire nothing they should not on this healthy-but-stressed run', async () => {
    // Every `for:` is ≥ 1 m, longer than this test: nothing may be firing; pending is fine.
    const alerts = await prometheus!.api<{ alerts: Array<{ labels: Record<string, string>; state: string }> }>('alerts');
    const firing = alerts.alerts.filter((a) => a.state === 'firing');
    expect(firing.map((a) => a.labels.alertname)).to.deep.equal([]);
  });
});

describe('stripThreshold (how the end-to-end test removes an alert threshold)', () => {
  const cases: Array<[string, string]> = [
    ['x > 0.8', 'x'],
    ['sum by (a) (rate(x_total[5m])) >= 3', 'sum by (a) (rate(x_total[5m]))'],
    ['up{job="a"} == 0', 'up{job="a"}'],
    ['foo{a="x>1"} != 0', 'foo{a="x>1"}'],
    ['x > bool 3', 'x'],
    ['1 < y', 'y'],
    ['(a > 0) and on (job) (b >= 1)', '(a) and on (job) (b)'],
    ['a or b > 1', 'a or b'],
    ['a > 1 unless on (job) b', 'a'],
    ['absent(up{job="a"})', 'up{job="a"}'],
    ['absent_over_time(up{job="a"}[5m])', 'up{job="a"}'],
    ['a > b', 'a > b'],
    ['x / (y > 0) > 0.5', 'x / (y > 0)'],
  ];
  for (const [input, output] of cases) {
    it(`${input}  →  ${output}`, () => expect(stripThreshold(input)).to.equal(output));
  }

  it('substitutes Grafana variables and refuses leftovers', () => {
    expect(substituteVariables('rate(x{job=~"$job",pool=~"${pool}"}[$__rate_interval])', VARIABLES)).to.equal(
      `rate(x{job=~"${SCRAPE_JOB}",pool=~".+"}[1m])`,
    );
    expect(() => substituteVariables('x{a="$unknown"}', VARIABLES)).to.throw(/unsubstituted/);
  });
});
