/**
 * Builds SQLite adapters on throwaway files for the contract suite and the SQLite unit tests.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { OperationInfo, OperationInstrumentation } from '../../src/adapters/contract.js';
import {
  SqliteAdapter,
  type SqliteAdapterOptions,
  type SqlitePoolSettings,
} from '../../src/adapters/sqlite/index.js';

/** Pool settings for tests: generous timeouts, no background timers unless a test asks. */
export const TEST_POOL_SETTINGS: SqlitePoolSettings = Object.freeze({
  acquireTimeoutMs: 10_000,
  maxWaitingClients: 1_000,
  idleTimeoutMs: 60_000,
  maxLifetimeMs: 0,
  leakThresholdMs: 0,
  healthCheckIntervalMs: 0,
  shutdownGraceMs: 2_000,
  createTimeoutMs: 15_000,
});

/** A fresh temporary directory; remove it with {@link removeDir}. */
export function makeTempDir(prefix = 'bw-sqlite-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Instrumentation that records every operation (and still runs it). */
export function recordingInstrumentation(): {
  instrumentation: OperationInstrumentation;
  operations: OperationInfo[];
} {
  const operations: OperationInfo[] = [];
  return {
    operations,
    instrumentation: {
      run<T>(info: OperationInfo, fn: () => Promise<T>): Promise<T> {
        operations.push(info);
        return fn();
      },
    },
  };
}

export interface SqliteTestAdapter {
  readonly adapter: SqliteAdapter;
  readonly dir: string;
  readonly path: string;
  readonly operations: OperationInfo[];
  /** Stops the adapter and deletes the directory. */
  cleanup(): Promise<void>;
}

/** A started (unless `start: false`) adapter on `<tempdir>/test.db`. */
export async function createSqliteAdapter(
  mode: 'worker' | 'inline',
  overrides: Partial<SqliteAdapterOptions> & { start?: boolean } = {},
): Promise<SqliteTestAdapter> {
  const dir = makeTempDir();
  const file = path.join(dir, 'test.db');
  const { instrumentation, operations } = recordingInstrumentation();
  const { start = true, ...options } = overrides;
  const adapter = new SqliteAdapter({
    path: file,
    mode,
    readers: { min: 2, max: 4 },
    pool: TEST_POOL_SETTINGS,
    busyTimeoutMs: 2_000,
    instrumentation,
    ...options,
  });
  const cleanup = async (): Promise<void> => {
    try {
      await adapter.stop();
    } finally {
      removeDir(dir);
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
  return { adapter, dir, path: file, operations, cleanup };
}
