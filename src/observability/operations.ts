/**
 * The instrumentation every adapter runs its operations through: one span per statement or
 * batch (OTel database semantic conventions), the `db_client_operation_duration_seconds`
 * histogram with a trace-id exemplar, and the per-request N+1 detector.
 *
 * N+1 detection: each HTTP request gets a scope (AsyncLocalStorage) that counts the statements it
 * issues by shape (operation + collection + statement text). When one shape repeats more than
 * `threshold` times within one request, the request is counted once in
 * `db_client_n_plus_one_suspected_total{http_route,collection}`, the active span gets an event,
 * and a warning is logged once per route and collection.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { context, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api';
import type { OperationInfo, OperationInstrumentation } from '../adapters/contract.js';
import { AppError } from '../errors/index.js';
import type { Logger } from './logger.js';
import type { ServiceMetrics } from './metrics.js';

/** Instrumentation scope of the spans this service creates itself (operations, acquires, health checks). */
export const TRACER_NAME = 'bookswriter-data';

/**
 * Our tracer, looked up per span rather than once at load: the API's proxy tracer binds for good
 * to the first provider it sees, and tests register a fresh provider per suite. The spans go to
 * whichever provider is registered globally (the SDK's, see tracing.ts; an in-memory one in tests).
 */
export function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/** What the detector keeps per request. */
interface RequestScope {
  /** Resolves the route template lazily: it is known only once the router matched. */
  readonly route: () => string;
  readonly shapes: Map<string, number>;
  readonly reported: Set<string>;
}

const scopes = new AsyncLocalStorage<RequestScope>();

/** Runs `fn` (the rest of a request's handling) inside a fresh N+1 scope. */
export function runInRequestScope<T>(route: () => string, fn: () => T): T {
  return scopes.run({ route, shapes: new Map(), reported: new Set() }, fn);
}

export interface NPlusOneReport {
  readonly route: string;
  readonly collection: string;
  /** Requests in which the pattern was seen. */
  readonly count: number;
}

export interface OperationObservabilityOptions {
  readonly dbSystem: 'sqlite' | 'postgresql';
  readonly metrics: ServiceMetrics;
  readonly logger: Logger;
  /** Repetitions of one statement shape in one request beyond which N+1 is suspected. */
  readonly nPlusOneThreshold: number;
}

export class OperationObservability {
  readonly instrumentation: OperationInstrumentation;
  readonly #options: OperationObservabilityOptions;
  /** route|collection → requests seen with the pattern (for the performance summary). */
  readonly #suspects = new Map<string, NPlusOneReport>();
  readonly #warned = new Set<string>();

  constructor(options: OperationObservabilityOptions) {
    this.#options = options;
    this.instrumentation = { run: (info, fn) => this.#run(info, fn) };
  }

  /** N+1 patterns seen since start, most frequent first. */
  nPlusOneSuspects(): NPlusOneReport[] {
    return [...this.#suspects.values()].sort((a, b) => b.count - a.count);
  }

  async #run<T>(info: OperationInfo, fn: () => Promise<T>): Promise<T> {
    this.#detect(info);
    const { dbSystem, metrics } = this.#options;
    const span = tracer().startSpan(`${info.operation} ${info.collection}`, {
      kind: SpanKind.CLIENT,
      attributes: {
        'db.system.name': dbSystem,
        'db.operation.name': info.operation,
        'db.collection.name': info.collection,
        ...(info.queryText === undefined ? {} : { 'db.query.text': info.queryText }),
        ...(info.batchSize === undefined ? {} : { 'db.operation.batch.size': info.batchSize }),
      },
    });
    const start = process.hrtime.bigint();
    let outcome: 'success' | 'error' = 'error';
    try {
      // The span stays active for the pool acquire and anything else fn does.
      const result = await context.with(trace.setSpan(context.active(), span), fn);
      outcome = 'success';
      return result;
    } catch (err) {
      recordError(span, err);
      throw err;
    } finally {
      span.end();
      metrics.observeOperation(info, outcome, Number(process.hrtime.bigint() - start) / 1e9, span);
    }
  }

  #detect(info: OperationInfo): void {
    const scope = scopes.getStore();
    if (!scope) return;
    // The chunks of one chunked call are one logical operation: its shape counts once (chunk 0).
    if (info.chunk !== undefined && info.chunk.index > 0) return;
    const shape = `${info.operation}\u0000${info.collection}\u0000${info.queryText ?? ''}`;
    const count = (scope.shapes.get(shape) ?? 0) + 1;
    scope.shapes.set(shape, count);
    if (count <= this.#options.nPlusOneThreshold || scope.reported.has(shape)) return;
    scope.reported.add(shape);

    const route = scope.route();
    const key = `${route}\u0000${info.collection}`;
    const previous = this.#suspects.get(key);
    this.#suspects.set(key, { route, collection: info.collection, count: (previous?.count ?? 0) + 1 });
    this.#options.metrics.countNPlusOne(route, info.collection);
    trace.getActiveSpan()?.addEvent('db.n_plus_one_suspected', {
      'db.collection.name': info.collection,
      'db.operation.name': info.operation,
      'db.query.repetitions': count,
    });
    if (!this.#warned.has(key)) {
      this.#warned.add(key);
      this.#options.logger.warn(
        { http_route: route, collection: info.collection, operation: info.operation, repetitions: count },
        `suspected N+1: ${route} issued the same ${info.operation} on ${info.collection} more than ${this.#options.nPlusOneThreshold} times in one request`,
      );
    }
  }
}

/** On error: record the exception, set error status (OTel convention); the caller rethrows. */
export function recordError(span: Span, err: unknown): void {
  const error = err instanceof Error ? err : new Error(String(err));
  span.recordException(error);
  span.setAttribute('error.type', err instanceof AppError ? err.code : error.name);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}
