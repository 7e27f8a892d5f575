/**
 * The PostgREST-protocol test server: an HTTP server on 127.0.0.1 (random port) that answers the
 * subset of PostgREST v12 that supabase-js sends, on a real PostgreSQL or an embedded PGlite,
 * with socket-level statistics and fault injection for client-resilience tests.
 */
import { readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';

import { createPgExecutor, createPgliteExecutor } from './executor.js';
import type { SqlExecutor } from './executor.js';
import { FaultState, htmlErrorPage } from './faults.js';
import type { FaultController, RefuseMode, ResetPhase } from './faults.js';
import { createApiHandler } from './handler.js';
import type { ApiResponse } from './handler.js';
import { loadSchemaCache } from './schema-cache.js';
import type { SchemaCache } from './schema-cache.js';
import { StatsRecorder } from './stats.js';
import type { RecordedRequest, ServerStats } from './stats.js';

export interface PostgrestTestServerOptions {
  /**
   * PostgreSQL server to create this run's database on. Default: `TEST_DATABASE_URL` from the
   * environment; `null` forces PGlite even when that variable is set.
   */
  readonly databaseUrl?: string | null;
  /** Use this executor (e.g. shared by several servers) instead of creating one; `stop()` leaves it open. */
  readonly executor?: SqlExecutor;
  /** PostgREST's `db-max-rows`: reads never return more rows. Default 1000; `null` = unlimited. */
  readonly maxRows?: number | null;
  /** A directory of `*.sql` files applied in file-name order, each in one transaction. */
  readonly migrationsDir?: string;
  /** SQL scripts applied after the migrations (create the tables a test needs). */
  readonly setupSql?: string | readonly string[];
  /** When set, requests need `apikey: <requiredKey>` (else 401, worded like Supabase's gateway). */
  readonly requiredKey?: string;
  /** Unknown table: PostgREST 12 forwards PostgreSQL's `42P01`; PostgREST 13 answers `PGRST205`. Default `42P01`. */
  readonly missingTableError?: '42P01' | 'PGRST205';
  /** Supabase loads pg-safeupdate for API roles: UPDATE/DELETE without filters fail with 21000. Default true. */
  readonly safeUpdate?: boolean;
  /**
   * Create Supabase's roles (`anon`, `authenticated`, `service_role`) and `auth.uid()/role()/jwt()`
   * before migrations, so migrations written for Supabase apply. Default true.
   */
  readonly supabaseCompat?: boolean;
  /** Reload the schema cache once when a request names an unknown table or column. Default true. */
  readonly autoReloadSchema?: boolean;
  /** Answer 414 (HTML, like a proxy) when the request line's URL is longer. Default: no limit. */
  readonly maxUrlLength?: number;
  /** Answer 413 (HTML, like a proxy) when a body is larger. Default 50 MiB. */
  readonly maxBodyBytes?: number;
  /** Idle keep-alive sockets are closed by the server after this long. Default 5000 ms (Node's). */
  readonly keepAliveTimeoutMs?: number;
}

export interface PostgrestTestServer {
  /** The base URL to give `createClient` (`http://127.0.0.1:<port>`). */
  readonly url: string;
  /** `url + '/rest/v1'`, for plain `fetch`. */
  readonly restUrl: string;
  readonly port: number;
  readonly stats: ServerStats;
  readonly faults: FaultController;
  /** The database behind the server (for arranging and asserting stored state). */
  readonly executor: SqlExecutor;
  /** Re-reads tables and columns (PostgREST's schema cache reload). */
  reloadSchema(): Promise<void>;
  /** Closes every socket (kept-alive ones too), clears faults and timers, closes the database. Idempotent. */
  stop(): Promise<void>;
}

const KNOWN_OPTIONS = new Set<string>([
  'databaseUrl',
  'executor',
  'maxRows',
  'migrationsDir',
  'setupSql',
  'requiredKey',
  'missingTableError',
  'safeUpdate',
  'supabaseCompat',
  'autoReloadSchema',
  'maxUrlLength',
  'maxBodyBytes',
  'keepAliveTimeoutMs',
]);

function validateOptions(options: PostgrestTestServerOptions): void {
  const problems: string[] = [];
  for (const key of Object.keys(options))
    if (!KNOWN_OPTIONS.has(key)) problems.push(`unknown option "${key}"`);
  const positiveInt = (name: string, value: number | null | undefined): void => {
    if (value !== undefined && value !== null && (!Number.isInteger(value) || value <= 0))
      problems.push(`${name} must be a positive integer`);
  };
  positiveInt('maxRows', options.maxRows);
  positiveInt('maxUrlLength', options.maxUrlLength);
  positiveInt('maxBodyBytes', options.maxBodyBytes);
  positiveInt('keepAliveTimeoutMs', options.keepAliveTimeoutMs);
  if (
    options.missingTableError !== undefined &&
    options.missingTableError !== '42P01' &&
    options.missingTableError !== 'PGRST205'
  ) {
    problems.push('missingTableError must be "42P01" or "PGRST205"');
  }
  if (
    options.executor !== undefined &&
    (options.migrationsDir !== undefined || options.databaseUrl !== undefined)
  ) {
    problems.push(
      'executor cannot be combined with databaseUrl or migrationsDir (set up the shared database once)',
    );
  }
  if (problems.length > 0) throw new TypeError(`startPostgrestTestServer: ${problems.join('; ')}`);
}

/** Supabase's API roles and auth helpers, so Supabase-flavoured migrations apply here. */
const SUPABASE_COMPAT_SQL = `
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
    BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
      END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL; -- another test process created it concurrently (roles are cluster-wide)
    END;
  END LOOP;
END $$;
CREATE SCHEMA IF NOT EXISTS auth;
CREATE OR REPLACE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS
  $$ SELECT coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb $$;
CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS
  $$ SELECT nullif(auth.jwt() ->> 'sub', '')::uuid $$;
CREATE OR REPLACE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS
  $$ SELECT nullif(auth.jwt() ->> 'role', '') $$;
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
`;

async function applyMigrations(executor: SqlExecutor, dir: string): Promise<void> {
  const files = (await readdir(dir)).filter((file) => file.endsWith('.sql')).sort();
  for (const file of files) {
    const sql = await readFile(join(dir, file), 'utf8');
    try {
      await executor.execScript(sql);
    } catch (error) {
      throw new Error(`migration ${file} failed: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
  }
}

/** Rejects after `ms` so a hung close cannot hang `stop()`; the timer never outlives the race. */
async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

class BodyTooLargeError extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      if (!tooLarge) chunks.push(chunk);
    });
    req.on('end', () => (tooLarge ? reject(new BodyTooLargeError()) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

export async function startPostgrestTestServer(
  options: PostgrestTestServerOptions = {},
): Promise<PostgrestTestServer> {
  validateOptions(options);
  const databaseUrl =
    options.databaseUrl === undefined ? process.env['TEST_DATABASE_URL'] : options.databaseUrl;
  const ownsExecutor = options.executor === undefined;
  const executor =
    options.executor ??
    (databaseUrl !== undefined && databaseUrl !== null && databaseUrl !== ''
      ? await createPgExecutor({ databaseUrl })
      : await createPgliteExecutor());

  try {
    if (options.supabaseCompat !== false) await executor.execScript(SUPABASE_COMPAT_SQL);
    if (options.migrationsDir !== undefined) await applyMigrations(executor, options.migrationsDir);
    const setup =
      options.setupSql === undefined
        ? []
        : typeof options.setupSql === 'string'
          ? [options.setupSql]
          : options.setupSql;
    for (const script of setup) await executor.execScript(script);
    return await listen(executor, ownsExecutor, options);
  } catch (error) {
    if (ownsExecutor) await executor.close().catch(() => undefined);
    throw error;
  }
}

async function listen(
  executor: SqlExecutor,
  ownsExecutor: boolean,
  options: PostgrestTestServerOptions,
): Promise<PostgrestTestServer> {
  const host = '127.0.0.1';
  const maxBodyBytes = options.maxBodyBytes ?? 50 * 1024 * 1024;

  let cache: SchemaCache = await loadSchemaCache(executor);
  let reloading: Promise<void> | undefined;
  const reloadSchema = (): Promise<void> => {
    reloading ??= loadSchemaCache(executor)
      .then((fresh) => {
        cache = fresh;
      })
      .finally(() => {
        reloading = undefined;
      });
    return reloading;
  };

  const handle = createApiHandler({
    executor,
    schema: async () => cache,
    reloadSchema,
    autoReloadSchema: options.autoReloadSchema !== false,
    maxRows: options.maxRows === null ? undefined : (options.maxRows ?? 1000),
    requiredKey: options.requiredKey,
    missingTableError: options.missingTableError ?? '42P01',
    safeUpdate: options.safeUpdate !== false,
  });

  const sockets = new Set<Socket>();
  /** Sockets of black-holed requests, destroyed by `clear()` / `stop()`. */
  const held = new Set<Socket>();
  const sleeps = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  const state = new FaultState();
  // `destroyed` flips synchronously; the 'close' event that empties the set comes a tick later.
  const stats = new StatsRecorder(() => [...sockets].filter((socket) => !socket.destroyed).length);
  let stopping = false;
  let port = 0;

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          sleeps.delete(entry);
          resolve();
        }, ms),
        resolve,
      };
      sleeps.add(entry);
    });

  const send = (
    req: IncomingMessage,
    res: ServerResponse,
    response: ApiResponse,
    record: RecordedRequest,
  ): void => {
    if (res.destroyed || res.writableEnded) return;
    const body = response.body === undefined ? undefined : Buffer.from(response.body, 'utf8');
    const headers: Record<string, string> = { ...response.headers };
    if (body !== undefined) headers['Content-Length'] = String(body.length);
    else if (response.status !== 204 && response.status !== 304) headers['Content-Length'] = '0';
    record.outcome = response.status;
    res.writeHead(response.status, headers);
    // HEAD answers carry the GET headers but never a body.
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  const resetSocket = (socket: Socket): void => {
    if (!socket.destroyed) socket.resetAndDestroy();
  };

  const onRequest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = (req.method ?? 'GET').toUpperCase();
    const rawUrl = req.url ?? '/';
    const record = stats.onRequest(method, rawUrl, req.headers);
    if (stopping) {
      resetSocket(req.socket);
      record.outcome = 'reset';
      return;
    }

    const fault = state.nextRequestFault();
    if (fault.kind === 'black-hole') {
      stats.onFault('blackHole');
      record.outcome = 'black-hole';
      held.add(req.socket);
      req.socket.once('close', () => held.delete(req.socket));
      req.resume();
      return;
    }
    if (fault.kind === 'reset' && fault.phase === 'before-response') {
      stats.onFault('reset');
      record.outcome = 'reset';
      resetSocket(req.socket);
      return;
    }

    let body: Buffer;
    try {
      body = await readBody(req, maxBodyBytes);
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        send(
          req,
          res,
          {
            status: 413,
            headers: { 'Content-Type': 'text/html', Connection: 'close' },
            body: htmlErrorPage(413),
          },
          record,
        );
      } else {
        resetSocket(req.socket);
      }
      return;
    }

    if (state.latencyMs > 0) {
      stats.onFault('latency');
      await sleep(state.latencyMs);
      if (stopping) return;
    }

    switch (fault.kind) {
      case 'reset': {
        stats.onFault('reset');
        record.outcome = 'reset';
        // Headers and a fragment of a body, then a TCP RST: a server dying mid-answer.
        res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': '4096' });
        res.write('[{"id":', () => resetSocket(req.socket));
        return;
      }
      case 'html':
        stats.onFault('html');
        send(
          req,
          res,
          {
            status: fault.status,
            headers: { 'Content-Type': 'text/html' },
            body: htmlErrorPage(fault.status),
          },
          record,
        );
        return;
      case 'fail':
        stats.onFault('fail');
        send(
          req,
          res,
          {
            status: fault.status,
            headers: { 'Content-Type': 'application/json; charset=utf-8' },
            body: JSON.stringify(fault.body),
          },
          record,
        );
        return;
      case 'none':
        break;
    }

    if (options.maxUrlLength !== undefined && rawUrl.length > options.maxUrlLength) {
      send(
        req,
        res,
        { status: 414, headers: { 'Content-Type': 'text/html' }, body: htmlErrorPage(414) },
        record,
      );
      return;
    }
    const response = await handle({
      method,
      url: new URL(rawUrl, `http://${host}`),
      headers: req.headers,
      body,
    });
    if (!stopping) send(req, res, response, record);
  };

  const server: Server = createServer(
    {
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 5000,
      // Long in-lists are the point of some tests: allow 64 KiB request lines and headers.
      maxHeaderSize: 64 * 1024,
    },
    (req, res) => {
      onRequest(req, res).catch((error: unknown) => {
        // Never crash the test process because of one request.
        if (!res.headersSent && !res.destroyed) {
          res.writeHead(500, { 'Content-Type': 'application/json; charset=utf-8' });
          res.end(
            JSON.stringify({ code: 'PGRST_TEST_500', details: null, hint: null, message: String(error) }),
          );
        }
      });
    },
  );
  server.on('connection', (socket: Socket) => {
    stats.onConnection();
    if (state.refusing === 'reset' || stopping) {
      stats.onFault('refused');
      socket.resetAndDestroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // A client resetting mid-request must not surface as an unhandled error.
  server.on('clientError', (_error, socket: Socket) => socket.destroy());

  const listenOn = (wantedPort: number): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(wantedPort, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  const closeListener = (): Promise<void> =>
    new Promise((resolve) => {
      if (!server.listening) {
        resolve();
        return;
      }
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });

  await listenOn(0);
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('test server has no TCP address');
  port = address.port;

  const dropHeld = (): void => {
    for (const socket of held) socket.destroy();
    held.clear();
  };

  const faults: FaultController = {
    get latencyMs() {
      return state.latencyMs;
    },
    set latencyMs(ms: number) {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`latencyMs must be >= 0, got ${ms}`);
      state.latencyMs = ms;
    },
    get blackHole() {
      return state.blackHole;
    },
    set blackHole(on: boolean) {
      state.blackHole = on;
    },
    failNext: (count: number, status?: number, body?: unknown) => state.failNext(count, status, body),
    resetNext: (count: number, phase?: ResetPhase) => state.resetNext(count, phase),
    htmlNext: (count: number, status?: number) => state.htmlNext(count, status),
    get refusing() {
      return state.refusing;
    },
    async refuseConnections(mode: RefuseMode = 'reset'): Promise<void> {
      if (mode !== 'reset' && mode !== 'close') throw new RangeError(`unknown refuse mode ${String(mode)}`);
      if (stopping) return;
      if (state.refusing === 'close' && mode === 'reset') await listenOn(port);
      state.refusing = mode;
      for (const socket of sockets) socket.destroy();
      if (mode === 'close') await closeListener();
    },
    async acceptConnections(): Promise<void> {
      if (stopping) return;
      const wasClosed = state.refusing === 'close';
      state.refusing = false;
      if (wasClosed) await listenOn(port);
    },
    get armed() {
      return state.armed;
    },
    async clear(): Promise<void> {
      state.disarm();
      dropHeld();
      await faults.acceptConnections();
    },
  };

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      state.disarm();
      for (const entry of sleeps) {
        clearTimeout(entry.timer);
        entry.resolve();
      }
      sleeps.clear();
      dropHeld();
      await withTimeout(closeListener(), 5000, 'closing the HTTP server').catch(() => undefined);
      if (ownsExecutor) await withTimeout(executor.close(), 10_000, 'closing the database');
    })();
    return stopped;
  };

  return {
    url: `http://${host}:${port}`,
    restUrl: `http://${host}:${port}/rest/v1`,
    port,
    stats,
    faults,
    executor,
    reloadSchema,
    stop,
  };
}
