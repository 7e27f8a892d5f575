/**
 * The adapter contract suite against Supabase: supabase-js over real sockets to the PostgREST
 * test server, on PGlite (default) or the PostgreSQL at TEST_DATABASE_URL.
 */
import { describeAdapterContract } from './adapter-contract.js';
import { createSupabaseTestAdapter, databaseBackend, sharedMigratedServer } from './supabase-fixture.js';

describeAdapterContract(`Supabase (PostgREST test server on ${databaseBackend()})`, async () => {
  const base = await sharedMigratedServer();
  // A server of the suite's own on the shared database (every test makes its own rows).
  const { adapter, operations, cleanup } = await createSupabaseTestAdapter({
    serverOptions: { executor: base.executor },
  });
  return { adapter, operations, cleanup };
});
