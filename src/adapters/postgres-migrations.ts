/**
 * The PostgreSQL migration runner, for tests and tooling (the Supabase adapter does not migrate:
 * PostgREST has no DDL). Applies migrations/postgres/NNNN_*.sql in order, each in its own
 * transaction, recorded in `schema_migrations(version, name, applied_at, checksum)` like the
 * SQLite runner; idempotent; refuses to run when an applied file's checksum changed.
 *
 * It takes any client with `query(sql, params?)` (a `pg` Client or PoolClient; one session, since
 * the transaction spans several calls), so this module needs no `pg` import.
 */
import { migrationsDir } from '../paths.js';
import {
  MigrationError,
  loadMigrationFiles,
  pendingMigrations,
  type MigrationFile,
} from './shared/migration-files.js';

/** The one member of a `pg` client the runner calls. */
export interface SqlClient {
  query(sql: string, params?: unknown[]): Promise<unknown>;
}

export interface PostgresMigrationOptions {
  /** Schema to create the tables (and schema_migrations) in; default: the session's search_path (`public`). */
  readonly schema?: string;
  /** Directory of the migration files (default `migrations/postgres` of the project). */
  readonly dir?: string;
  /** The files themselves, instead of reading `dir` (tests). */
  readonly files?: readonly MigrationFile[];
}

/** A migration applied by this call. */
export interface AppliedPostgresMigration {
  readonly version: number;
  readonly name: string;
}

/**
 * Arbitrary constant key for pg_advisory_xact_lock: two processes migrating the same database
 * take turns instead of both running CREATE TABLE.
 */
const LOCK_KEY = 7_314_159_265;

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
}

function rowsOf(result: unknown): unknown[] {
  const rows =
    result !== null && typeof result === 'object' ? (result as { rows?: unknown }).rows : undefined;
  if (!Array.isArray(rows)) throw new MigrationError('The PostgreSQL client returned a result without rows.');
  return rows;
}

function appliedRowsOf(result: unknown): AppliedRow[] {
  return rowsOf(result).map((row) => {
    const r = row as Record<string, unknown>;
    return { version: Number(r.version), name: String(r.name), checksum: String(r.checksum) };
  });
}

/**
 * Applies the pending migrations through `client`. Returns the migrations applied by this call
 * (empty when the database was up to date). Each file runs in one transaction with the advisory
 * lock held, and the applied list is re-read under that lock before each file.
 */
export async function applyPostgresMigrations(
  client: SqlClient,
  options: PostgresMigrationOptions = {},
): Promise<AppliedPostgresMigration[]> {
  const files = options.files ?? loadMigrationFiles(options.dir ?? migrationsDir('postgres'));
  const where =
    options.schema === undefined ? 'the PostgreSQL database' : `PostgreSQL schema ${options.schema}`;
  const applied: AppliedPostgresMigration[] = [];
  for (;;) {
    await client.query('begin');
    let file: MigrationFile | undefined;
    try {
      // SET LOCAL: the search path lasts for this transaction only, so the caller's session is unchanged.
      if (options.schema !== undefined)
        await client.query(`set local search_path to ${quoteIdentifier(options.schema)}`);
      await client.query('select pg_advisory_xact_lock($1)', [LOCK_KEY]);
      await client.query(
        `create table if not exists schema_migrations (
           version    integer     primary key,
           name       text        not null,
           applied_at timestamptz not null default now(),
           checksum   text        not null
         )`,
      );
      const done = appliedRowsOf(
        await client.query('select version, name, checksum from schema_migrations order by version'),
      );
      file = pendingMigrations(files, done, where)[0];
      if (file !== undefined) {
        await client.query(file.sql);
        await client.query('insert into schema_migrations (version, name, checksum) values ($1, $2, $3)', [
          file.version,
          file.name,
          file.checksum,
        ]);
      }
      await client.query('commit');
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      if (err instanceof MigrationError) throw err;
      const reason = err instanceof Error ? err.message : String(err);
      throw new MigrationError(
        `Migration ${file?.name ?? '(bookkeeping)'} failed on ${where}; nothing of it was applied: ${reason}`,
        err,
      );
    }
    if (file === undefined) return applied;
    applied.push({ version: file.version, name: file.name });
  }
}
