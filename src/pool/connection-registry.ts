import type { CloseReason } from './types.js';

/**
 * Where a connection was acquired. Filled by `Error.captureStackTrace`, whose `stack` is formatted
 * lazily by V8: capturing is cheap, the string is only built when a leak or a forced close is reported.
 */
export interface AcquirerStack {
  stack?: string;
}

/** What the pool knows about one open connection. Times are `performance.now()` milliseconds. */
export interface ConnectionRecord {
  readonly createdAt: number;
  /** Opened by warm-up or refill rather than for a waiting acquirer: its first lending is a hit. */
  readonly warm: boolean;
  /** Times lent so far. */
  lentCount: number;
  /** Currently lent to a `withConnection` callback. */
  lent: boolean;
  /** When the current lending started. */
  acquiredAt: number;
  /** The current (or last) acquirer's stack. */
  acquirer: AcquirerStack | null;
  /** The current lending was already counted as a leak. */
  leakReported: boolean;
  /** Why tarn is about to destroy it, when we flagged it in tarn's `validate` hook. */
  closeReason: CloseReason | null;
}

/** Thrown on states that mean a bug in the pool (or in tarn); never expected in production. */
export class PoolStateError extends Error {
  override readonly name = 'PoolStateError';
}

/**
 * The pool's per-connection bookkeeping: one record per open connection, and the guards that make
 * misuse fail loudly (lending a connection twice, releasing one twice or one this pool never lent).
 */
export class ConnectionRegistry<C> {
  readonly #records = new Map<C, ConnectionRecord>();
  #lent = 0;

  /** Open connections. */
  get size(): number {
    return this.#records.size;
  }

  /** Connections currently lent. */
  get lent(): number {
    return this.#lent;
  }

  /** Registers a newly opened connection. */
  add(connection: C, warm: boolean, now: number): ConnectionRecord {
    if (this.#records.has(connection)) {
      throw new PoolStateError('The factory returned a connection that is already open in this pool.');
    }
    const record: ConnectionRecord = {
      createdAt: now,
      warm,
      lentCount: 0,
      lent: false,
      acquiredAt: 0,
      acquirer: null,
      leakReported: false,
      closeReason: null,
    };
    this.#records.set(connection, record);
    return record;
  }

  get(connection: C): ConnectionRecord | undefined {
    return this.#records.get(connection);
  }

  /**
   * Marks a connection lent and says whether the lending is a hit (warm, or lent before) or a miss
   * (opened on demand and never lent). Throws if it is unknown or already lent.
   */
  lend(connection: C, now: number, acquirer: AcquirerStack): 'hit' | 'miss' {
    const record = this.#records.get(connection);
    if (record === undefined) throw new PoolStateError('Lending a connection this pool does not know.');
    if (record.lent) throw new PoolStateError('Lending a connection that is already lent (lent twice).');
    const outcome = record.lentCount === 0 && !record.warm ? 'miss' : 'hit';
    record.lent = true;
    record.lentCount++;
    record.acquiredAt = now;
    record.acquirer = acquirer;
    record.leakReported = false;
    this.#lent++;
    return outcome;
  }

  /** Marks a lent connection returned. Throws on a double release or a connection this pool did not lend. */
  release(connection: C): ConnectionRecord {
    const record = this.#records.get(connection);
    if (record === undefined) {
      throw new PoolStateError('Releasing a connection this pool does not know (foreign or already closed).');
    }
    if (!record.lent) throw new PoolStateError('Releasing a connection that is not lent (double release).');
    record.lent = false;
    this.#lent--;
    return record;
  }

  /** Forgets a connection that is being closed; undefined if it was already forgotten (closed once only). */
  remove(connection: C): ConnectionRecord | undefined {
    const record = this.#records.get(connection);
    if (record === undefined) return undefined;
    this.#records.delete(connection);
    if (record.lent) {
      record.lent = false;
      this.#lent--;
    }
    return record;
  }

  entries(): IterableIterator<[C, ConnectionRecord]> {
    return this.#records.entries();
  }
}
