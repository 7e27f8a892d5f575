/**
 * Configuration: every environment variable the service reads, parsed once at start-up into a
 * frozen, typed {@link Config}. Nothing else in the service reads `process.env` (except the
 * OpenTelemetry SDK, which reads the standard `OTEL_*` variables itself).
 *
 * A bad value stops start-up with one {@link ConfigError} listing every problem. Secrets
 * (`SUPABASE_KEY`, `METRICS_TOKEN`) are never echoed in errors, and {@link redactConfig} replaces
 * them with `"***"` for the config endpoint and logs.
 */
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';

export type DatabaseMode = 'sqlite' | 'supabase';
export type SqliteExecutionMode = 'worker' | 'inline';

export interface PoolConfig {
  /** Connections opened at start-up and kept open. */
  readonly minConnections: number;
  readonly maxConnections: number;
  /** Idle connections above the minimum are closed after this long (seconds). */
  readonly maxIdleTimeSeconds: number;
  /** How long a caller may wait for a connection before DB_POOL_TIMEOUT (seconds). */
  readonly connectionTimeoutSeconds: number;
  /** Health monitor interval (seconds; 0 turns it off). */
  readonly healthCheckIntervalSeconds: number;
  /** Callers allowed to wait for a connection; beyond it requests fail fast (DB_POOL_SATURATED). */
  readonly maxWaitingRequests: number;
  /** Connections older than this are recycled on release (seconds; 0 = never). */
  readonly maxLifetimeSeconds: number;
  /** A connection held longer than this is reported as a leak (seconds; 0 = off). */
  readonly leakThresholdSeconds: number;
  /** Collect pool and query metrics (Prometheus and JSON API). */
  readonly enableMetrics: boolean;
}

export interface SqliteConfig {
  /** Absolute path of the database file. */
  readonly path: string;
  /** `worker`: connections in worker threads (default); `inline`: on the main thread. */
  readonly executionMode: SqliteExecutionMode;
  /** How long a statement waits for a lock held by another process (milliseconds). */
  readonly busyTimeoutMs: number;
  /**
   * Size the WAL file is truncated back to after a checkpoint has emptied it (bytes; SQLite's
   * `journal_size_limit`). Without it the file keeps its high-water size forever, e.g. after a long
   * reader held back checkpoints while writes went on.
   */
  readonly journalSizeLimitBytes: number;
  /**
   * Create the file's directory at start-up. True only for the default path (`./data/`), so a
   * fresh clone starts with no setup while a mistyped explicit SQLITE_DB_PATH fails loudly.
   */
  readonly createDirectory: boolean;
}

export interface SupabaseConfig {
  readonly url: string;
  /** Secret. Never logged or returned. */
  readonly key: string;
  /** Timeout of one PostgREST request (milliseconds). */
  readonly requestTimeoutMs: number;
  /** Extra attempts for idempotent reads after a transient failure. */
  readonly readRetries: number;
  /** Circuit breaker: consecutive connection failures/timeouts within windowMs open it (0 = off). */
  readonly circuitFailureThreshold: number;
  readonly circuitWindowMs: number;
  /** How long an open circuit fails fast before one probe request is let through. */
  readonly circuitCooldownMs: number;
}

export interface HttpConfig {
  readonly host: string;
  readonly port: number;
  /** Largest accepted request body (bytes). */
  readonly maxBodyBytes: number;
  /** Largest `limit` a search may ask for. */
  readonly maxPageSize: number;
  /** Most items one batch request may carry. */
  readonly maxBatchSize: number;
  /** Bearer token protecting the metrics and admin endpoints (secret; null = open). */
  readonly metricsToken: string | null;
  /**
   * Port of a second listener that alone serves `/metrics*` (and the probes); null = the metrics
   * endpoints are served on the public port. 0 picks a free port (tests).
   */
  readonly metricsPort: number | null;
  /** Address of that second listener (default 127.0.0.1: loopback only). */
  readonly metricsHost: string;
  /** Per-client rate limit of the write endpoints. */
  readonly rateLimit: RateLimitConfig;
  /**
   * Which proxies in front of the service are trusted to name the client in `X-Forwarded-For`
   * (express's `trust proxy`): false (default: the client is the TCP peer), a hop count, or a list of
   * addresses, CIDR subnets and the names `loopback`, `linklocal`, `uniquelocal`.
   */
  readonly trustProxy: false | number | readonly string[];
}

/** Token bucket per client IP on POST/PATCH/DELETE under /api (lookups, health and metrics exempt). */
export interface RateLimitConfig {
  /** Sustained writes per minute per client (the bucket's refill rate); 0 turns the limit off. */
  readonly writesPerMinute: number;
  /** Writes a client may make at once before the rate applies (the bucket's size). */
  readonly burst: number;
  /** Most clients tracked at once; beyond it the least recently seen are forgotten. */
  readonly maxClients: number;
}

export interface Config {
  readonly databaseMode: DatabaseMode;
  readonly pool: PoolConfig;
  readonly sqlite: SqliteConfig;
  /** Present only when `databaseMode` is `supabase`. */
  readonly supabase: SupabaseConfig | null;
  readonly http: HttpConfig;
  /** How long a graceful stop may take before connections are force-closed (seconds). */
  readonly shutdownGraceSeconds: number;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readonly serviceName: string;
  /** OpenTelemetry tracing on (off when `OTEL_SDK_DISABLED=true`). */
  readonly tracingEnabled: boolean;
  /** Repetitions of one statement shape in one request beyond which N+1 is suspected. */
  readonly nPlusOneThreshold: number;
  /**
   * Upper bound of one dependency health probe (readiness, `/metrics/database/health`) in
   * milliseconds; a probe still running then counts as failed.
   */
  readonly healthCheckTimeoutMs: number;
}

/** Start-up refused because of bad configuration; `problems` lists each one. */
export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Defaults that differ per backend (as in the original BooksWriter). */
export const BACKEND_POOL_DEFAULTS: Readonly<Record<DatabaseMode, { min: number; max: number }>> = Object.freeze({
  sqlite: { min: 3, max: 15 },
  supabase: { min: 2, max: 8 },
});

/** Default of SQLITE_JOURNAL_SIZE_LIMIT_BYTES: 64 MiB. */
export const DEFAULT_JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

/** Every variable the service reads, with its default (documented in the README's table). */
export const ENV_VARIABLES = [
  'DATABASE_MODE',
  'SQLITE_DB_PATH',
  'SQLITE_EXECUTION_MODE',
  'SQLITE_BUSY_TIMEOUT_MS',
  'SQLITE_JOURNAL_SIZE_LIMIT_BYTES',
  'SUPABASE_URL',
  'SUPABASE_KEY',
  'SUPABASE_REQUEST_TIMEOUT_MS',
  'SUPABASE_READ_RETRIES',
  'SUPABASE_CIRCUIT_FAILURE_THRESHOLD',
  'SUPABASE_CIRCUIT_WINDOW_MS',
  'SUPABASE_CIRCUIT_COOLDOWN_MS',
  'DB_POOL_MIN_CONNECTIONS',
  'DB_POOL_MAX_CONNECTIONS',
  'DB_POOL_MAX_IDLE_TIME',
  'DB_POOL_CONNECTION_TIMEOUT',
  'DB_POOL_HEALTH_CHECK_INTERVAL',
  'DB_POOL_ENABLE_METRICS',
  'DB_POOL_MAX_WAITING_REQUESTS',
  'DB_POOL_MAX_LIFETIME',
  'DB_POOL_LEAK_THRESHOLD',
  'HOST',
  'PORT',
  'HTTP_MAX_BODY_BYTES',
  'API_MAX_PAGE_SIZE',
  'API_MAX_BATCH_SIZE',
  'METRICS_TOKEN',
  'METRICS_PORT',
  'METRICS_HOST',
  'RATE_LIMIT_WRITES_PER_MINUTE',
  'RATE_LIMIT_WRITES_BURST',
  'TRUST_PROXY',
  'SHUTDOWN_GRACE_PERIOD',
  'LOG_LEVEL',
  'N_PLUS_ONE_THRESHOLD',
  'HEALTH_CHECK_TIMEOUT_MS',
  'OTEL_SERVICE_NAME',
  'OTEL_SDK_DISABLED',
] as const;

type EnvName = (typeof ENV_VARIABLES)[number];
export type Env = Readonly<Partial<Record<string, string | undefined>>>;

const SECRET_VARIABLES: ReadonlySet<string> = new Set(['SUPABASE_KEY', 'METRICS_TOKEN']);

/** Describes a value for an error message without echoing secrets. */
function shown(name: string, raw: string): string {
  return SECRET_VARIABLES.has(name) ? '(hidden)' : JSON.stringify(raw);
}

const integer = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const decimal = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, 'must be a number')
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const boolean = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'].includes(v), 'must be true or false')
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));

const oneOf = <T extends string>(values: readonly [T, ...T[]]) =>
  z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(values, { error: () => `must be one of ${values.join(', ')}` }));

const httpUrl = z
  .string()
  .trim()
  .refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'must be an http(s) URL')
  .transform((v) => v.replace(/\/+$/, ''));

const nonEmpty = z.string().trim().min(1, 'must not be empty');

const TRUST_PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** An IP address, optionally with a /prefix that fits its family. */
function isAddressOrSubnet(entry: string): boolean {
  const [address = '', prefix, extra] = entry.split('/');
  if (extra !== undefined) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/**
 * TRUST_PROXY: `false`, a hop count, or a list of trusted proxy addresses. `true` (trust every
 * hop) is refused: any client could then pick its own address, and with it its rate-limit bucket.
 */
const trustProxy = z
  .string()
  .trim()
  .transform((v, ctx): false | number | string[] => {
    const lower = v.toLowerCase();
    if (['false', 'off', 'no', '0'].includes(lower)) return false;
    if (/^\d+$/.test(v)) {
      const hops = Number(v);
      if (hops > 10) ctx.addIssue({ code: 'custom', message: 'must be at most 10 hops' });
      return hops;
    }
    if (['true', 'on', 'yes'].includes(lower)) {
      ctx.addIssue({
        code: 'custom',
        message: 'trusting every proxy lets any client choose its own address; name the proxies (addresses, subnets, loopback) or give a hop count',
      });
      return false;
    }
    const entries = v.split(',').map((e) => e.trim()).filter((e) => e !== '');
    const bad = entries.filter((e) => !TRUST_PROXY_NAMES.has(e.toLowerCase()) && !isAddressOrSubnet(e));
    if (entries.length === 0 || bad.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: `must be false, a hop count, or addresses/subnets/loopback/linklocal/uniquelocal (not ${bad.map((b) => JSON.stringify(b)).join(', ')})`,
      });
    }
    return entries.map((e) => (TRUST_PROXY_NAMES.has(e.toLowerCase()) ? e.toLowerCase() : e));
  });

/** Parsers per variable; a missing or empty variable takes its default. */
const PARSERS: Record<EnvName, z.ZodType<unknown, string>> = {
  DATABASE_MODE: oneOf(['sqlite', 'supabase']),
  SQLITE_DB_PATH: nonEmpty,
  SQLITE_EXECUTION_MODE: oneOf(['worker', 'inline']),
  SQLITE_BUSY_TIMEOUT_MS: integer(0, 600_000),
  SQLITE_JOURNAL_SIZE_LIMIT_BYTES: integer(-1, 1024 * 1024 * 1024 * 1024),
  SUPABASE_URL: httpUrl,
  SUPABASE_KEY: nonEmpty,
  SUPABASE_REQUEST_TIMEOUT_MS: integer(100, 600_000),
  SUPABASE_READ_RETRIES: integer(0, 10),
  SUPABASE_CIRCUIT_FAILURE_THRESHOLD: integer(0, 1000),
  SUPABASE_CIRCUIT_WINDOW_MS: integer(100, 3_600_000),
  SUPABASE_CIRCUIT_COOLDOWN_MS: integer(100, 3_600_000),
  DB_POOL_MIN_CONNECTIONS: integer(0, 1000),
  DB_POOL_MAX_CONNECTIONS: integer(1, 1000),
  DB_POOL_MAX_IDLE_TIME: decimal(0.1, 86_400),
  DB_POOL_CONNECTION_TIMEOUT: decimal(0.01, 3600),
  DB_POOL_HEALTH_CHECK_INTERVAL: decimal(0, 86_400),
  DB_POOL_ENABLE_METRICS: boolean,
  DB_POOL_MAX_WAITING_REQUESTS: integer(0, 1_000_000),
  DB_POOL_MAX_LIFETIME: decimal(0, 7 * 86_400),
  DB_POOL_LEAK_THRESHOLD: decimal(0, 86_400),
  HOST: nonEmpty,
  PORT: integer(0, 65_535),
  HTTP_MAX_BODY_BYTES: integer(1024, 1024 * 1024 * 1024),
  API_MAX_PAGE_SIZE: integer(1, 10_000),
  API_MAX_BATCH_SIZE: integer(1, 100_000),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters'),
  METRICS_PORT: integer(0, 65_535),
  METRICS_HOST: nonEmpty,
  RATE_LIMIT_WRITES_PER_MINUTE: integer(0, 6_000_000),
  RATE_LIMIT_WRITES_BURST: integer(1, 1_000_000),
  TRUST_PROXY: trustProxy,
  SHUTDOWN_GRACE_PERIOD: decimal(0, 3600),
  LOG_LEVEL: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  N_PLUS_ONE_THRESHOLD: integer(2, 100_000),
  HEALTH_CHECK_TIMEOUT_MS: integer(10, 600_000),
  OTEL_SERVICE_NAME: nonEmpty,
  OTEL_SDK_DISABLED: boolean,
};

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * Parses the environment into a frozen Config, or throws one ConfigError listing every problem.
 * `cwd` resolves a relative SQLITE_DB_PATH.
 */
export function loadConfig(env: Env = process.env, cwd: string = process.cwd()): Config {
  const problems: string[] = [];
  const values: Partial<Record<EnvName, unknown>> = {};

  for (const name of ENV_VARIABLES) {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') continue;
    const parsed = PARSERS[name].safeParse(raw);
    if (parsed.success) values[name] = parsed.data;
    else problems.push(`${name}=${shown(name, raw)}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  }

  const get = <T>(name: EnvName, fallback: T): T => (name in values ? (values[name] as T) : fallback);

  const databaseMode = get<DatabaseMode>('DATABASE_MODE', 'sqlite');
  const defaults = BACKEND_POOL_DEFAULTS[databaseMode];
  // An explicit maximum below the backend's default minimum lowers the minimum with it; only two
  // explicit values that contradict each other are an error.
  const explicitMax = get<number | undefined>('DB_POOL_MAX_CONNECTIONS', undefined);
  const explicitMin = get<number | undefined>('DB_POOL_MIN_CONNECTIONS', undefined);
  const minConnections = explicitMin ?? Math.min(defaults.min, explicitMax ?? defaults.min);
  const maxConnections = explicitMax ?? Math.max(defaults.max, minConnections);
  if (explicitMin !== undefined && explicitMax !== undefined && explicitMin > explicitMax) {
    problems.push(
      `DB_POOL_MIN_CONNECTIONS (${explicitMin}) must not exceed DB_POOL_MAX_CONNECTIONS (${explicitMax})`,
    );
  }

  let supabase: SupabaseConfig | null = null;
  if (databaseMode === 'supabase') {
    const url = get<string | undefined>('SUPABASE_URL', undefined);
    const key = get<string | undefined>('SUPABASE_KEY', undefined);
    // A variable that is set but invalid has already been reported by its parser.
    if (!env.SUPABASE_URL?.trim()) problems.push('SUPABASE_URL is required when DATABASE_MODE=supabase');
    if (!env.SUPABASE_KEY?.trim()) problems.push('SUPABASE_KEY is required when DATABASE_MODE=supabase');
    if (url !== undefined && key !== undefined) {
      supabase = {
        url,
        key,
        requestTimeoutMs: get('SUPABASE_REQUEST_TIMEOUT_MS', 10_000),
        readRetries: get('SUPABASE_READ_RETRIES', 2),
        circuitFailureThreshold: get('SUPABASE_CIRCUIT_FAILURE_THRESHOLD', 5),
        circuitWindowMs: get('SUPABASE_CIRCUIT_WINDOW_MS', 10_000),
        circuitCooldownMs: get('SUPABASE_CIRCUIT_COOLDOWN_MS', 5_000),
      };
    }
  }

  const port = get('PORT', 3000);
  const writesPerMinute = get('RATE_LIMIT_WRITES_PER_MINUTE', 600);
  const metricsPort = get<number | null>('METRICS_PORT', null);
  if ('METRICS_HOST' in values && metricsPort === null) {
    problems.push('METRICS_HOST has no effect without METRICS_PORT (set both, or neither)');
  }
  if (metricsPort !== null && metricsPort !== 0 && metricsPort === port) {
    problems.push(`METRICS_PORT (${metricsPort}) must differ from PORT`);
  }

  if (problems.length > 0) throw new ConfigError(problems);

  const config: Config = {
    databaseMode,
    pool: {
      minConnections,
      maxConnections,
      maxIdleTimeSeconds: get('DB_POOL_MAX_IDLE_TIME', 300),
      connectionTimeoutSeconds: get('DB_POOL_CONNECTION_TIMEOUT', 30),
      healthCheckIntervalSeconds: get('DB_POOL_HEALTH_CHECK_INTERVAL', 60),
      maxWaitingRequests: get('DB_POOL_MAX_WAITING_REQUESTS', 1000),
      maxLifetimeSeconds: get('DB_POOL_MAX_LIFETIME', 1800),
      leakThresholdSeconds: get('DB_POOL_LEAK_THRESHOLD', 60),
      enableMetrics: get('DB_POOL_ENABLE_METRICS', true),
    },
    sqlite: {
      path: path.resolve(cwd, get('SQLITE_DB_PATH', path.join('data', 'bookswriter.db'))),
      executionMode: get<SqliteExecutionMode>('SQLITE_EXECUTION_MODE', 'worker'),
      busyTimeoutMs: get('SQLITE_BUSY_TIMEOUT_MS', 5000),
      journalSizeLimitBytes: get('SQLITE_JOURNAL_SIZE_LIMIT_BYTES', DEFAULT_JOURNAL_SIZE_LIMIT_BYTES),
      createDirectory: !('SQLITE_DB_PATH' in values),
    },
    supabase,
    http: {
      host: get('HOST', '0.0.0.0'),
      port,
      maxBodyBytes: get('HTTP_MAX_BODY_BYTES', 5 * 1024 * 1024),
      maxPageSize: get('API_MAX_PAGE_SIZE', 500),
      maxBatchSize: get('API_MAX_BATCH_SIZE', 5000),
      metricsToken: get<string | null>('METRICS_TOKEN', null),
      metricsPort,
      metricsHost: get('METRICS_HOST', '127.0.0.1'),
      rateLimit: {
        writesPerMinute,
        // Default: a minute's allowance may be spent at once, then the rate applies.
        burst: get('RATE_LIMIT_WRITES_BURST', Math.max(1, writesPerMinute)),
        maxClients: 10_000,
      },
      trustProxy: get<false | number | string[]>('TRUST_PROXY', false),
    },
    shutdownGraceSeconds: get('SHUTDOWN_GRACE_PERIOD', 10),
    logLevel: get<Config['logLevel']>('LOG_LEVEL', 'info'),
    serviceName: get('OTEL_SERVICE_NAME', 'bookswriter-data'),
    tracingEnabled: !get('OTEL_SDK_DISABLED', false),
    nPlusOneThreshold: get('N_PLUS_ONE_THRESHOLD', 10),
    healthCheckTimeoutMs: get('HEALTH_CHECK_TIMEOUT_MS', 1000),
  };
  return deepFreeze(config);
}

/** The config with secrets replaced by `"***"` (for the config endpoint and start-up log). */
export function redactConfig(config: Config): unknown {
  return deepFreeze({
    ...config,
    supabase: config.supabase ? { ...config.supabase, key: '***' } : null,
    http: { ...config.http, metricsToken: config.http.metricsToken === null ? null : '***' },
  });
}
