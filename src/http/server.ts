/**
 * The HTTP server's lifecycle: listen, track in-flight requests, and close gracefully — stop
 * accepting, let in-flight requests finish within a grace period, then force-close what is left
 * (and say which).
 *
 * While draining, kept-alive connections stay open: a request that arrives on one is answered
 * 503 SHUTTING_DOWN with `Connection: close` by the app's shutdown guard — a definite "not done,
 * retry elsewhere" — instead of meeting a connection closed under it (which a client cannot tell
 * from a lost answer, and does not retry for a POST). Responses still in flight get
 * `Connection: close` too. Everything left is closed when the drain ends.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Express } from 'express';

/** A request cut off at the end of the grace period. */
export interface ForcedRequest {
  readonly method: string;
  /** The path without the query string (the query may hold user data). */
  readonly path: string;
  readonly request_id: string | null;
  /** How long it had been running (ms). */
  readonly age_ms: number;
}

interface Tracked {
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  /** The path as received (routers rewrite `req.url` while they run); no query string. */
  readonly path: string;
  readonly startedAt: number;
}

export interface HttpServerHandle {
  readonly server: http.Server;
  /** The bound port (useful with PORT=0). */
  readonly port: number;
  /** Requests currently being served. */
  inFlight(): number;
  /**
   * Stops accepting connections and waits up to `graceMs` for in-flight requests; then closes every
   * remaining socket. Resolves with the requests that were cut off. Idempotent.
   */
  close(graceMs: number): Promise<{ forcedRequests: number; forced: readonly ForcedRequest[] }>;
}

export async function startHttpServer(app: Express, host: string, port: number): Promise<HttpServerHandle> {
  // Our listener runs before the app's: it sees the request as it arrived (the routers rewrite
  // req.url as they go) and can mark it `Connection: close` before the app answers.
  const server = http.createServer();
  // Keep-alive sockets must outlive a typical load balancer's idle timeout (60 s) to avoid races.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 120_000;

  const active = new Set<Tracked>();
  const drained: Array<() => void> = [];
  let closingStarted = false;
  server.on('request', (req, res) => {
    const tracked: Tracked = { req, res, path: (req.url ?? '').split('?')[0]!.slice(0, 200), startedAt: performance.now() };
    active.add(tracked);
    if (closingStarted && !res.headersSent) res.setHeader('Connection', 'close');
    res.once('close', () => {
      active.delete(tracked);
      if (active.size === 0) drained.splice(0).forEach((resolve) => resolve());
    });
  });
  server.on('request', app);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  let closing: Promise<{ forcedRequests: number; forced: readonly ForcedRequest[] }> | null = null;
  return {
    server,
    port: (server.address() as AddressInfo).port,
    inFlight: () => active.size,
    close(graceMs: number) {
      closing ??= (async () => {
        closingStarted = true;
        for (const { res } of active) if (!res.headersSent) res.setHeader('Connection', 'close');
        // net.Server's close stops accepting; http.Server's close would also close the idle
        // kept-alive connections at once (see the module comment for why they stay).
        let closedFired = false;
        const closed = new Promise<void>((resolve) =>
          net.Server.prototype.close.call(server, () => {
            closedFired = true;
            resolve();
          }),
        );
        if (active.size > 0) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            new Promise<void>((resolve) => drained.push(resolve)),
            new Promise<void>((resolve) => {
              timer = setTimeout(resolve, graceMs);
            }),
          ]);
          clearTimeout(timer);
        }
        const now = performance.now();
        const forced = [...active].map(({ req, res, path, startedAt }): ForcedRequest => {
          const id = res.getHeader('x-request-id');
          return {
            method: req.method ?? '?',
            path,
            request_id: typeof id === 'string' ? id : null,
            age_ms: Math.round(now - startedAt),
          };
        });
        // http.Server's own close now (while connections remain, so 'close' is emitted once): it
        // also stops the connection checker that net.Server's close left running.
        if (!closedFired) server.close(() => undefined);
        server.closeAllConnections();
        await closed;
        return { forcedRequests: forced.length, forced };
      })();
      return closing;
    },
  };
}
