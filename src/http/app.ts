/**
 * The express applications: middleware order matters and is kept here, in one place.
 *
 *   security headers → request id → shutdown guard → HTTP metrics → probes → metrics token
 *   → metrics → routes (write routes: rate limit → JSON content type → JSON body) → 404 → errors
 *
 * With METRICS_PORT set, `/metrics*` moves to a second app ({@link createMetricsApp}) that main.ts
 * serves on METRICS_HOST:METRICS_PORT (loopback by default); the public app then answers 404 there.
 */
import express, { Router, type Express, type RequestHandler } from 'express';
import type { Container } from '../container.js';
import { AppError } from '../errors/index.js';
import { apiRouter } from './api/router.js';
import { requireBearerToken } from './auth.js';
import { errorHandler, notFoundHandler, sendError } from './errors.js';
import { healthRouter } from './health.js';
import { metricsApiRouter } from './metrics-api.js';
import { rateLimitWrites, TokenBucketLimiter } from './rate-limit.js';
import { httpMetrics, requestId } from './request-context.js';
import { securityHeaders } from './security-headers.js';

/** While stopping, new requests get 503 SHUTTING_DOWN and the connection is closed. */
function shutdownGuard(container: Container): RequestHandler {
  return (req, res, next) => {
    const state = container.state();
    if ((state === 'stopping' || state === 'stopped') && req.path !== '/health/live') {
      res.setHeader('Connection', 'close');
      sendError(req, res, new AppError('SHUTTING_DOWN', 'The service is shutting down; retry on another instance.', {
        retryAfterSeconds: 1,
      }));
      return;
    }
    next();
  };
}

/** Settings and middleware both apps share, in order, up to the routes. */
function baseApp(container: Container): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Repeated parameters become arrays and nothing is nested: the shape the validators expect.
  app.set('query parser', 'simple');
  const trustProxy = container.config.http.trustProxy;
  app.set('trust proxy', Array.isArray(trustProxy) ? [...trustProxy] : trustProxy);

  app.use(securityHeaders);
  app.use(requestId);
  app.use(shutdownGuard(container));
  app.use(httpMetrics(container.metrics, container.runtime));
  app.use(healthRouter(container));
  return app;
}

/** `/metrics` (Prometheus), the JSON metrics API and the reset, behind METRICS_TOKEN when it is set. */
function mountMetrics(app: Express, container: Container): void {
  // Everything under /metrics (Prometheus text, the JSON API, the reset) needs the token when set.
  app.use('/metrics', requireBearerToken(container.config.http.metricsToken));
  app.get('/metrics', async (req, res, next) => {
    try {
      const { contentType, body } = await container.metrics.render(req.get('accept'));
      res.setHeader('Content-Type', contentType);
      res.send(body);
    } catch (err) {
      next(err);
    }
  });
  app.use(metricsApiRouter(container));
}

/**
 * The app of the metrics listener (METRICS_PORT): probes and `/metrics*` only, with the same
 * headers, request ids, token check and error shape as the public app.
 */
export function createMetricsApp(container: Container): Express {
  const app = baseApp(container);
  mountMetrics(app, container);
  app.use(notFoundHandler);
  app.use(errorHandler(container.logger));
  return app;
}

export interface AppOptions {
  /**
   * Serve `/metrics*` on this app. Default: yes unless METRICS_PORT is set (then they live on the
   * metrics app only, and this one answers 404 for them).
   */
  readonly serveMetrics?: boolean;
  /**
   * Test seam, never used in production: adds routes after the service's own and before the 404
   * handler, behind the same middleware (request id, shutdown guard, HTTP metrics and the per-request
   * N+1 scope), so tests can exercise code paths the API does not have (e.g. a deliberately naive
   * N+1 loop) exactly as a real route would run.
   */
  readonly extraRoutes?: (router: Router) => void;
}

export function createApp(container: Container, options: AppOptions = {}): Express {
  const http = container.config.http;
  const app = baseApp(container);
  if (options.serveMetrics ?? http.metricsPort === null) mountMetrics(app, container);

  const limiter =
    http.rateLimit.writesPerMinute > 0 ? new TokenBucketLimiter({ ...http.rateLimit }) : null;
  app.use('/api', apiRouter(container.repositories, http, rateLimitWrites(limiter)));
  if (options.extraRoutes) {
    const extra = Router();
    options.extraRoutes(extra);
    app.use(extra);
  }

  app.use(notFoundHandler);
  app.use(errorHandler(container.logger));
  return app;
}
