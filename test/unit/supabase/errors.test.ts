/**
 * The failure → AppError table (one row per PostgREST/PostgreSQL code or transport failure), the
 * retry policy and the body chunking, without a server: the fault tests prove the same paths on
 * the wire.
 */
import { expect } from 'chai';

import { chunkByBodySize, retryDelayMs } from '../../../src/adapters/supabase/adapter.js';
import { isTransient, mapSupabaseError, RequestFailure } from '../../../src/adapters/supabase/errors.js';
import {
  AppError,
  ConflictError,
  DatabaseError,
  NotFoundError,
  ValidationError,
  type ErrorCode,
} from '../../../src/errors/index.js';
import { TABLES } from '../../../src/schema/tables.js';

const context = { table: TABLES.users, operation: 'INSERT', origin: 'https://xyz.supabase.co' };
/** Row data an upstream message may quote: it must never reach our message. */
const ROW_DATA = 'someone@private.example';

function http(
  status: number,
  code: string | null,
  message = `upstream ${ROW_DATA}`,
  details: string | null = null,
): RequestFailure {
  return new RequestFailure({
    kind: 'http',
    request: 'POST /rest/v1/users',
    status,
    upstream: { code, message, details, hint: null },
  });
}

describe('Supabase adapter: error mapping and request policies', () => {
  const table: [string, RequestFailure, ErrorCode, abstract new (...args: never[]) => AppError, RegExp][] = [
    [
      '23505 unique',
      http(
        409,
        '23505',
        'duplicate key value violates unique constraint "users_email_key"',
        `Key (email)=(${ROW_DATA}) already exists.`,
      ),
      'CONFLICT',
      ConflictError,
      /^A users row with the same email already exists\.$/,
    ],
    [
      '23503 foreign key',
      http(409, '23503'),
      'CONFLICT',
      ConflictError,
      /refers to a row that does not exist/,
    ],
    [
      '23502 not null',
      http(
        400,
        '23502',
        'null value in column "display_name" of relation "users" violates not-null constraint',
      ),
      'VALIDATION_FAILED',
      ValidationError,
      /^users\.display_name is required and cannot be null\.$/,
    ],
    [
      '23514 check',
      http(400, '23514', 'new row for relation "users" violates check constraint "users_email_check"'),
      'VALIDATION_FAILED',
      ValidationError,
      /check users_email_check failed/,
    ],
    [
      '22P02 bad input',
      http(400, '22P02', `invalid input syntax for type uuid: "${ROW_DATA}"`),
      'VALIDATION_FAILED',
      ValidationError,
      /not valid \(PostgreSQL 22P02\)/,
    ],
    ['PGRST116 single', http(406, 'PGRST116'), 'NOT_FOUND', NotFoundError, /No users row/],
    ['42P01 missing table', http(404, '42P01'), 'DB_UNAVAILABLE', DatabaseError, /migrations\/postgres/],
    [
      'PGRST205 missing table',
      http(404, 'PGRST205'),
      'DB_UNAVAILABLE',
      DatabaseError,
      /migrations\/postgres/,
    ],
    [
      'PGRST204 missing column',
      http(400, 'PGRST204'),
      'DB_UNAVAILABLE',
      DatabaseError,
      /older than the service/,
    ],
    [
      '401 from the gateway',
      http(401, null, 'Invalid API key'),
      'DB_UNAVAILABLE',
      DatabaseError,
      /check SUPABASE_KEY/,
    ],
    ['42501 permission', http(401, '42501'), 'DB_UNAVAILABLE', DatabaseError, /credentials/],
    ['57014 statement timeout', http(500, '57014'), 'DB_TIMEOUT', DatabaseError, /statement timeout/],
    ['504 gateway timeout', http(504, 'PGRST003'), 'DB_TIMEOUT', DatabaseError, /timed out waiting/],
    [
      '503 PostgREST cannot reach the database',
      http(503, 'PGRST001'),
      'DB_UNAVAILABLE',
      DatabaseError,
      /could not run/,
    ],
    ['40P01 deadlock', http(500, '40P01'), 'DB_BUSY', DatabaseError, /retry shortly/],
    ['25006 read-only', http(405, '25006'), 'DB_READ_ONLY', DatabaseError, /refuses writes/],
    ['53100 disk full', http(507, '53100'), 'DB_FULL', DatabaseError, /disk space/],
    ['PGRST100 parse error (a bug)', http(400, 'PGRST100'), 'INTERNAL', DatabaseError, /Unexpected answer/],
    [
      'HTML 502',
      new RequestFailure({ kind: 'http', request: 'GET /rest/v1/users', status: 502, parsable: false }),
      'DB_BAD_GATEWAY',
      DatabaseError,
      /not PostgREST JSON/,
    ],
    [
      '413 from a proxy',
      new RequestFailure({ kind: 'http', request: 'POST /rest/v1/users', status: 413, parsable: false }),
      'PAYLOAD_TOO_LARGE',
      AppError,
      /too large/,
    ],
    [
      'timeout',
      new RequestFailure({ kind: 'timeout', request: 'GET /rest/v1/users', timeoutMs: 250 }),
      'DB_TIMEOUT',
      DatabaseError,
      /did not answer the INSERT on users within 250 ms/,
    ],
    [
      'connection refused',
      new RequestFailure({ kind: 'transport', request: 'GET /rest/v1/users', transportCode: 'ECONNREFUSED' }),
      'DB_UNAVAILABLE',
      DatabaseError,
      /^Cannot reach the Supabase API at https:\/\/xyz\.supabase\.co \(ECONNREFUSED\)\.$/,
    ],
    [
      'reset after sending a write',
      new RequestFailure({
        kind: 'transport',
        request: 'POST /rest/v1/users',
        transportCode: 'UND_ERR_SOCKET',
        outcomeUnknown: true,
      }),
      'DB_UNAVAILABLE',
      DatabaseError,
      /may or may not have been applied/,
    ],
    [
      'URL too long',
      new RequestFailure({ kind: 'too-long', request: 'GET /rest/v1/users', targetLength: 9_000 }),
      'VALIDATION_FAILED',
      ValidationError,
      /too long to send/,
    ],
  ];

  for (const [label, failure, code, errorClass, message] of table) {
    it(`${label} → ${code}`, () => {
      const error = mapSupabaseError(failure, context);
      expect(error).to.be.instanceOf(errorClass);
      expect(error.code).to.equal(code);
      expect(error.message).to.match(message);
      // Our words only: no upstream text (it may quote row data), the code is in details.
      expect(error.message).to.not.include(ROW_DATA);
      expect(JSON.stringify(error.details ?? null)).to.not.include(ROW_DATA);
      expect(error.cause).to.equal(failure);
      if (failure.upstream?.code)
        expect(error.details).to.deep.include({ postgrest_code: failure.upstream.code });
    });
  }

  it('AppErrors pass through; anything else is INTERNAL with the cause kept', () => {
    const own = new ValidationError('x');
    expect(mapSupabaseError(own)).to.equal(own);
    const odd = new TypeError('boom');
    const mapped = mapSupabaseError(odd, context);
    expect(mapped.code).to.equal('INTERNAL');
    expect(mapped.cause).to.equal(odd);
  });

  it('only connection failures and gateway 502/503/504 (and 520–524) are transient', () => {
    expect(
      isTransient(new RequestFailure({ kind: 'transport', request: 'r', transportCode: 'ECONNRESET' })),
    ).to.equal(true);
    for (const status of [502, 503, 504, 520, 524])
      expect(isTransient(http(status, null)), String(status)).to.equal(true);
    for (const status of [400, 401, 404, 409, 500])
      expect(isTransient(http(status, null)), String(status)).to.equal(false);
    expect(isTransient(new RequestFailure({ kind: 'timeout', request: 'r', timeoutMs: 1 }))).to.equal(false);
    expect(isTransient(new RequestFailure({ kind: 'too-long', request: 'r' }))).to.equal(false);
    expect(isTransient(new Error('x'))).to.equal(false);
  });

  it('retry back-off is exponential, capped at 2 s, with jitter in its upper half', () => {
    expect(retryDelayMs(0, 100, () => 0)).to.equal(50);
    expect(retryDelayMs(0, 100, () => 1)).to.equal(100);
    expect(retryDelayMs(3, 100, () => 0)).to.equal(400);
    expect(retryDelayMs(3, 100, () => 1)).to.equal(800);
    expect(retryDelayMs(10, 100, () => 1)).to.equal(2_000);
    for (let i = 0; i < 100; i++) expect(retryDelayMs(2, 100)).to.be.within(200, 400);
  });

  it('splits bodies at the byte limit (UTF-8 bytes, not characters) and keeps every row once, in order', () => {
    const rows = Array.from({ length: 50 }, (_, i) => ({
      i: String(i).padStart(2, '0'),
      text: 'é'.repeat(100),
    }));
    const size = Buffer.byteLength(JSON.stringify(rows[0]), 'utf8') + 1;
    const chunks = chunkByBodySize(rows, 10 * size + 2);
    expect(chunks.map((c) => c.length)).to.deep.equal([10, 10, 10, 10, 10]);
    expect(chunks.flat()).to.deep.equal(rows);
    for (const chunk of chunks)
      expect(Buffer.byteLength(JSON.stringify(chunk), 'utf8')).to.be.at.most(10 * size + 2);
    expect(chunkByBodySize([{ big: 'x'.repeat(5_000) }], 1_024)).to.have.length(1);
    expect(chunkByBodySize([], 1_024)).to.deep.equal([]);
  });
});
