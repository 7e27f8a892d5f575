/**
 * The one place where Supabase/PostgREST failures become typed AppErrors with stable codes, worded
 * like the SQLite adapter's so both backends report alike.
 *
 * Messages are written here, never copied from upstream: an upstream body may be a proxy's HTML
 * page or carry row values, and nothing upstream may ever echo the API key into a message. The
 * PostgREST/PostgreSQL code and the HTTP status go into `details`; the raw failure (status, code,
 * PostgreSQL's own message — never the key, never an HTML body) stays in `cause`, for the log.
 */
import {
  AppError,
  ConflictError,
  DatabaseError,
  NotFoundError,
  ValidationError,
} from '../../errors/index.js';
import type { TableDefinition } from '../../schema/tables.js';

export type FailureKind = 'http' | 'transport' | 'timeout' | 'too-long';

/** What PostgREST (or the gateway in front of it) said, as far as it was understood. */
export interface UpstreamError {
  /** PostgREST (`PGRST…`) or PostgreSQL (SQLSTATE) code; null when the body had none. */
  readonly code: string | null;
  /** PostgreSQL's or PostgREST's message (for the log only; may contain row values). */
  readonly message: string | null;
  readonly details: string | null;
  readonly hint: string | null;
}

export interface RequestFailureInit {
  readonly kind: FailureKind;
  /** `GET /rest/v1/plots` (no query, no values). */
  readonly request: string;
  readonly status?: number | null;
  /** False when the body was not JSON (an HTML error page, a truncated answer). */
  readonly parsable?: boolean;
  readonly upstream?: UpstreamError | null;
  /** Node/undici error code of a transport failure (`ECONNREFUSED`, `UND_ERR_SOCKET`…). */
  readonly transportCode?: string | null;
  /** The request may have reached the server and been applied (a write whose answer was lost). */
  readonly outcomeUnknown?: boolean;
  readonly timeoutMs?: number;
  readonly targetLength?: number;
  /** The `Content-Range` header of an error answer (a 416 carries the total there). */
  readonly contentRange?: string | null;
  readonly cause?: unknown;
}

/**
 * One failed PostgREST request, before mapping. Internal to the adapter (it becomes the `cause` of
 * the AppError the caller sees). Its message names the request, the status and the code only.
 */
export class RequestFailure extends Error {
  readonly kind: FailureKind;
  readonly request: string;
  readonly status: number | null;
  readonly parsable: boolean;
  /**
   * Not enumerable: PostgreSQL's message, details and hint may quote row values, and loggers
   * (pino's err serializer) copy an error's enumerable properties. The log gets `postgrestCode`.
   */
  declare readonly upstream: UpstreamError | null;
  /** The PostgREST/PostgreSQL code alone (safe to log). */
  readonly postgrestCode: string | null;
  readonly transportCode: string | null;
  readonly outcomeUnknown: boolean;
  readonly timeoutMs: number | null;
  readonly targetLength: number | null;
  readonly contentRange: string | null;

  constructor(init: RequestFailureInit) {
    super(describeFailure(init), init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'RequestFailure';
    this.kind = init.kind;
    this.request = init.request;
    this.status = init.status ?? null;
    this.parsable = init.parsable ?? true;
    Object.defineProperty(this, 'upstream', { value: init.upstream ?? null, enumerable: false });
    this.postgrestCode = init.upstream?.code ?? null;
    this.transportCode = init.transportCode ?? null;
    this.outcomeUnknown = init.outcomeUnknown ?? false;
    this.timeoutMs = init.timeoutMs ?? null;
    this.targetLength = init.targetLength ?? null;
    this.contentRange = init.contentRange ?? null;
  }
}

function describeFailure(init: RequestFailureInit): string {
  switch (init.kind) {
    case 'timeout':
      return `${init.request}: no answer within ${init.timeoutMs ?? '?'} ms`;
    case 'too-long':
      return `${init.request}: request target of ${init.targetLength ?? '?'} characters not sent`;
    case 'transport':
      return `${init.request}: connection failed (${init.transportCode ?? 'no code'})`;
    case 'http': {
      // Status and code only: the upstream message stays in `upstream` (it may quote row values).
      const code = init.upstream?.code ? ` ${init.upstream.code}` : '';
      return `${init.request}: HTTP ${init.status ?? '?'}${code}${init.parsable === false ? ' (body is not JSON)' : ''}`;
    }
  }
}

/** Gateway statuses that mean "try again shortly" (Cloudflare's 520–524 included). */
const TRANSIENT_STATUSES: ReadonlySet<number> = new Set([502, 503, 504, 520, 521, 522, 523, 524]);

/**
 * Whether repeating the same idempotent request may succeed: connection failures and gateway
 * 502/503/504. Not timeouts (the request already used its whole time budget; a retry would multiply
 * the caller's wait and the load on a server that is already slow) and not 500 (an error PostgREST
 * reports deterministically).
 */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof RequestFailure)) return false;
  if (err.kind === 'transport') return true;
  return err.kind === 'http' && err.status !== null && TRANSIENT_STATUSES.has(err.status);
}

/** What was being done; only used to word messages. */
export interface SupabaseErrorContext {
  readonly table?: TableDefinition;
  /** `SELECT`, `INSERT`, `BATCH UPDATE`… */
  readonly operation?: string;
  /** Origin of the Supabase project (`https://xyz.supabase.co`), never with credentials. */
  readonly origin?: string;
}

const MIGRATIONS_HINT =
  'Apply migrations/postgres/*.sql to the Supabase database (the service does not migrate Supabase), ' +
  "then reload PostgREST's schema cache (NOTIFY pgrst, 'reload schema').";

/** `Key (email)=(…) already exists.` → ['email']; the values are never kept. */
function keyColumns(details: string | null): string[] {
  const match = details === null ? null : /^Key \(([^)]*)\)=/.exec(details);
  if (match === null) return [];
  return (match[1] ?? '')
    .split(',')
    .map((c) => c.trim())
    .filter((c) => /^[a-z_][a-z0-9_]*$/.test(c));
}

/** `… column "email" of relation "users" …` → 'email'. */
function quotedColumn(message: string | null): string | undefined {
  const match = message === null ? null : /column "([a-z_][a-z0-9_]*)"/.exec(message);
  return match?.[1];
}

/** `… constraint "plots_title_check"` → 'plots_title_check' (our schema's names, no row data). */
function constraintName(message: string | null): string | undefined {
  const match = message === null ? null : /constraint "([A-Za-z0-9_]+)"/.exec(message);
  return match?.[1];
}

function tableLabel(context: SupabaseErrorContext): string {
  return context.table?.name ?? 'database';
}

function apiLabel(context: SupabaseErrorContext): string {
  return context.origin === undefined ? 'the Supabase API' : `the Supabase API at ${context.origin}`;
}

/** The same label at the start of a sentence. */
function ApiLabel(context: SupabaseErrorContext): string {
  return `T${apiLabel(context).slice(1)}`;
}

/** ValidationError takes no options; the failure is still worth keeping for the log. */
function validation(message: string, details: Record<string, unknown>, cause: unknown): ValidationError {
  const error = new ValidationError(message, details);
  error.cause = cause;
  return error;
}

function baseDetails(failure: RequestFailure, context: SupabaseErrorContext): Record<string, unknown> {
  const details: Record<string, unknown> = {};
  if (context.table !== undefined) details.table = context.table.name;
  if (failure.status !== null) details.status = failure.status;
  if (failure.upstream?.code) details.postgrest_code = failure.upstream.code;
  if (failure.kind === 'http' && failure.outcomeUnknown) details.outcome_unknown = true;
  return details;
}

function mapHttp(failure: RequestFailure, context: SupabaseErrorContext): AppError {
  const status = failure.status ?? 0;
  const upstream = failure.upstream;
  const code = upstream?.code ?? '';
  const table = context.table?.name;
  const details = baseDetails(failure, context);
  const cause = failure;

  // Sizes first: proxies answer these with HTML pages.
  if (status === 413) {
    return new AppError('PAYLOAD_TOO_LARGE', `${ApiLabel(context)} refused the request body as too large.`, {
      cause,
      details,
    });
  }
  if (status === 414 || status === 431) {
    return new DatabaseError(
      'INTERNAL',
      `${ApiLabel(context)} refused the request URL as too long (HTTP ${status}); look-ups are chunked, so this is a bug.`,
      { cause, details },
    );
  }
  const maybeApplied = failure.outcomeUnknown ? ' The write may or may not have been applied.' : '';
  if (!failure.parsable) {
    return new DatabaseError(
      'DB_BAD_GATEWAY',
      `${ApiLabel(context)} answered HTTP ${status} with a body that is not PostgREST JSON ` +
        `(probably a proxy or gateway error page).${maybeApplied}`,
      { cause, details, retryAfterSeconds: status >= 500 ? 1 : undefined },
    );
  }

  switch (code) {
    case '23505': {
      const columns = keyColumns(upstream?.details ?? null);
      const what = columns.length > 0 ? ` with the same ${columns.join(', ')}` : ' with the same key';
      return new ConflictError(`A ${tableLabel(context)} row${what} already exists.`, {
        cause,
        details: { ...details, constraint: 'unique', columns },
      });
    }
    case '23503': {
      const fkColumns = context.table
        ? Object.values(context.table.relations)
            .filter((r) => r.kind === 'belongsTo')
            .map((r) => r.column)
        : [];
      const message =
        context.operation === 'DELETE'
          ? `The ${tableLabel(context)} row is still referenced by other rows and cannot be deleted.`
          : `The ${tableLabel(context)} row refers to a row that does not exist` +
            (fkColumns.length > 0 ? ` (check ${fkColumns.join(', ')}).` : '.');
      return new ConflictError(message, {
        cause,
        details: { ...details, constraint: 'foreign_key', columns: fkColumns },
      });
    }
    case '23502': {
      const column = quotedColumn(upstream?.message ?? null);
      const label = column === undefined ? 'A required column' : `${table ?? 'the row'}.${column}`;
      return validation(`${label} is required and cannot be null.`, { ...details, column }, cause);
    }
    case '23514': {
      const constraint = constraintName(upstream?.message ?? null);
      return validation(
        `A value for the ${tableLabel(context)} row is not allowed` +
          (constraint === undefined ? '.' : ` (check ${constraint} failed).`),
        { ...details, constraint },
        cause,
      );
    }
    case 'PGRST116': {
      const notFound = new NotFoundError(`No ${tableLabel(context)} row with that id exists.`, details);
      notFound.cause = cause;
      return notFound;
    }
    case '42P01':
    case 'PGRST205':
      return new DatabaseError(
        'DB_UNAVAILABLE',
        `The table ${table ?? '(unknown)'} does not exist in the Supabase database (PostgREST ${code}). ${MIGRATIONS_HINT}`,
        { cause, details },
      );
    case '42703':
    case 'PGRST204':
      return new DatabaseError(
        'DB_UNAVAILABLE',
        `A column of ${table ?? 'a table'} is missing in the Supabase database (PostgREST ${code}): ` +
          `its schema is older than the service. ${MIGRATIONS_HINT}`,
        { cause, details },
      );
    case '42501':
    case 'PGRST301':
    case 'PGRST302':
      return new DatabaseError(
        'DB_UNAVAILABLE',
        `${ApiLabel(context)} rejected the service's credentials (PostgREST ${code}): check SUPABASE_KEY ` +
          '(the service_role key is expected) and the table grants.',
        { cause, details },
      );
    case '25006':
      return new DatabaseError(
        'DB_READ_ONLY',
        'The Supabase database refuses writes (read-only transaction).',
        {
          cause,
          details,
        },
      );
    case '40001':
    case '40P01':
    case '55P03':
      return new DatabaseError(
        'DB_BUSY',
        `The Supabase database aborted the ${context.operation ?? 'operation'} because of a conflicting transaction; retry shortly.`,
        { cause, details, retryAfterSeconds: 1 },
      );
    case '57014':
      return new DatabaseError(
        'DB_TIMEOUT',
        `The Supabase database cancelled the ${context.operation ?? 'statement'} at its statement timeout.`,
        { cause, details, retryAfterSeconds: 1 },
      );
    case '53100':
      return new DatabaseError('DB_FULL', 'The Supabase database is out of disk space.', { cause, details });
    default:
      break;
  }
  // SQLSTATE class 22: data exceptions (bad input syntax, out of range, invalid JSON text…).
  if (/^22[0-9A-Z]{3}$/.test(code)) {
    return validation(
      `A value for the ${tableLabel(context)} row is not valid (PostgreSQL ${code}).`,
      details,
      cause,
    );
  }
  if (status === 401 || status === 403) {
    // The gateway (Kong) answers before PostgREST, with no PostgREST code.
    return new DatabaseError(
      'DB_UNAVAILABLE',
      `${ApiLabel(context)} rejected the service's API key (HTTP ${status}): check SUPABASE_KEY ` +
        '(the service_role key is expected).',
      { cause, details },
    );
  }
  if (status === 404 && code === '') {
    return new DatabaseError(
      'DB_UNAVAILABLE',
      `${ApiLabel(context)} has no endpoint for ${table ?? 'the table'} (HTTP 404): check SUPABASE_URL ` +
        `and that the table exists. ${MIGRATIONS_HINT}`,
      { cause, details },
    );
  }
  if (status === 504 || code === 'PGRST003') {
    return new DatabaseError(
      'DB_TIMEOUT',
      `${ApiLabel(context)} timed out waiting for the database (HTTP ${status}).${maybeApplied}`,
      { cause, details, retryAfterSeconds: 1 },
    );
  }
  if (status >= 500 || /^(08|53|57|58|XX)/.test(code) || /^PGRST00[0-2]$/.test(code)) {
    return new DatabaseError(
      'DB_UNAVAILABLE',
      `${ApiLabel(context)} could not run the ${context.operation ?? 'request'} (HTTP ${status}${code ? `, ${code}` : ''}); ` +
        `the database may be down or restarting.${maybeApplied}`,
      { cause, details, retryAfterSeconds: 1 },
    );
  }
  return new DatabaseError(
    'INTERNAL',
    `Unexpected answer from ${apiLabel(context)} during ${context.operation ?? 'a request'}` +
      `${table ? ` on ${table}` : ''} (HTTP ${status}${code ? `, ${code}` : ''}).`,
    { cause, details },
  );
}

/** Connection-level codes that mean the server could not be reached at all. */
const CONNECT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** True when a transport failure happened before the request could have been sent. */
export function failedBeforeSending(code: string | null): boolean {
  return code !== null && CONNECT_CODES.has(code);
}

/**
 * Converts anything thrown while talking to Supabase into an AppError. AppErrors (pool errors,
 * validation) pass through unchanged.
 */
export function mapSupabaseError(err: unknown, context: SupabaseErrorContext = {}): AppError {
  if (err instanceof AppError) return err;
  if (!(err instanceof RequestFailure)) {
    return new DatabaseError(
      'INTERNAL',
      `Unexpected error while talking to ${apiLabel(context)}` +
        `${context.operation ? ` during ${context.operation}` : ''}${context.table ? ` on ${context.table.name}` : ''}.`,
      { cause: err },
    );
  }
  switch (err.kind) {
    case 'http':
      return mapHttp(err, context);
    case 'timeout':
      return new DatabaseError(
        'DB_TIMEOUT',
        `${ApiLabel(context)} did not answer the ${context.operation ?? 'request'}` +
          `${context.table ? ` on ${context.table.name}` : ''} within ${err.timeoutMs ?? '?'} ms.`,
        {
          cause: err,
          details: {
            ...baseDetails(err, context),
            timeout_ms: err.timeoutMs,
            outcome_unknown: err.outcomeUnknown,
          },
          retryAfterSeconds: 1,
        },
      );
    case 'too-long':
      return validation(
        `The ${context.operation ?? 'request'} on ${tableLabel(context)} is too long to send to the Supabase API ` +
          `(a URL of ${err.targetLength ?? '?'} characters): shorten the search text or the list of values.`,
        { ...baseDetails(err, context), url_length: err.targetLength },
        err,
      );
    case 'transport': {
      const reason = err.transportCode ?? 'connection error';
      return new DatabaseError(
        'DB_UNAVAILABLE',
        `Cannot reach ${apiLabel(context)} (${reason})` +
          (err.outcomeUnknown ? '; the request may or may not have been applied.' : '.'),
        {
          cause: err,
          details: { ...baseDetails(err, context), transport: reason, outcome_unknown: err.outcomeUnknown },
          retryAfterSeconds: 1,
        },
      );
    }
  }
}
