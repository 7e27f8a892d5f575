/**
 * Per-request context: a request id (taken from `X-Request-Id` when it is a safe token, else
 * generated) echoed on every response, and the route template used as the metrics label.
 */
import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { trace } from '@opentelemetry/api';
import type { ServiceMetrics } from '../observability/metrics.js';
import { runInRequestScope } from '../observability/operations.js';
import type { RuntimeStats } from '../observability/runtime-stats.js';

const REQUEST_ID = Symbol('requestId');
/** Methods recorded as themselves; any other becomes `_OTHER` (OTel convention) to bound the label. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
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

const ROUTE_TEMPLATE = Symbol('routeTemplate');

type WithRouteTemplate = Request & { [ROUTE_TEMPLATE]?: string };

function currentTemplate(req: Request): string {
  const route = (req as Request & { route?: { path?: unknown } }).route;
  if (!route || typeof route.path !== 'string') return 'unmatched';
  // A router's own root ('/') is the mount path itself: /api/plots, not /api/plots/.
  if (route.path === '/' && req.baseUrl !== '') return req.baseUrl;
  return `${req.baseUrl}${route.path}` || '/';
}

/**
 * Remembers the matched route's template. Call it from a route's handlers: when an error leaves a
 * nested router, express restores `req.baseUrl` to the parent's mount path before the response
 * finishes, so a template read at `finish` would be `/:id` instead of `/api/plots/:id`.
 */
export function rememberRoute(req: Request): void {
  (req as WithRouteTemplate)[ROUTE_TEMPLATE] ??= currentTemplate(req);
}

/**
 * The route template of a matched request (`/api/plots/:id`), or `unmatched`. Only templates are
 * used as label values, so a scan of random URLs cannot create new series.
 */
export function routeTemplateOf(req: Request): string {
  return (req as WithRouteTemplate)[ROUTE_TEMPLATE] ?? currentTemplate(req);
}

/** Records `http_server_request_duration_seconds` when the response finishes. */
export function httpMetrics(metrics: ServiceMetrics, runtime: RuntimeStats): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    // The server span of this request (auto-instrumentation), for the latency exemplar.
    const span = trace.getActiveSpan();
    res.once('finish', () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const method = KNOWN_METHODS.has(req.method) ? req.method : '_OTHER';
      metrics.observeHttpRequest({ method, route: routeTemplateOf(req), status: res.statusCode }, seconds, span);
      runtime.recordRequest(res.statusCode, seconds * 1000);
    });
    // Everything this request does runs in one N+1 detection scope.
    runInRequestScope(() => routeTemplateOf(req), next);
  };
}
