/**
 * The real service in-process for the observability tests: a fresh SQLite file in a temporary
 * directory, the container, the express app built by `createApp` (optionally with test-only routes
 * through its `extraRoutes` seam) and an HTTP server on an ephemeral loopback port. Log lines are
 * captured and parsed.
 *
 * (test/support/service.ts does the same for the API tests, without the routes seam.)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { Router } from 'express';
import { loadConfig, type Config, type Env } from '../../src/config/index.js';
import { createContainer, type Container } from '../../src/container.js';
import { createApp } from '../../src/http/app.js';
import { startHttpServer, type HttpServerHandle } from '../../src/http/server.js';
import { createLogger } from '../../src/observability/logger.js';

export interface ObservedService {
  readonly config: Config;
  readonly container: Container;
  readonly http: HttpServerHandle;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Every log line the service wrote so far, parsed. */
  readonly logs: Array<Record<string, unknown>>;
  /** A request with an optional JSON body; the body is parsed when it is JSON. */
  request(method: string, pathAndQuery: string, body?: unknown, headers?: Record<string, string>): Promise<ServiceResponse>;
  stop(): Promise<void>;
}

export interface ServiceResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  readonly body: unknown;
}

export interface ObservedServiceOptions {
  readonly env?: Env;
  /** Test-only routes (see `AppOptions.extraRoutes`); get the container to reach the repositories. */
  readonly extraRoutes?: (router: Router, container: Container) => void;
}

export async function startObservedService(options: ObservedServiceOptions = {}): Promise<ObservedService> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-obs-'));
  const config = loadConfig(
    {
      SQLITE_DB_PATH: path.join(dir, 'test.db'),
      HOST: '127.0.0.1',
      PORT: '0',
      DB_POOL_MIN_CONNECTIONS: '2',
      DB_POOL_MAX_CONNECTIONS: '4',
      DB_POOL_HEALTH_CHECK_INTERVAL: '0',
      LOG_LEVEL: 'info',
      SHUTDOWN_GRACE_PERIOD: '2',
      ...options.env,
    },
    dir,
  );
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  const logger = createLogger({ level: config.logLevel, serviceName: config.serviceName, destination: sink });
  const container = createContainer(config, { logger });
  const extraRoutes = options.extraRoutes;
  const app = createApp(container, extraRoutes ? { extraRoutes: (router) => extraRoutes(router, container) } : {});
  const http = await startHttpServer(app, '127.0.0.1', 0);
  try {
    await container.start();
  } catch (err) {
    await http.close(0);
    await container.stop().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const url = `http://127.0.0.1:${http.port}`;

  let stopped: Promise<void> | null = null;
  return {
    config,
    container,
    http,
    url,
    logs,
    async request(method, pathAndQuery, body, headers = {}) {
      const init: RequestInit = { method, headers: { ...headers } };
      if (body !== undefined) {
        init.body = JSON.stringify(body);
        (init.headers as Record<string, string>)['content-type'] = 'application/json';
      }
      const res = await fetch(`${url}${pathAndQuery}`, { ...init, signal: AbortSignal.timeout(15_000) });
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
        await http.close(1000);
        await container.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/** What {@link seedStory} created. */
export interface Story {
  readonly userId: string;
  readonly sessionId: string;
  readonly authorIds: string[];
  readonly plotIds: string[];
}

let storySequence = 0;

/**
 * A user, a session, `authors` authors and `plots` plots (plot i written by author i mod authors),
 * all created through the HTTP API (batch endpoints for authors and plots). Unique values per call.
 */
export async function seedStory(service: ObservedService, counts: { authors: number; plots: number }): Promise<Story> {
  storySequence += 1;
  const tag = `${Date.now().toString(36)}s${storySequence}`;
  const created = async (pathname: string, body: unknown): Promise<Record<string, unknown>> => {
    const res = await service.request('POST', pathname, body);
    if (res.status !== 201) throw new Error(`POST ${pathname}: ${res.status} ${res.text.slice(0, 300)}`);
    return res.body as Record<string, unknown>;
  };
  const user = await created('/api/users', { email: `${tag}@example.test`, display_name: `User ${tag}` });
  const session = await created('/api/sessions', { user_id: user.id, title: `Session ${tag}` });
  const authors = (await created('/api/authors/batch', {
    items: Array.from({ length: counts.authors }, (_, i) => ({ session_id: session.id, name: `Author ${tag} ${i}` })),
  })) as { data: Array<{ id: string }> };
  const authorIds = authors.data.map((a) => a.id);
  const plots =
    counts.plots === 0
      ? { data: [] }
      : ((await created('/api/plots/batch', {
          items: Array.from({ length: counts.plots }, (_, i) => ({
            session_id: session.id,
            author_id: authorIds.length > 0 ? authorIds[i % authorIds.length] : null,
            title: `Plot ${tag} ${i}`,
            word_count: 100 * i,
          })),
        })) as { data: Array<{ id: string }> });
  return {
    userId: String(user.id),
    sessionId: String(session.id),
    authorIds,
    plotIds: plots.data.map((p) => p.id),
  };
}
