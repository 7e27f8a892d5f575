/**
 * A profiling target (not a benchmark): the in-process service under one scenario, to be run under
 * `node --cpu-prof` (one profile per thread, worker threads included):
 *
 *   node --cpu-prof --cpu-prof-dir=bench/results/profiles dist/bench/tools/profile-http.js batch 10
 *
 * Scenarios: `batch` (POST /api/plots/batch with 1,000 rows), `single` (1,000 single POSTs),
 * `read` (GET /api/plots/:id), `hello` (nothing but a bare express route, for comparison).
 * The second argument is the number of repetitions (batch/single) or seconds (read).
 * Environment variables are passed to the service config (e.g. SQLITE_EXECUTION_MODE=inline).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import { plotRow } from '../support/data.js';
import { seedOverHttp, startService } from '../support/http.js';

async function run(): Promise<void> {
  const scenario = process.argv[2] ?? 'batch';
  const n = Number(process.argv[3] ?? '10');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-prof-'));
  const env: Record<string, string> = {};
  for (const key of ['SQLITE_EXECUTION_MODE', 'DB_POOL_ENABLE_METRICS', 'DB_POOL_LEAK_THRESHOLD']) {
    const v = process.env[key];
    if (v !== undefined) env[key] = v;
  }
  const service = await startService(dir, env);
  const { client } = service;
  const story = await seedOverHttp(client, { authors: 20, plots: 200 }, `prof${Date.now().toString(36)}`);
  const started = performance.now();
  let ops = 0;
  if (scenario === 'batch' || scenario === 'single') {
    for (let r = 0; r < n; r++) {
      const items = Array.from({ length: 1000 }, (_, i) =>
        plotRow(story.sessionId, story.authorIds[i % 20]!, `${r}-${i}`, i),
      );
      if (scenario === 'batch') await client.expect(201, 'POST', '/api/plots/batch', { items });
      else for (const item of items) await client.expect(201, 'POST', '/api/plots', item);
      ops++;
    }
  } else {
    const until = Date.now() + n * 1000;
    const workers = Array.from({ length: 8 }, async () => {
      while (Date.now() < until) {
        await client.expect(200, 'GET', `/api/plots/${story.plotIds[ops % story.plotIds.length]}`);
        ops++;
      }
    });
    await Promise.all(workers);
  }
  console.log(`${scenario}: ${ops} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  await service.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}

run().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
