/**
 * Adapters built the way the service builds them (src/container.ts `createAdapter`), from a Config
 * parsed with the service's own defaults, so a benchmark measures the default configuration
 * unless it says otherwise.
 */
import path from 'node:path';

import type { OperationInfo, OperationInstrumentation } from '../../src/adapters/contract.js';
import {
  SqliteAdapter,
  type SqliteExecutionMode,
  type SqlitePoolSettings,
} from '../../src/adapters/sqlite/index.js';
import { loadConfig, type Config, type Env } from '../../src/config/index.js';
import { poolOptionsOf } from '../../src/container.js';

/** The pool options the container derives from a Config. */
export function poolSettings(config: Config): SqlitePoolSettings {
  return poolOptionsOf(config);
}

/**
 * What every benchmarked service runs with besides the defaults: quiet logs, and the per-client
 * write rate limit off (all benchmark traffic comes from one loopback client; the benchmarks
 * measure the data path, not the limiter).
 */
export const BENCH_ENV: Env = Object.freeze({ LOG_LEVEL: 'silent', RATE_LIMIT_WRITES_PER_MINUTE: '0' });

/** A Config with the service defaults, a database file in `dir`, {@link BENCH_ENV}, and `env` on top. */
export function benchConfig(dir: string, env: Env = {}): Config {
  return loadConfig({ SQLITE_DB_PATH: path.join(dir, 'bench.db'), ...BENCH_ENV, ...env }, dir);
}

export interface SqliteBenchOptions {
  readonly mode?: SqliteExecutionMode;
  readonly readers?: { min: number; max: number };
  /** Overrides of the pool settings (e.g. leakThresholdMs: 0). */
  readonly pool?: Partial<SqlitePoolSettings>;
  readonly instrumentation?: OperationInstrumentation;
}

/** A SQLite adapter as the service would build it from `config`, with optional overrides. */
export function sqliteAdapter(config: Config, options: SqliteBenchOptions = {}): SqliteAdapter {
  return new SqliteAdapter({
    path: config.sqlite.path,
    mode: options.mode ?? config.sqlite.executionMode,
    readers: options.readers ?? { min: config.pool.minConnections, max: config.pool.maxConnections },
    pool: { ...poolSettings(config), ...options.pool },
    busyTimeoutMs: config.sqlite.busyTimeoutMs,
    ...(options.instrumentation ? { instrumentation: options.instrumentation } : {}),
  });
}

/** Counts operations at the adapter's instrumentation seam (one per statement or batch). */
export class OperationCounter implements OperationInstrumentation {
  readonly operations: OperationInfo[] = [];
  run<T>(info: OperationInfo, fn: () => Promise<T>): Promise<T> {
    this.operations.push(info);
    return fn();
  }
  get count(): number {
    return this.operations.length;
  }
  reset(): void {
    this.operations.length = 0;
  }
}
