/**
 * The SQLite migration runner: applies the numbered files of migrations/sqlite in order, each in
 * its own `BEGIN IMMEDIATE` transaction, and records it in `schema_migrations(version, name,
 * applied_at, checksum)`. Idempotent (applied versions are skipped) and safe against a second
 * process migrating the same file at the same moment (the IMMEDIATE lock serialises them and the
 * version is re-checked under it). Refuses to run when an applied file's checksum changed.
 *
 * It runs wherever the writer connection lives (the writer worker thread, or the main thread in
 * inline mode and in tools), so it depends only on the few database members it calls.
 */
import { MigrationError, pendingMigrations, type MigrationFile } from '../shared/migration-files.js';

/** The better-sqlite3 members the runner calls (a Database satisfies it). */
export interface MigratableDatabase {
  exec(sql: string): unknown;
  prepare(sql: string): {
    all(...params: unknown[]): unknown[];
    get(...params: unknown[]): unknown;
    run(...params: unknown[]): unknown;
  };
  readonly inTransaction: boolean;
}

/** A migration applied by this call. */
export interface AppliedMigration {
  readonly version: number;
  readonly name: string;
}

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version    INTEGER NOT NULL PRIMARY KEY,
  name       TEXT    NOT NULL,
  applied_at TEXT    NOT NULL,
  checksum   TEXT    NOT NULL
) STRICT`;

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
}

function isAppliedRow(value: unknown): value is AppliedRow {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return typeof v.version === 'number' && typeof v.name === 'string' && typeof v.checksum === 'string';
}

function appliedRows(db: MigratableDatabase): AppliedRow[] {
  return db
    .prepare('SELECT version, name, checksum FROM schema_migrations ORDER BY version')
    .all()
    .filter(isAppliedRow);
}

/**
 * Applies the pending `files` to `db`. `where` names the database in error messages (its path).
 * Returns the migrations applied by this call (empty when the database was up to date).
 * Migration files must not contain their own BEGIN/COMMIT.
 */
export function applySqliteMigrations(
  db: MigratableDatabase,
  files: readonly MigrationFile[],
  where = 'the SQLite database',
): AppliedMigration[] {
  db.exec(CREATE_TABLE);
  // Verify every applied file before touching anything, so an edited migration stops start-up
  // even when nothing is pending.
  const pending = pendingMigrations(files, appliedRows(db), where);
  const applied: AppliedMigration[] = [];
  for (const file of pending) {
    db.exec('BEGIN IMMEDIATE');
    try {
      // Another process may have applied it between our check and our lock.
      const now = appliedRows(db);
      if (now.some((r) => r.version === file.version)) {
        pendingMigrations(files, now, where);
        db.exec('COMMIT');
        continue;
      }
      db.exec(file.sql);
      db.prepare(
        'INSERT INTO schema_migrations (version, name, applied_at, checksum) VALUES (?, ?, ?, ?)',
      ).run(file.version, file.name, new Date().toISOString(), file.checksum);
      db.exec('COMMIT');
      applied.push({ version: file.version, name: file.name });
    } catch (err) {
      if (db.inTransaction) db.exec('ROLLBACK');
      if (err instanceof MigrationError) throw err;
      const reason = err instanceof Error ? err.message : String(err);
      throw new MigrationError(
        `Migration ${file.name} failed on ${where}; nothing of it was applied: ${reason}`,
        err,
      );
    }
  }
  return applied;
}
