/**
 * Spans for the observed pools (design §11): one per connection acquire and one per health check.
 * They come from a {@link PoolObserver}, composed with the metrics observer by the container, so the
 * pool knows nothing about tracing and the metrics know nothing about spans.
 *
 * Acquire spans. The pool calls `onAcquire(pool, outcome, waitSeconds)` synchronously, in the
 * caller's async context, right after the acquire settled. So the span is created there,
 * back-dated by the wait (`startTime = now − wait`) and ended at once: a child of the active span
 * (the database operation span that wraps the acquire, see operations.ts) covering exactly the
 * wait. Attributes: pool name, `db.system.name`, outcome (`hit` | `miss` | `timeout` | `rejected` |
 * `error`) and the wait in seconds. A timeout, rejection or error gets status ERROR and an
 * `error.type` (the stable code for timeout and rejection, `_OTHER` otherwise). An acquire with no
 * active span (internal traffic outside any operation, e.g. the adapter's own test query) gets no
 * span: a one-span trace per probe would be noise.
 *
 * Health-check spans. `onHealthCheck(pool, healthy, error)` is called when a health-monitor pass
 * has finished; the observer interface carries no duration, so the span is a zero-length marker at
 * the moment the verdict was known (a root span for the timer-driven checks). A failed check has
 * status ERROR, `error.type` = `health_check_failed` and an exception event with the pool's
 * (secret-free) message.
 */
import { SpanKind, SpanStatusCode, trace, context } from '@opentelemetry/api';
import type { AcquireOutcome, PoolObserver } from '../pool/types.js';
import { tracer } from './operations.js';

/** Attribute names (OTel database-client conventions where one exists). */
export const POOL_SPAN_ATTRIBUTES = {
  poolName: 'db.client.connection.pool.name',
  dbSystem: 'db.system.name',
  outcome: 'db.client.connection.acquire.outcome',
  waitSeconds: 'db.client.connection.wait_time',
  healthy: 'db.client.connection.pool.healthy',
} as const;

const ACQUIRE_ERROR_TYPE: Readonly<Record<AcquireOutcome, string | null>> = {
  hit: null,
  miss: null,
  timeout: 'DB_POOL_TIMEOUT',
  rejected: 'DB_POOL_SATURATED',
  error: '_OTHER',
};

export interface PoolTracingOptions {
  /** `db.system.name` of the pools observed (`sqlite` | `postgresql`). */
  readonly dbSystem: string;
}

/** The observer that turns pool events into spans. */
export function createPoolTracingObserver(options: PoolTracingOptions): PoolObserver {
  return {
    onAcquire(pool: string, outcome: AcquireOutcome, waitSeconds: number): void {
      const parent = context.active();
      if (trace.getSpan(parent) === undefined) return;
      // Epoch milliseconds (fractions kept): both ends from one clock reading, so the span lasts
      // exactly the wait the pool measured.
      const end = Date.now();
      const span = tracer().startSpan(
        `acquire ${pool}`,
        {
          kind: SpanKind.INTERNAL,
          startTime: end - waitSeconds * 1000,
          attributes: {
            [POOL_SPAN_ATTRIBUTES.poolName]: pool,
            [POOL_SPAN_ATTRIBUTES.dbSystem]: options.dbSystem,
            [POOL_SPAN_ATTRIBUTES.outcome]: outcome,
            [POOL_SPAN_ATTRIBUTES.waitSeconds]: waitSeconds,
          },
        },
        parent,
      );
      const errorType = ACQUIRE_ERROR_TYPE[outcome];
      if (errorType !== null) {
        span.setAttribute('error.type', errorType);
        span.setStatus({ code: SpanStatusCode.ERROR, message: `connection acquire from ${pool}: ${outcome}` });
      }
      span.end(end);
    },

    onHealthCheck(pool: string, healthy: boolean, error?: string): void {
      const span = tracer().startSpan(`health_check ${pool}`, {
        kind: SpanKind.INTERNAL,
        attributes: {
          [POOL_SPAN_ATTRIBUTES.poolName]: pool,
          [POOL_SPAN_ATTRIBUTES.dbSystem]: options.dbSystem,
          [POOL_SPAN_ATTRIBUTES.healthy]: healthy,
        },
      });
      if (!healthy) {
        const message = error ?? 'health check failed';
        span.recordException({ name: 'PoolHealthCheckError', message });
        span.setAttribute('error.type', 'health_check_failed');
        span.setStatus({ code: SpanStatusCode.ERROR, message });
      }
      span.end();
    },
  };
}

/**
 * One observer that forwards every event to each of `observers` in order. Each call is isolated:
 * an observer that throws does not keep the event from the ones after it (the pool would swallow
 * the error, but only after the first listener).
 */
export function composePoolObservers(...observers: readonly PoolObserver[]): PoolObserver {
  const forward =
    <K extends keyof PoolObserver>(event: K) =>
    (...args: Parameters<NonNullable<PoolObserver[K]>>): void => {
      for (const observer of observers) {
        const listener = observer[event] as ((...a: unknown[]) => void) | undefined;
        if (listener === undefined) continue;
        try {
          listener.apply(observer, args);
        } catch {
          // Observers must not throw (see PoolObserver); one that does must not silence the others.
        }
      }
    };
  return {
    onAcquire: forward('onAcquire'),
    onRelease: forward('onRelease'),
    onCreate: forward('onCreate'),
    onClose: forward('onClose'),
    onLeak: forward('onLeak'),
    onHealthCheck: forward('onHealthCheck'),
  };
}
