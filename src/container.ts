/**
 * Composition root: builds every part of the service from the config into one plain, typed
 * object (no string-keyed lookups), and owns the lifecycle:
 *
 *   created → starting → ready → stopping → stopped      (start failure: → failed)
 *
 * `start()` applies migrations, warms the pools and starts their health monitors; the service
 * reports ready only after it resolves. `stop()` is ordered and idempotent: readiness goes 503
 * first, then the pools drain within their grace period. Using the container after stop fails
 * loudly (the pools throw PoolClosedError).
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { DatabaseAdapter, OperationInstrumentation } from './adapters/contract.js';
import { SqliteAdapter, type SqliteAdapterOptions } from './adapters/sqlite/index.js';
import { SupabaseAdapter } from './adapters/supabase/index.js';
import { redactConfig, type Config } from './config/index.js';
import {
  DependencyProbe,
  databaseMetrics,
  healthReport,
  performanceSummary,
  type DatabaseMetrics,
  type DependencyHealth,
  type HealthReport,
  type PerformanceSummary,
} from './observability/database-report.js';
import { createLogger, type Logger } from './observability/logger.js';
import { OperationObservability } from './observability/operations.js';
import { composePoolObservers, createPoolTracingObserver } from './observability/pool-tracing.js';
import { RuntimeStats } from './observability/runtime-stats.js';
import { ServiceMetrics } from './observability/metrics.js';
import type { PoolObserver } from './pool/index.js';
import { createRepositories, type Repositories } from './repositories/index.js';

export type LifecycleState = 'created' | 'starting' | 'ready' | 'stopping' | 'stopped' | 'failed';

export interface Container {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  /** Spans, query metrics and N+1 detection around every database operation. */
  readonly operations: OperationObservability;
  readonly adapter: DatabaseAdapter;
  readonly repositories: Repositories;
  /** Windowed HTTP and event-loop numbers for the JSON metrics API. */
  readonly runtime: RuntimeStats;
  /** Per-pool numbers since the last reset (the JSON API's `GET /metrics/database/pool`). */
  getDatabaseMetrics(): DatabaseMetrics;
  /** Resets the windowed numbers and returns what they were just before. */
  resetDatabaseMetrics(): DatabaseMetrics;
  /**
   * Runs the test query (bounded by HEALTH_CHECK_TIMEOUT_MS, shared with any probe in flight) and
   * grades every pool.
   */
  checkDatabaseHealth(): Promise<HealthReport>;
  /**
   * Readiness: ready when started and the database answers its test query. The verdict of the test
   * query is cached for {@link READINESS_CACHE_MS}, so probes do not hammer the database.
   */
  readiness(): Promise<Readiness>;
  /** The database's health probe (single-flight, bounded, cached); its stats show what it ran. */
  readonly databaseProbe: DependencyProbe;
  performanceSummary(): PerformanceSummary;
  /** The effective configuration with secrets as `"***"`. */
  redactedConfig(): unknown;
  /** Current lifecycle state. */
  state(): LifecycleState;
  /** True only between a successful start() and the beginning of stop(). */
  isReady(): boolean;
  /** Why the last start() failed (a person-readable message), or null. */
  startError(): string | null;
  start(): Promise<void>;
  /** Marks the service not-ready at once (readiness 503) without stopping anything yet. */
  beginShutdown(): void;
  stop(): Promise<void>;
}

/** What `/health/ready` reports. */
export interface Readiness {
  readonly ready: boolean;
  readonly state: LifecycleState;
  /** Why the service is not ready (names the failing dependency, or the start-up error), or null. */
  readonly reason: string | null;
  /** Each dependency with its verdict and latency. */
  readonly dependencies: readonly DependencyHealth[];
}

/** How long readiness reuses the database's last verdict (ms). */
export const READINESS_CACHE_MS = 1000;

export interface ContainerOptions {
  readonly logger?: Logger;
  /** Overrides the adapter the config would build (tests use this to inject faults). */
  readonly adapter?: (config: Config, wiring: AdapterWiring) => DatabaseAdapter;
}

/** What an adapter is wired to: the pool observer and the operation instrumentation. */
export interface AdapterWiring {
  readonly observer: PoolObserver;
  readonly instrumentation: OperationInstrumentation;
}

const seconds = (s: number): number => Math.round(s * 1000);

/** The pool settings of the config, in the pool's units (also used by benchmarks and test seams). */
export function poolOptionsOf(config: Config): SqliteAdapterOptions['pool'] {
  const pool = config.pool;
  return {
    acquireTimeoutMs: seconds(pool.connectionTimeoutSeconds),
    maxWaitingClients: pool.maxWaitingRequests,
    idleTimeoutMs: seconds(pool.maxIdleTimeSeconds),
    maxLifetimeMs: seconds(pool.maxLifetimeSeconds),
    leakThresholdMs: seconds(pool.leakThresholdSeconds),
    healthCheckIntervalMs: seconds(pool.healthCheckIntervalSeconds),
    shutdownGraceMs: seconds(config.shutdownGraceSeconds),
    createTimeoutMs: seconds(Math.max(pool.connectionTimeoutSeconds, 5)),
  };
}

/**
 * The SQLite adapter's options as the config asks for them, wired to the metrics. Exported so that
 * fault tests can build the same adapter with a test seam added (`openConnection`) and pass it in
 * through {@link ContainerOptions.adapter}.
 */
export function sqliteAdapterOptions(config: Config, wiring: AdapterWiring): SqliteAdapterOptions {
  return {
    path: config.sqlite.path,
    mode: config.sqlite.executionMode,
    readers: { min: config.pool.minConnections, max: config.pool.maxConnections },
    pool: poolOptionsOf(config),
    busyTimeoutMs: config.sqlite.busyTimeoutMs,
    journalSizeLimitBytes: config.sqlite.journalSizeLimitBytes,
    instrumentation: wiring.instrumentation,
    observer: wiring.observer,
  };
}

/** Builds the adapter that the config asks for, wired to the metrics. */
export function createAdapter(config: Config, wiring: AdapterWiring): DatabaseAdapter {
  const pool = config.pool;
  const poolOptions = poolOptionsOf(config);
  if (config.databaseMode === 'supabase') {
    const supabase = config.supabase;
    // loadConfig guarantees it in supabase mode; a hand-built Config might not.
    if (supabase === null) throw new Error('DATABASE_MODE=supabase needs SUPABASE_URL and SUPABASE_KEY.');
    return new SupabaseAdapter({
      url: supabase.url,
      key: supabase.key,
      requestTimeoutMs: supabase.requestTimeoutMs,
      readRetries: supabase.readRetries,
      circuit: {
        failureThreshold: supabase.circuitFailureThreshold,
        windowMs: supabase.circuitWindowMs,
        cooldownMs: supabase.circuitCooldownMs,
      },
      connections: { min: pool.minConnections, max: pool.maxConnections },
      pool: poolOptions,
      instrumentation: wiring.instrumentation,
      observer: wiring.observer,
    });
  }
  return new SqliteAdapter(sqliteAdapterOptions(config, wiring));
}

export function createContainer(config: Config, options: ContainerOptions = {}): Container {
  const logger = options.logger ?? createLogger({ level: config.logLevel, serviceName: config.serviceName });
  const dbSystem = config.databaseMode === 'supabase' ? 'postgresql' : 'sqlite';
  const metrics = new ServiceMetrics({ enabled: config.pool.enableMetrics, dbSystem });
  const operations = new OperationObservability({
    dbSystem,
    metrics,
    logger,
    nPlusOneThreshold: config.nPlusOneThreshold,
  });
  const adapter = (options.adapter ?? createAdapter)(config, {
    // Metrics and spans observe the pools side by side (acquire and health-check spans).
    observer: composePoolObservers(metrics.poolObserver, createPoolTracingObserver({ dbSystem })),
    instrumentation: operations.instrumentation,
  });
  for (const pool of adapter.pools()) metrics.registerPool(pool);

  const runtime = new RuntimeStats();
  const databaseProbe = new DependencyProbe(
    config.databaseMode,
    () => adapter.healthCheck(),
    config.healthCheckTimeoutMs,
  );
  let state: LifecycleState = 'created';
  let lastStartError: string | null = null;
  /** How long the last failed start took (ms): the "latency" readiness shows for it. */
  let lastStartMs = 0;
  let starting: Promise<void> | null = null;
  let stopping: Promise<void> | null = null;

  async function doStart(): Promise<void> {
    state = 'starting';
    const startedAt = performance.now();
    try {
      if (config.databaseMode === 'sqlite' && config.sqlite.createDirectory) {
        fs.mkdirSync(path.dirname(config.sqlite.path), { recursive: true });
      }
      await adapter.start();
      lastStartError = null;
      // A stop() that began while we were starting wins.
      if (state === 'starting') state = 'ready';
      logger.info({ pools: adapter.pools().map((p) => p.snapshot()) }, 'database pools warm; service ready');
    } catch (err) {
      lastStartError = err instanceof Error ? err.message : String(err);
      lastStartMs = performance.now() - startedAt;
      if (state === 'starting') state = 'failed';
      throw err;
    }
  }

  const container: Container = {
    config,
    logger,
    metrics,
    operations,
    adapter,
    repositories: createRepositories(adapter),
    runtime,
    getDatabaseMetrics: () => databaseMetrics(adapter, config.databaseMode),
    resetDatabaseMetrics() {
      const before = databaseMetrics(adapter, config.databaseMode);
      for (const pool of adapter.pools()) pool.resetWindow();
      runtime.reset();
      return before;
    },
    checkDatabaseHealth: () => healthReport(adapter, () => databaseProbe.probe(0)),
    databaseProbe,
    async readiness() {
      if (state !== 'ready') {
        // Not started (or start failed, or stopping): the reason is known without asking the database.
        const reason = lastStartError ?? `the service is ${state}`;
        return {
          ready: false,
          state,
          reason,
          dependencies: [
            {
              name: databaseProbe.name,
              healthy: false,
              latency_ms: Math.round(lastStartMs * 10) / 10,
              error: reason,
              checked_at: new Date().toISOString(),
            },
          ],
        };
      }
      const database = await databaseProbe.probe(READINESS_CACHE_MS);
      const ready = database.healthy && state === 'ready';
      return {
        ready,
        state,
        reason: ready
          ? null
          : database.healthy
            ? `the service is ${state}`
            : `${database.name} is failing: ${database.error ?? 'unhealthy'}`,
        dependencies: [database],
      };
    },
    performanceSummary: () => performanceSummary(adapter, runtime, operations.nPlusOneSuspects()),
    redactedConfig: () => redactConfig(config),
    state: () => state,
    isReady: () => state === 'ready',
    startError: () => lastStartError,
    start() {
      if (stopping) return Promise.reject(new Error('The container has been stopped; build a new one.'));
      if (state === 'failed') starting = null; // allow a retry after a failed start
      starting ??= doStart();
      return starting;
    },
    beginShutdown() {
      if (state !== 'stopped') state = 'stopping';
    },
    stop() {
      stopping ??= (async () => {
        state = 'stopping';
        // Let an in-progress start settle first, so its pools are not half-built when we stop them.
        await starting?.catch(() => undefined);
        try {
          await adapter.stop();
        } finally {
          runtime.stop();
          state = 'stopped';
          logger.info('database pools stopped');
        }
      })();
      return stopping;
    },
  };
  return Object.freeze(container);
}
