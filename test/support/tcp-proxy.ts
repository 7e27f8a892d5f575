/**
 * An in-process TCP proxy for fault tests: a `net` server on 127.0.0.1:0 that forwards every
 * accepted socket to `target`, with modes switchable at runtime:
 *
 * - `pass()`: forward both ways (the default);
 * - `refuse('unlisten')`: stop listening (new connects get ECONNREFUSED) and destroy every open
 *   socket; `refuse('close')`: keep listening but destroy accepted sockets at once;
 * - `blackHole()`: accept and read, never forward nor answer (open sockets too);
 * - `resetAfter(bytes, { times, fromBody })`: forward, but destroy the client socket once `bytes`
 *   response bytes (counted from the start of the next response, or of its body) went through,
 *   `times` times (then back to forwarding);
 * - `respond(writer)`: answer every request itself (no upstream), e.g. a huge streamed body.
 *
 * Counters: `openSockets` (client side, live), `accepted`, `bytesToClient`. `stop()` destroys every
 * socket and closes the server, bounded.
 */
import net from 'node:net';

export type ProxyMode =
  | { readonly kind: 'pass' }
  | { readonly kind: 'refuse'; readonly how: 'unlisten' | 'close' }
  | { readonly kind: 'black-hole' }
  | { readonly kind: 'reset'; readonly bytes: number; remaining: number; readonly fromBody: boolean }
  | { readonly kind: 'respond'; readonly writer: (client: net.Socket) => void };

interface Pair {
  readonly client: net.Socket;
  upstream: net.Socket | null;
  /** Response bytes counted towards a reset (since the mode was armed). */
  counted: number;
  /** Response bytes seen before the header end was found (fromBody). */
  head: string;
  bodyStarted: boolean;
}

export class TcpProxy {
  readonly #target: { host: string; port: number };
  readonly #server: net.Server;
  readonly #pairs = new Set<Pair>();
  #mode: ProxyMode = { kind: 'pass' };
  #port = 0;
  #listening = false;
  #stopped = false;
  accepted = 0;
  bytesToClient = 0;

  private constructor(target: { host: string; port: number }) {
    this.#target = target;
    this.#server = net.createServer((client) => this.#accept(client));
  }

  static async start(targetUrl: string): Promise<TcpProxy> {
    const url = new URL(targetUrl);
    const proxy = new TcpProxy({ host: url.hostname, port: Number(url.port) });
    await proxy.#listen(0);
    return proxy;
  }

  get port(): number {
    return this.#port;
  }

  /** `http://127.0.0.1:<port>` */
  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** Client-side sockets currently open. */
  get openSockets(): number {
    return this.#pairs.size;
  }

  get mode(): ProxyMode['kind'] {
    return this.#mode.kind;
  }

  #listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.#server.once('error', onError);
      this.#server.listen(port, '127.0.0.1', () => {
        this.#server.off('error', onError);
        this.#listening = true;
        const address = this.#server.address();
        if (address !== null && typeof address === 'object') this.#port = address.port;
        resolve();
      });
    });
  }

  #unlisten(): Promise<void> {
    if (!this.#listening) return Promise.resolve();
    this.#listening = false;
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: net.Socket): void {
    this.accepted++;
    client.on('error', () => undefined);
    if (this.#stopped || this.#mode.kind === 'refuse') {
      client.destroy();
      return;
    }
    const pair: Pair = { client, upstream: null, counted: 0, head: '', bodyStarted: false };
    this.#pairs.add(pair);
    client.on('close', () => {
      this.#pairs.delete(pair);
      pair.upstream?.destroy();
    });
    const upstream = net.connect(this.#target.port, this.#target.host);
    pair.upstream = upstream;
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
    upstream.on('data', (chunk: Buffer) => this.#fromUpstream(pair, chunk));
    client.on('data', (chunk: Buffer) => {
      const mode = this.#mode;
      if (mode.kind === 'black-hole') return; // read, never answer
      if (mode.kind === 'respond') {
        mode.writer(client);
        return;
      }
      if (mode.kind === 'refuse') {
        client.destroy();
        return;
      }
      upstream.write(chunk);
    });
  }

  #fromUpstream(pair: Pair, chunk: Buffer): void {
    const mode = this.#mode;
    if (mode.kind === 'black-hole' || mode.kind === 'respond') return;
    if (mode.kind === 'reset' && mode.remaining > 0) {
      let offset = 0;
      if (mode.fromBody && !pair.bodyStarted) {
        const text = pair.head + chunk.toString('latin1');
        const end = text.indexOf('\r\n\r\n');
        if (end === -1) {
          pair.head = text.slice(-3);
          this.#write(pair, chunk);
          return;
        }
        pair.bodyStarted = true;
        offset = Math.max(0, end + 4 - pair.head.length);
      }
      const budget = mode.bytes - pair.counted;
      const bodyPart = chunk.length - offset;
      if (bodyPart > budget) {
        this.#write(pair, chunk.subarray(0, offset + budget));
        mode.remaining--;
        if (mode.remaining === 0) this.#mode = { kind: 'pass' };
        pair.client.destroy();
        pair.upstream?.destroy();
        return;
      }
      pair.counted += bodyPart;
    }
    this.#write(pair, chunk);
  }

  #write(pair: Pair, chunk: Buffer): void {
    this.bytesToClient += chunk.length;
    pair.client.write(chunk);
  }

  /** Forward everything again (re-listening on the same port after an `unlisten` refusal). */
  async pass(): Promise<void> {
    this.#mode = { kind: 'pass' };
    if (!this.#listening && !this.#stopped) await this.#listen(this.#port);
  }

  async refuse(how: 'unlisten' | 'close' = 'unlisten'): Promise<void> {
    this.#mode = { kind: 'refuse', how };
    this.destroyAll();
    if (how === 'unlisten') await this.#unlisten();
  }

  blackHole(): void {
    this.#mode = { kind: 'black-hole' };
  }

  resetAfter(bytes: number, options: { times?: number; fromBody?: boolean } = {}): void {
    for (const pair of this.#pairs) {
      pair.counted = 0;
      pair.head = '';
      pair.bodyStarted = false;
    }
    this.#mode = { kind: 'reset', bytes, remaining: options.times ?? 1, fromBody: options.fromBody ?? false };
  }

  respond(writer: (client: net.Socket) => void): void {
    this.#mode = { kind: 'respond', writer };
  }

  /** Destroys every open socket (both sides). */
  destroyAll(): void {
    for (const pair of this.#pairs) {
      pair.client.destroy();
      pair.upstream?.destroy();
    }
  }

  /** Closes everything; bounded (sockets are destroyed, not ended). Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.destroyAll();
    await Promise.race([this.#unlisten(), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
  }
}

/**
 * A `respond` writer: a chunked `200 application/json` answer of `totalBytes` (a JSON array of
 * strings), written with back-pressure; `sent()` tells how much went out before the client left.
 */
export function hugeJsonAnswer(totalBytes: number): { writer: (client: net.Socket) => void; sent: () => number } {
  let sent = 0;
  const piece = Buffer.from(`"${'x'.repeat(64 * 1024 - 3)}",`);
  const writer = (client: net.Socket): void => {
    client.write('HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\ntransfer-encoding: chunked\r\n\r\n');
    const frame = (data: Buffer): Buffer =>
      Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')]);
    let written = 0;
    const pump = (): void => {
      while (!client.destroyed && written < totalBytes) {
        written += piece.length;
        sent += piece.length;
        if (!client.write(frame(written === piece.length ? Buffer.concat([Buffer.from('['), piece]) : piece))) {
          client.once('drain', pump);
          return;
        }
      }
      if (!client.destroyed && written >= totalBytes) client.end(Buffer.concat([frame(Buffer.from('"end"]')), Buffer.from('0\r\n\r\n')]));
    };
    pump();
  };
  return { writer, sent: () => sent };
}
