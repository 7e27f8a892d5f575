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
import type { DatabaseAdapter, OperationInstrumentation } from './adapters/contract.js';
import { SqliteAdapter } from './adapters/sqlite/index.js';
import { SupabaseAdapter } from './adapters/supabase/index.js';
import { redactConfig, type Config } from './config/index.js';
import {
  databaseMetrics,
  healthReport,
  performanceSummary,
  type DatabaseMetrics,
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
  /** Runs the test query and grades every pool. */
  checkDatabaseHealth(): Promise<HealthReport>;
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

/** Builds the adapter that the config asks for, wired to the metrics. */
function createAdapter(config: Config, wiring: AdapterWiring): DatabaseAdapter {
  const pool = config.pool;
  const poolOptions = {
    acquireTimeoutMs: seconds(pool.connectionTimeoutSeconds),
    maxWaitingClients: pool.maxWaitingRequests,
    idleTimeoutMs: seconds(pool.maxIdleTimeSeconds),
    maxLifetimeMs: seconds(pool.maxLifetimeSeconds),
    leakThresholdMs: seconds(pool.leakThresholdSeconds),
    healthCheckIntervalMs: seconds(pool.healthCheckIntervalSeconds),
    shutdownGraceMs: seconds(config.shutdownGraceSeconds),
    createTimeoutMs: seconds(Math.max(pool.connectionTimeoutSeconds, 5)),
  };
  if (config.databaseMode === 'supabase') {
    const supabase = config.supabase;
    // loadConfig guarantees it in supabase mode; a hand-built Config might not.
    if (supabase === null) throw new Error('DATABASE_MODE=supabase needs SUPABASE_URL and SUPABASE_KEY.');
    return new SupabaseAdapter({
      url: supabase.url,
      key: supabase.key,
      requestTimeoutMs: supabase.requestTimeoutMs,
      readRetries: supabase.readRetries,
      connections: { min: pool.minConnections, max: pool.maxConnections },
      pool: poolOptions,
      instrumentation: wiring.instrumentation,
      observer: wiring.observer,
    });
  }
  return new SqliteAdapter({
    path: config.sqlite.path,
    mode: config.sqlite.executionMode,
    readers: { min: pool.minConnections, max: pool.maxConnections },
    pool: poolOptions,
    busyTimeoutMs: config.sqlite.busyTimeoutMs,
    instrumentation: wiring.instrumentation,
    observer: wiring.observer,
  });
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
  let state: LifecycleState = 'created';
  let lastStartError: string | null = null;
  let starting: Promise<void> | null = null;
  let stopping: Promise<void> | null = null;

  async function doStart(): Promise<void> {
    state = 'starting';
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
    checkDatabaseHealth: () => healthReport(adapter),
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
