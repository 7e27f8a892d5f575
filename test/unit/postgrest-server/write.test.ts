import { expect } from 'chai';
import type { SupabaseClient } from '@supabase/supabase-js';

import type { PostgrestTestServer } from '../../support/postgrest/index.js';
import { backendName, client, newTag, rest, seedItems, startServer } from './helpers.js';

interface StoredItem {
  slug: string;
  name: string;
  qty: number | null;
  active: boolean;
}

/** RETURNING order is the scan order; compare rows sorted by slug. */
function bySlug(rows: unknown): unknown[] {
  return [...(rows as { slug: string }[])].sort((a, b) => a.slug.localeCompare(b.slug));
}

describe(`PostgREST test server: writes (${backendName()})`, function () {
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

  /** The stored state, read with SQL (not through the server under test). */
  async function stored(tag: string): Promise<StoredItem[]> {
    const { rows } = await server.executor.query<StoredItem>(
      'SELECT slug, name, qty, active FROM items WHERE tag = $1 ORDER BY slug',
      [tag],
    );
    return rows;
  }

  describe('insert', () => {
    it('inserts one object: 201, no body by default (return=minimal), Content-Range */*', async () => {
      const tag = newTag();
      const { data, error, status } = await db.from('items').insert({ tag, slug: `${tag}-1`, name: 'one' });
      expect(error).to.equal(null);
      expect(status).to.equal(201);
      expect(data).to.equal(null);
      expect(await stored(tag)).to.deep.equal([{ slug: `${tag}-1`, name: 'one', qty: null, active: true }]);

      const raw = await rest(server, '/items', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ tag, slug: `${tag}-2`, name: 'two' }),
      });
      expect(raw.status).to.equal(201);
      expect(raw.text).to.equal('');
      expect(raw.headers.get('content-type')).to.equal(null);
      expect(raw.headers.get('content-range')).to.equal('*/*');
    });

    it('bulk-inserts an array and returns the rows in order with select() and count', async () => {
      const tag = newTag();
      const rows = [0, 1, 2].map((i) => ({ tag, slug: `${tag}-${i}`, name: `n${i}`, qty: i }));
      const { data, error, status, count } = await db
        .from('items')
        .insert(rows, { count: 'exact' })
        .select('slug,qty,active');
      expect(error).to.equal(null);
      expect(status).to.equal(201);
      expect(count).to.equal(3);
      expect(data).to.deep.equal(rows.map((r) => ({ slug: r.slug, qty: r.qty, active: true })));

      const raw = await rest(server, '/items?select=slug', {
        method: 'POST',
        headers: { Prefer: 'return=representation,count=exact', 'Content-Type': 'application/json' },
        body: JSON.stringify([{ tag, slug: `${tag}-9`, name: 'x' }]),
      });
      expect(raw.headers.get('content-range')).to.equal('*/1');
      expect(raw.headers.get('preference-applied')).to.equal('return=representation, count=exact');
      expect(raw.headers.get('content-type')).to.equal('application/json; charset=utf-8');
    });

    it('writes nothing when one row of a bulk insert fails (one transaction per request)', async () => {
      const tag = newTag();
      await seedItems(server, tag, [{ slug: `${tag}-taken` }]);
      const { error, status } = await db.from('items').insert([
        { tag, slug: `${tag}-new1`, name: 'a' },
        { tag, slug: `${tag}-taken`, name: 'b' },
        { tag, slug: `${tag}-new2`, name: 'c' },
      ]);
      expect(status).to.equal(409);
      expect(error).to.deep.equal({
        code: '23505',
        details: `Key (slug)=(${tag}-taken) already exists.`,
        hint: null,
        message: 'duplicate key value violates unique constraint "items_slug_key"',
      });
      expect((await stored(tag)).map((r) => r.slug)).to.deep.equal([`${tag}-taken`]);
    });

    it('maps not-null (23502 → 400) and foreign-key (23503 → 409) violations with PostgreSQL details', async () => {
      const tag = newTag();
      const notNull = await db.from('items').insert({ tag, slug: `${tag}-1` });
      expect(notNull.status).to.equal(400);
      expect(notNull.error?.code).to.equal('23502');
      expect(notNull.error?.message).to.equal(
        'null value in column "name" of relation "items" violates not-null constraint',
      );
      expect(notNull.error?.details).to.match(/^Failing row contains \(/);

      const fk = await db
        .from('notes')
        .insert({ tag, item_id: '00000000-0000-4000-8000-000000000000', body: 'x' });
      expect(fk.status).to.equal(409);
      expect(fk.error?.code).to.equal('23503');
      expect(fk.error?.message).to.equal(
        'insert or update on table "notes" violates foreign key constraint "notes_item_id_fkey"',
      );
    });

    it('fills missing keys with NULL by default, with column defaults under missing=default', async () => {
      const tag = newTag();
      // supabase-js sends columns=<union of keys>; `active` is missing from the second object.
      const nulls = await db.from('items').insert([
        { tag, slug: `${tag}-1`, name: 'a', active: false },
        { tag, slug: `${tag}-2`, name: 'b' },
      ]);
      expect(nulls.status).to.equal(400);
      expect(nulls.error?.code).to.equal('23502');
      expect(await stored(tag)).to.deep.equal([]);

      const defaults = await db
        .from('items')
        .insert(
          [
            { tag, slug: `${tag}-1`, name: 'a', active: false },
            { tag, slug: `${tag}-2`, name: 'b' },
          ],
          { defaultToNull: false },
        )
        .select('slug,active');
      expect(defaults.error).to.equal(null);
      expect(defaults.data).to.deep.equal([
        { slug: `${tag}-1`, active: false },
        { slug: `${tag}-2`, active: true },
      ]);
    });

    it('honours ?columns= (extra body keys ignored) and rejects unknown columns with PGRST204', async () => {
      const tag = newTag();
      const raw = await rest(server, '/items?columns=tag,slug,name&select=slug,name', {
        method: 'POST',
        headers: { Prefer: 'return=representation', 'Content-Type': 'application/json' },
        body: JSON.stringify([{ tag, slug: `${tag}-1`, name: 'a', not_a_column: 1 }]),
      });
      expect(raw.status).to.equal(201);
      expect(raw.json()).to.deep.equal([{ slug: `${tag}-1`, name: 'a' }]);

      const { error, status } = await db.from('items').insert({ tag, slug: `${tag}-2`, name: 'b', nope: 1 });
      expect(status).to.equal(400);
      expect(error).to.deep.equal({
        code: 'PGRST204',
        details: null,
        hint: null,
        message: "Could not find the 'nope' column of 'items' in the schema cache",
      });
    });

    it('rejects invalid JSON, mismatched keys and non-JSON bodies with PGRST102', async () => {
      const bad = await rest(server, '/items', { method: 'POST', body: '{"tag": ' });
      expect(bad.status).to.equal(400);
      expect(bad.json()).to.deep.equal({
        code: 'PGRST102',
        details: null,
        hint: null,
        message: 'Empty or invalid json',
      });
      const mixed = await rest(server, '/items', {
        method: 'POST',
        body: JSON.stringify([{ tag: 'x', slug: 'y', name: 'z' }, { tag: 'x' }]),
      });
      expect(mixed.status).to.equal(400);
      expect(mixed.json()).to.deep.equal({
        code: 'PGRST102',
        details: null,
        hint: null,
        message: 'All object keys must match',
      });
      const plain = await rest(server, '/items', {
        method: 'POST',
        headers: { 'Content-Type': 'text/plain' },
        body: '{}',
      });
      expect(plain.status).to.equal(400);
      expect(plain.json()).to.deep.equal({
        code: 'PGRST102',
        details: null,
        hint: null,
        message: 'Content-Type not acceptable: text/plain',
      });
    });

    it('round-trips jsonb, arrays, big numbers and unicode exactly as sent', async () => {
      const tag = newTag();
      const meta = { deep: { list: [1, 2.5, 'três', null, true], emoji: '🦄' }, empty: {} };
      const { data, error } = await db
        .from('items')
        .insert({
          tag,
          slug: `${tag}-1`,
          name: '名前 🦄',
          meta,
          labels: ['a,b', 'c"d'],
          big: 9007199254740991,
          price: 0.1,
        })
        .select('name,meta,labels,big,price')
        .single();
      expect(error).to.equal(null);
      expect(data).to.deep.equal({
        name: '名前 🦄',
        meta,
        labels: ['a,b', 'c"d'],
        big: 9007199254740991,
        price: 0.1,
      });
      // The body goes to PostgreSQL as text: no precision is lost on the way in.
      const raw = await rest(server, '/items?select=big', {
        method: 'POST',
        headers: { Prefer: 'return=representation' },
        body: `{"tag":"${tag}","slug":"${tag}-2","name":"n","big":9223372036854775807}`,
      });
      expect(raw.text).to.equal('[{"big":9223372036854775807}]');
    });

    it('returns generated identity values and handles quoted column names', async () => {
      const tag = newTag();
      await seedItems(server, tag, [{ slug: `${tag}-1` }]);
      const { data: item } = await db.from('items').select('id').eq('slug', `${tag}-1`).single();
      const { data, error } = await db
        .from('notes')
        .insert([
          { tag, item_id: (item as { id: string }).id, 'odd name': 'x' },
          { tag, item_id: (item as { id: string }).id },
        ])
        .select('id,body,"odd name"');
      expect(error).to.equal(null);
      const rows = data as { id: number; body: string; 'odd name': string | null }[];
      expect(rows[1]!.id).to.equal(rows[0]!.id + 1);
      // `body` was not among the columns sent, so its default applies; `odd name` was, so null.
      expect(rows.map((r) => [r.body, r['odd name']])).to.deep.equal([
        ['empty', 'x'],
        ['empty', null],
      ]);
    });

    it('single() on an insert returns the object; more than one row is 406 and rolled back', async () => {
      const tag = newTag();
      const one = await db
        .from('items')
        .insert({ tag, slug: `${tag}-1`, name: 'a' })
        .select('slug')
        .single();
      expect(one.status).to.equal(201);
      expect(one.data).to.deep.equal({ slug: `${tag}-1` });
      const two = await db
        .from('items')
        .insert([
          { tag, slug: `${tag}-2`, name: 'b' },
          { tag, slug: `${tag}-3`, name: 'c' },
        ])
        .select('slug')
        .single();
      expect(two.status).to.equal(406);
      expect(two.error?.code).to.equal('PGRST116');
      expect(two.error?.details).to.equal('The result contains 2 rows');
      expect((await stored(tag)).map((r) => r.slug)).to.deep.equal([`${tag}-1`]);
    });
  });

  describe('upsert', () => {
    it('merges on the primary key: 201 when a row is inserted, 200 when all were updates', async () => {
      const tag = newTag();
      const first = await db.from('pairs').upsert([
        { tag, a: 1, b: 1, v: 'one' },
        { tag, a: 1, b: 2, v: 'two' },
      ]);
      expect(first.status).to.equal(201);
      const again = await db
        .from('pairs')
        .upsert([{ tag, a: 1, b: 1, v: 'ONE' }])
        .select('a,b,v');
      expect(again.status).to.equal(200);
      expect(again.data).to.deep.equal([{ a: 1, b: 1, v: 'ONE' }]);
      const mixed = await db.from('pairs').upsert([
        { tag, a: 1, b: 2, v: 'TWO' },
        { tag, a: 1, b: 3, v: 'three' },
      ]);
      expect(mixed.status).to.equal(201);
      const { rows } = await server.executor.query<{ v: string }>(
        'SELECT v FROM pairs WHERE tag = $1 ORDER BY b',
        [tag],
      );
      expect(rows.map((r) => r.v)).to.deep.equal(['ONE', 'TWO', 'three']);

      const raw = await rest(server, '/pairs', {
        method: 'POST',
        headers: { Prefer: 'resolution=merge-duplicates', 'Content-Type': 'application/json' },
        body: JSON.stringify({ tag, a: 1, b: 1, v: 'again' }),
      });
      expect(raw.headers.get('preference-applied')).to.equal('resolution=merge-duplicates');
    });

    it('merges on on_conflict columns (a unique key) and leaves other columns of the row alone', async () => {
      const tag = newTag();
      await seedItems(server, tag, [{ slug: `${tag}-1`, name: 'old', qty: 5 }]);
      const { data, error, status } = await db
        .from('items')
        .upsert({ tag, slug: `${tag}-1`, name: 'new' }, { onConflict: 'slug' })
        .select('slug,name,qty');
      expect(error).to.equal(null);
      expect(status).to.equal(200);
      expect(data).to.deep.equal([{ slug: `${tag}-1`, name: 'new', qty: 5 }]);
    });

    it('ignoreDuplicates keeps the existing rows and inserts only the new ones', async () => {
      const tag = newTag();
      await seedItems(server, tag, [{ slug: `${tag}-1`, name: 'keep' }]);
      const { data, error, status } = await db
        .from('items')
        .upsert(
          [
            { tag, slug: `${tag}-1`, name: 'ignored' },
            { tag, slug: `${tag}-2`, name: 'added' },
          ],
          { onConflict: 'slug', ignoreDuplicates: true },
        )
        .select('slug,name');
      expect(error).to.equal(null);
      expect(status).to.equal(201);
      expect(data).to.deep.equal([{ slug: `${tag}-2`, name: 'added' }]);
      expect((await stored(tag)).map((r) => r.name)).to.deep.equal(['keep', 'added']);
    });

    it('reports an on_conflict target without a unique index as PostgreSQL does (42P10, 400)', async () => {
      const tag = newTag();
      const { error, status } = await db
        .from('items')
        .upsert({ tag, slug: `${tag}-1`, name: 'x' }, { onConflict: 'name' });
      expect(status).to.equal(400);
      expect(error?.code).to.equal('42P10');
    });
  });

  describe('update', () => {
    it('updates the filtered rows: 204 without select, 200 with the rows, count in Content-Range', async () => {
      const tag = newTag();
      await seedItems(server, tag, [{ qty: 1 }, { qty: 2 }, { qty: 3 }]);
      const quiet = await db.from('items').update({ name: 'small' }).eq('tag', tag).lte('qty', 2);
      expect(quiet.status).to.equal(204);
      expect(quiet.data).to.equal(null);
      const loud = await db
        .from('items')
        .update({ qty: 10 }, { count: 'exact' })
        .eq('tag', tag)
        .eq('name', 'small')
        .select('slug,qty');
      expect(loud.status).to.equal(200);
      expect(loud.count).to.equal(2);
      expect(bySlug(loud.data)).to.deep.equal([
        { slug: `${tag}-0`, qty: 10 },
        { slug: `${tag}-1`, qty: 10 },
      ]);
      expect(await stored(tag)).to.deep.equal([
        { slug: `${tag}-0`, name: 'small', qty: 10, active: true },
        { slug: `${tag}-1`, name: 'small', qty: 10, active: true },
        { slug: `${tag}-2`, name: 'item 2', qty: 3, active: true },
      ]);
      const raw = await rest(server, `/items?tag=eq.${tag}&qty=eq.3`, {
        method: 'PATCH',
        headers: { Prefer: 'count=exact' },
        body: JSON.stringify({ qty: 4 }),
      });
      expect(raw.status).to.equal(204);
      expect(raw.headers.get('content-range')).to.equal('0-0/1');
    });

    it('matches nothing → 200 [] (or 204) and */* Content-Range', async () => {
      const tag = newTag();
      const { data, status } = await db.from('items').update({ qty: 1 }).eq('tag', tag).select();
      expect(status).to.equal(200);
      expect(data).to.deep.equal([]);
      const raw = await rest(server, `/items?tag=eq.${tag}`, {
        method: 'PATCH',
        body: JSON.stringify({ qty: 1 }),
      });
      expect(raw.headers.get('content-range')).to.equal('*/*');
    });

    it('single() updating two rows is 406 and changes nothing', async () => {
      const tag = newTag();
      await seedItems(server, tag, [{ qty: 1 }, { qty: 1 }]);
      const { status, error } = await db.from('items').update({ qty: 99 }).eq('tag', tag).select().single();
      expect(status).to.equal(406);
      expect(error?.details).to.equal('The result contains 2 rows');
      expect((await stored(tag)).map((r) => r.qty)).to.deep.equal([1, 1]);
    });

    it('maxAffected (handling=strict) fails with PGRST124 and rolls back', async () => {
      const tag = newTag();
      await seedItems(server, tag, [{ qty: 1 }, { qty: 1 }, { qty: 1 }]);
      // supabase-js types gate .maxAffected() on PostgREST 13; the preference exists since 12.2.
      const response = await rest(server, `/items?tag=eq.${tag}`, {
        method: 'PATCH',
        headers: { Prefer: 'handling=strict, max-affected=2' },
        body: JSON.stringify({ qty: 2 }),
      });
      expect(response.status).to.equal(400);
      expect(response.json()).to.deep.equal({
        code: 'PGRST124',
        details: 'The query affects 3 rows',
        hint: null,
        message: 'Query result exceeds max-affected preference constraint',
      });
      expect((await stored(tag)).map((r) => r.qty)).to.deep.equal([1, 1, 1]);
    });

    it('refuses an unfiltered UPDATE like Supabase’s pg-safeupdate (21000)', async () => {
      const { status, error } = await db.from('items').update({ qty: 0 });
      expect(status).to.equal(400);
      expect(error).to.deep.equal({
        code: '21000',
        details: null,
        hint: null,
        message: 'UPDATE requires a WHERE clause',
      });
    });
  });

  describe('delete', () => {
    it('deletes the filtered rows, returning them and the count when asked', async () => {
      const tag = newTag();
      await seedItems(server, tag, [{ qty: 1 }, { qty: 2 }, { qty: 3 }]);
      const { data, count, status, error } = await db
        .from('items')
        .delete({ count: 'exact' })
        .eq('tag', tag)
        .in('qty', [1, 3])
        .select('slug');
      expect(error).to.equal(null);
      expect(status).to.equal(200);
      expect(count).to.equal(2);
      expect(bySlug(data)).to.deep.equal([{ slug: `${tag}-0` }, { slug: `${tag}-2` }]);
      expect((await stored(tag)).map((r) => r.slug)).to.deep.equal([`${tag}-1`]);
      const raw = await rest(server, `/items?tag=eq.${tag}`, {
        method: 'DELETE',
        headers: { Prefer: 'count=exact' },
      });
      expect(raw.status).to.equal(204);
      expect(raw.headers.get('content-range')).to.equal('*/1');
      expect(await stored(tag)).to.deep.equal([]);
    });

    it('refuses an unfiltered DELETE (21000) but accepts any filter, or=(…) included', async () => {
      const tag = newTag();
      await seedItems(server, tag, [{ qty: 1 }]);
      const bare = await db.from('items').delete();
      expect(bare.status).to.equal(400);
      expect(bare.error?.message).to.equal('DELETE requires a WHERE clause');
      const viaOr = await db.from('items').delete().or(`tag.eq.${tag},tag.eq.nothing`);
      expect(viaOr.status).to.equal(204);
      expect(await stored(tag)).to.deep.equal([]);
    });

    it('cascades through foreign keys in the same transaction', async () => {
      const tag = newTag();
      await seedItems(server, tag, [{ slug: `${tag}-1` }]);
      const { rows } = await server.executor.query<{ id: string }>('SELECT id FROM items WHERE slug = $1', [
        `${tag}-1`,
      ]);
      await server.executor.query('INSERT INTO notes (tag, item_id) VALUES ($1, $2)', [tag, rows[0]!.id]);
      const { error } = await db.from('items').delete().eq('slug', `${tag}-1`);
      expect(error).to.equal(null);
      const notes = await server.executor.query('SELECT 1 FROM notes WHERE tag = $1', [tag]);
      expect(notes.rows).to.have.length(0);
    });
  });
});
