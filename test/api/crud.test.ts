/**
 * The domain API end to end, for every table (one table-driven suite): create, get, get with
 * include, update, batch create, batch update, lookup, search (filter + sort + pagination) and
 * delete. Every write is checked twice: in the response and in the stored row, read at the
 * adapter rather than through the API under test.
 */
import { expect } from 'chai';
import type { Row } from '../../src/adapters/contract.js';
import { TABLES, type TableName } from '../../src/schema/tables.js';
import {
  expectApiError,
  expectOk,
  Fixtures,
  missingId,
  storedRow,
  uniqueTag,
  type ApiPage,
  type Graph,
} from '../support/fixtures.js';
import { BACKENDS } from '../support/backends.js';
import { startTestService, type TestService } from '../support/service.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

interface TableCase {
  readonly table: TableName;
  /** The searchable text column that carries the test's tag (filtered with `contains`, sorted on). */
  readonly nameColumn: string;
  /** A valid create body; `name` goes into {@link nameColumn}. */
  body(graph: Graph, name: string, i: number): Row;
  /** A second, unrelated parent graph is needed for the search's noise row (users have no parent). */
  readonly include: {
    readonly names: string;
    /** Creates the related row(s) the include should find; returns what check() needs. */
    prepare(f: Fixtures, row: Row, graph: Graph): Promise<Row | null>;
    check(row: Row, graph: Graph, related: Row | null): void;
  };
}

const CASES: readonly TableCase[] = [
  {
    table: 'users',
    nameColumn: 'display_name',
    body: (_g, name, i) => ({ email: `${name.replace(/ /g, '.')}@example.test`, display_name: name, preferences: { i } }),
    include: {
      names: 'sessions,sessions_count',
      prepare: (f, row) => f.session(row.id as string),
      check(row, _g, session) {
        expect(row.sessions_count).to.equal(1);
        expect((row.sessions as Row[]).map((s) => s.id)).to.deep.equal([session!.id]);
      },
    },
  },
  {
    table: 'sessions',
    nameColumn: 'title',
    body: (g, name, i) => ({ user_id: g.user.id, title: name, status: 'active', metadata: { i } }),
    include: {
      names: 'user,plots_count,authors',
      prepare: (f, row) => f.plot(row.id as string, null),
      check(row, g) {
        expect((row.user as Row).id).to.equal(g.user.id);
        expect((row.user as Row).email).to.equal(g.user.email);
        expect(row.plots_count).to.equal(1);
        expect(row.authors).to.deep.equal([]);
      },
    },
  },
  {
    table: 'authors',
    nameColumn: 'name',
    body: (g, name) => ({ session_id: g.session.id, name, bio: 'Writes at night.', writing_style: 'terse' }),
    include: {
      names: 'session,plots,plots_count',
      prepare: (f, row, g) => f.plot(g.session.id as string, row.id as string),
      check(row, g, plot) {
        expect((row.session as Row).id).to.equal(g.session.id);
        expect(row.plots_count).to.equal(1);
        expect((row.plots as Row[]).map((p) => p.id)).to.deep.equal([plot!.id]);
      },
    },
  },
  {
    table: 'plots',
    nameColumn: 'title',
    body: (g, name, i) => ({
      session_id: g.session.id,
      author_id: g.author.id,
      title: name,
      genre: 'fantasy',
      word_count: i * 100,
      is_published: i % 2 === 0,
      metadata: { chapter: i },
    }),
    include: {
      names: 'author,session',
      prepare: () => Promise.resolve(null),
      check(row, g) {
        expect(row.author).to.deep.equal(g.author);
        expect((row.session as Row).id).to.equal(g.session.id);
      },
    },
  },
  {
    table: 'world_building',
    nameColumn: 'name',
    body: (g, name, i) => ({ session_id: g.session.id, name, category: 'place', details: { climate: 'cold', i } }),
    include: {
      names: 'characters,characters_count',
      prepare: (f, row, g) => f.character(g.session.id as string, row.id as string),
      check(row, _g, character) {
        expect(row.characters_count).to.equal(1);
        expect((row.characters as Row[]).map((c) => c.id)).to.deep.equal([character!.id]);
      },
    },
  },
  {
    table: 'characters',
    nameColumn: 'name',
    body: (g, name, i) => ({
      session_id: g.session.id,
      world_building_id: g.worldBuilding.id,
      name,
      role: 'hero',
      traits: { brave: true, i },
    }),
    include: {
      names: 'world_building,session',
      prepare: () => Promise.resolve(null),
      check(row, g) {
        expect(row.world_building).to.deep.equal(g.worldBuilding);
        expect((row.session as Row).id).to.equal(g.session.id);
      },
    },
  },
];

/** Every field sent is returned as sent; the generated ones are filled in. */
function expectCreated(row: Row, body: Row): void {
  for (const [key, value] of Object.entries(body)) expect(row[key], key).to.deep.equal(value);
  expect(row.id).to.match(UUID);
  expect(row.created_at).to.match(ISO);
  expect(row.updated_at).to.match(ISO);
}

for (const backend of BACKENDS) describe(`API: CRUD for every table [${backend}]`, function () {
  let service: TestService;
  let f: Fixtures;

  before(async function () {
    // Writes are not rate-limited here: this suite tests CRUD, not the limiter (its own tests do).
    service = await startTestService({ backend, env: { RATE_LIMIT_WRITES_PER_MINUTE: '0' } });
    f = new Fixtures(service);
  });

  after(async function () {
    await service?.stop();
  });

  for (const c of CASES) {
    describe(`/api/${c.table}`, function () {
      const base = `/api/${c.table}`;
      let graph: Graph;

      before(async function () {
        graph = await f.graph();
      });

      it('creates a row (201) and stores exactly what it returned', async function () {
        const body = c.body(graph, `Create ${uniqueTag()}`, 1);
        const res = await service.request('POST', base, body);
        const row = expectOk<Row>(res, 201);
        expectCreated(row, body);
        expect(await storedRow(service, c.table, row.id as string)).to.deep.equal(row);
      });

      it('gets a row by id, also with an upper-case id', async function () {
        const row = await f.create(c.table, c.body(graph, `Get ${uniqueTag()}`, 1));
        expect(expectOk<Row>(await service.request('GET', `${base}/${String(row.id)}`))).to.deep.equal(row);
        const upper = await service.request('GET', `${base}/${String(row.id).toUpperCase()}`);
        expect(expectOk<Row>(upper)).to.deep.equal(row);
      });

      it(`gets a row with include=${c.include.names}`, async function () {
        const row = await f.create(c.table, c.body(graph, `Include ${uniqueTag()}`, 1));
        const related = await c.include.prepare(f, row, graph);
        const res = await service.request('GET', `${base}/${String(row.id)}?include=${c.include.names}`);
        const got = expectOk<Row>(res);
        // The row itself is unchanged; the includes are added beside its columns.
        for (const [key, value] of Object.entries(row)) expect(got[key], key).to.deep.equal(value);
        c.include.check(got, graph, related);
      });

      it('updates a row (PATCH) and stores the change', async function () {
        const row = await f.create(c.table, c.body(graph, `Before ${uniqueTag()}`, 1));
        const changes = { [c.nameColumn]: `After ${uniqueTag()}` };
        const res = await service.request('PATCH', `${base}/${String(row.id)}`, changes);
        const updated = expectOk<Row>(res);
        expect(updated).to.deep.equal({ ...row, ...changes, updated_at: updated.updated_at });
        expect(Date.parse(updated.updated_at as string)).to.be.at.least(Date.parse(row.updated_at as string));
        expect(await storedRow(service, c.table, row.id as string)).to.deep.equal(updated);
      });

      it('creates many rows in one batch (201), in input order, all stored', async function () {
        const tag = uniqueTag();
        const items = [0, 1, 2, 3].map((i) => c.body(graph, `Batch ${tag} ${i}`, i));
        const res = await service.request('POST', `${base}/batch`, { items });
        const { data } = expectOk<{ data: Row[] }>(res, 201);
        expect(data).to.have.length(items.length);
        data.forEach((row, i) => expectCreated(row, items[i]!));
        expect(new Set(data.map((r) => r.id)).size).to.equal(items.length);
        const stored = await service.container.adapter.getManyByIds(TABLES[c.table], data.map((r) => r.id as string));
        expect(stored).to.have.length(items.length);
        for (const row of data) expect(stored.find((s) => s.id === row.id)).to.deep.equal(row);
      });

      it('updates many rows in one batch (PATCH /batch) and stores every change', async function () {
        const tag = uniqueTag();
        const rows = await f.createMany(c.table, [0, 1, 2].map((i) => c.body(graph, `Old ${tag} ${i}`, i)));
        const items = rows.map((r, i) => ({ id: r.id, changes: { [c.nameColumn]: `New ${tag} ${i}` } }));
        const res = await service.request('PATCH', `${base}/batch`, { items });
        const { data } = expectOk<{ data: Row[] }>(res);
        expect(data.map((r) => r.id)).to.deep.equal(rows.map((r) => r.id));
        expect(data.map((r) => r[c.nameColumn])).to.deep.equal([0, 1, 2].map((i) => `New ${tag} ${i}`));
        for (const row of data) expect(await storedRow(service, c.table, row.id as string)).to.deep.equal(row);
      });

      it('looks up many ids (POST /lookup): found rows in request order, unknown ids in missing', async function () {
        const tag = uniqueTag();
        const rows = await f.createMany(c.table, [0, 1].map((i) => c.body(graph, `Lookup ${tag} ${i}`, i)));
        const absent = missingId();
        const ids = [rows[1]!.id, absent, rows[0]!.id];
        const res = await service.request('POST', `${base}/lookup`, { ids });
        const body = expectOk<{ data: Row[]; missing: string[] }>(res);
        expect(body.data).to.deep.equal([rows[1], rows[0]]);
        expect(body.missing).to.deep.equal([absent]);

        const related = await c.include.prepare(f, rows[0]!, graph);
        const withInclude = await service.request('POST', `${base}/lookup`, {
          ids: [rows[0]!.id],
          include: c.include.names.split(','),
        });
        const included = expectOk<{ data: Row[]; missing: string[] }>(withInclude);
        expect(included.missing).to.deep.equal([]);
        c.include.check(included.data[0]!, graph, related);
      });

      it('searches with a filter, a sort and pagination (total_count, has_more, offset)', async function () {
        const tag = uniqueTag();
        // Five rows carry the tag; one row with another tag must not be found.
        const rows = await f.createMany(c.table, [0, 1, 2, 3, 4].map((i) => c.body(graph, `Find ${tag} ${i}`, i)));
        await f.create(c.table, c.body(graph, `Find ${uniqueTag()} 9`, 9));
        const byNameDesc = [...rows].sort((a, b) => String(b[c.nameColumn]).localeCompare(String(a[c.nameColumn])));

        const query = `${c.nameColumn}=contains.${tag.toUpperCase()}&sort=-${c.nameColumn}`;
        const first = expectOk<ApiPage>(await service.request('GET', `${base}?${query}&limit=2&offset=1`));
        expect(first).to.deep.equal({
          data: byNameDesc.slice(1, 3),
          total_count: 5,
          limit: 2,
          offset: 1,
          has_more: true,
        });

        const last = expectOk<ApiPage>(await service.request('GET', `${base}?${query}&limit=2&offset=4`));
        expect(last).to.deep.equal({ data: byNameDesc.slice(4), total_count: 5, limit: 2, offset: 4, has_more: false });

        const beyond = expectOk<ApiPage>(await service.request('GET', `${base}?${query}&limit=2&offset=5`));
        expect(beyond).to.deep.equal({ data: [], total_count: 5, limit: 2, offset: 5, has_more: false });

        // Free text: the same five, default page size, default sort (created_at, then id).
        const text = expectOk<ApiPage>(await service.request('GET', `${base}?q=${tag}`));
        expect(text.total_count).to.equal(5);
        expect(text.limit).to.equal(50);
        expect(text.data.map((r) => r.id).sort()).to.deep.equal(rows.map((r) => r.id).sort());
      });

      it('deletes a row (204); then get, update and delete answer 404 NOT_FOUND', async function () {
        const row = await f.create(c.table, c.body(graph, `Delete ${uniqueTag()}`, 1));
        const url = `${base}/${String(row.id)}`;
        const res = await service.request('DELETE', url);
        expect(res.status).to.equal(204);
        expect(res.text).to.equal('');
        expect(await storedRow(service, c.table, row.id as string)).to.equal(null);

        const get = expectApiError(await service.request('GET', url), 404, 'NOT_FOUND');
        expect(get.message).to.include(String(row.id));
        expectApiError(await service.request('PATCH', url, { [c.nameColumn]: 'x' }), 404, 'NOT_FOUND');
        expectApiError(await service.request('DELETE', url), 404, 'NOT_FOUND');
      });
    });
  }

  it("GET /api/sessions/:id/content returns the session's whole content", async function () {
    const graph = await f.graph();
    const sid = graph.session.id as string;
    const plot = await f.plot(sid, graph.author.id as string);
    const character = await f.character(sid, graph.worldBuilding.id as string);
    // Another session's content must not leak in.
    const other = await f.graph();
    await f.plot(other.session.id as string, other.author.id as string);

    const body = expectOk<Row>(await service.request('GET', `/api/sessions/${sid}/content`));
    expect(body.id).to.equal(sid);
    expect(body.title).to.equal(graph.session.title);
    expect(body.plots).to.deep.equal([plot]);
    expect(body.authors).to.deep.equal([graph.author]);
    expect(body.world_building).to.deep.equal([graph.worldBuilding]);
    expect(body.characters).to.deep.equal([character]);

    expectApiError(await service.request('GET', `/api/sessions/${missingId()}/content`), 404, 'NOT_FOUND');
  });
});
