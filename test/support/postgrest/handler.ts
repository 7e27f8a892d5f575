/**
 * The PostgREST protocol: one function from a buffered HTTP request to a response. No sockets
 * here (see server.ts); everything a test observes about PostgREST semantics is decided here.
 */
import type { IncomingHttpHeaders } from 'node:http';

import { asPgError, fromPgError, notImplemented, pgrstError, PostgrestHttpError } from './errors.js';
import type { SqlExecutor } from './executor.js';
import { assertStrictPreferences, parsePreferences, preferenceAppliedHeader } from './preferences.js';
import type { Preferences } from './preferences.js';
import { parseQueryParams } from './query-params.js';
import type { QueryParams } from './query-params.js';
import { capRange, contentRange, readRangeStatus, requestedRange } from './range.js';
import type { SchemaCache, TableInfo } from './schema-cache.js';
import { buildDelete, buildInsert, buildRead, buildUpdate, writeColumns } from './sql-builder.js';
import type { BodyShape, ResultRow, Statement, WriteOutput } from './sql-builder.js';

export interface ApiRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface ApiResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** Omitted for empty bodies (and never sent for HEAD). */
  readonly body?: string;
}

export interface HandlerOptions {
  readonly executor: SqlExecutor;
  /** The current schema cache. */
  readonly schema: () => Promise<SchemaCache>;
  /** Reloads the cache (deduplicated by the caller). */
  readonly reloadSchema: () => Promise<void>;
  readonly autoReloadSchema: boolean;
  readonly maxRows: number | undefined;
  readonly requiredKey: string | undefined;
  readonly missingTableError: '42P01' | 'PGRST205';
  readonly safeUpdate: boolean;
}

export const REST_PREFIX = '/rest/v1/';
const JSON_TYPE = 'application/json; charset=utf-8';
const SERVER_HEADER = 'postgrest/12.2.3 (bookswriter test server)';

/** What the client accepts for the response body (`Accept` negotiation). */
interface MediaChoice {
  readonly shape: BodyShape;
  readonly stripNulls: boolean;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function errorResponse(error: PostgrestHttpError): ApiResponse {
  return {
    status: error.status,
    headers: { 'Content-Type': JSON_TYPE, ...error.headers },
    body: JSON.stringify(error.body),
  };
}

/** Kong (Supabase's gateway) answers these before PostgREST sees the request. */
function gatewayError(status: number, message: string, hint?: string): ApiResponse {
  return {
    status,
    headers: { 'Content-Type': JSON_TYPE },
    body: JSON.stringify(hint === undefined ? { message } : { message, hint }),
  };
}

function negotiateMedia(accept: string | undefined): MediaChoice {
  if (accept === undefined || accept.trim() === '') return { shape: 'array', stripNulls: false };
  for (const part of accept.split(',')) {
    const [typeText = '', ...paramTexts] = part.split(';').map((piece) => piece.trim());
    const type = typeText.toLowerCase();
    const stripNulls = paramTexts.some(
      (param) => param.replace(/\s/g, '').toLowerCase() === 'nulls=stripped',
    );
    if (type === '*/*' || type === 'application/*' || type === 'application/json')
      return { shape: 'array', stripNulls: false };
    if (type === 'application/vnd.pgrst.object+json' || type === 'application/vnd.pgrst.object')
      return { shape: 'singular', stripNulls };
    if (type === 'application/vnd.pgrst.array+json' || type === 'application/vnd.pgrst.array')
      return { shape: 'array', stripNulls };
  }
  if (/text\/csv|application\/geo\+json|vnd\.pgrst\.plan/i.test(accept)) {
    throw notImplemented(`The media type in "Accept: ${accept}"`);
  }
  throw pgrstError(406, 'PGRST107', `None of these media types are available: ${accept}`);
}

function contentType(media: MediaChoice): string {
  if (!media.stripNulls)
    return media.shape === 'singular' ? 'application/vnd.pgrst.object+json; charset=utf-8' : JSON_TYPE;
  const base =
    media.shape === 'singular' ? 'application/vnd.pgrst.object+json' : 'application/vnd.pgrst.array+json';
  return `${base};nulls=stripped; charset=utf-8`;
}

function singularError(rows: number): PostgrestHttpError {
  return pgrstError(
    406,
    'PGRST116',
    'JSON object requested, multiple (or no) rows returned',
    `The result contains ${rows} rows`,
  );
}

interface ParsedPayload {
  /** The raw text, bound as one JSON parameter (numbers keep their full precision). */
  readonly raw: string;
  /** Column names: `columns=` if given, else the keys of the (first) object. */
  readonly keys: readonly string[];
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** PostgREST's payload checks (src/PostgREST/ApiRequest/Payload.hs): PGRST102 on bad JSON or mixed keys. */
function parsePayload(body: Buffer, columns: readonly string[] | undefined): ParsedPayload {
  const raw = body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = raw.trim() === '' ? undefined : JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  if (!isPlainObject(parsed) && !Array.isArray(parsed))
    throw pgrstError(400, 'PGRST102', 'Empty or invalid json');
  const items: unknown[] = Array.isArray(parsed) ? parsed : [parsed];
  if (!items.every(isPlainObject)) throw pgrstError(400, 'PGRST102', 'All object keys must match');
  if (columns !== undefined) return { raw, keys: [...new Set(columns)] };
  const [first, ...rest] = items;
  const keys = first === undefined ? [] : Object.keys(first);
  const keySet = new Set(keys);
  for (const item of rest) {
    const other = Object.keys(item);
    if (other.length !== keySet.size || !other.every((key) => keySet.has(key))) {
      throw pgrstError(400, 'PGRST102', 'All object keys must match');
    }
  }
  return { raw, keys };
}

/** Reloadable errors raised while planning (before any SQL ran): a stale cache may explain them. */
const SCHEMA_ERROR_CODES = new Set(['42P01', 'PGRST205', '42703', 'PGRST204']);

export function createApiHandler(options: HandlerOptions): (request: ApiRequest) => Promise<ApiResponse> {
  const { executor } = options;

  function missingTable(schema: string, name: string): PostgrestHttpError {
    if (options.missingTableError === 'PGRST205') {
      return pgrstError(404, 'PGRST205', `Could not find the table '${schema}.${name}' in the schema cache`);
    }
    return pgrstError(404, '42P01', `relation "${schema}.${name}" does not exist`);
  }

  /** Plans against the cache; on a schema-shaped error, reloads once and plans again (see README). */
  async function plan<T>(tableName: string, build: (table: TableInfo) => T): Promise<T> {
    const attempt = async (): Promise<T> => {
      const cache = await options.schema();
      const table = cache.tables.get(tableName);
      if (table === undefined) throw missingTable(cache.schema, tableName);
      return build(table);
    };
    try {
      return await attempt();
    } catch (error) {
      if (
        !options.autoReloadSchema ||
        !(error instanceof PostgrestHttpError) ||
        !SCHEMA_ERROR_CODES.has(error.body.code)
      ) {
        throw error;
      }
      await options.reloadSchema();
      return attempt();
    }
  }

  async function run(
    statement: Statement,
    readOnly: boolean,
    check: (row: ResultRow) => void,
    authenticated: boolean,
  ): Promise<ResultRow> {
    try {
      return await executor.transaction(
        async (tx) => {
          const result = await tx.query<ResultRow>(statement.text, statement.params);
          const row = result.rows[0];
          if (row === undefined) throw new Error('statement returned no row');
          // Throwing here rolls the transaction back (singular/max-affected violations).
          check(row);
          return row;
        },
        { readOnly },
      );
    } catch (error) {
      const pg = asPgError(error);
      if (pg !== undefined) throw fromPgError(pg, authenticated);
      throw error;
    }
  }

  function withProfile(
    headers: Record<string, string>,
    profile: string | undefined,
    schema: string,
  ): Record<string, string> {
    return profile === undefined ? headers : { ...headers, 'Content-Profile': schema };
  }

  async function handleRead(
    request: ApiRequest,
    tableName: string,
    query: QueryParams,
    prefs: Preferences,
    media: MediaChoice,
    profile: string | undefined,
    authenticated: boolean,
  ): Promise<ApiResponse> {
    const range = capRange(
      requestedRange(query.limit, query.offset, header(request.headers, 'range')),
      options.maxRows,
    );
    const count = prefs.count !== undefined;
    const { statement, schema } = await plan(tableName, (table) => ({
      schema: table.schema,
      statement: buildRead({
        table,
        select: query.select,
        filters: query.filters,
        logic: query.logic,
        order: query.order,
        range,
        count,
        shape: media.shape,
        stripNulls: media.stripNulls,
      }),
    }));
    const row = await run(statement, true, () => undefined, authenticated);
    const pageTotal = Number(row.page_total);
    const total = row.total_result_set === null ? undefined : Number(row.total_result_set);
    if (media.shape === 'singular' && pageTotal !== 1) throw singularError(pageTotal);
    const { status, contentRange: rangeHeader } = readRangeStatus(range.offset, pageTotal, total);
    if (status === 416) {
      throw pgrstError(
        416,
        'PGRST103',
        'Requested range not satisfiable',
        `An offset of ${range.offset} was requested, but there are only ${total ?? 0} rows.`,
        null,
        {
          'Content-Range': rangeHeader,
        },
      );
    }
    const headers: Record<string, string> = {
      'Content-Type': contentType(media),
      'Content-Range': rangeHeader,
      'Content-Location': `/${tableName}${query.canonical === '' ? '' : `?${query.canonical}`}`,
    };
    const applied = preferenceAppliedHeader(prefs, { count: true, handling: true });
    if (applied !== undefined) headers['Preference-Applied'] = applied;
    return { status, headers: withProfile(headers, profile, schema), body: row.body };
  }

  function writeOutput(query: QueryParams, prefs: Preferences, media: MediaChoice): WriteOutput {
    if (prefs.representation === 'headers-only') throw notImplemented('Prefer: return=headers-only');
    return {
      select: query.select,
      representation: prefs.representation === 'representation',
      shape: media.shape,
      stripNulls: media.stripNulls,
    };
  }

  function maxAffectedCheck(prefs: Preferences): (row: ResultRow) => void {
    return (row) => {
      const affected = Number(row.page_total);
      if (prefs.handling === 'strict' && prefs.maxAffected !== undefined && affected > prefs.maxAffected) {
        throw pgrstError(
          400,
          'PGRST124',
          'Query result exceeds max-affected preference constraint',
          `The query affects ${affected} rows`,
        );
      }
    };
  }

  function singularCheck(media: MediaChoice): (row: ResultRow) => void {
    return (row) => {
      const rows = Number(row.page_total);
      if (media.shape === 'singular' && rows !== 1) throw singularError(rows);
    };
  }

  function writeResponse(
    status: number,
    headers: Record<string, string>,
    row: ResultRow,
    output: WriteOutput,
    media: MediaChoice,
    profile: string | undefined,
    schema: string,
  ): ApiResponse {
    if (!output.representation) return { status, headers };
    return {
      status,
      headers: withProfile({ ...headers, 'Content-Type': contentType(media) }, profile, schema),
      body: row.body,
    };
  }

  async function handleInsert(
    request: ApiRequest,
    tableName: string,
    query: QueryParams,
    prefs: Preferences,
    media: MediaChoice,
    profile: string | undefined,
    authenticated: boolean,
  ): Promise<ApiResponse> {
    const output = writeOutput(query, prefs, media);
    const payload = parsePayload(request.body, query.columns);
    const { statement, schema, resolutionApplies } = await plan(tableName, (table) => {
      const conflictColumns = query.onConflict ?? table.primaryKey;
      const resolutionApplies = query.onConflict !== undefined || table.primaryKey.length > 0;
      return {
        schema: table.schema,
        resolutionApplies,
        statement: buildInsert({
          table,
          columns: writeColumns(table, payload.keys),
          rawBody: payload.raw,
          applyDefaults: prefs.missing === 'default',
          ...(prefs.resolution === undefined
            ? {}
            : { onConflict: { columns: conflictColumns, resolution: prefs.resolution } }),
          output,
        }),
      };
    });
    const row = await run(statement, false, singularCheck(media), authenticated);
    const affected = Number(row.page_total);
    const inserted = row.inserted === null ? affected : Number(row.inserted);
    const status = inserted <= 0 && prefs.resolution === 'merge-duplicates' ? 200 : 201;
    const headers: Record<string, string> = {
      'Content-Range': contentRange(1, 0, prefs.count === undefined ? undefined : affected),
    };
    const applied = preferenceAppliedHeader(prefs, {
      resolution: resolutionApplies,
      missing: true,
      representation: true,
      count: true,
      handling: true,
    });
    if (applied !== undefined) headers['Preference-Applied'] = applied;
    return writeResponse(status, headers, row, output, media, profile, schema);
  }

  async function handleUpdate(
    request: ApiRequest,
    tableName: string,
    query: QueryParams,
    prefs: Preferences,
    media: MediaChoice,
    profile: string | undefined,
    authenticated: boolean,
  ): Promise<ApiResponse> {
    rejectLimits(query);
    const output = writeOutput(query, prefs, media);
    const payload = parsePayload(request.body, query.columns);
    const { statement, schema } = await plan(tableName, (table) => ({
      schema: table.schema,
      statement: buildUpdate({
        table,
        columns: writeColumns(table, payload.keys),
        rawBody: payload.raw,
        applyDefaults: prefs.missing === 'default',
        filters: query.filters,
        logic: query.logic,
        safeUpdate: options.safeUpdate,
        output,
      }),
    }));
    const singular = singularCheck(media);
    const maxAffected = maxAffectedCheck(prefs);
    const row = await run(statement, false, (r) => (singular(r), maxAffected(r)), authenticated);
    const affected = Number(row.page_total);
    const headers: Record<string, string> = {
      'Content-Range': contentRange(0, affected - 1, prefs.count === undefined ? undefined : affected),
    };
    const applied = preferenceAppliedHeader(prefs, {
      missing: true,
      representation: true,
      count: true,
      handling: true,
      maxAffected: true,
    });
    if (applied !== undefined) headers['Preference-Applied'] = applied;
    return writeResponse(output.representation ? 200 : 204, headers, row, output, media, profile, schema);
  }

  async function handleDelete(
    tableName: string,
    query: QueryParams,
    prefs: Preferences,
    media: MediaChoice,
    profile: string | undefined,
    authenticated: boolean,
  ): Promise<ApiResponse> {
    rejectLimits(query);
    const output = writeOutput(query, prefs, media);
    const { statement, schema } = await plan(tableName, (table) => ({
      schema: table.schema,
      statement: buildDelete({
        table,
        filters: query.filters,
        logic: query.logic,
        safeUpdate: options.safeUpdate,
        output,
      }),
    }));
    const singular = singularCheck(media);
    const maxAffected = maxAffectedCheck(prefs);
    const row = await run(statement, false, (r) => (singular(r), maxAffected(r)), authenticated);
    const affected = Number(row.page_total);
    const headers: Record<string, string> = {
      'Content-Range': contentRange(1, 0, prefs.count === undefined ? undefined : affected),
    };
    const applied = preferenceAppliedHeader(prefs, {
      representation: true,
      count: true,
      handling: true,
      maxAffected: true,
    });
    if (applied !== undefined) headers['Preference-Applied'] = applied;
    return writeResponse(output.representation ? 200 : 204, headers, row, output, media, profile, schema);
  }

  /** Limited updates/deletes (`limit` + `order` on PATCH/DELETE) are not implemented. */
  function rejectLimits(query: QueryParams): void {
    if (query.limit !== undefined || query.offset !== undefined)
      throw notImplemented('limit/offset on PATCH and DELETE');
  }

  function checkAuth(request: ApiRequest): ApiResponse | undefined {
    if (options.requiredKey === undefined) return undefined;
    const apikey = header(request.headers, 'apikey');
    if (apikey === undefined)
      return gatewayError(
        401,
        'No API key found in request',
        'No `apikey` request header or url param was found.',
      );
    if (apikey !== options.requiredKey)
      return gatewayError(
        401,
        'Invalid API key',
        'Double check your Supabase `anon` or `service_role` API key.',
      );
    return undefined;
  }

  async function dispatch(request: ApiRequest): Promise<ApiResponse> {
    const { pathname } = request.url;
    if (!pathname.startsWith(REST_PREFIX)) return gatewayError(404, 'no Route matched with those values');
    const denied = checkAuth(request);
    if (denied !== undefined) return denied;

    let resource: string;
    try {
      resource = decodeURIComponent(pathname.slice(REST_PREFIX.length));
    } catch {
      return { status: 404, headers: {} }; // malformed percent-encoding names no relation
    }
    if (resource === '') throw notImplemented('The OpenAPI root endpoint');
    if (resource.startsWith('rpc/')) throw notImplemented('Functions (/rpc/...)');
    if (resource.includes('/')) return { status: 404, headers: {} };

    const method = request.method.toUpperCase();
    const isRead = method === 'GET' || method === 'HEAD';
    const profile = header(request.headers, isRead ? 'accept-profile' : 'content-profile');
    const schema = (await options.schema()).schema;
    if (profile !== undefined && profile !== schema) {
      throw pgrstError(406, 'PGRST106', `The schema must be one of the following: ${schema}`);
    }
    if (method === 'OPTIONS') {
      return {
        status: 200,
        headers: { Allow: 'OPTIONS,GET,HEAD,POST,PATCH,DELETE', 'Access-Control-Allow-Origin': '*' },
      };
    }
    if (method === 'PUT') throw notImplemented('PUT (single-row upsert)');
    if (!['GET', 'HEAD', 'POST', 'PATCH', 'DELETE'].includes(method)) {
      throw pgrstError(405, 'PGRST117', `Unsupported HTTP method: ${method}`);
    }
    if (method === 'POST' || method === 'PATCH') {
      const type = header(request.headers, 'content-type')?.split(';')[0]?.trim().toLowerCase();
      if (type === 'text/csv' || type === 'application/x-www-form-urlencoded')
        throw notImplemented(`Request bodies of type ${type}`);
      // PostgREST reports an unusable body type as a payload error (PGRST102, 400), not as 415.
      if (type !== undefined && type !== '' && type !== 'application/json') {
        throw pgrstError(400, 'PGRST102', `Content-Type not acceptable: ${type}`);
      }
    }

    const query = parseQueryParams(request.url.searchParams);
    const prefs = parsePreferences(header(request.headers, 'prefer'));
    assertStrictPreferences(prefs);
    const media = negotiateMedia(header(request.headers, 'accept'));
    const authenticated = /^bearer\s+\S/i.test(header(request.headers, 'authorization') ?? '');

    switch (method) {
      case 'GET':
      case 'HEAD':
        return handleRead(request, resource, query, prefs, media, profile, authenticated);
      case 'POST':
        return handleInsert(request, resource, query, prefs, media, profile, authenticated);
      case 'PATCH':
        return handleUpdate(request, resource, query, prefs, media, profile, authenticated);
      default:
        return handleDelete(resource, query, prefs, media, profile, authenticated);
    }
  }

  return async (request: ApiRequest): Promise<ApiResponse> => {
    let response: ApiResponse;
    try {
      response = await dispatch(request);
    } catch (error) {
      if (error instanceof PostgrestHttpError) {
        response = errorResponse(error);
      } else {
        const message = error instanceof Error ? error.message : String(error);
        response = errorResponse(pgrstError(500, 'PGRST_TEST_500', `test server failure: ${message}`));
      }
    }
    return { ...response, headers: { Server: SERVER_HEADER, ...response.headers } };
  };
}
