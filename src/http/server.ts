/**
 * The HTTP server's lifecycle: listen, count in-flight requests, and close gracefully — stop
 * accepting, let in-flight requests finish within a grace period, then force-close what is left
 * (and say how many).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';

export interface HttpServerHandle {
  readonly server: http.Server;
  /** The bound port (useful with PORT=0). */
  readonly port: number;
  /** Requests currently being served. */
  inFlight(): number;
  /**
   * Stops accepting connections and waits up to `graceMs` for in-flight requests; then closes every
   * remaining socket. Resolves with the number of requests that were cut off. Idempotent.
   */
  close(graceMs: number): Promise<{ forcedRequests: number }>;
}

export async function startHttpServer(app: Express, host: string, port: number): Promise<HttpServerHandle> {
  const server = http.createServer(app);
  // Keep-alive sockets must outlive a typical load balancer's idle timeout (60 s) to avoid races.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 120_000;

  let inFlight = 0;
  const drained: Array<() => void> = [];
  server.on('request', (_req, res) => {
    inFlight += 1;
    res.once('close', () => {
      inFlight -= 1;
      if (inFlight === 0) drained.splice(0).forEach((resolve) => resolve());
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  let closing: Promise<{ forcedRequests: number }> | null = null;
  return {
    server,
    port: (server.address() as AddressInfo).port,
    inFlight: () => inFlight,
    close(graceMs: number) {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        if (inFlight > 0) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            new Promise<void>((resolve) => drained.push(resolve)),
            new Promise<void>((resolve) => {
              timer = setTimeout(resolve, graceMs);
            }),
          ]);
          clearTimeout(timer);
        }
        const forcedRequests = inFlight;
        server.closeAllConnections();
        await closed;
        return { forcedRequests };
      })();
      return closing;
    },
  };
}
