/**
 * Supabase faults at the service level (issue 7): the real service in DATABASE_MODE=supabase,
 * talking to the PostgREST test server through an in-process TCP proxy (test/support/tcp-proxy.ts)
 * whose mode each test switches: refused connections, a black hole, a reset in the middle of an
 * answer, upstream 5xx/PostgREST errors carrying a canary, HTML and a 50 MB answer, and the
 * circuit breaker (open → fail fast → half-open probe → closed). Every verdict is the HTTP status
 * and error code seen through the API; `/health/live` answers throughout.
 */
import { performance } from 'node:perf_hooks';
import { expect } from 'chai';
import type { Row } from '../../src/adapters/contract.js';
import { TEST_SUPABASE_KEY, startMigratedServer } from '../contract/supabase-fixture.js';
import type { PostgrestTestServer } from '../support/postgrest/index.js';
import { startTestService, type TestResponse, type TestService } from '../support/service.js';
import { hugeJsonAnswer, TcpProxy } from '../support/tcp-proxy.js';

const CANARY = 'CANARY-7d1f-upstream-secret-row-value';
const REQUEST_TIMEOUT_MS = 2_000;
const COOLDOWN_MS = 1_000;

interface ApiErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

function errorCode(res: TestResponse): string | undefined {
  return (res.body as ApiErrorBody | undefined)?.error?.code;
}

/** Polls `check` every 20 ms until it holds or `ms` passed; returns whether it held. */
async function eventually(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return check();
}

async function timed(fn: () => Promise<TestResponse>): Promise<{ res: TestResponse; ms: number }> {
  const started = performance.now();
  const res = await fn();
  return { res, ms: performance.now() - started };
}

describe('Supabase faults through a TCP proxy (service level)', function () {
  this.timeout(60_000);
  let postgrest: PostgrestTestServer;
  let proxy: TcpProxy;
  let service: TestService;
  const services: TestService[] = [];
  let user: Row;

  async function startService(env: Record<string, string>): Promise<TestService> {
    const s = await startTestService({
      env: {
        DATABASE_MODE: 'supabase',
        SUPABASE_URL: proxy.url,
        SUPABASE_KEY: TEST_SUPABASE_KEY,
        SUPABASE_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        DB_POOL_CONNECTION_TIMEOUT: '3',
        RATE_LIMIT_WRITES_PER_MINUTE: '0',
        ...env,
      },
    });
    services.push(s);
    return s;
  }

  before(async function () {
    postgrest = await startMigratedServer({ keepAliveTimeoutMs: 65_000 });
    proxy = await TcpProxy.start(postgrest.url);
    service = await startService({
      SUPABASE_CIRCUIT_FAILURE_THRESHOLD: '5',
      SUPABASE_CIRCUIT_WINDOW_MS: '10000',
      SUPABASE_CIRCUIT_COOLDOWN_MS: String(COOLDOWN_MS),
    });
    const res = await service.request('POST', '/api/users', { email: 'fault@example.test', display_name: 'Fault' });
    expect(res.status, res.text).to.equal(201);
    user = res.body as Row;
  });

  afterEach(async function () {
    postgrest?.faults.clear();
    await proxy?.pass();
    await recovered(service);
  });

  /** Waits (bounded) until `s` serves a read again: an open circuit lets a probe through after the cool-down. */
  async function recovered(s: TestService | undefined): Promise<void> {
    if (s === undefined || user === undefined) return;
    const ok = await eventually(
      async () => (await s.request('GET', `/api/users/${String(user.id)}`)).status === 200,
      COOLDOWN_MS * 4,
    );
    expect(ok, 'the service recovers once the proxy forwards again').to.equal(true);
  }

  after(async function () {
    for (const s of services) await s.stop().catch(() => undefined);
    await proxy?.stop();
    await postgrest?.stop();
  });

  async function live(): Promise<void> {
    expect((await service.request('GET', '/health/live')).status).to.equal(200);
  }

  describe('upstream errors are mapped without leaking upstream text', function () {
    const cases: ReadonlyArray<{ status: number; code: string; expect: [number, string] }> = [
      { status: 500, code: 'XX000', expect: [503, 'DB_UNAVAILABLE'] },
      { status: 503, code: 'PGRST001', expect: [503, 'DB_UNAVAILABLE'] },
      { status: 504, code: 'PGRST003', expect: [504, 'DB_TIMEOUT'] },
      { status: 500, code: '53100', expect: [507, 'DB_FULL'] },
    ];
    for (const c of cases) {
      it(`HTTP ${c.status} ${c.code} on a write → ${c.expect[0]} ${c.expect[1]}, canary absent`, async function () {
        const logsBefore = service.logs.length;
        postgrest.faults.failNext(1, c.status, { code: c.code, message: CANARY, details: CANARY, hint: CANARY });
        const res = await service.request('PATCH', `/api/users/${String(user.id)}`, { display_name: 'X' });
        expect(errorCode(res), res.text).to.equal(c.expect[1]);
        if (c.expect[1] !== 'DB_FULL') expect(res.status).to.equal(c.expect[0]);
        expect(res.text).not.to.include(CANARY);
        expect(JSON.stringify(service.logs.slice(logsBefore))).not.to.include(CANARY);
        await live();
      });
    }

    it("a real 23505 quoting the row's value (PostgreSQL's details) → 409, value absent", async function () {
      const email = `${CANARY.toLowerCase()}@example.test`;
      const body = { email, display_name: 'Dup' };
      expect((await service.request('POST', '/api/users', body)).status).to.equal(201);
      const logsBefore = service.logs.length;
      const res = await service.request('POST', '/api/users', body);
      expect(res.status, res.text).to.equal(409);
      expect(res.text).not.to.include(CANARY.toLowerCase());
      expect(JSON.stringify(service.logs.slice(logsBefore))).not.to.include(CANARY.toLowerCase());
    });
  });

  describe('unusable bodies', function () {
    it('HTML error pages → 502 DB_BAD_GATEWAY (reads retried first)', async function () {
      postgrest.faults.htmlNext(3, 502);
      const res = await service.request('GET', `/api/users/${String(user.id)}`);
      expect(res.status, res.text).to.equal(502);
      expect(errorCode(res)).to.equal('DB_BAD_GATEWAY');
      expect(res.text).not.to.match(/<html/i);
    });

    it('a 50 MB answer → 502 DB_BAD_GATEWAY without being read whole', async function () {
      const total = 50 * 1024 * 1024;
      const huge = hugeJsonAnswer(total);
      proxy.respond(huge.writer);
      const heapBefore = process.memoryUsage().arrayBuffers;
      const { res, ms } = await timed(() => service.request('GET', `/api/users/${String(user.id)}`));
      const heapAfter = process.memoryUsage().arrayBuffers;
      expect(res.status, res.text).to.equal(502);
      expect(errorCode(res)).to.equal('DB_BAD_GATEWAY');
      // The adapter stops at 16 MiB; socket buffers add a little. It never took the whole 50 MB.
      expect(huge.sent(), `bytes the proxy got out before the client left`).to.be.lessThan(24 * 1024 * 1024);
      console.log(
        `      50 MB answer: ${(huge.sent() / 1048576).toFixed(1)} MiB sent before the adapter gave up (${ms.toFixed(0)} ms); ` +
          `arrayBuffers +${((heapAfter - heapBefore) / 1048576).toFixed(1)} MiB`,
      );
      await live();
    });
  });

  describe('a reset in the middle of an answer', function () {
    it('a read is retried on a fresh connection: 200 with the whole body', async function () {
      proxy.resetAfter(10, { fromBody: true, times: 1 });
      const res = await service.request('GET', `/api/users/${String(user.id)}`);
      expect(res.status, res.text).to.equal(200);
      expect(res.body).to.deep.equal(user);
    });

    it('a read reset on every attempt → 503, never a 200 with a partial body', async function () {
      proxy.resetAfter(10, { fromBody: true, times: 3 });
      const res = await service.request('GET', `/api/users/${String(user.id)}`);
      expect(res.status, res.text).to.equal(503);
      expect(errorCode(res)).to.equal('DB_UNAVAILABLE');
    });

    it('a write is not retried nor duplicated: 503 outcome unknown, one row stored', async function () {
      const email = `reset-${Date.now()}@example.test`;
      proxy.resetAfter(10, { fromBody: true, times: 1 });
      const res = await service.request('POST', '/api/users', { email, display_name: 'Reset' });
      expect(res.status, res.text).to.equal(503);
      expect(errorCode(res)).to.equal('DB_UNAVAILABLE');
      expect((res.body as ApiErrorBody).error.details?.outcome_unknown).to.equal(true);
      const stored = await postgrest.executor.query('SELECT count(*)::int AS n FROM users WHERE email = $1', [email]);
      expect((stored.rows[0] as { n: number }).n, 'rows stored for the reset write').to.equal(1);
    });
  });

  describe('a black hole', function () {
    it(`504 DB_TIMEOUT at SUPABASE_REQUEST_TIMEOUT_MS (${REQUEST_TIMEOUT_MS} ms), and no socket outlives it`, async function () {
      proxy.blackHole();
      const livePromise = service.request('GET', '/health/live');
      const { res, ms } = await timed(() => service.request('GET', `/api/users/${String(user.id)}`));
      expect((await livePromise).status).to.equal(200);
      expect(res.status, res.text).to.equal(504);
      expect(errorCode(res)).to.equal('DB_TIMEOUT');
      expect(ms).to.be.within(REQUEST_TIMEOUT_MS - 20, REQUEST_TIMEOUT_MS + 1_000);
      await live();
      await proxy.pass();
      // The pool's refills timed out in the black hole too (and may have opened the circuit).
      await recovered(service);
      const pool = service.container.adapter.pools()[0]!;
      const settled = await eventually(() => {
        const snap = pool.snapshot();
        return proxy.openSockets === snap.idle + snap.used;
      }, 5_000);
      const snap = pool.snapshot();
      console.log(
        `      black hole: answered in ${ms.toFixed(0)} ms; afterwards proxy sockets ${proxy.openSockets}, pool idle ${snap.idle} used ${snap.used}`,
      );
      expect(settled, `proxy sockets ${proxy.openSockets} vs pool idle ${snap.idle} + used ${snap.used}`).to.equal(true);
      expect(snap.used).to.equal(0);
    });
  });

  describe('refused connections and the circuit breaker', function () {
    async function circuitOf(s: TestService): Promise<Record<string, unknown>> {
      const res = await s.request('GET', '/metrics/database/health');
      const pools = (res.body as { pools: Array<Record<string, unknown>> }).pools;
      return pools.find((p) => p.pool === 'supabase')!;
    }

    it('opens after repeated connect failures, fails fast while open, closes on recovery', async function () {
      expect((await circuitOf(service)).circuit).to.equal('closed');
      await proxy.refuse('unlisten');
      // Until the circuit opens, a caller waits while the pool's connects fail (every ≤ 200 ms).
      const first = await timed(() => service.request('GET', `/api/users/${String(user.id)}`));
      expect(first.res.status, first.res.text).to.equal(503);
      expect(errorCode(first.res)).to.equal('DB_UNAVAILABLE');
      const open = await circuitOf(service);
      expect(open.circuit).to.equal('open');
      expect(open.circuit_opened_at).to.be.a('string');
      expect(open.circuit_consecutive_failures).to.be.at.least(5);

      const acceptedBefore = proxy.accepted;
      const fast: number[] = [];
      for (let i = 0; i < 10; i++) {
        const { res, ms } = await timed(() => service.request('GET', `/api/users/${String(user.id)}`));
        expect(res.status).to.equal(503);
        expect(errorCode(res)).to.equal('DB_UNAVAILABLE');
        expect(Number(res.headers.get('retry-after'))).to.be.at.least(1);
        fast.push(ms);
      }
      await live();
      expect(proxy.accepted, 'no connection attempted while open').to.equal(acceptedBefore);
      fast.sort((a, b) => a - b);
      const median = fast[Math.floor(fast.length / 2)]!;
      console.log(
        `      refused: first request ${first.ms.toFixed(0)} ms (until the circuit opened); while open median ${median.toFixed(1)} ms, max ${fast.at(-1)!.toFixed(1)} ms`,
      );
      expect(median).to.be.lessThan(50);

      // Recovery: after the cool-down one probe goes through and closes the circuit.
      await proxy.pass();
      await new Promise((resolve) => setTimeout(resolve, COOLDOWN_MS + 50));
      const recovered = await service.request('GET', `/api/users/${String(user.id)}`);
      expect(recovered.status, recovered.text).to.equal(200);
      const closed = await circuitOf(service);
      expect(closed.circuit).to.equal('closed');
      expect(closed.circuit_consecutive_failures).to.equal(0);
    });

    it('without the breaker every request waits for the pool acquire timeout', async function () {
      const noBreaker = await startService({ SUPABASE_CIRCUIT_FAILURE_THRESHOLD: '0', DB_POOL_CONNECTION_TIMEOUT: '1' });
      expect((await circuitOf(noBreaker)).circuit).to.equal(undefined);
      await proxy.refuse('unlisten');
      const { res, ms } = await timed(() => noBreaker.request('GET', `/api/users/${String(user.id)}`));
      expect(res.status, res.text).to.equal(503);
      expect(errorCode(res)).to.equal('DB_UNAVAILABLE');
      console.log(`      refused without a breaker: ${ms.toFixed(0)} ms per request (DB_POOL_CONNECTION_TIMEOUT=1 s)`);
      expect(ms).to.be.at.least(900);
    });
  });
});
