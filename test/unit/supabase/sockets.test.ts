/**
 * Socket-level truth: the pool's numbers are the sockets the server sees. The test server counts
 * every TCP connection it accepts and the sockets open right now; the pool counts hits and misses.
 */
import { expect } from 'chai';

import { TABLES } from '../../../src/schema/tables.js';
import { databaseBackend } from '../../contract/supabase-fixture.js';
import type { PostgrestTestServer } from '../../support/postgrest/index.js';
import { adapterOn, eventually, newSession, ownServer, traffic } from './helpers.js';

const { users, plots } = TABLES;

describe(`Supabase adapter: sockets (${databaseBackend()})`, function () {
  this.timeout(60_000);
  let server: PostgrestTestServer;

  beforeEach(async () => {
    server = await ownServer();
  });
  afterEach(async () => {
    await server.faults.clear();
    await server.stop();
  });

  it('warm-up opens exactly min sockets; 50 sequential requests afterwards open none', async () => {
    server.stats.reset();
    const { adapter, cleanup } = await adapterOn(server, { connections: { min: 2, max: 4 } });
    try {
      // Each warm-up connection is one socket, opened by its probe.
      expect(server.stats.connections).to.equal(2);
      expect(server.stats.requests).to.equal(2);
      expect(server.stats.openSockets).to.equal(2);
      const warm = adapter.pool.stats();
      expect(warm).to.include({ total: 2, idle: 2, hits: 0, misses: 0 });

      const session = await newSession(adapter);
      const { traffic: seen } = await traffic(server, async () => {
        for (let i = 0; i < 50; i++) {
          const row = await adapter.getById(plots, String(session.id));
          expect(row).to.equal(null);
          await adapter.getById(TABLES.sessions, String(session.id));
        }
      });
      expect(seen.connections, 'new TCP connections during 100 sequential requests').to.equal(0);
      expect(seen.requests).to.equal(100);
      const after = adapter.pool.stats();
      expect(after.misses).to.equal(0);
      expect(after.hits).to.equal(102); // 2 inserts + 100 reads
      expect(after.created).to.equal(2);
      console.log(
        `      sockets: warm-up ${warm.total}, then ${seen.requests} sequential requests → ` +
          `${seen.connections} new sockets, pool hits ${after.hits}, misses ${after.misses}`,
      );
    } finally {
      await cleanup();
    }
    // Stopping the adapter closes its sockets.
    expect(await eventually(() => server.stats.openSockets === 0)).to.equal(true);
  });

  it('concurrency above the pool size waits in the pool; open sockets never exceed max', async () => {
    const { adapter, cleanup } = await adapterOn(server, { connections: { min: 1, max: 3 } });
    try {
      const session = await newSession(adapter);
      server.faults.latencyMs = 40;
      server.stats.reset();
      let maxOpen = 0;
      let maxPending = 0;
      let maxUsed = 0;
      const sampler = setInterval(() => {
        maxOpen = Math.max(maxOpen, server.stats.openSockets);
        const snapshot = adapter.pool.snapshot();
        maxPending = Math.max(maxPending, snapshot.pending);
        maxUsed = Math.max(maxUsed, snapshot.used);
      }, 2);
      const before = adapter.pool.stats();
      let rows: unknown[];
      try {
        rows = await Promise.all(
          Array.from({ length: 15 }, () => adapter.getById(TABLES.sessions, String(session.id))),
        );
      } finally {
        clearInterval(sampler);
      }
      maxOpen = Math.max(maxOpen, server.stats.openSockets);
      expect(rows.every((r) => (r as { id?: unknown } | null)?.id === session.id)).to.equal(true);
      expect(maxOpen, 'open sockets').to.be.at.most(3);
      expect(maxUsed, 'connections in use').to.equal(3);
      expect(maxPending, 'callers waiting in the pool').to.be.above(0);
      // One socket was warm; the pool opened two more and served everything else from them.
      expect(server.stats.connections).to.equal(2);
      const after = adapter.pool.stats();
      expect(after.misses - before.misses).to.equal(2);
      expect(after.hits - before.hits).to.equal(13);
      console.log(
        `      15 concurrent reads on a 1–3 pool: max open sockets ${maxOpen}, new sockets ${server.stats.connections}, ` +
          `max waiting ${maxPending}, requests ${server.stats.requests}`,
      );
    } finally {
      await cleanup();
    }
  });

  it('a socket closed while idle (keep-alive timeout) is replaced by the pool (a miss), not reopened behind its back', async () => {
    await server.stop();
    // `Keep-Alive: timeout=3`: undici closes the idle socket 2 s before that, after ~1 s.
    server = await ownServer({ keepAliveTimeoutMs: 3_500 });
    const { adapter, cleanup } = await adapterOn(server, { connections: { min: 1, max: 1 } });
    try {
      const session = await newSession(adapter);
      const first = await adapter.pool.withConnection(async (connection) => connection);
      expect(await eventually(() => first.isBroken, 5_000), 'the closed socket is noticed').to.equal(true);
      expect(first.brokenReason).to.match(/socket closed/);
      server.stats.reset();
      const before = adapter.pool.stats();
      expect(await adapter.getById(TABLES.sessions, String(session.id))).to.include({ id: session.id });
      const after = adapter.pool.stats();
      expect(after.closedByReason.error - before.closedByReason.error, 'the broken one was closed').to.equal(
        1,
      );
      // Served by a new connection: opened for this acquire (a miss) or by the pool's refill just
      // before it (then lent as a hit), depending on who wins the race; never by the old one.
      expect(after.created - before.created, 'connections opened').to.equal(1);
      expect(after.hits + after.misses - before.hits - before.misses).to.equal(1);
      // The new connection's own socket: its probe and the read. Nothing was reused silently.
      expect(server.stats.connections).to.equal(1);
      expect(server.stats.requests).to.equal(2);
      await adapter.pool.withConnection(async (connection) => {
        expect(connection).to.not.equal(first);
        expect(connection.socketsOpened).to.equal(1);
      });
    } finally {
      await cleanup();
    }
  });

  it('each write is one request on a pooled socket (insert, update, delete)', async () => {
    const { adapter, cleanup } = await adapterOn(server, { connections: { min: 1, max: 2 } });
    try {
      const { result: user, traffic: insert } = await traffic(server, () =>
        adapter.insertOne(users, { email: `s-${Date.now()}@sockets.test`, display_name: 'S' }),
      );
      expect(insert).to.deep.include({ connections: 0, requests: 1 });
      const { traffic: update } = await traffic(server, () =>
        adapter.updateOne(users, String(user.id), { display_name: 'T' }),
      );
      expect(update).to.deep.include({ connections: 0, requests: 1 });
      const { result: deleted, traffic: del } = await traffic(server, () =>
        adapter.deleteOne(users, String(user.id)),
      );
      expect(deleted).to.equal(true);
      expect(del).to.deep.include({ connections: 0, requests: 1 });
    } finally {
      await cleanup();
    }
  });
});
