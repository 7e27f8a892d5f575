/**
 * Bad input, the hostile kind (issue 7): oversized and malformed bodies, batch bounds, names that
 * are not allow-listed, type fuzz, prototype-pollution keys, wildcard and PostgREST syntax in
 * search text, Unicode, duplicates inside a batch. Every refusal is a 4xx with a stable code and
 * a clean body (request id, no stack), and nothing is written: row counts of every table are the
 * same before and after. What reaches a database runs on both backends and must give the same
 * answer on both. (validation.test.ts covers the ordinary mistakes; this file does not repeat them.)
 */
import { expect } from 'chai';
import type { Row } from '../../src/adapters/contract.js';
import { MAX_DEPTH } from '../../src/http/body.js';
import { TABLES, TABLE_NAMES, type TableName } from '../../src/schema/tables.js';
import {
  expectApiError,
  expectCleanResponse,
  expectOk,
  Fixtures,
  missingId,
  rowCounts,
  storedRow,
  uniqueTag,
  type ApiError,
  type ApiPage,
  type Graph,
} from '../support/fixtures.js';
import { parseExposition, sumOf } from '../support/metrics-text.js';
import type { TestResponse, TestService } from '../support/service.js';
import { BOTH_BACKENDS, startBackendService, type BackendName } from './support/backend-service.js';
import { rawRequest, streamUpload } from './support/raw-http.js';

const MAX_BODY_BYTES = 1024 * 1024;
const MAX_BATCH = 200;
const ENV = { HTTP_MAX_BODY_BYTES: String(MAX_BODY_BYTES), API_MAX_BATCH_SIZE: String(MAX_BATCH), RATE_LIMIT_WRITES_PER_MINUTE: '0' };

interface Issue {
  readonly path: string;
  readonly message: string;
}

const issuesOf = (error: ApiError): Issue[] => (error.details as { issues: Issue[] }).issues;

/** Literal-matching results per backend, compared at the end of the file. */
const literalResults: Partial<Record<BackendName, Record<string, string[]>>> = {};

/** Runs `send`, asserts the refusal, and asserts that no table changed. */
async function refused(service: TestService, status: number, code: string, send: () => Promise<TestResponse>): Promise<ApiError> {
  const before = await rowCounts(service);
  const error = expectApiError(await send(), status, code);
  expect(await rowCounts(service), 'row counts after a refused request').to.deep.equal(before);
  return error;
}

function httpCount(text: string, method: string, route: string, status: number): number {
  return sumOf(parseExposition(text), 'http_server_request_duration_seconds_count', {
    http_request_method: method,
    http_route: route,
    http_response_status_code: String(status),
  });
}

describe('bad input: bodies, allow-lists and names (HTTP layer)', function () {
  let service: TestService;
  let f: Fixtures;
  let graph: Graph;

  before(async function () {
    service = await startBackendService('sqlite', ENV);
    f = new Fixtures(service);
    graph = await f.graph();
  });

  after(async function () {
    await service?.stop();
  });

  const plotBody = (overrides: Row = {}): Row => ({
    session_id: graph.session.id,
    title: `Plot ${uniqueTag()}`,
    ...overrides,
  });

  describe('oversized bodies are cut off, not buffered', function () {
    it('a 50 MB chunked upload is answered 413 long before it is sent, the socket closed, memory flat', async function () {
      const before = await rowCounts(service);
      const scrapeBefore = (await service.request('GET', '/metrics')).text;
      const upload = await streamUpload({
        port: service.http.port,
        head: 'POST /api/plots HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked',
        totalBytes: 50 * 1024 * 1024,
        chunked: true,
      });
      expect(upload.response?.status, JSON.stringify(upload)).to.equal(413);
      expect(upload.response!.headers.connection).to.equal('close');
      const body = JSON.parse(upload.response!.body) as { error: ApiError };
      expect(body.error.code).to.equal('PAYLOAD_TOO_LARGE');
      expect(body.error.details).to.deep.equal({ limit_bytes: MAX_BODY_BYTES });
      expect(upload.finished, 'the client never got to send the whole body').to.equal(false);
      // Answered after about the limit (plus what the socket buffers held), not after 50 MB.
      expect(upload.sentWhenAnswered).to.be.below(16 * 1024 * 1024);
      expect(upload.ending).to.match(/^(close|error:E[A-Z]+)$/);
      expect(upload.peakMemoryGrowth, 'heap + buffers growth while uploading').to.be.below(24 * 1024 * 1024);
      expect(await rowCounts(service)).to.deep.equal(before);
      const scrapeAfter = (await service.request('GET', '/metrics')).text;
      expect(httpCount(scrapeAfter, 'POST', '/api/plots', 413) - httpCount(scrapeBefore, 'POST', '/api/plots', 413)).to.equal(1);
      console.log(
        `      50 MB chunked upload: 413 after ${(upload.sentWhenAnswered / 1048576).toFixed(1)} MiB sent, ` +
          `peak memory growth ${(upload.peakMemoryGrowth / 1048576).toFixed(1)} MiB, socket ${upload.ending}`,
      );
    });

    it('a declared Content-Length of 50 MB is answered 413 before one byte of the body is sent', async function () {
      const before = await rowCounts(service);
      const upload = await streamUpload({
        port: service.http.port,
        head: `POST /api/plots/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${50 * 1024 * 1024}`,
        totalBytes: 50 * 1024 * 1024,
        chunked: false,
        // Waits for an answer before sending a byte: a 413 that needed the body would never come.
        waitBeforeBodyMs: 2000,
      });
      expect(upload.response?.status).to.equal(413);
      expect(upload.response!.headers.connection).to.equal('close');
      expect(upload.sentWhenAnswered).to.equal(0);
      expect(await rowCounts(service)).to.deep.equal(before);
    });

    it('a body of exactly the limit is read (and judged on its content), one byte more is 413', async function () {
      const json = JSON.stringify(plotBody());
      const exact = json + ' '.repeat(MAX_BODY_BYTES - Buffer.byteLength(json));
      expect(Buffer.byteLength(exact)).to.equal(MAX_BODY_BYTES);
      expectOk(await service.request('POST', '/api/plots', exact), 201);
      await refused(service, 413, 'PAYLOAD_TOO_LARGE', () => service.request('POST', '/api/plots', `${exact} `));
    });

    it('a client that stops sending mid-body (Content-Length not reached) leaves no row and no broken service', async function () {
      const before = await rowCounts(service);
      const body = JSON.stringify(plotBody());
      const answer = await rawRequest(
        service.http.port,
        `POST /api/plots HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length + 100}\r\n\r\n${body}`,
        300,
      );
      expect(answer, 'no answer to an incomplete body').to.equal(null);
      expect(await rowCounts(service)).to.deep.equal(before);
      expectOk(await service.request('GET', '/health/live'));
    });
  });

  describe('malformed bodies', function () {
    const cases: Array<[string, () => Promise<TestResponse>, number, string, RegExp]> = [
      ['invalid UTF-8 bytes', () => post(Buffer.from([0x7b, 0x22, 0x74, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])), 400, 'VALIDATION_FAILED', /not valid UTF-8/],
      ['an overlong UTF-8 encoding of "/"', () => post(Buffer.from([0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x3a, 0x31, 0x7d])), 400, 'VALIDATION_FAILED', /not valid UTF-8/],
      ['a top-level string', () => post('"title"'), 400, 'VALIDATION_FAILED', /not valid JSON/],
      ['a top-level number', () => post('42'), 400, 'VALIDATION_FAILED', /not valid JSON/],
      ['a top-level null', () => post('null'), 400, 'VALIDATION_FAILED', /not valid JSON/],
      ['trailing garbage', () => post('{"title":"x"} {}'), 400, 'VALIDATION_FAILED', /not valid JSON/],
      ['single quotes', () => post("{'title':'x'}"), 400, 'VALIDATION_FAILED', /not valid JSON/],
      ['a comment', () => post('{"title":"x" /* hi */}'), 400, 'VALIDATION_FAILED', /not valid JSON/],
      ['NaN as a value', () => post('{"word_count": NaN}'), 400, 'VALIDATION_FAILED', /not valid JSON/],
      ['an empty body', () => post(''), 400, 'VALIDATION_FAILED', /is required \(object\)/],
      ['only white space', () => post(' \r\n\t '), 400, 'VALIDATION_FAILED', /is required \(object\)/],
      [`nesting deeper than ${MAX_DEPTH} levels (100 000 brackets)`, () => post(`${'['.repeat(100_000)}${']'.repeat(100_000)}`), 400, 'VALIDATION_FAILED', /nested deeper than 64/],
      ['charset=utf-16', () => post('{}', { 'content-type': 'application/json; charset=utf-16' }), 415, 'UNSUPPORTED_MEDIA_TYPE', /UTF-8/],
      ['Content-Encoding: gzip', () => post('{}', { 'content-encoding': 'gzip' }), 415, 'UNSUPPORTED_MEDIA_TYPE', /Compressed/],
      ['no Content-Type', () => post('{}', { 'content-type': '' }), 415, 'UNSUPPORTED_MEDIA_TYPE', /application\/json/],
      ['application/json-patch+json', () => post('{}', { 'content-type': 'application/json-patch+json' }), 415, 'UNSUPPORTED_MEDIA_TYPE', /application\/json/],
      ['multipart/form-data', () => post('--b\r\n\r\n--b--', { 'content-type': 'multipart/form-data; boundary=b' }), 415, 'UNSUPPORTED_MEDIA_TYPE', /application\/json/],
    ];
    function post(body: string | Buffer, headers: Record<string, string> = {}): Promise<TestResponse> {
      const merged = { 'content-type': 'application/json', ...headers };
      if (merged['content-type'] === '') delete (merged as Record<string, string | undefined>)['content-type'];
      return fetch(`${service.url}/api/plots`, { method: 'POST', headers: merged, body }).then(async (res) => {
        const text = await res.text();
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        return { status: res.status, headers: res.headers, text, body: parsed };
      });
    }
    for (const [name, send, status, code, message] of cases) {
      it(`${name} → ${status} ${code}`, async function () {
        const error = await refused(service, status, code, send);
        expect(error.message).to.match(message);
      });
    }

    it('a UTF-8 byte-order mark before the JSON is dropped (as body-parser did); inside a string it is kept', async function () {
      const title = `\uFEFFbom ${uniqueTag()}`;
      const res = await post(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(plotBody({ title })))]));
      const row = expectOk<Row>(res, 201);
      expect(row.title).to.equal(title);
      expect((await storedRow(service, 'plots', row.id as string))?.title).to.equal(title);
    });
  });

  describe('names that are not allow-listed', function () {
    const RESERVED = ['limit', 'offset', 'sort', 'q', 'include', 'ids'];
    const filterable = (t: TableName): string[] => Object.entries(TABLES[t].columns).filter(([, c]) => c.filterable).map(([n]) => n);
    const sortable = (t: TableName): string[] => Object.entries(TABLES[t].columns).filter(([, c]) => c.sortable).map(([n]) => n);
    const jsonColumns = (t: TableName): string[] => Object.entries(TABLES[t].columns).filter(([, c]) => c.type === 'json').map(([n]) => n);

    // PostgREST's own parameters and syntax, SQL fragments, prototype names, case and space variants.
    const BAD_KEYS = ['select', 'order', 'or', 'and', 'not', 'on_conflict', 'columns', 'Title', 'title ', ' title', 'title;drop table plots', 'title)', '"title"', 'title.eq', 'plots.title', '__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'tïtle', 'x'.repeat(10_000)];

    for (const table of TABLE_NAMES) {
      it(`${table}: unknown filter keys → 400 listing the filterable columns and parameters`, async function () {
        for (const key of [...BAD_KEYS, ...jsonColumns(table)]) {
          const error = await refused(service, 400, 'VALIDATION_FAILED', () =>
            service.request('GET', `/api/${table}?${encodeURIComponent(key)}=eq.x`),
          );
          expect(error.details, key.slice(0, 40)).to.deep.equal({ field: key.slice(0, 64), allowed: [...filterable(table), ...RESERVED] });
          expect(error.message.length, 'a 10 KB key is not echoed').to.be.below(800);
        }
      });

      it(`${table}: sort by anything not sortable → 400 listing the sortable columns`, async function () {
        const notSortable = Object.keys(TABLES[table].columns).filter((c) => !sortable(table).includes(c));
        for (const key of [...notSortable, 'created_at desc', '--created_at', '__proto__', 'constructor', 'id;drop', 'created_at.desc', 'x'.repeat(5000)]) {
          const error = await refused(service, 400, 'VALIDATION_FAILED', () =>
            service.request('GET', `/api/${table}?sort=${encodeURIComponent(key)}`),
          );
          expect(error.details, key.slice(0, 40)).to.deep.equal({ field: 'sort', allowed: sortable(table) });
          expect(error.message.length).to.be.below(800);
        }
      });
    }

    it('operators that are not allow-listed (PostgREST ones included) → 400 listing the operators', async function () {
      for (const op of ['like', 'ilike', 'match', 'imatch', 'cs', 'cd', 'ov', 'fts', 'plfts', 'is', 'not.eq', 'or', 'EQ', 'Eq', ' eq', 'eq ', 'contains ', '__proto__', 'constructor', '']) {
        const error = await refused(service, 400, 'VALIDATION_FAILED', () =>
          service.request('GET', `/api/plots?title=${encodeURIComponent(op)}.x`),
        );
        expect((error.details as { allowed_operators: string[] }).allowed_operators, op).to.deep.equal([
          'eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'contains', 'is_null',
        ]);
      }
      // A value without an operator at all.
      const bare = await refused(service, 400, 'VALIDATION_FAILED', () => service.request('GET', '/api/plots?title=Dragons'));
      expect(bare.message).to.include('title=<operator>.<value>');
    });

    it('include names that are not relations → 400 listing the relations', async function () {
      for (const name of ['__proto__', 'constructor', 'author.session', 'author(*)', '*', 'users', 'plots_count;x']) {
        const error = await refused(service, 400, 'VALIDATION_FAILED', () =>
          service.request('GET', `/api/plots?include=${encodeURIComponent(name)}`),
        );
        expect(error.message, name).to.include('author').and.include('session');
      }
    });
  });

  describe('prototype-pollution keys', function () {
    const protoKeysBefore = Object.getOwnPropertyNames(Object.prototype).sort();

    afterEach(function () {
      expect(({} as { polluted?: unknown }).polluted).to.equal(undefined);
      expect(Object.getOwnPropertyNames(Object.prototype).sort()).to.deep.equal(protoKeysBefore);
      expect(Object.getPrototypeOf({})).to.equal(Object.prototype);
    });

    const userJson = (extra: string): string =>
      `{"email":"${uniqueTag()}@example.test","display_name":"P"${extra}}`;

    it('__proto__, constructor and prototype at the top level → 400, naming the key', async function () {
      for (const [extra, named] of [
        [',"__proto__":{"polluted":true}', '__proto__'],
        [',"constructor":{"prototype":{"polluted":true}}', 'constructor'],
        [',"prototype":{"polluted":true}', 'prototype'],
        [',"constructor":"x"', 'constructor'],
      ] as const) {
        const error = await refused(service, 400, 'VALIDATION_FAILED', () => service.request('POST', '/api/users', userJson(extra)));
        expect(error.message, extra).to.include(named);
      }
    });

    it('... inside batch items, batch-update changes and look-ups → 400 naming the item', async function () {
      const ok = userJson('');
      let error = await refused(service, 400, 'VALIDATION_FAILED', () =>
        service.request('POST', '/api/users/batch', `{"items":[${ok},${userJson(',"__proto__":{"polluted":true}')}]}`),
      );
      expect(issuesOf(error)[0]!.path).to.equal('items[1].__proto__');
      const user = await f.user();
      error = await refused(service, 400, 'VALIDATION_FAILED', () =>
        service.request('PATCH', '/api/users/batch', `{"items":[{"id":"${String(user.id)}","changes":{"__proto__":{"polluted":true}}}]}`),
      );
      expect(issuesOf(error)[0]!.path).to.equal('items[0].changes.__proto__');
      error = await refused(service, 400, 'VALIDATION_FAILED', () =>
        service.request('PATCH', `/api/users/${String(user.id)}`, '{"constructor":{"prototype":{"polluted":true}}}'),
      );
      expect(error.message).to.include('constructor.prototype');
      error = await refused(service, 400, 'VALIDATION_FAILED', () =>
        service.request('POST', '/api/users/lookup', `{"ids":["${String(user.id)}"],"__proto__":{"polluted":true}}`),
      );
      expect(error.message).to.include('__proto__');
      expect(await storedRow(service, 'users', user.id as string)).to.deep.equal(user);
    });

    it('... as query parameters, sort keys and includes → 400', async function () {
      for (const query of ['__proto__=eq.x', '__proto__[polluted]=1', 'constructor[prototype][polluted]=1', 'constructor=eq.x', 'sort=__proto__', 'include=__proto__']) {
        await refused(service, 400, 'VALIDATION_FAILED', () => service.request('GET', `/api/users?${query}`));
      }
    });
  });
});

for (const backend of BOTH_BACKENDS) {
  describe(`bad input reaching the database [${backend}]`, function () {
    let service: TestService;
    let f: Fixtures;
    let graph: Graph;

    before(async function () {
      service = await startBackendService(backend, ENV);
      f = new Fixtures(service);
      graph = await f.graph();
    });

    after(async function () {
      await service?.stop();
    });

    const sessionId = (): string => graph.session.id as string;

    describe('batches', function () {
      it(`exactly API_MAX_BATCH_SIZE (${MAX_BATCH}) items → 201, every row stored`, async function () {
        const tag = uniqueTag();
        const items = Array.from({ length: MAX_BATCH }, (_, i) => ({ session_id: sessionId(), title: `${tag} ${i}` }));
        const rows = await f.createMany('plots', items);
        const stored = await service.container.adapter.getManyByIds(TABLES.plots, rows.map((r) => r.id as string));
        expect(stored.map((r) => r.title).sort()).to.deep.equal(items.map((i) => i.title).sort());
      });

      it(`one invalid item at the end of a full batch → 400 naming items[${MAX_BATCH - 1}].word_count; zero rows`, async function () {
        const items: Row[] = Array.from({ length: MAX_BATCH }, (_, i) => ({ session_id: sessionId(), title: `x ${i}` }));
        items[MAX_BATCH - 1] = { ...items[MAX_BATCH - 1], word_count: 2 ** 31 };
        const error = await refused(service, 400, 'VALIDATION_FAILED', () => service.request('POST', '/api/plots/batch', { items }));
        expect(issuesOf(error).map((i) => i.path)).to.deep.equal([`items[${MAX_BATCH - 1}].word_count`]);
        expect(error.message).to.include(`items[${MAX_BATCH - 1}].word_count`);
      });

      it('many invalid items → 400 listing each (at most 50), the message counting the rest', async function () {
        const items = Array.from({ length: 80 }, () => ({ session_id: sessionId(), title: 7 }));
        const error = await refused(service, 400, 'VALIDATION_FAILED', () => service.request('POST', '/api/plots/batch', { items }));
        expect(issuesOf(error)).to.have.length(50);
        expect(error.message).to.include('items[0].title').and.include('(and 77 more)');
      });

      it('two items with the same email → 409 CONFLICT naming the column; zero rows', async function () {
        const email = `${uniqueTag()}@example.test`;
        const error = await refused(service, 409, 'CONFLICT', () =>
          service.request('POST', '/api/users/batch', {
            items: [
              { email: `${uniqueTag()}@example.test`, display_name: 'A' },
              { email, display_name: 'B' },
              { email, display_name: 'C' },
            ],
          }),
        );
        expect(error.message).to.include('email');
        expect(error.message).not.to.include(email); // the value is the client's own; the column says enough
        const found = expectOk<ApiPage>(await service.request('GET', `/api/users?email=eq.${encodeURIComponent(email)}`));
        expect(found.total_count).to.equal(0);
      });

      it('emails differing only in case are two emails on both backends (unique is case-sensitive)', async function () {
        const tag = uniqueTag();
        const rows = await f.createMany('users', [
          { email: `${tag}@Example.test`, display_name: 'A' },
          { email: `${tag}@example.test`, display_name: 'B' },
        ]);
        expect(rows.map((r) => r.email)).to.deep.equal([`${tag}@Example.test`, `${tag}@example.test`]);
      });

      it('the same id twice in a batch update (any case) → 400 naming items[2].id and the first; nothing changed', async function () {
        const [a, b] = await f.createMany('plots', [
          { session_id: sessionId(), title: 'A' },
          { session_id: sessionId(), title: 'B' },
        ]);
        const items = [
          { id: a!.id, changes: { title: 'A2' } },
          { id: b!.id, changes: { title: 'B2' } },
          { id: String(a!.id).toUpperCase(), changes: { title: 'A3' } },
        ];
        const error = await refused(service, 400, 'VALIDATION_FAILED', () => service.request('PATCH', '/api/plots/batch', { items }));
        expect(issuesOf(error)).to.deep.equal([
          { path: 'items[2].id', message: 'repeats the id of items[0]: an id may not appear twice in one batch' },
        ]);
        expect(await storedRow(service, 'plots', a!.id as string)).to.deep.equal(a);
        expect(await storedRow(service, 'plots', b!.id as string)).to.deep.equal(b);
      });
    });

    describe('type fuzz on ids, limits, offsets and filter values', function () {
      const HUGE_DIGITS = '9'.repeat(10_000);
      const LONG = 'x'.repeat(10_000);
      // [query string, expected status]: everything not a plain in-range ASCII integer is refused.
      const NUMBERS: Array<[string, number]> = [
        ['-1', 400], ['1e3', 400], ['0x10', 400], ['0b1', 400], ['NaN', 400], ['Infinity', 400], ['-Infinity', 400],
        ['%201', 400], ['1%20', 400], ['%2B1', 400], ['1.0', 400], ['-0', 400], ['%EF%BC%91', 400] /* fullwidth 1 */,
        ['%D9%A1', 400] /* Arabic-Indic 1 */, ['%E0%A5%A7', 400] /* Devanagari 1 */, ['%00', 400], ['1%00', 400],
        [HUGE_DIGITS, 400], [LONG, 400], ['null', 400], ['undefined', 400], ['[]', 400], ['%5B1%5D', 400],
        ['1&limit=2', 400] /* repeated → array */, ['', 200] /* empty = default */, ['00010', 200],
      ];

      // Refused by the HTTP layer before any database is asked: once is enough.
      if (backend === 'sqlite') {
        it('limit: a table of nasty values → 400 (never 500), the message short', async function () {
          for (const [raw, status] of NUMBERS) {
            const res = await service.request('GET', `/api/plots?session_id=eq.${sessionId()}&limit=${raw}`);
            if (status === 200) {
              expect(expectOk<ApiPage>(res).limit, raw).to.equal(raw === '' ? 50 : 10);
              continue;
            }
            const error = expectApiError(res, 400, 'VALIDATION_FAILED');
            expect(error.message.length, raw.slice(0, 20)).to.be.below(300);
            expect((error.details as { field: string }).field).to.equal('limit');
          }
        });

        it('offset: the same table → 400 (never 500); 1 000 001 is past the bound', async function () {
          for (const [raw, status] of [...NUMBERS.map(([r, s]) => [r.replace('limit', 'offset'), s] as [string, number]), ['1000001', 400] as [string, number]]) {
            const res = await service.request('GET', `/api/plots?session_id=eq.${sessionId()}&offset=${raw}`);
            if (status === 200) {
              expect(expectOk<ApiPage>(res).offset, raw).to.equal(raw === '' ? 0 : 10);
              continue;
            }
            const error = expectApiError(res, 400, 'VALIDATION_FAILED');
            expect(error.message.length, raw.slice(0, 20)).to.be.below(300);
          }
        });

        it('path ids: a table of nasty values → 400 (a well-formed unknown id → 404)', async function () {
          const id = missingId();
          const cases: Array<[string, number]> = [
            [`%20${id}`, 400], [`${id}%20`, 400], [`${id}%00`, 400], [`{${id}}`, 400], [id.replace(/-/g, ''), 400],
            [id.replace('-', '%E2%80%90'), 400] /* Unicode hyphen */, [id.replace(/\d/, '%EF%BC%91'), 400], ['null', 400],
            ['undefined', 400], ['__proto__', 400], ['constructor', 400], ['1', 400], ['-1', 400], [LONG, 400],
            [`${id},${id}`, 400], [`${id}%3Bselect%201`, 400], [id.toUpperCase(), 404], [id, 404],
          ];
          const before = await rowCounts(service);
          for (const [raw, status] of cases) {
            for (const method of ['GET', 'PATCH', 'DELETE'] as const) {
              const res = await service.request(method, `/api/plots/${raw}`, method === 'PATCH' ? { title: 'x' } : undefined);
              const error = expectApiError(res, status, status === 404 ? 'NOT_FOUND' : 'VALIDATION_FAILED');
              expect(error.message.length, raw.slice(0, 20)).to.be.below(300);
            }
          }
          expect(await rowCounts(service)).to.deep.equal(before);
        });

        it('look-up ids: wrong types, a 10 KB string, not an array → 400 naming the element', async function () {
          const cases: Array<[unknown, string]> = [
            [[1], 'ids[0]'], [[null], 'ids[0]'], [[{}], 'ids[0]'], [[[]], 'ids[0]'], [[missingId(), LONG], 'ids[1]'],
            [[` ${missingId()}`], 'ids[0]'], [[`${missingId()}\n`], 'ids[0]'], [missingId(), 'ids'], [{ 0: missingId() }, 'ids'], [[true], 'ids[0]'],
          ];
          for (const [ids, path] of cases) {
            const error = expectApiError(await service.request('POST', '/api/plots/lookup', { ids }), 400, 'VALIDATION_FAILED');
            expect(issuesOf(error)[0]!.path, JSON.stringify(ids).slice(0, 40)).to.equal(path);
            expect(error.message.length).to.be.below(400);
          }
        });
      }

      it('filter values: out-of-range integers, non-UUIDs, impossible dates → 400 on both backends; edge values work', async function () {
        const refusedFilters = [
          'word_count=eq.2147483648', 'word_count=gt.-2147483649', 'word_count=eq.9999999999', 'word_count=eq.1e3',
          'word_count=eq.0x10', 'word_count=in.1,NaN', 'word_count=eq.%EF%BC%91', 'id=eq.1', 'id=in.' + LONG,
          'session_id=eq.%00', 'is_published=eq.1', 'is_published=eq.TRUE', 'is_published=is_null.maybe',
          'created_at=gte.2024-02-30', 'created_at=gte.2024-13-01', 'created_at=gte.2024-01-01T25:00:00Z',
          'created_at=gte.2024-01-01T00:00:00' /* no zone: would be read as local time */, 'created_at=gte.0000-00-00',
          'created_at=lt.' + HUGE_DIGITS, 'created_at=gte.now()', 'title=eq.' + 'x'.repeat(501), 'title=in.',
        ];
        const before = await rowCounts(service);
        for (const query of refusedFilters) {
          const error = expectApiError(await service.request('GET', `/api/plots?${query}`), 400, 'VALIDATION_FAILED');
          expect(error.message.length, query.slice(0, 40)).to.be.below(400);
        }
        expect(await rowCounts(service)).to.deep.equal(before);
        const tag = uniqueTag();
        // word_count is CHECKed >= 0: the lower INT32 bound is for filters only.
        const [max, min] = await f.createMany('plots', [
          { session_id: sessionId(), title: `${tag} max`, word_count: 2_147_483_647 },
          { session_id: sessionId(), title: `${tag} min`, word_count: 0 },
        ]);
        const page = (query: string): Promise<ApiPage> =>
          service.request('GET', `/api/plots?title=contains.${tag}&${query}`).then((r) => expectOk<ApiPage>(r));
        expect((await page('word_count=eq.2147483647')).data.map((r) => r.id)).to.deep.equal([max!.id]);
        expect((await page('word_count=lt.1&word_count=gt.-2147483648')).data.map((r) => r.id)).to.deep.equal([min!.id]);
        expect((await page('created_at=gte.2000-02-29&created_at=lt.2999-01-01T00:00:00%2B01:00')).total_count).to.equal(2);
        expect((await page('is_published=is_null.false&is_published=eq.false')).total_count).to.equal(2);
      });
    });

    describe('search text is matched literally', function () {
      const TITLES = [
        '100% pure', '100 percent', 'a_b', 'axb', 'back\\slash', 'backslash', 'star*', 'starry', 'comma,here', 'comma here',
        '(paren)', 'paren', 'dot.com', 'dotcom', '"quoted"', "it's", 'or=(x.eq.1)', 'x.eq.1', '%_\\', '*', '[a-z]',
        'a+b', 'aab', '^start', 'end$', 'a|b', 'x{1,2}', 'why?', 'tab\there', 'new\nline', 'semi;colon', 'dash--dash',
        '/*comment*/', 'key:value', 'amp&amp', '#hash', 'select * from plots', "'; drop table plots; --", 'Dragon Fire',
      ];
      const NEEDLES = [
        '%', '_', '\\', '*', ',', '(', ')', '.', '"', "'", 'or=(', '.eq.', 'x.eq.1)', '%_', '\\%', '%_\\', '[a-z]', 'a+b',
        '^', '$', '|', '{1,2}', '?', '\t', '\n', ';', '--', '/*', ':', '&', '#', '+', '*)', 'select *', "';", 'DRAGON', 'dragon f',
      ];

      let literalSession: string;
      const expectedTitles = (needle: string): string[] =>
        TITLES.filter((t) => t.toLowerCase().includes(needle.toLowerCase())).sort();

      before(async function () {
        // A session of their own: a search scoped to it sees only these rows.
        literalSession = (await f.session(graph.user.id as string)).id as string;
        await f.createMany('plots', TITLES.map((title) => ({ session_id: literalSession, title })));
      });

      async function titles(query: string): Promise<string[]> {
        const page = expectOk<ApiPage>(
          await service.request('GET', `/api/plots?session_id=eq.${literalSession}&${query}&limit=500&sort=title`),
        );
        expect(page.total_count).to.equal(page.data.length);
        return page.data.map((r) => r.title as string).sort();
      }

      it('contains: %, _, \\, *, PostgREST and regex syntax match themselves only', async function () {
        const results: Record<string, string[]> = {};
        for (const needle of NEEDLES) {
          const got = await titles(`title=contains.${encodeURIComponent(needle)}`);
          expect(got, `contains ${JSON.stringify(needle)}`).to.deep.equal(expectedTitles(needle));
          results[`contains ${needle}`] = got;
        }
        literalResults[backend] = { ...literalResults[backend], ...results };
      });

      it('q: the same needles over every searchable column, the same rows', async function () {
        const results: Record<string, string[]> = {};
        for (const needle of NEEDLES) {
          const got = await titles(`q=${encodeURIComponent(needle)}`);
          // Blank text is no search at all (every row), by design; the others match literally.
          const expected = needle.trim() === '' ? [...TITLES].sort() : expectedTitles(needle);
          expect(got, `q ${JSON.stringify(needle)}`).to.deep.equal(expected);
          results[`q ${needle}`] = got;
        }
        literalResults[backend] = { ...literalResults[backend], ...results };
      });

      describe('non-ASCII case folding', function () {
        const WORDS = ['Ärger', 'ärger', 'ÄRGER', 'σίσυφος', 'ΣΊΣΥΦΟΣ', 'Straße', 'STRASSE', 'İstanbul', 'istanbul', 'ISTANBUL', 'Ωmega', 'Kelvin', 'ﬁne', 'Éclair', 'éclair', 'Ǆ', 'ǆ'];
        let session: string;
        before(async function () {
          session = (await f.session(graph.user.id as string)).id as string;
          await f.createMany('plots', WORDS.map((title) => ({ session_id: session, title })));
        });
        const found = async (needle: string): Promise<string[]> =>
          expectOk<ApiPage>(
            await service.request('GET', `/api/plots?session_id=eq.${session}&title=contains.${encodeURIComponent(needle)}&limit=100`),
          ).data.map((r) => r.title as string).sort();

        it('simple one-to-one case pairs fold alike (ä/Ä, é/É, σ/Σ, ω/Ω, ǅ/Ǆ/ǆ); no expansions (ß ≠ SS, ﬁ ≠ fi)', async function () {
          const expected: Record<string, string[]> = {
            'ärger': ['ÄRGER', 'Ärger', 'ärger'],
            'ÄRGER': ['ÄRGER', 'Ärger', 'ärger'],
            'σίσυφος': ['ΣΊΣΥΦΟΣ', 'σίσυφος'],
            'ω': ['Ωmega'],
            'É': ['Éclair', 'éclair'],
            'é': ['Éclair', 'éclair'],
            'ǅ': ['Ǆ', 'ǆ'],
            'ß': ['Straße'],
            'SS': ['STRASSE'],
            'fi': [],
            'k': ['Kelvin'],
          };
          for (const [needle, titles] of Object.entries(expected)) expect(await found(needle), needle).to.deep.equal([...titles].sort());
        });

        // Adapter difference (reported, not fixable in the HTTP layer): SQLite folds with JavaScript's
        // toLowerCase (full Unicode lower-casing: final sigma in context, İ → i̇, Ω/K signs → ω/k);
        // PostgreSQL's `~*` compares per character with simple case mapping (and per collation).
        it.skip('special casing folds alike: ΣΊΣΥΦΟΣ finds σίσυφος, İ finds only İstanbul, the Ohm/Kelvin signs find ω/k [adapter difference]', async function () {
          expect(await found('ΣΊΣΥΦΟΣ')).to.deep.equal(['ΣΊΣΥΦΟΣ', 'σίσυφος']);
          expect(await found('İ')).to.deep.equal(['İstanbul']);
          expect(await found('\u2126')).to.deep.equal(['Ωmega']);
          expect(await found('\u212a')).to.deep.equal(['Kelvin']);
        });
      });

      it('in: values with commas, quotes, parentheses and backslashes are whole values', async function () {
        const values = ['comma,here', '"quoted"', '(paren)', 'back\\slash', 'or=(x.eq.1)', '%_\\'];
        // One `in` value per parameter occurrence is not how `in` works: the list is comma-separated,
        // so a value with a comma cannot be named in it; the others can.
        const plain = values.filter((v) => !v.includes(','));
        const got = await titles(`title=in.${plain.map(encodeURIComponent).join(',')}`);
        expect(got).to.deep.equal([...plain].sort());
      });
    });

    describe('Unicode', function () {
      const SAMPLES: Record<string, string> = {
        emoji: 'family 👩‍👩‍👧‍👦 flag 🇺🇦 skin 👍🏽',
        combining: 'e\u0301 vs \u00e9, n\u0303, Z\u0351\u0352\u0353 (not normalised)',
        rtl: 'שָׁלוֹם \u200fمرحبا\u200e mixed ltr',
        astral: '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𠀀 \u{10FFFF} \u{1F600}',
        controls: 'bell\u0007 esc\u001b del\u007f nel\u0085 ls\u2028 ps\u2029 zwsp\u200b bom\ufeff nonchar\ufffe\uffff',
        quotes: '"\'\\`<>&',
      };

      it('text and JSON (keys and values) round-trip byte-exact: response, re-read and stored row', async function () {
        for (const [name, text] of Object.entries(SAMPLES)) {
          const created = await f.create('authors', {
            session_id: sessionId(),
            name: `${name}: ${text}`.slice(0, 200),
            bio: text.repeat(50),
            metadata: { [text]: text, nested: [text, { [name]: text }] },
          });
          const fetched = expectOk<Row>(await service.request('GET', `/api/authors/${String(created.id)}`));
          const stored = await storedRow(service, 'authors', created.id as string);
          for (const row of [created, fetched, stored!]) {
            expect(Buffer.from(row.name as string, 'utf8').equals(Buffer.from(`${name}: ${text}`.slice(0, 200), 'utf8')), name).to.equal(true);
            expect(row.bio, name).to.equal(text.repeat(50));
            expect(row.metadata, name).to.deep.equal({ [text]: text, nested: [text, { [name]: text }] });
          }
          // And found by a literal search for it.
          const page = expectOk<ApiPage>(
            await service.request('GET', `/api/authors?session_id=eq.${sessionId()}&name=contains.${encodeURIComponent(Array.from(text).slice(0, 12).join(''))}`),
          );
          expect(page.data.map((r) => r.id), name).to.include(created.id);
        }
      });

      it('column limits count characters, not UTF-16 units: 500 astral characters fit a 500-character title, 501 do not', async function () {
        const title = '𝔘'.repeat(500);
        const row = await f.plot(sessionId(), null, { title });
        expect((await storedRow(service, 'plots', row.id as string))?.title).to.equal(title);
        const error = await refused(service, 400, 'VALIDATION_FAILED', () =>
          service.request('POST', '/api/plots', { session_id: sessionId(), title: `${title}𝔘` }),
        );
        expect(error.message).to.include('title').and.include('500 characters');
      });

      it('U+0000 (NUL) is refused everywhere (PostgreSQL cannot store it), on both backends alike', async function () {
        const cases: Array<[string, () => Promise<TestResponse>, string]> = [
          ['in a text column', () => service.request('POST', '/api/plots', { session_id: sessionId(), title: 'a\u0000b' }), 'title'],
          ['in a JSON value', () => service.request('POST', '/api/plots', { session_id: sessionId(), title: 't', metadata: { a: 'x\u0000' } }), 'metadata.a'],
          ['in a JSON key', () => service.request('POST', '/api/plots', { session_id: sessionId(), title: 't', metadata: { 'k\u0000': 1 } }), 'metadata.k'],
          ['in a batch item', () => service.request('POST', '/api/plots/batch', { items: [{ session_id: sessionId(), title: 'ok' }, { session_id: sessionId(), title: '\u0000' }] }), 'items[1].title'],
          ['in an update', () => service.request('PATCH', `/api/sessions/${sessionId()}`, { title: '\u0000' }), 'title'],
        ];
        for (const [name, send, path] of cases) {
          const error = await refused(service, 400, 'VALIDATION_FAILED', send);
          expect(issuesOf(error)[0]!.path, name).to.include(path);
          expect(error.message, name).to.include('U+0000');
        }
        for (const query of ['q=%00', 'title=contains.a%00b', 'title=eq.%00', 'title=in.a,%00']) {
          const error = await refused(service, 400, 'VALIDATION_FAILED', () => service.request('GET', `/api/plots?${query}`));
          expect(error.message, query).to.include('U+0000');
        }
      });

      it('unpaired surrogates (\\ud800) are refused: they are not Unicode and could not come back byte-exact', async function () {
        for (const body of [
          `{"session_id":"${sessionId()}","title":"a\\ud800b"}`,
          `{"session_id":"${sessionId()}","title":"\\udfff"}`,
          `{"session_id":"${sessionId()}","title":"t","metadata":{"\\ud83d":1}}`,
        ]) {
          const error = await refused(service, 400, 'VALIDATION_FAILED', () => service.request('POST', '/api/plots', body));
          expect(error.message, body).to.include('unpaired');
        }
        // A correctly paired escape is an ordinary astral character.
        const row = expectOk<Row>(await service.request('POST', '/api/plots', `{"session_id":"${sessionId()}","title":"\\ud83d\\ude00"}`), 201);
        expect(row.title).to.equal('😀');
      });
    });

    it('prototype names as plain data in a JSON column (constructor, prototype, toString…) round-trip; nothing is polluted', async function () {
      const metadata = {
        constructor: 'Bob',
        prototype: 1,
        toString: 'x',
        hasOwnProperty: 2,
        valueOf: null,
        __defineGetter__: [],
        nested: { constructor: { name: 'not a prototype' }, isPrototypeOf: true },
      };
      const body = `{"session_id":"${sessionId()}","title":"proto data","metadata":${JSON.stringify(metadata)}}`;
      const created = expectOk<Row>(await service.request('POST', '/api/plots', body), 201);
      const fetched = expectOk<Row>(await service.request('GET', `/api/plots/${String(created.id)}`));
      const stored = await storedRow(service, 'plots', created.id as string);
      for (const row of [created, fetched, stored!]) {
        expect(Object.getPrototypeOf(row.metadata)).to.equal(Object.prototype);
        expect(row.metadata).to.deep.equal(metadata);
      }
      expect(({} as { polluted?: unknown }).polluted).to.equal(undefined);
      expect(typeof ({} as { toString: unknown }).toString).to.equal('function');
    });

    it('the service is still healthy and answered no 5xx', async function () {
      expectCleanResponse(await service.request('GET', '/health/ready'));
      const scrape = parseExposition((await service.request('GET', '/metrics')).text);
      const serverErrors = scrape.samples
        .filter((s) => s.name === 'http_server_request_duration_seconds_count' && /^5/.test(s.labels.http_response_status_code ?? ''))
        .reduce((sum, s) => sum + s.value, 0);
      expect(serverErrors).to.equal(0);
    });
  });
}

describe('bad input: both backends answered alike', function () {
  it('literal matching gave identical results on SQLite and Supabase', function () {
    if (!literalResults.sqlite || !literalResults.supabase) this.skip();
    expect(Object.keys(literalResults.supabase!).length).to.be.greaterThan(50);
    expect(literalResults.supabase).to.deep.equal(literalResults.sqlite);
  });
});
