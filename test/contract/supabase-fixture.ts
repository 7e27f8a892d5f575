/**
 * Builds Supabase adapters against the PostgREST-protocol test server (migrations/postgres applied;
 * PGlite unless TEST_DATABASE_URL points at a PostgreSQL server) for the contract suite and the
 * Supabase unit tests.
 */
import type { OperationInfo } from '../../src/adapters/contract.js';
import {
  SupabaseAdapter,
  type SupabaseAdapterOptions,
  type SupabasePoolSettings,
} from '../../src/adapters/supabase/index.js';
import { migrationsDir } from '../../src/paths.js';
import {
  startPostgrestTestServer,
  type PostgrestTestServer,
  type PostgrestTestServerOptions,
} from '../support/postgrest/index.js';
import { recordingInstrumentation } from './sqlite-fixture.js';

/**
 * The API key the test server requires. Distinctive on purpose: tests search every error message
 * and log line for it.
 */
export const TEST_SUPABASE_KEY = 'sb-test-SECRET-service-role-key-7f3a9c1e5b';

/** Pool settings for tests: generous timeouts, no background timers unless a test asks. */
export const TEST_SUPABASE_POOL_SETTINGS: SupabasePoolSettings = Object.freeze({
  acquireTimeoutMs: 10_000,
  maxWaitingClients: 1_000,
  idleTimeoutMs: 60_000,
  maxLifetimeMs: 0,
  leakThresholdMs: 0,
  healthCheckIntervalMs: 0,
  shutdownGraceMs: 2_000,
  createTimeoutMs: 15_000,
});

/** `PGlite` or `PostgreSQL`, for test titles. */
export function databaseBackend(): string {
  const url = process.env['TEST_DATABASE_URL'];
  return url === undefined || url === '' ? 'PGlite' : 'PostgreSQL';
}

/**
 * A test server with the service's PostgreSQL migrations applied and the test key required. Given
 * an `executor` (a database another server already migrated), it serves that database instead:
 * a second server costs milliseconds where a PGlite database costs seconds.
 */
export function startMigratedServer(options: PostgrestTestServerOptions = {}): Promise<PostgrestTestServer> {
  return startPostgrestTestServer({
    ...(options.executor === undefined ? { migrationsDir: migrationsDir('postgres') } : {}),
    requiredKey: TEST_SUPABASE_KEY,
    ...options,
  });
}

let shared: Promise<PostgrestTestServer> | null = null;

/**
 * One migrated database per test process, behind a server that is started on first use and
 * stopped by a root `after` hook: a PGlite database costs seconds, another server on it costs
 * milliseconds (see startMigratedServer's `executor`). Suites that need their own sockets, stats,
 * faults or options start their own server on `executor`.
 */
export function sharedMigratedServer(): Promise<PostgrestTestServer> {
  shared ??= startMigratedServer({ keepAliveTimeoutMs: 60_000 });
  return shared;
}

// Registered when mocha loads this file (root level), so it runs once after every suite.
if (typeof after === 'function') {
  after(async () => {
    const server = await shared?.catch(() => null);
    shared = null;
    await server?.stop();
  });
}

export interface SupabaseTestAdapter {
  readonly adapter: SupabaseAdapter;
  readonly server: PostgrestTestServer;
  readonly operations: OperationInfo[];
  /** Stops the adapter, then the server (unless the server was given). */
  cleanup(): Promise<void>;
}

export interface SupabaseTestAdapterOptions extends Partial<SupabaseAdapterOptions> {
  /** Use this server instead of starting one (cleanup() then leaves it running). */
  readonly server?: PostgrestTestServer;
  readonly serverOptions?: PostgrestTestServerOptions;
  /** Start the adapter (default true). */
  readonly start?: boolean;
}

/** A started (unless `start: false`) adapter on a fresh (or the given) test server. */
export async function createSupabaseTestAdapter(
  options: SupabaseTestAdapterOptions = {},
): Promise<SupabaseTestAdapter> {
  const { server: given, serverOptions, start = true, ...overrides } = options;
  const server = given ?? (await startMigratedServer(serverOptions));
  const { instrumentation, operations } = recordingInstrumentation();
  const adapter = new SupabaseAdapter({
    url: server.url,
    key: TEST_SUPABASE_KEY,
    requestTimeoutMs: 10_000,
    readRetries: 2,
    connections: { min: 2, max: 4 },
    pool: TEST_SUPABASE_POOL_SETTINGS,
    retryBaseDelayMs: 10,
    instrumentation,
    ...overrides,
  });
  const cleanup = async (): Promise<void> => {
    try {
      await adapter.stop();
    } finally {
      if (given === undefined) await server.stop();
    }
  };
  if (start) {
    try {
      await adapter.start();
    } catch (err) {
      await cleanup();
      throw err;
    }
  }
  return { adapter, server, operations, cleanup };
}
