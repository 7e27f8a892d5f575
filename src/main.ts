/**
 * Process entry only: parse the config, build the container, serve HTTP, and turn signals into
 * an orderly shutdown. Everything else lives in the modules it wires together.
 */
// Must stay the first import: instrumentations patch modules as they are first required.
import './observability/tracing-bootstrap.js';
import { ConfigError, loadConfig, redactConfig, type Config } from './config/index.js';
import { createContainer } from './container.js';
import { createApp, createMetricsApp } from './http/app.js';
import { startHttpServer, type HttpServerHandle } from './http/server.js';
import { stopTracing } from './observability/tracing.js';

function loadConfigOrExit(): Config {
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78); // EX_CONFIG: a restart will not help until the configuration changes
    }
    throw err;
  }
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const container = createContainer(config);
  const { logger } = container;
  logger.info({ config: redactConfig(config) }, 'starting bookswriter-data');

  const app = createApp(container);
  const http = await startHttpServer(app, config.http.host, config.http.port);
  logger.info({ host: config.http.host, port: http.port }, `listening on http://${config.http.host}:${http.port}`);
  // METRICS_PORT: /metrics* only there (loopback by default); the public port answers 404 for them.
  let metricsHttp: HttpServerHandle | null = null;
  if (config.http.metricsPort !== null) {
    metricsHttp = await startHttpServer(createMetricsApp(container), config.http.metricsHost, config.http.metricsPort);
    logger.info(
      { host: config.http.metricsHost, port: metricsHttp.port },
      `metrics listening on http://${config.http.metricsHost}:${metricsHttp.port}`,
    );
  }

  let shuttingDown = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (shuttingDown) {
      // The operator (or a supervisor) insists: no more draining.
      logger.warn({ signal, in_flight: http.inFlight() }, 'second signal: exiting at once');
      logger.flush();
      process.exit(1);
    }
    shuttingDown = true;
    const graceMs = config.shutdownGraceSeconds * 1000;
    logger.info({ signal, in_flight: http.inFlight() }, 'shutting down: not ready, draining requests');
    // Past the grace periods something is stuck; never hang forever.
    const deadline = setTimeout(() => {
      logger.error('shutdown exceeded twice the grace period; exiting');
      logger.flush();
      process.exit(1);
    }, graceMs * 2 + 5000);
    deadline.unref();

    container.beginShutdown();
    // Requests first (they still need the pools), on both listeners at once.
    const [api, metrics] = await Promise.all([http.close(graceMs), metricsHttp?.close(graceMs)]);
    const forced = [...api.forced, ...(metrics?.forced ?? [])];
    if (forced.length > 0) {
      logger.warn(
        { forced_requests: forced.length, requests: forced },
        `closed ${forced.length} request(s) still running after the ${config.shutdownGraceSeconds} s grace period`,
      );
    }
    // Then the pools: connections still lent (a request cut off above, a leak) get the grace period
    // again, then are force-closed; each pool reports what it had to force.
    await container.stop().catch((err: unknown) => logger.error({ err }, 'stopping the pools failed'));
    for (const pool of container.adapter.pools()) {
      const report = await pool.stop().catch(() => null);
      if (report !== null && report.forcedClosed > 0) {
        logger.warn(
          { pool: report.name, forced_connections: report.forcedClosed, acquirers: report.forcedStacks },
          `pool ${report.name}: force-closed ${report.forcedClosed} connection(s) still borrowed after the grace period`,
        );
      }
    }
    await stopTracing().catch((err: unknown) => logger.warn({ err }, 'flushing spans failed'));
    logger.info('stopped');
    logger.flush();
    process.exitCode = 0;
    // A force-closed connection may leave a handle behind (a socket, a worker); do not wait for it.
    setTimeout(() => {
      logger.warn({ resources: process.getActiveResourcesInfo() }, 'handles still open after stop; exiting');
      logger.flush();
      process.exit(0);
    }, 1000).unref();
  };
  process.on('SIGTERM', (s) => void shutdown(s));
  process.on('SIGINT', (s) => void shutdown(s));

  try {
    await container.start();
  } catch (err) {
    // Stay up: liveness answers, readiness says why, and a supervisor does not crash-loop us.
    logger.error({ err: err instanceof Error ? { message: err.message, code: (err as { code?: unknown }).code } : err },
      `database start-up failed: ${container.startError() ?? 'unknown error'}`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`fatal: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
