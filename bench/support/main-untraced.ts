/**
 * The service as `src/main.ts` runs it, minus the OpenTelemetry bootstrap: no SDK and no
 * instrumentation hooks at all. Only for the observability benchmark, to measure what the
 * instrumentations cost when tracing is "off" via `OTEL_SDK_DISABLED=true` (the SDK does not start,
 * but getNodeAutoInstrumentations() has already patched http and express by then).
 *
 *   node dist/bench/support/main-untraced.js   (same environment variables as the service)
 */
import { loadConfig } from '../../src/config/index.js';
import { createContainer } from '../../src/container.js';
import { createApp } from '../../src/http/app.js';
import { startHttpServer } from '../../src/http/server.js';

async function run(): Promise<void> {
  const config = loadConfig(process.env);
  const container = createContainer(config);
  const app = createApp(container);
  const http = await startHttpServer(app, config.http.host, config.http.port);
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    container.beginShutdown();
    await http.close(config.shutdownGraceSeconds * 1000);
    await container.stop();
    process.exitCode = 0;
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  await container.start();
}

run().catch((err: unknown) => {
  process.stderr.write(`fatal: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
