/**
 * Batches and related-data reads at size: what is returned equals what is stored (read straight
 * from the database), the request and socket counts are what the design says (printed for the
 * lead), paging never stops at the server's max-rows, and a failed batch leaves nothing behind.
 */
import { randomUUID } from 'node:crypto';

import { expect } from 'chai';

import type { Row } from '../../../src/adapters/contract.js';
import { chunkByBodySize } from '../../../src/adapters/supabase/adapter.js';
import { decodeRow } from '../../../src/adapters/supabase/codec.js';
import type { SupabaseAdapter } from '../../../src/adapters/supabase/index.js';
import { TABLES } from '../../../src/schema/tables.js';
import { databaseBackend } from '../../contract/supabase-fixture.js';
import type { PostgrestTestServer } from '../../support/postgrest/index.js';
import { adapterOn, newSession, ownServer, rejection, storedRows, traffic, type Traffic } from './helpers.js';

const { users, plots, characters } = TABLES;

function byId(a: Row, b: Row): number {
  return String(a.id) < String(b.id) ? -1 : String(a.id) > String(b.id) ? 1 : 0;
}

/** The rows per request of a chunked insert, as the adapter splits them (prepared rows are a bit larger). */
function chunkRows<T>(rows: readonly T[], maxBytes: number): T[][] {
  return chunkByBodySize(
    rows.map((row) => ({
      ...row,
      id: randomUUID(),
      created_at: new Date().toISOString(),
      updated_at: new Date().toISOString(),
    })),
    maxBytes,
  ) as unknown as T[][];
}

function show(label: string, seen: Traffic, ms?: number): void {
  const methods = Object.entries(seen.byMethod)
    .map(([m, n]) => `${m} ${n}`)
    .join(', ');
  console.log(
    `      ${label}: ${seen.requests} requests (${methods}), ${seen.connections} new sockets` +
      (ms === undefined ? '' : `, ${Math.round(ms)} ms`),
  );
}

describe(`Supabase adapter: batches and related data (${databaseBackend()})`, function () {
  this.timeout(90_000);
  let server: PostgrestTestServer;
  let adapter: SupabaseAdapter;
  let cleanup: () => Promise<void>;
  let session: Row;
  let inserted: Row[];

  before(async () => {
    server = await ownServer();
    ({ adapter, cleanup } = await adapterOn(server, { connections: { min: 2, max: 4 } }));
    session = await newSession(adapter);
  });
  after(async () => {
    await cleanup?.();
    await server?.stop();
  });

  it('inserts 5,000 rows in a few requests on one pooled socket and returns exactly what was stored', async () => {
    const input = Array.from({ length: 5_000 }, (_, i) => ({
      session_id: session.id,
      name: `c${i}`,
      role: i % 3 === 0 ? null : `role ${i % 7}`,
      traits: { i, tags: ['a', `t${i % 5}`] },
    }));
    const started = performance.now();
    const { result, traffic: seen } = await traffic(server, () => adapter.insertMany(characters, input));
    show('insertMany 5,000 rows', seen, performance.now() - started);
    inserted = result;
    expect(inserted).to.have.length(5_000);
    expect(inserted.map((r) => r.name)).to.deep.equal(input.map((r) => r.name));
    // Chunks of at most 1 MiB of JSON: ~1.4 MB here, so two requests, both on warm sockets.
    expect(seen.byMethod).to.deep.equal({ POST: 2 });
    expect(seen.connections).to.equal(0);

    const stored = (await storedRows(server, 'characters', 'session_id = $1', [String(session.id)])).map(
      (raw) => decodeRow(characters, raw),
    );
    expect(stored).to.have.length(5_000);
    expect([...stored].sort(byId)).to.deep.equal([...inserted].sort(byId));
  });

  it('looks up 5,000 ids in chunked requests (URLs well under 8 KiB) and returns exactly the stored rows', async () => {
    const ids = inserted.map((r) => String(r.id));
    const started = performance.now();
    const { result, traffic: seen } = await traffic(server, () =>
      adapter.getManyByIds(characters, [...ids, randomUUID()]),
    );
    show('getManyByIds 5,001 ids', seen, performance.now() - started);
    expect(result).to.have.length(5_000);
    expect([...result].sort(byId)).to.deep.equal([...inserted].sort(byId));
    // ~206 ids per request (6.8 KB of list), one page each.
    expect(seen.requests).to.equal(Math.ceil(5_001 / 206));
    expect(seen.connections).to.equal(0);
    const longest = Math.max(...server.stats.recentRequests.map((r) => r.url.length));
    console.log(`      longest request target: ${longest} characters`);
    expect(longest).to.be.below(7_300);
  });

  it('reads related rows and counts per value in a constant number of requests per chunk', async () => {
    const other = await newSession(adapter);
    await adapter.insertMany(characters, [
      { session_id: other.id, name: 'x' },
      { session_id: other.id, name: 'y' },
    ]);
    const values = [session.id, other.id, randomUUID()];
    const related = await traffic(server, () => adapter.getManyByColumn(characters, 'session_id', values));
    show('getManyByColumn (5,002 rows, 3 sessions)', related.traffic);
    expect(related.result).to.have.length(5_002);
    // One chunk of values; pages of 1,000 rows (the server's max-rows), keyset by id.
    expect(related.traffic.requests).to.equal(6);
    expect(related.traffic.connections).to.equal(0);

    const counted = await traffic(server, () => adapter.countByColumn(characters, 'session_id', values));
    show('countByColumn (3 sessions)', counted.traffic);
    expect(Object.fromEntries(counted.result)).to.deep.equal({
      [String(session.id)]: 5_000,
      [String(other.id)]: 2,
      [String(values[2])]: 0,
    });
    expect(counted.traffic.requests).to.equal(6);
  });

  describe('with a server max-rows of 100', () => {
    let capped: PostgrestTestServer;
    let small: { adapter: SupabaseAdapter; cleanup(): Promise<void> };

    before(async () => {
      capped = await ownServer({ maxRows: 100 });
      small = await adapterOn(capped, { connections: { min: 1, max: 2 } });
    });
    after(async () => {
      await small?.cleanup();
      await capped?.stop();
    });

    it('look-ups, related rows and counts page past max-rows and return everything', async () => {
      const ids = inserted.slice(0, 250).map((r) => String(r.id));
      const byIds = await traffic(capped, () => small.adapter.getManyByIds(characters, ids));
      show('max-rows 100: getManyByIds 250 ids', byIds.traffic);
      expect([...byIds.result].sort(byId)).to.deep.equal([...inserted.slice(0, 250)].sort(byId));
      // 206 + 44 ids: pages of 100, 100, 6 and 44.
      expect(byIds.traffic.requests).to.equal(4);

      const related = await traffic(capped, () =>
        small.adapter.getManyByColumn(characters, 'session_id', [session.id]),
      );
      show('max-rows 100: getManyByColumn 5,000 rows', related.traffic);
      expect(related.result).to.have.length(5_000);
      expect(new Set(related.result.map((r) => r.id)).size).to.equal(5_000);
      expect(related.traffic.requests).to.equal(50);

      const counted = await traffic(capped, () =>
        small.adapter.countByColumn(characters, 'session_id', [session.id]),
      );
      expect(counted.result.get(String(session.id))).to.equal(5_000);
      expect(counted.traffic.requests).to.equal(50);
    });

    it('a search with a limit above max-rows fills its page, in order, with the right total', async () => {
      const query = {
        filters: [{ column: 'session_id', op: 'eq' as const, value: session.id }],
        sort: [{ column: 'name', direction: 'desc' as const }],
        limit: 250,
        offset: 4_900,
      };
      const capped250 = await traffic(capped, () => small.adapter.search(characters, query));
      const reference = await adapter.search(characters, query); // max-rows 1,000: one page
      show('max-rows 100: search limit 250 at offset 4,900', capped250.traffic);
      expect(capped250.result.total).to.equal(5_000);
      expect(capped250.result.rows).to.have.length(100);
      expect(capped250.result).to.deep.equal(reference);
      const full = await small.adapter.search(characters, { ...query, offset: 10 });
      expect(full.rows).to.have.length(250);
      expect(full.rows.map((r) => r.name)).to.deep.equal(
        (await adapter.search(characters, { ...query, offset: 10 })).rows.map((r) => r.name),
      );
    });
  });

  it('a chunked insert that fails in a later chunk deletes the earlier chunks and reports the original error', async () => {
    // 8 KiB bodies: 300 users are ~6 requests.
    const chunked = await adapterOn(server, { connections: { min: 1, max: 2 }, maxBodyBytes: 8 * 1024 });
    try {
      const existing = await chunked.adapter.insertOne(users, {
        email: `dup-${randomUUID()}@batch.test`,
        display_name: 'E',
      });
      const input = Array.from({ length: 300 }, (_, i) => ({
        email: i === 250 ? existing.email : `chunk${i}-${randomUUID()}@batch.test`,
        display_name: `Chunk ${i}`,
      }));
      const { traffic: seen } = await traffic(server, () =>
        rejection(chunked.adapter.insertMany(users, input), 'CONFLICT'),
      );
      show('failed chunked insertMany (300 rows, 8 KiB bodies)', seen);
      // The rows of the chunks before the failing one (~225) are deleted by id, ≤ 206 ids a request.
      const posts = seen.byMethod.POST ?? 0;
      expect(posts).to.be.above(3);
      const written = chunkRows(input, 8 * 1024)
        .slice(0, posts - 1)
        .flat().length;
      expect(seen.byMethod.DELETE, 'compensation').to.equal(Math.ceil(written / 206));
      const emails = input.map((r) => r.email).filter((e) => e !== existing.email);
      const left = await storedRows(server, 'users', 'email = any($1::text[])', [`{${emails.join(',')}}`]);
      expect(left, 'rows left behind').to.have.length(0);
      expect(await chunked.adapter.getById(users, String(existing.id))).to.deep.equal(existing);

      // A chunk whose answer is lost (reset before the server ran it): read back, nothing to undo.
      server.faults.resetNext(1, 'before-response');
      const lost = Array.from({ length: 3 }, (_, i) => ({
        email: `lost${i}-${randomUUID()}@batch.test`,
        display_name: 'L',
      }));
      const error = await rejection(chunked.adapter.insertMany(users, lost), 'DB_UNAVAILABLE');
      expect(error.details).to.deep.include({ outcome_unknown: true });
      const leftLost = await storedRows(server, 'users', 'email = any($1::text[])', [
        `{${lost.map((r) => r.email).join(',')}}`,
      ]);
      expect(leftLost).to.have.length(0);
    } finally {
      await chunked.cleanup();
    }
  });

  it('updateMany: a group that fails restores the groups already written (nothing changed in the end)', async () => {
    const [a, b, c] = await adapter.insertMany(users, [
      { email: `a-${randomUUID()}@batch.test`, display_name: 'A' },
      { email: `b-${randomUUID()}@batch.test`, display_name: 'B' },
      { email: `c-${randomUUID()}@batch.test`, display_name: 'C' },
    ]);
    const { traffic: seen } = await traffic(server, () =>
      rejection(
        adapter.updateMany(users, [
          { id: String(a!.id), changes: { display_name: 'A2', preferences: { changed: true } } },
          { id: String(b!.id), changes: { email: c!.email } },
        ]),
        'CONFLICT',
      ),
    );
    show('failed updateMany (2 groups, the 2nd conflicts)', seen);
    // Read, group 1, group 2 (fails), restore of group 1.
    expect(seen.byMethod).to.deep.equal({ GET: 1, POST: 3 });
    for (const row of [a!, b!, c!]) expect(await adapter.getById(users, String(row.id))).to.deep.equal(row);
  });

  it('updateMany: the same id twice applies both in order, like one SQLite transaction', async () => {
    const [p] = await adapter.insertMany(plots, [{ session_id: session.id, title: 'p', word_count: 1 }]);
    const rows = await adapter.updateMany(plots, [
      { id: String(p!.id), changes: { title: 'first', word_count: 5 } },
      { id: String(p!.id), changes: { title: 'second' } },
    ]);
    expect(rows.map((r) => [r.title, r.word_count])).to.deep.equal([
      ['first', 5],
      ['second', 5],
    ]);
    expect(await adapter.getById(plots, String(p!.id))).to.deep.equal(rows[1]);
  });

  it('updateMany of 100 rows: one read and one upsert, against 100 PATCH requests one by one (measured)', async () => {
    const rows = await adapter.insertMany(
      plots,
      Array.from({ length: 100 }, (_, i) => ({ session_id: session.id, title: `u${i}`, word_count: i })),
    );
    let started = performance.now();
    const bulk = await traffic(server, () =>
      adapter.updateMany(
        plots,
        rows.map((r) => ({
          id: String(r.id),
          changes: { word_count: Number(r.word_count) + 1000, genre: 'bulk' },
        })),
      ),
    );
    const bulkMs = performance.now() - started;
    show('updateMany 100 rows (upsert per column set)', bulk.traffic, bulkMs);
    expect(bulk.traffic.byMethod).to.deep.equal({ GET: 1, POST: 1 });
    expect(bulk.result.map((r) => r.word_count)).to.deep.equal(rows.map((r) => Number(r.word_count) + 1000));

    started = performance.now();
    const single = await traffic(server, async () => {
      for (const row of rows)
        await adapter.updateOne(plots, String(row.id), { word_count: Number(row.word_count) + 2000 });
    });
    const singleMs = performance.now() - started;
    show('100 × updateOne (PATCH per row)', single.traffic, singleMs);
    expect(single.traffic.byMethod).to.deep.equal({ PATCH: 100 });
    const stored = await storedRows(server, 'plots', 'session_id = $1 and title like $2', [
      String(session.id),
      'u%',
    ]);
    expect(stored.map((r) => r.word_count).sort((x, y) => Number(x) - Number(y))).to.deep.equal(
      rows.map((r) => Number(r.word_count) + 2000),
    );
  });
});
