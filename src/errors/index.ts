/**
 * Typed errors with stable codes. Every error the service raises on purpose is an {@link AppError}
 * whose `code` is one of {@link ERROR_CODES}; the HTTP layer maps codes to statuses in one place
 * (the registry below), and the README's error table is checked against this registry by a test.
 *
 * Errors are converted at the adapter boundary: a driver's own error never travels further than the
 * adapter that caught it, except as `cause` (which is never serialised into a response or a log
 * line's message).
 */

/** The registry: stable code → HTTP status and a one-line meaning (used by docs and tests). */
export const ERROR_CODES = {
  VALIDATION_FAILED: { status: 400, meaning: 'The request does not match the documented shape.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, meaning: 'The request body is not JSON.' },
  UNAUTHORIZED: { status: 401, meaning: 'The metrics and admin endpoints need the bearer token (METRICS_TOKEN).' },
  NOT_FOUND: { status: 404, meaning: 'No row (or route) with that identity exists.' },
  CONFLICT: { status: 409, meaning: 'The write violates a unique or foreign-key constraint.' },
  PAYLOAD_TOO_LARGE: { status: 413, meaning: 'The request body or batch exceeds the configured limit.' },
  RATE_LIMITED: { status: 429, meaning: 'Too many writes from this client; retry after Retry-After seconds.' },
  DB_POOL_TIMEOUT: { status: 503, meaning: 'No connection became free within the acquire timeout.' },
  DB_POOL_SATURATED: { status: 503, meaning: 'The pool wait queue is full; the request was shed.' },
  DB_POOL_CLOSED: { status: 503, meaning: 'The pool is stopping or stopped.' },
  DB_UNAVAILABLE: { status: 503, meaning: 'The database cannot be reached or opened.' },
  DB_BUSY: { status: 503, meaning: 'The database stayed locked past the busy timeout.' },
  DB_READ_ONLY: { status: 503, meaning: 'The database refuses writes (read-only file or role).' },
  DB_FULL: { status: 507, meaning: 'The disk or database is full.' },
  DB_CORRUPT: { status: 500, meaning: 'The database file is damaged or is not a database.' },
  DB_CANNOT_OPEN: { status: 503, meaning: 'The database file cannot be opened (missing directory, permissions).' },
  DB_TIMEOUT: { status: 504, meaning: 'The database did not answer within the statement timeout.' },
  DB_BAD_GATEWAY: { status: 502, meaning: 'The upstream database API answered with something unusable.' },
  SHUTTING_DOWN: { status: 503, meaning: 'The service is shutting down and accepts no new requests.' },
  INTERNAL: { status: 500, meaning: 'An unexpected error; details are in the log under the request id.' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface AppErrorOptions {
  /** Structured, user-safe details (field names, allowed values…). Never secrets or driver text. */
  details?: unknown;
  /** The underlying error, kept for logs and debugging; never sent to clients. */
  cause?: unknown;
  /** Seconds a client should wait before retrying (sets `Retry-After`). */
  retryAfterSeconds?: number;
}

/** Base class of every error with a stable code. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** The HTTP status of this error's code. */
  get status(): number {
    return ERROR_CODES[this.code].status;
  }
}

export class ValidationError extends AppError {
  constructor(message: string, details?: unknown) {
    super('VALIDATION_FAILED', message, { details });
  }
}

export class NotFoundError extends AppError {
  constructor(message: string, details?: unknown) {
    super('NOT_FOUND', message, { details });
  }
}

export class ConflictError extends AppError {
  constructor(message: string, options: AppErrorOptions = {}) {
    super('CONFLICT', message, options);
  }
}

/** An error raised by a database adapter; `code` says which kind. */
export class DatabaseError extends AppError {}

/** True when `err` is an AppError with the given code. */
export function hasCode(err: unknown, code: ErrorCode): err is AppError {
  return err instanceof AppError && err.code === code;
}
