/**
 * The adapter contract suite against Supabase: supabase-js over real sockets to the PostgREST
 * test server, on PGlite (default) or the PostgreSQL at TEST_DATABASE_URL.
 */
import { describeAdapterContract } from './adapter-contract.js';
import { createSupabaseTestAdapter, databaseBackend } from './supabase-fixture.js';

describeAdapterContract(`Supabase (PostgREST test server on ${databaseBackend()})`, async () => {
  const { adapter, operations, cleanup } = await createSupabaseTestAdapter();
  return { adapter, operations, cleanup };
});
