import type { ObservedPoolOptions } from './types.js';

/** Largest delay Node's timers accept (ms); longer ones fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;

type NumericKey = {
  [K in keyof ObservedPoolOptions<unknown>]: ObservedPoolOptions<unknown>[K] extends number ? K : never;
}[keyof ObservedPoolOptions<unknown>];

/** Lower bound of every numeric option; all are integers ≤ MAX_TIMER_MS. */
const NUMERIC: Readonly<Record<NumericKey, number>> = {
  min: 0,
  max: 1,
  acquireTimeoutMs: 1,
  maxWaitingClients: 0,
  idleTimeoutMs: 1,
  maxLifetimeMs: 0,
  leakThresholdMs: 0,
  healthCheckIntervalMs: 0,
  shutdownGraceMs: 0,
  createTimeoutMs: 1,
};

const KNOWN_KEYS: ReadonlySet<string> = new Set(['name', 'dbSystem', 'factory', ...Object.keys(NUMERIC)]);

/**
 * Checks options the way tarn does (every value, unknown keys rejected) and returns a frozen copy.
 * Every problem is listed in one Error, so a bad configuration is fixed in one go.
 */
export function validatePoolOptions<C>(options: ObservedPoolOptions<C>): Readonly<ObservedPoolOptions<C>> {
  // Runtime checks on a typed value: callers may be JavaScript, or spread a config object with typos.
  const input: unknown = options;
  if (typeof input !== 'object' || input === null) {
    throw new Error('Invalid ObservedPool options: expected an object.');
  }
  const raw = input as Record<string, unknown>;
  const problems: string[] = [];

  for (const key of Object.keys(raw)) {
    if (!KNOWN_KEYS.has(key)) problems.push(`unknown option "${key}"`);
  }
  for (const key of ['name', 'dbSystem'] as const) {
    const value = raw[key];
    if (typeof value !== 'string' || value.trim() === '' || value.length > 100) {
      problems.push(`${key} must be a non-empty string of at most 100 characters (got ${describe(value)})`);
    }
  }
  const factory = raw['factory'];
  if (typeof factory !== 'object' || factory === null) {
    problems.push(
      `factory must be an object with create, destroy and validate functions (got ${describe(factory)})`,
    );
  } else {
    const f = factory as Record<string, unknown>;
    for (const method of ['create', 'destroy', 'validate']) {
      if (typeof f[method] !== 'function') problems.push(`factory.${method} must be a function`);
    }
    if (f['isBroken'] !== undefined && typeof f['isBroken'] !== 'function') {
      problems.push('factory.isBroken must be a function when given');
    }
  }
  for (const [key, lowest] of Object.entries(NUMERIC)) {
    const value = raw[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < lowest || value > MAX_TIMER_MS) {
      problems.push(
        `${key} must be an integer between ${lowest} and ${MAX_TIMER_MS} (got ${describe(value)})`,
      );
    }
  }
  if (typeof raw['min'] === 'number' && typeof raw['max'] === 'number' && raw['min'] > raw['max']) {
    problems.push(`min (${raw['min']}) must not exceed max (${raw['max']})`);
  }

  if (problems.length > 0) {
    throw new Error(`Invalid ObservedPool options${poolName(raw)}: ${problems.join('; ')}.`);
  }
  return Object.freeze({ ...options });
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  return typeof value;
}

function poolName(raw: Record<string, unknown>): string {
  return typeof raw['name'] === 'string' ? ` for pool "${raw['name']}"` : '';
}
