/**
 * The real entry point (`node dist/src/main.js`) as a child process on loopback, with its JSON log
 * lines parsed as they arrive, for the shutdown and listener tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { findProjectRoot } from '../../../src/paths.js';

export type LogLine = Record<string, unknown>;

/** The child's stdout as parsed JSON log lines, with a way to wait for one. */
export class LogReader {
  readonly lines: LogLine[] = [];
  readonly #waiters: Array<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  #buffer = '';

  constructor(child: ChildProcess) {
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      this.#buffer += chunk;
      let nl: number;
      while ((nl = this.#buffer.indexOf('\n')) !== -1) {
        const line = this.#buffer.slice(0, nl);
        this.#buffer = this.#buffer.slice(nl + 1);
        if (!line.trim()) continue;
        let parsed: LogLine;
        try {
          parsed = JSON.parse(line) as LogLine;
        } catch {
          parsed = { msg: line };
        }
        this.lines.push(parsed);
        for (const w of this.#waiters.splice(0)) {
          if (w.match(parsed)) w.resolve(parsed);
          else this.#waiters.push(w);
        }
      }
    });
  }

  /** Resolves with the first line (seen or future) whose msg matches. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<LogLine> {
    const match = (l: LogLine): boolean => typeof l.msg === 'string' && pattern.test(l.msg);
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no log line matching ${pattern} within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.push({
        match,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  }

  /** Lines whose msg matches. */
  matching(pattern: RegExp): LogLine[] {
    return this.lines.filter((l) => typeof l.msg === 'string' && pattern.test(l.msg));
  }
}

export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** performance.now() when it exited. */
  readonly at: number;
}

export interface ChildService {
  readonly child: ChildProcess;
  readonly logs: LogReader;
  /** The public port (from the "listening on" line). */
  readonly port: number;
  readonly url: string;
  readonly exited: Promise<ChildExit>;
  stderr(): string;
  /** Resolves with the exit, or rejects after `timeoutMs`. */
  waitForExit(timeoutMs: number): Promise<ChildExit>;
  /** SIGKILL if still running (cleanup). */
  kill(): void;
}

export interface ChildOptions {
  readonly env: Record<string, string>;
  /** Modules to load before main.js (`node --require`): test seams that never touch production code. */
  readonly preload?: readonly string[];
  /** Wait for "service ready" too (default true). */
  readonly waitReady?: boolean;
}

/** Starts `node dist/src/main.js` with a loopback listener on a free port and waits until it listens (and is ready). */
export async function startChildService(options: ChildOptions): Promise<ChildService> {
  const root = findProjectRoot(__dirname);
  const args = [...(options.preload ?? []).flatMap((p) => ['--require', p]), path.join(root, 'dist', 'src', 'main.js')];
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      OTEL_SDK_DISABLED: 'true',
      LOG_LEVEL: 'info',
      DB_POOL_MIN_CONNECTIONS: '2',
      DB_POOL_MAX_CONNECTIONS: '4',
      RATE_LIMIT_WRITES_PER_MINUTE: '0',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() }));
  });
  const logs = new LogReader(child);
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  try {
    const listening = await Promise.race([
      logs.waitFor(/^listening on http:\/\//, 20_000),
      exited.then((e) => Promise.reject(new Error(`exited ${e.code ?? e.signal} before listening; stderr: ${stderr}`))),
    ]);
    if (options.waitReady !== false) await logs.waitFor(/service ready/, 20_000);
    const port = Number(listening.port);
    return {
      child,
      logs,
      port,
      url: `http://127.0.0.1:${port}`,
      exited,
      stderr: () => stderr,
      waitForExit: (timeoutMs) =>
        Promise.race([
          exited,
          new Promise<never>((_, reject) =>
            setTimeout(() => reject(new Error(`no exit within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs),
          ),
        ]),
      kill,
    };
  } catch (err) {
    kill();
    throw err;
  }
}
