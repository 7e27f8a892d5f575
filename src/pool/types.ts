/**
 * Public types of the observed pool. The implementation is `ObservedPool` (observed-pool.ts); the
 * Prometheus collectors, the JSON metrics API and the adapters depend only on what is here.
 */

/** How the pool opens, checks and closes one connection of type C. */
export interface ConnectionFactory<C> {
  /** Opens a new connection. Rejecting counts as a failed create. */
  create(): Promise<C>;
  /** Closes a connection. Must not throw for an already-broken connection. */
  destroy(connection: C): Promise<void>;
  /**
   * Checks an idle connection (a cheap round trip such as `SELECT 1`). Resolves false or rejects
   * when the connection is unusable. Called by the health monitor on idle connections only.
   */
  validate(connection: C): Promise<boolean>;
  /**
   * Cheap synchronous check made on release and before lending an idle connection: true when the
   * connection is known to be unusable (its worker exited, its socket closed). Such a connection
   * is destroyed (reason `error`) instead of being lent or returned.
   */
  isBroken?(connection: C): boolean;
}

export interface ObservedPoolOptions<C> {
  /** Label value for `pool` (e.g. `sqlite-read`). */
  readonly name: string;
  /** Label value for `db_system` (`sqlite` | `postgresql`). */
  readonly dbSystem: string;
  readonly factory: ConnectionFactory<C>;
  /** Connections opened at start-up and kept open (refilled by the health monitor). */
  readonly min: number;
  readonly max: number;
  /** How long an acquire may wait for a connection before PoolTimeoutError (ms). */
  readonly acquireTimeoutMs: number;
  /**
   * Acquirers allowed to queue for a connection to be *released*; one more fails fast with
   * PoolSaturatedError. Acquirers served by an idle connection or by a create (while fewer than
   * `max` connections are lent) do not count as queued. 0 = nobody queues.
   */
  readonly maxWaitingClients: number;
  /** Idle connections above `min` are closed after this long unused (ms). */
  readonly idleTimeoutMs: number;
  /** Connections older than this are closed on release instead of returned (ms; 0 = never). */
  readonly maxLifetimeMs: number;
  /**
   * A connection held longer than this is reported as a leak, with the acquirer's stack (ms; 0 = off).
   * Acquirer stacks (a few µs per acquire) are captured only when this is > 0; with it off, stop()
   * reports force-closed connections without stacks.
   */
  readonly leakThresholdMs: number;
  /** Interval of the health monitor (ms; 0 = off). */
  readonly healthCheckIntervalMs: number;
  /** How long stop() waits for borrowed connections before force-closing them (ms). */
  readonly shutdownGraceMs: number;
  /** Timeout for one create() (ms). */
  readonly createTimeoutMs: number;
}

export type AcquireOutcome = 'hit' | 'miss' | 'timeout' | 'rejected' | 'error';
export type CloseReason = 'idle' | 'unhealthy' | 'max_lifetime' | 'shutdown' | 'error';
export type CreateOutcome = 'success' | 'error';

/**
 * Listener interface through which the Prometheus collectors and tracing observe the pool.
 * All times in seconds (Prometheus base unit). Listeners must not throw (errors are swallowed).
 */
export interface PoolObserver {
  onAcquire?(pool: string, outcome: AcquireOutcome, waitSeconds: number): void;
  onRelease?(pool: string, useSeconds: number): void;
  onCreate?(pool: string, outcome: CreateOutcome, createSeconds: number): void;
  onClose?(pool: string, reason: CloseReason): void;
  onLeak?(pool: string, heldSeconds: number, acquirerStack: string): void;
  onHealthCheck?(pool: string, healthy: boolean, error?: string): void;
}

/** A point-in-time view of the pool's connections. */
export interface PoolSnapshot {
  readonly name: string;
  /** Open connections (used + idle). */
  readonly total: number;
  readonly used: number;
  readonly idle: number;
  /** Acquirers waiting for a connection. */
  readonly pending: number;
  /** Connections being opened right now. */
  readonly creating: number;
  readonly min: number;
  readonly max: number;
  /**
   * Message of the last failed create since the last successful one, else null: only the message,
   * cut to 200 characters (drivers must not put secrets in messages).
   */
  readonly lastCreateError: string | null;
}

/** Summary of a sample distribution, milliseconds. */
export interface DistributionSummary {
  readonly count: number;
  readonly avg: number | null;
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
  readonly max: number | null;
}

/** Everything the pool knows about itself. Counters are totals since start (or last resetWindow()). */
export interface PoolStats extends PoolSnapshot {
  readonly dbSystem: string;
  readonly hits: number;
  readonly misses: number;
  /** hits / (hits + misses); null before the first counted acquire. */
  readonly hitRate: number | null;
  /** Acquires that waited `acquireTimeoutMs` in vain (PoolTimeoutError). */
  readonly timeouts: number;
  /** Acquires refused at once because the wait queue was full (PoolSaturatedError). */
  readonly rejected: number;
  /** Other failed acquires: PoolClosedError at or during stop(), internal errors. */
  readonly acquireErrors: number;
  readonly created: number;
  /** Failed creates, including ones slower than `createTimeoutMs`. */
  readonly createFailures: number;
  readonly closed: number;
  readonly closedByReason: Readonly<Record<CloseReason, number>>;
  readonly leaks: number;
  readonly healthy: boolean;
  /** Consecutive failed health checks (0 after a passing one). */
  readonly consecutiveHealthFailures: number;
  /** Failed health checks since start / reset. */
  readonly healthCheckFailures: number;
  readonly healthChecks: number;
  readonly lastHealthError: string | null;
  readonly lastHealthCheckAt: string | null;
  readonly waitTimeMs: DistributionSummary;
  readonly useTimeMs: DistributionSummary;
  readonly createTimeMs: DistributionSummary;
  /** ISO time when the window counters were last reset (or the pool started). */
  readonly lastReset: string;
}

/** What stop() did. */
export interface PoolStopReport {
  readonly name: string;
  /** Connections still borrowed at the end of the grace period, force-closed. */
  readonly forcedClosed: number;
  /** Stacks of the acquirers of the force-closed connections (frames only; see `leakThresholdMs`). */
  readonly forcedStacks: readonly string[];
  readonly durationMs: number;
}
