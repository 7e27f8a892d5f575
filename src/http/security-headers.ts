/**
 * Response hardening for a JSON-only API (what helmet would set, minus what only matters for
 * HTML): set on every response the app sends, errors and 404s included, before anything else runs.
 * `X-Powered-By` is switched off in createApp. Responses Node's HTTP parser sends by itself (a
 * malformed request line → 400, headers over 16 KiB → 431) have no body and none of these headers.
 */
import type { RequestHandler } from 'express';

/** Header → value, set on every response. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  // Never guess a content type: our bodies are JSON or Prometheus text and nothing else.
  'X-Content-Type-Options': 'nosniff',
  // API answers and metrics are per-request data; no cache (shared or private) may keep them.
  'Cache-Control': 'no-store',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  // Nothing in a response may load or run anything, nor be framed.
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
  'Cross-Origin-Resource-Policy': 'same-origin',
});

const entries = Object.entries(SECURITY_HEADERS);

export const securityHeaders: RequestHandler = (_req, res, next) => {
  for (const [name, value] of entries) res.setHeader(name, value);
  next();
};
