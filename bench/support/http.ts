/**
 * HTTP plumbing for the benchmarks: the real service in-process on an ephemeral loopback port, a
 * keep-alive JSON client, autocannon in a child process (so the load generator never shares the
 * server's event loop) and the real service as a child process (`node dist/src/main.js`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

import { Pool } from 'undici';

import type { Env } from '../../src/config/index.js';
import { createContainer, type Container, type ContainerOptions } from '../../src/container.js';
import { createApp } from '../../src/http/app.js';
import { startHttpServer, type HttpServerHandle } from '../../src/http/server.js';
import { createLogger } from '../../src/observability/logger.js';
import { PROJECT_ROOT } from '../harness.js';
import { BENCH_ENV, benchConfig } from './adapters.js';

// ---- JSON client -----------------------------------------------------------------------------

export interface JsonResponse<T = unknown> {
  readonly status: number;
  readonly body: T;
}

/** A keep-alive client for one origin (undici Pool), loopback only. */
export class JsonClient {
  readonly origin: string;
  readonly #pool: Pool;

  constructor(origin: string, connections = 16) {
    const url = new URL(origin);
    this.origin = url.origin;
    this.#pool = new Pool(url.origin, { connections, keepAliveTimeout: 30_000 });
  }

  async request<T = unknown>(method: string, pathAndQuery: string, body?: unknown): Promise<JsonResponse<T>> {
    const res = await this.#pool.request({
      method: method as 'GET',
      path: pathAndQuery,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      headersTimeout: 60_000,
      bodyTimeout: 60_000,
    });
    const text = await res.body.text();
    let parsed: unknown = undefined;
    if (text !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    return { status: res.statusCode, body: parsed as T };
  }

  /** Like request, but throws unless the status is the expected one. */
  async expect<T = unknown>(
    status: number,
    method: string,
    pathAndQuery: string,
    body?: unknown,
  ): Promise<T> {
    const res = await this.request<T>(method, pathAndQuery, body);
    if (res.status !== status) {
      throw new Error(
        `${method} ${pathAndQuery}: expected ${status}, got ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`,
      );
    }
    return res.body;
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}

// ---- in-process service ----------------------------------------------------------------------

export interface InProcessService {
  readonly url: string;
  readonly container: Container;
  readonly http: HttpServerHandle;
  readonly client: JsonClient;
  stop(): Promise<void>;
}

/**
 * The service as main.ts builds it (container, express app, HTTP server), on 127.0.0.1:0, with a
 * fresh database in `dir` and the service defaults overridden by `env`. Logs are discarded.
 * Tracing is not started (that needs a fresh process: see {@link spawnService}).
 */
export async function startService(
  dir: string,
  env: Env = {},
  options: Omit<ContainerOptions, 'logger'> = {},
): Promise<InProcessService> {
  const config = benchConfig(dir, { HOST: '127.0.0.1', PORT: '0', ...env });
  const logger = createLogger({ level: 'silent', serviceName: config.serviceName });
  const container = createContainer(config, { ...options, logger });
  const app = createApp(container);
  const http = await startHttpServer(app, '127.0.0.1', 0);
  await container.start();
  const url = `http://127.0.0.1:${http.port}`;
  const client = new JsonClient(url);
  let stopped: Promise<void> | null = null;
  return {
    url,
    container,
    http,
    client,
    stop() {
      stopped ??= (async () => {
        await client.close();
        await http.close(1000);
        await container.stop();
      })();
      return stopped;
    },
  };
}

// ---- seeding over HTTP -----------------------------------------------------------------------

export interface HttpStory {
  readonly sessionId: string;
  readonly authorIds: string[];
  readonly plotIds: string[];
}

/** A user, a session, authors and plots created through the API (batch endpoints). */
export async function seedOverHttp(
  client: JsonClient,
  counts: { authors: number; plots: number },
  tag: string,
): Promise<HttpStory> {
  const user = await client.expect<{ id: string }>(201, 'POST', '/api/users', {
    email: `${tag}@example.test`,
    display_name: `Bench ${tag}`,
  });
  const session = await client.expect<{ id: string }>(201, 'POST', '/api/sessions', {
    user_id: user.id,
    title: `Bench ${tag}`,
  });
  const authorIds: string[] = [];
  for (let i = 0; i < counts.authors; i += 500) {
    const n = Math.min(500, counts.authors - i);
    const res = await client.expect<{ data: Array<{ id: string }> }>(201, 'POST', '/api/authors/batch', {
      items: Array.from({ length: n }, (_, k) => ({
        session_id: session.id,
        name: `Author ${tag} ${i + k}`,
      })),
    });
    authorIds.push(...res.data.map((a) => a.id));
  }
  const plotIds: string[] = [];
  for (let i = 0; i < counts.plots; i += 500) {
    const n = Math.min(500, counts.plots - i);
    const res = await client.expect<{ data: Array<{ id: string }> }>(201, 'POST', '/api/plots/batch', {
      items: Array.from({ length: n }, (_, k) => ({
        session_id: session.id,
        author_id: authorIds.length > 0 ? authorIds[(i + k) % authorIds.length] : null,
        title: `Plot ${tag} ${i + k}`,
        summary: 'A story: the hero leaves home, meets a mentor and returns changed.',
        word_count: 1000 + i + k,
      })),
    });
    plotIds.push(...res.data.map((p) => p.id));
  }
  return { sessionId: session.id, authorIds, plotIds };
}

// ---- autocannon in a child process -----------------------------------------------------------

/** The numbers we keep from one autocannon run. */
export interface CannonResult {
  readonly requestsPerSec: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly latencyMeanMs: number;
  readonly requests: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
}

export interface CannonOptions {
  readonly url: string;
  readonly connections: number;
  readonly seconds: number;
  /** Fixed request rate for the whole run (req/s); unbounded when absent. */
  readonly rate?: number;
}

const AUTOCANNON_BIN = path.join(PROJECT_ROOT, 'node_modules', 'autocannon', 'autocannon.js');

/**
 * Runs autocannon against a loopback URL in a child process (its own event loop and CPU time) and
 * returns its summary. Bounded: the child is killed after seconds + 30 s.
 */
export async function cannon(options: CannonOptions): Promise<CannonResult> {
  const target = new URL(options.url);
  if (target.hostname !== '127.0.0.1' && target.hostname !== 'localhost' && target.hostname !== '[::1]') {
    throw new Error(`benchmarks only load loopback targets, not ${target.hostname}`);
  }
  const args = [
    AUTOCANNON_BIN,
    '--json',
    '--connections',
    String(options.connections),
    '--duration',
    String(options.seconds),
    '--timeout',
    '10',
    ...(options.rate === undefined ? [] : ['--overallRate', String(options.rate)]),
    options.url,
  ];
  const output = await runChild(process.execPath, args, (options.seconds + 30) * 1000);
  const json = JSON.parse(output) as {
    requests: { average: number; total: number };
    latency: { p50: number; p99: number; average: number };
    non2xx: number;
    errors: number;
    timeouts: number;
    duration: number;
  };
  return {
    // The average over the run's seconds (autocannon's `requests.average` is per second sampled).
    requestsPerSec: json.requests.total / json.duration,
    latencyP50Ms: json.latency.p50,
    latencyP99Ms: json.latency.p99,
    latencyMeanMs: json.latency.average,
    requests: json.requests.total,
    non2xx: json.non2xx,
    errors: json.errors,
    timeouts: json.timeouts,
  };
}

function runChild(command: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else
        reject(
          new Error(
            `${path.basename(args[0] ?? command)} exited with ${code}: ${Buffer.concat(err).toString('utf8').slice(0, 500)}`,
          ),
        );
    });
  });
}

// ---- the service as a child process ----------------------------------------------------------

export interface SpawnedService {
  readonly url: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** stderr and the last stdout lines, for error messages. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * `node dist/src/main.js` (or another `entry`) with `env` on top of a minimal environment (PATH,
 * HOME, BENCH_ENV), listening on a free loopback port, SQLite in `dir`. Resolves once
 * /health/ready answers 200 (bounded: 60 s).
 */
export async function spawnService(
  dir: string,
  env: Env,
  nodeArgs: readonly string[] = [],
  entry: string = path.join(PROJECT_ROOT, 'dist', 'src', 'main.js'),
): Promise<SpawnedService> {
  const port = await freePort();
  const childEnv: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    HOST: '127.0.0.1',
    PORT: String(port),
    SQLITE_DB_PATH: path.join(dir, 'service.db'),
    ...BENCH_ENV,
    LOG_LEVEL: 'warn',
  };
  for (const [key, value] of Object.entries(env)) if (value !== undefined) childEnv[key] = value;
  const child = spawn(process.execPath, [...nodeArgs, entry], {
    cwd: dir,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const keep = (c: Buffer): void => {
    lines.push(c.toString('utf8'));
    if (lines.length > 50) lines.shift();
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`service exited with ${child.exitCode}: ${lines.join('').slice(-1000)}`);
    try {
      const res = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`service did not become ready within 60 s: ${lines.join('').slice(-1000)}`);
    }
    await delay(100);
  }
  return {
    url,
    pid: child.pid!,
    child,
    output: () => lines.join(''),
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** A free TCP port on 127.0.0.1 (bind to 0, read, close). */
export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resident set size of a process in bytes (Linux /proc), or NaN. */
export function rssOf(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /VmRSS:\s+(\d+)\s+kB/.exec(status);
    return match ? Number(match[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** User + system CPU time of a process in ms (Linux /proc, clock ticks of 10 ms), or NaN. */
export function cpuTimeOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) * 10;
  } catch {
    return Number.NaN;
  }
}
