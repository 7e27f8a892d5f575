/**
 * THE adapter contract suite: one set of tests that every DatabaseAdapter must pass unchanged
 * (SQLite in worker and inline mode, Supabase against the PostgREST test server).
 *
 * Rules that keep it backend-neutral:
 * - Every test makes its own data (fresh user with a unique email, fresh session) and scopes every
 *   search to that session, so tests never see each other's rows and the database need not be empty.
 * - Text sorts use lower-case ASCII words only (SQLite compares bytes, PostgreSQL uses the
 *   database collation; for such words both agree). Other sorts use numbers and timestamps.
 * - Results are compared with deep equality on the logical shape (JSON key order is not preserved
 *   by PostgreSQL jsonb, and the contract does not promise it).
 * - Failures are asserted by error class *and* code, and stored state is re-read afterwards.
 */
import { randomUUID } from 'node:crypto';

import { expect } from 'chai';

import type {
  DatabaseAdapter,
  Filter,
  OperationInfo,
  Row,
  SearchQuery,
} from '../../src/adapters/contract.js';
import {
  AppError,
  ConflictError,
  NotFoundError,
  ValidationError,
  type ErrorCode,
} from '../../src/errors/index.js';
import { TABLES } from '../../src/schema/tables.js';

/** What a backend's setup hands the suite. */
export interface ContractSubject {
  readonly adapter: DatabaseAdapter;
  cleanup(): Promise<void>;
  /**
   * When given, every OperationInfo the adapter passed to its instrumentation, in order (the suite
   * checks that batches are one operation and that look-ups are chunked, not per row).
   */
  readonly operations?: OperationInfo[];
}

const { users, sessions, authors, plots, world_building: worldBuilding, characters } = TABLES;

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Awaits a promise that must reject with `errorClass` and `code`; returns the error. */
async function rejection<E extends AppError>(
  promise: Promise<unknown>,
  errorClass: abstract new (...args: never[]) => E,
  code: ErrorCode,
): Promise<E> {
  let outcome: { value: unknown } | { error: unknown };
  try {
    outcome = { value: await promise };
  } catch (error) {
    outcome = { error };
  }
  if ('value' in outcome)
    expect.fail(`expected a ${errorClass.name} (${code}), got a result: ${JSON.stringify(outcome.value)}`);
  expect(outcome.error).to.be.instanceOf(errorClass);
  const error = outcome.error as E;
  expect(error.code, error.message).to.equal(code);
  return error;
}

function uniqueEmail(tag = 'user'): string {
  return `${tag}-${randomUUID()}@contract.test`;
}

function byId(a: Row, b: Row): number {
  return String(a.id) < String(b.id) ? -1 : String(a.id) > String(b.id) ? 1 : 0;
}

function ids(rows: readonly Row[]): string[] {
  return rows.map((r) => String(r.id));
}

/**
 * Registers the contract suite for one adapter. `setup` runs once before the suite and must
 * return a started adapter on a migrated database; `cleanup` runs once after it.
 */
export function describeAdapterContract(label: string, setup: () => Promise<ContractSubject>): void {
  describe(`DatabaseAdapter contract: ${label}`, function () {
    this.timeout(60_000);
    let subject: ContractSubject;
    let db: DatabaseAdapter;

    before(async () => {
      subject = await setup();
      db = subject.adapter;
    });

    after(async () => {
      await subject?.cleanup();
    });

    async function newUser(extra: Row = {}): Promise<Row> {
      return db.insertOne(users, { email: uniqueEmail(), display_name: 'Contract User', ...extra });
    }

    /** A fresh session (and its user): the scope of one test's data. */
    async function newSession(extra: Row = {}): Promise<Row> {
      const user = await newUser();
      return db.insertOne(sessions, { user_id: user.id, title: 'Contract session', ...extra });
    }

    /** Operations recorded while `fn` runs (null when the backend does not record them). */
    async function recorded(fn: () => Promise<unknown>): Promise<OperationInfo[] | null> {
      const log = subject.operations;
      if (log === undefined) {
        await fn();
        return null;
      }
      const from = log.length;
      await fn();
      return log.slice(from);
    }

    describe('lifecycle', () => {
      it('reports its database system and exposes its pools', () => {
        expect(['sqlite', 'postgresql']).to.include(db.dbSystem);
        expect(db.pools().length).to.be.greaterThan(0);
      });

      it('start() is idempotent on a started adapter', async () => {
        await db.start();
        const health = await db.healthCheck();
        expect(health.healthy).to.equal(true);
      });

      it('healthCheck() runs the test query and reports its latency', async () => {
        const health = await db.healthCheck();
        expect(health).to.include({ healthy: true });
        expect(health.latencyMs).to.be.a('number').at.least(0).and.below(5_000);
        expect(health.error).to.equal(undefined);
      });
    });

    describe('insertOne / getById', () => {
      it('returns the stored row with generated id and timestamps, and getById reads back the same row', async () => {
        const email = uniqueEmail();
        const before = Date.now();
        const row = await db.insertOne(users, {
          email,
          display_name: 'Ada Lovelace',
          preferences: { theme: 'dark', fontSize: 14, tags: ['a', 'b'], nested: { on: true, none: null } },
        });
        expect(row.id).to.be.a('string').and.match(UUID);
        expect(row.email).to.equal(email);
        expect(row.display_name).to.equal('Ada Lovelace');
        expect(row.preferences).to.deep.equal({
          theme: 'dark',
          fontSize: 14,
          tags: ['a', 'b'],
          nested: { on: true, none: null },
        });
        expect(row.created_at).to.match(ISO_MS);
        expect(row.updated_at).to.equal(row.created_at);
        expect(Date.parse(String(row.created_at))).to.be.within(before - 1_000, Date.now() + 1_000);
        expect(Object.keys(row).sort()).to.deep.equal(Object.keys(users.columns).sort());

        const read = await db.getById(users, String(row.id));
        expect(read).to.deep.equal(row);
      });

      it('applies the schema defaults for omitted columns', async () => {
        const session = await newSession();
        expect(session.metadata).to.deep.equal({});
        expect(session.status).to.equal('active');
        const plot = await db.insertOne(plots, { session_id: session.id, title: 'defaults' });
        expect(plot).to.include({
          status: 'draft',
          word_count: 0,
          is_published: false,
          genre: null,
          author_id: null,
          summary: null,
        });
        expect(plot.metadata).to.deep.equal({});
        expect(await db.getById(plots, String(plot.id))).to.deep.equal(plot);
      });

      it('keeps a given id and created_at, normalised (lower-case UUID, UTC with milliseconds)', async () => {
        const id = randomUUID();
        const row = await db.insertOne(users, {
          id: id.toUpperCase(),
          email: uniqueEmail(),
          display_name: 'Given',
          created_at: '2024-02-29T23:30:00+02:00',
        });
        expect(row.id).to.equal(id);
        expect(row.created_at).to.equal('2024-02-29T21:30:00.000Z');
        const read = await db.getById(users, id.toUpperCase());
        expect(read?.created_at).to.equal('2024-02-29T21:30:00.000Z');
      });

      it('returns null for an id that does not exist', async () => {
        expect(await db.getById(users, randomUUID())).to.equal(null);
      });

      it('rejects an id that is not a UUID with ValidationError', async () => {
        await rejection(db.getById(users, 'not-a-uuid'), ValidationError, 'VALIDATION_FAILED');
      });
    });

    describe('value round trips', () => {
      it('JSON values of every shape come back equal', async () => {
        const session = await newSession();
        const values: unknown[] = [
          {},
          [],
          { a: 1, b: [1, 2.5, -3, 1e21], c: { d: { e: [null, true, false] } }, 'key with spaces': 'v' },
          [1, 'two', { three: 3 }, [4]],
          'just a string',
          42,
          true,
          // (A top-level JSON null is not here on purpose: these columns are NOT NULL, and over
          // PostgREST a JSON null is indistinguishable from SQL NULL, so both adapters reject it.)
          { unicode: 'héllo wörld ✓ 🚀 日本語', escapes: 'quote " backslash \\ newline \n tab \t' },
        ];
        for (const details of values) {
          const row = await db.insertOne(worldBuilding, { session_id: session.id, name: 'json', details });
          expect(row.details, JSON.stringify(details)).to.deep.equal(details);
          const read = await db.getById(worldBuilding, String(row.id));
          expect(read?.details, JSON.stringify(details)).to.deep.equal(details);
        }
      });

      it('booleans round-trip as true/false and filter as booleans', async () => {
        const session = await newSession();
        const yes = await db.insertOne(plots, { session_id: session.id, title: 'yes', is_published: true });
        const no = await db.insertOne(plots, { session_id: session.id, title: 'no', is_published: false });
        expect(yes.is_published).to.equal(true);
        expect(no.is_published).to.equal(false);
        expect((await db.getById(plots, String(yes.id)))?.is_published).to.equal(true);
        const published = await db.search(plots, {
          filters: [
            { column: 'session_id', op: 'eq', value: session.id },
            { column: 'is_published', op: 'eq', value: true },
          ],
          sort: [],
          limit: 10,
          offset: 0,
        });
        expect(ids(published.rows)).to.deep.equal([yes.id]);
      });

      it('timestamps come back as ISO-8601 UTC strings with milliseconds', async () => {
        const session = await newSession();
        const row = await db.insertOne(plots, {
          session_id: session.id,
          title: 'time',
          created_at: new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 678)),
          updated_at: '2025-01-02T03:04:05.678901Z',
        });
        expect(row.created_at).to.equal('2025-01-02T03:04:05.678Z');
        expect(row.updated_at).to.equal('2025-01-02T03:04:05.678Z');
        const read = await db.getById(plots, String(row.id));
        expect(read?.created_at).to.equal('2025-01-02T03:04:05.678Z');
      });

      it('unicode text is stored and returned byte-exact (no normalisation, no folding)', async () => {
        const session = await newSession();
        const texts = [
          'Zoë — “quoted” ‘single’ … ½ ©',
          'e\u0301 vs \u00e9', // decomposed and precomposed é must stay distinct
          '日本語のテキスト, 中文, 한국어',
          'עברית ועוד العربية', // right-to-left
          '👩‍👩‍👧‍👦 🏳️‍🌈 🇯🇵 🚀', // ZWJ sequences, flags, astral plane
          'tab\tnewline\ncarriage\rreturn',
          'apostrophe \' and "quotes" and back\\slash',
          'x'.repeat(10_000),
        ];
        for (const text of texts) {
          const row = await db.insertOne(characters, {
            session_id: session.id,
            name: 'unicode',
            description: text,
          });
          expect(row.description).to.equal(text);
          const read = await db.getById(characters, String(row.id));
          expect(Buffer.from(String(read?.description), 'utf8').equals(Buffer.from(text, 'utf8'))).to.equal(
            true,
          );
        }
      });
    });

    describe('getManyByIds / getManyByColumn / countByColumn', () => {
      it('getManyByIds returns the existing rows, ignores missing and duplicate ids', async () => {
        const session = await newSession();
        const a = await db.insertOne(authors, { session_id: session.id, name: 'a' });
        const b = await db.insertOne(authors, { session_id: session.id, name: 'b' });
        const rows = await db.getManyByIds(authors, [String(a.id), randomUUID(), String(b.id), String(a.id)]);
        expect([...rows].sort(byId)).to.deep.equal([a, b].sort(byId));
        expect(await db.getManyByIds(authors, [])).to.deep.equal([]);
      });

      it('getManyByIds handles 2,000 ids in a few chunked statements', async () => {
        const session = await newSession();
        const inserted = await db.insertMany(
          characters,
          Array.from({ length: 2_000 }, (_, i) => ({ session_id: session.id, name: `c${i}`, traits: { i } })),
        );
        expect(inserted).to.have.length(2_000);
        const wanted = [...ids(inserted), randomUUID(), randomUUID()];
        let rows: Row[] = [];
        const ops = await recorded(async () => {
          rows = await db.getManyByIds(characters, wanted);
        });
        expect(rows).to.have.length(2_000);
        expect(new Set(ids(rows))).to.deep.equal(new Set(ids(inserted)));
        const byKey = new Map(rows.map((r) => [r.id, r]));
        for (const row of inserted) expect(byKey.get(row.id)).to.deep.equal(row);
        if (ops !== null) {
          expect(ops.length, 'statements for 2,000 ids').to.be.within(1, 10);
          for (const op of ops) expect(op).to.include({ operation: 'SELECT', collection: 'characters' });
        }
      });

      it('getManyByColumn returns every row whose column is one of the values', async () => {
        const s1 = await newSession();
        const s2 = await newSession();
        const s3 = await newSession();
        const p1 = await db.insertMany(plots, [
          { session_id: s1.id, title: 'one' },
          { session_id: s1.id, title: 'two' },
        ]);
        const p2 = await db.insertOne(plots, { session_id: s2.id, title: 'three' });
        await db.insertOne(plots, { session_id: s3.id, title: 'other session' });
        const rows = await db.getManyByColumn(plots, 'session_id', [s1.id, s2.id, randomUUID()]);
        expect([...rows].sort(byId)).to.deep.equal([...p1, p2].sort(byId));
        expect(await db.getManyByColumn(plots, 'session_id', [])).to.deep.equal([]);
      });

      it('getManyByColumn rejects an unknown column with ValidationError', async () => {
        await rejection(
          db.getManyByColumn(plots, 'no_such_column', ['x']),
          ValidationError,
          'VALIDATION_FAILED',
        );
      });

      it('countByColumn counts rows per value in one pass, 0 for values without rows', async () => {
        const session = await newSession();
        const [a, b, c] = await db.insertMany(authors, [
          { session_id: session.id, name: 'a' },
          { session_id: session.id, name: 'b' },
          { session_id: session.id, name: 'c' },
        ]);
        await db.insertMany(plots, [
          { session_id: session.id, author_id: a!.id, title: 'a1' },
          { session_id: session.id, author_id: a!.id, title: 'a2' },
          { session_id: session.id, author_id: a!.id, title: 'a3' },
          { session_id: session.id, author_id: b!.id, title: 'b1' },
          { session_id: session.id, title: 'nobody' },
        ]);
        let counts = new Map<string, number>();
        const ops = await recorded(async () => {
          counts = await db.countByColumn(plots, 'author_id', [a!.id, b!.id, c!.id]);
        });
        expect(counts.get(String(a!.id))).to.equal(3);
        expect(counts.get(String(b!.id))).to.equal(1);
        expect(counts.get(String(c!.id)) ?? 0).to.equal(0);
        if (ops !== null) expect(ops).to.have.length(1);
      });
    });

    describe('insertMany', () => {
      it('inserts every row in one operation and returns them in input order', async () => {
        const session = await newSession();
        const input: Row[] = [
          { session_id: session.id, title: 'first', genre: 'fantasy', word_count: 10 },
          { session_id: session.id, title: 'second' },
          { session_id: session.id, title: 'third', is_published: true, metadata: { n: 3 } },
          { session_id: session.id, title: 'fourth', genre: 'crime', word_count: 40 },
        ];
        let rows: Row[] = [];
        const ops = await recorded(async () => {
          rows = await db.insertMany(plots, input);
        });
        expect(rows.map((r) => r.title)).to.deep.equal(['first', 'second', 'third', 'fourth']);
        expect(rows[0]).to.include({ genre: 'fantasy', word_count: 10, is_published: false });
        expect(rows[1]).to.include({ genre: null, word_count: 0 });
        expect(rows[2]).to.include({ is_published: true });
        expect(rows[2]!.metadata).to.deep.equal({ n: 3 });
        expect(new Set(ids(rows)).size).to.equal(4);
        for (const row of rows) {
          expect(row.id).to.match(UUID);
          expect(row.created_at).to.match(ISO_MS);
        }
        const stored = await db.getManyByColumn(plots, 'session_id', [session.id]);
        expect([...stored].sort(byId)).to.deep.equal([...rows].sort(byId));
        if (ops !== null) {
          expect(ops).to.have.length(1);
          expect(ops[0]).to.include({ operation: 'BATCH INSERT', collection: 'plots', batchSize: 4 });
        }
      });

      it('returns [] for no rows', async () => {
        expect(await db.insertMany(plots, [])).to.deep.equal([]);
      });

      it('is all-or-nothing: a duplicate email at row 600 of 1,000 leaves no row behind', async () => {
        const existing = await newUser();
        const input = Array.from({ length: 1_000 }, (_, i) => ({
          email: i === 600 ? existing.email : uniqueEmail(`batch${i}`),
          display_name: `Batch ${i}`,
        }));
        await rejection(db.insertMany(users, input), ConflictError, 'CONFLICT');
        const emails = input.map((r) => r.email).filter((e) => e !== existing.email);
        const leftovers = await db.getManyByColumn(users, 'email', emails);
        expect(leftovers, 'rows left behind by the failed batch').to.have.length(0);
        expect(await db.getById(users, String(existing.id))).to.deep.equal(existing);
      });

      it('is all-or-nothing when a row is invalid (nothing reaches the database)', async () => {
        const session = await newSession();
        const input: Row[] = [
          { session_id: session.id, title: 'ok' },
          { session_id: session.id, title: 'bad', no_such_column: 1 },
        ];
        await rejection(db.insertMany(plots, input), ValidationError, 'VALIDATION_FAILED');
        expect(await db.getManyByColumn(plots, 'session_id', [session.id])).to.have.length(0);
      });
    });

    describe('updateOne / updateMany', () => {
      it('updateOne changes the given columns, sets updated_at, and returns the stored row', async () => {
        const session = await newSession();
        const plot = await db.insertOne(plots, {
          session_id: session.id,
          title: 'before',
          genre: 'sf',
          created_at: '2020-01-01T00:00:00.000Z',
          updated_at: '2020-01-01T00:00:00.000Z',
        });
        const updated = await db.updateOne(plots, String(plot.id), {
          title: 'after',
          genre: null,
          word_count: 1234,
          is_published: true,
          metadata: { edited: true },
        });
        expect(updated).to.include({
          id: plot.id,
          title: 'after',
          genre: null,
          word_count: 1234,
          is_published: true,
        });
        expect(updated!.metadata).to.deep.equal({ edited: true });
        expect(updated!.created_at).to.equal('2020-01-01T00:00:00.000Z');
        expect(updated!.updated_at).to.match(ISO_MS);
        expect(Date.parse(String(updated!.updated_at))).to.be.greaterThan(Date.parse('2024-01-01T00:00:00Z'));
        expect(await db.getById(plots, String(plot.id))).to.deep.equal(updated);
      });

      it('updateOne returns null for a missing id and writes nothing', async () => {
        expect(await db.updateOne(plots, randomUUID(), { title: 'x' })).to.equal(null);
      });

      it('updateOne rejects unknown columns and primary-key changes with ValidationError', async () => {
        const session = await newSession();
        const plot = await db.insertOne(plots, { session_id: session.id, title: 't' });
        await rejection(
          db.updateOne(plots, String(plot.id), { nope: 1 }),
          ValidationError,
          'VALIDATION_FAILED',
        );
        await rejection(
          db.updateOne(plots, String(plot.id), { id: randomUUID() }),
          ValidationError,
          'VALIDATION_FAILED',
        );
        await rejection(
          db.updateOne(plots, String(plot.id), { title: null }),
          ValidationError,
          'VALIDATION_FAILED',
        );
        expect(await db.getById(plots, String(plot.id))).to.deep.equal(plot);
      });

      it('updateMany updates every row in one operation and returns them in input order', async () => {
        const session = await newSession();
        const [a, b, c] = await db.insertMany(plots, [
          { session_id: session.id, title: 'a' },
          { session_id: session.id, title: 'b' },
          { session_id: session.id, title: 'c' },
        ]);
        let rows: Row[] = [];
        const ops = await recorded(async () => {
          rows = await db.updateMany(plots, [
            { id: String(c!.id), changes: { title: 'c2', word_count: 3 } },
            { id: String(a!.id), changes: { title: 'a2' } },
          ]);
        });
        expect(rows.map((r) => [r.id, r.title])).to.deep.equal([
          [c!.id, 'c2'],
          [a!.id, 'a2'],
        ]);
        expect(rows[0]!.word_count).to.equal(3);
        expect((await db.getById(plots, String(a!.id)))?.title).to.equal('a2');
        expect(await db.getById(plots, String(b!.id))).to.deep.equal(b);
        expect((await db.getById(plots, String(c!.id)))?.title).to.equal('c2');
        if (ops !== null) {
          expect(ops).to.have.length(1);
          expect(ops[0]).to.include({ operation: 'BATCH UPDATE', collection: 'plots', batchSize: 2 });
        }
      });

      it('updateMany with one missing id throws NotFoundError and writes nothing', async () => {
        const session = await newSession();
        const [a, b] = await db.insertMany(plots, [
          { session_id: session.id, title: 'a' },
          { session_id: session.id, title: 'b' },
        ]);
        const missing = randomUUID();
        await rejection(
          db.updateMany(plots, [
            { id: String(a!.id), changes: { title: 'changed' } },
            { id: missing, changes: { title: 'ghost' } },
            { id: String(b!.id), changes: { title: 'changed' } },
          ]),
          NotFoundError,
          'NOT_FOUND',
        );
        expect(await db.getById(plots, String(a!.id))).to.deep.equal(a);
        expect(await db.getById(plots, String(b!.id))).to.deep.equal(b);
        expect(await db.getById(plots, missing)).to.equal(null);
      });
    });

    describe('deleteOne', () => {
      it('deletes a row once: true, then false; the row is gone', async () => {
        const session = await newSession();
        const plot = await db.insertOne(plots, { session_id: session.id, title: 'doomed' });
        expect(await db.deleteOne(plots, String(plot.id))).to.equal(true);
        expect(await db.getById(plots, String(plot.id))).to.equal(null);
        expect(await db.deleteOne(plots, String(plot.id))).to.equal(false);
      });

      it('cascades from a user to its sessions and their content', async () => {
        const user = await newUser();
        const session = await db.insertOne(sessions, { user_id: user.id, title: 's' });
        const plot = await db.insertOne(plots, { session_id: session.id, title: 'p' });
        const character = await db.insertOne(characters, { session_id: session.id, name: 'c' });
        expect(await db.deleteOne(users, String(user.id))).to.equal(true);
        expect(await db.getById(sessions, String(session.id))).to.equal(null);
        expect(await db.getById(plots, String(plot.id))).to.equal(null);
        expect(await db.getById(characters, String(character.id))).to.equal(null);
      });

      it('sets plots.author_id and characters.world_building_id to null when their target is deleted', async () => {
        const session = await newSession();
        const author = await db.insertOne(authors, { session_id: session.id, name: 'gone' });
        const place = await db.insertOne(worldBuilding, { session_id: session.id, name: 'gone' });
        const plot = await db.insertOne(plots, { session_id: session.id, author_id: author.id, title: 'p' });
        const character = await db.insertOne(characters, {
          session_id: session.id,
          world_building_id: place.id,
          name: 'c',
        });
        expect(await db.deleteOne(authors, String(author.id))).to.equal(true);
        expect(await db.deleteOne(worldBuilding, String(place.id))).to.equal(true);
        expect((await db.getById(plots, String(plot.id)))?.author_id).to.equal(null);
        expect((await db.getById(characters, String(character.id)))?.world_building_id).to.equal(null);
      });
    });

    describe('constraints and validation', () => {
      it('a duplicate email is a ConflictError (CONFLICT) and the first row stays intact', async () => {
        const first = await newUser();
        const error = await rejection(
          db.insertOne(users, { email: first.email, display_name: 'dup' }),
          ConflictError,
          'CONFLICT',
        );
        expect(error.message).to.match(/email/);
        expect(await db.getById(users, String(first.id))).to.deep.equal(first);
      });

      it('a duplicate email through updateOne is a ConflictError', async () => {
        const a = await newUser();
        const b = await newUser();
        await rejection(db.updateOne(users, String(b.id), { email: a.email }), ConflictError, 'CONFLICT');
        expect(await db.getById(users, String(b.id))).to.deep.equal(b);
      });

      it('a foreign key to a missing row is a ConflictError (CONFLICT) and nothing is stored', async () => {
        const sessionId = randomUUID();
        const id = randomUUID();
        const error = await rejection(
          db.insertOne(plots, { id, session_id: sessionId, title: 'orphan' }),
          ConflictError,
          'CONFLICT',
        );
        expect(error.message.length).to.be.greaterThan(10);
        expect(await db.getById(plots, id)).to.equal(null);
      });

      it('a missing required column is a ValidationError', async () => {
        await rejection(db.insertOne(users, { email: uniqueEmail() }), ValidationError, 'VALIDATION_FAILED');
      });

      it('unknown columns in rows, filters and sorts are ValidationErrors', async () => {
        const session = await newSession();
        await rejection(
          db.insertOne(plots, { session_id: session.id, title: 't', bogus: 1 }),
          ValidationError,
          'VALIDATION_FAILED',
        );
        await rejection(
          db.count(plots, [{ column: 'bogus', op: 'eq', value: 1 }]),
          ValidationError,
          'VALIDATION_FAILED',
        );
        await rejection(
          db.search(plots, {
            filters: [],
            sort: [{ column: 'bogus', direction: 'asc' }],
            limit: 1,
            offset: 0,
          }),
          ValidationError,
          'VALIDATION_FAILED',
        );
        await rejection(
          db.search(plots, {
            filters: [{ column: 'title; DROP TABLE plots', op: 'eq', value: 1 }],
            sort: [],
            limit: 1,
            offset: 0,
          }),
          ValidationError,
          'VALIDATION_FAILED',
        );
        expect(await db.getManyByColumn(plots, 'session_id', [session.id])).to.have.length(0);
      });

      it('columns that are not filterable / sortable, and wrong value types, are ValidationErrors', async () => {
        await rejection(
          db.count(plots, [{ column: 'metadata', op: 'eq', value: {} }]),
          ValidationError,
          'VALIDATION_FAILED',
        );
        await rejection(
          db.search(plots, {
            filters: [],
            sort: [{ column: 'summary', direction: 'asc' }],
            limit: 1,
            offset: 0,
          }),
          ValidationError,
          'VALIDATION_FAILED',
        );
        await rejection(
          db.count(plots, [{ column: 'word_count', op: 'gt', value: 'many' }]),
          ValidationError,
          'VALIDATION_FAILED',
        );
        await rejection(
          db.count(plots, [{ column: 'word_count', op: 'contains', value: '1' }]),
          ValidationError,
          'VALIDATION_FAILED',
        );
        await rejection(
          db.count(plots, [{ column: 'title', op: 'like' as Filter['op'], value: 'x' }]),
          ValidationError,
          'VALIDATION_FAILED',
        );
        const session = await newSession();
        await rejection(
          db.insertOne(plots, { session_id: session.id, title: 't', word_count: 'ten' }),
          ValidationError,
          'VALIDATION_FAILED',
        );
        await rejection(
          db.insertOne(plots, { session_id: session.id, title: 't', is_published: 'yes' }),
          ValidationError,
          'VALIDATION_FAILED',
        );
        await rejection(
          db.insertOne(plots, { session_id: session.id, title: 't', created_at: 'yesterday' }),
          ValidationError,
          'VALIDATION_FAILED',
        );
        await rejection(
          db.insertOne(plots, { session_id: session.id, title: 'x'.repeat(501) }),
          ValidationError,
          'VALIDATION_FAILED',
        );
      });
    });

    describe('count and search', () => {
      /** Five plots in a fresh session with known values; returns the session id and the rows. */
      async function plotFixture(): Promise<{ sessionId: string; rows: Row[] }> {
        const session = await newSession();
        const rows = await db.insertMany(plots, [
          {
            session_id: session.id,
            title: 'alpha',
            genre: 'fantasy',
            word_count: 500,
            status: 'draft',
            created_at: '2024-01-01T00:00:00Z',
          },
          {
            session_id: session.id,
            title: 'bravo',
            genre: null,
            word_count: 300,
            status: 'published',
            is_published: true,
            created_at: '2024-06-01T00:00:00Z',
          },
          {
            session_id: session.id,
            title: 'charlie',
            genre: 'crime',
            word_count: 500,
            status: 'draft',
            created_at: '2024-06-01T00:00:00Z',
          },
          {
            session_id: session.id,
            title: 'delta',
            genre: 'fantasy',
            word_count: 100,
            status: 'review',
            created_at: '2025-01-01T00:00:00Z',
            summary: 'A Dragon appears',
          },
          {
            session_id: session.id,
            title: 'echo',
            genre: 'Fantasy Noir',
            word_count: 500,
            status: 'published',
            is_published: true,
            created_at: '2025-03-01T00:00:00Z',
          },
        ]);
        return { sessionId: String(session.id), rows };
      }

      const inSession = (sessionId: string): Filter => ({ column: 'session_id', op: 'eq', value: sessionId });

      async function titles(
        sessionId: string,
        filters: Filter[],
        extra: Partial<SearchQuery> = {},
      ): Promise<string[]> {
        const result = await db.search(plots, {
          filters: [inSession(sessionId), ...filters],
          sort: [{ column: 'title', direction: 'asc' }],
          limit: 100,
          offset: 0,
          ...extra,
        });
        return result.rows.map((r) => String(r.title));
      }

      it('count applies the filters', async () => {
        const { sessionId } = await plotFixture();
        expect(await db.count(plots, [inSession(sessionId)])).to.equal(5);
        expect(
          await db.count(plots, [inSession(sessionId), { column: 'word_count', op: 'eq', value: 500 }]),
        ).to.equal(3);
        expect(await db.count(plots, [inSession(randomUUID())])).to.equal(0);
      });

      it('supports every filter operator', async () => {
        const { sessionId } = await plotFixture();
        expect(await titles(sessionId, [{ column: 'word_count', op: 'eq', value: 500 }])).to.deep.equal([
          'alpha',
          'charlie',
          'echo',
        ]);
        expect(await titles(sessionId, [{ column: 'status', op: 'neq', value: 'draft' }])).to.deep.equal([
          'bravo',
          'delta',
          'echo',
        ]);
        expect(await titles(sessionId, [{ column: 'word_count', op: 'gt', value: 300 }])).to.deep.equal([
          'alpha',
          'charlie',
          'echo',
        ]);
        expect(await titles(sessionId, [{ column: 'word_count', op: 'gte', value: 300 }])).to.deep.equal([
          'alpha',
          'bravo',
          'charlie',
          'echo',
        ]);
        expect(await titles(sessionId, [{ column: 'word_count', op: 'lt', value: 300 }])).to.deep.equal([
          'delta',
        ]);
        expect(await titles(sessionId, [{ column: 'word_count', op: 'lte', value: 300 }])).to.deep.equal([
          'bravo',
          'delta',
        ]);
        expect(
          await titles(sessionId, [{ column: 'status', op: 'in', value: ['review', 'published'] }]),
        ).to.deep.equal(['bravo', 'delta', 'echo']);
        expect(await titles(sessionId, [{ column: 'status', op: 'in', value: [] }])).to.deep.equal([]);
        expect(
          await titles(sessionId, [{ column: 'genre', op: 'contains', value: 'FANTASY' }]),
        ).to.deep.equal(['alpha', 'delta', 'echo']);
        expect(await titles(sessionId, [{ column: 'genre', op: 'is_null', value: true }])).to.deep.equal([
          'bravo',
        ]);
        expect(await titles(sessionId, [{ column: 'genre', op: 'is_null', value: false }])).to.deep.equal([
          'alpha',
          'charlie',
          'delta',
          'echo',
        ]);
        expect(await titles(sessionId, [{ column: 'is_published', op: 'eq', value: true }])).to.deep.equal([
          'bravo',
          'echo',
        ]);
        expect(
          await titles(sessionId, [
            { column: 'created_at', op: 'gte', value: '2024-06-01T00:00:00.000Z' },
            { column: 'created_at', op: 'lt', value: '2025-01-01T00:00:00Z' },
          ]),
        ).to.deep.equal(['bravo', 'charlie']);
      });

      it('matches free text case-insensitively across the searchable columns', async () => {
        const { sessionId } = await plotFixture();
        expect(await titles(sessionId, [], { text: 'dragon' })).to.deep.equal(['delta']); // summary
        expect(await titles(sessionId, [], { text: 'NOIR' })).to.deep.equal(['echo']); // genre
        expect(await titles(sessionId, [], { text: 'arl' })).to.deep.equal(['charlie']); // title
        expect(await titles(sessionId, [], { text: '   ' })).to.have.length(5); // blank = no text filter
      });

      it('treats %, _ and \\ in contains and free text as literal characters', async () => {
        const session = await newSession();
        await db.insertMany(plots, [
          { session_id: session.id, title: 'one hundred % done' },
          { session_id: session.id, title: 'one hundred percent done' },
          { session_id: session.id, title: 'snake_case' },
          { session_id: session.id, title: 'snakeXcase' },
          { session_id: session.id, title: 'back\\slash' },
          { session_id: session.id, title: 'backslash' },
          { session_id: session.id, title: 'star * and (parens), dots.' },
        ]);
        const sid = String(session.id);
        const contains = (value: string) => titles(sid, [{ column: 'title', op: 'contains', value }]);
        expect(await contains('%')).to.deep.equal(['one hundred % done']);
        expect(await contains('d % d')).to.deep.equal(['one hundred % done']);
        expect(await contains('_')).to.deep.equal(['snake_case']);
        expect(await contains('e_c')).to.deep.equal(['snake_case']);
        expect(await contains('\\')).to.deep.equal(['back\\slash']);
        expect(await contains('*')).to.deep.equal(['star * and (parens), dots.']);
        expect(await contains('(parens),')).to.deep.equal(['star * and (parens), dots.']);
        expect(await titles(sid, [], { text: '%' })).to.deep.equal(['one hundred % done']);
        expect(await titles(sid, [], { text: '_' })).to.deep.equal(['snake_case']);
      });

      it('sorts by the given keys with the id as final ascending tie-break, nulls last when ascending', async () => {
        const { sessionId, rows } = await plotFixture();
        const result = await db.search(plots, {
          filters: [inSession(sessionId)],
          sort: [{ column: 'word_count', direction: 'desc' }],
          limit: 100,
          offset: 0,
        });
        const fiveHundreds = rows.filter((r) => r.word_count === 500).sort(byId);
        const expected = [...fiveHundreds, rows[1]!, rows[3]!];
        expect(ids(result.rows)).to.deep.equal(ids(expected));
        expect(result.total).to.equal(5);

        const byGenre = await db.search(plots, {
          filters: [inSession(sessionId)],
          sort: [
            { column: 'genre', direction: 'asc' },
            { column: 'title', direction: 'desc' },
          ],
          limit: 100,
          offset: 0,
        });
        const genres = byGenre.rows.map((r) => r.genre);
        expect(genres[genres.length - 1]).to.equal(null);
        expect(byGenre.rows.filter((r) => r.genre === 'fantasy').map((r) => r.title)).to.deep.equal([
          'delta',
          'alpha',
        ]);

        const byDate = await db.search(plots, {
          filters: [inSession(sessionId)],
          sort: [{ column: 'created_at', direction: 'asc' }],
          limit: 100,
          offset: 0,
        });
        const sameDay = [rows[1]!, rows[2]!].sort(byId);
        expect(ids(byDate.rows)).to.deep.equal(ids([rows[0]!, ...sameDay, rows[3]!, rows[4]!]));
      });

      it('uses the default sort (created_at, then id) when none is given', async () => {
        const { sessionId, rows } = await plotFixture();
        const result = await db.search(plots, {
          filters: [inSession(sessionId)],
          sort: [],
          limit: 100,
          offset: 0,
        });
        const sameDay = [rows[1]!, rows[2]!].sort(byId);
        expect(ids(result.rows)).to.deep.equal(ids([rows[0]!, ...sameDay, rows[3]!, rows[4]!]));
      });

      it('pages with limit/offset; total ignores paging; pages concatenate to the full ordered list', async () => {
        const session = await newSession();
        // Equal word counts everywhere: the order is decided by the id tie-break alone.
        const rows = await db.insertMany(
          plots,
          Array.from({ length: 23 }, (_, i) => ({
            session_id: session.id,
            title: `p${i}`,
            word_count: i % 2,
          })),
        );
        const expected = [...rows].sort((a, b) => Number(a.word_count) - Number(b.word_count) || byId(a, b));
        const seen: Row[] = [];
        for (let offset = 0; offset < 30; offset += 5) {
          const page = await db.search(plots, {
            filters: [inSession(String(session.id))],
            sort: [{ column: 'word_count', direction: 'asc' }],
            limit: 5,
            offset,
          });
          expect(page.total).to.equal(23);
          expect(page.rows.length).to.equal(Math.max(0, Math.min(5, 23 - offset)));
          seen.push(...page.rows);
        }
        expect(ids(seen)).to.deep.equal(ids(expected));
        expect(seen).to.deep.equal(expected);

        const empty = await db.search(plots, {
          filters: [inSession(String(session.id))],
          sort: [],
          limit: 0,
          offset: 0,
        });
        expect(empty).to.deep.equal({ rows: [], total: 23 });
      });

      it('rejects a negative or fractional limit/offset with ValidationError', async () => {
        await rejection(
          db.search(plots, { filters: [], sort: [], limit: -1, offset: 0 }),
          ValidationError,
          'VALIDATION_FAILED',
        );
        await rejection(
          db.search(plots, { filters: [], sort: [], limit: 10, offset: 1.5 }),
          ValidationError,
          'VALIDATION_FAILED',
        );
      });
    });
  });
}
