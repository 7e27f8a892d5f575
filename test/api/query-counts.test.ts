/**
 * Related data costs a constant number of queries (design §9): the same count whether a page holds
 * 10 rows or 500, counted at the adapter's instrumentation seam and cross-checked against
 * `db_client_operation_duration_seconds_count` on /metrics. The measured counts are printed for the
 * lead's notes.
 */
import { expect } from 'chai';
import type { Row } from '../../src/adapters/contract.js';
import { expectOk, Fixtures, type ApiPage } from '../support/fixtures.js';
import { parseExposition, sumOf } from '../support/metrics-text.js';
import { QueryCounter } from '../support/query-counter.js';
import { BACKENDS, type Backend } from '../support/backends.js';
import { startTestService, type TestResponse, type TestService } from '../support/service.js';

const SIZES = [10, 500] as const;
type Size = (typeof SIZES)[number];

/** One session's content, with every child pointing at a distinct parent (the worst case for includes). */
interface Dataset {
  readonly session: Row;
  readonly authors: Row[];
  readonly plots: Row[];
  readonly worldBuilding: Row[];
  readonly characters: Row[];
}

interface Endpoint {
  readonly name: string;
  /**
   * Logical queries per request. SQLite: page + count + one batched query per include; a
   * session's content is 1 + its 4 relations. Supabase: the page and its total are one request
   * (`Prefer: count=exact` answers the total in `Content-Range`), so a search costs one query fewer;
   * a look-up is one request per `in.(…)` chunk of ≤ 206 values (500 ids → 3 requests), counted
   * once as a chunked operation (OperationInfo.chunk) — the raw request count is checked against
   * /metrics below.
   */
  readonly expected: Record<Backend, number>;
  send(service: TestService, data: Dataset, n: Size): Promise<TestResponse>;
  /** The answer is complete and correct, not only cheap. */
  check(body: unknown, data: Dataset, n: Size): void;
}

function byId(rows: readonly Row[]): Map<unknown, Row> {
  return new Map(rows.map((r) => [r.id, r]));
}

const ENDPOINTS: readonly Endpoint[] = [
  {
    name: 'GET /api/plots?include=author',
    expected: { sqlite: 3, supabase: 2 },
    send: (s, d, n) => s.request('GET', `/api/plots?session_id=eq.${String(d.session.id)}&include=author&limit=${n}`),
    check(body, d, n) {
      const page = body as ApiPage;
      expect(page.data).to.have.length(n);
      expect(page.total_count).to.equal(n);
      const authors = byId(d.authors);
      for (const plot of page.data) expect(plot.author).to.deep.equal(authors.get(plot.author_id));
    },
  },
  {
    name: 'GET /api/authors?include=plots_count',
    expected: { sqlite: 3, supabase: 2 },
    send: (s, d, n) => s.request('GET', `/api/authors?session_id=eq.${String(d.session.id)}&include=plots_count&limit=${n}`),
    check(body, _d, n) {
      const page = body as ApiPage;
      expect(page.data).to.have.length(n);
      expect(page.data.every((a) => a.plots_count === 1)).to.equal(true);
    },
  },
  {
    name: 'GET /api/authors?include=plots',
    expected: { sqlite: 3, supabase: 2 },
    send: (s, d, n) => s.request('GET', `/api/authors?session_id=eq.${String(d.session.id)}&include=plots&limit=${n}`),
    check(body, d, n) {
      const page = body as ApiPage;
      expect(page.data).to.have.length(n);
      const plots = new Map(d.plots.map((p) => [p.author_id, p]));
      for (const author of page.data) expect(author.plots).to.deep.equal([plots.get(author.id)]);
    },
  },
  {
    name: 'GET /api/characters?include=world_building',
    expected: { sqlite: 3, supabase: 2 },
    send: (s, d, n) =>
      s.request('GET', `/api/characters?session_id=eq.${String(d.session.id)}&include=world_building&limit=${n}`),
    check(body, d, n) {
      const page = body as ApiPage;
      expect(page.data).to.have.length(n);
      const places = byId(d.worldBuilding);
      for (const c of page.data) expect(c.world_building).to.deep.equal(places.get(c.world_building_id));
    },
  },
  {
    name: 'GET /api/sessions/:id/content',
    expected: { sqlite: 5, supabase: 5 },
    send: (s, d) => s.request('GET', `/api/sessions/${String(d.session.id)}/content`),
    check(body, d, n) {
      const content = body as Row;
      for (const [key, rows] of [
        ['authors', d.authors],
        ['plots', d.plots],
        ['world_building', d.worldBuilding],
        ['characters', d.characters],
      ] as const) {
        expect(content[key], key).to.have.length(n);
        expect(new Set((content[key] as Row[]).map((r) => r.id)), key).to.deep.equal(new Set(rows.map((r) => r.id)));
      }
    },
  },
  {
    name: 'POST /api/plots/lookup include=author',
    expected: { sqlite: 2, supabase: 2 },
    send: (s, d) => s.request('POST', '/api/plots/lookup', { ids: d.plots.map((p) => p.id), include: ['author'] }),
    check(body, d, n) {
      const result = body as { data: Row[]; missing: string[] };
      expect(result.missing).to.deep.equal([]);
      expect(result.data.map((p) => p.id)).to.deep.equal(d.plots.map((p) => p.id));
      expect(result.data).to.have.length(n);
      const authors = byId(d.authors);
      for (const plot of result.data) expect(plot.author).to.deep.equal(authors.get(plot.author_id));
    },
  },
];

async function buildDataset(f: Fixtures, n: number): Promise<Dataset> {
  const session = await f.session();
  const sid = session.id as string;
  const indexes = Array.from({ length: n }, (_, i) => i);
  const [authors, worldBuilding] = await Promise.all([
    f.createMany('authors', indexes.map((i) => ({ session_id: sid, name: `Author ${i}` }))),
    f.createMany('world_building', indexes.map((i) => ({ session_id: sid, name: `Place ${i}` }))),
  ]);
  const [plots, characters] = await Promise.all([
    f.createMany('plots', authors.map((a, i) => ({ session_id: sid, author_id: a.id, title: `Plot ${i}` }))),
    f.createMany(
      'characters',
      worldBuilding.map((w, i) => ({ session_id: sid, world_building_id: w.id, name: `Character ${i}` })),
    ),
  ]);
  return { session, authors, plots, worldBuilding, characters };
}

for (const backend of BACKENDS) describe(`API: related data in a constant number of queries [${backend}]`, function () {
  const counter = new QueryCounter();
  let service: TestService;
  const datasets = new Map<Size, Dataset>();
  const report: string[] = [];

  before(async function () {
    service = await startTestService({ backend, containerOptions: { adapter: counter.adapter() } });
    const f = new Fixtures(service);
    for (const n of SIZES) datasets.set(n, await buildDataset(f, n));
  });

  after(async function () {
    if (report.length > 0) console.log(`\n      measured queries per request (${backend}):\n${report.join('\n')}\n`);
    await service?.stop();
  });

  async function operationsOnMetrics(): Promise<number> {
    const res = await service.request('GET', '/metrics');
    return sumOf(parseExposition(res.text), 'db_client_operation_duration_seconds_count');
  }

  for (const endpoint of ENDPOINTS) {
    it(`${endpoint.name}: ${endpoint.expected[backend]} queries for 10 rows and for 500`, async function () {
      const measured = new Map<Size, { count: number; detail: string }>();
      for (const n of SIZES) {
        const data = datasets.get(n)!;
        const before = await operationsOnMetrics();
        counter.reset();
        const res = await endpoint.send(service, data, n);
        const count = counter.logicalCount;
        const raw = counter.count;
        const detail = counter.describe();
        endpoint.check(expectOk(res), data, n);
        // The counter and the exported histogram agree: the metric is what an operator would see.
        expect((await operationsOnMetrics()) - before, `operations on /metrics for ${n} rows`).to.equal(raw);
        measured.set(n, { count, detail });
      }
      const [small, large] = SIZES.map((n) => measured.get(n)!);
      report.push(
        `        ${endpoint.name.padEnd(46)} 10 rows: ${small!.count}   500 rows: ${large!.count}   (${large!.detail})`,
      );
      expect(large!.count, `500 rows vs 10 rows (${large!.detail} vs ${small!.detail})`).to.equal(small!.count);
      expect(small!.count, small!.detail).to.equal(endpoint.expected[backend]);
    });
  }

  it('no request was suspected of N+1', async function () {
    const res = await service.request('GET', '/metrics');
    expect(sumOf(parseExposition(res.text), 'db_client_n_plus_one_suspected_total')).to.equal(0);
    const summary = expectOk<{ recommendations: Array<{ kind: string }> }>(
      await service.request('GET', '/metrics/performance/summary'),
    );
    expect(summary.recommendations.filter((r) => r.kind === 'n_plus_one')).to.deep.equal([]);
  });
});
