/**
 * Shared fixtures of the Supabase adapter's unit tests. A migrated PGlite database costs seconds,
 * so the whole run shares one (see sharedMigratedServer); each test that counts sockets or injects
 * faults gets its own server on top of it (milliseconds), so its stats and faults are its own.
 */
import { randomUUID } from 'node:crypto';

import { expect } from 'chai';

import type { Row } from '../../../src/adapters/contract.js';
import type { SupabaseAdapter } from '../../../src/adapters/supabase/index.js';
import { AppError, type ErrorCode } from '../../../src/errors/index.js';
import { TABLES } from '../../../src/schema/tables.js';
import {
  createSupabaseTestAdapter,
  sharedMigratedServer,
  startMigratedServer,
  type SupabaseTestAdapter,
  type SupabaseTestAdapterOptions,
} from '../../contract/supabase-fixture.js';
import type { PostgrestTestServer, PostgrestTestServerOptions } from '../../support/postgrest/index.js';

/** The run's migrated database, behind a server that tests may use for plain reads and writes. */
export function sharedServer(): Promise<PostgrestTestServer> {
  return sharedMigratedServer();
}

/**
 * A server of its own on the shared database (own sockets, stats, faults and options). Idle
 * keep-alive sockets are kept for 60 s unless the test says otherwise, so socket counts are not
 * disturbed by the server's idle timeout.
 */
export async function ownServer(options: PostgrestTestServerOptions = {}): Promise<PostgrestTestServer> {
  const base = await sharedServer();
  return startMigratedServer({ executor: base.executor, keepAliveTimeoutMs: 60_000, ...options });
}

/** An adapter on `server` (test defaults: pool 2–4, 10 s timeout, 2 read retries, 10 ms back-off). */
export function adapterOn(
  server: PostgrestTestServer,
  options: Omit<SupabaseTestAdapterOptions, 'server'> = {},
): Promise<SupabaseTestAdapter> {
  return createSupabaseTestAdapter({ server, ...options });
}

/** Awaits a promise that must reject with an AppError of `code`; returns the error. */
export async function rejection(promise: Promise<unknown>, code: ErrorCode): Promise<AppError> {
  let outcome: { value: unknown } | { error: unknown };
  try {
    outcome = { value: await promise };
  } catch (error) {
    outcome = { error };
  }
  if ('value' in outcome)
    expect.fail(`expected ${code}, got a result: ${JSON.stringify(outcome.value)?.slice(0, 200)}`);
  expect(outcome.error).to.be.instanceOf(AppError);
  const error = outcome.error as AppError;
  expect(error.code, error.message).to.equal(code);
  return error;
}

/** A fresh user and session (the scope of one test's rows). */
export async function newSession(adapter: SupabaseAdapter): Promise<Row> {
  const user = await adapter.insertOne(TABLES.users, {
    email: `unit-${randomUUID()}@supabase.test`,
    display_name: 'Unit',
  });
  return adapter.insertOne(TABLES.sessions, { user_id: user.id, title: 'unit session' });
}

/** What the server saw between two points: TCP connections, requests, requests by method. */
export interface Traffic {
  readonly connections: number;
  readonly requests: number;
  readonly byMethod: Readonly<Record<string, number>>;
}

/** Runs `fn` and returns the server traffic it caused (the stats are reset first). */
export async function traffic<T>(
  server: PostgrestTestServer,
  fn: () => Promise<T>,
): Promise<{ result: T; traffic: Traffic }> {
  server.stats.reset();
  const result = await fn();
  return {
    result,
    traffic: {
      connections: server.stats.connections,
      requests: server.stats.requests,
      byMethod: server.stats.requestsByMethod,
    },
  };
}

/** Waits until `condition` holds (checked every 10 ms, at most `ms`); false on timeout. */
export async function eventually(condition: () => boolean, ms = 2_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return condition();
}

/** Rows of a table as stored, straight from the database (not through the adapter under test). */
export async function storedRows(
  server: PostgrestTestServer,
  table: string,
  where: string,
  params: (string | number)[],
): Promise<Record<string, unknown>[]> {
  // Render like PostgREST does (row_to_json), so values compare after the same normalisation.
  const result = await server.executor.query<{ row: string }>(
    `select row_to_json(t)::text as row from ${table} t where ${where}`,
    params,
  );
  return result.rows.map((r) => JSON.parse(r.row) as Record<string, unknown>);
}
