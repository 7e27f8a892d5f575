/**
 * The observability tests' service (test/support/service.ts on SQLite, optionally with test-only
 * routes through `createApp`'s `extraRoutes` seam) and the story they seed.
 */
import type { Router } from 'express';
import type { Env } from '../../src/config/index.js';
import type { Container } from '../../src/container.js';
import { startTestService, type TestResponse, type TestService } from './service.js';

export type ObservedService = TestService;
export type ServiceResponse = TestResponse;

export interface ObservedServiceOptions {
  readonly env?: Env;
  /** Test-only routes (see `AppOptions.extraRoutes`); get the container to reach the repositories. */
  readonly extraRoutes?: (router: Router, container: Container) => void;
}

/** The in-process service of test/support/service.ts, on SQLite, with optional test-only routes. */
export function startObservedService(options: ObservedServiceOptions = {}): Promise<ObservedService> {
  return startTestService({
    ...(options.env ? { env: options.env } : {}),
    ...(options.extraRoutes ? { extraRoutes: options.extraRoutes } : {}),
  });
}

/** What {@link seedStory} created. */
export interface Story {
  readonly userId: string;
  readonly sessionId: string;
  readonly authorIds: string[];
  readonly plotIds: string[];
}

let storySequence = 0;

/**
 * A user, a session, `authors` authors and `plots` plots (plot i written by author i mod authors),
 * all created through the HTTP API (batch endpoints for authors and plots). Unique values per call.
 */
export async function seedStory(service: ObservedService, counts: { authors: number; plots: number }): Promise<Story> {
  storySequence += 1;
  const tag = `${Date.now().toString(36)}s${storySequence}`;
  const created = async (pathname: string, body: unknown): Promise<Record<string, unknown>> => {
    const res = await service.request('POST', pathname, body);
    if (res.status !== 201) throw new Error(`POST ${pathname}: ${res.status} ${res.text.slice(0, 300)}`);
    return res.body as Record<string, unknown>;
  };
  const user = await created('/api/users', { email: `${tag}@example.test`, display_name: `User ${tag}` });
  const session = await created('/api/sessions', { user_id: user.id, title: `Session ${tag}` });
  const authors = (await created('/api/authors/batch', {
    items: Array.from({ length: counts.authors }, (_, i) => ({ session_id: session.id, name: `Author ${tag} ${i}` })),
  })) as { data: Array<{ id: string }> };
  const authorIds = authors.data.map((a) => a.id);
  const plots =
    counts.plots === 0
      ? { data: [] }
      : ((await created('/api/plots/batch', {
          items: Array.from({ length: counts.plots }, (_, i) => ({
            session_id: session.id,
            author_id: authorIds.length > 0 ? authorIds[i % authorIds.length] : null,
            title: `Plot ${tag} ${i}`,
            word_count: 100 * i,
          })),
        })) as { data: Array<{ id: string }> });
  return {
    userId: String(user.id),
    sessionId: String(session.id),
    authorIds,
    plotIds: plots.data.map((p) => p.id),
  };
}
