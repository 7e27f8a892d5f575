/**
 * Shared tools of the fault-injection suite: a liveness watcher (the service must answer
 * `/health/live` throughout every fault), metric scrapes, a borrower that holds pooled connections
 * the way slow queries would, a child process running the real entry point (`node dist/src/main.js`)
 * with its parsed log, and a child process that holds SQLite locks from outside the service.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { expect } from 'chai';
import type { Row } from '../../src/adapters/contract.js';
import { SqliteAdapter, type SqliteConnection } from '../../src/adapters/sqlite/index.js';
import { findProjectRoot } from '../../src/paths.js';
import type { ObservedPool } from '../../src/pool/index.js';
import { TABLES, type TableName } from '../../src/schema/tables.js';
import { parseExposition, sumOf } from '../support/metrics-text.js';
import type { TestService } from '../support/service.js';

export const ROOT = findProjectRoot(__dirname);
export const MAIN = path.join(ROOT, 'dist', 'src', 'main.js');

/**
 * Environment every fault test starts from: writes are not rate limited (the suite writes fast from
 * one address; the limit is not under test here).
 */
export const FAULT_ENV: Readonly<Record<string, string>> = Object.freeze({
  RATE_LIMIT_WRITES_PER_MINUTE: '0',
});

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `condition` holds (bounded); throws with `what` when it never does. */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** The service's SQLite adapter (fault tests reach its pools to inject faults). */
export function sqliteOf(service: TestService): SqliteAdapter {
  const adapter = service.container.adapter;
  if (!(adapter instanceof SqliteAdapter)) throw new Error('the service does not run the SQLite adapter');
  return adapter;
}

/** The pool's JSON report from `/metrics/database/pool`. */
export async function poolReport(service: TestService, pool: string): Promise<Record<string, unknown>> {
  const res = await service.request('GET', '/metrics/database/pool');
  expect(res.status).to.equal(200);
  const found = (res.body as { pools: Array<Record<string, unknown>> }).pools.find((p) => p.pool === pool);
  if (found === undefined) throw new Error(`no pool ${pool}`);
  return found;
}

/** Sum of the matching samples of one Prometheus family in a fresh scrape of `/metrics`. */
export async function metric(
  service: TestService,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const res = await service.request('GET', '/metrics', undefined, { accept: 'text/plain' });
  expect(res.status).to.equal(200);
  return sumOf(parseExposition(res.text), name, labels);
}

/** Requests answered with each status code, from the HTTP duration histogram. */
export async function httpCount(service: TestService, status: number, route?: string): Promise<number> {
  return metric(service, 'http_server_request_duration_seconds_count', {
    http_response_status_code: String(status),
    ...(route === undefined ? {} : { http_route: route }),
  });
}

export interface LivenessReport {
  readonly probes: number;
  readonly failures: readonly string[];
  readonly maxLatencyMs: number;
}

/**
 * Asks `/health/live` every `everyMs` until stopped. The fault suite's invariant: the process stays
 * up and its event loop keeps answering, whatever the database does.
 */
export class LivenessWatch {
  readonly #url: string;
  readonly #failures: string[] = [];
  #probes = 0;
  #maxLatencyMs = 0;
  #running = true;
  readonly #loop: Promise<void>;

  constructor(url: string, everyMs = 50) {
    this.#url = url;
    this.#loop = this.#run(everyMs);
  }

  async #run(everyMs: number): Promise<void> {
    while (this.#running) {
      const started = performance.now();
      try {
        const res = await fetch(`${this.#url}/health/live`, { signal: AbortSignal.timeout(2000) });
        await res.text();
        if (res.status !== 200) this.#failures.push(`status ${res.status}`);
      } catch (err) {
        this.#failures.push(String((err as { cause?: unknown }).cause ?? err));
      }
      this.#probes++;
      this.#maxLatencyMs = Math.max(this.#maxLatencyMs, performance.now() - started);
      await sleep(everyMs);
    }
  }

  /** Stops polling; asserts that every probe answered 200 (at least one probe ran). */
  async stop(maxLatencyMs = 2000): Promise<LivenessReport> {
    this.#running = false;
    await this.#loop;
    const report = { probes: this.#probes, failures: [...this.#failures], maxLatencyMs: this.#maxLatencyMs };
    expect(report.probes, 'liveness probes').to.be.greaterThan(0);
    expect(report.failures, 'failed liveness probes').to.deep.equal([]);
    expect(report.maxLatencyMs, 'slowest liveness probe (ms)').to.be.below(maxLatencyMs);
    return report;
  }
}

/**
 * Borrows `n` connections of a pool at once and keeps them until release() — what `n` slow queries
 * would do. Resolves once all `n` are held.
 */
export async function holdConnections<C>(
  pool: ObservedPool<C>,
  n: number,
): Promise<{ readonly connections: readonly C[]; release(): Promise<void> }> {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const connections: C[] = [];
  const held = Array.from({ length: n }, () =>
    pool.withConnection(async (c) => {
      connections.push(c);
      await gate;
    }),
  );
  await waitUntil(() => connections.length === n, 10_000, `${n} ${pool.name} connections`);
  return {
    connections,
    async release() {
      open();
      await Promise.all(held);
    },
  };
}

/** Every connection a pool holds right now (borrowed together, then given back: they stay open, idle). */
export async function idleConnections(pool: ObservedPool<SqliteConnection>): Promise<SqliteConnection[]> {
  const { total, used } = pool.snapshot();
  expect(used, `${pool.name} connections in use`).to.equal(0);
  const held = await holdConnections(pool, total);
  await held.release();
  return [...held.connections];
}

/** The rows of a table whose `column` equals `value`, read through the service's adapter. */
export function countWhere(
  service: TestService,
  table: TableName,
  column: string,
  value: unknown,
): Promise<number> {
  return service.container.adapter.count(TABLES[table], [{ column, op: 'eq', value }]);
}

// ---- child processes ------------------------------------------------------------------------

/** A child's stdout as parsed JSON log lines, with a way to wait for one. */
export class ChildLog {
  readonly lines: Array<Record<string, unknown>> = [];
  stderr = '';
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
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          this.lines.push({ msg: line, unparsed: true });
        }
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => (this.stderr += chunk));
  }

  /** The first line (seen or future) whose msg matches; bounded. */
  async waitFor(pattern: RegExp, timeoutMs: number): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | undefined;
    await waitUntil(
      () => (found = this.lines.find((l) => typeof l.msg === 'string' && pattern.test(l.msg))) !== undefined,
      timeoutMs,
      `a log line matching ${pattern} (stderr: ${this.stderr.slice(0, 500)})`,
    );
    return found!;
  }
}

export interface ChildService {
  readonly child: ChildProcess;
  readonly log: ChildLog;
  readonly url: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL if still running (idempotent). */
  kill(): void;
}

/**
 * Starts `node dist/src/main.js` with `env` on a free loopback port; resolves once it listens
 * (not necessarily ready: a start-up failure keeps it up with readiness 503).
 */
export async function spawnService(
  env: Record<string, string>,
  options: { uid?: number; gid?: number } = {},
): Promise<ChildService> {
  const child = spawn(process.execPath, [MAIN], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      PORT: '0',
      HOST: '127.0.0.1',
      OTEL_SDK_DISABLED: 'true',
      LOG_LEVEL: 'info',
      DB_POOL_MIN_CONNECTIONS: '2',
      DB_POOL_MAX_CONNECTIONS: '4',
      ...FAULT_ENV,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.uid === undefined ? {} : { uid: options.uid }),
    ...(options.gid === undefined ? {} : { gid: options.gid }),
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const log = new ChildLog(child);
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  try {
    const listening = await log.waitFor(/^listening on http:\/\//, 20_000);
    return { child, log, url: `http://127.0.0.1:${Number(listening.port)}`, exited, kill };
  } catch (err) {
    kill();
    throw err;
  }
}

/** fetch with a JSON body; the parsed body (or undefined) and the status. */
export async function call(
  url: string,
  method: string,
  body?: unknown,
): Promise<{ status: number; body: Row & { error?: { code: string; message: string } }; headers: Headers }> {
  const res = await fetch(url, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = { text };
  }
  return {
    status: res.status,
    body: parsed as Row & { error?: { code: string; message: string } },
    headers: res.headers,
  };
}

/**
 * Another process holding SQLite's write lock: a child that opens `file` with better-sqlite3, runs
 * `BEGIN IMMEDIATE`, says so, keeps the lock `holdMs` (its thread blocked, as a busy process would
 * be), then rolls back and exits.
 */
export async function holdWriteLock(file: string, holdMs: number): Promise<{ released: Promise<number> }> {
  const script = `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1]);
    db.exec('BEGIN IMMEDIATE');
    process.stdout.write('locked\\n', () => {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(process.argv[2]));
      db.exec('ROLLBACK');
      db.close();
      process.stdout.write('released\\n');
    });`;
  const child = spawn(process.execPath, ['-e', script, file, String(holdMs)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const released = new Promise<number>((resolve, reject) => {
    child.once('exit', (code) =>
      code === 0 ? resolve(performance.now()) : reject(new Error(`lock holder exited ${code}: ${err}`)),
    );
  });
  released.catch(() => undefined);
  await waitUntil(() => out.includes('locked') || child.exitCode !== null, 10_000, 'the lock holder');
  if (!out.includes('locked')) throw new Error(`lock holder failed: ${err}`);
  return { released };
}
