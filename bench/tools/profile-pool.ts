/**
 * A profiling target (not a benchmark): point reads through the reader pool in one execution mode
 * for a fixed time, to be run under `node --cpu-prof`:
 *
 *   node --cpu-prof --cpu-prof-dir=bench/results/profiles dist/bench/tools/profile-pool.js inline 5
 *   node dist/bench/tools/cpuprofile-top.js bench/results/profiles/<file>.cpuprofile
 *
 * Arguments: mode (`inline` | `worker` | `bare`), seconds (default 5), leak threshold ms (default
 * the service's 60000; 0 turns stack capture off).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import Database from 'better-sqlite3';

import { statementsFor } from '../../src/adapters/sqlite/sql.js';
import { TABLES } from '../../src/schema/tables.js';
import { benchConfig, sqliteAdapter } from '../support/adapters.js';
import { seedStory } from '../support/data.js';

async function run(): Promise<void> {
  const mode = process.argv[2] ?? 'inline';
  const seconds = Number(process.argv[3] ?? '5');
  const leak = Number(process.argv[4] ?? '60000');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-prof-'));
  const config = benchConfig(dir);
  const sql = statementsFor(TABLES.plots).byId();
  const adapter = sqliteAdapter(config, {
    mode: mode === 'worker' ? 'worker' : 'inline',
    pool: { leakThresholdMs: leak },
  });
  await adapter.start();
  const ids = (await seedStory(adapter, { authors: 50, plots: 2000 })).plotIds;
  const pool = adapter.readerPool;
  const bare = new Database(config.sqlite.path, { readonly: true });
  const statement = bare.prepare(sql);
  const until = Date.now() + seconds * 1000;
  let ops = 0;
  while (Date.now() < until) {
    for (let i = 0; i < 500; i++, ops++) {
      if (mode === 'bare') statement.get(ids[ops % ids.length]);
      else await pool.withConnection((c) => c.get(sql, [ids[ops % ids.length]]));
    }
  }
  console.log(`${mode}: ${ops} point reads in ${seconds} s (${((seconds * 1e6) / ops).toFixed(1)} µs/op)`);
  bare.close();
  await adapter.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}

run().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
