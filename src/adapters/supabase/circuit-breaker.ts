/**
 * The Supabase adapter's circuit breaker: when the API cannot be reached, callers are told so at
 * once instead of each waiting for a connect retry loop or a request timeout.
 *
 * - closed: requests go through. Connection-level failures (connect refused/reset, a socket closed
 *   mid-answer, a failed connection create, a request timeout) are counted; any answer from the
 *   server (even a 4xx/5xx: the network works) resets the count. `failureThreshold` consecutive
 *   failures within `windowMs` open the circuit.
 * - open: requests fail fast with 503 DB_UNAVAILABLE and Retry-After (the rest of the cool-down),
 *   without touching the network. Callers already waiting for a connection are released too.
 * - half_open: after `cooldownMs`, one request is let through as the probe (the others still fail
 *   fast); its success closes the circuit, its failure opens it again for another cool-down.
 *
 * `failureThreshold` 0 disables the breaker (always closed).
 */
import { DatabaseError } from '../../errors/index.js';

export type CircuitState = 'closed' | 'open' | 'half_open';

export interface CircuitBreakerOptions {
  /** Consecutive connection-level failures that open the circuit; 0 = never open. */
  readonly failureThreshold: number;
  /** The failures must fall within this window (ms) of each other (first to last). */
  readonly windowMs: number;
  /** How long the circuit stays open before a probe is let through (ms). */
  readonly cooldownMs: number;
  /** Clock (tests). */
  readonly now?: () => number;
}

export interface CircuitSnapshot {
  readonly state: CircuitState;
  /** When the circuit last opened (ISO-8601), null while it never has since it last closed. */
  readonly openedAt: string | null;
  readonly consecutiveFailures: number;
}

export const DEFAULT_CIRCUIT_OPTIONS: CircuitBreakerOptions = Object.freeze({
  failureThreshold: 5,
  windowMs: 10_000,
  cooldownMs: 5_000,
});

export class CircuitBreaker {
  readonly #options: CircuitBreakerOptions;
  readonly #now: () => number;
  #state: CircuitState = 'closed';
  #failures = 0;
  #firstFailureAt = 0;
  #openedAt: number | null = null;
  #probeInFlight = false;
  /** Resolved listeners waiting for the circuit to open (callers stuck in a pool acquire). */
  readonly #onOpen = new Set<() => void>();

  constructor(options: CircuitBreakerOptions = DEFAULT_CIRCUIT_OPTIONS) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.#options.failureThreshold > 0;
  }

  /** The state now (an open circuit whose cool-down has passed reads as half_open). */
  get state(): CircuitState {
    if (this.#state === 'open' && this.#cooldownLeftMs() === 0) return 'half_open';
    return this.#state;
  }

  snapshot(): CircuitSnapshot {
    return {
      state: this.state,
      openedAt: this.#openedAt === null ? null : new Date(this.#openedAt).toISOString(),
      consecutiveFailures: this.#failures,
    };
  }

  #cooldownLeftMs(): number {
    if (this.#openedAt === null) return 0;
    return Math.max(0, this.#openedAt + this.#options.cooldownMs - this.#now());
  }

  /**
   * Admits one request or throws the fail-fast error. Returns true when the request is the
   * half-open probe (its outcome decides; the caller must report it with success()/failure()).
   */
  admit(): boolean {
    if (!this.enabled) return false;
    const state = this.state;
    if (state === 'closed') return false;
    if (state === 'half_open' && !this.#probeInFlight) {
      this.#state = 'half_open';
      this.#probeInFlight = true;
      return true;
    }
    throw this.openError();
  }

  /** The error of a request refused while the circuit is open. */
  openError(): DatabaseError {
    const retryAfterSeconds = Math.max(1, Math.ceil(this.#cooldownLeftMs() / 1000));
    return new DatabaseError(
      'DB_UNAVAILABLE',
      'The Supabase API is unreachable (circuit breaker open after repeated connection failures); ' +
        'not retrying until the cool-down ends.',
      { details: { circuit: 'open' }, retryAfterSeconds },
    );
  }

  /** The server answered (any HTTP status). */
  success(): void {
    this.#probeInFlight = false;
    this.#failures = 0;
    if (this.#state !== 'closed') {
      this.#state = 'closed';
      this.#openedAt = null;
    }
  }

  /** The probe ended without a verdict (e.g. refused locally): let another request probe. */
  release(): void {
    this.#probeInFlight = false;
  }

  /** A connection-level failure or a timeout. */
  failure(): void {
    if (!this.enabled) return;
    const now = this.#now();
    if (this.#state === 'half_open' || this.#probeInFlight) {
      this.#probeInFlight = false;
      this.#failures++;
      this.#open(now);
      return;
    }
    if (this.#state === 'open') {
      this.#failures++;
      return;
    }
    if (this.#failures === 0 || now - this.#firstFailureAt > this.#options.windowMs) {
      this.#failures = 0;
      this.#firstFailureAt = now;
    }
    this.#failures++;
    if (this.#failures >= this.#options.failureThreshold) this.#open(now);
  }

  #open(now: number): void {
    this.#state = 'open';
    this.#openedAt = now;
    const listeners = [...this.#onOpen];
    this.#onOpen.clear();
    for (const listener of listeners) listener();
  }

  /**
   * Races `work` against the circuit opening: a caller stuck waiting (a pool acquire while every
   * connect fails) is released with the fail-fast error as soon as the circuit opens. `abandoned`
   * tells the work, if it starts later, that nobody waits for it any more (it must not send).
   */
  async race<T>(work: (abandoned: () => boolean) => Promise<T>): Promise<T> {
    if (!this.enabled) return work(() => false);
    let gaveUp = false;
    let listener: (() => void) | null = null;
    const opened = new Promise<never>((_, reject) => {
      listener = () => {
        gaveUp = true;
        reject(this.openError());
      };
      this.#onOpen.add(listener);
    });
    const running = work(() => gaveUp);
    // The losing side must not become an unhandled rejection.
    running.catch(() => undefined);
    opened.catch(() => undefined);
    try {
      return await Promise.race([running, opened]);
    } finally {
      if (listener !== null) this.#onOpen.delete(listener);
    }
  }
}
