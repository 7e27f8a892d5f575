/**
 * The JSON request-body reader of the write routes (instead of express.json, see below).
 *
 * express.json (body-parser 2) keeps memory bounded — it stops buffering at the limit — but it
 * answers only after it has read the *whole* request off the socket (`dump`): a client streaming
 * 50 MB, or a slow one that never finishes, holds the connection until it is done. This reader
 * answers 413 at once (before reading anything when Content-Length is over the limit, else as
 * soon as the count passes it) with `Connection: close`, so the rest of the upload is never read
 * as the next request and the socket is closed after the answer.
 *
 * What a body must be (each failure a 4xx with a stable code, never a 500):
 * - `Content-Type: application/json` (checked by the route), UTF-8 (`charset` absent or utf-8),
 *   no `Content-Encoding` (415: a compressed body's size says nothing about its inflated size);
 * - at most `limitBytes` bytes (413 PAYLOAD_TOO_LARGE);
 * - valid UTF-8 (a leading BOM is dropped) and valid JSON whose top level is an object or array;
 * - nested at most {@link MAX_DEPTH} levels;
 * - no `__proto__` key and no `constructor` object holding a `prototype` key, anywhere (the same
 *   rule as fastify's secure-json-parse: such keys are how prototype pollution reaches code that
 *   merges objects; JSON.parse itself keeps them as plain own properties, but zod's record parser
 *   would silently drop `__proto__`, changing stored data);
 * - no U+0000 and no unpaired UTF-16 surrogate (`\ud800`) in any string or key: PostgreSQL cannot
 *   store U+0000 in text or jsonb, and an unpaired surrogate is not Unicode (SQLite would store
 *   U+FFFD instead). Refusing both keeps the two backends identical and every accepted string
 *   byte-exact on the way back.
 */
import type { RequestHandler } from 'express';
import { AppError, ValidationError } from '../errors/index.js';

/** Deepest nesting of objects/arrays accepted in a body (the API's own shapes need 4). */
export const MAX_DEPTH = 64;

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

function tooLarge(limitBytes: number): AppError {
  return new AppError('PAYLOAD_TOO_LARGE', `The request body exceeds the limit of ${limitBytes} bytes.`, {
    details: { limit_bytes: limitBytes },
  });
}

/** `path` of a value inside the body, as the validators print it: `items[3].preferences.a`. */
function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  const shown = key.length > 64 ? `${key.slice(0, 64)}…` : key;
  return parent === '' ? shown : `${parent}.${shown}`;
}

function badString(value: string): string | null {
  if (value.includes('\u0000')) return 'contains U+0000 (NUL), which cannot be stored';
  if (!value.isWellFormed()) return 'contains an unpaired UTF-16 surrogate (not Unicode text)';
  return null;
}

/**
 * Walks a parsed body iteratively (no recursion: depth is what is being checked) and throws a
 * ValidationError naming the first offending path.
 */
export function checkJsonValue(root: unknown): void {
  const stack: Array<{ value: unknown; path: string; depth: number }> = [{ value: root, path: '', depth: 0 }];
  const fail = (path: string, message: string): never => {
    throw new ValidationError(`Invalid request body: ${path || '(body)'} ${message}.`, {
      issues: [{ path: path || '(body)', message }],
    });
  };
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value === 'string') {
      const problem = badString(value);
      if (problem) fail(path, problem);
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth >= MAX_DEPTH) fail(path, `is nested deeper than ${MAX_DEPTH} levels`);
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], path: childPath(path, i), depth: depth + 1 });
      continue;
    }
    const keys = Object.keys(value);
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i]!;
      const at = childPath(path, key);
      if (key === '__proto__') fail(at, 'is not allowed (prototype pollution)');
      const problem = badString(key);
      if (problem) fail(at, `key ${problem}`);
      const child = (value as Record<string, unknown>)[key];
      if (
        key === 'constructor' &&
        child !== null &&
        typeof child === 'object' &&
        Object.prototype.hasOwnProperty.call(child, 'prototype')
      ) {
        fail(`${at}.prototype`, 'is not allowed (prototype pollution)');
      }
      stack.push({ value: child, path: at, depth: depth + 1 });
    }
  }
}

/** The `charset` parameter of the Content-Type header (lower-case), or null. */
function charsetOf(contentType: string | undefined): string | null {
  const match = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType ?? '');
  return match ? match[1]!.toLowerCase() : null;
}

/** Reads and parses a JSON body into `req.body`; see the module comment for what is refused. */
export function jsonBody(options: { readonly limitBytes: number }): RequestHandler {
  const { limitBytes } = options;
  return (req, res, next) => {
    req.body = undefined;
    const charset = charsetOf(req.headers['content-type']);
    if (charset !== null && charset !== 'utf-8' && charset !== 'utf8') {
      next(new AppError('UNSUPPORTED_MEDIA_TYPE', 'The request body must be UTF-8 JSON (charset=utf-8 or none).'));
      return;
    }
    const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (encoding !== 'identity' && encoding !== '') {
      next(
        new AppError('UNSUPPORTED_MEDIA_TYPE', 'Compressed request bodies (Content-Encoding) are not accepted; send plain JSON.', {
          details: { content_encoding: encoding.slice(0, 32) },
        }),
      );
      return;
    }
    const declared = req.headers['content-length'];
    const hasBody = declared !== undefined ? declared !== '0' : req.headers['transfer-encoding'] !== undefined;
    if (!hasBody) {
      next();
      return;
    }
    const refuse = (err: AppError): void => {
      // The rest of the upload must not be read as the next request: answer, then close.
      res.setHeader('Connection', 'close');
      next(err);
    };
    if (declared !== undefined && Number(declared) > limitBytes) {
      refuse(tooLarge(limitBytes));
      return;
    }

    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const cleanup = (): void => {
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    function onData(chunk: Buffer): void {
      if (settled) return;
      received += chunk.length;
      if (received > limitBytes) {
        cleanup();
        chunks.length = 0;
        // Stop reading: Node discards what still arrives and closes the socket after the answer.
        req.pause();
        refuse(tooLarge(limitBytes));
        return;
      }
      chunks.push(chunk);
    }
    function onEnd(): void {
      if (settled) return;
      cleanup();
      let text: string;
      try {
        text = decoder.decode(Buffer.concat(chunks, received));
      } catch {
        next(new ValidationError('The request body is not valid UTF-8.'));
        return;
      }
      // JSON's white space is space, tab, LF and CR (and nothing else: not NBSP, not a BOM).
      const first = /[^ \t\n\r]/.exec(text)?.[0];
      if (first === undefined) {
        // An empty body on a write route: the schemas say what is missing.
        next();
        return;
      }
      let parsed: unknown;
      try {
        if (first !== '{' && first !== '[') throw new SyntaxError('not an object or array');
        parsed = JSON.parse(text);
      } catch {
        next(new ValidationError('The request body is not valid JSON (an object or an array).'));
        return;
      }
      try {
        checkJsonValue(parsed);
      } catch (err) {
        next(err);
        return;
      }
      req.body = parsed;
      next();
    }
    function onError(): void {
      if (settled) return;
      cleanup();
      next(new ValidationError('The request body was not received completely.'));
    }
    function onClose(): void {
      // The client went away mid-body: nobody is left to answer.
      if (settled) return;
      cleanup();
      chunks.length = 0;
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  };
}
