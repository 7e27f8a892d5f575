/**
 * PostgREST error bodies and the PostgreSQL-error → HTTP-status mapping.
 *
 * Bodies always have PostgREST's four keys, in PostgREST's order: `{code, details, hint, message}`.
 * Status mapping: docs/references/errors.rst ("HTTP Status Codes") of PostgREST v12.
 */

/** The JSON body PostgREST sends for every error. */
export interface PostgrestErrorBody {
  readonly code: string;
  readonly details: string | null;
  readonly hint: string | null;
  readonly message: string;
}

/**
 * An error that is answered as-is: status, PostgREST body and optional extra headers.
 * Thrown anywhere in request handling; caught once in the server.
 */
export class PostgrestHttpError extends Error {
  readonly status: number;
  readonly body: PostgrestErrorBody;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, body: PostgrestErrorBody, headers: Record<string, string> = {}) {
    super(`${status} ${body.code}: ${body.message}`);
    this.name = 'PostgrestHttpError';
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

export function pgrstError(
  status: number,
  code: string,
  message: string,
  details: string | null = null,
  hint: string | null = null,
  headers: Record<string, string> = {},
): PostgrestHttpError {
  return new PostgrestHttpError(status, { code, details, hint, message }, headers);
}

/** PGRST100: a query-string parameter could not be parsed (message formatted like Parsec's). */
export function parseError(what: string, input: string, column: number, details: string): PostgrestHttpError {
  return pgrstError(
    400,
    'PGRST100',
    `"failed to parse ${what} (${input})" (line 1, column ${column})`,
    details,
  );
}

/**
 * A PostgREST feature this test server deliberately does not implement. 501 with a code no real
 * PostgREST uses, so an adapter test that hits it fails loudly instead of passing on a guess.
 */
export function notImplemented(feature: string): PostgrestHttpError {
  return pgrstError(
    501,
    'PGRST_TEST_501',
    `${feature} is not implemented by the PostgREST test server`,
    null,
    'See test/support/postgrest/README.md for the implemented subset.',
  );
}

/** PGRST204: a column named in `columns=` or in the JSON body is not in the schema cache. */
export function columnNotFoundInCache(column: string, table: string): PostgrestHttpError {
  return pgrstError(
    400,
    'PGRST204',
    `Could not find the '${column}' column of '${table}' in the schema cache`,
  );
}

/** 42703 exactly as PostgreSQL words it for a table-qualified column reference. */
export function undefinedColumn(table: string, column: string): PostgrestHttpError {
  return pgrstError(400, '42703', `column ${table}.${column} does not exist`);
}

/** What a PostgreSQL driver error must look like for us to forward it (pg and PGlite both fit). */
export interface PgErrorFields {
  readonly code: string;
  readonly message: string;
  readonly detail: string | null;
  readonly hint: string | null;
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

/** Extracts SQLSTATE, message, detail and hint from a pg `DatabaseError` or a PGlite error. */
export function asPgError(error: unknown): PgErrorFields | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const record = error as Record<string, unknown>;
  const code = record['code'];
  const message = record['message'];
  if (typeof code !== 'string' || !SQLSTATE.test(code) || typeof message !== 'string') return undefined;
  const detail = record['detail'];
  const hint = record['hint'];
  return {
    code,
    message,
    detail: typeof detail === 'string' ? detail : null,
    hint: typeof hint === 'string' ? hint : null,
  };
}

/**
 * PostgREST v12's SQLSTATE → HTTP status table. `authenticated` decides 42501 (403 with a JWT,
 * 401 without), as PostgREST does.
 */
export function statusForSqlState(code: string, authenticated: boolean): number {
  const exact: Record<string, number> = {
    '23503': 409,
    '23505': 409,
    '25006': 405,
    '53400': 500,
    P0001: 400,
    '42883': 404,
    '42P01': 404,
    '42P17': 500,
  };
  const fixed = exact[code];
  if (fixed !== undefined) return fixed;
  if (code === '42501') return authenticated ? 403 : 401;
  // PTxyz: a RAISE asking for HTTP status xyz.
  if (/^PT\d{3}$/.test(code)) return Number(code.slice(2));
  const byClass: Record<string, number> = {
    '08': 503,
    '09': 500,
    '0L': 403,
    '0P': 403,
    '25': 500,
    '28': 403,
    '2D': 500,
    '38': 500,
    '39': 500,
    '3B': 500,
    '40': 500,
    '53': 503,
    '54': 500,
    '55': 500,
    '57': 500,
    '58': 500,
    F0: 500,
    HV: 500,
    P0: 500,
    XX: 500,
  };
  return byClass[code.slice(0, 2)] ?? 400;
}

/** A database error as PostgREST forwards it. */
export function fromPgError(error: PgErrorFields, authenticated: boolean): PostgrestHttpError {
  return new PostgrestHttpError(statusForSqlState(error.code, authenticated), {
    code: error.code,
    details: error.detail,
    hint: error.hint,
    message: error.message,
  });
}
