/**
 * The one place where errors become HTTP responses. Body shape (design §9):
 * `{"error": {"code", "message", "details"?, "request_id"}}`. Never a stack trace, never a
 * driver's raw message: only AppError messages (written by us for people) are shown; anything
 * else is logged under the request id and answered as INTERNAL.
 */
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { AppError, ERROR_CODES, type ErrorCode } from '../errors/index.js';
import type { Logger } from '../observability/logger.js';
import { requestIdOf } from './request-context.js';

export interface ErrorBody {
  readonly error: {
    readonly code: ErrorCode;
    readonly message: string;
    readonly details?: unknown;
    readonly request_id: string;
  };
}

/** Sends the error shape with the code's status (and Retry-After when the error asks for it). */
export function sendError(req: Request, res: Response, error: AppError): void {
  if (error.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(error.retryAfterSeconds));
  const body: ErrorBody = {
    error: {
      code: error.code,
      message: error.message,
      ...(error.details === undefined ? {} : { details: error.details }),
      request_id: requestIdOf(req),
    },
  };
  res.status(ERROR_CODES[error.code].status).json(body);
}

/**
 * The router decodes path parameters with decodeURIComponent; a malformed escape (`/api/plots/%E0%A4%A`)
 * throws a URIError there, before any handler runs. It is the client's URL, not our bug.
 */
function fromRouter(err: unknown): AppError | null {
  if (!(err instanceof URIError)) return null;
  return new AppError('VALIDATION_FAILED', 'The URL path contains a malformed percent-encoded character (%XX).');
}

/** Express error middleware: maps every error to the error shape and logs the unexpected ones. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      // Too late for a clean error body; end the response so the client sees a broken one.
      next(err);
      return;
    }
    const known = err instanceof AppError ? err : fromRouter(err);
    if (known) {
      if (known.status >= 500) {
        logger.warn(
          { request_id: requestIdOf(req), code: known.code, err: known.cause ?? known },
          `${req.method} ${req.path} failed: ${known.message}`,
        );
      }
      sendError(req, res, known);
      return;
    }
    logger.error({ request_id: requestIdOf(req), err }, `${req.method} ${req.path} failed unexpectedly`);
    sendError(
      req,
      res,
      new AppError('INTERNAL', `An unexpected error occurred; quote request id ${requestIdOf(req)} when reporting it.`),
    );
  };
}

/** The last route: no route matched. */
export const notFoundHandler: RequestHandler = (req, res) => {
  sendError(req, res, new AppError('NOT_FOUND', `No route for ${req.method} ${req.path}.`));
};
