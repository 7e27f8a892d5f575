/**
 * Per-request context: a request id (taken from `X-Request-Id` when it is a safe token, else
 * generated) echoed on every response, and the route template used as the metrics label.
 */
import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import type { ServiceMetrics } from '../observability/metrics.js';

const REQUEST_ID = Symbol('requestId');
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

type WithRequestId = Request & { [REQUEST_ID]?: string };

/** The id of this request (assigned by {@link requestId}). */
export function requestIdOf(req: Request): string {
  return (req as WithRequestId)[REQUEST_ID] ?? 'unknown';
}

/** Assigns the request id and sets the `X-Request-Id` response header. */
export const requestId: RequestHandler = (req, res, next) => {
  const incoming = req.get('x-request-id');
  const id = incoming !== undefined && SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
  (req as WithRequestId)[REQUEST_ID] = id;
  res.setHeader('X-Request-Id', id);
  next();
};

/**
 * The route template of a matched request (`/api/plots/:id`), or `unmatched`. Only templates are
 * used as label values, so a scan of random URLs cannot create new series.
 */
export function routeTemplateOf(req: Request): string {
  const route = (req as Request & { route?: { path?: unknown } }).route;
  if (!route || typeof route.path !== 'string') return 'unmatched';
  return `${req.baseUrl}${route.path}` || '/';
}

/** Records `http_server_request_duration_seconds` when the response finishes. */
export function httpMetrics(metrics: ServiceMetrics): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    res.once('finish', () => {
      metrics.observeHttpRequest(
        { method: req.method, route: routeTemplateOf(req), status: res.statusCode },
        Number(process.hrtime.bigint() - start) / 1e9,
      );
    });
    next();
  };
}
