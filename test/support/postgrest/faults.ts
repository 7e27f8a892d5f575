/**
 * Runtime-settable faults of the test server. The state lives here; the server asks
 * {@link FaultState.nextRequestFault} once per request and implements connection refusal.
 *
 * Precedence when several are armed: black hole > reset > HTML 502 > JSON 5xx; latency delays
 * every answer (including injected errors) and never a black-holed or reset request.
 */

export type ResetPhase = 'before-response' | 'mid-response';
export type RefuseMode = 'reset' | 'close';

export type RequestFault =
  | { readonly kind: 'none' }
  | { readonly kind: 'black-hole' }
  | { readonly kind: 'reset'; readonly phase: ResetPhase }
  | { readonly kind: 'html'; readonly status: number }
  | { readonly kind: 'fail'; readonly status: number; readonly body: unknown };

/** The public face of the faults (what tests call). */
export interface FaultController {
  /** Delay in ms before every answer; 0 turns it off. */
  latencyMs: number;
  /** Accept requests and never answer them (until the client gives up, `clear()` or `stop()`). */
  blackHole: boolean;
  /** Answer the next `count` requests with `status` (5xx) and a PostgREST-shaped JSON body. */
  failNext(count: number, status?: number, body?: unknown): void;
  /** Destroy the socket (TCP RST) on the next `count` requests, before or in the middle of the answer. */
  resetNext(count: number, phase?: ResetPhase): void;
  /** Answer the next `count` requests with an HTML 502 page, like a proxy in front of PostgREST. */
  htmlNext(count: number, status?: number): void;
  /**
   * Refuse new connections: `reset` accepts and immediately resets them (ECONNRESET); `close` stops
   * listening (ECONNREFUSED). Either way the sockets already open are destroyed.
   */
  refuseConnections(mode?: RefuseMode): Promise<void>;
  /** Undo `refuseConnections` (listening again on the same port for `close`). */
  acceptConnections(): Promise<void>;
  readonly refusing: RefuseMode | false;
  /** Disarms everything, drops black-holed requests and accepts connections again. */
  clear(): Promise<void>;
  /** What is still armed (for assertions). */
  readonly armed: { readonly fail: number; readonly reset: number; readonly html: number };
}

interface Queued<T> {
  remaining: number;
  readonly value: T;
}

function takeFrom<T>(queue: Queued<T>[]): T | undefined {
  const head = queue[0];
  if (head === undefined) return undefined;
  head.remaining -= 1;
  if (head.remaining <= 0) queue.shift();
  return head.value;
}

function sum<T>(queue: readonly Queued<T>[]): number {
  return queue.reduce((total, item) => total + item.remaining, 0);
}

function checkCount(count: number): void {
  if (!Number.isInteger(count) || count < 0)
    throw new RangeError(`fault count must be a non-negative integer, got ${count}`);
}

function checkStatus(status: number, min: number): void {
  if (!Number.isInteger(status) || status < min || status > 599)
    throw new RangeError(`fault status must be in ${min}..599, got ${status}`);
}

/** Default JSON bodies: what PostgREST (or the proxy) sends for these statuses. */
function defaultFailBody(status: number): unknown {
  if (status === 503) {
    return {
      code: 'PGRST001',
      details: null,
      hint: null,
      message: 'Database client error. Retrying the connection.',
    };
  }
  if (status === 504) {
    return {
      code: 'PGRST003',
      details: null,
      hint: null,
      message: 'Timed out acquiring connection from connection pool.',
    };
  }
  return {
    code: 'XX000',
    details: 'injected by the PostgREST test server',
    hint: null,
    message: `injected fault (${status})`,
  };
}

export class FaultState {
  latencyMs = 0;
  blackHole = false;
  refusing: RefuseMode | false = false;
  readonly #fail: Queued<{ status: number; body: unknown }>[] = [];
  readonly #reset: Queued<ResetPhase>[] = [];
  readonly #html: Queued<number>[] = [];

  failNext(count: number, status = 500, body?: unknown): void {
    checkCount(count);
    checkStatus(status, 500);
    if (count > 0)
      this.#fail.push({ remaining: count, value: { status, body: body ?? defaultFailBody(status) } });
  }

  resetNext(count: number, phase: ResetPhase = 'before-response'): void {
    checkCount(count);
    if (phase !== 'before-response' && phase !== 'mid-response')
      throw new RangeError(`unknown reset phase ${String(phase)}`);
    if (count > 0) this.#reset.push({ remaining: count, value: phase });
  }

  htmlNext(count: number, status = 502): void {
    checkCount(count);
    checkStatus(status, 400);
    if (count > 0) this.#html.push({ remaining: count, value: status });
  }

  get armed(): { fail: number; reset: number; html: number } {
    return { fail: sum(this.#fail), reset: sum(this.#reset), html: sum(this.#html) };
  }

  /** Consumes (at most) one armed fault for the request being handled. */
  nextRequestFault(): RequestFault {
    if (this.blackHole) return { kind: 'black-hole' };
    const phase = takeFrom(this.#reset);
    if (phase !== undefined) return { kind: 'reset', phase };
    const html = takeFrom(this.#html);
    if (html !== undefined) return { kind: 'html', status: html };
    const fail = takeFrom(this.#fail);
    if (fail !== undefined) return { kind: 'fail', status: fail.status, body: fail.body };
    return { kind: 'none' };
  }

  disarm(): void {
    this.latencyMs = 0;
    this.blackHole = false;
    this.#fail.length = 0;
    this.#reset.length = 0;
    this.#html.length = 0;
  }
}

export function htmlErrorPage(status: number): string {
  const title = status === 502 ? '502 Bad Gateway' : `${status} Error`;
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>test-proxy</center>\r\n</body>\r\n</html>\r\n`;
}
