/**
 * Graceful shutdown of the real process (`node dist/src/main.js`):
 *
 * - under write load: SIGTERM while batch creates are in flight. Readiness answers 503 at once,
 *   in-flight requests complete (answered with `Connection: close`), new requests on kept-alive
 *   connections get 503 SHUTTING_DOWN with `Connection: close`, new connections are refused, the
 *   process exits 0 within the grace period, every write answered 2xx is in the database file
 *   afterwards (read with better-sqlite3, read-only) and the WAL is checkpointed away;
 * - when something never finishes: a request still running after the grace period (an upload that
 *   stalls), a leaked pool connection (a test seam loaded with `--require`), an upstream call that
 *   hangs (supabase mode against a black-holed PostgREST test server): forced closed after the grace
 *   period, listed in the log, exit 0;
 * - a second SIGTERM exits at once;
 * - with METRICS_PORT, the metrics listener is served on loopback and closed with the service.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { sharedMigratedServer, startMigratedServer, TEST_SUPABASE_KEY } from '../contract/supabase-fixture.js';
import type { PostgrestTestServer } from '../support/postgrest/index.js';
import { startChildService, type ChildService, type LogLine } from './support/child-service.js';
import { RawConnection } from './support/raw-http.js';

const GRACE_SECONDS = 10;
const WRITERS = 8;
const BATCH = 250;

interface Outcome {
  readonly startedAt: number;
  readonly endedAt: number;
  /** 0 when the request failed at the connection (refused, reset). */
  readonly status: number;
  readonly ids: readonly string[];
  readonly code?: string;
}

/** One HTTP request on a fresh connection (no keep-alive pool): the status, or the socket error code. */
function freshRequest(port: number, pathname: string): Promise<{ status: number; code?: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathname, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ status: 0, code: err.code ?? err.message }));
  });
}

describe('graceful shutdown of the real process', function () {
  this.timeout(60_000);
  let dir: string;
  const children: ChildService[] = [];

  before(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-shutdown-'));
  });

  afterEach(function () {
    for (const c of children.splice(0)) c.kill();
  });

  after(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function start(env: Record<string, string>, preload?: string[]): Promise<ChildService> {
    const child = await startChildService({ env, ...(preload ? { preload } : {}) });
    children.push(child);
    return child;
  }

  const userBody = (tag: string): string => JSON.stringify({ email: `${tag}-${Date.now()}@example.test`, display_name: 'S' });

  /** The -wal file is gone or empty: everything was checkpointed into the database file. */
  function expectWalCheckpointed(dbPath: string): void {
    const wal = `${dbPath}-wal`;
    const size = fs.existsSync(wal) ? fs.statSync(wal).size : 0;
    expect(size, 'bytes left in the -wal file after exit').to.equal(0);
  }

  it('SIGTERM mid-load: ready 503 at once, in-flight writes complete, kept-alive connections get 503 SHUTTING_DOWN + close, exit 0, every 2xx write stored, WAL checkpointed', async function () {
    const dbPath = path.join(dir, 'shutdown.db');
    const svc = await start({ SQLITE_DB_PATH: dbPath, SHUTDOWN_GRACE_PERIOD: String(GRACE_SECONDS) });
    const { logs, port, url } = svc;
    expect((await fetch(`${url}/health/ready`)).status).to.equal(200);

    const post = async (pathname: string, body: unknown): Promise<Record<string, unknown>> => {
      const res = await fetch(`${url}${pathname}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status, pathname).to.equal(201);
      return (await res.json()) as Record<string, unknown>;
    };
    const user = await post('/api/users', { email: `shutdown-${Date.now()}@example.test`, display_name: 'S' });
    const session = await post('/api/sessions', { user_id: user.id, title: 'Shutdown' });

    // A kept-alive connection that has served a request and sits idle.
    const kept = await RawConnection.open(port);
    kept.send('GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n');
    const first = await kept.response();
    expect(first?.status).to.equal(200);
    expect(first?.headers.connection).to.equal('keep-alive');

    // An upload in flight: its headers are in (the request has begun), half its body is not.
    const slowBody = userBody('slow');
    const slow = await RawConnection.open(port);
    slow.send(`POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${slowBody.length}\r\n\r\n${slowBody.slice(0, 10)}`);

    // Writers: batch creates back to back until the service stops answering them with 201.
    const outcomes: Outcome[] = [];
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; ; i++) {
        const items = Array.from({ length: BATCH }, (_, k) => ({ session_id: session.id, title: `w${w} b${i} #${k}` }));
        const startedAt = performance.now();
        try {
          const res = await fetch(`${url}/api/plots/batch`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ items }),
          });
          const body = (await res.json()) as { data?: Array<{ id: string }>; error?: { code: string } };
          outcomes.push({
            startedAt,
            endedAt: performance.now(),
            status: res.status,
            ids: res.status === 201 ? body.data!.map((r) => r.id) : [],
            ...(body.error ? { code: body.error.code } : {}),
          });
          if (res.status !== 201) return;
        } catch (err) {
          const cause = (err as { cause?: { code?: string; message?: string } }).cause;
          outcomes.push({ startedAt, endedAt: performance.now(), status: 0, ids: [], code: cause?.code ?? cause?.message ?? String(err) });
          return;
        }
      }
    };
    const load = Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
    while (outcomes.length < WRITERS) await new Promise((r) => setTimeout(r, 10));

    // A readiness probe whose request has begun but not ended: its connection is not idle, so it
    // survives the listener's close, and the request is answered once we finish it.
    const probe = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => probe.once('connect', () => resolve()));
    probe.write('GET /health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    let probeResponse = '';
    probe.setEncoding('utf8');
    probe.on('data', (chunk: string) => (probeResponse += chunk));
    const probeClosed = new Promise<void>((resolve) => probe.once('close', () => resolve()));

    const sigtermAt = performance.now();
    svc.child.kill('SIGTERM');
    const shuttingDown = await logs.waitFor(/^shutting down/, 5_000);
    probe.end('\r\n');
    await probeClosed;
    expect(probeResponse, 'readiness during shutdown').to.match(/^HTTP\/1\.1 503 /);
    expect(probeResponse).to.include('"SHUTTING_DOWN"');

    // The idle kept-alive connection was not closed under the client: its next request is
    // answered 503 SHUTTING_DOWN with Connection: close, and then the server closes it.
    kept.send('POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
    const refused = await kept.response();
    expect(refused?.status, 'a new request on a kept-alive connection').to.equal(503);
    expect(refused!.headers.connection).to.equal('close');
    expect(refused!.headers['retry-after']).to.equal('1');
    expect((JSON.parse(refused!.body) as { error: { code: string } }).error.code).to.equal('SHUTTING_DOWN');
    await kept.closed;

    // A new connection: refused (the listener is closed).
    const fresh = await freshRequest(port, '/health/ready');
    expect(fresh.code, JSON.stringify(fresh)).to.equal('ECONNREFUSED');

    // The upload that began before SIGTERM completes: 201, with Connection: close.
    slow.send(slowBody.slice(10));
    const slowAnswer = await slow.response();
    expect(slowAnswer?.status, slowAnswer?.body).to.equal(201);
    expect(slowAnswer!.headers.connection).to.equal('close');
    const slowUser = JSON.parse(slowAnswer!.body) as { id: string };

    await load;
    const exit = await svc.waitForExit((GRACE_SECONDS + 5) * 1000);
    expect({ code: exit.code, signal: exit.signal }, svc.stderr()).to.deep.equal({ code: 0, signal: null });
    expect(exit.at - sigtermAt, 'shutdown duration (ms)').to.be.below(GRACE_SECONDS * 1000);
    expect(svc.stderr()).to.equal('');

    // What the requests saw: 201, or refused at the door (503 SHUTTING_DOWN / closed connection).
    expect(Number(shuttingDown.in_flight), 'requests in flight at SIGTERM').to.be.greaterThan(0);
    for (const o of outcomes) {
      expect([201, 503, 0], JSON.stringify(o)).to.include(o.status);
      if (o.status === 503) expect(o.code).to.equal('SHUTTING_DOWN');
    }
    const inFlightAtSigterm = outcomes.filter((o) => o.startedAt < sigtermAt && o.endedAt > sigtermAt && o.status === 201);
    expect(inFlightAtSigterm.length, 'writes in flight at SIGTERM answered 201').to.be.greaterThan(0);
    expect(logs.lines.some((l) => 'forced_requests' in l), 'no request was cut off').to.equal(false);
    expect(logs.lines.map((l) => l.msg)).to.include.members(['database pools stopped', 'stopped']);

    // The WAL was checkpointed into the database file at exit (checked before anything opens it).
    expectWalCheckpointed(dbPath);
    // Every answered write is in the file; nothing half-written (batches are one transaction each).
    const answered = outcomes.flatMap((o) => o.ids);
    expect(answered.length).to.be.greaterThan(0);
    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    try {
      const stored = new Set((db.prepare('SELECT id FROM plots').pluck().all() as string[]));
      const lost = answered.filter((id) => !stored.has(id));
      expect(lost, 'answered 2xx but not stored').to.deep.equal([]);
      expect((stored.size - answered.length) % BATCH, 'rows beyond the answered ones come in whole batches').to.equal(0);
      expect(db.prepare('SELECT count(*) FROM users WHERE id = ?').pluck().get(slowUser.id)).to.equal(1);
      expect(db.pragma('quick_check', { simple: true })).to.equal('ok');
    } finally {
      db.close();
    }
    console.log(
      `      shutdown: ${outcomes.filter((o) => o.status === 201).length} batches answered 201 (${answered.length} rows), ` +
        `${inFlightAtSigterm.length} of them in flight at SIGTERM, ${Number(shuttingDown.in_flight)} requests in flight per the service, ` +
        `exit after ${Math.round(exit.at - sigtermAt)} ms; refused: ${outcomes.filter((o) => o.status !== 201).map((o) => o.code ?? o.status).join(', ')}`,
    );
  });

  it('a request still running after the grace period is cut off, listed in the log (method, path, request id, age), exit 0', async function () {
    const grace = 1;
    const svc = await start({ SQLITE_DB_PATH: path.join(dir, 'stalled.db'), SHUTDOWN_GRACE_PERIOD: String(grace) });
    // An upload that stalls forever after its headers.
    const stalled = await RawConnection.open(svc.port);
    stalled.send('POST /api/users?secret=not-logged HTTP/1.1\r\nHost: x\r\nX-Request-Id: stalled-upload-1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"email":');
    await new Promise((r) => setTimeout(r, 100));
    const sigtermAt = performance.now();
    svc.child.kill('SIGTERM');
    const exit = await svc.waitForExit((grace + 5) * 1000);
    const took = exit.at - sigtermAt;
    expect({ code: exit.code, signal: exit.signal }, svc.stderr()).to.deep.equal({ code: 0, signal: null });
    expect(took, 'exit after the grace period, not long after').to.be.within(grace * 1000 - 100, grace * 1000 + 1500);
    const forced = svc.logs.matching(/still running after the 1 s grace period/);
    expect(forced, JSON.stringify(svc.logs.lines)).to.have.length(1);
    expect(forced[0]!.level).to.equal(40);
    expect(forced[0]!.forced_requests).to.equal(1);
    const [request] = forced[0]!.requests as Array<Record<string, unknown>>;
    expect(request).to.include({ method: 'POST', path: '/api/users', request_id: 'stalled-upload-1' });
    expect(request!.age_ms).to.be.at.least(grace * 1000);
    expect(JSON.stringify(svc.logs.lines)).not.to.include('not-logged');
    await stalled.closed; // cut off
    expect(svc.logs.lines.map((l) => l.msg)).to.include('stopped');
    expectWalCheckpointed(path.join(dir, 'stalled.db'));
  });

  it('a leaked pool connection (test seam) is force-closed after the grace period and listed with its acquirer, exit 0, WAL checkpointed', async function () {
    const grace = 1;
    const dbPath = path.join(dir, 'leak.db');
    const seam = path.join(__dirname, 'support', 'leak-seam.js');
    const svc = await start({ SQLITE_DB_PATH: dbPath, SHUTDOWN_GRACE_PERIOD: String(grace) }, [seam]);
    const created = await fetch(`${svc.url}/api/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: userBody('leak') });
    expect(created.status).to.equal(201);
    const user = (await created.json()) as { id: string };
    svc.child.kill('SIGUSR2');
    await svc.logs.waitFor(/^test seam: leaked a sqlite-read connection$/, 5000);

    const sigtermAt = performance.now();
    svc.child.kill('SIGTERM');
    const exit = await svc.waitForExit((grace * 2 + 5) * 1000);
    const took = exit.at - sigtermAt;
    expect({ code: exit.code, signal: exit.signal }, svc.stderr()).to.deep.equal({ code: 0, signal: null });
    // No request was running, so the HTTP drain is instant; the pool then waits its grace period.
    expect(took).to.be.within(grace * 1000 - 100, grace * 1000 + 2000);
    const forced = svc.logs.matching(/^pool sqlite-read: force-closed 1 connection\(s\) still borrowed after the grace period$/);
    expect(forced, JSON.stringify(svc.logs.lines.slice(-8))).to.have.length(1);
    expect(forced[0]!.forced_connections).to.equal(1);
    expect(String((forced[0]!.acquirers as string[])[0])).to.include('leak-seam');
    expect(svc.logs.matching(/still running after/)).to.deep.equal([]);
    expect(svc.logs.lines.map((l) => l.msg)).to.include('stopped');
    expectWalCheckpointed(dbPath);
    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    try {
      expect(db.prepare('SELECT count(*) FROM users WHERE id = ?').pluck().get(user.id)).to.equal(1);
    } finally {
      db.close();
    }
  });

  describe('supabase mode: an upstream call that hangs', function () {
    let postgrest: PostgrestTestServer;

    before(async function () {
      postgrest = await startMigratedServer({ executor: (await sharedMigratedServer()).executor });
    });

    after(async function () {
      await postgrest?.stop();
    });

    it('the hung request is cut off after the grace period and its connection force-closed, both listed; exit 0', async function () {
      const grace = 1;
      const svc = await start({
        DATABASE_MODE: 'supabase',
        SUPABASE_URL: postgrest.url,
        SUPABASE_KEY: TEST_SUPABASE_KEY,
        SUPABASE_REQUEST_TIMEOUT_MS: '60000',
        SUPABASE_READ_RETRIES: '0',
        SHUTDOWN_GRACE_PERIOD: String(grace),
      });
      expect((await fetch(`${svc.url}/api/users?limit=1`)).status).to.equal(200);
      postgrest.faults.blackHole = true;
      const hung = fetch(`${svc.url}/api/users?limit=1`, { headers: { 'x-request-id': 'hung-read-1' } }).then(
        (r) => r.status,
        (err: unknown) => `error: ${String((err as { cause?: { code?: string } }).cause?.code ?? err)}`,
      );
      await new Promise((r) => setTimeout(r, 200));

      const sigtermAt = performance.now();
      svc.child.kill('SIGTERM');
      const exit = await svc.waitForExit((grace * 2 + 5) * 1000);
      const took = exit.at - sigtermAt;
      expect({ code: exit.code, signal: exit.signal }, svc.stderr()).to.deep.equal({ code: 0, signal: null });
      // Requests get the grace period, then connections still borrowed get it again.
      expect(took).to.be.within(grace * 1000 - 100, 2 * grace * 1000 + 2000);
      expect(await hung).to.match(/^error: /);
      const forcedRequests = svc.logs.matching(/still running after the 1 s grace period/);
      expect(forcedRequests, JSON.stringify(svc.logs.lines.slice(-8))).to.have.length(1);
      expect((forcedRequests[0]!.requests as LogLine[])[0]).to.include({ method: 'GET', path: '/api/users', request_id: 'hung-read-1' });
      const forcedConnections = svc.logs.matching(/^pool supabase.*force-closed 1 connection/);
      expect(forcedConnections, JSON.stringify(svc.logs.lines.slice(-8))).to.have.length(1);
      expect(svc.logs.lines.map((l) => l.msg)).to.include('stopped');
      expect(JSON.stringify(svc.logs.lines)).not.to.include(TEST_SUPABASE_KEY);
      await postgrest.faults.clear();
      console.log(`      hung upstream: exit 0 after ${Math.round(took)} ms (grace ${grace} s)`);
    });
  });

  it('a second SIGTERM exits at once (code 1), without waiting for the drain', async function () {
    const svc = await start({ SQLITE_DB_PATH: path.join(dir, 'twice.db'), SHUTDOWN_GRACE_PERIOD: '30' });
    const stalled = await RawConnection.open(svc.port);
    stalled.send('POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{');
    await new Promise((r) => setTimeout(r, 100));
    svc.child.kill('SIGTERM');
    await svc.logs.waitFor(/^shutting down/, 5000);
    const secondAt = performance.now();
    svc.child.kill('SIGTERM');
    const exit = await svc.waitForExit(5000);
    expect({ code: exit.code, signal: exit.signal }).to.deep.equal({ code: 1, signal: null });
    expect(exit.at - secondAt, 'ms from the second SIGTERM to exit').to.be.below(1000);
    expect(svc.logs.matching(/^second signal: exiting at once$/)).to.have.length(1);
    stalled.destroy();
  });

  it('METRICS_PORT: metrics on a loopback listener only, which closes with the service (exit 0)', async function () {
    const svc = await start({ SQLITE_DB_PATH: path.join(dir, 'metrics.db'), METRICS_PORT: '0', SHUTDOWN_GRACE_PERIOD: '2' });
    const line = await svc.logs.waitFor(/^metrics listening on http:\/\/127\.0\.0\.1:\d+$/, 5000);
    expect(line.host).to.equal('127.0.0.1');
    const metricsPort = Number(line.port);
    expect(metricsPort).to.not.equal(svc.port);
    const scrape = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(scrape.status).to.equal(200);
    expect(await scrape.text()).to.include('http_server_request_duration_seconds');
    expect((await fetch(`${svc.url}/metrics`)).status).to.equal(404);
    expect((await fetch(`${svc.url}/metrics/database/pool/reset`, { method: 'POST' })).status).to.equal(404);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/api/users`)).status).to.equal(404);
    svc.child.kill('SIGTERM');
    const exit = await svc.waitForExit(7000);
    expect({ code: exit.code, signal: exit.signal }, svc.stderr()).to.deep.equal({ code: 0, signal: null });
    for (const port of [svc.port, metricsPort]) {
      expect((await freshRequest(port, '/health/live')).code, `port ${port} after exit`).to.equal('ECONNREFUSED');
    }
  });
});
