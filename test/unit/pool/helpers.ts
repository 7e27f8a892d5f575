/** Shared helpers of the pool tests: a pool factory with small test timings, a recording observer, counters. */
import { expect } from 'chai';
import { ObservedPool } from '../../../src/pool/index.js';
import type {
  AcquireOutcome,
  CloseReason,
  CreateOutcome,
  ObservedPoolOptions,
  PoolObserver,
} from '../../../src/pool/index.js';
import { FakeFactory } from '../../support/fake-factory.js';
import type { FakeConnection } from '../../support/fake-factory.js';

export type TestPool = ObservedPool<FakeConnection>;

/** Timings small enough for a fast suite; every test overrides what it is about. */
export const TEST_DEFAULTS = {
  name: 'test-pool',
  dbSystem: 'sqlite',
  min: 0,
  max: 4,
  acquireTimeoutMs: 200,
  maxWaitingClients: 10,
  idleTimeoutMs: 60_000,
  maxLifetimeMs: 0,
  leakThresholdMs: 0,
  healthCheckIntervalMs: 0,
  shutdownGraceMs: 100,
  createTimeoutMs: 200,
} as const;

const live = new Set<TestPool>();

/** A pool over `factory` (a new FakeFactory by default), stopped by {@link stopAllPools} after the test. */
export function makePool(
  overrides: Partial<Omit<ObservedPoolOptions<FakeConnection>, 'factory'>> = {},
  factory: FakeFactory = new FakeFactory(),
  observer?: PoolObserver,
): { pool: TestPool; factory: FakeFactory } {
  const pool = new ObservedPool<FakeConnection>({ ...TEST_DEFAULTS, ...overrides, factory }, observer);
  live.add(pool);
  return { pool, factory };
}

/** For `afterEach`: no pool outlives its test. */
export async function stopAllPools(): Promise<void> {
  const pools = [...live];
  live.clear();
  await Promise.all(pools.map((p) => p.stop()));
}

export interface ObservedEvent {
  readonly event: 'acquire' | 'release' | 'create' | 'close' | 'leak' | 'health';
  readonly pool: string;
  readonly outcome?: AcquireOutcome | CreateOutcome | CloseReason | 'healthy' | 'unhealthy';
  readonly seconds?: number;
  readonly stack?: string;
  readonly error?: string;
}

/** Records every observer call. */
export class RecordingObserver implements PoolObserver {
  readonly events: ObservedEvent[] = [];

  onAcquire(pool: string, outcome: AcquireOutcome, waitSeconds: number): void {
    this.events.push({ event: 'acquire', pool, outcome, seconds: waitSeconds });
  }
  onRelease(pool: string, useSeconds: number): void {
    this.events.push({ event: 'release', pool, seconds: useSeconds });
  }
  onCreate(pool: string, outcome: CreateOutcome, createSeconds: number): void {
    this.events.push({ event: 'create', pool, outcome, seconds: createSeconds });
  }
  onClose(pool: string, reason: CloseReason): void {
    this.events.push({ event: 'close', pool, outcome: reason });
  }
  onLeak(pool: string, heldSeconds: number, acquirerStack: string): void {
    this.events.push({ event: 'leak', pool, seconds: heldSeconds, stack: acquirerStack });
  }
  onHealthCheck(pool: string, healthy: boolean, error?: string): void {
    this.events.push({
      event: 'health',
      pool,
      outcome: healthy ? 'healthy' : 'unhealthy',
      ...(error ? { error } : {}),
    });
  }

  /** Events of one kind. */
  of(event: ObservedEvent['event']): ObservedEvent[] {
    return this.events.filter((e) => e.event === event);
  }

  /** `{outcome: count}` of one kind of event. */
  count(event: ObservedEvent['event']): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const e of this.of(event)) {
      const key = e.outcome ?? 'any';
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  }
}

/** Every counter the tests assert, with zero defaults. */
export interface Counters {
  total: number;
  used: number;
  idle: number;
  pending: number;
  creating: number;
  hits: number;
  misses: number;
  timeouts: number;
  rejected: number;
  acquireErrors: number;
  created: number;
  createFailures: number;
  closed: number;
  leaks: number;
  idleClosed: number;
  unhealthyClosed: number;
  maxLifetimeClosed: number;
  shutdownClosed: number;
  errorClosed: number;
}

export function counters(pool: TestPool): Counters {
  const s = pool.stats();
  return {
    total: s.total,
    used: s.used,
    idle: s.idle,
    pending: s.pending,
    creating: s.creating,
    hits: s.hits,
    misses: s.misses,
    timeouts: s.timeouts,
    rejected: s.rejected,
    acquireErrors: s.acquireErrors,
    created: s.created,
    createFailures: s.createFailures,
    closed: s.closed,
    leaks: s.leaks,
    idleClosed: s.closedByReason.idle,
    unhealthyClosed: s.closedByReason.unhealthy,
    maxLifetimeClosed: s.closedByReason.max_lifetime,
    shutdownClosed: s.closedByReason.shutdown,
    errorClosed: s.closedByReason.error,
  };
}

/**
 * Asserts *every* counter: the ones given must match, all others must be 0. Also checks the pool's
 * invariants. Like tarn's tests, call it after every step.
 */
export function expectCounters(pool: TestPool, expected: Partial<Counters>): void {
  const zero: Counters = {
    total: 0,
    used: 0,
    idle: 0,
    pending: 0,
    creating: 0,
    hits: 0,
    misses: 0,
    timeouts: 0,
    rejected: 0,
    acquireErrors: 0,
    created: 0,
    createFailures: 0,
    closed: 0,
    leaks: 0,
    idleClosed: 0,
    unhealthyClosed: 0,
    maxLifetimeClosed: 0,
    shutdownClosed: 0,
    errorClosed: 0,
  };
  expect(counters(pool)).to.deep.equal({ ...zero, ...expected });
  pool.assertInvariants();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Lets queued promise callbacks and immediate timers run (tarn's hand-offs take a few ticks). */
export async function settle(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** A promise plus its resolver, to hold a connection until the test says so. */
export interface Gate {
  readonly promise: Promise<void>;
  open(): void;
}

export function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/**
 * Starts `withConnection` and holds the connection until `release()` is called. `acquired` resolves
 * with the connection once lent; `done` settles when withConnection does.
 */
export function hold(pool: TestPool): {
  acquired: Promise<FakeConnection>;
  done: Promise<void>;
  release(): void;
} {
  const g = gate();
  let resolveAcquired!: (c: FakeConnection) => void;
  const acquired = new Promise<FakeConnection>((resolve) => {
    resolveAcquired = resolve;
  });
  const done = pool.withConnection(async (conn) => {
    conn.inUse = true;
    resolveAcquired(conn);
    try {
      await g.promise;
    } finally {
      conn.inUse = false;
    }
  });
  return { acquired, done, release: g.open };
}

/** Awaits a promise expected to reject and returns the error (fails the test if it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(Error);
    return err as Error;
  }
  expect.fail('expected the promise to reject');
}
