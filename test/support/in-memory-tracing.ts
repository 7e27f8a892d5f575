/**
 * OpenTelemetry in-process for tests: a NodeTracerProvider with an InMemorySpanExporter behind a
 * SimpleSpanProcessor (every span is exported the moment it ends), registered globally with the
 * AsyncLocalStorageContextManager and the W3C propagators — the same API the service's own spans
 * (operations.ts, pool-tracing.ts) and the logger's trace ids go through.
 *
 * With `http: true`, the service's own instrumentation config (`createInstrumentations()` from
 * src/observability/tracing.ts, narrowed to http through OTEL_NODE_ENABLED_INSTRUMENTATIONS) is
 * enabled as well. By then `http` is long loaded in a mocha process, so its module hook alone would
 * never fire; `require('node:http')` right after enabling makes the hook patch the cached module
 * in place (the patched `Server.prototype.emit` serves every server, old or new).
 *
 * `stop()` undoes everything (unpatch, provider shutdown, global API reset), so other suites in the
 * same mocha process run untraced as before.
 */
import { createRequire } from 'node:module';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { node, tracing } from '@opentelemetry/sdk-node';
import { createInstrumentations } from '../../src/observability/tracing.js';

export type FinishedSpan = tracing.ReadableSpan;

export interface InMemoryTracing {
  /** Spans ended so far, in end order. */
  spans(): FinishedSpan[];
  /** Forgets the spans ended so far. */
  reset(): void;
  stop(): Promise<void>;
}

export interface InMemoryTracingOptions {
  /** Enable the service's http instrumentation (server spans for incoming requests). */
  readonly http?: boolean;
}

export function startInMemoryTracing(options: InMemoryTracingOptions = {}): InMemoryTracing {
  const exporter = new tracing.InMemorySpanExporter();
  const provider = new node.NodeTracerProvider({
    spanProcessors: [new tracing.SimpleSpanProcessor(exporter)],
  });
  const contextManager = new AsyncLocalStorageContextManager();
  provider.register({ contextManager });

  let instrumentations: ReturnType<typeof createInstrumentations> = [];
  if (options.http === true) {
    const previous = process.env.OTEL_NODE_ENABLED_INSTRUMENTATIONS;
    process.env.OTEL_NODE_ENABLED_INSTRUMENTATIONS = 'http';
    try {
      instrumentations = createInstrumentations();
    } finally {
      if (previous === undefined) delete process.env.OTEL_NODE_ENABLED_INSTRUMENTATIONS;
      else process.env.OTEL_NODE_ENABLED_INSTRUMENTATIONS = previous;
    }
    for (const instrumentation of instrumentations) {
      instrumentation.setTracerProvider(provider);
      instrumentation.enable();
    }
    // Let the module hooks see http (already cached): they patch it in place.
    const load = createRequire(__filename);
    load('node:http');
    load('http');
  }

  return {
    spans: () => exporter.getFinishedSpans(),
    reset: () => exporter.reset(),
    async stop() {
      for (const instrumentation of instrumentations) instrumentation.disable();
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/** The span's parent span id ('' for a root span). */
export function parentIdOf(span: FinishedSpan): string {
  return span.parentSpanContext?.spanId ?? '';
}

/** The span's own id. */
export function idOf(span: FinishedSpan): string {
  return span.spanContext().spanId;
}

/** The span's trace id. */
export function traceIdOf(span: FinishedSpan): string {
  return span.spanContext().traceId;
}

/** Milliseconds since the epoch of an OTel HrTime. */
export function hrToMs(time: readonly [number, number]): number {
  return time[0] * 1000 + time[1] / 1e6;
}
