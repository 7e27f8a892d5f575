/**
 * The load generator's engine (the CLI is bench/load.ts; the memory and hit-rate benchmarks use
 * it directly): seeds a little data through the API, then drives a realistic mix — point reads
 * (a third with `include=author`), searches with `include=author`, batch writes — at a fixed
 * request rate (open loop: requests are sent on schedule, not when the previous one returns),
 * with a cap on requests in flight. Bounded: it stops dispatching at the end of the duration and
 * waits at most DRAIN_MS for the last answers. It only ever talks to the one target given.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';

import { Pool } from 'undici';

export type RequestKind = 'read' | 'search' | 'batch';
export const KINDS: readonly RequestKind[] = ['read', 'search', 'batch'];

/** Relative weights of each kind (need not sum to 100). */
export type Mix = Readonly<Record<RequestKind, number>>;

export const DEFAULT_MIX: Mix = { read: 60, search: 30, batch: 10 };
export const MAX_DURATION_S = 24 * 3600;
export const MAX_RATE = 10_000;
export const MAX_IN_FLIGHT = 1024;
/** After the last dispatch, answers still missing are given up after this long. */
export const DRAIN_MS = 30_000;

export interface LoadOptions {
  /** Base URL of the service (`http://127.0.0.1:3000`). */
  readonly target: string;
  readonly durationS: number;
  /** Requests per second, all kinds together. */
  readonly rate: number;
  readonly mix: Mix;
  /** Requests allowed in flight; a request due while at the cap is skipped (and counted). */
  readonly maxInFlight: number;
  /** Rows per batch write. */
  readonly batchSize: number;
  /** Plots seeded before the load (read targets). */
  readonly seedPlots: number;
  /** Called about once a second with the live numbers. */
  readonly onProgress?: (progress: LoadProgress) => void;
  /** Stops the run early (Ctrl-C). */
  readonly signal?: AbortSignal;
}

export interface LoadProgress {
  readonly elapsedS: number;
  readonly sent: number;
  readonly completed: number;
  /** Completions per second over the last second. */
  readonly liveRate: number;
  /** Non-2xx answers plus network errors so far. */
  readonly errors: number;
  readonly skipped: number;
  readonly inFlight: number;
  /** Latency percentiles over the last second's completions (ms). */
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface KindSummary {
  readonly kind: RequestKind | 'all';
  readonly count: number;
  /** Answers by HTTP status, plus `error` for requests that got no answer. */
  readonly byStatus: Record<string, number>;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface LoadSummary {
  readonly target: string;
  readonly durationS: number;
  readonly requestedRate: number;
  readonly achievedRate: number;
  readonly sent: number;
  readonly completed: number;
  readonly skipped: number;
  readonly abandoned: number;
  readonly kinds: KindSummary[];
  readonly seeded: { readonly sessionId: string; readonly plots: number; readonly authors: number };
}

/** Parses `reads=60,search=30,batch=10` (aliases: read/reads, search/searches, batch/batches/writes). */
export function parseMix(text: string): Mix {
  const mix: Record<RequestKind, number> = { read: 0, search: 0, batch: 0 };
  const alias: Record<string, RequestKind> = {
    read: 'read',
    reads: 'read',
    search: 'search',
    searches: 'search',
    batch: 'batch',
    batches: 'batch',
    writes: 'batch',
  };
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')) {
    const [name, value] = part.split('=');
    const kind = alias[(name ?? '').trim().toLowerCase()];
    const weight = Number(value);
    if (kind === undefined) throw new Error(`--mix: unknown kind "${name}" (use reads, search, batch)`);
    if (!Number.isFinite(weight) || weight < 0) throw new Error(`--mix: ${name} needs a weight >= 0`);
    mix[kind] = weight;
  }
  if (mix.read + mix.search + mix.batch <= 0) throw new Error('--mix: at least one weight must be > 0');
  return mix;
}

/** Nearest-rank percentile of an array sorted ascending. */
function pct(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

interface Seed {
  readonly sessionId: string;
  readonly authorIds: string[];
  readonly plotIds: string[];
}

const WORDS = ['hero', 'mentor', 'returns', 'Plot', 'story'];

export class LoadGenerator {
  readonly #options: LoadOptions;
  readonly #origin: string;
  readonly #pool: Pool;
  readonly #latencies = new Map<RequestKind, number[]>(KINDS.map((k) => [k, []]));
  readonly #statuses = new Map<RequestKind, Map<string, number>>(KINDS.map((k) => [k, new Map()]));
  /** Completions of the current second: [latency ms, ok]. */
  #window: number[] = [];
  #sent = 0;
  #completed = 0;
  #errors = 0;
  #skipped = 0;
  #inFlight = 0;
  #seq = 0;

  constructor(options: LoadOptions) {
    assertOptions(options);
    this.#options = options;
    this.#origin = new URL(options.target).origin;
    this.#pool = new Pool(this.#origin, {
      connections: Math.min(options.maxInFlight, 128),
      keepAliveTimeout: 30_000,
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
  }

  async #call(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const res = await this.#pool.request({
      method: method as 'GET',
      path,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.body.text();
    let json: unknown = undefined;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.statusCode, json };
  }

  async #created<T>(path: string, body: unknown): Promise<T> {
    const res = await this.#call('POST', path, body);
    if (res.status !== 201)
      throw new Error(
        `seeding: POST ${path} answered ${res.status}: ${JSON.stringify(res.json).slice(0, 300)}`,
      );
    return res.json as T;
  }

  /** A user, a session, 20 authors and `seedPlots` plots, through the API. */
  async seed(): Promise<Seed> {
    const tag = `load${Date.now().toString(36)}${randomUUID().slice(0, 4)}`;
    const user = await this.#created<{ id: string }>('/api/users', {
      email: `${tag}@example.test`,
      display_name: `Load ${tag}`,
    });
    const session = await this.#created<{ id: string }>('/api/sessions', {
      user_id: user.id,
      title: `Load test ${tag}`,
    });
    const authors = await this.#created<{ data: Array<{ id: string }> }>('/api/authors/batch', {
      items: Array.from({ length: 20 }, (_, i) => ({ session_id: session.id, name: `Author ${tag} ${i}` })),
    });
    const authorIds = authors.data.map((a) => a.id);
    const plotIds: string[] = [];
    for (let i = 0; i < this.#options.seedPlots; i += 500) {
      const n = Math.min(500, this.#options.seedPlots - i);
      const plots = await this.#created<{ data: Array<{ id: string }> }>('/api/plots/batch', {
        items: Array.from({ length: n }, (_, k) =>
          this.#plot(session.id, authorIds[(i + k) % authorIds.length]!, i + k),
        ),
      });
      plotIds.push(...plots.data.map((p) => p.id));
    }
    return { sessionId: session.id, authorIds, plotIds };
  }

  #plot(sessionId: string, authorId: string, i: number): Record<string, unknown> {
    return {
      session_id: sessionId,
      author_id: authorId,
      title: `Plot ${i}: the ${WORDS[i % WORDS.length]}`,
      summary: 'A story: the hero leaves home, meets a mentor and returns changed.',
      genre: ['fantasy', 'crime', 'romance'][i % 3],
      word_count: 1000 + i,
    };
  }

  #pick(): RequestKind {
    const { mix } = this.#options;
    let r = Math.random() * (mix.read + mix.search + mix.batch);
    for (const kind of KINDS) {
      r -= mix[kind];
      if (r < 0) return kind;
    }
    return 'read';
  }

  #request(kind: RequestKind, seed: Seed): Promise<{ status: number }> {
    const n = this.#seq++;
    switch (kind) {
      case 'read': {
        const id = seed.plotIds[Math.floor(Math.random() * seed.plotIds.length)]!;
        return this.#call('GET', `/api/plots/${id}${n % 3 === 0 ? '?include=author' : ''}`);
      }
      case 'search': {
        const word = WORDS[n % WORDS.length]!;
        return this.#call(
          'GET',
          `/api/plots?session_id=eq.${seed.sessionId}&q=${encodeURIComponent(word)}&include=author&limit=20&offset=${(n % 5) * 20}`,
        );
      }
      case 'batch':
        return this.#call('POST', '/api/plots/batch', {
          items: Array.from({ length: this.#options.batchSize }, (_, i) =>
            this.#plot(seed.sessionId, seed.authorIds[i % seed.authorIds.length]!, n * 1000 + i),
          ),
        });
    }
  }

  #dispatch(seed: Seed): Promise<void> {
    const kind = this.#pick();
    this.#sent++;
    this.#inFlight++;
    const started = performance.now();
    return this.#request(kind, seed).then(
      (res) => this.#record(kind, String(res.status), performance.now() - started, res.status < 400),
      () => this.#record(kind, 'error', performance.now() - started, false),
    );
  }

  #record(kind: RequestKind, status: string, ms: number, ok: boolean): void {
    this.#inFlight--;
    this.#completed++;
    if (!ok) this.#errors++;
    this.#latencies.get(kind)!.push(ms);
    const statuses = this.#statuses.get(kind)!;
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    this.#window.push(ms);
  }

  /** Seeds, runs the load for the duration, drains, and summarises. */
  async run(): Promise<LoadSummary> {
    const o = this.#options;
    const seed = await this.seed();
    const pending = new Set<Promise<void>>();
    const started = performance.now();
    const durationMs = o.durationS * 1000;
    let lastProgress = started;
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const now = performance.now();
        const elapsed = Math.min(now - started, durationMs);
        const due = Math.floor((elapsed / 1000) * o.rate) - this.#sent - this.#skipped;
        for (let i = 0; i < due; i++) {
          if (this.#inFlight >= o.maxInFlight) {
            this.#skipped++;
            continue;
          }
          const p = this.#dispatch(seed);
          pending.add(p);
          void p.finally(() => pending.delete(p));
        }
        if (now - lastProgress >= 1000 || elapsed >= durationMs) {
          lastProgress = now;
          this.#progress(elapsed / 1000);
        }
        if (elapsed >= durationMs || o.signal?.aborted === true) {
          clearInterval(timer);
          resolve();
        }
      };
      const timer = setInterval(tick, 5);
    });
    const sendingMs = performance.now() - started;
    let drainTimer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...pending]),
      new Promise<void>((resolve) => {
        drainTimer = setTimeout(resolve, DRAIN_MS);
      }),
    ]);
    clearTimeout(drainTimer);
    const abandoned = this.#inFlight;
    await this.#pool.destroy().catch(() => undefined);
    return this.#summary(seed, sendingMs / 1000, abandoned);
  }

  #progress(elapsedS: number): void {
    const window = this.#window.sort((a, b) => a - b);
    this.#window = [];
    this.#options.onProgress?.({
      elapsedS,
      sent: this.#sent,
      completed: this.#completed,
      liveRate: window.length,
      errors: this.#errors,
      skipped: this.#skipped,
      inFlight: this.#inFlight,
      p50Ms: pct(window, 50),
      p99Ms: pct(window, 99),
    });
  }

  #summary(seed: Seed, durationS: number, abandoned: number): LoadSummary {
    const kinds: KindSummary[] = [];
    const all: number[] = [];
    const allStatus: Record<string, number> = {};
    for (const kind of KINDS) {
      const lat = this.#latencies.get(kind)!.sort((a, b) => a - b);
      all.push(...lat);
      const byStatus = Object.fromEntries(this.#statuses.get(kind)!);
      for (const [s, n] of Object.entries(byStatus)) allStatus[s] = (allStatus[s] ?? 0) + n;
      kinds.push({
        kind,
        count: lat.length,
        byStatus,
        p50Ms: pct(lat, 50),
        p95Ms: pct(lat, 95),
        p99Ms: pct(lat, 99),
        maxMs: lat[lat.length - 1] ?? Number.NaN,
      });
    }
    all.sort((a, b) => a - b);
    kinds.push({
      kind: 'all',
      count: all.length,
      byStatus: allStatus,
      p50Ms: pct(all, 50),
      p95Ms: pct(all, 95),
      p99Ms: pct(all, 99),
      maxMs: all[all.length - 1] ?? Number.NaN,
    });
    return {
      target: this.#origin,
      durationS,
      requestedRate: this.#options.rate,
      achievedRate: this.#completed / durationS,
      sent: this.#sent,
      completed: this.#completed,
      skipped: this.#skipped,
      abandoned,
      kinds,
      seeded: { sessionId: seed.sessionId, plots: seed.plotIds.length, authors: seed.authorIds.length },
    };
  }
}

function assertOptions(o: LoadOptions): void {
  const problems: string[] = [];
  let url: URL | null = null;
  try {
    url = new URL(o.target);
  } catch {
    problems.push(`--target ${JSON.stringify(o.target)} is not a URL`);
  }
  if (url !== null && url.protocol !== 'http:' && url.protocol !== 'https:')
    problems.push('--target must be http(s)');
  if (!(o.durationS > 0 && o.durationS <= MAX_DURATION_S))
    problems.push(`--duration must be > 0 and <= ${MAX_DURATION_S} s`);
  if (!(o.rate > 0 && o.rate <= MAX_RATE)) problems.push(`--rate must be > 0 and <= ${MAX_RATE}`);
  if (!(Number.isInteger(o.maxInFlight) && o.maxInFlight >= 1 && o.maxInFlight <= MAX_IN_FLIGHT))
    problems.push(`--max-in-flight must be 1..${MAX_IN_FLIGHT}`);
  if (!(Number.isInteger(o.batchSize) && o.batchSize >= 1 && o.batchSize <= 5000))
    problems.push('--batch-size must be 1..5000');
  if (!(Number.isInteger(o.seedPlots) && o.seedPlots >= 1 && o.seedPlots <= 100_000))
    problems.push('--seed-plots must be 1..100000');
  if (problems.length > 0) throw new Error(problems.join('; '));
}

/** The summary as a plain-text table: one row per kind and a total. */
export function summaryTable(summary: LoadSummary): string {
  const statuses = [...new Set(summary.kinds.flatMap((k) => Object.keys(k.byStatus)))].sort();
  const header = [
    'kind',
    'count',
    ...statuses.map((s) => (s === 'error' ? 'no answer' : s)),
    'p50 ms',
    'p95 ms',
    'p99 ms',
    'max ms',
  ];
  const f = (v: number): string => (Number.isFinite(v) ? v.toFixed(v >= 100 ? 0 : 1) : '-');
  const rows = summary.kinds.map((k) => [
    k.kind,
    String(k.count),
    ...statuses.map((s) => String(k.byStatus[s] ?? 0)),
    f(k.p50Ms),
    f(k.p95Ms),
    f(k.p99Ms),
    f(k.maxMs),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
