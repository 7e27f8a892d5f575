/**
 * The PostgREST-protocol test server (see README.md in this folder): what tests may import.
 */
export { startPostgrestTestServer } from './server.js';
export type { PostgrestTestServer, PostgrestTestServerOptions } from './server.js';
export type { FaultController, RefuseMode, ResetPhase } from './faults.js';
export type { FaultKind, RecordedRequest, ServerStats } from './stats.js';
export { createPgExecutor, createPgliteExecutor, TEST_DATABASE_PREFIX } from './executor.js';
export type {
  PgExecutorOptions,
  SqlExecutor,
  SqlParam,
  SqlQueryable,
  SqlResult,
  TransactionOptions,
} from './executor.js';
export type { PostgrestErrorBody } from './errors.js';
