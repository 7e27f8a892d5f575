/**
 * One tiny interface over the two databases the test server can run on: a real PostgreSQL
 * (through `pg`, in a database created for this run and dropped at the end) or an embedded PGlite
 * (WASM PostgreSQL, so the suite passes on a machine with only Node).
 *
 * Sessions run with `TimeZone=UTC`, as Supabase databases do, so timestamptz values serialise as
 * `…+00:00` like they do behind a real Supabase PostgREST.
 */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Client, Pool, escapeIdentifier } from 'pg';
import type { PoolClient } from 'pg';

/** A value bound to a `$n` placeholder. Text is sent untyped, so PostgreSQL infers the type. */
export type SqlParam = string | number | boolean | null;

export interface SqlResult<R> {
  readonly rows: R[];
  readonly fields: readonly { readonly name: string }[];
  /** Rows returned or affected (the command tag's count); 0 when the statement has none. */
  readonly rowCount: number;
}

/** Anything that runs one parameterised statement. */
export interface SqlQueryable {
  query<R extends object = Record<string, unknown>>(
    text: string,
    params?: readonly SqlParam[],
  ): Promise<SqlResult<R>>;
}

export interface TransactionOptions {
  /** `BEGIN READ ONLY`, like PostgREST does for GET and HEAD. */
  readonly readOnly?: boolean;
}

export interface SqlExecutor extends SqlQueryable {
  readonly backend: 'postgres' | 'pglite';
  /** Where the data lives, without credentials (for test titles and failure messages). */
  readonly description: string;
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: SqlQueryable) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** Runs a multi-statement script (a migration) in one transaction. */
  execScript(sql: string): Promise<void>;
  /** Closes connections (and drops the database this executor created). Idempotent. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// PGlite
// ---------------------------------------------------------------------------------------------

/**
 * initdb inside PGlite takes 5–10 s; loading a dumped data directory takes well under 1 s. The
 * first instance pays initdb once and saves the pristine directory in the OS temp dir (keyed by
 * the installed PGlite build), so later instances — in this process and in later runs — load it.
 */
let pristineDataDir: Promise<Blob> | undefined;

function pristineCacheFile(): string {
  const entry = require.resolve('@electric-sql/pglite');
  const { size, mtimeMs } = statSync(entry);
  return join(tmpdir(), `bw-pglite-pristine-${size}-${Math.trunc(mtimeMs)}.tar`);
}

async function initdbDataDir(file: string): Promise<Blob> {
  const db = await PGlite.create();
  try {
    const dump = await db.dumpDataDir('none');
    // Write-then-rename: a concurrent run never reads a half-written file.
    const partial = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.partial`;
    await writeFile(partial, Buffer.from(await dump.arrayBuffer()));
    await rename(partial, file).catch(() => unlink(partial).catch(() => undefined));
    return dump;
  } finally {
    await db.close();
  }
}

function pristinePgliteDataDir(): Promise<Blob> {
  pristineDataDir ??= (async () => {
    const file = pristineCacheFile();
    try {
      return new Blob([await readFile(file)]);
    } catch {
      return initdbDataDir(file);
    }
  })();
  // A failed initdb must not poison every later attempt.
  pristineDataDir.catch(() => {
    pristineDataDir = undefined;
  });
  return pristineDataDir;
}

async function openPglite(): Promise<PGlite> {
  try {
    return await PGlite.create({ loadDataDir: await pristinePgliteDataDir() });
  } catch {
    // A damaged cache file: forget it and start from a fresh initdb.
    const file = pristineCacheFile();
    await unlink(file).catch(() => undefined);
    pristineDataDir = initdbDataDir(file);
    return PGlite.create({ loadDataDir: await pristineDataDir });
  }
}

function pgliteQueryable(db: Pick<PGlite, 'query'>): SqlQueryable {
  return {
    async query<R extends object>(text: string, params: readonly SqlParam[] = []): Promise<SqlResult<R>> {
      const result = await db.query<R>(text, [...params]);
      return {
        rows: result.rows,
        fields: result.fields.map((field) => ({ name: field.name })),
        rowCount: result.affectedRows ?? result.rows.length,
      };
    },
  };
}

/** An in-memory PGlite (PostgreSQL 17+ in WASM): one session, so statements are serialised. */
export async function createPgliteExecutor(): Promise<SqlExecutor> {
  const db = await openPglite();
  await db.exec(`SET TIME ZONE 'UTC'`);
  const queryable = pgliteQueryable(db);
  let closing: Promise<void> | undefined;
  return {
    backend: 'pglite',
    description: 'PGlite (in-memory)',
    query: queryable.query,
    transaction<T>(fn: (tx: SqlQueryable) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
      return db.transaction(async (tx) => {
        if (options.readOnly === true) await tx.query('SET TRANSACTION READ ONLY');
        return fn(pgliteQueryable(tx));
      });
    },
    async execScript(sql: string): Promise<void> {
      await db.transaction(async (tx) => {
        await tx.exec(sql);
      });
    },
    close(): Promise<void> {
      closing ??= db.closed ? Promise.resolve() : db.close();
      return closing;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL through pg
// ---------------------------------------------------------------------------------------------

/** Prefix of the databases this module creates; `<prefix><pid>_<random>`. */
export const TEST_DATABASE_PREFIX = 'bw_pgrst_';

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password !== '') parsed.password = '***';
  return parsed.toString();
}

function isLocalHost(url: string): boolean {
  const host = new URL(url).hostname;
  return host === '127.0.0.1' || host === 'localhost' || host === '::1' || host === '[::1]' || host === '';
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function dropDatabase(admin: Client, name: string): Promise<void> {
  // Terminate first (works before PostgreSQL 13's DROP … WITH (FORCE)).
  await admin.query(
    'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
    [name],
  );
  await admin.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(name)}`);
}

/**
 * Drops databases left by earlier runs that crashed before `stop()`. Only on a local server,
 * where the pid in the name identifies a process on this machine.
 */
async function dropOrphanedDatabases(admin: Client, url: string): Promise<void> {
  if (!isLocalHost(url)) return;
  const { rows } = await admin.query<{ datname: string }>(
    `SELECT datname FROM pg_database WHERE datname LIKE $1`,
    [`${TEST_DATABASE_PREFIX.replace(/_/g, '\\_')}%`],
  );
  for (const { datname } of rows) {
    const pid = Number(/^bw_pgrst_(\d+)_/.exec(datname)?.[1]);
    if (Number.isInteger(pid) && pid !== process.pid && !processIsAlive(pid)) {
      await dropDatabase(admin, datname).catch(() => undefined);
    }
  }
}

async function withAdminClient<T>(url: string, fn: (admin: Client) => Promise<T>): Promise<T> {
  const admin = new Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.end().catch(() => undefined);
  }
}

export interface PgExecutorOptions {
  /** A URL of the server; its database is used only to create and drop the run's own database. */
  readonly databaseUrl: string;
  /** Pool size (default 10). */
  readonly maxConnections?: number;
}

/**
 * Creates `bw_pgrst_<pid>_<random>` on the server behind `databaseUrl` (CREATEDB privilege needed),
 * connects a pool to it, and drops it on `close()`.
 */
export async function createPgExecutor(options: PgExecutorOptions): Promise<SqlExecutor> {
  const baseUrl = options.databaseUrl;
  const name = `${TEST_DATABASE_PREFIX}${process.pid}_${randomBytes(4).toString('hex')}`;
  await withAdminClient(baseUrl, async (admin) => {
    await dropOrphanedDatabases(admin, baseUrl);
    await admin.query(`CREATE DATABASE ${escapeIdentifier(name)}`);
    await admin.query(`ALTER DATABASE ${escapeIdentifier(name)} SET "TimeZone" TO 'UTC'`);
  });

  const url = withDatabase(baseUrl, name);
  const pool = new Pool({
    connectionString: url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: 10_000,
  });
  // An idle client losing its server (e.g. the database being dropped) must not crash the process.
  pool.on('error', () => undefined);

  const queryable = (client: Pool | PoolClient): SqlQueryable => ({
    async query<R extends object>(text: string, params: readonly SqlParam[] = []): Promise<SqlResult<R>> {
      const result = await client.query<R & Record<string, unknown>>(text, [...params]);
      return {
        rows: result.rows,
        fields: result.fields.map((f) => ({ name: f.name })),
        rowCount: result.rowCount ?? 0,
      };
    },
  });

  const transaction = async <T>(
    fn: (tx: SqlQueryable) => Promise<T>,
    txOptions: TransactionOptions = {},
  ): Promise<T> => {
    const client = await pool.connect();
    let broken = false;
    try {
      await client.query(txOptions.readOnly === true ? 'BEGIN READ ONLY' : 'BEGIN');
      const result = await fn(queryable(client));
      await client.query('COMMIT');
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw error;
    } finally {
      // A client whose ROLLBACK failed is in an unknown state: destroy it instead of reusing it.
      client.release(broken);
    }
  };

  let closing: Promise<void> | undefined;
  return {
    backend: 'postgres',
    description: `PostgreSQL ${redact(url)}`,
    query: queryable(pool).query,
    transaction,
    async execScript(sql: string): Promise<void> {
      const client = await pool.connect();
      try {
        // Without parameters pg uses the simple protocol, which runs several statements at once
        // (and returns one result per statement, hence no `queryable` wrapper here).
        await client.query('BEGIN');
        await client.query(sql);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    },
    close(): Promise<void> {
      closing ??= (async () => {
        await pool.end().catch(() => undefined);
        await withAdminClient(baseUrl, (admin) => dropDatabase(admin, name));
      })();
      return closing;
    },
  };
}
