/**
 * Starts the real service in-process for API tests: a fresh SQLite file in a temporary
 * directory, the container, the express app and an HTTP server on an ephemeral loopback port.
 * With `backend: 'supabase'` the service runs in DATABASE_MODE=supabase against a PostgREST test
 * server (migrations/postgres applied; PGlite, or the PostgreSQL at TEST_DATABASE_URL).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig, type Config, type Env } from '../../src/config/index.js';
import { createContainer, type Container, type ContainerOptions } from '../../src/container.js';
import type { Router } from 'express';
import { createApp } from '../../src/http/app.js';
import { startHttpServer, type HttpServerHandle } from '../../src/http/server.js';
import { createLogger } from '../../src/observability/logger.js';
import { TEST_SUPABASE_KEY, startMigratedServer } from '../contract/supabase-fixture.js';
import type { PostgrestTestServer, PostgrestTestServerOptions } from './postgrest/index.js';

export interface TestService {
  readonly config: Config;
  readonly container: Container;
  readonly http: HttpServerHandle;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly dir: string;
  /** Every log line the service wrote, parsed. */
  readonly logs: Array<Record<string, unknown>>;
  /** The PostgREST test server behind the service (backend `supabase` only): stats, faults, executor. */
  readonly postgrest?: PostgrestTestServer;
  /** fetch relative to the service URL, with JSON helpers. */
  request(
    method: string,
    pathAndQuery: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<TestResponse>;
  stop(): Promise<void>;
}

export interface TestResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** Parsed JSON body (undefined when the body is empty or not JSON). */
  readonly body: unknown;
}

export interface TestServiceOptions {
  readonly env?: Env;
  readonly containerOptions?: Omit<ContainerOptions, 'logger'>;
  /** Skip container.start() (to test not-ready behaviour). */
  readonly start?: boolean;
  /**
   * `sqlite` (default): a fresh SQLite file. `supabase`: a PostgREST test server is started and
   * DATABASE_MODE, SUPABASE_URL and SUPABASE_KEY point at it (`env` may still override them).
   */
  readonly backend?: 'sqlite' | 'supabase';
  /**
   * Options of that PostgREST test server (backend `supabase`). Default: the service's migrations,
   * the test key required, and idle keep-alive sockets kept for 65 s, as a cloud gateway does.
   */
  readonly postgrest?: PostgrestTestServerOptions;
  /** Test-only routes (see `AppOptions.extraRoutes`); get the container to reach the repositories. */
  readonly extraRoutes?: (router: Router, container: Container) => void;
}

export async function startTestService(options: TestServiceOptions = {}): Promise<TestService> {
  const postgrest =
    options.backend === 'supabase'
      ? await startMigratedServer({ keepAliveTimeoutMs: 65_000, ...options.postgrest })
      : undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-api-'));
  const backendEnv: Env =
    postgrest === undefined
      ? {}
      : { DATABASE_MODE: 'supabase', SUPABASE_URL: postgrest.url, SUPABASE_KEY: TEST_SUPABASE_KEY };
  let config: Config;
  try {
    config = loadConfig(
      {
        SQLITE_DB_PATH: path.join(dir, 'test.db'),
        HOST: '127.0.0.1',
        PORT: '0',
        DB_POOL_MIN_CONNECTIONS: '2',
        DB_POOL_MAX_CONNECTIONS: '4',
        DB_POOL_HEALTH_CHECK_INTERVAL: '0',
        LOG_LEVEL: 'info',
        SHUTDOWN_GRACE_PERIOD: '2',
        ...backendEnv,
        ...options.env,
      },
      dir,
    );
  } catch (err) {
    await postgrest?.stop();
    throw err;
  }
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  const logger = createLogger({ level: config.logLevel, serviceName: config.serviceName, destination: sink });
  const container = createContainer(config, { ...options.containerOptions, logger });
  const extraRoutes = options.extraRoutes;
  const app = createApp(container, extraRoutes ? { extraRoutes: (router) => extraRoutes(router, container) } : {});
  const http = await startHttpServer(app, '127.0.0.1', 0);
  if (options.start !== false) {
    try {
      await container.start();
    } catch (err) {
      if (postgrest !== undefined) {
        // Nothing of a failed supabase start may outlive the call (the caller has no handle).
        await http.close(1000).catch(() => undefined);
        await container.stop().catch(() => undefined);
        await postgrest.stop();
      }
      throw err;
    }
  }
  const url = `http://127.0.0.1:${http.port}`;

  let stopped: Promise<void> | null = null;
  return {
    config,
    container,
    http,
    url,
    dir,
    logs,
    ...(postgrest === undefined ? {} : { postgrest }),
    async request(method, pathAndQuery, body, headers = {}) {
      const init: RequestInit = { method, headers: { ...headers } };
      if (body !== undefined) {
        init.body = typeof body === 'string' ? body : JSON.stringify(body);
        (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
      }
      const res = await fetch(`${url}${pathAndQuery}`, init);
      const text = await res.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: res.status, headers: res.headers, text, body: parsed };
    },
    stop() {
      stopped ??= (async () => {
        try {
          await http.close(1000);
          await container.stop();
          fs.rmSync(dir, { recursive: true, force: true });
        } finally {
          await postgrest?.stop();
        }
      })();
      return stopped;
    },
  };
}
