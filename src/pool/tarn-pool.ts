import { Pool } from 'tarn';
import type { PoolOptions } from 'tarn/dist/Pool';
import type { Resource } from 'tarn/dist/Resource';

/**
 * The part of {@link TarnPool} that ObservedPool uses, written as method signatures. Method
 * parameters are compared bivariantly, so ObservedPool<C> stays covariant in C (an
 * `ObservedPool<SqliteConnection>` is an `ObservedPool<unknown>`, which the adapter contract needs);
 * tarn's own class is invariant because of its `PendingOperation<T>` fields.
 */
export interface TarnHandle<C> {
  acquire(): { readonly promise: Promise<C>; abort(): void };
  release(connection: C): boolean;
  destroy(): Promise<unknown>;
  numPendingAcquires(): number;
  numPendingCreates(): number;
  createIdle(): Promise<boolean>;
  checkOutIdle(): Resource<C>[];
  checkIn(resource: Resource<C>): boolean;
  discard(connection: C): boolean;
  serveWaiters(): void;
  abortWaiters(): void;
  isDestroyed(): boolean;
  held(): { free: C[]; used: C[] };
}

/**
 * tarn's Pool plus the handful of operations ObservedPool needs and tarn keeps `protected`
 * (`free`, `used`, `pendingCreates`). Internal to src/pool; nothing here changes how tarn lends,
 * creates, validates or reaps — it only moves resources between tarn's own lists the way tarn
 * itself does, so tarn's `max` accounting (`used + pendingCreates < max`) stays correct.
 *
 * Written against tarn 3.1 (dist/Pool.js). If tarn is upgraded, re-read `_create`, `_doAcquire`,
 * `release` and `check` there.
 */
export class TarnPool<C> extends Pool<C> implements TarnHandle<C> {
  /** Read synchronously by the `create` hook: tarn calls the creator inside `_create()`. */
  readonly #createKind: { warm: boolean };

  /**
   * @param options tarn options without `create`.
   * @param create opens a connection; `warm` is true for connections opened by {@link createIdle}
   *   (warm-up, refill) rather than for a waiting acquirer.
   */
  constructor(options: Omit<PoolOptions<C>, 'create'>, create: (warm: boolean) => Promise<C>) {
    // A holder rather than a field: the closure must exist before super() returns.
    const kind = { warm: false };
    super({ ...options, create: () => create(kind.warm) });
    this.#createKind = kind;
  }

  /**
   * Opens one connection that lands in tarn's idle list without an acquire (tarn's `min` never
   * pre-creates). Goes through tarn's own `_create()` so it counts against `max` while in flight.
   * Resolves false (and creates nothing) when the pool is destroyed or already at `max`.
   */
  createIdle(): Promise<boolean> {
    if (this.destroyed || this.used.length + this.free.length + this.pendingCreates.length >= this.max) {
      return Promise.resolve(false);
    }
    this.#createKind.warm = true;
    let pending;
    try {
      pending = this._create();
    } finally {
      this.#createKind.warm = false;
    }
    return pending.promise.then(() => {
      // Idle connections above `min` must be reaped even if nobody ever acquires them.
      this._startReaping();
      this.serveWaiters();
      return true;
    });
  }

  /**
   * Moves every idle connection into tarn's `used` list so that nobody can borrow it while the
   * health monitor checks it, and returns them. Give each back with {@link checkIn} or {@link discard}.
   */
  checkOutIdle(): Resource<C>[] {
    const taken = this.free;
    this.free = [];
    this.used.push(...taken);
    return taken;
  }

  /**
   * Returns a checked-out connection to the idle list. The original Resource goes back, so its idle
   * timestamp is kept: a health check must not keep otherwise idle connections from being reaped.
   */
  checkIn(resource: Resource<C>): boolean {
    const i = this.used.indexOf(resource);
    if (i === -1) return false;
    this.used.splice(i, 1);
    this.free.push(resource);
    this.serveWaiters();
    return true;
  }

  /**
   * Removes a borrowed or checked-out connection from tarn without returning it to the idle list;
   * the caller closes it. Settles tarn's per-resource deferred so that `destroy()` never waits for
   * it. Call {@link serveWaiters} afterwards so waiters can get a replacement.
   */
  discard(connection: C): boolean {
    for (let i = 0; i < this.used.length; i++) {
      const resource = this.used[i];
      if (resource !== undefined && resource.resource === connection) {
        this.used.splice(i, 1);
        resource.settle();
        return true;
      }
    }
    return false;
  }

  /** Hands idle connections to waiters, or starts creates for them if there is room (tarn's loop). */
  serveWaiters(): void {
    this._tryAcquireOrCreate();
  }

  /**
   * Rejects every waiting acquire at once (tarn's `destroy()` only does so after every borrowed
   * resource came back). Acquires being validated are aborted too; tarn then returns their resource
   * to the idle list.
   */
  abortWaiters(): void {
    for (const waiter of [...this.pendingAcquires, ...this.pendingValidations]) waiter.abort();
  }

  /** True once `destroy()` has been called. */
  isDestroyed(): boolean {
    return this.destroyed;
  }

  /** The connections tarn currently holds, for invariant checks (copies). */
  held(): { free: C[]; used: C[] } {
    return { free: this.free.map((r) => r.resource), used: this.used.map((r) => r.resource) };
  }

  /** tarn's reaping interval is not unref'd; it must not keep the process alive on its own. */
  override _startReaping(): void {
    super._startReaping();
    this.interval?.unref();
  }
}
