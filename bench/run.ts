/**
 * The benchmark runner: `npm run bench` runs every benchmark, `npm run bench -- <name> [<name>…]`
 * runs the named ones. Each benchmark runs in its own Node process (clean heap, no worker threads
 * or sockets left over from the previous one), prints its own table and writes
 * `bench/results/<name>.json`; the runner then prints the combined table and writes
 * `bench/results/summary.json` and `bench/results/summary.md` (the table for docs/benchmarks.md).
 *
 * Flags (passed to every benchmark): --rounds n, --warmup n, --seconds s (load per round in the
 * HTTP benchmarks), --soak-minutes m (memory; default 1, 5 for the full run), --no-supabase.
 * Runner flags: --profile (each benchmark under `node --cpu-prof`, profiles in
 * bench/results/profiles/<name>/; summarise one with dist/bench/tools/cpuprofile-top.js), --list.
 *
 * A benchmark that misses its target does not fail the run; one that crashes does (exit 1).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import {
  markdownTable,
  RESULTS_DIR,
  resultPath,
  tableCells,
  TABLE_HEADER,
  textTable,
  type BenchmarkResult,
} from './harness.js';

/** Every benchmark, in the order of the issue's table. */
export const BENCHMARKS = [
  'pool-overhead',
  'no-pool',
  'batch-insert',
  'related-rows',
  'http-read',
  'observability-cost',
  'event-loop',
  'read-scaling',
  'hit-rate',
  'scrape-cost',
  'memory',
] as const;

/** Per-benchmark wall-clock limit (ms): generous; a hung benchmark is killed, the run goes on. */
function timeoutMs(name: string, soakMinutes: number): number {
  return name === 'memory' ? (soakMinutes * 60 + 300) * 1000 : 15 * 60 * 1000;
}

function runOne(name: string, args: string[], profile: boolean, limitMs: number): Promise<number> {
  const nodeArgs = profile
    ? ['--cpu-prof', `--cpu-prof-dir=${path.join(RESULTS_DIR, 'profiles', name)}`]
    : [];
  const file = path.join(__dirname, `${name}.bench.js`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...nodeArgs, file, ...args], { stdio: 'inherit' });
    const timer = setTimeout(() => {
      console.error(`${name}: still running after ${limitMs / 1000} s; killing it`);
      child.kill('SIGKILL');
    }, limitMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

function machineLine(results: BenchmarkResult[]): string {
  const m = results[0]?.machine;
  const mem = `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB RAM (${(os.freemem() / 1024 ** 3).toFixed(1)} GiB free)`;
  return m
    ? `${m.cpus} CPUs (${m.cpuModel}), ${mem}, Node ${m.node}, ${m.platform}`
    : `${os.availableParallelism()} CPUs, ${mem}, Node ${process.version}`;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: {
      rounds: { type: 'string' },
      warmup: { type: 'string' },
      seconds: { type: 'string' },
      'soak-minutes': { type: 'string' },
      'no-supabase': { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.list) {
    console.log(BENCHMARKS.join('\n'));
    return 0;
  }
  const unknown = positionals.filter((p) => !(BENCHMARKS as readonly string[]).includes(p));
  if (unknown.length > 0) {
    console.error(`unknown benchmark(s): ${unknown.join(', ')}; choose from: ${BENCHMARKS.join(', ')}`);
    return 2;
  }
  const names = positionals.length > 0 ? positionals : [...BENCHMARKS];
  const passThrough: string[] = [];
  for (const key of ['rounds', 'warmup', 'seconds', 'soak-minutes'] as const) {
    const v = values[key];
    if (v !== undefined) passThrough.push(`--${key}`, v);
  }
  if (values['no-supabase']) passThrough.push('--no-supabase');
  const soakMinutes = Number(values['soak-minutes'] ?? '1');

  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const started = Date.now();
  const failed: string[] = [];
  const results: BenchmarkResult[] = [];
  for (const name of names) {
    // A stale result must not be reported as this run's.
    fs.rmSync(resultPath(name), { force: true });
    const code = await runOne(name, passThrough, values.profile, timeoutMs(name, soakMinutes));
    if (code !== 0 || !fs.existsSync(resultPath(name))) {
      failed.push(name);
      continue;
    }
    results.push(JSON.parse(fs.readFileSync(resultPath(name), 'utf8')) as BenchmarkResult);
  }
  const rows = results.flatMap((r) => r.rows.map((row) => tableCells(row)));
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  console.log(`\n==== all benchmarks (${minutes} min): ${machineLine(results)}`);
  console.log(textTable(TABLE_HEADER, rows));
  const missed = results.flatMap((r) =>
    r.rows.filter((row) => row.verdict === 'missed').map((row) => row.benchmark),
  );
  if (missed.length > 0) console.log(`\ntargets missed: ${missed.join('; ')}`);
  if (failed.length > 0) console.log(`\nbenchmarks that failed to run: ${failed.join(', ')}`);

  const summary = {
    date: new Date().toISOString(),
    command,
    machine: machineLine(results),
    loadAverage: os.loadavg(),
    durationMinutes: Number(minutes),
    benchmarks: results.map((r) => ({
      name: r.name,
      durationS: r.durationS,
      rounds: r.rounds,
      loadAvgAtStart: r.loadAvgAtStart,
      rows: r.rows,
      notes: r.notes,
    })),
    failed,
  };
  fs.writeFileSync(path.join(RESULTS_DIR, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  fs.writeFileSync(
    path.join(RESULTS_DIR, 'summary.md'),
    `Run ${summary.date} — \`${command}\` — ${summary.machine}; ${minutes} min; load average at the end ${os
      .loadavg()
      .map((v) => v.toFixed(2))
      .join(' / ')}\n\n${markdownTable(TABLE_HEADER, rows)}\n`,
  );
  console.log(
    `\nresults: ${path.relative(process.cwd(), RESULTS_DIR)}/ (summary.md holds the Markdown table)`,
  );
  return failed.length > 0 ? 1 : 0;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
