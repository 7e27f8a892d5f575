import { performance } from 'node:perf_hooks';
import { TimeoutError as TarnTimeoutError } from 'tarn';
import type { Resource } from 'tarn/dist/Resource';
import { DatabaseError } from '../errors/index.js';
import { ConnectionRegistry, PoolStateError } from './connection-registry.js';
import type { AcquirerStack } from './connection-registry.js';
import { Distribution } from './distribution.js';
import { PoolClosedError, PoolSaturatedError, PoolTimeoutError } from './errors.js';
import { validatePoolOptions } from './options.js';
import { TarnPool } from './tarn-pool.js';
import type { TarnHandle } from './tarn-pool.js';
import type {
  AcquireOutcome,
  CloseReason,
  ConnectionFactory,
  CreateOutcome,
  ObservedPoolOptions,
  PoolObserver,
  PoolSnapshot,
  PoolStats,
  PoolStopReport,
} from './types.js';

/** Error messages kept for stats and snapshots are cut to this many characters. */
export const MAX_ERROR_MESSAGE_LENGTH = 200;

/**
 * After the grace period and the forced closes, stop() waits at most this long (ms) for
 * `factory.destroy` calls and in-flight creates to finish; whatever is still running then finishes
 * in the background (tarn closes late creates itself).
 */
export const STOP_CLOSE_BUDGET_MS = 1000;

/** Counters of the JSON API's window (reset by resetWindow()). */
interface WindowCounters {
  hits: number;
  misses: number;
  timeouts: number;
  rejected: number;
  acquireErrors: number;
  created: number;
  createFailures: number;
  closed: number;
  closedByReason: Record<CloseReason, number>;
  leaks: number;
  healthChecks: number;
  healthCheckFailures: number;
  readonly wait: Distribution;
  readonly use: Distribution;
  readonly create: Distribution;
  readonly startedAt: string;
}

function newWindow(): WindowCounters {
  return {
    hits: 0,
    misses: 0,
    timeouts: 0,
    rejected: 0,
    acquireErrors: 0,
    created: 0,
    createFailures: 0,
    closed: 0,
    closedByReason: { idle: 0, unhealthy: 0, max_lifetime: 0, shutdown: 0, error: 0 },
    leaks: 0,
    healthChecks: 0,
    healthCheckFailures: 0,
    wait: new Distribution(),
    use: new Distribution(),
    create: new Distribution(),
    startedAt: new Date().toISOString(),
  };
}

interface RefillResult {
  /** Creates started. */
  readonly attempted: number;
  readonly failed: number;
  readonly error: string | null;
  readonly cause: unknown;
}

/**
 * A tarn pool that observes itself: hit/miss, wait/use/create times, health, leaks, max lifetime,
 * a bounded wait queue and a shutdown that never hangs. `C` must be an object (connections are
 * keys of a Map, and tarn treats falsy resources as "no resource").
 *
 * Lifecycle: construct → {@link start} (warm-up, timers) → {@link withConnection}… → {@link stop}.
 * Acquiring before start() works (connections are opened on demand) but there is no warm-up, no
 * health monitor and no leak detection until start() is called.
 *
 * Creation failures: tarn's `propagateCreateError` is off on purpose. A failed create is retried
 * (every `acquireTimeoutMs / 5` ms, at most 200 ms) while acquirers wait, so a single transient
 * connect error does not fail a request; if creates keep failing, the waiters get a
 * {@link PoolTimeoutError} at `acquireTimeoutMs` whose message names the last create error.
 */
export class ObservedPool<C> {
  /** Label value for `pool`. */
  readonly name: string;
  /** Label value for `db_system`. */
  readonly dbSystem: string;

  readonly #options: Readonly<ObservedPoolOptions<C>>;
  readonly #factory: ConnectionFactory<C>;
  readonly #observer: PoolObserver;
  readonly #tarn: TarnHandle<C>;
  readonly #registry = new ConnectionRegistry<C>();
  /** Idle connections the health monitor has checked out of tarn right now. */
  readonly #checkedOut = new Set<Resource<C>>();
  /** Connections stop() force-closed while still lent: their later release is expected and quiet. */
  readonly #forceClosed = new Set<C>();
  /** factory.destroy calls in flight (stop() waits for them, bounded). */
  readonly #destroys = new Set<Promise<void>>();

  /** Acquirer stacks are captured only when leak detection is on (leakThresholdMs > 0). */
  readonly #captureStacks: boolean;
  /** Acquirers that have not got a connection yet (waiting in tarn or being validated). */
  #pending = 0;
  /** factory.create calls in flight. */
  #creating = 0;
  #lastCreateError: string | null = null;
  #window = newWindow();
  /** Lifetime totals (never reset), for the created − closed = total invariant. */
  #createdTotal = 0;
  #closedTotal = 0;
  /** Acquires that returned a connection already lent: must stay 0 (see assertInvariants). */
  #doubleLends = 0;

  #healthy = true;
  #consecutiveHealthFailures = 0;
  #lastHealthError: string | null = null;
  #lastHealthCheckAt: string | null = null;
  #healthRun: Promise<boolean> | null = null;

  #startPromise: Promise<void> | null = null;
  #timers: NodeJS.Timeout[] = [];
  #stopPromise: Promise<PoolStopReport> | null = null;
  #stopping = false;
  /** Called by release() when the last lent connection comes back during stop(). */
  #onDrained: (() => void) | null = null;

  /**
   * @param options validated (unknown keys, non-integers, min > max… throw one Error listing every
   *   problem) and frozen.
   * @param observer receives every acquire, release, create, close, leak and health check; its
   *   exceptions are swallowed.
   */
  constructor(options: ObservedPoolOptions<C>, observer: PoolObserver = {}) {
    this.#options = validatePoolOptions(options);
    this.name = this.#options.name;
    this.dbSystem = this.#options.dbSystem;
    this.#factory = this.#options.factory;
    this.#observer = observer;
    const o = this.#options;
    this.#captureStacks = o.leakThresholdMs > 0;
    this.#tarn = new TarnPool<C>(
      {
        min: o.min,
        max: o.max,
        acquireTimeoutMillis: o.acquireTimeoutMs,
        // Our own create timeout (createTimeoutMs) fires first; tarn's is only a backstop, so a late
        // connection is handled by us (closed, not counted) instead of by tarn's destroy-on-arrival.
        createTimeoutMillis: o.createTimeoutMs + 1000,
        destroyTimeoutMillis: o.createTimeoutMs,
        idleTimeoutMillis: o.idleTimeoutMs,
        reapIntervalMillis: clamp(Math.floor(o.idleTimeoutMs / 4), 10, 1000),
        createRetryIntervalMillis: clamp(Math.floor(o.acquireTimeoutMs / 5), 10, 200),
        propagateCreateError: false,
        validate: (connection) => this.#validateForLending(connection),
        destroy: (connection) => this.#destroyFromTarn(connection),
      },
      (warm) => this.#create(warm),
    );
  }

  /**
   * Warms the pool up: opens `min` connections in parallel, then starts the health monitor and the
   * leak sweep (unref'd intervals). Idempotent: while a start is running or after it succeeded, the
   * same promise is returned.
   *
   * If any warm-up connection cannot be opened, rejects with a `DatabaseError` of code
   * `DB_UNAVAILABLE` (message names the last connect error). The pool then stays **usable and
   * retrying**: its timers keep running, the health monitor keeps refilling to `min`, acquires open
   * connections on demand, and start() may be called again to retry the warm-up. Call stop() to
   * give up. After stop(), rejects with PoolClosedError.
   */
  start(): Promise<void> {
    if (this.#stopping) return Promise.reject(new PoolClosedError(this.name));
    if (this.#startPromise !== null) return this.#startPromise;
    this.#startTimers();
    const started = this.#warmUp();
    this.#startPromise = started;
    started.catch(() => {
      // A failed warm-up may be retried by calling start() again.
      if (this.#startPromise === started) this.#startPromise = null;
    });
    return started;
  }

  /**
   * Runs `fn` with a connection: acquires, calls `fn`, releases in `finally`. The only place that
   * acquires and releases, so a connection cannot leak past `fn`.
   *
   * @throws PoolSaturatedError at once when all connections are lent and `maxWaitingClients` callers
   *   already wait (outcome `rejected`).
   * @throws PoolTimeoutError when no connection came within `acquireTimeoutMs` (outcome `timeout`).
   * @throws PoolClosedError when the pool is stopping or stopped, including callers that were
   *   waiting when stop() began (outcome `error`).
   */
  async withConnection<T>(fn: (conn: C) => Promise<T>): Promise<T> {
    // Captured first, while the caller's frames are still on the synchronous stack. V8 formats it
    // only if `.stack` is read (leak report, forced close). Capturing is the largest part of this
    // method's own cost, so it is skipped when leak detection is off.
    const acquirer: AcquirerStack = {};
    if (this.#captureStacks) Error.captureStackTrace(acquirer, ObservedPool.prototype.withConnection);
    const started = performance.now();
    if (this.#stopping) {
      this.#countAcquire('error', null);
      throw new PoolClosedError(this.name);
    }
    // Everyone not served by an unlent connection (idle, being created, or room to create one) is
    // queued; max − lent is that capacity, so the queue length is pending − (max − lent).
    if (this.#pending - (this.#options.max - this.#registry.lent) >= this.#options.maxWaitingClients) {
      this.#countAcquire('rejected', null);
      throw new PoolSaturatedError(this.snapshot(), this.#options.maxWaitingClients);
    }

    this.#pending++;
    let connection: C;
    try {
      connection = await this.#tarn.acquire().promise;
    } catch (err) {
      throw this.#acquireFailed(err, started);
    }
    this.#pending--;
    const now = performance.now();

    if (this.#stopping) {
      // tarn handed it over in the same tick stop() began: do not start work on a closing pool.
      this.#tarn.discard(connection);
      this.#close(connection, 'shutdown');
      this.#countAcquire('error', now - started);
      throw new PoolClosedError(this.name);
    }
    let outcome: 'hit' | 'miss';
    try {
      outcome = this.#registry.lend(connection, now, acquirer);
    } catch (err) {
      this.#doubleLends++;
      this.#countAcquire('error', now - started);
      throw new PoolStateError(`Pool ${this.name}: ${(err as Error).message}`, { cause: err });
    }
    this.#countAcquire(outcome, now - started);

    try {
      return await fn(connection);
    } finally {
      this.#release(connection);
    }
  }

  /** The connections right now (cheap; used by gauges at scrape time). */
  snapshot(): PoolSnapshot {
    const total = this.#registry.size;
    const used = this.#registry.lent;
    return {
      name: this.name,
      total,
      used,
      idle: total - used,
      pending: this.#pending,
      creating: this.#creating,
      min: this.#options.min,
      max: this.#options.max,
      lastCreateError: this.#lastCreateError,
    };
  }

  /**
   * The snapshot plus the window counters (since start or the last resetWindow()), the health state
   * and distribution summaries in ms. `created − closed = total` holds for the window only until
   * the first resetWindow() (the window starts with connections already open).
   */
  stats(): PoolStats {
    const w = this.#window;
    const counted = w.hits + w.misses;
    return {
      ...this.snapshot(),
      dbSystem: this.dbSystem,
      hits: w.hits,
      misses: w.misses,
      hitRate: counted === 0 ? null : w.hits / counted,
      timeouts: w.timeouts,
      rejected: w.rejected,
      acquireErrors: w.acquireErrors,
      created: w.created,
      createFailures: w.createFailures,
      closed: w.closed,
      closedByReason: { ...w.closedByReason },
      leaks: w.leaks,
      healthy: this.#healthy,
      consecutiveHealthFailures: this.#consecutiveHealthFailures,
      healthCheckFailures: w.healthCheckFailures,
      healthChecks: w.healthChecks,
      lastHealthError: this.#lastHealthError,
      lastHealthCheckAt: this.#lastHealthCheckAt,
      waitTimeMs: w.wait.summary(),
      useTimeMs: w.use.summary(),
      createTimeMs: w.create.summary(),
      lastReset: w.startedAt,
    };
  }

  /**
   * Starts a new window for the JSON API: zeroes hits, misses, timeouts, rejections, acquire errors,
   * creates, create failures, closes, leaks, health check counts and the distributions, and sets
   * `lastReset` to now. Connection state, health state (healthy, consecutive failures, last errors)
   * and everything already sent to the observer are unaffected.
   */
  resetWindow(): void {
    this.#window = newWindow();
  }

  /**
   * One health-monitor pass (also what the interval runs). Checks the *idle* connections only — they
   * are checked out of tarn meanwhile so nobody borrows them — with `factory.validate` (bounded by
   * `createTimeoutMs`); closes the failing ones (reason `unhealthy`) and the ones past
   * `maxLifetimeMs` (reason `max_lifetime`, not a failure); returns the rest; then refills to `min`.
   *
   * Healthy when every checked connection passed and every refill create worked. With no idle
   * connection to check, a create must work: one connection is opened as a probe if there is room
   * (it stays idle); with no room at all (every connection lent) there is nothing to probe and the
   * check passes. Overlapping calls share one pass. After stop(), resolves false without checking.
   *
   * @returns whether the pass was healthy.
   */
  checkHealth(): Promise<boolean> {
    if (this.#stopping) return Promise.resolve(false);
    if (this.#healthRun !== null) return this.#healthRun;
    const run = this.#runHealthCheck().finally(() => {
      this.#healthRun = null;
    });
    this.#healthRun = run;
    return run;
  }

  /**
   * Stops the pool; idempotent (every call returns the same promise). At once: new acquires and
   * current waiters fail with PoolClosedError, timers stop, idle connections close (reason
   * `shutdown`). Borrowed connections close (reason `shutdown`) as they come back; those still
   * borrowed after `shutdownGraceMs` are force-closed and reported with their acquirers' stacks
   * (captured only when leak detection is on). Their callbacks are not interrupted; their later
   * release is expected and ignored.
   * Resolves within `shutdownGraceMs + STOP_CLOSE_BUDGET_MS` even if `factory.destroy` hangs.
   */
  stop(): Promise<PoolStopReport> {
    this.#stopPromise ??= this.#stop();
    return this.#stopPromise;
  }

  /**
   * Throws a PoolStateError listing every broken invariant: used + idle ≤ max; created − closed =
   * total (lifetime counts); no connection lent twice; pending, creating, used ≥ 0; and tarn's own
   * lists agree with ours (every connection tarn holds is open here, every lent one is in tarn's
   * `used`, none twice; the tarn cross-checks are skipped once stop() began). For tests and
   * debugging; O(max).
   */
  assertInvariants(): void {
    const problems: string[] = [];
    const s = this.snapshot();
    if (s.pending < 0) problems.push(`pending ${s.pending} < 0`);
    if (s.creating < 0) problems.push(`creating ${s.creating} < 0`);
    if (s.used < 0 || s.idle < 0) problems.push(`used ${s.used} / idle ${s.idle} negative`);
    if (s.used + s.idle > s.max) problems.push(`used ${s.used} + idle ${s.idle} > max ${s.max}`);
    if (this.#createdTotal - this.#closedTotal !== s.total) {
      problems.push(`created ${this.#createdTotal} − closed ${this.#closedTotal} ≠ total ${s.total}`);
    }
    if (this.#doubleLends !== 0) problems.push(`${this.#doubleLends} connection(s) lent twice`);

    if (this.#stopping) {
      // tarn's destroy() keeps closed connections in its lists until all destroys finish.
      if (problems.length > 0)
        throw new PoolStateError(`Pool ${this.name} invariants broken: ${problems.join('; ')}`);
      return;
    }
    let lent = 0;
    const { free, used } = this.#tarn.held();
    const usedSet = new Set(used);
    for (const [connection, record] of this.#registry.entries()) {
      if (!record.lent) continue;
      lent++;
      if (!usedSet.has(connection)) problems.push('a lent connection is not in tarn’s used list');
    }
    if (lent !== s.used) problems.push(`lent records ${lent} ≠ used ${s.used}`);
    const held = [...free, ...used];
    if (new Set(held).size !== held.length) problems.push('tarn holds a connection twice');
    for (const connection of held) {
      if (this.#registry.get(connection) === undefined) problems.push('tarn holds a connection we closed');
    }
    if (held.length > s.total) problems.push(`tarn holds ${held.length} > total ${s.total}`);
    if (used.length + free.length + this.#tarn.numPendingCreates() > s.max) {
      problems.push('tarn used + free + creating > max');
    }
    if (this.#tarn.numPendingAcquires() > s.pending) {
      problems.push(`tarn waiters ${this.#tarn.numPendingAcquires()} > pending ${s.pending}`);
    }
    if (problems.length > 0)
      throw new PoolStateError(`Pool ${this.name} invariants broken: ${problems.join('; ')}`);
  }

  // ---- acquire / release -------------------------------------------------------------------

  #acquireFailed(err: unknown, started: number): Error {
    const waitedMs = performance.now() - started;
    if (err instanceof TarnTimeoutError) {
      // Snapshot before leaving the queue: the caller is still one of the waiters it describes.
      const snapshot = this.snapshot();
      this.#pending--;
      this.#countAcquire('timeout', waitedMs);
      return new PoolTimeoutError(snapshot, waitedMs, err);
    }
    this.#pending--;
    this.#countAcquire('error', waitedMs);
    // tarn's own "aborted" error when stop() rejected the waiter.
    if (this.#stopping) return new PoolClosedError(this.name);
    return err instanceof Error ? err : new Error(String(err));
  }

  #release(connection: C): void {
    if (this.#forceClosed.size > 0 && this.#forceClosed.delete(connection)) return;
    const record = this.#registry.release(connection);
    const now = performance.now();
    const useMs = now - record.acquiredAt;
    this.#window.use.record(useMs);
    const observer = this.#observer;
    if (observer.onRelease !== undefined) {
      try {
        observer.onRelease(this.name, useMs / 1000);
      } catch {
        // Swallowed on purpose (see PoolObserver).
      }
    }

    if (this.#stopping) {
      this.#discard(connection, 'shutdown');
      if (this.#registry.lent === 0) this.#onDrained?.();
    } else if (this.#factory.isBroken?.(connection) === true) {
      this.#discard(connection, 'error');
      this.#refillInBackground();
    } else if (this.#options.maxLifetimeMs > 0 && now - record.createdAt >= this.#options.maxLifetimeMs) {
      this.#discard(connection, 'max_lifetime');
      this.#refillInBackground();
    } else if (!this.#tarn.release(connection)) {
      throw new PoolStateError(`Pool ${this.name}: tarn did not know the connection being released.`);
    }
  }

  /** Takes a borrowed/checked-out connection out of tarn, closes it, lets waiters get a replacement. */
  #discard(connection: C, reason: CloseReason): void {
    this.#tarn.discard(connection);
    this.#close(connection, reason);
    this.#tarn.serveWaiters();
  }

  /** @param waitMs null for refusals at the door, which never waited (kept out of the percentiles). */
  #countAcquire(outcome: AcquireOutcome, waitMs: number | null): void {
    const w = this.#window;
    switch (outcome) {
      case 'hit':
        w.hits++;
        break;
      case 'miss':
        w.misses++;
        break;
      case 'timeout':
        w.timeouts++;
        break;
      case 'rejected':
        w.rejected++;
        break;
      case 'error':
        w.acquireErrors++;
        break;
    }
    if (waitMs === null) {
      this.#emit('onAcquire', outcome, 0);
      return;
    }
    w.wait.record(waitMs);
    // Called directly rather than through #emit: this runs on every acquire.
    const observer = this.#observer;
    if (observer.onAcquire !== undefined) {
      try {
        observer.onAcquire(this.name, outcome, waitMs / 1000);
      } catch {
        // Swallowed on purpose (see PoolObserver).
      }
    }
  }

  // ---- tarn hooks --------------------------------------------------------------------------

  /** tarn's `validate`, run on every lending of an idle connection: flag checks only, no I/O. */
  #validateForLending(connection: C): boolean {
    const record = this.#registry.get(connection);
    if (record === undefined) return false;
    if (this.#factory.isBroken?.(connection) === true) {
      record.closeReason = 'error';
      return false;
    }
    if (
      this.#options.maxLifetimeMs > 0 &&
      performance.now() - record.createdAt >= this.#options.maxLifetimeMs
    ) {
      record.closeReason = 'max_lifetime';
      return false;
    }
    return true;
  }

  /**
   * tarn's `destroy`. tarn destroys on its own in three places: idle reaping (reason `idle`), a
   * failed `validate` (the reason we flagged there) and its `destroy()` at stop (`shutdown`).
   */
  #destroyFromTarn(connection: C): Promise<void> {
    const record = this.#registry.get(connection);
    const reason: CloseReason = record?.closeReason ?? (this.#stopping ? 'shutdown' : 'idle');
    const closing = this.#close(connection, reason);
    if (reason === 'error' || reason === 'max_lifetime') this.#refillInBackground();
    return closing;
  }

  /** Opens one connection for tarn: counted, timed, bounded by createTimeoutMs, registered. */
  async #create(warm: boolean): Promise<C> {
    this.#creating++;
    const started = performance.now();
    let connection: C;
    try {
      connection = await this.#createWithTimeout();
      this.#registry.add(connection, warm, performance.now());
    } catch (err) {
      this.#creating--;
      this.#window.createFailures++;
      this.#lastCreateError = errorMessage(err);
      this.#emit('onCreate', 'error' satisfies CreateOutcome, (performance.now() - started) / 1000);
      throw err;
    }
    this.#creating--;
    const ms = performance.now() - started;
    this.#createdTotal++;
    this.#window.created++;
    this.#window.create.record(ms);
    // A timeout should name the connect error that is still relevant, not one from hours ago.
    this.#lastCreateError = null;
    this.#emit('onCreate', 'success' satisfies CreateOutcome, ms / 1000);
    return connection;
  }

  #createWithTimeout(): Promise<C> {
    const timeoutMs = this.#options.createTimeoutMs;
    return new Promise<C>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(new Error(`opening a ${this.name} connection timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      Promise.resolve()
        .then(() => this.#factory.create())
        .then(
          (connection) => {
            if (!settled) {
              settled = true;
              clearTimeout(timer);
              resolve(connection);
              return;
            }
            // Arrived after the timeout: it was never part of the pool, so it is closed uncounted.
            this.#destroyQuietly(connection);
          },
          (err: unknown) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            reject(err);
          },
        );
    });
  }

  /** Counts and reports one close (exactly once per connection), then destroys it. */
  #close(connection: C, reason: CloseReason): Promise<void> {
    const record = this.#registry.remove(connection);
    if (record === undefined) return Promise.resolve();
    this.#closedTotal++;
    this.#window.closed++;
    this.#window.closedByReason[reason]++;
    this.#emit('onClose', reason);
    return this.#destroyQuietly(connection);
  }

  /** factory.destroy, tracked for stop(); its failure changes nothing (the connection is gone from the pool). */
  #destroyQuietly(connection: C): Promise<void> {
    const destroying = Promise.resolve()
      .then(() => this.#factory.destroy(connection))
      .catch(() => undefined)
      .finally(() => this.#destroys.delete(destroying));
    this.#destroys.add(destroying);
    return destroying;
  }

  // ---- warm-up, refill, health -------------------------------------------------------------

  async #warmUp(): Promise<void> {
    const result = await this.#refill();
    // stop() during warm-up: the connections opened meanwhile are closed by stop(), not ready.
    if (this.#stopping) throw new PoolClosedError(this.name);
    if (result.failed === 0) return;
    this.#healthy = false;
    this.#lastHealthError = result.error;
    throw new DatabaseError(
      'DB_UNAVAILABLE',
      `Could not open ${result.failed} of ${result.attempted} ${this.name} connections at start-up: ${result.error}`,
      { cause: result.cause, details: { pool: this.snapshot() } },
    );
  }

  /** Opens connections in parallel until open + opening reaches `min`. Never rejects. */
  async #refill(): Promise<RefillResult> {
    const missing = this.#options.min - this.#registry.size - this.#creating;
    if (missing <= 0 || this.#stopping) return { attempted: 0, failed: 0, error: null, cause: undefined };
    const results = await Promise.allSettled(Array.from({ length: missing }, () => this.#tarn.createIdle()));
    let attempted = 0;
    let failed = 0;
    let cause: unknown;
    for (const result of results) {
      if (result.status === 'fulfilled') {
        if (result.value) attempted++;
      } else {
        attempted++;
        failed++;
        cause = result.reason;
      }
    }
    return { attempted, failed, error: failed > 0 ? errorMessage(cause) : null, cause };
  }

  #refillInBackground(): void {
    if (this.#stopping) return;
    // #refill never rejects; the catch is a guard against a future change.
    this.#refill().catch(() => undefined);
  }

  async #runHealthCheck(): Promise<boolean> {
    let error: string | null = null;
    try {
      const checked = this.#tarn.checkOutIdle();
      for (const resource of checked) this.#checkedOut.add(resource);
      const results = await Promise.all(checked.map((r) => this.#probe(r.resource)));
      const now = performance.now();
      checked.forEach((resource, i) => {
        this.#checkedOut.delete(resource);
        const connection = resource.resource;
        const record = this.#registry.get(connection);
        if (record === undefined) return; // stop() closed it meanwhile
        const failure = results[i] ?? null;
        if (failure !== null) {
          error ??= failure;
          this.#discard(connection, 'unhealthy');
        } else if (this.#options.maxLifetimeMs > 0 && now - record.createdAt >= this.#options.maxLifetimeMs) {
          this.#discard(connection, 'max_lifetime');
        } else {
          this.#tarn.checkIn(resource);
        }
      });
      if (this.#stopping) return false;

      const refill = await this.#refill();
      error ??= refill.error;
      if (checked.length === 0 && refill.attempted === 0) {
        // Nothing was idle and nothing was missing: prove that a create still works, if there is room.
        try {
          await this.#tarn.createIdle();
        } catch (err) {
          error ??= errorMessage(err);
        }
      }
    } catch (err) {
      error ??= errorMessage(err);
    }
    if (this.#stopping) return false;

    const healthy = error === null;
    const w = this.#window;
    w.healthChecks++;
    this.#lastHealthCheckAt = new Date().toISOString();
    this.#healthy = healthy;
    if (healthy) {
      this.#consecutiveHealthFailures = 0;
    } else {
      this.#consecutiveHealthFailures++;
      w.healthCheckFailures++;
      this.#lastHealthError = error;
    }
    this.#emit('onHealthCheck', healthy, error ?? undefined);
    return healthy;
  }

  /** null when the idle connection is usable, else why not. Bounded by createTimeoutMs. */
  async #probe(connection: C): Promise<string | null> {
    if (this.#factory.isBroken?.(connection) === true) return 'connection is broken';
    const timeoutMs = this.#options.createTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    try {
      const ok = await Promise.race([
        Promise.resolve().then(() => this.#factory.validate(connection)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`validation timed out after ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
      return ok ? null : 'validation failed';
    } catch (err) {
      return errorMessage(err);
    } finally {
      clearTimeout(timer);
    }
  }

  #startTimers(): void {
    if (this.#timers.length > 0) return;
    const o = this.#options;
    if (o.healthCheckIntervalMs > 0) {
      this.#timers.push(setInterval(() => void this.checkHealth(), o.healthCheckIntervalMs).unref());
    }
    if (o.leakThresholdMs > 0) {
      // One sweep for all lendings instead of a timer per acquire; at half the threshold a leak is
      // reported between 1× and 1.5× the threshold.
      const every = clamp(Math.floor(o.leakThresholdMs / 2), 10, 5000);
      this.#timers.push(setInterval(() => this.#sweepLeaks(), every).unref());
    }
  }

  #sweepLeaks(): void {
    const threshold = this.#options.leakThresholdMs;
    const now = performance.now();
    for (const record of this.#registry.entries()) {
      const r = record[1];
      if (!r.lent || r.leakReported || now - r.acquiredAt < threshold) continue;
      r.leakReported = true;
      this.#window.leaks++;
      this.#emit('onLeak', (now - r.acquiredAt) / 1000, formatStack(r.acquirer));
    }
  }

  // ---- stop --------------------------------------------------------------------------------

  async #stop(): Promise<PoolStopReport> {
    const started = performance.now();
    this.#stopping = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
    // Sets tarn's `destroyed` at once (no more lending or creating); the rest of tarn's destroy()
    // waits for in-flight creates and for every borrowed resource, which our discards settle.
    const tarnDestroyed = this.#tarn.destroy().then(
      () => undefined,
      () => undefined,
    );

    this.#tarn.abortWaiters();
    for (const resource of this.#tarn.checkOutIdle()) this.#discard(resource.resource, 'shutdown');
    for (const resource of this.#checkedOut) this.#discard(resource.resource, 'shutdown');
    this.#checkedOut.clear();

    if (this.#registry.lent > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.#onDrained = resolve;
        timer = setTimeout(resolve, this.#options.shutdownGraceMs);
      });
      clearTimeout(timer);
      this.#onDrained = null;
    }

    const forcedStacks: string[] = [];
    const stillLent: C[] = [];
    for (const [connection, record] of this.#registry.entries()) {
      if (!record.lent) continue;
      forcedStacks.push(formatStack(record.acquirer));
      stillLent.push(connection);
    }
    for (const connection of stillLent) {
      this.#forceClosed.add(connection);
      this.#discard(connection, 'shutdown');
    }

    let budget: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([tarnDestroyed, ...this.#destroys]),
      new Promise<void>((resolve) => {
        budget = setTimeout(resolve, STOP_CLOSE_BUDGET_MS);
      }),
    ]);
    clearTimeout(budget);

    return {
      name: this.name,
      forcedClosed: forcedStacks.length,
      forcedStacks,
      durationMs: performance.now() - started,
    };
  }

  // ---- observer ----------------------------------------------------------------------------

  /** Calls one observer method; observers must never break the pool, so their errors are dropped. */
  #emit<K extends keyof PoolObserver>(
    event: K,
    ...args: Parameters<NonNullable<PoolObserver[K]>> extends [string, ...infer Rest] ? Rest : never
  ): void {
    const listener = this.#observer[event] as ((pool: string, ...rest: unknown[]) => void) | undefined;
    if (listener === undefined) return;
    try {
      listener.call(this.#observer, this.name, ...args);
    } catch {
      // Swallowed on purpose (see PoolObserver).
    }
  }
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}

/** The message only (no stack, no driver object), cut to MAX_ERROR_MESSAGE_LENGTH characters. */
function errorMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.length > MAX_ERROR_MESSAGE_LENGTH
    ? `${message.slice(0, MAX_ERROR_MESSAGE_LENGTH - 1)}…`
    : message;
}

/** The acquirer's frames without V8's "Error" header line. */
function formatStack(acquirer: AcquirerStack | null): string {
  const stack = acquirer?.stack;
  if (stack === undefined) return '(acquirer stack not captured: leak detection is off)';
  const firstFrame = stack.indexOf('\n');
  return firstFrame === -1 ? stack : stack.slice(firstFrame + 1);
}
