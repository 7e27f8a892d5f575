/**
 * Security (issue 7): hardening headers on every response, no X-Powered-By, JSON errors without
 * stacks (an unexpected error included), request ids; the metrics endpoints on a separate
 * loopback listener (METRICS_PORT) and absent from the public one; and a canary run on both
 * backends: with canary values for SUPABASE_KEY and METRICS_TOKEN, a representative slice of the
 * API — successes, every kind of error, probes, config, metrics, failed upstream calls — must not
 * show either secret in any response body or header, nor in any log line.
 */
import { expect } from 'chai';
import type { DatabaseAdapter } from '../../src/adapters/contract.js';
import { createAdapter } from '../../src/container.js';
import { createMetricsApp } from '../../src/http/app.js';
import { startHttpServer, type HttpServerHandle } from '../../src/http/server.js';
import { expectApiError, expectOk, Fixtures, missingId, rowCounts, uniqueTag } from '../support/fixtures.js';
import { startTestService, type TestResponse, type TestService } from '../support/service.js';
import { BOTH_BACKENDS, leakForms, startBackendService } from './support/backend-service.js';

const HARDENING: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cross-origin-resource-policy': 'same-origin',
};

const STACK = /\n\s+at |\bat [\w$.<>]+ \(|\.(?:js|ts):\d+:\d+|"stack"|node:internal|\/work\/|dist\/src/;

function expectHardened(res: TestResponse, what: string): void {
  for (const [name, value] of Object.entries(HARDENING)) expect(res.headers.get(name), `${what}: ${name}`).to.equal(value);
  expect(res.headers.get('x-powered-by'), `${what}: x-powered-by`).to.equal(null);
  expect(res.headers.get('x-request-id'), `${what}: x-request-id`).to.match(/^[0-9a-f-]{36}$/);
  expect(res.text, `${what}: no stack`).not.to.match(STACK);
}

/** Wraps an adapter so that searching `characters` throws a plain driver-like Error. */
function explodingSearch(adapter: DatabaseAdapter): DatabaseAdapter {
  return new Proxy(adapter, {
    get(target, prop) {
      if (prop === 'search') {
        return (table: { name: string }, ...rest: unknown[]) => {
          if (table.name === 'characters') {
            throw new TypeError("Cannot read properties of undefined (reading 'rows') at /srv/app/secret-path.js:12:3 password=hunter2");
          }
          return (target.search as (...a: unknown[]) => unknown).call(target, table, ...rest);
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('security: hardening of every response', function () {
  let service: TestService;
  let f: Fixtures;

  before(async function () {
    service = await startTestService({
      env: { HTTP_MAX_BODY_BYTES: '2048', RATE_LIMIT_WRITES_PER_MINUTE: '60', RATE_LIMIT_WRITES_BURST: '1000' },
      containerOptions: { adapter: (config, wiring) => explodingSearch(createAdapter(config, wiring)) },
    });
    f = new Fixtures(service);
  });

  after(async function () {
    await service?.stop();
  });

  it('security headers, no X-Powered-By and a request id on successes, errors, probes and metrics', async function () {
    const graph = await f.graph();
    const plot = await f.plot(graph.session.id as string, null);
    const cases: Array<[string, () => Promise<TestResponse>, number]> = [
      ['GET one', () => service.request('GET', `/api/plots/${String(plot.id)}`), 200],
      ['search', () => service.request('GET', '/api/plots?limit=1'), 200],
      ['create', () => service.request('POST', '/api/plots', { session_id: graph.session.id, title: 'x' }), 201],
      ['delete', async () => service.request('DELETE', `/api/plots/${String((await f.plot(graph.session.id as string, null)).id)}`), 204],
      ['400', () => service.request('GET', '/api/plots?limit=x'), 400],
      ['404 route', () => service.request('GET', '/nope'), 404],
      ['404 row', () => service.request('GET', `/api/plots/${missingId()}`), 404],
      ['409', () => service.request('POST', '/api/users', { email: graph.user.email, display_name: 'x' }), 409],
      ['413', () => service.request('POST', '/api/plots', { title: 'x'.repeat(4096) }), 413],
      ['415', () => service.request('POST', '/api/plots', 'x', { 'content-type': 'text/plain' }), 415],
      ['500', () => service.request('GET', '/api/characters'), 500],
      ['live', () => service.request('GET', '/health/live'), 200],
      ['ready', () => service.request('GET', '/health/ready'), 200],
      ['metrics text', () => service.request('GET', '/metrics'), 200],
      ['metrics JSON', () => service.request('GET', '/metrics/database/pool'), 200],
      ['HEAD', () => service.request('HEAD', '/health/live'), 200],
      ['OPTIONS (express answers with the allowed methods)', () => service.request('OPTIONS', '/api/plots'), 200],
    ];
    for (const [what, send, status] of cases) {
      const res = await send();
      expect(res.status, `${what}: ${res.text.slice(0, 200)}`).to.equal(status);
      expectHardened(res, what);
    }
  });

  it('an unexpected error is a 500 INTERNAL naming only the request id; the details go to the log under it', async function () {
    const res = await service.request('GET', '/api/characters?limit=1', undefined, { 'x-request-id': 'boom-1' });
    const error = expectApiError(res, 500, 'INTERNAL');
    expect(error.message).to.equal('An unexpected error occurred; quote request id boom-1 when reporting it.');
    expect(res.text).not.to.include('hunter2').and.not.to.include('secret-path').and.not.to.include('TypeError');
    const logged = service.logs.find((l) => l.request_id === 'boom-1');
    expect(logged?.level, JSON.stringify(logged)).to.equal(50); // pino error
    expect(JSON.stringify(logged)).to.include('reading \'rows\'');
  });

  it('a 429 is hardened too', async function () {
    const limited = await startTestService({ env: { RATE_LIMIT_WRITES_PER_MINUTE: '1', RATE_LIMIT_WRITES_BURST: '1' } });
    try {
      await limited.request('POST', '/api/users', { email: `${uniqueTag()}@example.test`, display_name: 'x' });
      const res = await limited.request('POST', '/api/users', { email: `${uniqueTag()}@example.test`, display_name: 'x' });
      expect(res.status).to.equal(429);
      expectHardened(res, '429');
    } finally {
      await limited.stop();
    }
  });
});

describe('security: METRICS_PORT (metrics on a separate loopback listener)', function () {
  const TOKEN = 'metrics-port-token-0123456789abcdef';
  const auth = { authorization: `Bearer ${TOKEN}` };
  let service: TestService;
  let metrics: HttpServerHandle;
  let metricsUrl: string;

  before(async function () {
    service = await startTestService({ env: { METRICS_PORT: '0', METRICS_TOKEN: TOKEN } });
    // main.ts does exactly this with METRICS_HOST (default 127.0.0.1) and METRICS_PORT.
    metrics = await startHttpServer(createMetricsApp(service.container), service.config.http.metricsHost, 0);
    metricsUrl = `http://${service.config.http.metricsHost}:${metrics.port}`;
  });

  after(async function () {
    await metrics?.close(1000);
    await service?.stop();
  });

  const ROUTES: Array<[string, string]> = [
    ['GET', '/metrics'],
    ['GET', '/metrics/database/pool'],
    ['POST', '/metrics/database/pool/reset'],
    ['GET', '/metrics/database/health'],
    ['GET', '/metrics/performance/summary'],
    ['GET', '/metrics/database/config'],
  ];

  const onMetricsPort = async (method: string, route: string, headers: Record<string, string> = {}): Promise<TestResponse> => {
    const res = await fetch(`${metricsUrl}${route}`, { method, headers });
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: res.status, headers: res.headers, text, body };
  };

  it('binds loopback by default', function () {
    expect(service.config.http.metricsHost).to.equal('127.0.0.1');
    expect(metrics.server.address()).to.include({ address: '127.0.0.1' });
  });

  it('the public port answers 404 for every metrics and admin route, even with the token; the reset resets nothing', async function () {
    const before = (await onMetricsPort('GET', '/metrics/database/pool', auth)).body as { pools: Array<{ last_reset: string }> };
    for (const [method, route] of ROUTES) {
      const error = expectApiError(await service.request(method, route, undefined, auth), 404, 'NOT_FOUND');
      expect(error.message).to.include(route);
    }
    const after = (await onMetricsPort('GET', '/metrics/database/pool', auth)).body as { pools: Array<{ last_reset: string }> };
    expect(after.pools[0]!.last_reset).to.equal(before.pools[0]!.last_reset);
    // The API and the probes stay on the public port.
    expectOk(await service.request('GET', '/api/users?limit=1'));
    expectOk(await service.request('GET', '/health/ready'));
  });

  it('the metrics port serves them (token still required), hardened, and nothing of the API', async function () {
    for (const [method, route] of ROUTES) {
      const refused = await onMetricsPort(method, route);
      expect(refused.status, `${method} ${route} without the token`).to.equal(401);
      const res = await onMetricsPort(method, route, auth);
      expect(res.status, `${method} ${route}`).to.equal(200);
      expectHardened(res, route);
    }
    expect((await onMetricsPort('GET', '/health/live')).status).to.equal(200);
    expect((await onMetricsPort('GET', '/api/users?limit=1')).status).to.equal(404);
    expect((await onMetricsPort('POST', '/api/users', auth)).status).to.equal(404);
  });
});

for (const backend of BOTH_BACKENDS) {
  describe(`security: secrets never leave the service [${backend}]`, function () {
    const KEY = `sb-canary-KEY-${backend}-9f8e7d6c5b4a39281706`;
    const TOKEN = `canary-TOKEN-${backend}-0a1b2c3d4e5f6789`;
    const auth = { authorization: `Bearer ${TOKEN}` };
    let service: TestService;
    const seen: TestResponse[] = [];

    before(async function () {
      service = await startBackendService(
        backend,
        {
          SUPABASE_KEY: KEY,
          METRICS_TOKEN: TOKEN,
          SUPABASE_REQUEST_TIMEOUT_MS: '2000',
          SUPABASE_READ_RETRIES: '0',
          LOG_LEVEL: 'trace',
          RATE_LIMIT_WRITES_PER_MINUTE: '0',
        },
        { requiredKey: KEY },
        // An unexpected error (500 INTERNAL, logged with its message and stack) on /api/characters.
        { adapter: (config, wiring) => explodingSearch(createAdapter(config, wiring)) },
      );
    });

    after(async function () {
      await service?.postgrest?.faults.clear();
      await service?.stop();
    });

    const call = async (method: string, route: string, body?: unknown, headers?: Record<string, string>): Promise<TestResponse> => {
      const res = await service.request(method, route, body, headers);
      seen.push(res);
      return res;
    };

    it('a slice of the API: successes and errors', async function () {
      const f = new Fixtures(service);
      const graph = await f.graph();
      const sid = graph.session.id as string;
      const plot = await f.plot(sid, graph.author.id as string, { metadata: { note: 'x' } });
      await call('GET', '/health/live');
      await call('GET', '/health/ready');
      await call('GET', `/api/plots/${String(plot.id)}?include=author,session`);
      await call('GET', `/api/plots?session_id=eq.${sid}&q=x&sort=-title&include=author`);
      await call('POST', '/api/plots/lookup', { ids: [plot.id, missingId()] });
      await call('PATCH', `/api/plots/${String(plot.id)}`, { title: 'changed' });
      await call('PATCH', '/api/plots/batch', { items: [{ id: plot.id, changes: { word_count: 3 } }] });
      await call('GET', `/api/sessions/${sid}/content`);
      await call('DELETE', `/api/plots/${String(plot.id)}`);
      expect((await call('POST', '/api/plots', { title: 7 })).status).to.equal(400);
      expect((await call('GET', `/api/plots/${missingId()}`)).status).to.equal(404);
      expect((await call('POST', '/api/users', { email: graph.user.email, display_name: 'dup' })).status).to.equal(409);
      expect((await call('POST', '/api/authors', { session_id: missingId(), name: 'orphan' })).status).to.equal(409);
      expect((await call('POST', '/api/plots', 'x', { 'content-type': 'text/plain' })).status).to.equal(415);
      expect((await call('POST', '/api/plots', `{"title":"${'x'.repeat(6 * 1024 * 1024)}"}`)).status).to.equal(413);
    });

    it('metrics, config and admin endpoints, refused and allowed', async function () {
      expect((await call('GET', '/metrics')).status).to.equal(401);
      expect((await call('GET', '/metrics', undefined, { authorization: `Bearer ${TOKEN.slice(0, -1)}` })).status).to.equal(401);
      expect((await call('GET', '/metrics', undefined, { authorization: `Bearer ${TOKEN}`, accept: 'application/openmetrics-text' })).status).to.equal(200);
      for (const route of ['/metrics', '/metrics/database/pool', '/metrics/database/health', '/metrics/performance/summary', '/metrics/database/config']) {
        expect((await call('GET', route, undefined, auth)).status, route).to.equal(200);
      }
      const config = (await call('GET', '/metrics/database/config', undefined, auth)).body as { http: { metricsToken: string }; supabase: { key: string } | null };
      expect(config.http.metricsToken).to.equal('***');
      if (backend === 'supabase') expect(config.supabase?.key).to.equal('***');
      expect((await call('POST', '/metrics/database/pool/reset', undefined, auth)).status).to.equal(200);
    });

    it('failed upstream calls (supabase: 5xx echoing the key, an HTML page, a reset, a black hole)', async function () {
      // Both: an unexpected error inside the service, logged in full.
      expect((await call('GET', '/api/characters')).status).to.equal(500);
      if (backend !== 'supabase') return; // SQLite has no upstream
      const faults = service.postgrest!.faults;
      const before = await rowCounts(service);
      faults.failNext(1, 500, { code: 'XX000', message: `internal error near apikey ${KEY}`, details: `Authorization: Bearer ${KEY}`, hint: KEY });
      let res = await call('GET', '/api/plots?limit=1');
      expect(res.status, res.text).to.be.within(500, 599);
      faults.failNext(1, 503, { code: 'PGRST001', message: `connection to db with key ${KEY} failed`, details: KEY, hint: null });
      res = await call('GET', '/api/plots?limit=1');
      expect(res.status, res.text).to.be.within(500, 599);
      faults.htmlNext(1, 502);
      res = await call('GET', '/api/plots?limit=1');
      expect(res.status, res.text).to.be.within(500, 599);
      faults.resetNext(1, 'mid-response');
      res = await call('GET', '/api/plots?limit=1');
      expect(res.status, res.text).to.be.within(500, 599);
      faults.blackHole = true;
      res = await call('POST', '/api/users', { email: `${uniqueTag()}@example.test`, display_name: 'lost' });
      expect(res.status, res.text).to.be.within(500, 599);
      await faults.clear();
      expect(await rowCounts(service)).to.deep.equal(before);
      // Readiness and health recover and say so without the key.
      await call('GET', '/health/ready');
      await call('GET', '/metrics/database/health', undefined, auth);
    });

    it('no response body or header, and no log line, holds either secret (plain, URI-encoded, base64)', function () {
      expect(seen.length).to.be.greaterThan(25);
      const forms = [...leakForms(KEY), ...leakForms(TOKEN)];
      for (const res of seen) {
        const headers = [...res.headers.entries()].map(([k, v]) => `${k}: ${v}`).join('\n');
        for (const form of forms) {
          expect(res.text, `body of a ${res.status}`).not.to.include(form);
          expect(headers, `headers of a ${res.status}`).not.to.include(form);
        }
        expect(res.text, `stack in a ${res.status}`).not.to.match(STACK);
      }
      const logs = JSON.stringify(service.logs);
      // The failures were logged (so there was something to leak into).
      const warnings = service.logs.filter((l) => Number(l.level) >= 40);
      expect(warnings.length, logs.slice(0, 2000)).to.be.at.least(backend === 'supabase' ? 6 : 1);
      for (const form of forms) expect(logs, 'log lines').not.to.include(form);
    });
  });
}
