/**
 * "BooksWriter Data — Service": the HTTP API seen from outside (rate, errors, duration by route
 * template), the Node.js runtime (event loop, memory, CPU, GC) and the database signals that
 * explain a slow or failing request (N+1 suspects, pool saturation, acquire failures).
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
  quantile,
  row,
  statPanel,
  timeseriesPanel,
  variables,
} from './common';

export const SERVICE_UID = 'bookswriter-service';
export const SERVICE_TITLE = 'BooksWriter Data — Service';

const HTTP = 'http_server_request_duration_seconds';

/** Share of requests whose status matches `codeRegex`, optionally per label. */
function errorRatio(codeRegex: string, by: string[] = []): string {
  const group = by.length > 0 ? `sum by (${by.join(', ')})` : 'sum';
  return (
    `${group} (rate(${HTTP}_count{${TARGET}, http_response_status_code=~"${codeRegex}"}[$__rate_interval]))` +
    ` / ${group} (rate(${HTTP}_count{${TARGET}}[$__rate_interval]))`
  );
}

const ERROR_RATIO_STEPS: dashboard.Threshold[] = [
  { value: null, color: 'green' },
  { value: 0.01, color: 'orange' },
  { value: 0.05, color: 'red' },
];

export function serviceDashboard(): dashboard.Dashboard {
  const ids = new Ids();
  const b = dashboardBase(
    SERVICE_UID,
    SERVICE_TITLE,
    'HTTP API (rate, errors, duration by route), Node.js runtime and the database signals behind slow or ' +
      'failing requests. Latency panels carry trace exemplars (Tempo).',
  );
  variables(true).forEach((v) => b.withVariable(v));

  b.withRow(row(ids, 'Overview'));
  b.withPanel(
    statPanel(ids, {
      title: 'Request rate',
      description: 'HTTP requests per second, all routes.',
      unit: 'reqps',
      queries: [{ expr: `sum(rate(${HTTP}_count{${TARGET}}[$__rate_interval]))`, legend: 'requests' }],
    }),
  );
  b.withPanel(
    statPanel(ids, {
      title: '5xx error ratio',
      description: 'Share of requests answered with a 5xx status.',
      unit: 'percentunit',
      decimals: 2,
      thresholds: ERROR_RATIO_STEPS,
      queries: [{ expr: errorRatio('5..'), legend: '5xx' }],
    }),
  );
  b.withPanel(
    statPanel(ids, {
      title: 'p99 latency',
      description: '99th percentile of the request duration, all routes.',
      unit: 's',
      thresholds: [
        { value: null, color: 'green' },
        { value: 0.5, color: 'orange' },
        { value: 1, color: 'red' },
      ],
      queries: [{ expr: quantile(0.99, HTTP, TARGET, []), legend: 'p99' }],
    }),
  );
  b.withPanel(
    statPanel(ids, {
      title: 'Event-loop lag p99',
      description: 'Worst instance. A blocked event loop delays every request and the /metrics scrape.',
      unit: 's',
      thresholds: [
        { value: null, color: 'green' },
        { value: 0.1, color: 'orange' },
        { value: 0.5, color: 'red' },
      ],
      queries: [{ expr: `max(nodejs_eventloop_lag_p99_seconds{${TARGET}})`, legend: 'p99' }],
    }),
  );

  b.withRow(row(ids, 'Traffic and errors'));
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Request rate by route',
      description: 'Requests per second by method and route template.',
      unit: 'reqps',
      min: 0,
      queries: [
        {
          expr: `sum by (http_request_method, http_route) (rate(${HTTP}_count{${TARGET}}[$__rate_interval]))`,
          legend: '{{http_request_method}} {{http_route}}',
        },
      ],
    }),
  );
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Error ratio (5xx and 4xx)',
      description: 'Share of requests with a server error (5xx) and with a client error (4xx).',
      unit: 'percentunit',
      min: 0,
      thresholds: ERROR_RATIO_STEPS,
      queries: [
        { expr: errorRatio('5..'), legend: '5xx' },
        { expr: errorRatio('4..'), legend: '4xx' },
      ],
    }),
  );
  b.withPanel(
    timeseriesPanel(ids, {
      title: '5xx ratio by route',
      description: 'Share of each route’s requests answered with a 5xx status.',
      unit: 'percentunit',
      min: 0,
      queries: [{ expr: errorRatio('5..', ['http_route']), legend: '{{http_route}}' }],
    }),
  );
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Responses by status code',
      description: 'Responses per second by status code.',
      unit: 'reqps',
      min: 0,
      stacked: true,
      queries: [
        {
          expr: `sum by (http_response_status_code) (rate(${HTTP}_count{${TARGET}}[$__rate_interval]))`,
          legend: '{{http_response_status_code}}',
        },
      ],
    }),
  );

  b.withRow(row(ids, 'Latency'));
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Latency p50 / p95 / p99 by route',
      description: 'Request duration percentiles per route template. Exemplars link to the trace.',
      unit: 's',
      min: 0,
      width: 24,
      height: 10,
      queries: percentiles(HTTP, TARGET, ['http_route']),
    }),
  );
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Latency p50 / p95 / p99 (all routes)',
      description: 'Request duration percentiles over every route. Exemplars link to the trace.',
      unit: 's',
      min: 0,
      queries: percentiles(HTTP, TARGET, []),
    }),
  );
  b.withPanel(
    heatmapPanel(ids, {
      title: 'Request duration distribution',
      description: 'Request duration buckets over time, all routes.',
      unit: 's',
      queries: [
        {
          expr: `sum by (le) (rate(${HTTP}_bucket{${TARGET}}[$__rate_interval]))`,
          legend: '{{le}}',
          exemplar: true,
        },
      ],
    }),
  );

  b.withRow(row(ids, 'Node.js runtime'));
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Event-loop lag',
      description: 'Event-loop delay percentiles per instance.',
      unit: 's',
      min: 0,
      width: 8,
      queries: [
        {
          expr: `max by (instance) (nodejs_eventloop_lag_p50_seconds{${TARGET}})`,
          legend: '{{instance}} p50',
        },
        {
          expr: `max by (instance) (nodejs_eventloop_lag_p99_seconds{${TARGET}})`,
          legend: '{{instance}} p99',
        },
      ],
    }),
  );
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Memory',
      description: 'Resident set size and V8 heap per instance.',
      unit: 'bytes',
      min: 0,
      width: 8,
      queries: [
        { expr: `sum by (instance) (process_resident_memory_bytes{${TARGET}})`, legend: '{{instance}} RSS' },
        {
          expr: `sum by (instance) (nodejs_heap_size_used_bytes{${TARGET}})`,
          legend: '{{instance}} heap used',
        },
        {
          expr: `sum by (instance) (nodejs_heap_size_total_bytes{${TARGET}})`,
          legend: '{{instance}} heap total',
        },
      ],
    }),
  );
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'CPU',
      description: 'CPU time per second of wall time (100 % = one core busy).',
      unit: 'percentunit',
      min: 0,
      width: 8,
      queries: [
        {
          expr: `sum by (instance) (rate(process_cpu_seconds_total{${TARGET}}[$__rate_interval]))`,
          legend: '{{instance}}',
        },
      ],
    }),
  );
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Active handles',
      description: 'Open libuv handles (sockets, timers, files). A steady climb is a leak.',
      unit: 'short',
      min: 0,
      queries: [
        { expr: `sum by (instance) (nodejs_active_handles_total{${TARGET}})`, legend: '{{instance}}' },
      ],
    }),
  );
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Time in garbage collection',
      description: 'Share of wall time spent in GC, by GC kind.',
      unit: 'percentunit',
      min: 0,
      stacked: true,
      queries: [
        {
          expr: `sum by (instance, kind) (rate(nodejs_gc_duration_seconds_sum{${TARGET}}[$__rate_interval]))`,
          legend: '{{instance}} {{kind}}',
        },
      ],
    }),
  );

  b.withRow(row(ids, 'Database'));
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Suspected N+1 queries by route / collection',
      description:
        'Requests that ran the same query shape many times, per interval. Each one should be a batch load.',
      unit: 'short',
      min: 0,
      bars: true,
      queries: [
        {
          expr:
            'sum by (http_route, collection) ' +
            `(increase(db_client_n_plus_one_suspected_total{${TARGET}}[$__rate_interval]))`,
          legend: '{{http_route}} {{collection}}',
        },
      ],
    }),
  );
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Pool utilization (used / max)',
      description: 'Connections in use over the configured maximum, per pool.',
      unit: 'percentunit',
      min: 0,
      max: 1,
      queries: [
        {
          expr:
            `sum by (pool) (db_client_connections{${POOL}, state="used"})` +
            ` / sum by (pool) (db_client_connections_max{${POOL}})`,
          legend: '{{pool}}',
        },
      ],
    }),
  );
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Acquire timeouts and rejections',
      description: 'Failed acquires per interval; each one is a 503 (DB_POOL_TIMEOUT / DB_POOL_SATURATED).',
      unit: 'short',
      min: 0,
      bars: true,
      queries: [
        {
          expr:
            `sum by (pool, outcome) (increase(db_client_connection_acquires_total{${POOL}, ` +
            `outcome=~"timeout|rejected"}[$__rate_interval]))`,
          legend: '{{pool}} {{outcome}}',
        },
      ],
    }),
  );
  b.withPanel(
    timeseriesPanel(ids, {
      title: 'Database operation p99 by backend',
      description: 'p99 duration of queries and batches per backend. Exemplars link to the trace.',
      unit: 's',
      min: 0,
      queries: [
        {
          expr:
            'histogram_quantile(0.99, sum by (le, db_system) ' +
            `(rate(db_client_operation_duration_seconds_bucket{${TARGET}}[$__rate_interval])))`,
          legend: '{{db_system}} p99',
          exemplar: true,
        },
      ],
    }),
  );

  return finalize(b.build());
}
