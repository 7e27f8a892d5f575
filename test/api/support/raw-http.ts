/**
 * HTTP on a raw TCP socket, for what fetch cannot do: stream a body slowly or endlessly and
 * watch *when* the answer arrives, send bytes that are not valid UTF-8, keep one connection and
 * see exactly what the server writes on it.
 */
import net from 'node:net';

export interface RawResponse {
  readonly status: number;
  /** Header names lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Parses one complete HTTP/1.1 response (Content-Length bodies only: what this service sends). */
export function parseResponse(raw: string): RawResponse | null {
  const end = raw.indexOf('\r\n\r\n');
  if (end === -1) return null;
  const [statusLine = '', ...lines] = raw.slice(0, end).split('\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  const bodyBytes = Buffer.from(raw.slice(end + 4), 'latin1');
  if (bodyBytes.length < length) return null;
  return { status, headers, body: bodyBytes.subarray(0, length).toString('utf8') };
}

export interface UploadResult {
  /** The response, when one arrived. */
  readonly response: RawResponse | null;
  /** Body bytes written to the socket when the response's first byte arrived (or at the end). */
  readonly sentWhenAnswered: number;
  /** Body bytes written in all. */
  readonly sent: number;
  /** True when the whole body was sent. */
  readonly finished: boolean;
  /** How the socket ended: `close` (server closed), `error:<code>`, or `open` (still open, we closed it). */
  readonly ending: string;
  /** Largest heapUsed + arrayBuffers growth seen while sending (bytes, this process). */
  readonly peakMemoryGrowth: number;
}

export interface UploadOptions {
  readonly port: number;
  /** Request line and headers, without the final empty line. */
  readonly head: string;
  /** Body bytes to send. */
  readonly totalBytes: number;
  /** Send as `Transfer-Encoding: chunked` (the head must say so). */
  readonly chunked: boolean;
  /** One write's size (default 64 KiB). */
  readonly chunkBytes?: number;
  /** Give up waiting for an answer after this long (ms, default 10 000). */
  readonly timeoutMs?: number;
  /** Wait this long for an answer after the head before sending any of the body (ms, default 0). */
  readonly waitBeforeBodyMs?: number;
}

function memory(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/**
 * Streams `totalBytes` of JSON-ish filler as a request body, stopping as soon as the server
 * answers or closes; reports how far it got.
 */
export async function streamUpload(options: UploadOptions): Promise<UploadResult> {
  const chunkBytes = options.chunkBytes ?? 64 * 1024;
  const socket = net.connect(options.port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const baseline = memory();
  let peak = 0;
  let raw = '';
  let sent = 0;
  let sentWhenAnswered = -1;
  let ending = 'open';
  let answered: () => void = () => undefined;
  const answer = new Promise<void>((resolve) => (answered = resolve));
  let done = false;
  void answer.then(() => (done = true));
  let ended: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => (ended = resolve));
  socket.on('data', (chunk: Buffer) => {
    if (sentWhenAnswered === -1) sentWhenAnswered = sent;
    raw += chunk.toString('latin1');
    if (parseResponse(raw)) answered();
  });
  socket.on('error', (err: NodeJS.ErrnoException) => {
    if (ending === 'open') ending = `error:${err.code ?? err.message}`;
    answered();
    ended();
  });
  socket.on('close', () => {
    if (ending === 'open') ending = 'close';
    answered();
    ended();
  });
  socket.write(`${options.head}\r\n\r\n`);
  if (options.waitBeforeBodyMs) await Promise.race([answer, new Promise((r) => setTimeout(r, options.waitBeforeBodyMs))]);

  // One filler chunk, reused: the client's own memory does not grow with the upload.
  const filler = Buffer.alloc(chunkBytes, 0x20);
  const frame = options.chunked ? Buffer.concat([Buffer.from(`${chunkBytes.toString(16)}\r\n`), filler, Buffer.from('\r\n')]) : filler;
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  while (!done && sent < options.totalBytes && Date.now() < deadline) {
    const ok = socket.write(frame);
    sent += chunkBytes;
    peak = Math.max(peak, memory() - baseline);
    if (!ok) {
      await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), answer, new Promise((r) => setTimeout(r, 50))]);
    }
  }
  const finished = sent >= options.totalBytes;
  if (finished && options.chunked && !done) socket.write('0\r\n\r\n');
  await Promise.race([answer, new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())))]);
  // Give the server a moment to close after its answer (Connection: close).
  await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]);
  const result: UploadResult = {
    response: parseResponse(raw),
    sentWhenAnswered: sentWhenAnswered === -1 ? sent : sentWhenAnswered,
    sent,
    finished,
    ending,
    peakMemoryGrowth: peak,
  };
  socket.destroy();
  return result;
}

/** Sends raw bytes (head + body) on a new connection and resolves with the response. */
export async function rawRequest(port: number, bytes: Buffer | string, timeoutMs = 5000): Promise<RawResponse | null> {
  const socket = net.connect(port, '127.0.0.1');
  let raw = '';
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(parseResponse(raw));
    }, timeoutMs);
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(parseResponse(raw));
    };
    socket.on('data', (chunk: Buffer) => {
      raw += chunk.toString('latin1');
      if (parseResponse(raw)) finish();
    });
    socket.on('error', finish);
    socket.on('close', finish);
    socket.write(bytes);
  });
}

/** One kept-alive connection, driven by hand: send bytes, read whole responses one at a time. */
export class RawConnection {
  readonly #socket: net.Socket;
  #raw = '';
  #waiter: (() => void) | null = null;
  /** Resolves when the server (or the network) closed the connection. */
  readonly closed: Promise<void>;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#raw += chunk.toString('latin1');
      this.#waiter?.();
    });
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.#waiter?.();
        resolve();
      });
    });
    socket.on('error', () => undefined);
  }

  static async open(port: number): Promise<RawConnection> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawConnection(socket);
  }

  send(bytes: string): void {
    this.#socket.write(bytes);
  }

  /** The next complete response on this connection (null if it closed first or none came in time). */
  async response(timeoutMs = 5000): Promise<RawResponse | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const parsed = parseResponse(this.#raw);
      if (parsed) {
        // Drop the consumed bytes (head + Content-Length body).
        const end = this.#raw.indexOf('\r\n\r\n') + 4;
        this.#raw = this.#raw.slice(end + Buffer.byteLength(parsed.body, 'utf8'));
        return parsed;
      }
      if (this.#socket.destroyed || Date.now() > deadline) return null;
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
        setTimeout(resolve, Math.max(1, deadline - Date.now()));
      });
      this.#waiter = null;
    }
  }

  destroy(): void {
    this.#socket.destroy();
  }
}
