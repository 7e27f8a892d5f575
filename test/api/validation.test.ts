/**
 * Every way a request can be wrong: the status, the stable code, a message that tells a person
 * what to change, the request id in body and header, no stack trace — and nothing written
 * (row counts of every table compared before and after).
 */
import { expect } from 'chai';
import type { Row } from '../../src/adapters/contract.js';
import { TABLES } from '../../src/schema/tables.js';
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
  type Graph,
} from '../support/fixtures.js';
import { BACKENDS } from '../support/backends.js';
import { startTestService, type TestResponse, type TestService } from '../support/service.js';

const MAX_BODY_BYTES = 64 * 1024;
const MAX_BATCH = 200;

interface Issue {
  readonly path: string;
  readonly message: string;
}

function issuesOf(error: ApiError): Issue[] {
  return (error.details as { issues: Issue[] }).issues;
}

for (const backend of BACKENDS) describe(`API: validation and error responses [${backend}]`, function () {
  let service: TestService;
  let f: Fixtures;
  let graph: Graph;

  before(async function () {
    service = await startTestService({
      backend,
      env: { HTTP_MAX_BODY_BYTES: String(MAX_BODY_BYTES), API_MAX_BATCH_SIZE: String(MAX_BATCH) },
    });
    f = new Fixtures(service);
    graph = await f.graph();
  });

  after(async function () {
    await service?.stop();
  });

  /** Runs the request, asserts the error, and asserts no table changed. */
  async function rejected(
    status: number,
    code: string,
    send: () => Promise<TestResponse>,
  ): Promise<ApiError> {
    const before = await rowCounts(service);
    const error = expectApiError(await send(), status, code);
    expect(await rowCounts(service), 'row counts after a refused request').to.deep.equal(before);
    return error;
  }

  const plotBody = (overrides: Row = {}): Row => ({
    session_id: graph.session.id,
    author_id: graph.author.id,
    title: `Plot ${uniqueTag()}`,
    ...overrides,
  });

  describe('request bodies', function () {
    it('unknown field → 400 naming the field', async function () {
      const error = await rejected(400, 'VALIDATION_FAILED', () =>
        service.request('POST', '/api/plots', plotBody({ subtitle: 'nope' })),
      );
      expect(error.message).to.include('subtitle').and.include('unknown field');
      expect(issuesOf(error)).to.deep.equal([{ path: 'subtitle', message: 'unknown field' }]);
    });

    it('generated columns (id, created_at) cannot be written', async function () {
      const error = await rejected(400, 'VALIDATION_FAILED', () =>
        service.request('POST', '/api/plots', plotBody({ id: missingId(), created_at: '2020-01-01T00:00:00.000Z' })),
      );
      expect(error.message).to.include('id').and.include('created_at');
    });

    it('wrong type → 400 naming the field and the expected type', async function () {
      const error = await rejected(400, 'VALIDATION_FAILED', () =>
        service.request('POST', '/api/plots', plotBody({ word_count: 'many' })),
      );
      expect(error.message).to.match(/word_count: .*number/);
      expect(issuesOf(error).map((i) => i.path)).to.deep.equal(['word_count']);
    });

    it('missing required field → 400 saying it is required', async function () {
      const body = plotBody();
      delete body.title;
      const error = await rejected(400, 'VALIDATION_FAILED', () => service.request('POST', '/api/plots', body));
      expect(error.message).to.include('title').and.include('required');
      expect(issuesOf(error)[0]).to.deep.equal({ path: 'title', message: 'is required (string)' });
    });

    it('text longer than the column allows → 400 with the limit', async function () {
      const error = await rejected(400, 'VALIDATION_FAILED', () =>
        service.request('POST', '/api/plots', plotBody({ title: 'x'.repeat(501) })),
      );
      expect(error.message).to.include('title').and.include('500');
    });

    it('an update that changes nothing → 400', async function () {
      const plot = await f.plot(graph.session.id as string, null);
      const error = await rejected(400, 'VALIDATION_FAILED', () =>
        service.request('PATCH', `/api/plots/${String(plot.id)}`, {}),
      );
      expect(error.message).to.include('at least one column');
    });

    it('a body that is not an object → 400', async function () {
      const error = await rejected(400, 'VALIDATION_FAILED', () => service.request('POST', '/api/plots', [1, 2]));
      expect(error.message).to.include('object');
    });

    it('non-JSON content type → 415 on every write route', async function () {
      const plot = await f.plot(graph.session.id as string, null);
      const sends: Array<[string, string]> = [
        ['POST', '/api/plots'],
        ['POST', '/api/plots/batch'],
        ['PATCH', '/api/plots/batch'],
        ['POST', '/api/plots/lookup'],
        ['PATCH', `/api/plots/${String(plot.id)}`],
      ];
      for (const [method, url] of sends) {
        const error = await rejected(415, 'UNSUPPORTED_MEDIA_TYPE', () =>
          service.request(method, url, 'title=x', { 'content-type': 'application/x-www-form-urlencoded' }),
        );
        expect(error.message, `${method} ${url}`).to.include('application/json');
      }
      await rejected(415, 'UNSUPPORTED_MEDIA_TYPE', () =>
        service.request('POST', '/api/plots', JSON.stringify(plotBody()), { 'content-type': 'text/plain' }),
      );
    });

    it('JSON in a charset other than UTF-8 → 415', async function () {
      await rejected(415, 'UNSUPPORTED_MEDIA_TYPE', () =>
        service.request('POST', '/api/plots', JSON.stringify(plotBody()), {
          'content-type': 'application/json; charset=latin1',
        }),
      );
    });

    it('invalid JSON → 400', async function () {
      const error = await rejected(400, 'VALIDATION_FAILED', () =>
        service.request('POST', '/api/plots', '{"title": "unterminated', { 'content-type': 'application/json' }),
      );
      expect(error.message).to.include('not valid JSON');
    });

    it(`a body over HTTP_MAX_BODY_BYTES (${MAX_BODY_BYTES}) → 413 with the limit`, async function () {
      const error = await rejected(413, 'PAYLOAD_TOO_LARGE', () =>
        service.request('POST', '/api/plots', plotBody({ summary: 'x'.repeat(MAX_BODY_BYTES + 10) })),
      );
      expect(error.message).to.include(String(MAX_BODY_BYTES));
      expect(error.details).to.deep.equal({ limit_bytes: MAX_BODY_BYTES });
    });
  });

  describe('batches', function () {
    it(`more than API_MAX_BATCH_SIZE (${MAX_BATCH}) items → 413 naming the limit`, async function () {
      const items = Array.from({ length: MAX_BATCH + 1 }, () => plotBody());
      const error = await rejected(413, 'PAYLOAD_TOO_LARGE', () => service.request('POST', '/api/plots/batch', { items }));
      expect(error.message).to.include(String(MAX_BATCH)).and.include(String(MAX_BATCH + 1));
      expect(error.details).to.deep.equal({ max_items: MAX_BATCH, items: MAX_BATCH + 1 });

      const updates = Array.from({ length: MAX_BATCH + 1 }, () => ({ id: missingId(), changes: { title: 'x' } }));
      await rejected(413, 'PAYLOAD_TOO_LARGE', () => service.request('PATCH', '/api/plots/batch', { items: updates }));
      const ids = Array.from({ length: MAX_BATCH + 1 }, () => missingId());
      await rejected(413, 'PAYLOAD_TOO_LARGE', () => service.request('POST', '/api/plots/lookup', { ids }));
    });

    it('one invalid item in a batch of 100 → 400 naming items[57].title; zero rows written', async function () {
      const items = Array.from({ length: 100 }, () => plotBody());
      items[57] = plotBody({ title: 42 });
      const error = await rejected(400, 'VALIDATION_FAILED', () => service.request('POST', '/api/plots/batch', { items }));
      expect(error.message).to.include('items[57].title');
      expect(issuesOf(error).map((i) => i.path)).to.deep.equal(['items[57].title']);
    });

    it('one item of 100 referring to a missing author → 409; zero rows written (one transaction)', async function () {
      const items = Array.from({ length: 100 }, () => plotBody());
      items[57] = plotBody({ author_id: missingId() });
      const error = await rejected(409, 'CONFLICT', () => service.request('POST', '/api/plots/batch', { items }));
      expect(error.message).to.include('plots');
    });

    it('an empty batch → 400', async function () {
      const error = await rejected(400, 'VALIDATION_FAILED', () => service.request('POST', '/api/plots/batch', { items: [] }));
      expect(error.message).to.include('items').and.include('at least one');
    });

    it('a batch update naming a missing id → 404; no row changed', async function () {
      const plot = await f.plot(graph.session.id as string, null, { title: 'Unchanged' });
      const absent = missingId();
      const items = [
        { id: plot.id, changes: { title: 'Changed' } },
        { id: absent, changes: { title: 'Changed' } },
      ];
      const error = await rejected(404, 'NOT_FOUND', () => service.request('PATCH', '/api/plots/batch', { items }));
      expect(error.message).to.include(absent);
      expect(await storedRow(service, 'plots', plot.id as string)).to.deep.equal(plot);
    });

    it('a batch update naming one id twice → 400', async function () {
      const plot = await f.plot(graph.session.id as string, null);
      const items = [
        { id: plot.id, changes: { title: 'A' } },
        { id: String(plot.id).toUpperCase(), changes: { title: 'B' } },
      ];
      const error = await rejected(400, 'VALIDATION_FAILED', () => service.request('PATCH', '/api/plots/batch', { items }));
      expect(error.message).to.include('twice');
      expect(await storedRow(service, 'plots', plot.id as string)).to.deep.equal(plot);
    });

    it('lookup with a malformed id → 400 naming ids[1]', async function () {
      const error = await rejected(400, 'VALIDATION_FAILED', () =>
        service.request('POST', '/api/plots/lookup', { ids: [missingId(), 'nope'] }),
      );
      expect(error.message).to.include('ids[1]');
    });
  });

  describe('constraints', function () {
    it('duplicate email → 409 CONFLICT naming the column (create, batch and update)', async function () {
      const email = `${uniqueTag()}@example.test`;
      await f.user({ email });
      const error = await rejected(409, 'CONFLICT', () =>
        service.request('POST', '/api/users', { email, display_name: 'Second' }),
      );
      expect(error.message).to.include('email');

      const twice = `${uniqueTag()}@example.test`;
      await rejected(409, 'CONFLICT', () =>
        service.request('POST', '/api/users/batch', {
          items: [
            { email: twice, display_name: 'A' },
            { email: twice, display_name: 'B' },
          ],
        }),
      );

      const other = await f.user();
      await rejected(409, 'CONFLICT', () => service.request('PATCH', `/api/users/${String(other.id)}`, { email }));
      expect(await storedRow(service, 'users', other.id as string)).to.deep.equal(other);
    });

    it('a foreign key to a missing session → 409 CONFLICT naming the column', async function () {
      const error = await rejected(409, 'CONFLICT', () =>
        service.request('POST', '/api/authors', { session_id: missingId(), name: 'Orphan' }),
      );
      expect(error.message).to.include('session_id');
      const author = await f.author(graph.session.id as string);
      await rejected(409, 'CONFLICT', () =>
        service.request('PATCH', `/api/authors/${String(author.id)}`, { session_id: missingId() }),
      );
      expect(await storedRow(service, 'authors', author.id as string)).to.deep.equal(author);
    });
  });

  describe('query strings and paths', function () {
    it('unknown sort column → 400 listing the sortable columns', async function () {
      const error = await rejected(400, 'VALIDATION_FAILED', () => service.request('GET', '/api/plots?sort=-password'));
      const sortable = Object.entries(TABLES.plots.columns)
        .filter(([, c]) => c.sortable)
        .map(([name]) => name);
      expect(error.message).to.include('password');
      for (const column of sortable) expect(error.message).to.include(column);
      expect(error.details).to.deep.equal({ field: 'sort', allowed: sortable });
    });

    it('unknown filter column → 400 listing the filterable columns', async function () {
      const error = await rejected(400, 'VALIDATION_FAILED', () => service.request('GET', '/api/plots?summary=eq.x'));
      expect(error.message).to.include('summary').and.include('filterable columns: id, session_id');
    });

    it('unknown filter operator → 400 listing the operators', async function () {
      const error = await rejected(400, 'VALIDATION_FAILED', () => service.request('GET', '/api/plots?title=like.x'));
      expect(error.message).to.include('eq, neq, gt, gte, lt, lte, in, contains, is_null');
    });

    it('a filter value of the wrong type → 400', async function () {
      const error = await rejected(400, 'VALIDATION_FAILED', () => service.request('GET', '/api/plots?word_count=gt.lots'));
      expect(error.message).to.include('word_count').and.include('whole number');
    });

    it('unknown include → 400 listing the allowed includes', async function () {
      const error = await rejected(400, 'VALIDATION_FAILED', () => service.request('GET', '/api/plots?include=chapters'));
      expect(error.message).to.include('chapters').and.include('author');
    });

    for (const [query, pattern] of [
      ['limit=501', /limit.*between 1 and 500/],
      ['limit=0', /limit.*between 1 and 500/],
      ['limit=ten', /limit.*whole number/],
      ['limit=1.5', /limit.*whole number/],
      ['offset=-1', /offset.*whole number/],
      ['limit=10&limit=20', /limit.*more than once/],
    ] as const) {
      it(`${query} → 400`, async function () {
        const error = await rejected(400, 'VALIDATION_FAILED', () => service.request('GET', `/api/plots?${query}`));
        expect(error.message).to.match(pattern);
      });
    }

    it('a malformed id in the path → 400, never 500', async function () {
      for (const [method, url] of [
        ['GET', '/api/plots/not-a-uuid'],
        ['PATCH', '/api/plots/123'],
        ['DELETE', `/api/plots/${encodeURIComponent("1' OR '1'='1")}`],
        ['GET', '/api/sessions/xyz/content'],
      ] as const) {
        const error = await rejected(400, 'VALIDATION_FAILED', () =>
          service.request(method, url, method === 'PATCH' ? { title: 'x' } : undefined),
        );
        expect(error.message, `${method} ${url}`).to.include('expected a UUID');
      }
      // A broken percent-escape fails while express decodes the parameter, before any handler.
      const error = await rejected(400, 'VALIDATION_FAILED', () => service.request('GET', '/api/plots/%E0%A4%A'));
      expect(error.message).to.include('percent-encoded');
    });

    it('unknown route → 404 NOT_FOUND', async function () {
      for (const [method, url] of [
        ['GET', '/nope'],
        ['GET', '/api/books'],
        ['GET', '/api/plots/1/2/3'],
        ['PUT', `/api/plots/${missingId()}`],
      ] as const) {
        const error = await rejected(404, 'NOT_FOUND', () => service.request(method, url));
        expect(error.message).to.include(method);
      }
    });
  });

  describe('request ids', function () {
    it('every response carries X-Request-Id, echoed from a safe incoming one', async function () {
      const ok = await service.request('GET', '/health/live');
      expectCleanResponse(ok);
      const created = await service.request('POST', '/api/users', { email: `${uniqueTag()}@x.test`, display_name: 'R' });
      expectOk(created, 201);
      const deleted = await service.request('DELETE', `/api/users/${String((created.body as Row).id)}`);
      expect(deleted.status).to.equal(204);
      expectCleanResponse(deleted);

      const mine = await service.request('GET', `/api/plots/${missingId()}`, undefined, { 'x-request-id': 'trace-me.42' });
      expect(mine.headers.get('x-request-id')).to.equal('trace-me.42');
      expect(expectApiError(mine, 404, 'NOT_FOUND').request_id).to.equal('trace-me.42');

      // Not a safe token (spaces, too long): replaced, never reflected.
      const unsafe = await service.request('GET', '/nope', undefined, { 'x-request-id': 'a b<script>' });
      expect(unsafe.headers.get('x-request-id')).to.match(/^[0-9a-f-]{36}$/);
      expectApiError(unsafe, 404, 'NOT_FOUND');
    });
  });
});
