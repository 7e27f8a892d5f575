/**
 * The N+1 detector (operations.ts) against a deliberately naive code path: a test-only route,
 * mounted through createApp's `extraRoutes` seam behind the production middleware, that loads a
 * session's plots and then each plot's author one by one with `repositories.authors.get(id)`.
 *
 * Per request with more than N_PLUS_ONE_THRESHOLD (default 10) repetitions of one statement shape:
 * `db_client_n_plus_one_suspected_total{http_route,collection}` + 1, a `db.n_plus_one_suspected`
 * event on the request's span, one warning per route (not per request), and a recommendation in
 * GET /metrics/performance/summary. The batched endpoints never trigger it.
 */
import { randomUUID } from 'node:crypto';
import { SpanKind } from '@opentelemetry/api';
import { expect } from 'chai';
import type { Router } from 'express';
import type { Container } from '../../src/container.js';
import { parseExposition, samplesOf, valueOf } from '../support/exposition.js';
import { idOf, startInMemoryTracing, traceIdOf, type FinishedSpan, type InMemoryTracing } from '../support/in-memory-tracing.js';
import { parseExposition as parseMetricsText, sumOf } from '../support/metrics-text.js';
import { seedStory, startObservedService, type ObservedService, type Story } from '../support/observed-service.js';
import { startTestService, type TestService } from '../support/service.js';

const NAIVE_ROUTE = '/test/naive/sessions/:id/plots-with-authors';
const COUNTER = 'db_client_n_plus_one_suspected_total';

/** The naive loop: one query for the plots, then one query per plot for its author. */
function naiveRoutes(router: Router, container: Container): void {
  router.get(NAIVE_ROUTE, async (req, res) => {
    const limit = Number(req.query.limit ?? 50);
    const page = await container.repositories.plots.search({
      filters: [{ column: 'session_id', op: 'eq', value: String(req.params.id) }],
      sort: [],
      limit,
      offset: 0,
      include: [],
    });
    const data = [];
    for (const plot of page.data) {
      const author = await container.repositories.authors.get(String(plot.author_id));
      data.push({ ...plot, author });
    }
    res.json({ data });
  });
}

function naivePath(sessionId: string, limit: number): string {
  return `${NAIVE_ROUTE.replace(':id', sessionId)}?limit=${limit}`;
}

interface Summary {
  readonly recommendations: Array<{ kind: string; severity: string; message: string }>;
}

describe('N+1 detection on a naive route, never on the batched endpoints', function () {
  this.timeout(60_000);
  let otel: InMemoryTracing | undefined;
  let service: ObservedService;
  let story: Story;

  async function counters(): Promise<ReturnType<typeof parseExposition>> {
    const res = await service.request('GET', '/metrics');
    expect(res.status).to.equal(200);
    return parseExposition(res.text);
  }

  function warnings(): Array<Record<string, unknown>> {
    return service.logs.filter((l) => l.level === 40 && String(l.msg).startsWith('suspected N+1'));
  }

  /** The server span of a request to `pathname` (http instrumentation, in-memory exporter). */
  async function serverSpan(pathname: string, fromIndex: number): Promise<FinishedSpan> {
    const deadline = Date.now() + 2000;
    for (;;) {
      const found = otel!
        .spans()
        .slice(fromIndex)
        .filter((s) => s.kind === SpanKind.SERVER && s.attributes['url.path'] === pathname);
      if (found.length === 1) return found[0]!;
      if (Date.now() > deadline) throw new Error(`${found.length} server spans for ${pathname}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  before(async () => {
    otel = startInMemoryTracing({ http: true });
    service = await startObservedService({ extraRoutes: naiveRoutes });
    expect(service.config.nPlusOneThreshold, 'default N_PLUS_ONE_THRESHOLD').to.equal(10);
    // 15 plots by 15 different authors: the naive loop issues 15 author queries of one shape.
    story = await seedStory(service, { authors: 15, plots: 15 });
  });

  after(async () => {
    await service?.stop();
    await otel?.stop();
  });

  it('exactly at the threshold (10 author queries in one request) nothing is suspected', async () => {
    const res = await service.request('GET', naivePath(story.sessionId, 10));
    expect(res.status, res.text).to.equal(200);
    expect((res.body as { data: unknown[] }).data).to.have.length(10);
    expect(samplesOf(await counters(), COUNTER)).to.have.length(0);
    expect(warnings()).to.have.length(0);
  });

  it('one more (11): counted once per request, span event, one warning per route, a recommendation', async () => {
    const labels = { http_route: NAIVE_ROUTE, collection: 'authors' };
    const spansBefore = otel!.spans().length;
    const logsBefore = service.logs.length;

    const first = await service.request('GET', naivePath(story.sessionId, 15));
    expect(first.status, first.text).to.equal(200);
    expect((first.body as { data: Array<{ author: { id: string } }> }).data.map((p) => p.author.id).sort()).to.deep.equal(
      [...story.authorIds].sort(),
    );
    expect(valueOf(await counters(), COUNTER, labels), 'after one request').to.equal(1);

    // The event sits on the request's span, with what repeated and how often when it crossed the line.
    const server = await serverSpan(NAIVE_ROUTE.replace(':id', story.sessionId), spansBefore);
    const events = server.events.filter((e) => e.name === 'db.n_plus_one_suspected');
    expect(events, 'one event per request and shape').to.have.length(1);
    expect(events[0]!.attributes).to.deep.equal({
      'db.collection.name': 'authors',
      'db.operation.name': 'SELECT',
      'db.query.repetitions': 11,
    });

    // The warning carries the route template and the request's trace.
    const [warning, ...more] = warnings();
    expect(more).to.have.length(0);
    expect(warning).to.include({ http_route: NAIVE_ROUTE, collection: 'authors', operation: 'SELECT', repetitions: 11 });
    expect(warning!.trace_id).to.equal(traceIdOf(server));
    expect(warning!.span_id).to.equal(idOf(server));
    expect(service.logs.indexOf(warning!)).to.be.at.least(logsBefore);

    // Two more requests: counted each time, still one warning for the route.
    for (let i = 0; i < 2; i++) expect((await service.request('GET', naivePath(story.sessionId, 12))).status).to.equal(200);
    expect(valueOf(await counters(), COUNTER, labels), 'after three requests').to.equal(3);
    expect(warnings()).to.have.length(1);

    const summary = await service.request('GET', '/metrics/performance/summary');
    expect(summary.status).to.equal(200);
    const suspects = (summary.body as Summary).recommendations.filter((r) => r.kind === 'n_plus_one');
    expect(suspects, JSON.stringify((summary.body as Summary).recommendations)).to.have.length(1);
    expect(suspects[0]!.message).to.include(NAIVE_ROUTE).and.include('authors').and.include('3 requests');
  });

  it('the batched endpoints load the same data without triggering it', async () => {
    const before = await counters();
    const warningsBefore = warnings().length;
    const spansBefore = otel!.spans().length;

    const page = await service.request('GET', `/api/plots?session_id=eq.${story.sessionId}&include=author&limit=200`);
    expect(page.status, page.text).to.equal(200);
    const plots = (page.body as { data: Array<{ id: string; author: { id: string } | null }> }).data;
    expect(plots).to.have.length(15);
    expect(plots.every((p) => p.author !== null)).to.equal(true);

    const lookup = await service.request('POST', '/api/plots/lookup', { ids: story.plotIds, include: ['author', 'session'] });
    expect(lookup.status, lookup.text).to.equal(200);
    const content = await service.request('GET', `/api/sessions/${story.sessionId}/content`);
    expect(content.status, content.text).to.equal(200);
    const authors = await service.request('GET', `/api/authors?session_id=eq.${story.sessionId}&include=plots,plots_count&limit=200`);
    expect(authors.status, authors.text).to.equal(200);
    for (const id of story.plotIds.slice(0, 12)) {
      expect((await service.request('GET', `/api/plots/${id}?include=author`)).status).to.equal(200);
    }

    const after = await counters();
    expect(samplesOf(after, COUNTER).map((s) => s.labels)).to.deep.equal(samplesOf(before, COUNTER).map((s) => s.labels));
    expect(valueOf(after, COUNTER, { http_route: NAIVE_ROUTE, collection: 'authors' })).to.equal(3);
    expect(warnings()).to.have.length(warningsBefore);
    const events = otel!
      .spans()
      .slice(spansBefore)
      .flatMap((s) => s.events)
      .filter((e) => e.name === 'db.n_plus_one_suspected');
    expect(events).to.have.length(0);
  });

  it('the threshold follows N_PLUS_ONE_THRESHOLD', async () => {
    const strict = await startObservedService({ env: { N_PLUS_ONE_THRESHOLD: '3' }, extraRoutes: naiveRoutes });
    try {
      const small = await seedStory(strict, { authors: 4, plots: 4 });
      expect((await strict.request('GET', naivePath(small.sessionId, 3))).status).to.equal(200);
      const res = await strict.request('GET', '/metrics');
      expect(samplesOf(parseExposition(res.text), COUNTER)).to.have.length(0);
      expect((await strict.request('GET', naivePath(small.sessionId, 4))).status).to.equal(200);
      const after = parseExposition((await strict.request('GET', '/metrics')).text);
      expect(valueOf(after, COUNTER, { http_route: NAIVE_ROUTE, collection: 'authors' })).to.equal(1);
    } finally {
      await strict.stop();
    }
  });
});

describe('N+1 detection: a chunked look-up is one operation, not a repetition (Supabase)', function () {
  this.timeout(60_000);
  let supabase: TestService;

  before(async () => {
    supabase = await startTestService({
      backend: 'supabase',
      env: { API_MAX_BATCH_SIZE: '5000', RATE_LIMIT_WRITES_PER_MINUTE: '0' },
    });
  });

  after(async () => {
    await supabase?.stop();
  });

  it('5,000 ids → 25 SELECTs (one per in-list chunk) and nothing suspected', async () => {
    const metrics = async (): Promise<ReturnType<typeof parseMetricsText>> =>
      parseMetricsText((await supabase.request('GET', '/metrics')).text);
    const before = sumOf(await metrics(), 'db_client_operation_duration_seconds_count');
    const ids = Array.from({ length: 5_000 }, () => randomUUID());
    const res = await supabase.request('POST', '/api/plots/lookup', { ids });
    expect(res.status, res.text.slice(0, 300)).to.equal(200);
    expect((res.body as { missing: string[] }).missing).to.have.length(5_000);
    const after = await metrics();
    // 206 hyphen-less UUIDs per in.(…) list: ceil(5000 / 206) = 25 requests, well over the threshold (10).
    expect(sumOf(after, 'db_client_operation_duration_seconds_count') - before).to.equal(25);
    expect(sumOf(after, COUNTER)).to.equal(0);
  });
});
