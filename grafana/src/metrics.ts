/**
 * The Prometheus series the dashboards may query, and a small PromQL scanner to check queries
 * against them.
 *
 * The list mirrors design.md §7 (our own collectors) plus the prom-client default metrics the
 * dashboards use. The dashboard unit test checks every query against it, and the end-to-end test
 * (real Prometheus scraping the running service) reuses it to prove each name really is scraped:
 * a renamed metric then fails a test instead of leaving an empty panel.
 */

/** Labels every pool series carries. */
export const POOL_LABELS = ['pool', 'db_system'] as const;

/** Values of the `pool` label (one observed tarn pool each). */
export const POOL_NAMES = ['sqlite-read', 'sqlite-write', 'supabase'] as const;

/** Gauges read from the pools at scrape time. */
export const POOL_GAUGES = [
  'db_client_connections',
  'db_client_connections_max',
  'db_client_connections_idle_min',
  'db_client_connections_pending_requests',
  'db_client_connections_hit_ratio',
  'db_client_connections_healthy',
  'db_client_connections_health_failures',
] as const;

/** Monotonic counters (exposed with their `_total` suffix). */
export const COUNTERS = [
  'db_client_connection_health_checks_total',
  'db_client_connection_acquires_total',
  'db_client_connection_creates_total',
  'db_client_connection_closes_total',
  'db_client_connection_leaks_total',
  'db_client_n_plus_one_suspected_total',
] as const;

/** Histograms (base names; exposed as `_bucket`, `_sum` and `_count`). */
export const HISTOGRAMS = [
  'db_client_connection_wait_time_seconds',
  'db_client_connection_use_time_seconds',
  'db_client_connection_create_time_seconds',
  'db_client_operation_duration_seconds',
  'http_server_request_duration_seconds',
] as const;

/** prom-client default process / Node.js metrics the dashboards use. */
export const RUNTIME_GAUGES = [
  'process_resident_memory_bytes',
  'nodejs_eventloop_lag_p99_seconds',
  'nodejs_eventloop_lag_p50_seconds',
  'nodejs_heap_size_used_bytes',
  'nodejs_heap_size_total_bytes',
  'nodejs_active_handles_total',
] as const;

export const RUNTIME_COUNTERS = ['process_cpu_seconds_total'] as const;

export const RUNTIME_HISTOGRAMS = ['nodejs_gc_duration_seconds'] as const;

const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'] as const;

/** Every series name (histograms expanded to their three series) a dashboard query may use. */
export const ALLOWED_METRIC_NAMES: ReadonlySet<string> = new Set<string>([
  ...POOL_GAUGES,
  ...COUNTERS,
  ...RUNTIME_GAUGES,
  ...RUNTIME_COUNTERS,
  ...[...HISTOGRAMS, ...RUNTIME_HISTOGRAMS].flatMap((h) => HISTOGRAM_SUFFIXES.map((s) => `${h}${s}`)),
]);

/** Series names that carry the `pool` and `db_system` labels. */
export const POOL_METRIC_NAMES: ReadonlySet<string> = new Set<string>(
  [...ALLOWED_METRIC_NAMES].filter((n) => n.startsWith('db_client_connection')),
);

/** The Prometheus scrape job of the service (prometheus/prometheus.yml). */
export const SCRAPE_JOB = 'bookswriter-data';

// PromQL words that look like identifiers but are not metric names.
const PROMQL_KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'inf',
  'nan',
]);

/**
 * The metric names an expression selects. Good enough for the expressions we write (no parser
 * dependency): strings, label matchers, range/subquery brackets, grouping label lists and function
 * names are removed; what remains and looks like an identifier is a metric name. Grafana
 * variables (`$job`, `${datasource}`, `$__rate_interval`) are removed too.
 */
export function metricNamesInExpr(expr: string): string[] {
  let s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ') // string literals
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries
    .replace(/\$\{[^}]*\}|\$\w+/g, ' '); // Grafana variables
  // Label lists after grouping / vector-matching keywords.
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  // Function names (identifier directly followed by "(").
  s = s.replace(/\b[a-zA-Z_][a-zA-Z0-9_]*\s*\(/g, '(');
  const names = new Set<string>();
  for (const m of s.matchAll(/(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    if (PROMQL_KEYWORDS.has(word.toLowerCase())) continue;
    // Duration literals such as 5m or 1h are removed with the brackets; exponents like 1e-9 start
    // with a digit and never match. What is left is a metric name.
    names.add(word);
  }
  return [...names].sort();
}

/** The functions whose range argument must be `$__rate_interval` in our dashboards. */
const RANGE_FUNCTIONS = ['rate', 'irate', 'increase'];

/**
 * Problems with the range-vector functions of an expression: every `rate`, `irate` and `increase`
 * call must end with `[$__rate_interval]`, so that the window follows the scrape interval and the
 * dashboard step (a fixed `[1m]` breaks with a 30 s scrape or on a zoomed-out dashboard).
 */
export function rateIntervalProblems(expr: string): string[] {
  const problems: string[] = [];
  const re = new RegExp(`\\b(${RANGE_FUNCTIONS.join('|')})\\s*\\(`, 'g');
  for (const m of expr.matchAll(re)) {
    const open = (m.index ?? 0) + m[0].length - 1;
    let depth = 0;
    let close = -1;
    for (let i = open; i < expr.length; i++) {
      if (expr[i] === '(') depth++;
      else if (expr[i] === ')') {
        depth--;
        if (depth === 0) {
          close = i;
          break;
        }
      }
    }
    if (close < 0) {
      problems.push(`unbalanced parentheses after ${m[1]}( in: ${expr}`);
      continue;
    }
    const argument = expr.slice(open + 1, close).trim();
    if (!argument.endsWith('[$__rate_interval]')) {
      problems.push(`${m[1]}(${argument}) does not use [$__rate_interval]`);
    }
  }
  // Any other range selector is suspicious as well (e.g. avg_over_time(x[5m])).
  for (const r of expr.matchAll(/\[([^\]]*)\]/g)) {
    if (r[1] !== '$__rate_interval') problems.push(`range [${r[1]}] is not [$__rate_interval] in: ${expr}`);
  }
  return problems;
}
