/**
 * One pooled Supabase "connection": a supabase-js client whose every request goes through its own
 * keep-alive undici `Agent` limited to one socket. supabase-js holds no database connection — the
 * real resource is the HTTP socket — so this makes the observed pool bound what actually matters:
 * pool size = concurrent sockets, a pool miss = a new TCP connection, create time = a real connect.
 *
 * The agent's `connect`/`disconnect` events are tracked: once the socket closes (server idle
 * timeout, reset, a timed-out request, our own close) the connection reports itself broken, so the
 * pool replaces it instead of the agent silently reconnecting behind the pool's back.
 *
 * supabase-js's own retries are off on every request (`.retry(false)`; supabase-js does not pass a
 * client-wide `retry` option through to postgrest-js, whose default retries GET/HEAD three times
 * with 1–4 s back-off). Retries are the adapter's decision (idempotent reads only).
 */
import { createClient, type RealtimeClientOptions, type SupabaseClient } from '@supabase/supabase-js';
import { Agent, WebSocket, fetch as undiciFetch } from 'undici';

import { compactQuery, requestTargetLength } from './encoding.js';
import { failedBeforeSending, RequestFailure, type UpstreamError } from './errors.js';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PATCH' | 'DELETE';

/** The parts of a postgrest-js result the adapter reads. */
export interface PostgrestResult {
  readonly data: unknown;
  readonly error: unknown;
  readonly count: number | null;
  readonly status: number;
}

/** A postgrest-js request builder, as far as the adapter uses it. */
export interface RequestBuilder extends PromiseLike<PostgrestResult> {
  abortSignal(signal: AbortSignal): RequestBuilder;
  retry(enabled: boolean): RequestBuilder;
}

/** What a successful request returned. */
export interface Reply {
  readonly data: unknown;
  /** From `Content-Range` when a count was asked for. */
  readonly count: number | null;
  readonly status: number;
}

export interface SupabaseConnectionOptions {
  /** Project URL (`https://xyz.supabase.co`), without a trailing slash. */
  readonly url: string;
  /** API key (secret: only ever put in request headers). */
  readonly key: string;
  /** Timeout of every request, connect included (ms). */
  readonly requestTimeoutMs: number;
  /** How long the idle socket is kept open by the client (ms); the server's own hint wins if shorter. */
  readonly keepAliveTimeoutMs: number;
  /** Table probed (`GET …?select=id&limit=0`) on open and by validate(). */
  readonly probeTable: string;
  /** Longest request target (path + query) sent; longer requests fail before sending. */
  readonly maxRequestTargetLength: number;
  /**
   * Largest response body accepted (bytes). A longer answer is not buffered: reading stops at the
   * limit, the socket is closed and the request fails as a bad gateway (502 DB_BAD_GATEWAY).
   */
  readonly maxResponseBytes: number;
}

/** The request being made on this connection: what the fetch wrapper saw. */
interface Exchange {
  readonly request: string;
  status: number | null;
  contentType: string | null;
  contentRange: string | null;
  error: unknown;
  timedOut: boolean;
  tooLong: number | null;
  /** Bytes read when the body exceeded maxResponseBytes (reading stopped there), else null. */
  tooLarge: number | null;
}

/** Gateway statuses: the request may have reached PostgREST (Cloudflare's 520–524 included). */
const GATEWAY_STATUSES: ReadonlySet<number> = new Set([502, 504, 520, 521, 522, 523, 524]);

/** Statuses whose responses have no body (the Response constructor refuses one). */
const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([101, 103, 204, 205, 304]);

let nextConnectionId = 1;

function errorCode(err: unknown): string | null {
  // undici wraps the socket error: TypeError('fetch failed', { cause: Error{ code } }).
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '' && code !== 'ABORT_ERR') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return null;
}

function isJson(contentType: string | null): boolean {
  return (
    contentType !== null && /^application\/(?:[\w.+-]*\+)?json|^application\/vnd\.pgrst/i.test(contentType)
  );
}

/** The error body postgrest-js parsed, if it has PostgREST's shape. */
function upstreamError(error: unknown): UpstreamError | null {
  if (error === null || typeof error !== 'object') return null;
  const e = error as Record<string, unknown>;
  const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  const code = text(e.code);
  return {
    code: code === '' ? null : code,
    message: text(e.message),
    details: text(e.details),
    hint: text(e.hint),
  };
}

/** The total of a `Content-Range` header (`0-9/23` → 23); null when absent or `*`. */
export function totalFromContentRange(header: string | null): number | null {
  const match = header === null ? null : /\/(\d+)\s*$/.exec(header);
  return match ? Number(match[1]) : null;
}

export class SupabaseConnection {
  /** Sequence number, for logs and tests. */
  readonly id = nextConnectionId++;
  readonly client: SupabaseClient;
  readonly #options: SupabaseConnectionOptions;
  readonly #agent: Agent;
  #socketsOpened = 0;
  #broken: string | null = null;
  #closing: Promise<void> | null = null;
  #exchange: Exchange | null = null;

  private constructor(options: SupabaseConnectionOptions) {
    this.#options = options;
    this.#agent = new Agent({
      connections: 1,
      pipelining: 1,
      keepAliveTimeout: options.keepAliveTimeoutMs,
      keepAliveMaxTimeout: options.keepAliveTimeoutMs,
      connect: { timeout: options.requestTimeoutMs },
    });
    this.#agent.on('connect', () => {
      this.#socketsOpened++;
      // The first socket is the connection; any later one would be a silent reconnect.
      if (this.#socketsOpened > 1) this.#broken ??= 'the agent reconnected';
    });
    this.#agent.on('disconnect', (_origin, _targets, err) => {
      this.#broken ??= `socket closed (${errorCode(err) ?? (err instanceof Error ? err.message : 'closed')})`;
    });
    this.#agent.on('connectionError', (_origin, _targets, err) => {
      this.#broken ??= `connect failed (${errorCode(err) ?? 'error'})`;
    });
    this.client = createClient(options.url, options.key, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      global: { fetch: this.#fetch },
      // Never used (no channels are opened), but Node 20 has no global WebSocket and realtime-js
      // refuses to construct without one.
      realtime: { transport: WebSocket as unknown as NonNullable<RealtimeClientOptions['transport']> },
    });
  }

  /**
   * Opens a connection: builds the client and its agent, then sends the probe, which opens the
   * socket (so the pool's create time is a real connect plus one round trip). Closes everything
   * again when the probe fails.
   */
  static async open(options: SupabaseConnectionOptions): Promise<SupabaseConnection> {
    const connection = new SupabaseConnection(options);
    try {
      await connection.probe();
      return connection;
    } catch (err) {
      await connection.close();
      throw err;
    }
  }

  /** True once the socket closed (or was never opened / was replaced) or close() was called. */
  get isBroken(): boolean {
    return this.#broken !== null || this.#closing !== null;
  }

  /** Why the connection is broken, or null. */
  get brokenReason(): string | null {
    return this.#broken;
  }

  /** TCP connections this connection's agent opened (1 for a healthy connection). */
  get socketsOpened(): number {
    return this.#socketsOpened;
  }

  /**
   * The health probe: `GET /rest/v1/<probeTable>?select=id&limit=0` (answer: `[]`). It proves the
   * socket, the gateway, the key, PostgREST, the database and the table in one round trip, and
   * costs the database a `LIMIT 0` query (no count: a count would scan the table on every health
   * check). Not HEAD: undici closes the socket after every HEAD request (nodejs/undici#258), so
   * each probe would cost a new TCP connection.
   */
  async probe(): Promise<void> {
    const reply = await this.send('GET', this.#options.probeTable, (client) =>
      client.from(this.#options.probeTable).select('id').limit(0),
    );
    if (!Array.isArray(reply.data)) {
      throw new RequestFailure({
        kind: 'http',
        request: `GET /rest/v1/${this.#options.probeTable}`,
        status: reply.status,
        parsable: false,
      });
    }
  }

  /**
   * Sends one request built by `build` on this connection's socket, with the request timeout, and
   * returns its reply or throws a {@link RequestFailure}. The connection is lent to one caller at
   * a time (the pool guarantees it), so the exchange being recorded is this request's.
   */
  async send(
    method: HttpMethod,
    table: string,
    build: (client: SupabaseClient) => RequestBuilder,
  ): Promise<Reply> {
    const request = `${method} /rest/v1/${table}`;
    if (this.#exchange !== null)
      throw new Error(`Supabase connection ${this.id} is already sending a request.`);
    if (this.#closing !== null) {
      throw new RequestFailure({ kind: 'transport', request, transportCode: 'CONNECTION_CLOSED' });
    }
    const exchange: Exchange = {
      request,
      status: null,
      contentType: null,
      contentRange: null,
      error: undefined,
      timedOut: false,
      tooLong: null,
      tooLarge: null,
    };
    this.#exchange = exchange;
    const controller = new AbortController();
    const timeoutMs = this.#options.requestTimeoutMs;
    const timer = setTimeout(() => {
      exchange.timedOut = true;
      controller.abort();
    }, timeoutMs);
    let result: PostgrestResult;
    try {
      result = await build(this.client).abortSignal(controller.signal).retry(false);
    } finally {
      clearTimeout(timer);
      this.#exchange = null;
    }
    return this.#interpret(method, exchange, result, timeoutMs);
  }

  #interpret(method: HttpMethod, exchange: Exchange, result: PostgrestResult, timeoutMs: number): Reply {
    const { request } = exchange;
    // undici destroys the socket of an aborted or failed request, but the 'disconnect' event comes
    // a tick later: mark the connection broken now, so the pool discards it on this release
    // instead of lending it again in the meantime.
    if (exchange.timedOut && (result.error !== null || exchange.status === null)) {
      this.#broken ??= 'request timed out';
    } else if (exchange.error !== undefined && exchange.tooLong === null && exchange.tooLarge === null) {
      this.#broken ??= `request failed (${errorCode(exchange.error) ?? 'transport error'})`;
    }
    const writes = method !== 'GET' && method !== 'HEAD';
    if (exchange.tooLarge !== null) {
      // Not JSON we will parse: a bad gateway (a write's outcome is unknown: it may have run).
      this.#broken ??= 'response too large';
      throw new RequestFailure({
        kind: 'http',
        request,
        status: exchange.status,
        parsable: false,
        outcomeUnknown: writes,
      });
    }
    if (exchange.tooLong !== null) {
      throw new RequestFailure({ kind: 'too-long', request, targetLength: exchange.tooLong });
    }
    if (exchange.timedOut && (result.error !== null || exchange.status === null)) {
      throw new RequestFailure({
        kind: 'timeout',
        request,
        timeoutMs,
        outcomeUnknown: writes,
        status: exchange.status,
      });
    }
    if (exchange.error !== undefined) {
      const code = errorCode(exchange.error);
      throw new RequestFailure({
        kind: 'transport',
        request,
        transportCode: code,
        status: exchange.status,
        outcomeUnknown: writes && !failedBeforeSending(code),
        cause: exchange.error,
      });
    }
    const status = exchange.status ?? result.status;
    // postgrest-js reports a HEAD 404 (no body) as a success with no data: the status decides.
    if (result.error !== null || status >= 400) {
      // A HEAD answer has no body to judge; an error body must be JSON; a 2xx with an error means
      // postgrest-js could not parse the body.
      const parsable = method === 'HEAD' || (status >= 400 && isJson(exchange.contentType));
      // A gateway error (or a non-PostgREST 5xx) on a write does not prove that nothing was
      // applied: the proxy may have forwarded the request and lost or timed out the answer.
      const gateway = GATEWAY_STATUSES.has(status) || (!parsable && status >= 500);
      throw new RequestFailure({
        kind: 'http',
        request,
        status,
        parsable,
        outcomeUnknown: writes && gateway,
        upstream: parsable && method !== 'HEAD' ? upstreamError(result.error) : null,
        contentRange: exchange.contentRange,
      });
    }
    const count = result.count ?? totalFromContentRange(exchange.contentRange);
    return { data: result.data, count: Number.isFinite(count) ? count : null, status };
  }

  /**
   * supabase-js's `global.fetch`: undici's fetch on this connection's agent. It shortens the query
   * (see compactQuery), refuses URLs longer than the limit, records what happened for #interpret,
   * and reads the whole body here, so a connection that dies mid-body is seen as a transport
   * failure (not as a body postgrest-js could not parse).
   */
  readonly #fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const exchange = this.#exchange;
    const raw = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const url = compactQuery(raw);
    const target = requestTargetLength(url);
    if (target > this.#options.maxRequestTargetLength) {
      const error = new RangeError(
        `request target of ${target} characters exceeds ${this.#options.maxRequestTargetLength}`,
      );
      if (exchange !== null) exchange.tooLong = target;
      throw error;
    }
    const method = (init?.method ?? 'GET').toUpperCase();
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((value, name) => {
      headers[name] = value;
    });
    try {
      const response = await undiciFetch(url, {
        method,
        headers,
        body: typeof init?.body === 'string' ? init.body : undefined,
        signal: init?.signal ?? null,
        dispatcher: this.#agent,
      });
      if (exchange !== null) {
        exchange.status = response.status;
        exchange.contentType = response.headers.get('content-type');
        exchange.contentRange = response.headers.get('content-range');
      }
      const noBody = method === 'HEAD' || NULL_BODY_STATUSES.has(response.status);
      const body = noBody ? null : await this.#readBody(response, exchange);
      return new Response(body, {
        status: response.status,
        statusText: response.statusText,
        headers: [...response.headers.entries()],
      });
    } catch (err) {
      if (exchange !== null) exchange.error ??= err;
      throw err;
    }
  };

  /**
   * The whole body, read chunk by chunk up to maxResponseBytes; beyond it reading stops, the
   * stream is cancelled (undici closes the socket) and the exchange is marked `tooLarge`.
   */
  async #readBody(
    response: Awaited<ReturnType<typeof undiciFetch>>,
    exchange: Exchange | null,
  ): Promise<Uint8Array> {
    const limit = this.#options.maxResponseBytes;
    const declared = Number(response.headers.get('content-length') ?? NaN);
    const tooLarge = (bytes: number): Error => {
      if (exchange !== null) exchange.tooLarge = bytes;
      return new RangeError(`response body over ${limit} bytes`);
    };
    if (Number.isFinite(declared) && declared > limit) {
      await response.body?.cancel().catch(() => undefined);
      throw tooLarge(declared);
    }
    const body = response.body;
    if (body === null) return new Uint8Array(0);
    const reader = body.getReader();
    const parts: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        parts.length = 0;
        await reader.cancel().catch(() => undefined);
        throw tooLarge(size);
      }
      parts.push(value);
    }
    const out = new Uint8Array(size);
    let offset = 0;
    for (const part of parts) {
      out.set(part, offset);
      offset += part.byteLength;
    }
    return out;
  }

  /** Closes the agent and its socket at once (in-flight requests fail). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#agent.destroy().catch(() => undefined);
    return this.#closing;
  }
}
