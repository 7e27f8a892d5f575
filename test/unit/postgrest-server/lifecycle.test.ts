import { createHook } from 'node:async_hooks';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { Client } from 'pg';
import { Agent, request } from 'undici';

import { startPostgrestTestServer } from '../../support/postgrest/index.js';
import type { PostgrestTestServer } from '../../support/postgrest/index.js';
import { backendName, client, rest, startServer, TEST_KEY } from './helpers.js';

/** Timers created by the test server's own code (by stack), still pending. */
function trackServerTimers(): { pending: () => number; stacks: () => string[]; stop: () => void } {
  const pending = new Map<number, string>();
  const hook = createHook({
    init(asyncId, type) {
      if (type !== 'Timeout') return;
      // The frame that called setTimeout/setInterval (public API, node:timers) must be ours: Node's
      // own unref'd timers (e.g. the Date header cache) merely run under our call stack.
      const stack = new Error().stack ?? '';
      const frames = stack.split('\n').map((line) => line.trim());
      const created = frames.findIndex((line) => line.startsWith('at new Timeout'));
      const caller = frames.slice(created + 1).find((line) => !line.includes('(node:timers'));
      if (caller !== undefined && caller.includes('support/postgrest/')) pending.set(asyncId, stack);
    },
    destroy(asyncId) {
      pending.delete(asyncId);
    },
  }).enable();
  return { pending: () => pending.size, stacks: () => [...pending.values()], stop: () => hook.disable() };
}

describe(`PostgREST test server: lifecycle, options and routing (${backendName()})`, function () {
  this.timeout(60_000);
  let server: PostgrestTestServer;

  before(async () => {
    server = await startServer({ requiredKey: TEST_KEY });
  });
  after(async () => {
    await server?.stop();
  });

  describe('options', () => {
    it('rejects unknown and contradictory options before touching any database', async () => {
      const bogus = { maxRowz: 5 } as unknown as Parameters<typeof startPostgrestTestServer>[0];
      await startPostgrestTestServer(bogus).then(
        () => expect.fail('expected a TypeError'),
        (error: unknown) => {
          expect(error).to.be.instanceOf(TypeError);
          expect((error as Error).message).to.contain('unknown option "maxRowz"');
        },
      );
      await startPostgrestTestServer({ executor: server.executor, databaseUrl: 'postgres://x/y' }).then(
        () => expect.fail('expected a TypeError'),
        (error: unknown) => expect(error).to.be.instanceOf(TypeError),
      );
      await startPostgrestTestServer({ maxRows: 0, databaseUrl: null }).then(
        () => expect.fail('expected a TypeError'),
        (error: unknown) => expect((error as Error).message).to.contain('maxRows must be a positive integer'),
      );
    });
  });

  describe('api key', () => {
    it('answers 401 like Supabase’s gateway without the key or with a wrong one', async () => {
      const missing = await fetch(`${server.restUrl}/items`);
      expect(missing.status).to.equal(401);
      expect(await missing.json()).to.deep.equal({
        message: 'No API key found in request',
        hint: 'No `apikey` request header or url param was found.',
      });
      const wrong = await client(server, { key: 'wrong-key' }).from('items').select('slug').limit(1);
      expect(wrong.status).to.equal(401);
      expect(wrong.error?.message).to.equal('Invalid API key');
      const right = await client(server).from('items').select('slug').limit(1);
      expect(right.status).to.equal(200);
      expect(right.error).to.equal(null);
    });
  });

  describe('routing and negotiation', () => {
    it('404s outside /rest/v1, 501s for what is not implemented, 405s unknown methods', async () => {
      const outside = await rest(server, '/../auth/v1/user');
      expect(outside.status).to.equal(404);
      expect(outside.json()).to.deep.equal({ message: 'no Route matched with those values' });
      for (const [path, method] of [
        ['/rpc/do_something', 'POST'],
        ['/items', 'PUT'],
        ['/items?select=id,notes(id)', 'GET'],
        ['/items?select=meta->kind', 'GET'],
        ['/items?name=fts.cat', 'GET'],
      ] as const) {
        const response = await rest(server, path, { method, ...(method === 'GET' ? {} : { body: '{}' }) });
        expect(response.status, `${method} ${path}`).to.equal(501);
        expect((response.json() as { code: string }).code).to.equal('PGRST_TEST_501');
      }
      const purge = await rest(server, '/items', { method: 'PURGE' });
      expect(purge.status).to.equal(405);
      expect(purge.json()).to.deep.equal({
        code: 'PGRST117',
        details: null,
        hint: null,
        message: 'Unsupported HTTP method: PURGE',
      });
    });

    it('checks the schema profile (406 PGRST106) and unsupported Accept types (406 PGRST107)', async () => {
      const profile = await rest(server, '/items', { headers: { 'Accept-Profile': 'private' } });
      expect(profile.status).to.equal(406);
      expect(profile.json()).to.deep.equal({
        code: 'PGRST106',
        details: null,
        hint: null,
        message: 'The schema must be one of the following: public',
      });
      const ok = await rest(server, '/items?limit=1', { headers: { 'Accept-Profile': 'public' } });
      expect(ok.status).to.equal(200);
      expect(ok.headers.get('content-profile')).to.equal('public');
      const xml = await rest(server, '/items', { headers: { Accept: 'application/xml' } });
      expect(xml.status).to.equal(406);
      expect((xml.json() as { code: string }).code).to.equal('PGRST107');
    });

    it('answers parse errors with PGRST100 and unknown names with PostgREST’s codes', async () => {
      const operator = await rest(server, '/items?qty=eq');
      expect(operator.status).to.equal(400);
      expect(operator.json()).to.deep.include({
        code: 'PGRST100',
        message: '"failed to parse filter (eq)" (line 1, column 3)',
      });
      const order = await rest(server, '/items?order=qty.upward');
      expect((order.json() as { code: string }).code).to.equal('PGRST100');
      const table = await rest(server, '/no_such_table');
      expect(table.status).to.equal(404);
      expect(table.json()).to.deep.equal({
        code: '42P01',
        details: null,
        hint: null,
        message: 'relation "public.no_such_table" does not exist',
      });
      for (const path of ['/items?select=nope', '/items?nope=eq.1', '/items?order=nope.desc']) {
        const column = await rest(server, path);
        expect(column.status, path).to.equal(400);
        expect(column.json(), path).to.deep.equal({
          code: '42703',
          details: null,
          hint: null,
          message: 'column items.nope does not exist',
        });
      }
    });
    it('is not injectable: values are bound, identifiers come from the schema cache and are quoted', async () => {
      await server.executor.execScript(`CREATE TABLE "we""ird; table" ("co""l" text, "x;y" int)`);
      await server.executor.query(`INSERT INTO "we""ird; table" VALUES ('v''1', 1)`);
      const weird = await rest(
        server,
        `/${encodeURIComponent('we"ird; table')}?select=${encodeURIComponent('"co\\"l","x;y"')}`,
      );
      expect(weird.status, weird.text).to.equal(200);
      expect(weird.json()).to.deep.equal([{ 'co"l': "v'1", 'x;y': 1 }]);

      const attempts = [
        `/items?name=eq.${encodeURIComponent("x'; DROP TABLE items; --")}`,
        `/items?name=in.(${encodeURIComponent("a');DROP TABLE items;--")})`,
        `/items?select=${encodeURIComponent('id;DROP TABLE items')}`,
        `/items?order=${encodeURIComponent('id;DROP TABLE items')}`,
        `/${encodeURIComponent('items;DROP TABLE items')}`,
        `/items?select=${encodeURIComponent('qty::int);DROP TABLE items;--')}`,
      ];
      for (const path of attempts) {
        const response = await rest(server, path);
        expect(response.status, path).to.be.oneOf([200, 400, 404, 501]);
      }
      const { rows } = await server.executor.query(
        `SELECT to_regclass('public.items') IS NOT NULL AS present`,
      );
      expect(rows).to.deep.equal([{ present: true }]);
    });
  });

  describe('schema cache', () => {
    let strict: PostgrestTestServer;
    before(async () => {
      strict = await startPostgrestTestServer({
        executor: server.executor,
        autoReloadSchema: false,
        missingTableError: 'PGRST205',
        supabaseCompat: false,
      });
    });
    after(async () => {
      await strict?.stop();
    });

    it('sees a table created after start only after reloadSchema() (or at once with auto reload)', async () => {
      await server.executor.execScript('CREATE TABLE late_table (id int PRIMARY KEY, label text)');
      await server.executor.query(`INSERT INTO late_table VALUES (1, 'x')`);
      const stale = await rest(strict, '/late_table');
      expect(stale.status).to.equal(404);
      expect(stale.json()).to.deep.equal({
        code: 'PGRST205',
        details: null,
        hint: null,
        message: "Could not find the table 'public.late_table' in the schema cache",
      });
      const auto = await rest(server, '/late_table');
      expect(auto.status).to.equal(200);
      await strict.reloadSchema();
      const fresh = await rest(strict, '/late_table?select=label');
      expect(fresh.json()).to.deep.equal([{ label: 'x' }]);
    });

    it('maxUrlLength and maxBodyBytes answer 414 / 413 with a proxy-style HTML page', async () => {
      const limited = await startPostgrestTestServer({
        executor: server.executor,
        supabaseCompat: false,
        maxUrlLength: 200,
        maxBodyBytes: 1024,
      });
      try {
        const longUrl = await fetch(`${limited.restUrl}/items?name=eq.${'x'.repeat(300)}`);
        expect(longUrl.status).to.equal(414);
        expect(longUrl.headers.get('content-type')).to.equal('text/html');
        const bigBody = await fetch(`${limited.restUrl}/items`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ name: 'y'.repeat(2000) }),
        });
        expect(bigBody.status).to.equal(413);
        const fine = await fetch(`${limited.restUrl}/items?limit=1`);
        expect(fine.status).to.equal(200);
      } finally {
        await limited.stop();
      }
    });

    it('a server sharing an executor leaves it open when it stops', async () => {
      const extra = await startPostgrestTestServer({ executor: server.executor, supabaseCompat: false });
      await extra.stop();
      const { rows } = await server.executor.query<{ one: number }>('SELECT 1 AS one');
      expect(rows).to.deep.equal([{ one: 1 }]);
    });
  });

  describe('setup', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'bw-pgrst-migrations-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('applies migrationsDir files in name order, then setupSql; Supabase roles and auth.uid() exist', async () => {
      await writeFile(join(dir, '0002_seed.sql'), `INSERT INTO things (name) VALUES ('from 0002');`);
      await writeFile(
        join(dir, '0001_schema.sql'),
        `CREATE TABLE things (id serial PRIMARY KEY, name text NOT NULL);
        GRANT SELECT ON things TO anon, authenticated;
        ALTER TABLE things ENABLE ROW LEVEL SECURITY;
        CREATE POLICY mine ON things FOR SELECT USING (auth.uid() IS NULL OR true);`,
      );
      await writeFile(join(dir, 'README.md'), 'not a migration');
      const migrated = await startPostgrestTestServer({
        migrationsDir: dir,
        setupSql: `INSERT INTO things (name) VALUES ('from setupSql')`,
      });
      try {
        const { data, error } = await client(migrated).from('things').select('name').order('id');
        expect(error).to.equal(null);
        expect(data).to.deep.equal([{ name: 'from 0002' }, { name: 'from setupSql' }]);
      } finally {
        await migrated.stop();
      }
    });

    it('fails start-up naming the migration that failed, and cleans up', async () => {
      await writeFile(join(dir, '0001_broken.sql'), 'CREATE TABLE broken (');
      await startPostgrestTestServer({ migrationsDir: dir }).then(
        () => expect.fail('expected start-up to fail'),
        (error: unknown) => expect((error as Error).message).to.match(/^migration 0001_broken\.sql failed: /),
      );
    });
  });

  describe('stop()', () => {
    it('closes kept-alive and in-flight sockets at once, leaves no timers, and is idempotent', async () => {
      const timers = trackServerTimers();
      const short = await startServer();
      // Only undici agents this test destroys: global fetch would keep timers of its own.
      const agent = new Agent({ keepAliveTimeout: 60_000 });
      const second = new Agent();
      try {
        const first = await request(`${short.restUrl}/items?limit=1`, { dispatcher: agent });
        await first.body.text();
        expect(short.stats.openSockets).to.equal(1);

        short.faults.latencyMs = 30_000;
        const delayed = request(`${short.restUrl}/items`, { dispatcher: agent }).then(
          () => 'answered',
          () => 'failed',
        );
        const until = async (condition: () => boolean): Promise<void> => {
          while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
        };
        await until(() => short.stats.faultsInjected.latency === 1);
        short.faults.blackHole = true;
        const swallowed = request(`${short.restUrl}/items`, { dispatcher: second }).then(
          () => 'answered',
          () => 'failed',
        );
        await until(() => short.stats.faultsInjected.blackHole === 1);
        expect(timers.pending()).to.be.at.least(1); // the latency timer

        const started = Date.now();
        await short.stop();
        expect(Date.now() - started).to.be.below(5000);
        expect(short.stats.openSockets).to.equal(0);
        expect(await delayed).to.equal('failed');
        expect(await swallowed).to.equal('failed');
        await short.stop();
      } finally {
        await agent.destroy();
        await second.destroy();
        await short.stop();
      }
      // Destroy hooks of cleared timers run asynchronously.
      await new Promise((resolve) => setImmediate(resolve));
      timers.stop();
      expect(timers.pending(), timers.stacks().join('\n\n')).to.equal(0);
    });
  });

  describe('real PostgreSQL isolation', function () {
    before(function () {
      if (server.executor.backend !== 'postgres') this.skip();
    });

    it('runs in its own bw_pgrst_<pid>_<random> database and drops it on stop()', async () => {
      const own = await startServer();
      const name = /\/(bw_pgrst_\d+_[0-9a-f]+)/.exec(own.executor.description)?.[1];
      expect(name, own.executor.description).to.be.a('string');
      expect(name).to.contain(`bw_pgrst_${process.pid}_`);
      await own.stop();
      const admin = new Client({ connectionString: process.env['TEST_DATABASE_URL'] });
      await admin.connect();
      try {
        const { rows } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
        expect(rows).to.have.length(0);
      } finally {
        await admin.end();
      }
    });
  });
});
