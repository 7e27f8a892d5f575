/**
 * Failure handling against injected faults: a server that goes away and comes back, slow and
 * black-holed answers, 5xx, resets, HTML error pages, a wrong key and missing tables. Retries are
 * counted at the server; stored state is checked in the database.
 */
import { randomUUID } from 'node:crypto';

import { expect } from 'chai';

import { TABLES } from '../../../src/schema/tables.js';
import { databaseBackend, TEST_SUPABASE_POOL_SETTINGS } from '../../contract/supabase-fixture.js';
import type { PostgrestTestServer } from '../../support/postgrest/index.js';
import { adapterOn, eventually, newSession, ownServer, rejection, storedRows, traffic } from './helpers.js';

const { users, sessions } = TABLES;

/** Pool settings that fail fast when the server is gone (a refused connect fails at once anyway). */
const FAST_POOL = { ...TEST_SUPABASE_POOL_SETTINGS, acquireTimeoutMs: 800, createTimeoutMs: 5_000 };

describe(`Supabase adapter: faults (${databaseBackend()})`, function () {
  this.timeout(60_000);
  let server: PostgrestTestServer;

  before(async () => {
    // A cold PGlite answers its first statements slowly; the short timeouts below are not about that.
    const warm = await adapterOn(await ownServer(), { connections: { min: 1, max: 1 } });
    try {
      await newSession(warm.adapter);
    } finally {
      await warm.cleanup();
      await warm.server.stop();
    }
  });

  beforeEach(async () => {
    server = await ownServer();
  });
  afterEach(async () => {
    await server.faults.clear();
    await server.stop();
  });

  it('server down: health unhealthy and requests fail fast with the reason; back up: healthy, the pool refills', async () => {
    const { adapter, cleanup } = await adapterOn(server, {
      connections: { min: 2, max: 3 },
      pool: FAST_POOL,
      requestTimeoutMs: 1_000,
    });
    try {
      const session = await newSession(adapter);
      expect(await adapter.pool.checkHealth()).to.equal(true);

      await server.faults.refuseConnections('close');
      // The open sockets were cut: the idle connections notice at once.
      expect(
        await eventually(() => adapter.pool.snapshot().total === 0 || server.stats.openSockets === 0),
      ).to.equal(true);
      // The first pass finds the cut sockets (broken, or failing at once), the next one finds
      // nothing to probe and cannot open a connection.
      expect(await adapter.pool.checkHealth()).to.equal(false);
      expect(await adapter.pool.checkHealth()).to.equal(false);
      const down = adapter.pool.stats();
      expect(down.healthy).to.equal(false);
      expect(down.consecutiveHealthFailures).to.equal(2);
      expect(down.lastHealthError).to.match(
        /Cannot reach the Supabase API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
      );
      const health = await adapter.healthCheck();
      expect(health.healthy).to.equal(false);
      expect(health.error).to.match(/ECONNREFUSED/);
      const started = Date.now();
      // Every connect fails: DB_UNAVAILABLE (as SQLite reports it), from the circuit breaker once the
      // failed connects opened it, else from the acquire that no connect could serve.
      const error = await rejection(adapter.getById(sessions, String(session.id)), 'DB_UNAVAILABLE');
      expect(error.message).to.match(/circuit breaker open|no new connection could be opened .*ECONNREFUSED/);
      expect(Date.now() - started).to.be.below(3_000);

      await server.faults.acceptConnections();
      expect(await adapter.pool.checkHealth()).to.equal(true);
      const up = adapter.pool.stats();
      expect(up.healthy).to.equal(true);
      expect(up.total, 'refilled to min').to.be.at.least(2);
      expect(await adapter.getById(sessions, String(session.id))).to.include({ id: session.id });
      console.log(
        `      outage: health failures ${up.healthCheckFailures}, create failures ${up.createFailures}, ` +
          `closed (error) ${up.closedByReason.error + up.closedByReason.unhealthy}, total after recovery ${up.total}`,
      );
    } finally {
      await cleanup();
    }
  });

  it('an answer slower than the timeout is DB_TIMEOUT at the timeout, not retried, and its socket is closed', async () => {
    const session = await (async () => {
      const setup = await adapterOn(server, { connections: { min: 1, max: 1 } });
      try {
        return await newSession(setup.adapter);
      } finally {
        await setup.cleanup();
      }
    })();
    const { adapter, cleanup } = await adapterOn(server, {
      connections: { min: 1, max: 2 },
      requestTimeoutMs: 300,
    });
    try {
      const slow = await adapter.pool.withConnection(async (c) => c);
      server.faults.latencyMs = 5_000;
      server.stats.reset();
      const started = Date.now();
      const error = await rejection(adapter.getById(sessions, String(session.id)), 'DB_TIMEOUT');
      const took = Date.now() - started;
      expect(took).to.be.within(280, 1_500);
      expect(error.message).to.match(/did not answer the SELECT on sessions within 300 ms/);
      expect(server.stats.requests, 'timeouts are not retried').to.equal(1);
      // The aborted request's socket is gone on both sides; the pool dropped that connection.
      expect(slow.isBroken).to.equal(true);
      expect(await eventually(() => server.stats.openSockets === 0, 2_000)).to.equal(true);
      server.faults.latencyMs = 0;
      expect(await adapter.getById(sessions, String(session.id))).to.include({ id: session.id });
    } finally {
      await cleanup();
    }
  });

  it('a black-holed request times out too (no hang), and a write that timed out says its outcome is unknown', async () => {
    // Two warm connections: one per request (a replacement's probe would be black-holed too).
    const { adapter, cleanup } = await adapterOn(server, {
      connections: { min: 2, max: 2 },
      requestTimeoutMs: 250,
    });
    try {
      server.faults.blackHole = true;
      const started = Date.now();
      await rejection(adapter.count(users, []), 'DB_TIMEOUT');
      const write = await rejection(
        adapter.insertOne(users, { email: `bh-${randomUUID()}@faults.test`, display_name: 'x' }),
        'DB_TIMEOUT',
      );
      expect(write.details).to.deep.include({ outcome_unknown: true });
      expect(Date.now() - started).to.be.below(2_000);
    } finally {
      await cleanup();
    }
  });

  it('5xx on reads: 502/503/504 are retried (counted at the server), 500 is not', async () => {
    const { adapter, cleanup } = await adapterOn(server, { connections: { min: 1, max: 2 }, readRetries: 2 });
    try {
      const session = await newSession(adapter);
      const read = (): Promise<unknown> => adapter.getById(sessions, String(session.id));

      server.faults.failNext(2, 503);
      const recovered = await traffic(server, read);
      expect(recovered.result).to.include({ id: session.id });
      expect(recovered.traffic.requests, '1 + 2 retries').to.equal(3);

      server.faults.failNext(1, 504);
      server.faults.htmlNext(1, 502);
      expect((await traffic(server, read)).traffic.requests).to.equal(3);

      server.faults.failNext(3, 503);
      server.stats.reset();
      const exhausted = await rejection(read(), 'DB_UNAVAILABLE');
      expect(server.stats.requests, 'at most readRetries retries').to.equal(3);
      expect(exhausted.details).to.deep.include({ status: 503, postgrest_code: 'PGRST001' });

      server.faults.failNext(1, 500);
      server.stats.reset();
      await rejection(read(), 'DB_UNAVAILABLE');
      expect(server.stats.requests).to.equal(1);

      // With readRetries 0 nothing is retried.
      const strict = await adapterOn(server, { connections: { min: 1, max: 1 }, readRetries: 0 });
      try {
        server.faults.failNext(1, 503);
        server.stats.reset();
        await rejection(strict.adapter.getById(sessions, String(session.id)), 'DB_UNAVAILABLE');
        expect(server.stats.requests).to.equal(1);
      } finally {
        await strict.cleanup();
      }
    } finally {
      await cleanup();
    }
  });

  it('5xx and resets on writes are never retried; nothing is written twice', async () => {
    const { adapter, cleanup } = await adapterOn(server, { connections: { min: 1, max: 2 }, readRetries: 2 });
    try {
      const email = `w-${randomUUID()}@faults.test`;
      server.faults.failNext(1, 503);
      server.stats.reset();
      await rejection(adapter.insertOne(users, { email, display_name: 'x' }), 'DB_UNAVAILABLE');
      expect(server.stats.requests).to.equal(1);

      server.faults.resetNext(1, 'mid-response');
      server.stats.reset();
      const reset = await rejection(adapter.insertOne(users, { email, display_name: 'x' }), 'DB_UNAVAILABLE');
      expect(server.stats.requests).to.equal(1);
      expect(reset.details).to.deep.include({ outcome_unknown: true });
      expect(reset.message).to.match(/may or may not have been applied/);
      expect(await storedRows(server, 'users', 'email = $1', [email])).to.have.length(0);

      // The next write goes out on a healthy socket and succeeds, once.
      await adapter.insertOne(users, { email, display_name: 'x' });
      expect(await storedRows(server, 'users', 'email = $1', [email])).to.have.length(1);
    } finally {
      await cleanup();
    }
  });

  it('resets on reads (before and in the middle of the answer) are retried on a new socket', async () => {
    const { adapter, cleanup } = await adapterOn(server, { connections: { min: 1, max: 1 }, readRetries: 2 });
    try {
      const session = await newSession(adapter);
      for (const phase of ['before-response', 'mid-response'] as const) {
        server.faults.resetNext(1, phase);
        const { result, traffic: seen } = await traffic(server, () =>
          adapter.getById(sessions, String(session.id)),
        );
        expect(result, phase).to.include({ id: session.id });
        // The reset request, then a new connection: its probe and the retried read.
        expect(seen.requests, phase).to.equal(3);
        expect(seen.connections, phase).to.equal(1);
      }
    } finally {
      await cleanup();
    }
  });

  it('an HTML error page is DB_BAD_GATEWAY and its body never reaches the message', async () => {
    const { adapter, cleanup } = await adapterOn(server, { connections: { min: 1, max: 1 }, readRetries: 1 });
    try {
      server.faults.htmlNext(2, 502);
      const error = await rejection(adapter.count(users, []), 'DB_BAD_GATEWAY');
      expect(error.message).to.not.match(/<html|test-proxy|Bad Gateway<\//i);
      expect(JSON.stringify(error.details)).to.not.match(/<html/i);
      // On a write, a gateway error leaves the outcome open (the proxy may have forwarded it).
      server.faults.htmlNext(1, 502);
      const write = await rejection(
        adapter.insertOne(users, { email: `g-${randomUUID()}@x.test`, display_name: 'x' }),
        'DB_BAD_GATEWAY',
      );
      expect(write.details).to.deep.include({ status: 502, outcome_unknown: true });
      expect(write.message).to.match(/may or may not have been applied/);
      server.faults.htmlNext(1, 413);
      const big = await rejection(
        adapter.insertOne(users, { email: `h-${randomUUID()}@x.test`, display_name: 'x' }),
        'PAYLOAD_TOO_LARGE',
      );
      expect(big.message).to.not.match(/<html/i);
    } finally {
      await cleanup();
    }
  });

  it('missing tables and a rejected key fail start-up with a message that says what to do', async () => {
    const missing = await adapterOn(server, { start: false, probeTable: 'no_such_table' });
    try {
      const error = await rejection(missing.adapter.start(), 'DB_UNAVAILABLE');
      expect(error.message).to.match(/does not exist in the Supabase database/);
      expect(error.message).to.match(/migrations\/postgres/);
    } finally {
      await missing.cleanup();
    }
    const wrongKey = 'not-the-right-key-0123456789';
    const rejected = await adapterOn(server, { start: false, key: wrongKey });
    try {
      const error = await rejection(rejected.adapter.start(), 'DB_UNAVAILABLE');
      expect(error.message).to.match(/rejected the service's API key \(HTTP 401\): check SUPABASE_KEY/);
      expect(error.message).to.not.include(wrongKey);
    } finally {
      await rejected.cleanup();
    }
  });

  it('a table dropped after start-up (schema out of date) is DB_UNAVAILABLE naming the migrations', async () => {
    const { adapter, cleanup } = await adapterOn(server, { connections: { min: 1, max: 1 } });
    try {
      const table = { ...TABLES.plots, name: 'plots_missing' } as unknown as typeof TABLES.plots;
      const error = await rejection(adapter.getById(table, randomUUID()), 'DB_UNAVAILABLE');
      expect(error.message).to.match(/plots_missing does not exist .*migrations\/postgres/);
      expect(error.details).to.deep.include({ postgrest_code: '42P01', status: 404 });
    } finally {
      await cleanup();
    }
  });
});
