/**
 * Services for the suites that run on both backends. The supabase one serves the process's shared,
 * already migrated PostgREST database (a PGlite start costs about a second; another server on it
 * costs milliseconds), so row counts there include other suites' rows: tests compare counts before
 * and after, never absolute numbers.
 */
import { sharedMigratedServer } from '../../contract/supabase-fixture.js';
import type { Env } from '../../../src/config/index.js';
import type { ContainerOptions } from '../../../src/container.js';
import type { PostgrestTestServerOptions } from '../../support/postgrest/index.js';
import { startTestService, type TestService } from '../../support/service.js';

export const BOTH_BACKENDS = ['sqlite', 'supabase'] as const;
export type BackendName = (typeof BOTH_BACKENDS)[number];

export async function startBackendService(
  backend: BackendName,
  env: Env = {},
  postgrest: PostgrestTestServerOptions = {},
  containerOptions: Omit<ContainerOptions, 'logger'> = {},
): Promise<TestService> {
  if (backend === 'sqlite') return startTestService({ env, containerOptions });
  const shared = await sharedMigratedServer();
  return startTestService({ backend, env, containerOptions, postgrest: { executor: shared.executor, ...postgrest } });
}

/** `plain`, its URI encoding and its base64: the forms a secret could leak in. */
export function leakForms(secret: string): string[] {
  return [secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('base64url')];
}
