/**
 * The JSON metrics API's documents (design §8), computed from the pools' own stats — every
 * number here is measured, none is a running total that could drift. Field names are those of
 * the original BooksWriter API (snake_case).
 */
import { performance } from 'node:perf_hooks';
import type { AdapterHealth, DatabaseAdapter } from '../adapters/contract.js';
import type { PoolStats } from '../pool/types.js';
import type { EventLoopSummary, HttpWindowSummary, RuntimeStats } from './runtime-stats.js';

export interface PoolReport {
  readonly pool: string;
  readonly db_system: string;
  readonly total_connections: number;
  readonly active_connections: number;
  readonly idle_connections: number;
  readonly pending_requests: number;
  readonly creating_connections: number;
  readonly min_connections: number;
  readonly max_connections: number;
  /** used / max, 0..1. */
  readonly utilization: number;
  /** Average connections in use over the window (Σ use time / window length). */
  readonly average_active_connections: number;
  readonly connections_created: number;
  readonly connections_closed: number;
  readonly connections_closed_by_reason: Readonly<Record<string, number>>;
  readonly connection_create_failures: number;
  readonly pool_hits: number;
  readonly pool_misses: number;
  /** hits / (hits + misses); null before the first acquire. */
  readonly hit_rate: number | null;
  readonly timeouts: number;
  readonly rejected: number;
  readonly leaks: number;
  readonly healthy: boolean;
  readonly health_check_failures: number;
  readonly consecutive_health_check_failures: number;
  readonly last_health_error: string | null;
  readonly last_health_check: string | null;
  /** Operations that got a connection (one per statement or batch). */
  readonly query_count: number;
  /** Average time to get a connection (ms). */
  readonly avg_connection_time: number | null;
  readonly wait_time_ms: { readonly p50: number | null; readonly p95: number | null; readonly p99: number | null; readonly max: number | null };
  readonly use_time_ms: { readonly avg: number | null; readonly p95: number | null; readonly max: number | null };
  readonly create_time_ms: { readonly avg: number | null; readonly max: number | null };
  readonly last_reset: string;
}

export interface DatabaseMetrics {
  readonly database_mode: string;
  readonly collected_at: string;
  readonly pools: readonly PoolReport[];
}

export function poolReport(stats: PoolStats): PoolReport {
  const windowMs = Math.max(Date.now() - Date.parse(stats.lastReset), 1);
  const busyMs = (stats.useTimeMs.avg ?? 0) * stats.useTimeMs.count;
  return {
    pool: stats.name,
    db_system: stats.dbSystem,
    total_connections: stats.total,
    active_connections: stats.used,
    idle_connections: stats.idle,
    pending_requests: stats.pending,
    creating_connections: stats.creating,
    min_connections: stats.min,
    max_connections: stats.max,
    utilization: stats.max === 0 ? 0 : stats.used / stats.max,
    average_active_connections: Math.round((busyMs / windowMs) * 1000) / 1000,
    connections_created: stats.created,
    connections_closed: stats.closed,
    connections_closed_by_reason: stats.closedByReason,
    connection_create_failures: stats.createFailures,
    pool_hits: stats.hits,
    pool_misses: stats.misses,
    hit_rate: stats.hitRate,
    timeouts: stats.timeouts,
    rejected: stats.rejected,
    leaks: stats.leaks,
    healthy: stats.healthy,
    health_check_failures: stats.healthCheckFailures,
    consecutive_health_check_failures: stats.consecutiveHealthFailures,
    last_health_error: stats.lastHealthError,
    last_health_check: stats.lastHealthCheckAt,
    query_count: stats.hits + stats.misses,
    avg_connection_time: stats.waitTimeMs.avg,
    wait_time_ms: {
      p50: stats.waitTimeMs.p50,
      p95: stats.waitTimeMs.p95,
      p99: stats.waitTimeMs.p99,
      max: stats.waitTimeMs.max,
    },
    use_time_ms: { avg: stats.useTimeMs.avg, p95: stats.useTimeMs.p95, max: stats.useTimeMs.max },
    create_time_ms: { avg: stats.createTimeMs.avg, max: stats.createTimeMs.max },
    last_reset: stats.lastReset,
  };
}

export function databaseMetrics(adapter: DatabaseAdapter, databaseMode: string): DatabaseMetrics {
  return {
    database_mode: databaseMode,
    collected_at: new Date().toISOString(),
    pools: adapter.pools().map((pool) => poolReport(pool.stats())),
  };
}

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

/** One dependency's verdict, as readiness and `/metrics/database/health` show it. */
export interface DependencyHealth {
  /** `sqlite` or `supabase`. */
  readonly name: string;
  readonly healthy: boolean;
  /** Round trip of the probe (ms); for a probe that timed out, how long it was given. */
  readonly latency_ms: number;
  /** Why it failed (person-readable), or null. */
  readonly error: string | null;
  /** When the probe finished (ISO time). */
  readonly checked_at: string;
}

/** What a {@link DependencyProbe} has done since it was created (tests and debugging). */
export interface DependencyProbeStats {
  /** Health checks started. */
  readonly runs: number;
  /** Probes answered from the cache or by joining the check in flight. */
  readonly shared: number;
  /** Checks that did not answer within the timeout. */
  readonly timeouts: number;
  /** True while a check is running (possibly past its timeout). */
  readonly inFlight: boolean;
}

const round1 = (ms: number): number => Math.round(ms * 10) / 10;

/**
 * Runs one dependency's health check, bounded and deduplicated:
 *
 * - **bounded**: a probe answers within `timeoutMs` (HEALTH_CHECK_TIMEOUT_MS) whatever the check
 *   does; a check still running then counts as failed;
 * - **at most one in flight**: concurrent probes share the check in flight, and while a check that
 *   outlived its timeout is still running no second one starts (the probe fails at once, saying so);
 * - **cached**: `probe(maxAgeMs)` answers with the last verdict if it is at most that old, so a
 *   readiness probe polled by several load balancers does not hammer the database.
 */
export class DependencyProbe {
  readonly name: string;
  readonly #check: () => Promise<AdapterHealth>;
  readonly #timeoutMs: number;
  #last: { readonly result: DependencyHealth; readonly at: number } | null = null;
  /** The timed verdict of the check in flight, shared by concurrent callers. */
  #shared: Promise<DependencyHealth> | null = null;
  /** The check itself, until it settles (which may be after its timeout). */
  #running: Promise<unknown> | null = null;
  #runningSince = 0;
  #runs = 0;
  #sharedCount = 0;
  #timeouts = 0;

  constructor(name: string, check: () => Promise<AdapterHealth>, timeoutMs: number) {
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new Error('DependencyProbe timeoutMs must be an integer >= 1');
    this.name = name;
    this.#check = check;
    this.#timeoutMs = timeoutMs;
  }

  /**
   * The dependency's verdict: the cached one if at most `maxAgeMs` old, else the check in flight's,
   * else a new check's. Never rejects; resolves within the timeout.
   */
  probe(maxAgeMs = 0): Promise<DependencyHealth> {
    const now = performance.now();
    if (this.#last !== null && now - this.#last.at <= maxAgeMs) {
      this.#sharedCount++;
      return Promise.resolve(this.#last.result);
    }
    if (this.#shared !== null) {
      this.#sharedCount++;
      return this.#shared;
    }
    if (this.#running !== null) {
      // The last check timed out and is still running: a second one would pile up behind it.
      return Promise.resolve(
        this.#remember(
          this.#verdict(
            false,
            now - this.#runningSince,
            `the previous health check is still running after ${Math.round(now - this.#runningSince)} ms`,
          ),
        ),
      );
    }
    return this.#start();
  }

  stats(): DependencyProbeStats {
    return { runs: this.#runs, shared: this.#sharedCount, timeouts: this.#timeouts, inFlight: this.#running !== null };
  }

  #start(): Promise<DependencyHealth> {
    this.#runs++;
    const started = performance.now();
    const running = Promise.resolve()
      .then(() => this.#check())
      .then(
        (health) => this.#verdict(health.healthy, health.latencyMs, health.healthy ? null : (health.error ?? 'unhealthy')),
        (err: unknown) => this.#verdict(false, performance.now() - started, err instanceof Error ? err.message : String(err)),
      );
    this.#running = running;
    this.#runningSince = started;
    void running.finally(() => {
      if (this.#running === running) this.#running = null;
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<DependencyHealth>((resolve) => {
      timer = setTimeout(() => {
        this.#timeouts++;
        resolve(
          this.#verdict(
            false,
            this.#timeoutMs,
            `no answer within ${this.#timeoutMs} ms (HEALTH_CHECK_TIMEOUT_MS)`,
          ),
        );
      }, this.#timeoutMs);
    });
    const shared = Promise.race([running, timedOut]).then((result) => {
      clearTimeout(timer);
      this.#shared = null;
      return this.#remember(result);
    });
    this.#shared = shared;
    return shared;
  }

  #remember(result: DependencyHealth): DependencyHealth {
    this.#last = { result, at: performance.now() };
    return result;
  }

  #verdict(healthy: boolean, latencyMs: number, error: string | null): DependencyHealth {
    return {
      name: this.name,
      healthy,
      latency_ms: round1(latencyMs),
      error,
      checked_at: new Date().toISOString(),
    };
  }
}

export interface HealthReport {
  readonly status: HealthStatus;
  readonly checked_at: string;
  readonly test_query: AdapterHealth;
  /** Each dependency with its verdict and latency (the test query is the database's). */
  readonly dependencies: readonly DependencyHealth[];
  readonly pools: ReadonlyArray<{
    readonly pool: string;
    readonly healthy: boolean;
    readonly consecutive_failures: number;
    readonly last_error: string | null;
    readonly last_check: string | null;
    readonly utilization: number;
    readonly pending_requests: number;
    readonly issues: readonly string[];
    /** Circuit breaker guarding the pool (Supabase); absent for pools without one (SQLite). */
    readonly circuit?: 'closed' | 'open' | 'half_open';
    readonly circuit_opened_at?: string | null;
    readonly circuit_consecutive_failures?: number;
  }>;
}

/** Utilization at or above this is called degraded. */
const SATURATION = 0.9;

/**
 * Pools that no setting sizes: SQLite's writer is one connection by design (§5). A write in
 * progress (100 % in use) or a short queue behind it is its normal state under concurrent writes,
 * not saturation, and DB_POOL_MAX_CONNECTIONS would not change it — so neither degrades health nor
 * earns that advice; only refused acquires (timeouts, rejections) do.
 */
const SINGLE_WRITER_POOLS: ReadonlySet<string> = new Set(['sqlite-write']);

/**
 * healthy: the test query passed and every pool is healthy with room to spare;
 * degraded: the test query passed but a pool reports failed checks, waiters or ≥ 90 % use;
 * unhealthy: the test query failed (the database cannot serve requests).
 *
 * `probe` runs the test query (bounded and shared: a {@link DependencyProbe} of the adapter's
 * health check).
 */
export async function healthReport(
  adapter: DatabaseAdapter,
  probe: () => Promise<DependencyHealth>,
): Promise<HealthReport> {
  const dependency = await probe();
  const testQuery: AdapterHealth = {
    healthy: dependency.healthy,
    latencyMs: dependency.latency_ms,
    ...(dependency.error === null ? {} : { error: dependency.error }),
  };
  const pools = adapter.pools().map((pool) => {
    const s = pool.stats();
    const utilization = s.max === 0 ? 0 : s.used / s.max;
    const singleWriter = SINGLE_WRITER_POOLS.has(s.name);
    const issues: string[] = [];
    if (!s.healthy) issues.push(`last health check failed: ${s.lastHealthError ?? 'unknown error'}`);
    if (s.pending > 0 && !singleWriter) issues.push(`${s.pending} callers waiting for a connection`);
    if (utilization >= SATURATION && !singleWriter) issues.push(`${Math.round(utilization * 100)} % of connections in use`);
    const circuit = adapter.circuitOf?.(s.name) ?? null;
    if (circuit !== null && circuit.state !== 'closed') issues.push(`circuit breaker ${circuit.state}`);
    return {
      pool: s.name,
      healthy: s.healthy,
      consecutive_failures: s.consecutiveHealthFailures,
      last_error: s.lastHealthError,
      last_check: s.lastHealthCheckAt,
      utilization,
      pending_requests: s.pending,
      issues,
      ...(circuit === null
        ? {}
        : {
            circuit: circuit.state,
            circuit_opened_at: circuit.openedAt,
            circuit_consecutive_failures: circuit.consecutiveFailures,
          }),
    };
  });
  const status: HealthStatus = !testQuery.healthy
    ? 'unhealthy'
    : pools.some((p) => p.issues.length > 0)
      ? 'degraded'
      : 'healthy';
  return { status, checked_at: new Date().toISOString(), test_query: testQuery, dependencies: [dependency], pools };
}

export interface Recommendation {
  readonly kind: 'low_hit_rate' | 'health_failures' | 'slow_acquires' | 'saturation' | 'oversized_pool' | 'n_plus_one';
  readonly severity: 'info' | 'warning' | 'critical';
  readonly pool?: string;
  readonly message: string;
}

export interface PerformanceSummary {
  readonly collected_at: string;
  readonly window_start: string;
  readonly pools: readonly PoolReport[];
  readonly http: HttpWindowSummary;
  readonly event_loop: EventLoopSummary;
  readonly recommendations: readonly Recommendation[];
}

/** A suspected N+1 pattern reported by the request-scoped detector. */
export interface NPlusOneSuspect {
  readonly route: string;
  readonly collection: string;
  readonly count: number;
}

/** Minimum acquires before a hit rate means anything. */
const MIN_SAMPLES = 20;

export function recommendations(pools: readonly PoolReport[], suspects: readonly NPlusOneSuspect[] = []): Recommendation[] {
  const out: Recommendation[] = [];
  for (const p of pools) {
    const acquires = p.pool_hits + p.pool_misses;
    if (p.hit_rate !== null && acquires >= MIN_SAMPLES && p.hit_rate < 0.8) {
      out.push({
        kind: 'low_hit_rate',
        severity: 'warning',
        pool: p.pool,
        message: `${p.pool}: only ${(p.hit_rate * 100).toFixed(1)} % of acquires reused an open connection; raise DB_POOL_MIN_CONNECTIONS or DB_POOL_MAX_IDLE_TIME so connections are not closed and reopened.`,
      });
    }
    if (p.health_check_failures > 0 || !p.healthy) {
      out.push({
        kind: 'health_failures',
        severity: p.healthy ? 'warning' : 'critical',
        pool: p.pool,
        message: `${p.pool}: ${p.health_check_failures} failed health checks since ${p.last_reset}${p.last_health_error ? ` (last: ${p.last_health_error})` : ''}; check the database's availability.`,
      });
    }
    const singleWriter = SINGLE_WRITER_POOLS.has(p.pool);
    // DB_POOL_MAX_CONNECTIONS does not size the single writer; fewer, larger transactions help it.
    const remedy = singleWriter
      ? 'all writes share its one connection: send rows in batches (POST /batch), keep transactions short, or reduce write load'
      : 'raise DB_POOL_MAX_CONNECTIONS or shorten the work done while holding a connection';
    if (p.wait_time_ms.p95 !== null && p.wait_time_ms.p95 > 100) {
      out.push({
        kind: 'slow_acquires',
        severity: 'warning',
        pool: p.pool,
        message: `${p.pool}: 95 % of acquires waited up to ${p.wait_time_ms.p95} ms for a connection; ${remedy}.`,
      });
    }
    const refused = p.timeouts > 0 || p.rejected > 0;
    if (refused || (!singleWriter && (p.utilization >= SATURATION || p.pending_requests > 0))) {
      out.push({
        kind: 'saturation',
        severity: refused ? 'critical' : 'warning',
        pool: p.pool,
        message: `${p.pool}: saturated (${p.timeouts} acquire timeouts, ${p.rejected} rejected, ${p.pending_requests} waiting, ${Math.round(p.utilization * 100)} % in use); ${singleWriter ? remedy : 'raise DB_POOL_MAX_CONNECTIONS or reduce load'}.`,
      });
    }
    if (p.max_connections > p.min_connections && acquires >= MIN_SAMPLES && p.average_active_connections < p.max_connections * 0.1 && p.max_connections >= 10) {
      out.push({
        kind: 'oversized_pool',
        severity: 'info',
        pool: p.pool,
        message: `${p.pool}: on average ${p.average_active_connections} of ${p.max_connections} connections were in use; DB_POOL_MAX_CONNECTIONS could be lower.`,
      });
    }
  }
  for (const s of suspects) {
    out.push({
      kind: 'n_plus_one',
      severity: 'warning',
      message: `${s.route}: ${s.count} requests issued the same ${s.collection} query repeatedly (suspected N+1); load the related rows in one batched query.`,
    });
  }
  return out;
}

export function performanceSummary(
  adapter: DatabaseAdapter,
  runtime: RuntimeStats,
  suspects: readonly NPlusOneSuspect[] = [],
): PerformanceSummary {
  const pools = adapter.pools().map((pool) => poolReport(pool.stats()));
  return {
    collected_at: new Date().toISOString(),
    window_start: runtime.since(),
    pools,
    http: runtime.http(),
    event_loop: runtime.eventLoop(),
    recommendations: recommendations(pools, suspects),
  };
}
