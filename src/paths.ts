/**
 * Locating files that ship next to the code (migrations, dashboards). The compiled code runs from
 * `dist/src/...` and tests run it from `dist/test/...`, while `ts-node`-style tools run `src/...`
 * directly; walking up to the directory that holds package.json works from all of them, whereas a
 * fixed number of `..` would break as soon as the file moves or is run from another tree.
 */
import fs from 'node:fs';
import path from 'node:path';

/**
 * The project root: the nearest directory at or above `startDir` containing a package.json.
 * Throws when there is none (the code was copied somewhere without its package.json).
 */
export function findProjectRoot(startDir: string = __dirname): string {
  let dir = path.resolve(startDir);
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error(
        `No package.json found in ${startDir} or any directory above it; cannot locate project files.`,
      );
    }
    dir = parent;
  }
}

/** The directory of the numbered SQL migrations of one backend (`migrations/sqlite`, `migrations/postgres`). */
export function migrationsDir(backend: 'sqlite' | 'postgres', startDir: string = __dirname): string {
  return path.join(findProjectRoot(startDir), 'migrations', backend);
}
