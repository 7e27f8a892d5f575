/**
 * The benchmark harness. The machines are noisy (2 cores shared with other test suites), so a
 * number on its own means little: every benchmark measures its variants **interleaved** in the
 * same process and run — round 1: A, B; round 2: B, A; … — discards the warm-up rounds, and reports
 * each variant's median with its spread (min–max and the interquartile range) and the **ratio**
 * computed per round (A and B of the same round share the machine's mood) with its own spread.
 *
 * Nothing here asserts an absolute time: a benchmark reports whether its target is met, it never
 * fails because of it. A benchmark only fails (exit code 1) when it cannot run.
 *
 * Results are printed as a table and written to `bench/results/<name>.json` (gitignored).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

import { findProjectRoot } from '../src/paths.js';

// ---- statistics ------------------------------------------------------------------------------

/** Median and spread of a set of samples (one sample per measured round). */
export interface Stats {
  readonly n: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** First and third quartile (linear interpolation). */
  readonly q1: number;
  readonly q3: number;
  readonly samples: readonly number[];
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] ?? Number.NaN;
  const b = sorted[hi] ?? Number.NaN;
  return a + (b - a) * (pos - lo);
}

export function summarize(samples: readonly number[]): Stats {
  const sorted = samples.filter((v) => Number.isFinite(v)).sort((x, y) => x - y);
  return {
    n: sorted.length,
    median: quantile(sorted, 0.5),
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
    q1: quantile(sorted, 0.25),
    q3: quantile(sorted, 0.75),
    samples: [...samples],
  };
}

/** Percentile (0–100) of raw values (latencies), nearest-rank on a sorted copy. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

// ---- interleaved measurement -----------------------------------------------------------------

/** One thing being measured; `measure` returns one sample (µs/op, req/s, ms…) per call. */
export interface Variant {
  readonly name: string;
  readonly unit: string;
  measure(round: number): Promise<number>;
}

export interface InterleaveOptions {
  /** Measured rounds (after the warm-up). */
  readonly rounds: number;
  /** Rounds run first and discarded (JIT, caches, pool growth). */
  readonly warmup: number;
  /** Called between variants (e.g. to let sockets settle); optional. */
  readonly between?: () => Promise<void>;
  readonly log?: (line: string) => void;
}

/**
 * Runs every variant once per round, rotating the order each round (A B C, B C A, C A B…) so that
 * no variant always runs first or last; returns the measured samples per variant, round-aligned
 * (index i of every array is the same round).
 */
export async function interleave(
  variants: readonly Variant[],
  options: InterleaveOptions,
): Promise<Map<string, number[]>> {
  const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  const total = options.warmup + options.rounds;
  for (let round = 0; round < total; round++) {
    const warm = round < options.warmup;
    const order = variants.map((_, i) => variants[(i + round) % variants.length]!);
    const line: string[] = [];
    for (const variant of order) {
      const value = await variant.measure(round);
      if (!warm) samples.get(variant.name)!.push(value);
      line.push(`${variant.name}=${fmt(value)}${variant.unit === '' ? '' : ` ${variant.unit}`}`);
      if (options.between) await options.between();
    }
    options.log?.(
      `  ${warm ? 'warm-up' : `round ${round - options.warmup + 1}/${options.rounds}`}: ${line.join(', ')}`,
    );
  }
  return samples;
}

/**
 * Runs `total = warmup + rounds` rounds of `roundFn`, each returning one sample per variant name,
 * and returns the measured samples per name (round-aligned). For benchmarks that interleave at a
 * finer grain than whole variants (see {@link interleavedTimePerOp}).
 */
export async function collectRounds(
  options: InterleaveOptions,
  roundFn: (round: number) => Promise<Record<string, number>>,
): Promise<Map<string, number[]>> {
  const samples = new Map<string, number[]>();
  const total = options.warmup + options.rounds;
  for (let round = 0; round < total; round++) {
    const warm = round < options.warmup;
    const values = await roundFn(round);
    if (!warm) {
      for (const [name, value] of Object.entries(values)) {
        if (!samples.has(name)) samples.set(name, []);
        samples.get(name)!.push(value);
      }
    }
    const line = Object.entries(values).map(([name, value]) => `${name}=${fmt(value)}`);
    options.log?.(
      `  ${warm ? 'warm-up' : `round ${round - options.warmup + 1}/${options.rounds}`}: ${line.join(', ')}`,
    );
  }
  return samples;
}

/** An operation timed by {@link interleavedTimePerOp}; synchronous ones are run without await. */
export interface TimedOp {
  readonly sync?: boolean;
  run(i: number): unknown;
}

/**
 * Per-operation time (µs) of several operations measured **interleaved in small chunks** — a
 * chunk of A, a chunk of B, a chunk of C, again A… — until each has run for at least `minMs`
 * (bounded by `maxMs` overall). On a machine whose load changes by the second, every variant sees
 * the same load, so their ratio is far steadier than with one long run per variant.
 */
export async function interleavedTimePerOp(
  ops: Readonly<Record<string, TimedOp>>,
  options: { minMs: number; maxMs?: number; chunkMs?: number },
): Promise<Record<string, number>> {
  const names = Object.keys(ops);
  // Each chunk lasts about chunkMs whatever the operation costs (sized from the previous chunk).
  const chunkMs = options.chunkMs ?? 5;
  const maxMs = options.maxMs ?? options.minMs * names.length * 4;
  const time = new Map(names.map((n) => [n, 0]));
  const count = new Map(names.map((n) => [n, 0]));
  const size = new Map(names.map((n) => [n, 10]));
  const begun = performance.now();
  let turn = 0;
  while (names.some((n) => time.get(n)! < options.minMs) && performance.now() - begun < maxMs) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + turn) % names.length]!;
      const op = ops[name]!;
      const base = count.get(name)!;
      const n = size.get(name)!;
      const started = performance.now();
      if (op.sync === true) for (let i = 0; i < n; i++) op.run(base + i);
      else for (let i = 0; i < n; i++) await op.run(base + i);
      const took = performance.now() - started;
      time.set(name, time.get(name)! + took);
      count.set(name, base + n);
      size.set(name, Math.max(1, Math.min(100_000, Math.round((chunkMs * n) / Math.max(took, 0.001)))));
    }
    turn++;
  }
  return Object.fromEntries(names.map((n) => [n, (time.get(n)! * 1000) / count.get(n)!]));
}

/** Per-round ratios of two round-aligned sample arrays. */
export function ratios(numerator: readonly number[], denominator: readonly number[]): number[] {
  return numerator.map((a, i) => a / (denominator[i] ?? Number.NaN));
}

/**
 * Runs `op` repeatedly until at least `minMs` have passed (or `maxOps` ops ran) and returns the
 * mean time per operation in µs. Operations run strictly one after another (latency, not
 * throughput). Bounded in time and count.
 */
export async function timePerOp(
  op: (i: number) => Promise<unknown> | unknown,
  options: { minMs: number; maxOps?: number; chunk?: number },
): Promise<number> {
  const chunk = options.chunk ?? 200;
  const maxOps = options.maxOps ?? 5_000_000;
  let ops = 0;
  const started = performance.now();
  let elapsed = 0;
  while (elapsed < options.minMs && ops < maxOps) {
    for (let i = 0; i < chunk; i++) await op(ops + i);
    ops += chunk;
    elapsed = performance.now() - started;
  }
  return (elapsed * 1000) / ops;
}

// ---- results ---------------------------------------------------------------------------------

/** A measured quantity in the table. */
export interface Measurement {
  readonly label: string;
  readonly unit: string;
  readonly stats: Stats;
}

export type Comparator = '<=' | '>=';

export interface Target {
  /** The quantity the target applies to: 'ratio' or the label of a measurement (a or b). */
  readonly on: 'ratio' | 'a' | 'b';
  readonly op: Comparator;
  readonly value: number;
  /** How the target reads in the table (`≥ 10×`, `worker ≤ 20 ms`). */
  readonly text: string;
}

/** One line of the results table. */
export interface ResultRow {
  readonly benchmark: string;
  /** What the row compares, in words. */
  readonly compares: string;
  readonly a?: Measurement;
  readonly b?: Measurement;
  /** Per-round ratio (direction stated in its label, e.g. `worker / bare`). */
  readonly ratio?: Measurement;
  readonly target?: Target;
  /** Free-form note for the table (what the number means, why a target has no meaning here). */
  readonly note?: string;
}

export type Verdict = 'met' | 'met (spread crosses)' | 'missed' | 'n/a';

/** Whether the median meets the target; "spread crosses" when some rounds did not. */
export function verdict(row: ResultRow): Verdict {
  const t = row.target;
  if (t === undefined) return 'n/a';
  const m = t.on === 'ratio' ? row.ratio : t.on === 'a' ? row.a : row.b;
  if (m === undefined || !Number.isFinite(m.stats.median)) return 'n/a';
  const ok = (v: number): boolean => (t.op === '<=' ? v <= t.value : v >= t.value);
  if (!ok(m.stats.median)) return 'missed';
  const worst = t.op === '<=' ? m.stats.max : m.stats.min;
  return ok(worst) ? 'met' : 'met (spread crosses)';
}

export interface BenchmarkResult {
  readonly name: string;
  readonly title: string;
  readonly startedAt: string;
  readonly durationS: number;
  readonly rounds: number;
  readonly warmup: number;
  readonly machine: MachineInfo;
  /** 1/5/15-minute load averages when the benchmark started (`machine.loadAvg` is at the end). */
  readonly loadAvgAtStart: readonly number[];
  readonly rows: ReadonlyArray<ResultRow & { readonly verdict: Verdict }>;
  /** Anything else worth keeping (query counts, byte sizes, series lists, raw latencies…). */
  readonly extra: Record<string, unknown>;
  readonly notes: readonly string[];
}

export interface MachineInfo {
  readonly node: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly totalMemGiB: number;
  readonly loadAvg: readonly number[];
  readonly platform: string;
}

export function machineInfo(): MachineInfo {
  return {
    node: process.version,
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    totalMemGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    loadAvg: os.loadavg().map((v) => Math.round(v * 100) / 100),
    platform: `${os.platform()} ${os.release()}`,
  };
}

// ---- formatting ------------------------------------------------------------------------------

/** Three significant digits, no exponent for everyday magnitudes. */
export function fmt(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  if (abs === 0) return '0';
  return value.toPrecision(2);
}

function withUnit(value: string, unit: string): string {
  if (unit === '') return value;
  if (unit === '×' || unit === '%') return `${value}${unit}`;
  return `${value} ${unit}`;
}

/** `12.3 µs [11.9–13.0]` */
export function describe(m: Measurement | undefined): string {
  if (m === undefined) return '';
  const s = m.stats;
  const value = withUnit(fmt(s.median), m.unit);
  const spread = s.n > 1 ? ` [${fmt(s.min)}–${fmt(s.max)}]` : '';
  return `${m.label}: ${value}${spread}`;
}

export const TABLE_HEADER = [
  'benchmark',
  'variant A (median [min–max])',
  'variant B',
  'ratio',
  'target',
  'met?',
];

export function tableCells(row: ResultRow & { verdict: Verdict }): string[] {
  return [
    row.benchmark,
    describe(row.a),
    describe(row.b),
    row.ratio === undefined ? (row.note ?? '') : describe(row.ratio) + (row.note ? ` — ${row.note}` : ''),
    row.target?.text ?? '',
    row.verdict,
  ];
}

/** A plain-text table with aligned columns. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join(' | ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n');
}

/** A Markdown table (pipes in cells escaped). */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

// ---- running one benchmark -------------------------------------------------------------------

export const PROJECT_ROOT = findProjectRoot(__dirname);
export const RESULTS_DIR = path.join(PROJECT_ROOT, 'bench', 'results');

/** Flags every benchmark understands (the runner passes them through). */
export interface BenchFlags {
  /** Measured rounds (default per benchmark, usually 5–7). */
  readonly rounds: number | undefined;
  /** Warm-up rounds discarded (default 1). */
  readonly warmup: number | undefined;
  /** Memory benchmark: how long the steady load runs (minutes). Default 1. */
  readonly soakMinutes: number | undefined;
  /** Seconds of load per round in the HTTP benchmarks (default per benchmark). */
  readonly seconds: number | undefined;
  /** Also run the Supabase rows (default true; `--no-supabase` skips them). */
  readonly supabase: boolean;
}

export function parseBenchFlags(argv: readonly string[]): BenchFlags {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      rounds: { type: 'string' },
      warmup: { type: 'string' },
      'soak-minutes': { type: 'string' },
      seconds: { type: 'string' },
      'no-supabase': { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  const num = (name: string, raw: string | undefined, min: number, max: number): number | undefined => {
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max)
      throw new Error(`--${name} must be a number from ${min} to ${max}`);
    return n;
  };
  return {
    rounds: num('rounds', values.rounds, 1, 100),
    warmup: num('warmup', values.warmup, 0, 20),
    soakMinutes: num('soak-minutes', values['soak-minutes'], 0.1, 120),
    seconds: num('seconds', values.seconds, 0.5, 120),
    supabase: values['no-supabase'] !== true,
  };
}

/** What a benchmark body gets. */
export interface BenchContext {
  readonly flags: BenchFlags;
  /** Measured rounds for this benchmark (flag or its default). */
  readonly rounds: number;
  readonly warmup: number;
  log(line: string): void;
  /** A fresh temporary directory, removed when the benchmark ends. */
  tmpDir(prefix?: string): string;
  /** Registers cleanup run when the benchmark ends (last registered runs first). */
  defer(fn: () => Promise<unknown> | unknown): void;
}

export interface BenchmarkOutput {
  readonly rows: ResultRow[];
  readonly extra?: Record<string, unknown>;
  readonly notes?: string[];
}

export interface BenchmarkDefinition {
  /** File name stem: `bench/<name>.bench.ts`, `npm run bench -- <name>`. */
  readonly name: string;
  readonly title: string;
  readonly defaultRounds: number;
  readonly defaultWarmup?: number;
  run(ctx: BenchContext): Promise<BenchmarkOutput>;
}

export function printResult(result: BenchmarkResult): void {
  const rows = result.rows.map((r) => tableCells(r));
  console.log(
    `\n${result.title} (${result.rounds} rounds after ${result.warmup} warm-up; ${fmt(result.durationS)} s; ` +
      `load average ${result.loadAvgAtStart[0]} → ${result.machine.loadAvg[0]} on ${result.machine.cpus} CPUs)`,
  );
  console.log(textTable(TABLE_HEADER, rows));
  for (const note of result.notes) console.log(`  note: ${note}`);
}

export function resultPath(name: string): string {
  return path.join(RESULTS_DIR, `${name}.json`);
}

/**
 * Runs one benchmark: parses the flags, runs it, prints its table and writes its JSON. Used by
 * every `bench/<name>.bench.ts` when run directly (the runner starts each one in its own process).
 */
export async function runBenchmark(
  def: BenchmarkDefinition,
  argv: readonly string[] = process.argv.slice(2),
): Promise<BenchmarkResult> {
  const flags = parseBenchFlags(argv);
  const rounds = flags.rounds ?? def.defaultRounds;
  const warmup = flags.warmup ?? def.defaultWarmup ?? 1;
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  const dirs: string[] = [];
  const ctx: BenchContext = {
    flags,
    rounds,
    warmup,
    log: (line) => console.log(line),
    tmpDir(prefix = 'bw-bench-') {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
    defer(fn) {
      cleanups.push(fn);
    },
  };
  const startedAt = new Date();
  const loadAvgAtStart = os.loadavg().map((v) => Math.round(v * 100) / 100);
  const started = performance.now();
  console.log(`== ${def.name}: ${def.title}`);
  let output: BenchmarkOutput;
  try {
    output = await def.run(ctx);
  } finally {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        console.error(`cleanup failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  }
  const result: BenchmarkResult = {
    name: def.name,
    title: def.title,
    startedAt: startedAt.toISOString(),
    durationS: (performance.now() - started) / 1000,
    rounds,
    warmup,
    machine: machineInfo(),
    loadAvgAtStart,
    rows: output.rows.map((r) => ({ ...r, verdict: verdict(r) })),
    extra: output.extra ?? {},
    notes: output.notes ?? [],
  };
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  fs.writeFileSync(resultPath(def.name), `${JSON.stringify(result, null, 2)}\n`);
  printResult(result);
  return result;
}

/** The `require.main === module` entry of a benchmark file: run, then exit (worker threads, sockets). */
export function main(def: BenchmarkDefinition): void {
  runBenchmark(def).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(`${def.name} failed:`, err);
      process.exit(1);
    },
  );
}

/** Measurement from samples. */
export function measured(label: string, unit: string, samples: readonly number[]): Measurement {
  return { label, unit, stats: summarize(samples) };
}

/** Sleeps (bounded waits between phases). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
