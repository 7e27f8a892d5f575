/**
 * OpenTelemetry bootstrap. `startTracing()` must run before express, http and undici are first
 * required, so that their instrumentations can patch them: `src/main.ts` imports this module
 * first. Configured by the standard variables (OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_ENDPOINT,
 * OTEL_TRACES_SAMPLER, …); OTEL_SDK_DISABLED=true turns it into a no-op (the SDK checks it).
 */
import { getNodeAutoInstrumentations } from '@opentelemetry/auto-instrumentations-node';
import { NodeSDK } from '@opentelemetry/sdk-node';

let sdk: NodeSDK | null = null;

/** Starts the SDK once; later calls do nothing. */
export function startTracing(env: NodeJS.ProcessEnv = process.env): void {
  if (sdk) return;
  sdk = new NodeSDK({
    // The SDK reads OTEL_SERVICE_NAME itself; only supply our default when it is unset.
    ...(env.OTEL_SERVICE_NAME ? {} : { serviceName: 'bookswriter-data' }),
    // We export traces only; logs stay in pino (which carries trace ids), metrics in prom-client.
    logRecordProcessors: [],
    instrumentations: [
      getNodeAutoInstrumentations({
        // File-system, DNS and raw socket spans are noise around every query and request.
        '@opentelemetry/instrumentation-fs': { enabled: false },
        '@opentelemetry/instrumentation-dns': { enabled: false },
        '@opentelemetry/instrumentation-net': { enabled: false },
        // Our logger adds trace_id/span_id itself (see logger.ts).
        '@opentelemetry/instrumentation-pino': { enabled: false },
        '@opentelemetry/instrumentation-http': {
          // Probes and scrapes would drown the interesting traces.
          ignoreIncomingRequestHook: (req) => /^\/(health\/|metrics$)/.test(req.url ?? ''),
        },
      }),
    ],
  });
  sdk.start();
}

/** Flushes and stops the SDK (spans still buffered are exported). Idempotent. */
export async function stopTracing(): Promise<void> {
  const current = sdk;
  sdk = null;
  await current?.shutdown();
}
