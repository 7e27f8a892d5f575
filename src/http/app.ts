/**
 * The express application: middleware order matters and is kept here, in one place.
 *
 *   request id → shutdown guard → HTTP metrics → probes → metrics token → routes → 404 → errors
 */
import express, { Router, type Express, type RequestHandler } from 'express';
import type { Container } from '../container.js';
import { AppError } from '../errors/index.js';
import { apiRouter } from './api/router.js';
import { requireBearerToken } from './auth.js';
import { errorHandler, notFoundHandler, sendError } from './errors.js';
import { healthRouter } from './health.js';
import { metricsApiRouter } from './metrics-api.js';
import { httpMetrics, requestId } from './request-context.js';

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

export interface AppOptions {
  /**
   * Test seam, never used in production: adds routes after the service's own and before the 404
   * handler, behind the same middleware (request id, shutdown guard, HTTP metrics and the per-request
   * N+1 scope), so tests can exercise code paths the API does not have (e.g. a deliberately naive
   * N+1 loop) exactly as a real route would run.
   */
  readonly extraRoutes?: (router: Router) => void;
}

export function createApp(container: Container, options: AppOptions = {}): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Repeated parameters become arrays and nothing is nested: the shape the validators expect.
  app.set('query parser', 'simple');

  app.use(requestId);
  app.use(shutdownGuard(container));
  app.use(httpMetrics(container.metrics, container.runtime));

  app.use(healthRouter(container));
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
  app.use('/api', apiRouter(container.repositories, container.config.http));
  if (options.extraRoutes) {
    const extra = Router();
    options.extraRoutes(extra);
    app.use(extra);
  }

  app.use(notFoundHandler);
  app.use(errorHandler(container.logger));
  return app;
}
