export {
  BACKEND_POOL_DEFAULTS,
  ConfigError,
  ENV_VARIABLES,
  loadConfig,
  redactConfig,
} from './config.js';
export type {
  Config,
  DatabaseMode,
  Env,
  HttpConfig,
  PoolConfig,
  RateLimitConfig,
  SqliteConfig,
  SqliteExecutionMode,
  SupabaseConfig,
} from './config.js';
