/**
 * Windowed runtime numbers for the JSON metrics API: HTTP request counts, error counts and latency
 * percentiles since the last reset, and the event loop's delay. Prometheus has its own monotonic
 * series; these exist so that `GET /metrics/performance/summary` can answer without a Prometheus.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Distribution } from '../pool/distribution.js';
import type { DistributionSummary } from '../pool/types.js';

export interface HttpWindowSummary {
  readonly requests: number;
  readonly server_errors: number;
  readonly client_errors: number;
  /** Requests per second over the window. */
  readonly rate_per_second: number;
  /** 5xx / requests (null before the first request). */
  readonly error_rate: number | null;
  readonly latency_ms: DistributionSummary;
  readonly window_seconds: number;
}

export interface EventLoopSummary {
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly max_ms: number;
  readonly mean_ms: number;
}

export class RuntimeStats {
  #since = Date.now();
  #requests = 0;
  #serverErrors = 0;
  #clientErrors = 0;
  #latency = new Distribution();
  readonly #loop: IntervalHistogram;

  constructor() {
    // 10 ms resolution is what the event-loop-lag question needs and costs next to nothing.
    this.#loop = monitorEventLoopDelay({ resolution: 10 });
    this.#loop.enable();
  }

  recordRequest(status: number, durationMs: number): void {
    this.#requests += 1;
    if (status >= 500) this.#serverErrors += 1;
    else if (status >= 400) this.#clientErrors += 1;
    this.#latency.record(durationMs);
  }

  http(): HttpWindowSummary {
    const windowSeconds = Math.max((Date.now() - this.#since) / 1000, 0.001);
    return {
      requests: this.#requests,
      server_errors: this.#serverErrors,
      client_errors: this.#clientErrors,
      rate_per_second: Math.round((this.#requests / windowSeconds) * 1000) / 1000,
      error_rate: this.#requests === 0 ? null : this.#serverErrors / this.#requests,
      latency_ms: this.#latency.summary(),
      window_seconds: Math.round(windowSeconds * 1000) / 1000,
    };
  }

  eventLoop(): EventLoopSummary {
    const ms = (ns: number): number => Math.round(ns / 1e3) / 1e3;
    const h = this.#loop;
    return {
      p50_ms: ms(h.percentile(50)),
      p99_ms: ms(h.percentile(99)),
      max_ms: ms(h.max),
      mean_ms: Number.isNaN(h.mean) ? 0 : ms(h.mean),
    };
  }

  /** When the window began (ISO). */
  since(): string {
    return new Date(this.#since).toISOString();
  }

  reset(): void {
    this.#since = Date.now();
    this.#requests = 0;
    this.#serverErrors = 0;
    this.#clientErrors = 0;
    this.#latency = new Distribution();
    this.#loop.reset();
  }

  stop(): void {
    this.#loop.disable();
  }
}
