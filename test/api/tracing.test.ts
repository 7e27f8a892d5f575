/**
 * Traces of requests through the real service in-process (SQLite in worker threads, express, the
 * HTTP server on a loopback port), recorded by an in-memory exporter (test/support/in-memory-tracing.ts):
 *
 *   HTTP server span (the service's http instrumentation config)
 *     └─ `{operation} {collection}` db span per statement or batch (operations.ts)
 *          └─ `acquire {pool}` span covering the pool wait (pool-tracing.ts)
 *
 * plus error spans, health-check spans, trace ids on log lines and trace-id exemplars on the
 * OpenMetrics scrape. The end-to-end OTLP export by the real entry point (NodeSDK, flush at
 * shutdown) is test/e2e/tracing-otlp.test.ts.
 */
import { SpanKind, SpanStatusCode, type AttributeValue } from '@opentelemetry/api';
import { expect } from 'chai';
import { composePoolObservers, createPoolTracingObserver } from '../../src/observability/pool-tracing.js';
import { parseExposition, samplesOf } from '../support/exposition.js';
import {
  hrToMs,
  idOf,
  parentIdOf,
  startInMemoryTracing,
  traceIdOf,
  type FinishedSpan,
  type InMemoryTracing,
} from '../support/in-memory-tracing.js';
import { seedStory, startObservedService, type ObservedService, type Story } from '../support/observed-service.js';

const ACQUIRE_TIMEOUT_SECONDS = 0.2;

/** The server span of the one request to `pathname` among `spans`. */
function serverSpanOf(spans: readonly FinishedSpan[], method: string, pathname: string): FinishedSpan {
  const found = spans.filter((s) => {
    if (s.kind !== SpanKind.SERVER) return false;
    const target = String(s.attributes['url.path'] ?? s.attributes['http.target'] ?? '');
    const verb = String(s.attributes['http.request.method'] ?? s.attributes['http.method'] ?? '');
    return verb === method && target.split('?')[0] === pathname;
  });
  expect(found, `server spans for ${method} ${pathname} among ${spans.map((s) => s.name).join(', ')}`).to.have.length(1);
  return found[0]!;
}

function childrenOf(spans: readonly FinishedSpan[], parent: FinishedSpan): FinishedSpan[] {
  return spans.filter((s) => parentIdOf(s) === idOf(parent) && traceIdOf(s) === traceIdOf(parent));
}

function attr(span: FinishedSpan, key: string): AttributeValue | undefined {
  return span.attributes[key];
}

/** Waits (bounded) until `check` passes: spans of a response may end just after the client saw it. */
async function eventually(check: () => void, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

describe('tracing: span tree, errors, acquires, health checks, logs and exemplars (in-process)', function () {
  this.timeout(60_000);
  let otel: InMemoryTracing | undefined;
  let service: ObservedService;
  let story: Story;

  before(async () => {
    otel = startInMemoryTracing({ http: true });
    service = await startObservedService({
      env: { DB_POOL_CONNECTION_TIMEOUT: String(ACQUIRE_TIMEOUT_SECONDS) },
      extraRoutes: (router, container) => {
        // A handler that logs inside the request, then reads one row.
        router.get('/test/logged-read/:id', async (req, res) => {
          container.logger.info({ probe: 'inside-request' }, 'handling a traced request');
          res.json(await container.repositories.sessions.get(String(req.params.id)));
        });
      },
    });
    story = await seedStory(service, { authors: 3, plots: 6 });
  });

  after(async () => {
    await service?.stop();
    await otel?.stop();
  });

  beforeEach(() => otel!.reset());

  it('a read with include: HTTP server span → one db span per statement → one acquire span each', async () => {
    const res = await service.request('GET', `/api/plots?session_id=eq.${story.sessionId}&include=author&limit=200`);
    expect(res.status, res.text).to.equal(200);
    expect((res.body as { data: unknown[] }).data).to.have.length(6);

    await eventually(() => serverSpanOf(otel!.spans(), 'GET', '/api/plots'));
    const spans = otel!.spans();
    const server = serverSpanOf(spans, 'GET', '/api/plots');
    expect(parentIdOf(server), 'the server span is the root').to.equal('');
    expect(server.status.code).to.equal(SpanStatusCode.UNSET);

    const db = childrenOf(spans, server);
    const names = db.map((s) => s.name).sort();
    // The page, its total count and the authors of the page in one batched query.
    expect(names.filter((n) => n === 'SELECT plots').length, names.join(', ')).to.be.at.least(1);
    expect(names.filter((n) => n === 'SELECT authors'), names.join(', ')).to.have.length(1);
    for (const span of db) {
      expect(span.kind, span.name).to.equal(SpanKind.CLIENT);
      const [operation, collection] = span.name.split(' ');
      expect(attr(span, 'db.system.name')).to.equal('sqlite');
      expect(attr(span, 'db.operation.name')).to.equal(operation);
      expect(attr(span, 'db.collection.name')).to.equal(collection);
      const text = String(attr(span, 'db.query.text'));
      expect(text, span.name).to.match(new RegExp(`\\b${operation}\\b`, 'i'));
      // Sanitized: placeholders, never the values of this request.
      expect(text).to.include('?');
      for (const literal of [story.sessionId, ...story.authorIds, '200']) expect(text).not.to.include(literal);
      expect(text, 'no quoted string literal').not.to.match(/'[^']*'/);
      expect(hrToMs(span.startTime)).to.be.at.least(hrToMs(server.startTime) - 1);
      expect(hrToMs(span.endTime)).to.be.at.most(hrToMs(server.endTime) + 1);

      const acquires = childrenOf(spans, span);
      expect(acquires.map((a) => a.name), `children of ${span.name}`).to.deep.equal(['acquire sqlite-read']);
      const acquire = acquires[0]!;
      expect(acquire.kind).to.equal(SpanKind.INTERNAL);
      expect(attr(acquire, 'db.client.connection.pool.name')).to.equal('sqlite-read');
      expect(attr(acquire, 'db.system.name')).to.equal('sqlite');
      expect(attr(acquire, 'db.client.connection.acquire.outcome')).to.be.oneOf(['hit', 'miss']);
      const wait = Number(attr(acquire, 'db.client.connection.wait_time'));
      expect(wait).to.be.at.least(0).and.below(ACQUIRE_TIMEOUT_SECONDS);
      // The span covers the wait: back-dated by it, ended when the connection was handed over.
      const durationMs = hrToMs(acquire.endTime) - hrToMs(acquire.startTime);
      expect(durationMs).to.be.closeTo(wait * 1000, 0.01);
      expect(hrToMs(acquire.startTime)).to.be.at.least(hrToMs(span.startTime) - 1);
      expect(acquire.status.code).to.equal(SpanStatusCode.UNSET);
    }
  });

  it('a batch create: one BATCH INSERT span with db.operation.batch.size, acquiring the writer', async () => {
    const items = [0, 1, 2, 3].map((i) => ({ session_id: story.sessionId, title: `Batch plot ${i}` }));
    const res = await service.request('POST', '/api/plots/batch', { items });
    expect(res.status, res.text).to.equal(201);

    await eventually(() => serverSpanOf(otel!.spans(), 'POST', '/api/plots/batch'));
    const spans = otel!.spans();
    const server = serverSpanOf(spans, 'POST', '/api/plots/batch');
    const db = childrenOf(spans, server);
    expect(db.map((s) => s.name)).to.deep.equal(['BATCH INSERT plots']);
    const batch = db[0]!;
    expect(attr(batch, 'db.operation.name')).to.equal('BATCH INSERT');
    expect(attr(batch, 'db.collection.name')).to.equal('plots');
    expect(attr(batch, 'db.operation.batch.size')).to.equal(4);
    expect(String(attr(batch, 'db.query.text'))).not.to.include('Batch plot');
    expect(childrenOf(spans, batch).map((s) => s.name)).to.deep.equal(['acquire sqlite-write']);
  });

  it('a failing statement: db span with status ERROR, an exception event and error.type = the stable code', async () => {
    const res = await service.request('POST', '/api/plots', {
      session_id: '00000000-0000-4000-8000-000000000000',
      title: 'Orphan plot',
    });
    expect(res.status, res.text).to.equal(409);
    expect((res.body as { error: { code: string } }).error.code).to.equal('CONFLICT');

    await eventually(() => serverSpanOf(otel!.spans(), 'POST', '/api/plots'));
    const spans = otel!.spans();
    const server = serverSpanOf(spans, 'POST', '/api/plots');
    const [insert, ...others] = childrenOf(spans, server);
    expect(others).to.have.length(0);
    expect(insert!.name).to.equal('INSERT plots');
    expect(insert!.status.code).to.equal(SpanStatusCode.ERROR);
    expect(attr(insert!, 'error.type')).to.equal('CONFLICT');
    const exception = insert!.events.find((e) => e.name === 'exception');
    expect(exception, 'exception event').to.exist;
    expect(exception!.attributes?.['exception.message']).to.be.a('string').and.not.equal('');
    // The response was a client error: the server span is not an error (OTel HTTP conventions).
    expect(server.status.code).to.equal(SpanStatusCode.UNSET);
    expect(attr(server, 'http.status_code') ?? attr(server, 'http.response.status_code')).to.equal(409);
  });

  it('an acquire that times out: the acquire span is an ERROR with error.type DB_POOL_TIMEOUT and lasts the wait', async () => {
    const writer = service.container.adapter.pools().find((p) => p.name === 'sqlite-write');
    expect(writer, 'the writer pool').to.exist;
    // Hold the only writer connection longer than the acquire timeout (as a slow transaction would).
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let held!: () => void;
    const holding = new Promise<void>((resolve) => (held = resolve));
    const holder = writer!.withConnection(async () => {
      held();
      await released;
    });
    try {
      await holding;
      const res = await service.request('POST', '/api/plots', { session_id: story.sessionId, title: 'Waits in vain' });
      expect(res.status, res.text).to.equal(503);
      expect((res.body as { error: { code: string } }).error.code).to.equal('DB_POOL_TIMEOUT');
    } finally {
      release();
      await holder;
    }

    await eventually(() => serverSpanOf(otel!.spans(), 'POST', '/api/plots'));
    const spans = otel!.spans();
    const server = serverSpanOf(spans, 'POST', '/api/plots');
    const [insert] = childrenOf(spans, server);
    expect(insert!.name).to.equal('INSERT plots');
    expect(insert!.status.code).to.equal(SpanStatusCode.ERROR);
    expect(attr(insert!, 'error.type')).to.equal('DB_POOL_TIMEOUT');
    const [acquire, ...more] = childrenOf(spans, insert!);
    expect(more).to.have.length(0);
    expect(acquire!.name).to.equal('acquire sqlite-write');
    expect(acquire!.status.code).to.equal(SpanStatusCode.ERROR);
    expect(attr(acquire!, 'error.type')).to.equal('DB_POOL_TIMEOUT');
    expect(attr(acquire!, 'db.client.connection.acquire.outcome')).to.equal('timeout');
    const waitedMs = hrToMs(acquire!.endTime) - hrToMs(acquire!.startTime);
    expect(waitedMs).to.be.at.least(ACQUIRE_TIMEOUT_SECONDS * 1000 - 5).and.below(ACQUIRE_TIMEOUT_SECONDS * 1000 + 1000);
    // The 503 is a server error: the server span says so.
    expect(server.status.code).to.equal(SpanStatusCode.ERROR);
  });

  it('health checks: one span per pool and pass, with the verdict', async () => {
    for (const pool of service.container.adapter.pools()) expect(await pool.checkHealth()).to.equal(true);
    const checks = otel!.spans().filter((s) => s.name.startsWith('health_check '));
    expect(checks.map((s) => s.name).sort()).to.deep.equal(['health_check sqlite-read', 'health_check sqlite-write']);
    for (const span of checks) {
      expect(parentIdOf(span), 'health checks are their own traces').to.equal('');
      expect(attr(span, 'db.client.connection.pool.healthy')).to.equal(true);
      expect(attr(span, 'db.system.name')).to.equal('sqlite');
      expect(span.status.code).to.equal(SpanStatusCode.UNSET);
    }
  });

  it('a failed health check is an ERROR span with the pool’s message (observer level)', () => {
    createPoolTracingObserver({ dbSystem: 'sqlite' }).onHealthCheck!('sqlite-read', false, 'validation failed');
    const [span] = otel!.spans();
    expect(span!.name).to.equal('health_check sqlite-read');
    expect(span!.status).to.deep.include({ code: SpanStatusCode.ERROR, message: 'validation failed' });
    expect(attr(span!, 'error.type')).to.equal('health_check_failed');
    expect(attr(span!, 'db.client.connection.pool.healthy')).to.equal(false);
    expect(span!.events.map((e) => e.name)).to.deep.equal(['exception']);
  });

  it('composed observers: every observer gets every event, even after one throws', () => {
    const seen: string[] = [];
    const observer = composePoolObservers(
      {
        onAcquire: () => {
          throw new Error('broken observer');
        },
      },
      { onAcquire: (pool, outcome) => seen.push(`${pool}:${outcome}`), onRelease: (pool) => seen.push(`${pool}:release`) },
    );
    observer.onAcquire!('p', 'hit', 0);
    observer.onRelease!('p', 0.1);
    observer.onLeak!('p', 1, 'stack');
    expect(seen).to.deep.equal(['p:hit', 'p:release']);
    // Outside any span there is no acquire span (internal traffic would make one-span traces).
    createPoolTracingObserver({ dbSystem: 'sqlite' }).onAcquire!('p', 'hit', 0);
    expect(otel!.spans()).to.have.length(0);
  });

  it('log lines written inside a request carry the trace_id and span_id of its span', async () => {
    const before = service.logs.length;
    const res = await service.request('GET', `/test/logged-read/${story.sessionId}`);
    expect(res.status, res.text).to.equal(200);
    await eventually(() => serverSpanOf(otel!.spans(), 'GET', `/test/logged-read/${story.sessionId}`));
    const server = serverSpanOf(otel!.spans(), 'GET', `/test/logged-read/${story.sessionId}`);
    const line = service.logs.slice(before).find((l) => l.probe === 'inside-request');
    expect(line, 'the log line of the handler').to.exist;
    expect(line!.trace_id).to.equal(traceIdOf(server));
    expect(line!.span_id).to.equal(idOf(server));
    expect(line!.trace_id).to.match(/^[0-9a-f]{32}$/);
    // Lines logged outside any request have no trace ids.
    const startup = service.logs.find((l) => l.msg === 'database pools warm; service ready');
    expect(startup, 'the start-up line').to.exist;
    expect(startup).not.to.have.property('trace_id');
  });

  it('histograms carry trace-id exemplars in the OpenMetrics scrape (and none in the classic one)', async () => {
    const res = await service.request('GET', `/api/plots/${story.plotIds[0]}?include=author`);
    expect(res.status, res.text).to.equal(200);
    await eventually(() => serverSpanOf(otel!.spans(), 'GET', `/api/plots/${story.plotIds[0]}`));
    const spans = otel!.spans();
    const server = serverSpanOf(spans, 'GET', `/api/plots/${story.plotIds[0]}`);
    const dbSpan = childrenOf(spans, server).find((s) => s.name === 'SELECT plots')!;
    expect(dbSpan, 'SELECT plots span').to.exist;

    const open = await service.request('GET', '/metrics', undefined, { accept: 'application/openmetrics-text; version=1.0.0' });
    expect(open.headers.get('content-type')).to.match(/^application\/openmetrics-text/);
    const samples = parseExposition(open.text);

    // prom-client keeps the latest exemplar per bucket: the bucket our request landed in has ours.
    const httpExemplars = samplesOf(samples, 'http_server_request_duration_seconds_bucket', {
      http_route: '/api/plots/:id',
      http_request_method: 'GET',
      http_response_status_code: '200',
    }).flatMap((s) => (s.exemplar ? [s.exemplar] : []));
    expect(httpExemplars.map((e) => e.labels)).to.deep.include({ trace_id: traceIdOf(server), span_id: idOf(server) });

    const dbExemplars = samplesOf(samples, 'db_client_operation_duration_seconds_bucket', {
      operation: 'SELECT',
      collection: 'plots',
      outcome: 'success',
    }).flatMap((s) => (s.exemplar ? [s.exemplar] : []));
    expect(dbExemplars.map((e) => e.labels)).to.deep.include({ trace_id: traceIdOf(dbSpan), span_id: idOf(dbSpan) });
    for (const e of [...httpExemplars, ...dbExemplars]) expect(e.labels.trace_id).to.match(/^[0-9a-f]{32}$/);

    const classic = await service.request('GET', '/metrics');
    expect(classic.headers.get('content-type')).to.match(/^text\/plain/);
    expect(parseExposition(classic.text).filter((s) => s.exemplar)).to.have.length(0);
  });

  it('probes and the scrape are not traced', async () => {
    expect((await service.request('GET', '/health/live')).status).to.equal(200);
    expect((await service.request('GET', '/metrics')).status).to.equal(200);
    expect((await service.request('GET', '/metrics/database/pool')).status).to.equal(200);
    await eventually(() => serverSpanOf(otel!.spans(), 'GET', '/metrics/database/pool'));
    const servers = otel!.spans().filter((s) => s.kind === SpanKind.SERVER);
    expect(servers).to.have.length(1);
  });
});
