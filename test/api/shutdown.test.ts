/**
 * Graceful shutdown of the real process (`node dist/src/main.js`) under write load: SIGTERM while
 * batch creates are in flight. Readiness answers 503 at once, in-flight requests complete, new
 * requests are refused, the process exits 0 within the grace period, and every write that was
 * answered 2xx is in the database file afterwards (read with better-sqlite3, read-only).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { findProjectRoot } from '../../src/paths.js';

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

/** The child's stdout as parsed JSON log lines, with a way to wait for one. */
class LogReader {
  readonly lines: Array<Record<string, unknown>> = [];
  readonly #waiters: Array<{ match: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }> = [];
  #buffer = '';

  constructor(child: ChildProcess) {
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      this.#buffer += chunk;
      let nl: number;
      while ((nl = this.#buffer.indexOf('\n')) !== -1) {
        const line = this.#buffer.slice(0, nl);
        this.#buffer = this.#buffer.slice(nl + 1);
        if (!line.trim()) continue;
        let parsed: Record<string, unknown>;
        try {
          parsed = JSON.parse(line) as Record<string, unknown>;
        } catch {
          parsed = { msg: line };
        }
        this.lines.push(parsed);
        for (const w of this.#waiters.splice(0)) {
          if (w.match(parsed)) w.resolve(parsed);
          else this.#waiters.push(w);
        }
      }
    });
  }

  /** Resolves with the first line (seen or future) whose msg matches. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<Record<string, unknown>> {
    const match = (l: Record<string, unknown>): boolean => typeof l.msg === 'string' && pattern.test(l.msg);
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no log line matching ${pattern} within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.push({
        match,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  }
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

describe('graceful shutdown of the real process under write load', function () {
  this.timeout(60_000);
  let dir: string;
  let child: ChildProcess | undefined;

  before(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-shutdown-'));
  });

  after(function () {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('SIGTERM mid-load: ready 503 at once, in-flight writes complete, new requests refused, exit 0, every 2xx write stored', async function () {
    const dbPath = path.join(dir, 'shutdown.db');
    const root = findProjectRoot(__dirname);
    child = spawn(process.execPath, [path.join(root, 'dist', 'src', 'main.js')], {
      cwd: root,
      env: {
        ...process.env,
        PORT: '0',
        HOST: '127.0.0.1',
        SQLITE_DB_PATH: dbPath,
        OTEL_SDK_DISABLED: 'true',
        SHUTDOWN_GRACE_PERIOD: String(GRACE_SECONDS),
        LOG_LEVEL: 'info',
        DB_POOL_MIN_CONNECTIONS: '2',
        DB_POOL_MAX_CONNECTIONS: '4',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
      child!.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() }));
    });
    const logs = new LogReader(child);

    const listening = await logs.waitFor(/^listening on http:\/\//, 20_000);
    const port = Number(listening.port);
    const url = `http://127.0.0.1:${port}`;
    await logs.waitFor(/service ready/, 20_000);
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
    child.kill('SIGTERM');
    const shuttingDown = await logs.waitFor(/^shutting down/, 5_000);
    probe.end('\r\n');
    await probeClosed;
    expect(probeResponse, 'readiness during shutdown').to.match(/^HTTP\/1\.1 503 /);
    expect(probeResponse).to.include('"SHUTTING_DOWN"');

    // A new connection: refused, or answered 503 if it slipped in before the listener closed.
    const fresh = await freshRequest(port, '/health/ready');
    expect(fresh.status === 503 || fresh.code === 'ECONNREFUSED', JSON.stringify(fresh)).to.equal(true);

    await load;
    const exit = await Promise.race([
      exited,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no exit within ${GRACE_SECONDS + 5} s; stderr: ${stderr}`)), (GRACE_SECONDS + 5) * 1000)),
    ]);
    expect({ code: exit.code, signal: exit.signal }, stderr).to.deep.equal({ code: 0, signal: null });
    expect(exit.at - sigtermAt, 'shutdown duration (ms)').to.be.below(GRACE_SECONDS * 1000);
    expect(stderr).to.equal('');

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

    // Every answered write is in the file; nothing half-written (batches are one transaction each).
    const answered = outcomes.flatMap((o) => o.ids);
    expect(answered.length).to.be.greaterThan(0);
    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    try {
      const stored = new Set((db.prepare('SELECT id FROM plots').pluck().all() as string[]));
      const lost = answered.filter((id) => !stored.has(id));
      expect(lost, 'answered 2xx but not stored').to.deep.equal([]);
      expect((stored.size - answered.length) % BATCH, 'rows beyond the answered ones come in whole batches').to.equal(0);
    } finally {
      db.close();
    }
    console.log(
      `      shutdown: ${outcomes.filter((o) => o.status === 201).length} batches answered 201 (${answered.length} rows), ` +
        `${inFlightAtSigterm.length} of them in flight at SIGTERM, ${Number(shuttingDown.in_flight)} requests in flight per the service, ` +
        `exit after ${Math.round(exit.at - sigtermAt)} ms; refused: ${outcomes.filter((o) => o.status !== 201).map((o) => o.code ?? o.status).join(', ')}`,
    );
  });
});
