/**
 * "BooksWriter Data — Pools": the observed connection pools (SQLite readers and writer, Supabase
 * clients). Answers the on-call questions in order: are the pools serving from warm connections,
 * are callers waiting, how long, are the connections healthy, and what opened, closed or leaked.
 */
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';

import {
  Ids,
  POOL,
  TARGET,
  dashboardBase,
  finalize,
  heatmapPanel,
  percentiles,
  row,
  statPanel,
  timeseriesPanel,
  variables,
} from './common';

export const POOLS_UID = 'bookswriter-pools';
export const POOLS_TITLE = 'BooksWriter Data — Pools';

/** Acquires served by an open connection over acquires that were served at all, per pool. */
const HIT_RATE =
  `sum by (pool) (rate(db_client_connection_acquires_total{${POOL}, outcome="hit"}[$__rate_interval]))` +
  ` / sum by (pool) (rate(db_client_connection_acquires_total{${POOL}, outcome=~"hit|miss"}[$__rate_interval]))`;

const UTILIZATION =
  `sum by (pool) (db_client_connections{${POOL}, state="used"})` +
  ` / sum by (pool) (db_client_connections_max{${POOL}})`;

const HIT_RATE_FLOOR: dashboard.Threshold[] = [
  { value: null, color: 'red' },
  { value: 0.8, color: 'green' },
];

const UTILIZATION_STEPS: dashboard.Threshold[] = [
  { value: null, color: 'green' },
  { value: 0.8, color: 'orange' },
  { value: 0.95, color: 'red' },
];

const HEALTH_MAPPINGS: dashboard.ValueMapping[] = [
  {
    type: dashboard.MappingType.ValueToText,
    options: {
      '0': { text: 'Unhealthy', color: 'red', index: 0 },
      '1': { text: 'Healthy', color: 'green', index: 1 },
    },
  },
];

export function poolsDashboard(): dashboard.Dashboard {
  const ids = new Ids();
  const b = dashboardBase(
    POOLS_UID,
    POOLS_TITLE,
    'Connection pools of bookswriter-data: hit rate, saturation, acquire/use/create latency, health, ' +
      'acquire outcomes, connection lifecycle and leaks. Latency panels carry trace exemplars (Tempo).',
  );
  variables(true).forEach((v) => b.withVariable(v));

  b.withRow(row(ids, 'Overview'));
  b.withPanel(
    statPanel(ids, {
      title: 'Hit rate',
      description:
        'Acquires served by an already-open connection over hits + misses, in the selected window. ' +
        'Below 80 % the pool keeps opening connections: raise DB_POOL_MIN_CONNECTIONS or DB_POOL_MAX_IDLE_TIME.',
      unit: 'percentunit',
      decimals: 1,
      thresholds: HIT_RATE_FLOOR,
      queries: [{ expr: HIT_RATE, legend: '{{pool}}' }],
    }),
  );
  b.withPanel(
    statPanel(ids, {
      title: 'Utilization (used / max)',
      description: 'Connections in use over the configured maximum. Near 100 % callers start to wait.',
      unit: 'percentunit',
      decimals: 1,
      thresholds: UTILIZATION_STEPS,
      queries: [{ expr: UTILIZATION, legend: '{{pool}}' }],
    }),
  );
  b.withPanel(
    statPanel(ids, {
      title: 'Pending requests',
      description: 'Callers waiting for a connection right now.',
      unit: 'short',
      thresholds: [
        { value: null, color: 'green' },
        { value: 1, color: 'orange' },
        { value: 10, color: 'red' },
      ],
      queries: [
        { expr: `sum by (pool) (db_client_connections_pending_requests{${POOL}})`, legend: '{{pool}}' },
      ],
    }),
  );
  b.withPanel(
    statPanel(ids, {
      title: 'Health',
      description: 'Result of the last health check of each pool (validates idle connections only).',
      unit: 'short',
      mappings: HEALTH_MAPPINGS,
      thresholds: [
        { value: null, color: 'red' },
        { value: 1, color: 'green' },
      ],
      queries: [{ expr: `min by (pool) (db_client_connections_healthy{${POOL}})`, legend: '{{pool}}' }],
    }),
  );

  b.withRow(row(ids, 'Connections'));
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Connections: used, idle, max and min',
      description: 'Open connections by state, with the configured bounds (max, and min kept warm).',
      unit: 'short',
      min: 0,
      queries: [
        { expr: `sum by (pool) (db_client_connections{${POOL}, state="used"})`, legend: '{{pool}} used' },
        { expr: `sum by (pool) (db_client_connections{${POOL}, state="idle"})`, legend: '{{pool}} idle' },
        { expr: `sum by (pool) (db_client_connections_max{${POOL}})`, legend: '{{pool}} max' },
        { expr: `sum by (pool) (db_client_connections_idle_min{${POOL}})`, legend: '{{pool}} min' },
      ],
    }),
  );
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Pending requests',
      description:
        'Callers waiting for a connection. Past DB_POOL_MAX_WAITING_REQUESTS they are rejected (503).',
      unit: 'short',
      min: 0,
      queries: [
        { expr: `sum by (pool) (db_client_connections_pending_requests{${POOL}})`, legend: '{{pool}}' },
      ],
    }),
  );
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Hit rate',
      description:
        'Windowed hit rate from the acquire counters, and the hit ratio since start (the gauge the JSON API reports).',
      unit: 'percentunit',
      min: 0,
      max: 1,
      thresholds: HIT_RATE_FLOOR,
      queries: [
        { expr: HIT_RATE, legend: '{{pool}} window' },
        { expr: `avg by (pool) (db_client_connections_hit_ratio{${POOL}})`, legend: '{{pool}} since start' },
      ],
    }),
  );
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Utilization (used / max)',
      description: 'Connections in use over the configured maximum.',
      unit: 'percentunit',
      min: 0,
      max: 1,
      thresholds: UTILIZATION_STEPS,
      queries: [{ expr: UTILIZATION, legend: '{{pool}}' }],
    }),
  );

  b.withRow(row(ids, 'Latency'));
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Acquire wait time p50 / p95 / p99',
      description:
        'Time from asking for a connection to getting one (timeouts included). Exemplars link to the trace.',
      unit: 's',
      min: 0,
      queries: percentiles('db_client_connection_wait_time_seconds', POOL, ['pool']),
    }),
  );
  b.withPanel(
    heatmapPanel(ids, {
      title: 'Acquire wait time distribution',
      description: 'Acquire wait time buckets over time (all selected pools).',
      unit: 's',
      queries: [
        {
          expr: `sum by (le) (rate(db_client_connection_wait_time_seconds_bucket{${POOL}}[$__rate_interval]))`,
          legend: '{{le}}',
          exemplar: true,
        },
      ],
    }),
  );
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Connection use time p50 / p95 / p99',
      description: 'How long a connection is held between acquire and release.',
      unit: 's',
      min: 0,
      queries: percentiles('db_client_connection_use_time_seconds', POOL, ['pool']),
    }),
  );
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Connection create time p50 / p95 / p99',
      description: 'Time to open a new connection (a worker thread for SQLite, a socket for Supabase).',
      unit: 's',
      min: 0,
      queries: percentiles('db_client_connection_create_time_seconds', POOL, ['pool']),
    }),
  );

  b.withRow(row(ids, 'Health'));
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Healthy',
      description: '1 when the last health check of the pool passed, 0 when it failed.',
      unit: 'short',
      min: 0,
      max: 1,
      width: 8,
      queries: [{ expr: `min by (pool) (db_client_connections_healthy{${POOL}})`, legend: '{{pool}}' }],
    }),
  );
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Consecutive health-check failures',
      description: 'Failed health checks in a row; back to 0 after a passing check.',
      unit: 'short',
      min: 0,
      width: 8,
      queries: [
        { expr: `max by (pool) (db_client_connections_health_failures{${POOL}})`, legend: '{{pool}}' },
      ],
    }),
  );
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Health checks by result',
      description: 'Health checks per second, by result.',
      unit: 'ops',
      min: 0,
      width: 8,
      queries: [
        {
          expr: `sum by (pool, result) (rate(db_client_connection_health_checks_total{${POOL}}[$__rate_interval]))`,
          legend: '{{pool}} {{result}}',
        },
      ],
    }),
  );

  b.withRow(row(ids, 'Acquires and connection lifecycle'));
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Acquires by outcome',
      description:
        'Acquires per second: hit, miss, timeout (DB_POOL_TIMEOUT), rejected (DB_POOL_SATURATED), error.',
      unit: 'ops',
      min: 0,
      stacked: true,
      queries: [
        {
          expr: `sum by (pool, outcome) (rate(db_client_connection_acquires_total{${POOL}}[$__rate_interval]))`,
          legend: '{{pool}} {{outcome}}',
        },
      ],
    }),
  );
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Timeouts, rejections and errors',
      description: 'Failed acquires per interval. Each one is a 503 for the caller.',
      unit: 'short',
      min: 0,
      bars: true,
      queries: [
        {
          expr:
            `sum by (pool, outcome) (increase(db_client_connection_acquires_total{${POOL}, ` +
            `outcome=~"timeout|rejected|error"}[$__rate_interval]))`,
          legend: '{{pool}} {{outcome}}',
        },
      ],
    }),
  );
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Connections opened',
      description: 'Connection creations per second, by outcome.',
      unit: 'ops',
      min: 0,
      width: 8,
      queries: [
        {
          expr: `sum by (pool, outcome) (rate(db_client_connection_creates_total{${POOL}}[$__rate_interval]))`,
          legend: '{{pool}} {{outcome}}',
        },
      ],
    }),
  );
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Connections closed by reason',
      description: 'Connection closes per second: idle, unhealthy, max_lifetime, shutdown, error.',
      unit: 'ops',
      min: 0,
      width: 8,
      stacked: true,
      queries: [
        {
          expr: `sum by (pool, reason) (rate(db_client_connection_closes_total{${POOL}}[$__rate_interval]))`,
          legend: '{{pool}} {{reason}}',
        },
      ],
    }),
  );
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Leaked connections',
      description:
        'Connections held past DB_POOL_LEAK_THRESHOLD, per interval. The log line has the acquirer stack.',
      unit: 'short',
      min: 0,
      width: 8,
      bars: true,
      queries: [
        {
          expr: `sum by (pool) (increase(db_client_connection_leaks_total{${POOL}}[$__rate_interval]))`,
          legend: '{{pool}}',
        },
      ],
    }),
  );

  b.withRow(row(ids, 'Queries'));
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Operation p99 by collection / operation',
      description:
        'p99 duration of each query or batch, by table and operation. Exemplars link to the trace.',
      unit: 's',
      min: 0,
      queries: [
        {
          expr:
            'histogram_quantile(0.99, sum by (le, collection, operation) ' +
            `(rate(db_client_operation_duration_seconds_bucket{${TARGET}}[$__rate_interval])))`,
          legend: '{{collection}} {{operation}}',
          exemplar: true,
        },
      ],
    }),
  );
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Operations by outcome',
      description: 'Queries and batches per second, by backend and outcome.',
      unit: 'ops',
      min: 0,
      stacked: true,
      queries: [
        {
          expr:
            'sum by (db_system, outcome) ' +
            `(rate(db_client_operation_duration_seconds_count{${TARGET}}[$__rate_interval]))`,
          legend: '{{db_system}} {{outcome}}',
        },
      ],
    }),
  );

  return finalize(b.build());
}
