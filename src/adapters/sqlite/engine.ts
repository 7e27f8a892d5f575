/**
 * One better-sqlite3 connection and everything that runs *on* it: pragmas, the prepared-statement
 * cache, statements, batch transactions, migrations, close. The same class runs inside a worker
 * thread (worker.ts) and, in inline mode, on the main thread (InlineConnection), so the two modes
 * differ only in how requests reach it.
 */
import Database from 'better-sqlite3';

import type { MigrationFile } from '../shared/migration-files.js';
import { applySqliteMigrations, type AppliedMigration } from './migrations.js';
import {
  DEFAULT_JOURNAL_SIZE_LIMIT_BYTES,
  FOLD_FUNCTION,
  ROW_NOT_FOUND,
  type CompactRows,
  type EngineOptions,
  type StatementMode,
  type TransactionStep,
} from './protocol.js';

/** Prepared statements kept per connection (least recently used evicted beyond this). */
const STATEMENT_CACHE_SIZE = 500;

/**
 * The pragmas every connection gets (design §5), in the order they are applied.
 *
 * `journal_size_limit`: SQLite checkpoints the WAL on its own (`wal_autocheckpoint`, 1000 pages) and
 * then rewinds it, but never shrinks the file. After a long reader held checkpoints back while
 * writes went on, the WAL would keep its high-water size (tens of MB) for good; with the limit, the
 * next rewind after the reader is gone truncates it back to this size.
 */
export function connectionPragmas(
  busyTimeoutMs: number,
  journalSizeLimitBytes: number = DEFAULT_JOURNAL_SIZE_LIMIT_BYTES,
): string[] {
  return [
    // Before anything else, so that even the journal-mode switch waits for a locking writer.
    `busy_timeout = ${Math.trunc(busyTimeoutMs)}`,
    'journal_mode = WAL',
    'synchronous = NORMAL',
    'foreign_keys = ON',
    'cache_size = -64000',
    'mmap_size = 268435456',
    'temp_store = MEMORY',
    `journal_size_limit = ${Math.trunc(journalSizeLimitBytes)}`,
  ];
}

/** An error with the failing execution's position in a batch attached. */
function withRowIndex(err: unknown, rowIndex: number): unknown {
  if (err instanceof Error) Object.assign(err, { rowIndex });
  return err;
}

export class SqliteEngine {
  readonly role: 'reader' | 'writer';
  readonly #db: Database.Database;
  readonly #statements = new Map<string, Database.Statement<unknown[]>>();
  /** Result column names per prepared statement (fixed once prepared). */
  readonly #columns = new WeakMap<Database.Statement<unknown[]>, string[]>();
  readonly #path: string;

  private constructor(db: Database.Database, options: EngineOptions) {
    this.#db = db;
    this.role = options.role;
    this.#path = options.path;
  }

  /**
   * Opens the file and applies the pragmas. Readers open read-only and require the file to exist
   * (the writer creates and migrates it first). Throws the driver's error (with its SQLITE_* code).
   */
  static open(options: EngineOptions): SqliteEngine {
    const readonly = options.role === 'reader';
    const db = new Database(options.path, {
      readonly,
      fileMustExist: readonly,
      timeout: options.busyTimeoutMs,
    });
    try {
      for (const pragma of connectionPragmas(options.busyTimeoutMs, options.journalSizeLimitBytes)) {
        if (readonly && pragma.startsWith('journal_mode')) {
          // A read-only connection cannot switch the journal mode; the writer already did (it is
          // persistent in the file), and this checks it instead of silently reading in another mode.
          const mode = db.pragma('journal_mode', { simple: true });
          if (mode !== 'wal')
            throw Object.assign(new Error(`database is in ${String(mode)} mode, not WAL`), {
              code: 'SQLITE_READONLY',
            });
          continue;
        }
        db.pragma(pragma);
      }
      // SQLite's lower() folds ASCII only; JavaScript's toLowerCase() folds all of Unicode, like
      // PostgreSQL's ILIKE under a UTF-8 locale, so both backends match "É" with "é".
      db.function(FOLD_FUNCTION, { deterministic: true }, (value: unknown) =>
        typeof value === 'string' ? value.toLowerCase() : value,
      );
    } catch (err) {
      db.close();
      throw err;
    }
    return new SqliteEngine(db, options);
  }

  #prepare(sql: string): Database.Statement<unknown[]> {
    let statement = this.#statements.get(sql);
    if (statement !== undefined) {
      // Re-insert to keep the Map in least-recently-used order.
      this.#statements.delete(sql);
      this.#statements.set(sql, statement);
      return statement;
    }
    statement = this.#db.prepare<unknown[]>(sql);
    this.#statements.set(sql, statement);
    if (this.#statements.size > STATEMENT_CACHE_SIZE) {
      const oldest = this.#statements.keys().next();
      if (oldest.done !== true) this.#statements.delete(oldest.value);
    }
    return statement;
  }

  /** Runs one statement: all rows, the first row (or undefined), or the number of changed rows. */
  execute(mode: StatementMode, sql: string, params: readonly unknown[]): unknown {
    const statement = this.#prepare(sql);
    switch (mode) {
      case 'all':
        return statement.all(...params);
      case 'get':
        return statement.get(...params);
      case 'run':
        return statement.run(...params).changes;
    }
  }

  /**
   * Runs an `all` statement and returns its rows as `[columns, values-per-row]` (what the worker
   * sends back: cheaper to clone than one object per row).
   */
  executeCompact(sql: string, params: readonly unknown[]): CompactRows {
    const statement = this.#prepare(sql);
    let columns = this.#columns.get(statement);
    if (columns === undefined) {
      columns = statement.columns().map((c) => c.name);
      this.#columns.set(statement, columns);
    }
    try {
      return [columns, statement.raw(true).all(...params) as unknown[][]];
    } finally {
      // The statement object is shared with object-mode callers (execute, transaction).
      statement.raw(false);
    }
  }

  /**
   * Runs the steps in one transaction (BEGIN IMMEDIATE: the write lock is taken up front, so a
   * batch never fails half-way on SQLITE_BUSY from a lock upgrade). Returns, per step, the result
   * of each execution. Any error rolls everything back and carries `rowIndex`.
   */
  transaction(steps: readonly TransactionStep[]): unknown[][] {
    const run = this.#db.transaction((): unknown[][] => {
      const results: unknown[][] = [];
      let rowIndex = 0;
      for (const step of steps) {
        const statement = this.#prepare(step.sql);
        const out: unknown[] = [];
        for (const params of step.params) {
          let result: unknown;
          try {
            result =
              step.mode === 'all'
                ? statement.all(...params)
                : step.mode === 'get'
                  ? statement.get(...params)
                  : statement.run(...params).changes;
          } catch (err) {
            throw withRowIndex(err, rowIndex);
          }
          if (step.requireRow === true && (result === undefined || result === 0)) {
            throw withRowIndex(Object.assign(new Error('no row matched'), { code: ROW_NOT_FOUND }), rowIndex);
          }
          out.push(result);
          rowIndex++;
        }
        results.push(out);
      }
      return results;
    });
    return run.immediate();
  }

  /** Applies pending migrations (writer only). */
  migrate(files: readonly MigrationFile[], where: string): AppliedMigration[] {
    return applySqliteMigrations(this.#db, files, where);
  }

  /**
   * Prepares statements ahead of their first use (pool warm-up). Returns how many were prepared;
   * one that fails (a table this database does not have) is skipped: warming is an optimisation,
   * and the real call will report the problem.
   */
  prepareAll(sqls: readonly string[]): number {
    let prepared = 0;
    for (const sql of sqls) {
      try {
        this.#prepare(sql);
        prepared++;
      } catch {
        // Skipped on purpose (see above).
      }
    }
    return prepared;
  }

  /** A cheap round trip proving the connection answers. */
  ping(): boolean {
    return this.#prepare('SELECT 1').get() !== undefined;
  }

  /**
   * Closes the connection. The writer first checkpoints the WAL and truncates it, so the database
   * file is complete on its own and the WAL does not keep its high-water size on disk.
   */
  close(): void {
    if (!this.#db.open) return;
    if (this.role === 'writer') {
      try {
        this.#db.pragma('wal_checkpoint(TRUNCATE)');
      } catch {
        // A failed checkpoint (e.g. a reader of another process holds a snapshot) loses nothing:
        // the WAL stays and the next open replays it. Closing must still happen.
      }
    }
    this.#statements.clear();
    this.#db.close();
  }

  /** The database file this connection has open. */
  get path(): string {
    return this.#path;
  }
}
