import type { DistributionSummary } from './types.js';

/** Samples kept for percentiles: enough for stable p99s, small enough to sort on every stats() call. */
export const RESERVOIR_SIZE = 1024;

/**
 * A sample distribution for the JSON API: count, sum and max over the whole window, percentiles over
 * the most recent {@link RESERVOIR_SIZE} samples (a ring buffer). Recording is O(1) and allocation-free
 * so it can sit on the acquire path; the sort happens only when someone asks for a summary.
 */
export class Distribution {
  readonly #ring = new Float64Array(RESERVOIR_SIZE);
  /** Next slot to write. */
  #next = 0;
  /** Slots holding a sample (≤ RESERVOIR_SIZE). */
  #filled = 0;
  #count = 0;
  #sum = 0;
  #max = 0;

  /** Adds one sample (milliseconds). */
  record(ms: number): void {
    this.#ring[this.#next] = ms;
    this.#next = this.#next + 1 === RESERVOIR_SIZE ? 0 : this.#next + 1;
    if (this.#filled < RESERVOIR_SIZE) this.#filled++;
    this.#count++;
    this.#sum += ms;
    if (ms > this.#max) this.#max = ms;
  }

  /** Count, average and max since the last reset; nearest-rank percentiles of the recent samples (ms). */
  summary(): DistributionSummary {
    if (this.#count === 0) return { count: 0, avg: null, p50: null, p95: null, p99: null, max: null };
    // Float64Array#sort is numeric, unlike Array#sort.
    const sorted = this.#ring.slice(0, this.#filled).sort();
    const rank = (q: number): number => round3(sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? 0);
    return {
      count: this.#count,
      avg: round3(this.#sum / this.#count),
      p50: rank(0.5),
      p95: rank(0.95),
      p99: rank(0.99),
      max: round3(this.#max),
    };
  }
}

/** Microsecond resolution is plenty for a JSON API and keeps the numbers readable. */
function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
