/**
 * The service's Prometheus metrics, on its own Registry (never prom-client's global one, so two
 * containers in one process — as in the tests — never share or clash).
 *
 * - Pool gauges are read from the pools at scrape time (`collect()`), so they cannot drift.
 * - Pool counters and histograms are fed by the pools' {@link PoolObserver} callbacks.
 * - Query durations come from the adapters' {@link OperationInstrumentation}.
 * - HTTP durations are recorded by the HTTP middleware with the route *template* only.
 *
 * Names follow the OpenTelemetry database-client and HTTP-server semantic conventions, translated
 * to Prometheus (dots → underscores, base units: seconds).
 */
import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type Metric,
  type OpenMetricsContentType,
} from 'prom-client';
import type { Span } from '@opentelemetry/api';
import type { OperationInfo } from '../adapters/contract.js';
import type { AcquireOutcome, CloseReason, CreateOutcome, PoolObserver, PoolStats } from '../pool/types.js';

/** What the metrics need from a pool: its identity and a stats snapshot. */
export interface ObservablePool {
  readonly name: string;
  readonly dbSystem: string;
  stats(): PoolStats;
}

const POOL_LABELS = ['pool', 'db_system'] as const;
/** Acquire waits and uses are sub-millisecond when healthy and seconds when not. */
const POOL_TIME_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];
const OPERATION_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const HTTP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const ACQUIRE_OUTCOMES: readonly AcquireOutcome[] = ['hit', 'miss', 'timeout', 'rejected', 'error'];
export const CLOSE_REASONS: readonly CloseReason[] = ['idle', 'unhealthy', 'max_lifetime', 'shutdown', 'error'];

export interface ServiceMetricsOptions {
  /** When false, no pool or query series are collected (DB_POOL_ENABLE_METRICS=false). */
  readonly enabled: boolean;
  /** `db_system` label of the query series (the container has one backend). */
  readonly dbSystem: string;
  /** Collect prom-client's default process and Node.js metrics (on by default). */
  readonly defaultMetrics?: boolean;
}

/** Label values of one HTTP request, as recorded. */
export interface HttpRequestLabels {
  readonly method: string;
  /** The route template (`/api/plots/:id`), or `unmatched`. Never the raw path. */
  readonly route: string;
  readonly status: number;
}

/** The members of a registered metric this module reads (prom-client types them loosely). */
interface RegisteredMetric {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  get(): Promise<{ name: string; values: Array<Record<string, unknown>> } & Record<string, unknown>>;
}

/**
 * A read-only view of an OpenMetrics-registry metric for a classic-format registry: the counter
 * keeps its `_total` name (the OpenMetrics renderer strips it from `metric.name`) and exemplars
 * are dropped (the classic format has none). prom-client's own formatter does the escaping.
 */
function classicView(metric: RegisteredMetric): Metric {
  const view = {
    get name(): string {
      return classicName(metric);
    },
    help: metric.help,
    type: metric.type,
    async get() {
      const data = await metric.get();
      return { ...data, name: classicName(metric), values: data.values.map((v) => ({ ...v, exemplar: undefined })) };
    },
  };
  return view as unknown as Metric;
}

function classicName(metric: RegisteredMetric): string {
  return metric.type === 'counter' && !metric.name.endsWith('_total') ? `${metric.name}_total` : metric.name;
}

/** Exemplar labels linking a sample to its trace; empty when the span is not sampled. */
function exemplarOf(span: Span | undefined): Record<string, string> {
  if (!span) return {};
  const ctx = span.spanContext();
  // Flag bit 0 = sampled; an unsampled trace id leads nowhere.
  if ((ctx.traceFlags & 1) === 0) return {};
  return { trace_id: ctx.traceId, span_id: ctx.spanId };
}

export class ServiceMetrics {
  readonly registry: Registry<OpenMetricsContentType>;
  readonly enabled: boolean;
  /** Observer to hand to every pool; a no-op when metrics are disabled. */
  readonly poolObserver: PoolObserver;

  readonly #dbSystem: string;
  readonly #pools = new Map<string, ObservablePool>();
  /** Hits and misses since start per pool, for the since-start hit ratio gauge. */
  readonly #hitMiss = new Map<string, { hits: number; misses: number }>();
  readonly #acquires: Counter<'pool' | 'db_system' | 'outcome'>;
  readonly #creates: Counter<'pool' | 'db_system' | 'outcome'>;
  readonly #closes: Counter<'pool' | 'db_system' | 'reason'>;
  readonly #leaks: Counter<'pool' | 'db_system'>;
  readonly #healthChecks: Counter<'pool' | 'db_system' | 'result'>;
  readonly #waitTime: Histogram<'pool' | 'db_system'>;
  readonly #useTime: Histogram<'pool' | 'db_system'>;
  readonly #createTime: Histogram<'pool' | 'db_system'>;
  readonly #operationDuration: Histogram<'operation' | 'collection' | 'outcome' | 'db_system'>;
  readonly #nPlusOne: Counter<'http_route' | 'collection'>;
  readonly #httpDuration: Histogram<'http_request_method' | 'http_route' | 'http_response_status_code'>;

  constructor(options: ServiceMetricsOptions) {
    this.enabled = options.enabled;
    this.#dbSystem = options.dbSystem;
    // Exemplars exist only in OpenMetrics, so the registry is an OpenMetrics one; render() also
    // serves the classic Prometheus text format (promtool, curl) from the same metrics.
    const registry = new Registry<OpenMetricsContentType>();
    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    this.registry = registry;
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

    const registers = [registry];
    this.#acquires = new Counter({
      name: 'db_client_connection_acquires_total',
      help: 'Connection acquires by outcome: hit (an open connection was reused), miss (a new one was opened), timeout, rejected (wait queue full), error.',
      labelNames: [...POOL_LABELS, 'outcome'],
      registers,
    });
    this.#creates = new Counter({
      name: 'db_client_connection_creates_total',
      help: 'Connections the pool tried to open, by outcome.',
      labelNames: [...POOL_LABELS, 'outcome'],
      registers,
    });
    this.#closes = new Counter({
      name: 'db_client_connection_closes_total',
      help: 'Connections closed, by reason: idle, unhealthy, max_lifetime, shutdown, error.',
      labelNames: [...POOL_LABELS, 'reason'],
      registers,
    });
    this.#leaks = new Counter({
      name: 'db_client_connection_leaks_total',
      help: 'Connections held longer than the leak threshold (DB_POOL_LEAK_THRESHOLD).',
      labelNames: [...POOL_LABELS],
      registers,
    });
    this.#healthChecks = new Counter({
      name: 'db_client_connection_health_checks_total',
      help: 'Health-monitor passes over the idle connections, by result.',
      labelNames: [...POOL_LABELS, 'result'],
      registers,
    });
    this.#waitTime = new Histogram({
      name: 'db_client_connection_wait_time_seconds',
      help: 'Time callers waited to acquire a connection (timeouts included).',
      labelNames: [...POOL_LABELS],
      buckets: POOL_TIME_BUCKETS,
      registers,
    });
    this.#useTime = new Histogram({
      name: 'db_client_connection_use_time_seconds',
      help: 'Time a connection was held between acquire and release.',
      labelNames: [...POOL_LABELS],
      buckets: POOL_TIME_BUCKETS,
      registers,
    });
    this.#createTime = new Histogram({
      name: 'db_client_connection_create_time_seconds',
      help: 'Time taken to open a connection.',
      labelNames: [...POOL_LABELS],
      buckets: POOL_TIME_BUCKETS,
      registers,
    });
    this.#operationDuration = new Histogram({
      name: 'db_client_operation_duration_seconds',
      help: 'Duration of database operations (one statement or one batch transaction), pool wait included.',
      labelNames: ['operation', 'collection', 'outcome', 'db_system'],
      buckets: OPERATION_BUCKETS,
      enableExemplars: true,
      registers,
    });
    this.#nPlusOne = new Counter({
      name: 'db_client_n_plus_one_suspected_total',
      help: 'Requests in which one statement shape repeated past the N+1 threshold, by route template and table.',
      labelNames: ['http_route', 'collection'],
      registers,
    });
    this.#httpDuration = new Histogram({
      name: 'http_server_request_duration_seconds',
      help: 'Duration of HTTP requests by method, route template and status code.',
      labelNames: ['http_request_method', 'http_route', 'http_response_status_code'],
      buckets: HTTP_BUCKETS,
      enableExemplars: true,
      registers,
    });
    this.#registerPoolGauges(registry);

    this.poolObserver = this.enabled ? this.#createPoolObserver() : {};
  }

  /**
   * Makes a pool visible to the scrape-time gauges. Call before the pool starts so warm-up is
   * attributed to the right `db_system`.
   */
  registerPool(pool: ObservablePool): void {
    this.#pools.set(pool.name, pool);
    if (!this.#hitMiss.has(pool.name)) this.#hitMiss.set(pool.name, { hits: 0, misses: 0 });
    if (!this.enabled) return;
    // Every labelled series exists from the start at 0, so the first timeout or failure is a rate
    // change that rate()/increase() and the alerts can see, not a brand-new series.
    const labels = { pool: pool.name, db_system: pool.dbSystem };
    for (const outcome of ACQUIRE_OUTCOMES) this.#acquires.inc({ ...labels, outcome }, 0);
    for (const outcome of ['success', 'error']) this.#creates.inc({ ...labels, outcome }, 0);
    for (const reason of CLOSE_REASONS) this.#closes.inc({ ...labels, reason }, 0);
    for (const result of ['success', 'failure']) this.#healthChecks.inc({ ...labels, result }, 0);
    this.#leaks.inc(labels, 0);
  }

  /**
   * The exposition for one scrape: OpenMetrics (with exemplars) when the scraper asks for it in
   * `Accept`, else the Prometheus text format 0.0.4.
   */
  async render(accept: string | undefined): Promise<{ contentType: string; body: string }> {
    if (accept?.includes('application/openmetrics-text')) {
      return { contentType: this.registry.contentType, body: await this.registry.metrics() };
    }
    const text = new Registry();
    for (const metric of this.registry.getMetricsAsArray()) {
      text.registerMetric(classicView(metric as unknown as RegisteredMetric));
    }
    return { contentType: text.contentType, body: await text.metrics() };
  }

  /** Records one finished HTTP request (with the trace id as exemplar when one is sampled). */
  observeHttpRequest(labels: HttpRequestLabels, durationSeconds: number, span?: Span): void {
    this.#httpDuration.observe({
      labels: {
        http_request_method: labels.method,
        http_route: labels.route,
        http_response_status_code: String(labels.status),
      },
      value: durationSeconds,
      exemplarLabels: exemplarOf(span),
    });
  }

  /** Records one database operation (no-op when metrics are disabled). */
  observeOperation(info: OperationInfo, outcome: 'success' | 'error', durationSeconds: number, span?: Span): void {
    if (!this.enabled) return;
    this.#operationDuration.observe({
      labels: { operation: info.operation, collection: info.collection, outcome, db_system: this.#dbSystem },
      value: durationSeconds,
      exemplarLabels: exemplarOf(span),
    });
  }

  /** Counts one request with a suspected N+1 pattern. */
  countNPlusOne(route: string, collection: string): void {
    this.#nPlusOne.inc({ http_route: route, collection });
  }

  #labels(pool: string): { pool: string; db_system: string } {
    return { pool, db_system: this.#pools.get(pool)?.dbSystem ?? 'unknown' };
  }

  #createPoolObserver(): PoolObserver {
    return {
      onAcquire: (pool: string, outcome: AcquireOutcome, waitSeconds: number) => {
        const labels = this.#labels(pool);
        this.#acquires.inc({ ...labels, outcome });
        this.#waitTime.observe(labels, waitSeconds);
        const hm = this.#hitMiss.get(pool);
        if (hm && outcome === 'hit') hm.hits += 1;
        else if (hm && outcome === 'miss') hm.misses += 1;
      },
      onRelease: (pool: string, useSeconds: number) => {
        this.#useTime.observe(this.#labels(pool), useSeconds);
      },
      onCreate: (pool: string, outcome: CreateOutcome, createSeconds: number) => {
        const labels = this.#labels(pool);
        this.#creates.inc({ ...labels, outcome });
        if (outcome === 'success') this.#createTime.observe(labels, createSeconds);
      },
      onClose: (pool: string, reason: CloseReason) => {
        this.#closes.inc({ ...this.#labels(pool), reason });
      },
      onLeak: (pool: string) => {
        this.#leaks.inc(this.#labels(pool));
      },
      onHealthCheck: (pool: string, healthy: boolean) => {
        this.#healthChecks.inc({ ...this.#labels(pool), result: healthy ? 'success' : 'failure' });
      },
    };
  }

  /** Gauges whose values are read from the pools when Prometheus scrapes. */
  #registerPoolGauges(registry: Registry<OpenMetricsContentType>): void {
    const registers = [registry];
    const pools = (): ObservablePool[] => (this.enabled ? [...this.#pools.values()] : []);
    const perPool = (
      name: string,
      help: string,
      read: (stats: PoolStats, pool: ObservablePool) => number | null,
    ): void => {
      new Gauge({
        name,
        help,
        labelNames: [...POOL_LABELS],
        registers,
        collect() {
          this.reset();
          for (const pool of pools()) {
            const value = read(pool.stats(), pool);
            if (value !== null) this.set({ pool: pool.name, db_system: pool.dbSystem }, value);
          }
        },
      });
    };

    new Gauge({
      name: 'db_client_connections',
      help: 'Open connections by state: used (lent out) or idle.',
      labelNames: [...POOL_LABELS, 'state'],
      registers,
      collect() {
        this.reset();
        for (const pool of pools()) {
          const stats = pool.stats();
          const labels = { pool: pool.name, db_system: pool.dbSystem };
          this.set({ ...labels, state: 'idle' }, stats.idle);
          this.set({ ...labels, state: 'used' }, stats.used);
        }
      },
    });
    perPool('db_client_connections_max', 'Configured maximum number of open connections.', (s) => s.max);
    perPool('db_client_connections_idle_min', 'Configured minimum number of open connections.', (s) => s.min);
    perPool(
      'db_client_connections_pending_requests',
      'Callers currently waiting for a connection.',
      (s) => s.pending,
    );
    perPool(
      'db_client_connections_hit_ratio',
      'Acquires served by an already-open connection, as a ratio of hits and misses since start (absent before the first acquire).',
      (_s, pool) => {
        const hm = this.#hitMiss.get(pool.name);
        if (!hm || hm.hits + hm.misses === 0) return null;
        return hm.hits / (hm.hits + hm.misses);
      },
    );
    perPool('db_client_connections_healthy', '1 if the last health check passed, else 0.', (s) =>
      s.healthy ? 1 : 0,
    );
    perPool(
      'db_client_connections_health_failures',
      'Consecutive failed health checks (0 after a passing one).',
      (s) => s.consecutiveHealthFailures,
    );
  }
}
