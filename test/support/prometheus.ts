/**
 * The real Prometheus server (Debian's `prometheus` package) for the end-to-end test: a config
 * derived from the repository's prometheus/prometheus.yml (scrape targets on loopback, 1 s scrape
 * and evaluation intervals, the repository's rule files, no Alertmanager), a temporary TSDB, a
 * loopback listen address, exemplar storage on. `stop()` always ends the process (SIGTERM, then
 * SIGKILL after 5 s).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';
export const PROMTOOL_BIN = process.env.PROMTOOL_BIN ?? '/usr/bin/promtool';

/** A free loopback TCP port (bound and released; the tiny race is acceptable in tests). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface PrometheusOptions {
  /** The repository's prometheus.yml. */
  readonly configFile: string;
  /** Rule files to load (absolute paths). */
  readonly ruleFiles: readonly string[];
  /** `host:port` of the service to scrape (job `bookswriter-data`). */
  readonly serviceTarget: string;
  readonly scrapeIntervalSeconds?: number;
}

export interface PrometheusServer {
  readonly url: string;
  readonly dir: string;
  readonly configFile: string;
  /** What Prometheus wrote on stderr (its log), for failure messages. */
  log(): string;
  /** GET /api/v1/<endpoint>; throws unless `status` is `success`. */
  api<T = unknown>(endpoint: string, params?: Record<string, string | string[]>): Promise<T>;
  /** An instant query at now. */
  query(expr: string): Promise<PromVectorResult[]>;
  stop(): Promise<void>;
}

export interface PromVectorResult {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

export class PrometheusApiError extends Error {
  constructor(
    message: string,
    readonly errorType: string,
  ) {
    super(message);
  }
}

/** Writes the derived config (returned as text for the record) into `dir`. */
export function deriveConfig(options: PrometheusOptions, listen: string): string {
  const config = parse(fs.readFileSync(options.configFile, 'utf8')) as {
    global?: Record<string, unknown>;
    rule_files?: string[];
    alerting?: unknown;
    scrape_configs?: Array<{ job_name: string; static_configs?: Array<{ targets: string[] }> } & Record<string, unknown>>;
  };
  const interval = `${options.scrapeIntervalSeconds ?? 1}s`;
  config.global = { ...config.global, scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval };
  config.rule_files = [...options.ruleFiles];
  // No Alertmanager runs here; alerts are still evaluated (and visible in /api/v1/rules).
  delete config.alerting;
  const jobs = config.scrape_configs ?? [];
  const service = jobs.find((j) => j.job_name === 'bookswriter-data');
  if (!service) throw new Error(`${options.configFile} has no bookswriter-data scrape job`);
  for (const job of jobs) {
    const target = job === service ? options.serviceTarget : job.job_name === 'prometheus' ? listen : null;
    if (target === null) throw new Error(`unexpected scrape job ${job.job_name}: add it to deriveConfig`);
    job.static_configs = [{ targets: [target] }];
  }
  return stringify(config);
}

export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-prom-'));
  const port = await freePort();
  const listen = `127.0.0.1:${port}`;
  const configFile = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(configFile, deriveConfig(options, listen));

  let stderr = '';
  const child: ChildProcess = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=${listen}`,
      '--enable-feature=exemplar-storage',
      '--log.level=info',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-50_000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Whatever happens to the test process, the child does not outlive it.
  const killOnExit = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const url = `http://${listen}`;
  let stopping: Promise<void> | null = null;
  const server: PrometheusServer = {
    url,
    dir,
    configFile,
    log: () => stderr,
    async api<T>(endpoint: string, params: Record<string, string | string[]> = {}): Promise<T> {
      const search = new URLSearchParams();
      for (const [key, value] of Object.entries(params)) {
        for (const v of Array.isArray(value) ? value : [value]) search.append(key, v);
      }
      const res = await fetch(`${url}/api/v1/${endpoint}?${search.toString()}`, { signal: AbortSignal.timeout(10_000) });
      const body = (await res.json()) as { status: string; data?: T; error?: string; errorType?: string };
      if (body.status !== 'success') {
        throw new PrometheusApiError(`${endpoint} ${JSON.stringify(params)}: ${body.errorType}: ${body.error}`, body.errorType ?? '');
      }
      return body.data as T;
    },
    async query(expr: string): Promise<PromVectorResult[]> {
      const data = await server.api<{ resultType: string; result: PromVectorResult[] }>('query', { query: expr });
      if (data.resultType !== 'vector') throw new Error(`expected a vector from ${expr}, got ${data.resultType}`);
      return data.result;
    },
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(timer);
        }
        process.off('exit', killOnExit);
        fs.rmSync(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };

  // Ready within 20 s, or stop it and say why.
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await server.stop();
      throw new Error(`prometheus exited (${child.exitCode ?? child.signalCode}) during start-up:\n${stderr}`);
    }
    try {
      const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`prometheus was not ready within 20 s:\n${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return server;
}

/** Runs promtool with `args`, feeding `stdin`; resolves with its exit code and output. */
export function runPromtool(args: readonly string[], stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PROMTOOL_BIN, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(stdin);
  });
}
