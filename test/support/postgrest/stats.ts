/**
 * Socket- and request-level counters of the test server, so tests can prove client behaviour
 * (e.g. N sequential requests over one kept-alive socket → `connections === 1`).
 */
import type { IncomingHttpHeaders } from 'node:http';

/** One request as the server saw it. Secrets (`apikey`, `authorization`) are redacted. */
export interface RecordedRequest {
  readonly method: string;
  /** Path and query string as received. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Response status, or how the request ended when a fault swallowed it. */
  outcome: number | 'reset' | 'black-hole' | 'pending';
}

export type FaultKind = 'latency' | 'fail' | 'reset' | 'html' | 'blackHole' | 'refused';

export interface ServerStats {
  /** TCP connections accepted since start (or `reset()`): one per 'connection' event. */
  readonly connections: number;
  /** Sockets open right now (kept-alive idle ones included). */
  readonly openSockets: number;
  /** Requests received (before any fault is applied). */
  readonly requests: number;
  readonly requestsByMethod: Readonly<Record<string, number>>;
  /** How many times each fault fired. */
  readonly faultsInjected: Readonly<Record<FaultKind, number>>;
  /** The last requests (at most 200), oldest first. */
  readonly recentRequests: readonly RecordedRequest[];
  /** Zeroes the counters and the request log (open sockets stay what they are). */
  reset(): void;
}

const REDACTED_HEADERS = new Set(['apikey', 'authorization']);
const MAX_RECORDED = 200;

function emptyFaults(): Record<FaultKind, number> {
  return { latency: 0, fail: 0, reset: 0, html: 0, blackHole: 0, refused: 0 };
}

export class StatsRecorder implements ServerStats {
  #connections = 0;
  #requests = 0;
  #byMethod: Record<string, number> = {};
  #faults = emptyFaults();
  #recent: RecordedRequest[] = [];

  constructor(private readonly openSocketCount: () => number) {}

  get connections(): number {
    return this.#connections;
  }
  get openSockets(): number {
    return this.openSocketCount();
  }
  get requests(): number {
    return this.#requests;
  }
  get requestsByMethod(): Readonly<Record<string, number>> {
    return { ...this.#byMethod };
  }
  get faultsInjected(): Readonly<Record<FaultKind, number>> {
    return { ...this.#faults };
  }
  get recentRequests(): readonly RecordedRequest[] {
    return [...this.#recent];
  }

  reset(): void {
    this.#connections = 0;
    this.#requests = 0;
    this.#byMethod = {};
    this.#faults = emptyFaults();
    this.#recent = [];
  }

  onConnection(): void {
    this.#connections += 1;
  }

  onFault(kind: FaultKind): void {
    this.#faults[kind] += 1;
  }

  onRequest(method: string, url: string, headers: IncomingHttpHeaders): RecordedRequest {
    this.#requests += 1;
    this.#byMethod[method] = (this.#byMethod[method] ?? 0) + 1;
    const flat: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined) continue;
      flat[name] = REDACTED_HEADERS.has(name) ? '***' : Array.isArray(value) ? value.join(', ') : value;
    }
    const record: RecordedRequest = { method, url, headers: flat, outcome: 'pending' };
    this.#recent.push(record);
    if (this.#recent.length > MAX_RECORDED) this.#recent.shift();
    return record;
  }
}
