/**
 * The SQLite adapter's public surface. Everything else in this folder (engine, worker protocol,
 * SQL text, codec) is internal.
 */
export { SqliteAdapter, type SqliteAdapterOptions, type SqlitePoolSettings } from './adapter.js';
export {
  InlineConnection,
  WorkerConnection,
  openConnection,
  type RawRow,
  type SqliteConnection,
  type SqliteExecutionMode,
} from './connection.js';
export { connectionPragmas } from './engine.js';
export { mapSqliteError, type SqliteErrorContext } from './errors.js';
export { applySqliteMigrations, type AppliedMigration, type MigratableDatabase } from './migrations.js';
export type { EngineOptions, StatementMode, TransactionStep } from './protocol.js';
