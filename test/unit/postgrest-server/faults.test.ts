import { expect } from 'chai';
import { Agent, fetch as undiciFetch, request } from 'undici';
import type { RequestInit as UndiciRequestInit } from 'undici';

import type { PostgrestTestServer } from '../../support/postgrest/index.js';
import { backendName, client, newTag, seedItems, startServer, TEST_KEY } from './helpers.js';

/** supabase-js's fetch routed through one undici Agent, so sockets are observable per test. */
function fetchVia(agent: Agent): typeof fetch {
  const viaAgent = (input: string | URL | Request, init?: RequestInit): Promise<Response> =>
    undiciFetch(input instanceof Request ? input.url : input, {
      ...(init as UndiciRequestInit | undefined),
      dispatcher: agent,
    }) as unknown as Promise<Response>;
  return viaAgent as typeof fetch;
}

/** The error code (or message) a failed undici request rejects with. */
async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    const err = error as { code?: unknown; cause?: { code?: string }; name?: string; message?: string };
    // DOMExceptions (aborts, timeouts) carry a numeric legacy `code`: use their name instead.
    if (typeof err.code === 'string') return err.code;
    return err.cause?.code ?? err.name ?? String(err.message);
  }
  expect.fail('expected the request to fail');
}

describe(`PostgREST test server: sockets and faults (${backendName()})`, function () {
  this.timeout(60_000);
  let server: PostgrestTestServer;
  let agent: Agent;
  let tag: string;

  const get = (
    path = `/items?select=slug&tag=eq.${tag}`,
    opts: { reset?: boolean; signal?: AbortSignal } = {},
  ) =>
    request(`${server.restUrl}${path}`, {
      dispatcher: agent,
      headers: { apikey: TEST_KEY },
      ...(opts.reset === undefined ? {} : { reset: opts.reset }),
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    });

  before(async () => {
    server = await startServer();
    tag = newTag();
    await seedItems(server, tag, [{ slug: `${tag}-1` }]);
  });
  beforeEach(() => {
    agent = new Agent({ keepAliveTimeout: 30_000, connections: 1 });
    server.stats.reset();
  });
  afterEach(async () => {
    await server.faults.clear();
    await agent.destroy();
  });
  after(async () => {
    await server?.stop();
  });

  describe('stats', () => {
    it('counts one TCP connection for sequential requests over a kept-alive socket', async () => {
      for (let i = 0; i < 5; i += 1) {
        const response = await get();
        expect(response.statusCode).to.equal(200);
        await response.body.text();
      }
      expect(server.stats.connections).to.equal(1);
      expect(server.stats.openSockets).to.equal(1);
      expect(server.stats.requests).to.equal(5);
      expect(server.stats.requestsByMethod).to.deep.equal({ GET: 5 });
    });

    it('counts one connection per request when the client does not keep sockets alive', async () => {
      for (let i = 0; i < 3; i += 1) await (await get(undefined, { reset: true })).body.text();
      expect(server.stats.connections).to.equal(3);
    });

    it('sees supabase-js reuse its socket across queries and writes', async () => {
      const pooled = client(server, { fetch: fetchVia(agent) });
      for (let i = 0; i < 3; i += 1) {
        const { error } = await pooled.from('items').select('slug').eq('tag', tag);
        expect(error).to.equal(null);
      }
      const insert = await pooled.from('items').insert({ tag, slug: `${tag}-pooled`, name: 'p' });
      expect(insert.error).to.equal(null);
      expect(server.stats.connections).to.equal(1);
      expect(server.stats.requestsByMethod).to.deep.equal({ GET: 3, POST: 1 });
      const recorded = server.stats.recentRequests.at(-1)!;
      expect(recorded.method).to.equal('POST');
      expect(recorded.outcome).to.equal(201);
      expect(recorded.headers['apikey']).to.equal('***');
      expect(recorded.headers['prefer']).to.equal(undefined);
    });
  });

  describe('faults', () => {
    it('latencyMs delays every answer until cleared', async () => {
      server.faults.latencyMs = 400;
      const started = Date.now();
      await (await get()).body.text();
      expect(Date.now() - started).to.be.at.least(380);
      expect(server.stats.faultsInjected.latency).to.equal(1);
      server.faults.latencyMs = 0;
      await (await get()).body.text();
      expect(server.stats.faultsInjected.latency).to.equal(1);
    });

    it('failNext(n, status) answers n requests with a PostgREST-shaped 5xx, then recovers', async () => {
      server.faults.failNext(2, 500);
      expect(server.faults.armed.fail).to.equal(2);
      for (let i = 0; i < 2; i += 1) {
        const response = await get();
        expect(response.statusCode).to.equal(500);
        expect(response.headers['content-type']).to.equal('application/json; charset=utf-8');
        expect(await response.body.json()).to.deep.include({ code: 'XX000', hint: null });
      }
      expect((await get()).statusCode).to.equal(200);
      expect(server.faults.armed.fail).to.equal(0);
      expect(server.stats.faultsInjected.fail).to.equal(2);
    });

    it('a 503 reaches supabase-js as PGRST001 with retries off, and is retried (X-Retry-Count) with them on', async () => {
      const db = client(server);
      server.faults.failNext(1, 503);
      const once = await db.from('items').select('slug').eq('tag', tag).retry(false);
      expect(once.status).to.equal(503);
      expect(once.error?.code).to.equal('PGRST001');

      server.stats.reset();
      server.faults.failNext(1, 503);
      const retried = await db.from('items').select('slug').eq('tag', tag);
      expect(retried.error).to.equal(null);
      expect(server.stats.requests).to.equal(2);
      expect(server.stats.recentRequests[1]!.headers['x-retry-count']).to.equal('1');
    });

    it('resetNext(n) destroys the socket before answering', async () => {
      server.faults.resetNext(1);
      expect(await failure(get())).to.match(/ECONNRESET|UND_ERR_SOCKET/);
      expect((await get()).statusCode).to.equal(200);
      expect(server.stats.faultsInjected.reset).to.equal(1);

      server.faults.resetNext(1);
      const db = client(server);
      const { error, status, data } = await db.from('items').insert({ tag, slug: `${tag}-reset`, name: 'x' });
      expect(status).to.equal(0);
      expect(data).to.equal(null);
      expect(error?.message).to.match(/fetch failed/);
    });

    it("resetNext(n, 'mid-response') sends headers and part of a body, then resets", async () => {
      server.faults.resetNext(1, 'mid-response');
      const response = await get();
      expect(response.statusCode).to.equal(200);
      expect(await failure(response.body.text())).to.match(
        /ECONNRESET|UND_ERR_SOCKET|AbortError|terminated/i,
      );
      expect(server.stats.recentRequests.at(-1)!.outcome).to.equal('reset');
    });

    it('htmlNext(n) answers a proxy-style HTML 502 that supabase-js cannot parse as JSON', async () => {
      server.faults.htmlNext(1);
      const db = client(server);
      const { status, error } = await db.from('items').insert({ tag, slug: `${tag}-html`, name: 'x' });
      expect(status).to.equal(502);
      expect(error?.message).to.contain('<title>502 Bad Gateway</title>');
      expect(server.stats.faultsInjected.html).to.equal(1);
      const { rows } = await server.executor.query('SELECT 1 FROM items WHERE slug = $1', [`${tag}-html`]);
      expect(rows).to.have.length(0);
    });

    it('blackHole accepts requests and never answers, until cleared', async () => {
      server.faults.blackHole = true;
      const code = await failure(get(undefined, { signal: AbortSignal.timeout(300) }));
      expect(code).to.match(/Abort|Timeout/i);
      expect(server.stats.faultsInjected.blackHole).to.equal(1);
      expect(server.stats.recentRequests.at(-1)!.outcome).to.equal('black-hole');
      await server.faults.clear();
      expect(server.faults.blackHole).to.equal(false);
      expect((await get()).statusCode).to.equal(200);
    });

    it("refuseConnections('close') stops listening (ECONNREFUSED) and acceptConnections() listens again on the same port", async () => {
      await (await get()).body.text();
      // Other clients of earlier tests may still hold kept-alive sockets too.
      expect(server.stats.openSockets).to.be.at.least(1);
      await server.faults.refuseConnections('close');
      expect(server.faults.refusing).to.equal('close');
      expect(server.stats.openSockets).to.equal(0);
      // The kept-alive socket was destroyed; a new connection is refused.
      expect(await failure(get())).to.match(/UND_ERR_SOCKET|ECONNRESET|ECONNREFUSED/);
      const fresh = new Agent();
      try {
        expect(await failure(request(`${server.restUrl}/items`, { dispatcher: fresh }))).to.equal(
          'ECONNREFUSED',
        );
      } finally {
        await fresh.destroy();
      }
      await server.faults.acceptConnections();
      expect((await get()).statusCode).to.equal(200);
    });

    it("refuseConnections('reset') accepts and resets every new connection", async () => {
      await server.faults.refuseConnections('reset');
      expect(await failure(get())).to.match(/ECONNRESET|UND_ERR_SOCKET/);
      expect(server.stats.faultsInjected.refused).to.be.at.least(1);
      expect(server.stats.requests).to.equal(0);
      await server.faults.acceptConnections();
      expect((await get()).statusCode).to.equal(200);
    });

    it('clear() disarms everything at once; bad arguments are refused', async () => {
      server.faults.latencyMs = 5000;
      server.faults.failNext(3, 502);
      server.faults.resetNext(3);
      server.faults.htmlNext(3);
      await server.faults.clear();
      expect(server.faults.armed).to.deep.equal({ fail: 0, reset: 0, html: 0 });
      expect(server.faults.latencyMs).to.equal(0);
      expect((await get()).statusCode).to.equal(200);
      expect(() => server.faults.failNext(1, 200)).to.throw(RangeError);
      expect(() => server.faults.resetNext(-1)).to.throw(RangeError);
      expect(() => {
        server.faults.latencyMs = -5;
      }).to.throw(RangeError);
    });
  });
});
