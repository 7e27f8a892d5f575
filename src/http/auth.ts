/**
 * Bearer-token protection for the metrics and admin endpoints (`/metrics`, `/metrics/*`), on when
 * METRICS_TOKEN is set. The comparison takes the same time whatever the guess (both sides are
 * hashed to equal-length digests first), so the token cannot be found byte by byte.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { AppError } from '../errors/index.js';
import { sendError } from './errors.js';

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** True when `presented` equals `expected`, in constant time. */
export function tokensEqual(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

/** Requires `Authorization: Bearer <token>`; a no-op when `token` is null. */
export function requireBearerToken(token: string | null): RequestHandler {
  if (token === null) return (_req, _res, next) => next();
  return (req, res, next) => {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match && tokensEqual(match[1] ?? '', token)) {
      next();
      return;
    }
    res.setHeader('WWW-Authenticate', 'Bearer realm="bookswriter-data metrics"');
    sendError(req, res, new AppError('UNAUTHORIZED', 'This endpoint needs "Authorization: Bearer <METRICS_TOKEN>".'));
  };
}
