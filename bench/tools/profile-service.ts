/**
 * Profiles the real service under load: spawns `node --cpu-prof dist/src/main.js` (one profile per
 * thread, worker threads included), seeds a few plots, drives `GET /api/plots/:id` (or the path
 * given) with autocannon from a child process, stops the service with SIGTERM (the profiles are
 * written on exit) and prints the top self-time functions of the main thread.
 *
 *   node dist/bench/tools/profile-service.js [seconds=10] [path=/api/plots/:id] [KEY=VALUE env…] [untraced]
 *
 * `untraced` runs bench/support/main-untraced.js (no OpenTelemetry bootstrap) instead of main.js.
 * e.g. `node dist/bench/tools/profile-service.js 10 /api/plots/:id OTEL_SDK_DISABLED=true`. Spans go to
 * a local OTLP sink unless OTEL_EXPORTER_OTLP_ENDPOINT is given.
 * Profiles land in bench/results/profiles/service-<timestamp>/.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { RESULTS_DIR } from '../harness.js';
import { cannon, JsonClient, seedOverHttp, spawnService } from '../support/http.js';
import { startOtlpSink } from '../support/otlp-sink.js';
import { topFunctions } from './cpuprofile-top.js';

async function run(): Promise<void> {
  const seconds = Number(process.argv[2] ?? '10');
  const route = process.argv[3] ?? '/api/plots/:id';
  const env: Record<string, string> = {};
  let untraced = false;
  for (const arg of process.argv.slice(4)) {
    const eq = arg.indexOf('=');
    if (eq > 0) env[arg.slice(0, eq)] = arg.slice(eq + 1);
    else if (arg === 'untraced') untraced = true;
  }
  // Spans (when tracing is on) go to a local sink unless an endpoint was given.
  const sink = await startOtlpSink();
  env.OTEL_EXPORTER_OTLP_ENDPOINT ??= sink.url;
  const outDir = path.join(RESULTS_DIR, 'profiles', `service-${Date.now()}`);
  fs.mkdirSync(outDir, { recursive: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-prof-'));
  const entry = untraced ? path.join(__dirname, '..', 'support', 'main-untraced.js') : undefined;
  const service = await spawnService(dir, env, ['--cpu-prof', `--cpu-prof-dir=${outDir}`], entry);
  const client = new JsonClient(service.url);
  try {
    const story = await seedOverHttp(client, { authors: 10, plots: 100 }, `prof${Date.now().toString(36)}`);
    const url = `${service.url}${route.replace(':id', story.plotIds[3]!).replace(':session', story.sessionId)}`;
    const result = await cannon({ url, connections: 10, seconds });
    console.log(
      `${route}: ${result.requestsPerSec.toFixed(0)} req/s, p99 ${result.latencyP99Ms} ms, non-2xx ${result.non2xx}`,
    );
  } finally {
    await client.close();
    await service.stop();
    await sink.close();
    console.log(`OTLP sink: ${sink.stats.requests} requests, ${sink.stats.bytes} bytes`);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const files = fs
    .readdirSync(outDir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort();
  const mainFile = files.find((f) => /\.0\.\d+\.cpuprofile$/.test(f)) ?? files[0];
  console.log(`profiles: ${outDir} (${files.length} threads); main thread: ${mainFile}`);
  if (mainFile === undefined) return;
  const top = topFunctions(
    JSON.parse(fs.readFileSync(path.join(outDir, mainFile), 'utf8')) as Parameters<typeof topFunctions>[0],
  );
  for (const e of top.slice(0, 40)) {
    console.log(
      `${e.selfMs.toFixed(1).padStart(9)} ${e.selfPct.toFixed(1).padStart(6)}% ${e.totalMs.toFixed(1).padStart(9)}  ${e.name}`,
    );
  }
}

run().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
