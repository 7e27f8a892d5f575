/**
 * Fixture builders for the API tests: every row is created through the real HTTP API (so the
 * fixtures exercise the same path as the tests), with unique values so that tests sharing one
 * service never see each other's rows.
 *
 *   user → session → authors / world_building → plots / characters
 */
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { Row } from '../../src/adapters/contract.js';
import { TABLES, TABLE_NAMES, type TableName } from '../../src/schema/tables.js';
import type { TestResponse, TestService } from './service.js';

let sequence = 0;

/** A lower-case token unique within this process run (safe in emails, names and `contains` filters). */
export function uniqueTag(prefix = 't'): string {
  sequence += 1;
  return `${prefix}${Date.now().toString(36)}x${sequence}x${randomUUID().slice(0, 6)}`;
}

/** A syntactically valid UUID that no row has. */
export function missingId(): string {
  return randomUUID();
}

/** The error body of the API (design §9). */
export interface ApiError {
  readonly code: string;
  readonly message: string;
  readonly details?: unknown;
  readonly request_id: string;
}

/** A page of search results. */
export interface ApiPage {
  readonly data: Row[];
  readonly total_count: number;
  readonly limit: number;
  readonly offset: number;
  readonly has_more: boolean;
}

/** A stack frame or an Error's own toString: neither may reach a client. */
const STACK_TRACE = /\n\s+at |\bat [\w$.<>]+ \(|\.(?:js|ts):\d+:\d+|"stack"/;

/** Asserts the response has an `X-Request-Id` header and no stack trace in its body. */
export function expectCleanResponse(res: TestResponse): void {
  const id = res.headers.get('x-request-id');
  expect(id, 'X-Request-Id header').to.be.a('string').and.not.equal('');
  expect(res.text).not.to.match(STACK_TRACE);
}

/**
 * Asserts an error response: status, stable code, a message, the request id of the body equal to
 * the `X-Request-Id` header, no stack trace. Returns the error for further checks.
 */
export function expectApiError(res: TestResponse, status: number, code: string): ApiError {
  expect(res.status, `status of ${res.text.slice(0, 300)}`).to.equal(status);
  expectCleanResponse(res);
  const body = res.body as { error?: ApiError } | undefined;
  expect(body?.error, `error body of ${res.text.slice(0, 300)}`).to.be.an('object');
  const error = body!.error!;
  expect(error.code).to.equal(code);
  expect(error.message).to.be.a('string').with.length.greaterThan(10);
  expect(error.request_id).to.equal(res.headers.get('x-request-id'));
  expect(Object.keys(body!)).to.deep.equal(['error']);
  return error;
}

/** Asserts a 2xx status (showing the body when it is not) and returns the JSON body. */
export function expectOk<T = Row>(res: TestResponse, status = 200): T {
  expect(res.status, `status of ${res.text.slice(0, 500)}`).to.equal(status);
  expectCleanResponse(res);
  return res.body as T;
}

/** Row counts of every table, read at the adapter (not through the API under test). */
export async function rowCounts(service: TestService): Promise<Record<TableName, number>> {
  const entries = await Promise.all(
    TABLE_NAMES.map(async (name) => [name, await service.container.adapter.count(TABLES[name], [])] as const),
  );
  return Object.fromEntries(entries) as Record<TableName, number>;
}

/** The stored row, read at the adapter; null when absent. */
export function storedRow(service: TestService, table: TableName, id: string): Promise<Row | null> {
  return service.container.adapter.getById(TABLES[table], id);
}

/** The parent rows a row of any table may need. */
export interface Graph {
  readonly user: Row;
  readonly session: Row;
  readonly author: Row;
  readonly worldBuilding: Row;
}

/** Builds rows through the API of one service. */
export class Fixtures {
  readonly service: TestService;

  constructor(service: TestService) {
    this.service = service;
  }

  /** POST /api/<table> and expect 201. */
  async create(table: TableName, body: Row): Promise<Row> {
    const res = await this.service.request('POST', `/api/${table}`, body);
    return expectOk<Row>(res, 201);
  }

  /** POST /api/<table>/batch and expect 201; rows in input order. */
  async createMany(table: TableName, items: readonly Row[]): Promise<Row[]> {
    const res = await this.service.request('POST', `/api/${table}/batch`, { items });
    const body = expectOk<{ data: Row[] }>(res, 201);
    expect(body.data).to.have.length(items.length);
    return body.data;
  }

  user(overrides: Row = {}): Promise<Row> {
    const tag = uniqueTag('u');
    return this.create('users', { email: `${tag}@example.test`, display_name: `User ${tag}`, ...overrides });
  }

  async session(userId?: string, overrides: Row = {}): Promise<Row> {
    const user_id = userId ?? ((await this.user()).id as string);
    return this.create('sessions', { user_id, title: `Session ${uniqueTag('s')}`, ...overrides });
  }

  author(sessionId: string, overrides: Row = {}): Promise<Row> {
    return this.create('authors', { session_id: sessionId, name: `Author ${uniqueTag('a')}`, ...overrides });
  }

  worldBuilding(sessionId: string, overrides: Row = {}): Promise<Row> {
    return this.create('world_building', { session_id: sessionId, name: `Place ${uniqueTag('w')}`, ...overrides });
  }

  plot(sessionId: string, authorId: string | null, overrides: Row = {}): Promise<Row> {
    return this.create('plots', {
      session_id: sessionId,
      author_id: authorId,
      title: `Plot ${uniqueTag('p')}`,
      ...overrides,
    });
  }

  character(sessionId: string, worldBuildingId: string | null, overrides: Row = {}): Promise<Row> {
    return this.create('characters', {
      session_id: sessionId,
      world_building_id: worldBuildingId,
      name: `Character ${uniqueTag('c')}`,
      ...overrides,
    });
  }

  /** A user with a session holding one author and one world-building entry. */
  async graph(): Promise<Graph> {
    const user = await this.user();
    const session = await this.session(user.id as string);
    const sid = session.id as string;
    const [author, worldBuilding] = await Promise.all([this.author(sid), this.worldBuilding(sid)]);
    return { user, session, author, worldBuilding };
  }
}
