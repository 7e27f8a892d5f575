/**
 * Reading the numbered SQL migration files (`migrations/<backend>/NNNN_name.sql`) for the SQLite
 * and PostgreSQL runners, which record each applied file's checksum in `schema_migrations` and
 * refuse to start when an applied file has since been edited.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { DatabaseError } from '../../errors/index.js';

/** A migration could not be read, applied or verified (code INTERNAL: an operator must act). */
export class MigrationError extends DatabaseError {
  constructor(message: string, cause?: unknown) {
    super('INTERNAL', message, cause === undefined ? {} : { cause });
  }
}

/** One migration file. */
export interface MigrationFile {
  /** The number before the first underscore (`0001_initial.sql` → 1). */
  readonly version: number;
  /** The file name, e.g. `0001_initial.sql`. */
  readonly name: string;
  readonly sql: string;
  /** sha256 (hex) of the file with line endings normalised to `\n`. */
  readonly checksum: string;
}

const FILE_PATTERN = /^(\d+)_[A-Za-z0-9_-]+\.sql$/;

/** The checksum recorded for a migration: line endings normalised, so a CRLF checkout matches. */
export function migrationChecksum(sql: string): string {
  return createHash('sha256').update(sql.replace(/\r\n/g, '\n'), 'utf8').digest('hex');
}

/**
 * Reads every `*.sql` file of `dir`, sorted by version. A `.sql` file that does not follow the
 * `NNNN_name.sql` pattern, or two files with the same version, is an error rather than silently
 * skipped: a migration that never runs is worse than a start-up that stops and says why.
 */
export function loadMigrationFiles(dir: string): MigrationFile[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    throw new MigrationError(`Cannot read the migrations directory ${dir}: ${(err as Error).message}`, err);
  }
  const files: MigrationFile[] = [];
  const seen = new Map<number, string>();
  for (const name of names.filter((n) => n.endsWith('.sql')).sort()) {
    const match = FILE_PATTERN.exec(name);
    if (match === null) {
      throw new MigrationError(`Migration file ${path.join(dir, name)} is not named NNNN_description.sql.`);
    }
    const version = Number(match[1]);
    const other = seen.get(version);
    if (other !== undefined) {
      throw new MigrationError(
        `Migrations ${other} and ${name} in ${dir} have the same version number ${version}.`,
      );
    }
    seen.set(version, name);
    const sql = fs.readFileSync(path.join(dir, name), 'utf8');
    files.push({ version, name, sql, checksum: migrationChecksum(sql) });
  }
  return files.sort((a, b) => a.version - b.version);
}

/**
 * Checks the applied migrations recorded in a database against the files: every applied version
 * must still exist with the same checksum. Returns the files not applied yet, in order.
 */
export function pendingMigrations(
  files: readonly MigrationFile[],
  applied: readonly { version: number; name: string; checksum: string }[],
  where: string,
): MigrationFile[] {
  const byVersion = new Map(files.map((f) => [f.version, f]));
  for (const row of applied) {
    const file = byVersion.get(row.version);
    if (file === undefined) {
      throw new MigrationError(
        `${where} has migration ${row.version} (${row.name}) applied, but this build has no such file: ` +
          'the database was migrated by a newer version of the service. Deploy that version or restore a matching backup.',
      );
    }
    if (file.checksum !== row.checksum) {
      throw new MigrationError(
        `Migration ${file.name} was changed after it was applied to ${where} (checksum ${row.checksum.slice(0, 12)}… ` +
          `recorded, ${file.checksum.slice(0, 12)}… on disk). Applied migrations must never be edited: restore the ` +
          'original file and put the change in a new, higher-numbered migration.',
      );
    }
  }
  const done = new Set(applied.map((a) => a.version));
  return files.filter((f) => !done.has(f.version));
}
