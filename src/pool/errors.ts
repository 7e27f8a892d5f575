import { AppError } from '../errors/index.js';
import type { PoolSnapshot } from './types.js';

/** No connection became free within the acquire timeout. Carries the pool's state at that moment. */
export class PoolTimeoutError extends AppError {
  readonly snapshot: PoolSnapshot;
  /** How long the caller waited (ms). */
  readonly waitedMs: number;
  constructor(snapshot: PoolSnapshot, waitedMs: number, cause?: unknown) {
    super(
      'DB_POOL_TIMEOUT',
      `No ${snapshot.name} connection became free within ${Math.round(waitedMs)} ms ` +
        `(used ${snapshot.used}/${snapshot.max}, waiting ${snapshot.pending}` +
        (snapshot.lastCreateError ? `, last connect error: ${snapshot.lastCreateError}` : '') +
        ').',
      { cause, details: { pool: snapshot }, retryAfterSeconds: 1 },
    );
    this.snapshot = snapshot;
    this.waitedMs = waitedMs;
  }
}

/** The wait queue is full: the acquire is refused at once instead of piling up. */
export class PoolSaturatedError extends AppError {
  readonly snapshot: PoolSnapshot;
  constructor(snapshot: PoolSnapshot, maxWaiting: number) {
    super(
      'DB_POOL_SATURATED',
      `The ${snapshot.name} pool is saturated: all ${snapshot.max} connections are busy and ` +
        `${maxWaiting} callers are already waiting.`,
      { details: { pool: snapshot }, retryAfterSeconds: 1 },
    );
    this.snapshot = snapshot;
  }
}

/** The pool is stopping or stopped. */
export class PoolClosedError extends AppError {
  constructor(poolName: string) {
    super('DB_POOL_CLOSED', `The ${poolName} pool is closed.`, { retryAfterSeconds: 5 });
  }
}

/**
 * True for a {@link PoolTimeoutError} that the database caused rather than busy connections: when
 * it timed out the pool had room for another connection (`used < max`), and its creates were
 * failing (`lastCreateError` is set until a create succeeds) or still opening (`creating > 0`:
 * the database takes longer than the acquire timeout to accept a connection). Such a caller did not
 * wait for a busy pool; the database could not be reached. Adapters report it as `DB_UNAVAILABLE`
 * rather than `DB_POOL_TIMEOUT` (which says "the pool is too small or the work too slow").
 */
export function isCreateFailureTimeout(err: unknown): err is PoolTimeoutError {
  if (!(err instanceof PoolTimeoutError)) return false;
  const s = err.snapshot;
  return s.used < s.max && (s.lastCreateError !== null || s.creating > 0);
}
