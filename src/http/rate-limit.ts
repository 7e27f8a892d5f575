/**
 * Per-client rate limit of the write endpoints: one token bucket per client address. A bucket
 * holds at most `burst` tokens and refills at `writesPerMinute / 60` tokens per second; each write
 * takes one token, and a write that finds the bucket empty is answered 429 RATE_LIMITED with
 * `Retry-After` (whole seconds until a token is back) before its body is read.
 *
 * Memory is bounded: a bucket that has refilled completely is indistinguishable from a new one,
 * so idle buckets are dropped by a periodic sweep, and at most `maxClients` buckets exist at once
 * (the least recently seen goes first — a Map keeps insertion order and a bucket is re-inserted on
 * every use).
 */
import type { RequestHandler } from 'express';
import type { RateLimitConfig } from '../config/index.js';
import { AppError } from '../errors/index.js';
import { rememberRoute } from './request-context.js';

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date (ms, from the clock). */
  updatedMs: number;
}

export interface RateLimiterOptions extends RateLimitConfig {
  /** Milliseconds since some origin; `performance.now` by default (tests pass a fake clock). */
  readonly now?: () => number;
  /** Sweep period for idle buckets (ms); 0 = no timer (call {@link TokenBucketLimiter.sweep}). Default 60 000. */
  readonly sweepIntervalMs?: number;
}

export type TakeResult = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterSeconds: number };

/** Token buckets keyed by client. */
export class TokenBucketLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #perMs: number;
  readonly #burst: number;
  readonly #maxClients: number;
  readonly #now: () => number;
  readonly #timer: NodeJS.Timeout | null;

  constructor(options: RateLimiterOptions) {
    if (!(options.writesPerMinute > 0)) throw new RangeError('writesPerMinute must be > 0');
    if (!(options.burst >= 1)) throw new RangeError('burst must be >= 1');
    if (!(options.maxClients >= 1)) throw new RangeError('maxClients must be >= 1');
    this.#perMs = options.writesPerMinute / 60_000;
    this.#burst = options.burst;
    this.#maxClients = options.maxClients;
    this.#now = options.now ?? (() => performance.now());
    const sweepMs = options.sweepIntervalMs ?? 60_000;
    this.#timer = sweepMs > 0 ? setInterval(() => this.sweep(), sweepMs).unref() : null;
  }

  /** Buckets currently held. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Takes one token for `key`, or says how long until one is available. */
  take(key: string): TakeResult {
    const now = this.#now();
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.#maxClients) {
        // Full: forget the least recently seen client (it starts over with a full bucket). O(1),
        // so a flood of new addresses costs no more than ordinary traffic.
        const oldest = this.#buckets.keys().next();
        if (!oldest.done) this.#buckets.delete(oldest.value);
      }
      bucket = { tokens: this.#burst, updatedMs: now };
    } else {
      this.#buckets.delete(key); // re-inserted below: most recently seen last
      bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.updatedMs) * this.#perMs);
      bucket.updatedMs = now;
    }
    this.#buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.#perMs / 1000)) };
  }

  /** Drops every bucket that has refilled completely (it would be created full anyway). */
  sweep(): void {
    const now = this.#now();
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + (now - bucket.updatedMs) * this.#perMs >= this.#burst) this.#buckets.delete(key);
    }
  }

  /** Stops the sweep timer. */
  close(): void {
    if (this.#timer) clearInterval(this.#timer);
  }
}

/**
 * The bucket key of a client address: IPv4 as is, IPv6 by its /64 prefix (one subscriber usually
 * holds a whole /64, so per-address buckets would be free to multiply).
 */
export function clientKey(address: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (v4) return v4[1]!;
  if (!address.includes(':')) return address;
  const [head = '', tail] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => (g === '' ? '0' : g.toLowerCase().replace(/^0+(?=.)/, '')))
    .join(':')}::/64`;
}

/**
 * The middleware: a no-op when the limit is off (`writesPerMinute` 0). Keyed by `req.ip`, which is
 * the TCP peer unless TRUST_PROXY names the proxies allowed to report the client.
 */
export function rateLimitWrites(limiter: TokenBucketLimiter | null): RequestHandler {
  if (limiter === null) return (_req, _res, next) => next();
  return (req, _res, next) => {
    rememberRoute(req);
    const result = limiter.take(clientKey(req.ip ?? req.socket.remoteAddress ?? 'unknown'));
    if (result.allowed) {
      next();
      return;
    }
    next(
      new AppError('RATE_LIMITED', `Too many writes from this client; retry in ${result.retryAfterSeconds} s.`, {
        retryAfterSeconds: result.retryAfterSeconds,
        details: { retry_after_seconds: result.retryAfterSeconds },
      }),
    );
  };
}
