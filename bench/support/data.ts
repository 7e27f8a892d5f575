/**
 * Seed data for the benchmarks, written through the adapter contract (so the same code seeds
 * SQLite and Supabase): a user, a session, `authors` authors and `plots` plots, plot i written by
 * author i mod authors.
 */
import { randomUUID } from 'node:crypto';

import type { DatabaseAdapter, Row } from '../../src/adapters/contract.js';
import { TABLES } from '../../src/schema/tables.js';

export interface Story {
  readonly userId: string;
  readonly sessionId: string;
  readonly authorIds: string[];
  readonly plotIds: string[];
}

/** Rows are written in batches of this many (well under every backend's limits). */
const SEED_BATCH = 500;

async function insertAll(adapter: DatabaseAdapter, table: keyof typeof TABLES, rows: Row[]): Promise<Row[]> {
  const out: Row[] = [];
  for (let i = 0; i < rows.length; i += SEED_BATCH) {
    out.push(...(await adapter.insertMany(TABLES[table], rows.slice(i, i + SEED_BATCH))));
  }
  return out;
}

export async function seedStory(
  adapter: DatabaseAdapter,
  counts: { authors: number; plots: number },
): Promise<Story> {
  const tag = randomUUID().slice(0, 8);
  const user = await adapter.insertOne(TABLES.users, {
    email: `bench-${tag}@example.test`,
    display_name: `Bench ${tag}`,
  });
  const session = await adapter.insertOne(TABLES.sessions, {
    user_id: user.id,
    title: `Bench session ${tag}`,
  });
  const authors = await insertAll(
    adapter,
    'authors',
    Array.from({ length: counts.authors }, (_, i) => ({
      session_id: session.id,
      name: `Author ${tag} ${i}`,
      bio: `Writes things, mostly ${i % 7 === 0 ? 'fantasy' : 'crime'}.`,
    })),
  );
  const authorIds = authors.map((a) => String(a.id));
  const plots = await insertAll(
    adapter,
    'plots',
    Array.from({ length: counts.plots }, (_, i) =>
      plotRow(
        String(session.id),
        authorIds.length > 0 ? authorIds[i % authorIds.length]! : null,
        `${tag} ${i}`,
        i,
      ),
    ),
  );
  return {
    userId: String(user.id),
    sessionId: String(session.id),
    authorIds,
    plotIds: plots.map((p) => String(p.id)),
  };
}

/** A plot row of realistic size (a title, a short summary, a genre, some metadata). */
export function plotRow(sessionId: string, authorId: string | null, label: string, i: number): Row {
  return {
    session_id: sessionId,
    author_id: authorId,
    title: `Plot ${label}`,
    summary: `A story about ${label}: the hero leaves home, meets a mentor and returns changed.`,
    genre: ['fantasy', 'crime', 'romance', 'science fiction'][i % 4],
    word_count: 1000 + i,
    is_published: i % 2 === 0,
    metadata: { chapter_count: i % 30, tags: ['draft', `t${i % 5}`] },
  };
}
