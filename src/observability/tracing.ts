/**
 * OpenTelemetry bootstrap. `startTracing()` must run before express, http and undici are first
 * required, so that their instrumentations can patch them: `src/main.ts` imports
 * `tracing-bootstrap.ts` first. Configured by the standard variables (OTEL_SERVICE_NAME,
 * OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_TRACES_SAMPLER,
 * OTEL_NODE_ENABLED_INSTRUMENTATIONS, …); OTEL_SDK_DISABLED=true turns it into a no-op (the SDK
 * checks it).
 *
 * Spans of our own (database operations, pool acquires, health checks; operations.ts and
 * pool-tracing.ts) are created through the global API, so they go to whichever provider is
 * registered — the SDK's here, an in-memory one in the tests.
 */
import { getNodeAutoInstrumentations } from '@opentelemetry/auto-instrumentations-node';
import { NodeSDK } from '@opentelemetry/sdk-node';

type AutoInstrumentationsConfig = NonNullable<Parameters<typeof getNodeAutoInstrumentations>[0]>;
type ExpressLayerType = NonNullable<
  NonNullable<AutoInstrumentationsConfig['@opentelemetry/instrumentation-express']>['ignoreLayersType']
>[number];
/**
 * Express layers that get no span of their own: every middleware (request id, metrics, body
 * parser…) and every router the request passes through would add a span per request, most of them
 * named `<anonymous>`. The route handler keeps its span, and the server span still gets its
 * `http.route` (express records the layer paths whether or not the layer is traced). The values are
 * those of instrumentation-express's `ExpressLayerType` enum, a package we do not depend on directly.
 */
const EXPRESS_LAYERS_NOT_TRACED = ['middleware', 'router'] as unknown as ExpressLayerType[];

/** Incoming requests not traced: probes and scrapes would drown the interesting traces. */
export const UNTRACED_PATHS = /^\/(health\/|metrics(\?|$))/;

/**
 * The auto-instrumentations the service runs with (http, express, undici, … minus the noisy
 * ones). Instantiating them installs their module hooks, so call it before the modules they patch
 * are required. OTEL_NODE_ENABLED_INSTRUMENTATIONS / OTEL_NODE_DISABLED_INSTRUMENTATIONS narrow
 * the list (the tests use the former to run only the http instrumentation in-process).
 */
export function createInstrumentations(): ReturnType<typeof getNodeAutoInstrumentations> {
  return getNodeAutoInstrumentations({
    // File-system, DNS and raw socket spans are noise around every query and request.
    '@opentelemetry/instrumentation-fs': { enabled: false },
    '@opentelemetry/instrumentation-dns': { enabled: false },
    '@opentelemetry/instrumentation-net': { enabled: false },
    // Our logger adds trace_id/span_id itself (see logger.ts).
    '@opentelemetry/instrumentation-pino': { enabled: false },
    // Express 5 runs on the `router` package; with both instrumentations on, every layer is traced
    // twice ("middleware - patched"). The express instrumentation alone names the route.
    '@opentelemetry/instrumentation-router': { enabled: false },
    '@opentelemetry/instrumentation-express': { ignoreLayersType: EXPRESS_LAYERS_NOT_TRACED },
    '@opentelemetry/instrumentation-http': {
      ignoreIncomingRequestHook: (req) => UNTRACED_PATHS.test(req.url ?? ''),
    },
  });
}

let sdk: NodeSDK | null = null;

/** Starts the SDK once; later calls do nothing. */
export function startTracing(env: NodeJS.ProcessEnv = process.env): void {
  if (sdk) return;
  sdk = new NodeSDK({
    // The SDK reads OTEL_SERVICE_NAME itself; only supply our default when it is unset.
    ...(env.OTEL_SERVICE_NAME ? {} : { serviceName: 'bookswriter-data' }),
    // We export traces only: logs stay in pino (which carries trace ids), metrics in prom-client.
    // Without these two the SDK would also start OTLP log and metric exporters (its env defaults).
    logRecordProcessors: [],
    metricReaders: [],
    instrumentations: [createInstrumentations()],
  });
  sdk.start();
}

/** Flushes and stops the SDK (spans still buffered are exported). Idempotent. */
export async function stopTracing(): Promise<void> {
  const current = sdk;
  sdk = null;
  await current?.shutdown();
}
