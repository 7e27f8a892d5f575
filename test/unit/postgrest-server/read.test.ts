import { expect } from 'chai';
import type { SupabaseClient } from '@supabase/supabase-js';

import type { PostgrestTestServer } from '../../support/postgrest/index.js';
import { backendName, client, newTag, rest, seedItems, startServer } from './helpers.js';

function fillerUuids(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
}

const TIMESTAMPTZ = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?\+00:00$/;

describe(`PostgREST test server: reads (${backendName()})`, function () {
  this.timeout(60_000);
  let server: PostgrestTestServer;
  let db: SupabaseClient;

  before(async () => {
    server = await startServer();
    db = client(server);
  });
  after(async () => {
    await server?.stop();
  });

  describe('select', () => {
    it('returns every column with PostgREST JSON types (uuid, jsonb, bool, int, numeric, bigint, text[], timestamptz)', async () => {
      const tag = newTag();
      await seedItems(server, tag, [
        {
          slug: `${tag}-a`,
          name: 'A',
          qty: 3,
          price: '12.50',
          meta: { nested: { list: [1, 'two', null] } },
          labels: ['x', 'y'],
          big: '9007199254740993',
        },
      ]);
      const { data, error, status } = await db.from('items').select('*').eq('tag', tag);
      expect(error).to.equal(null);
      expect(status).to.equal(200);
      expect(data).to.have.length(1);
      const row = data![0] as Record<string, unknown>;
      expect(Object.keys(row)).to.deep.equal([
        'id',
        'tag',
        'slug',
        'name',
        'qty',
        'price',
        'active',
        'meta',
        'labels',
        'big',
        'created_at',
      ]);
      expect(row['id']).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(row['qty']).to.equal(3);
      expect(row['price']).to.equal(12.5);
      expect(row['active']).to.equal(true);
      expect(row['meta']).to.deep.equal({ nested: { list: [1, 'two', null] } });
      expect(row['labels']).to.deep.equal(['x', 'y']);
      expect(row['created_at']).to.match(TIMESTAMPTZ);
      // to_json(bigint) is a JSON number; JSON.parse rounds it exactly like it would behind PostgREST.
      expect(row['big']).to.equal(9007199254740992);
    });

    it('renders timestamptz in UTC like PostgREST, with and without fractional seconds', async () => {
      const tag = newTag();
      await seedItems(server, tag, [{ slug: `${tag}-1` }, { slug: `${tag}-2` }]);
      await server.executor.query(`UPDATE items SET created_at = $1 WHERE slug = $2`, [
        '2026-11-28T12:00:00.123Z',
        `${tag}-1`,
      ]);
      await server.executor.query(`UPDATE items SET created_at = $1 WHERE slug = $2`, [
        '2026-11-28T13:00:00+01:00',
        `${tag}-2`,
      ]);
      const { data, error } = await db.from('items').select('slug,created_at').eq('tag', tag).order('slug');
      expect(error).to.equal(null);
      expect(data).to.deep.equal([
        { slug: `${tag}-1`, created_at: '2026-11-28T12:00:00.123+00:00' },
        { slug: `${tag}-2`, created_at: '2026-11-28T12:00:00+00:00' },
      ]);
    });

    it('supports column lists, aliases and allow-listed casts', async () => {
      const tag = newTag();
      await seedItems(server, tag, [{ slug: `${tag}-a`, qty: 7 }]);
      const { data, error } = await db
        .from('items')
        .select('slug, amount:qty, qty_text:qty::text')
        .eq('tag', tag);
      expect(error).to.equal(null);
      expect(data).to.deep.equal([{ slug: `${tag}-a`, amount: 7, qty_text: '7' }]);
    });

    it('reads views like tables', async () => {
      const tag = newTag();
      await seedItems(server, tag, [{ slug: `${tag}-on` }, { slug: `${tag}-off`, active: false }]);
      const { data, error } = await db.from('active_items').select('slug').eq('tag', tag);
      expect(error).to.equal(null);
      expect(data).to.deep.equal([{ slug: `${tag}-on` }]);
    });

    it('sends Content-Range, Content-Location and Content-Type like PostgREST', async () => {
      const tag = newTag();
      await seedItems(server, tag, [{}, {}, {}]);
      const response = await rest(server, `/items?select=slug&tag=eq.${tag}&order=slug`);
      expect(response.status).to.equal(200);
      expect(response.headers.get('content-type')).to.equal('application/json; charset=utf-8');
      expect(response.headers.get('content-range')).to.equal('0-2/*');
      expect(response.headers.get('content-location')).to.equal(
        `/items?order=slug&select=slug&tag=eq.${tag}`,
      );
      expect(response.headers.get('preference-applied')).to.equal(null);
      expect(response.json()).to.deep.equal([
        { slug: `${tag}-0` },
        { slug: `${tag}-1` },
        { slug: `${tag}-2` },
      ]);
    });

    it('round-trips unicode (emoji, CJK, RTL, combining marks) in values and filters', async () => {
      const tag = newTag();
      const names = ['🦄 Ünïcödé', '棋圍 — ￥', 'שלום عالم', 'e\u0301te\u0301', 'tab\there "quoted" \\ back'];
      await seedItems(
        server,
        tag,
        names.map((name, i) => ({ slug: `${tag}-${i}`, name })),
      );
      const all = await db.from('items').select('name').eq('tag', tag).order('slug');
      expect(all.error).to.equal(null);
      expect(all.data).to.deep.equal(names.map((name) => ({ name })));
      const one = await db.from('items').select('name').eq('tag', tag).eq('name', names[1]!);
      expect(one.data).to.deep.equal([{ name: names[1] }]);
      // Case-sensitive LIKE: ILIKE on non-ASCII letters depends on the database's locale.
      const like = await db.from('items').select('name').eq('tag', tag).like('name', '*Ünïcödé');
      expect(like.data).to.deep.equal([{ name: names[0] }]);
    });
  });

  describe('filters', () => {
    let tag: string;
    before(async () => {
      tag = newTag();
      await seedItems(server, tag, [
        { slug: `${tag}-1`, name: 'Alpha', qty: 1, meta: { kind: 'a' }, labels: ['red'] },
        { slug: `${tag}-2`, name: 'beta', qty: 2, meta: { kind: 'b' }, labels: ['red', 'blue'] },
        { slug: `${tag}-3`, name: 'Gamma 100%', qty: 3, active: false, labels: [] },
        { slug: `${tag}-4`, name: 'delta_x', qty: null },
      ]);
    });

    const base = () => db.from('items').select('slug').eq('tag', tag).order('slug');
    const slugs = async (query: PromiseLike<{ data: unknown; error: unknown }>): Promise<string[]> => {
      const { data, error } = await query;
      expect(error).to.equal(null);
      return (data as { slug: string }[]).map((row) => row.slug.slice(tag.length + 1));
    };

    it('eq, neq, gt, gte, lt, lte', async () => {
      expect(await slugs(base().eq('qty', 2))).to.deep.equal(['2']);
      expect(await slugs(base().neq('qty', 2))).to.deep.equal(['1', '3']);
      expect(await slugs(base().gt('qty', 2))).to.deep.equal(['3']);
      expect(await slugs(base().gte('qty', 2))).to.deep.equal(['2', '3']);
      expect(await slugs(base().lt('qty', 2))).to.deep.equal(['1']);
      expect(await slugs(base().lte('qty', 2))).to.deep.equal(['1', '2']);
    });

    it('is null / true / false and not.is.null', async () => {
      expect(await slugs(base().is('qty', null))).to.deep.equal(['4']);
      expect(await slugs(base().not('qty', 'is', null))).to.deep.equal(['1', '2', '3']);
      expect(await slugs(base().is('active', false))).to.deep.equal(['3']);
      expect(await slugs(base().is('active', true))).to.deep.equal(['1', '2', '4']);
    });

    it('like / ilike with * as the wildcard (every * becomes %)', async () => {
      expect(await slugs(base().like('name', '*a*'))).to.deep.equal(['1', '2', '3', '4']);
      expect(await slugs(base().like('name', 'A*'))).to.deep.equal(['1']);
      expect(await slugs(base().ilike('name', 'a*'))).to.deep.equal(['1']);
      expect(await slugs(base().ilike('name', '*ETA'))).to.deep.equal(['2']);
      // % and _ keep their LIKE meaning; a backslash escapes them.
      expect(await slugs(base().like('name', '*\\%'))).to.deep.equal(['3']);
      expect(await slugs(base().like('name', 'delta\\_*'))).to.deep.equal(['4']);
    });

    it('in, not.in, and an empty in-list', async () => {
      expect(await slugs(base().in('qty', [1, 3]))).to.deep.equal(['1', '3']);
      expect(await slugs(base().not('qty', 'in', '(1,3)'))).to.deep.equal(['2']);
      expect(await slugs(base().in('qty', []))).to.deep.equal([]);
    });

    it('or=(…) with nested and(…), and not.or', async () => {
      expect(await slugs(base().or('qty.eq.1,name.eq.beta'))).to.deep.equal(['1', '2']);
      expect(await slugs(base().or('qty.is.null,and(qty.gte.2,active.is.false)'))).to.deep.equal(['3', '4']);
      const response = await rest(
        server,
        `/items?select=slug&tag=eq.${tag}&not.or=(qty.eq.1,qty.is.null)&order=slug`,
      );
      expect(response.status).to.equal(200);
      expect(response.json()).to.deep.equal([{ slug: `${tag}-2` }, { slug: `${tag}-3` }]);
    });

    it('match / imatch, jsonb contains, array overlap and quantified like(any)', async () => {
      expect(await slugs(base().regexMatch('name', '^[a-z]+$'))).to.deep.equal(['2']);
      expect(await slugs(base().regexIMatch('name', '^gAmMa'))).to.deep.equal(['3']);
      expect(await slugs(base().contains('meta', { kind: 'b' }))).to.deep.equal(['2']);
      expect(await slugs(base().overlaps('labels', ['blue', 'green']))).to.deep.equal(['2']);
      expect(await slugs(base().likeAnyOf('name', ['Al*', 'del*']))).to.deep.equal(['1', '4']);
    });

    it('reports a value PostgreSQL cannot cast as 22P02 (400)', async () => {
      const { error, status } = await db.from('items').select('slug').eq('id', 'not-a-uuid');
      expect(status).to.equal(400);
      expect(error).to.deep.include({
        code: '22P02',
        details: null,
        hint: null,
        message: 'invalid input syntax for type uuid: "not-a-uuid"',
      });
    });
  });

  describe('in-list quoting', () => {
    it('matches values with commas, parentheses, quotes and backslashes when quoted PostgREST-style', async () => {
      const tag = newTag();
      const names = ['Hebdon, John', 'f(x)', 'say "hi"', 'back\\slash', 'plain'];
      await seedItems(
        server,
        tag,
        names.map((name, i) => ({ slug: `${tag}-${i}`, name })),
      );
      const quoted = names
        .map((name) => `"${name.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`)
        .join(',');
      const response = await rest(
        server,
        `/items?select=name&tag=eq.${tag}&name=in.(${encodeURIComponent(quoted)})&order=slug`,
      );
      expect(response.status).to.equal(200);
      expect(response.json()).to.deep.equal(names.map((name) => ({ name })));
    });

    it('supabase-js .in() quotes values with commas but does not escape quotes (so they do not match)', async () => {
      const tag = newTag();
      await seedItems(server, tag, [
        { slug: `${tag}-0`, name: 'Hebdon, John' },
        { slug: `${tag}-1`, name: 'say "hi", ok' },
      ]);
      const { data, error } = await db
        .from('items')
        .select('name')
        .eq('tag', tag)
        .in('name', ['Hebdon, John', 'say "hi", ok']);
      expect(error).to.equal(null);
      // PostgREST parses `"say "hi", ok"` as the unquoted elements `"say "hi"` and ` ok"`.
      expect(data).to.deep.equal([{ name: 'Hebdon, John' }]);
    });

    it('accepts long in-lists (300 uuids, an 11 KB URL)', async () => {
      const tag = newTag();
      await seedItems(server, tag, [{ slug: `${tag}-a` }, { slug: `${tag}-b` }]);
      const { data: rows } = await db.from('items').select('id').eq('tag', tag);
      const ids = (rows as { id: string }[]).map((row) => row.id);
      const { data, error } = await db
        .from('items')
        .select('id')
        .in('id', [...fillerUuids(298), ...ids]);
      expect(error).to.equal(null);
      expect((data as { id: string }[]).map((row) => row.id).sort()).to.deep.equal([...ids].sort());
    });

    it('echoes the query in Content-Location, so a ~19 KB URL overflows Node clients’ 16 KB header limit (as with PostgREST)', async () => {
      const { data, error } = await db.from('items').select('id').in('id', fillerUuids(500)).retry(false);
      expect(data).to.equal(null);
      expect(error?.message).to.match(/fetch failed/);
      expect(error?.details).to.match(/UND_ERR_HEADERS_OVERFLOW/);
    });
  });

  describe('order, limit, offset, count', () => {
    let tag: string;
    before(async () => {
      tag = newTag();
      await seedItems(server, tag, [
        { slug: `${tag}-1`, name: 'b', qty: 2 },
        { slug: `${tag}-2`, name: 'a', qty: null },
        { slug: `${tag}-3`, name: 'b', qty: 1 },
        { slug: `${tag}-4`, name: 'a', qty: 5 },
        { slug: `${tag}-5`, name: 'c', qty: 3 },
      ]);
    });

    it('orders by several keys with directions and nulls placement', async () => {
      const { data } = await db
        .from('items')
        .select('slug')
        .eq('tag', tag)
        .order('name', { ascending: true })
        .order('qty', { ascending: false, nullsFirst: true });
      expect((data as { slug: string }[]).map((r) => r.slug.slice(-1))).to.deep.equal([
        '2',
        '4',
        '1',
        '3',
        '5',
      ]);
      const last = await db
        .from('items')
        .select('slug')
        .eq('tag', tag)
        .order('qty', { ascending: true, nullsFirst: false });
      expect((last.data as { slug: string }[]).map((r) => r.slug.slice(-1))).to.deep.equal([
        '3',
        '1',
        '5',
        '4',
        '2',
      ]);
    });

    it('pages with range() and reports the exact count in Content-Range (206 when partial)', async () => {
      const { data, count, status } = await db
        .from('items')
        .select('slug', { count: 'exact' })
        .eq('tag', tag)
        .order('slug')
        .range(1, 2);
      expect(status).to.equal(206);
      expect(count).to.equal(5);
      expect(data).to.deep.equal([{ slug: `${tag}-2` }, { slug: `${tag}-3` }]);
      const raw = await rest(server, `/items?select=slug&tag=eq.${tag}&order=slug&limit=2&offset=1`, {
        headers: { Prefer: 'count=exact' },
      });
      expect(raw.status).to.equal(206);
      expect(raw.headers.get('content-range')).to.equal('1-2/5');
      expect(raw.headers.get('preference-applied')).to.equal('count=exact');
    });

    it('answers */0 for an empty counted result and 0-N/N when everything fits', async () => {
      const empty = await rest(server, `/items?tag=eq.${newTag()}`, { headers: { Prefer: 'count=exact' } });
      expect(empty.status).to.equal(200);
      expect(empty.headers.get('content-range')).to.equal('*/0');
      expect(empty.json()).to.deep.equal([]);
      const full = await rest(server, `/items?select=slug&tag=eq.${tag}`, {
        headers: { Prefer: 'count=exact' },
      });
      expect(full.status).to.equal(200);
      expect(full.headers.get('content-range')).to.equal('0-4/5');
    });

    it('honours the Range header on GET', async () => {
      const response = await rest(server, `/items?select=slug&tag=eq.${tag}&order=slug`, {
        headers: { Range: '3-', 'Range-Unit': 'items', Prefer: 'count=exact' },
      });
      expect(response.status).to.equal(206);
      expect(response.headers.get('content-range')).to.equal('3-4/5');
      expect(response.json()).to.deep.equal([{ slug: `${tag}-4` }, { slug: `${tag}-5` }]);
    });

    it('answers 416 PGRST103 for an offset past the end and for an inverted Range', async () => {
      const past = await rest(server, `/items?tag=eq.${tag}&offset=9`, {
        headers: { Prefer: 'count=exact' },
      });
      expect(past.status).to.equal(416);
      expect(past.headers.get('content-range')).to.equal('*/5');
      expect(past.json()).to.deep.equal({
        code: 'PGRST103',
        details: 'An offset of 9 was requested, but there are only 5 rows.',
        hint: null,
        message: 'Requested range not satisfiable',
      });
      const inverted = await rest(server, `/items?tag=eq.${tag}`, { headers: { Range: '4-2' } });
      expect(inverted.status).to.equal(416);
      expect((inverted.json() as { code: string }).code).to.equal('PGRST103');
    });

    it('limit=0 returns no rows', async () => {
      const response = await rest(server, `/items?tag=eq.${tag}&limit=0`, {
        headers: { Prefer: 'count=exact' },
      });
      expect(response.json()).to.deep.equal([]);
      expect(response.headers.get('content-range')).to.equal('*/5');
    });

    it('HEAD answers the count and headers without a body', async () => {
      const { data, count, status, error } = await db
        .from('items')
        .select('*', { count: 'exact', head: true })
        .eq('tag', tag);
      expect(error).to.equal(null);
      expect(status).to.equal(200);
      expect(data).to.equal(null);
      expect(count).to.equal(5);
      const raw = await rest(server, `/items?tag=eq.${tag}`, {
        method: 'HEAD',
        headers: { Prefer: 'count=exact' },
      });
      expect(raw.text).to.equal('');
      expect(raw.headers.get('content-range')).to.equal('0-4/5');
      expect(raw.headers.get('content-type')).to.equal('application/json; charset=utf-8');
    });
  });

  describe('singular responses', () => {
    it('single() returns an object for exactly one row, else 406 PGRST116', async () => {
      const tag = newTag();
      await seedItems(server, tag, [
        { slug: `${tag}-1`, name: 'same' },
        { slug: `${tag}-2`, name: 'same' },
      ]);
      const one = await db.from('items').select('slug').eq('slug', `${tag}-1`).single();
      expect(one.error).to.equal(null);
      expect(one.data).to.deep.equal({ slug: `${tag}-1` });

      const none = await db.from('items').select('slug').eq('slug', `${tag}-none`).single();
      expect(none.status).to.equal(406);
      expect(none.error).to.deep.equal({
        code: 'PGRST116',
        details: 'The result contains 0 rows',
        hint: null,
        message: 'JSON object requested, multiple (or no) rows returned',
      });
      const two = await db.from('items').select('slug').eq('tag', tag).single();
      expect(two.status).to.equal(406);
      expect(two.error?.details).to.equal('The result contains 2 rows');

      const raw = await rest(server, `/items?slug=eq.${tag}-1&select=slug`, {
        headers: { Accept: 'application/vnd.pgrst.object+json' },
      });
      expect(raw.headers.get('content-type')).to.equal('application/vnd.pgrst.object+json; charset=utf-8');
      expect(raw.json()).to.deep.equal({ slug: `${tag}-1` });
    });

    it('maybeSingle() (array on the wire, decided by postgrest-js) gives null for no row', async () => {
      const tag = newTag();
      await seedItems(server, tag, [{ slug: `${tag}-1` }, { slug: `${tag}-2` }]);
      const none = await db.from('items').select('slug').eq('slug', `${tag}-x`).maybeSingle();
      expect(none.error).to.equal(null);
      expect(none.data).to.equal(null);
      const many = await db.from('items').select('slug').eq('tag', tag).maybeSingle();
      expect(many.status).to.equal(406);
      expect(many.error?.code).to.equal('PGRST116');
    });

    it('strips nulls when asked (Accept …;nulls=stripped)', async () => {
      const tag = newTag();
      await seedItems(server, tag, [{ slug: `${tag}-1`, qty: null }]);
      const { data, error } = await db.from('items').select('slug,qty').eq('tag', tag).stripNulls();
      expect(error).to.equal(null);
      expect(data).to.deep.equal([{ slug: `${tag}-1` }]);
    });
  });

  describe('max-rows', () => {
    let capped: PostgrestTestServer;
    before(async () => {
      capped = await startServer({
        executor: server.executor,
        maxRows: 5,
        supabaseCompat: false,
        setupSql: [],
      });
    });
    after(async () => {
      await capped?.stop();
    });

    it('caps every read at db-max-rows, with the true count in Content-Range', async () => {
      const tag = newTag();
      await seedItems(
        server,
        tag,
        Array.from({ length: 12 }, (_, i) => ({ slug: `${tag}-${String(i).padStart(2, '0')}` })),
      );
      const counted = await rest(capped, `/items?select=slug&tag=eq.${tag}&order=slug`, {
        headers: { Prefer: 'count=exact' },
      });
      expect(counted.status).to.equal(206);
      expect(counted.headers.get('content-range')).to.equal('0-4/12');
      expect(counted.json()).to.have.length(5);

      const uncounted = await rest(capped, `/items?select=slug&tag=eq.${tag}&order=slug&limit=100&offset=10`);
      expect(uncounted.status).to.equal(200);
      expect(uncounted.headers.get('content-range')).to.equal('10-11/*');

      // A client that pages by max-rows sees every row exactly once.
      const seen: string[] = [];
      for (let from = 0; ; from += 5) {
        const { data, error } = await client(capped)
          .from('items')
          .select('slug')
          .eq('tag', tag)
          .order('slug')
          .range(from, from + 99);
        expect(error).to.equal(null);
        seen.push(...(data as { slug: string }[]).map((r) => r.slug));
        if ((data as unknown[]).length < 5) break;
      }
      expect(seen).to.have.length(12);
      expect(new Set(seen).size).to.equal(12);
    });
  });
});
