/**
 * The service in DATABASE_MODE=supabase (startTestService({ backend: 'supabase' })): the API
 * works end to end through the Supabase adapter, and the API key never appears in a response, an
 * error (message, details, cause chain), the pool's own numbers or a log line — including while
 * the upstream fails in every way the test server can.
 */
import { randomUUID } from 'node:crypto';

import { expect } from 'chai';

import type { SupabaseAdapter } from '../../../src/adapters/supabase/index.js';
import { TABLES } from '../../../src/schema/tables.js';
import {
  databaseBackend,
  TEST_SUPABASE_KEY,
  TEST_SUPABASE_POOL_SETTINGS,
} from '../../contract/supabase-fixture.js';
import { startTestService, type TestService } from '../../support/service.js';
import { adapterOn, ownServer, sharedServer } from './helpers.js';

/** Everything an error carries that could be shown or logged: messages, details, causes, stacks. */
function everythingIn(error: unknown, depth = 0): string {
  if (error === null || error === undefined || depth > 6) return '';
  if (typeof error !== 'object') return String(error);
  const e = error as Record<string, unknown> & { message?: unknown; stack?: unknown; cause?: unknown };
  let own = '';
  try {
    own = JSON.stringify(error, Object.getOwnPropertyNames(error));
  } catch {
    own = String(error);
  }
  return [
    own,
    String(e.message ?? ''),
    String(e.stack ?? ''),
    JSON.stringify(e.details ?? null),
    everythingIn(e.cause, depth + 1),
  ].join('\n');
}

describe(`Supabase mode: the service end to end, and the key as a secret (${databaseBackend()})`, function () {
  this.timeout(60_000);
  let service: TestService;

  before(async () => {
    const base = await sharedServer();
    service = await startTestService({ backend: 'supabase', postgrest: { executor: base.executor } });
  });
  after(async () => {
    await service?.stop();
  });

  it('serves the API from Supabase through the supabase pool', async () => {
    expect(service.config.databaseMode).to.equal('supabase');
    expect(service.container.adapter.dbSystem).to.equal('postgresql');
    const created = await service.request('POST', '/api/users', {
      email: `svc-${randomUUID()}@supabase.test`,
      display_name: 'Service',
    });
    expect(created.status, created.text).to.equal(201);
    const user = created.body as { id: string; email: string };
    const read = await service.request('GET', `/api/users/${user.id}`);
    expect(read.status).to.equal(200);
    expect(read.body).to.deep.include({ id: user.id, email: user.email });
    const session = await service.request('POST', '/api/sessions', { user_id: user.id, title: 'svc' });
    expect(session.status, session.text).to.equal(201);
    const batch = await service.request('POST', '/api/plots/batch', {
      items: [1, 2, 3].map((i) => ({ session_id: (session.body as { id: string }).id, title: `p${i}` })),
    });
    expect(batch.status, batch.text).to.equal(201);
    const content = await service.request(
      'GET',
      `/api/sessions/${(session.body as { id: string }).id}/content`,
    );
    expect(content.status, content.text).to.equal(200);
    expect(service.postgrest?.stats.requests).to.be.above(0);

    const pool = await service.request('GET', '/metrics/database/pool');
    expect(pool.status).to.equal(200);
    expect(pool.text).to.include('supabase');
    const health = await service.request('GET', '/metrics/database/health');
    expect(health.status, health.text).to.equal(200);
  });

  it('never shows the key: config endpoint, error responses during an outage, logs', async () => {
    const config = await service.request('GET', '/metrics/database/config');
    expect(config.status).to.equal(200);
    expect(config.text).to.include('"key":"***"');

    const server = service.postgrest!;
    server.faults.htmlNext(3, 502);
    const badGateway = await service.request('GET', `/api/users/${randomUUID()}`);
    expect(badGateway.status).to.equal(502);
    expect((badGateway.body as { error: { code: string } }).error.code).to.equal('DB_BAD_GATEWAY');

    await server.faults.refuseConnections('close');
    try {
      const down = await service.request('GET', '/metrics/database/health');
      expect(down.status).to.equal(503);
      const texts = [config.text, badGateway.text, down.text];
      for (const text of texts) expect(text).to.not.include(TEST_SUPABASE_KEY);
    } finally {
      await server.faults.acceptConnections();
    }
    expect(JSON.stringify(service.logs)).to.not.include(TEST_SUPABASE_KEY);
    expect(JSON.stringify(service.container.adapter.pools().map((p) => p.stats()))).to.not.include(
      TEST_SUPABASE_KEY,
    );
  });

  it('never puts the key (or a wrong one) into an error, whatever fails', async () => {
    const server = await ownServer();
    const wrongKey = `wrong-${TEST_SUPABASE_KEY}`;
    const errors: unknown[] = [];
    const capture = async (promise: Promise<unknown>): Promise<void> => {
      try {
        await promise;
      } catch (err) {
        errors.push(err);
        return;
      }
      expect.fail(`expected failure number ${errors.length + 1}`);
    };
    const { adapter, cleanup } = await adapterOn(server, {
      connections: { min: 1, max: 2 },
      requestTimeoutMs: 300,
      pool: { ...TEST_SUPABASE_POOL_SETTINGS, acquireTimeoutMs: 2_000 },
    });
    const rejected = await adapterOn(server, { start: false, key: wrongKey });
    try {
      const a: SupabaseAdapter = adapter;
      const user = await a.insertOne(TABLES.users, { email: `k-${randomUUID()}@x.test`, display_name: 'K' });
      await capture(a.insertOne(TABLES.users, { email: user.email, display_name: 'dup' })); // 23505
      await capture(a.insertOne(TABLES.plots, { session_id: randomUUID(), title: 't' })); // 23503
      server.faults.htmlNext(3, 502);
      await capture(a.count(TABLES.users, []));
      server.faults.failNext(3, 503);
      await capture(a.getById(TABLES.users, String(user.id)));
      server.faults.resetNext(1, 'mid-response');
      await capture(a.deleteOne(TABLES.users, String(user.id)));
      // A warm connection again (the reset one was replaced), so the slow answer is the read's.
      await a.getById(TABLES.users, String(user.id));
      server.faults.latencyMs = 1_000;
      await capture(a.getById(TABLES.users, String(user.id)));
      server.faults.latencyMs = 0;
      await capture(rejected.adapter.start());
      // Too long for one URL: refused before sending (VALIDATION_FAILED).
      await capture(
        a.search(TABLES.plots, { filters: [], text: 'x'.repeat(5_000), sort: [], limit: 1, offset: 0 }),
      );
      expect(errors).to.have.length(8);
      for (const error of errors) {
        const all = everythingIn(error);
        expect(all).to.not.include(TEST_SUPABASE_KEY);
        expect(all).to.not.include(wrongKey);
      }
      const stats = JSON.stringify([adapter.pool.stats(), rejected.adapter.pool.stats()]);
      expect(stats).to.not.include(TEST_SUPABASE_KEY);
      // What the server saw carries the key only in the (redacted) headers.
      expect(JSON.stringify(server.stats.recentRequests)).to.not.include(TEST_SUPABASE_KEY);
    } finally {
      await cleanup();
      await rejected.cleanup();
      await server.stop();
    }
  });
});
