/**
 * `contains` and free-text search treat every character literally (`%`, `_`, `*`, `\`, `(`, `,`,
 * `"`, regex metacharacters…), case-insensitively, and give the same rows as the SQLite adapter on
 * the same data.
 */
import { expect } from 'chai';

import type { DatabaseAdapter, Filter, Row } from '../../../src/adapters/contract.js';
import { TABLES } from '../../../src/schema/tables.js';
import { databaseBackend } from '../../contract/supabase-fixture.js';
import { createSqliteAdapter, type SqliteTestAdapter } from '../../contract/sqlite-fixture.js';
import type { SupabaseTestAdapter } from '../../contract/supabase-fixture.js';
import { adapterOn, sharedServer } from './helpers.js';

const { users, sessions, plots } = TABLES;

const TITLES = [
  'one hundred % done',
  'one hundred percent done',
  'snake_case',
  'snakeXcase',
  'back\\slash',
  'backslash',
  'star * and (parens), dots.',
  'star and parens dots',
  'say "hello", then (leave)',
  'say hello then leave',
  'regex .* ^$ | ? + [a] {1}',
  'Fantasy Noir',
  'comma,separated,(list)',
  '***=director',
  'tab\there',
  'ÉCOLE école',
];

const NEEDLES = [
  '%',
  'd % d',
  '_',
  'e_c',
  '*',
  '\\',
  '(',
  ')',
  ',',
  '"',
  '"hello",',
  '(parens),',
  '.*',
  '^$',
  '|',
  '?',
  '+',
  '[a]',
  '{1}',
  '***=',
  'NOIR',
  ',(list)',
  '\t',
  ' ',
  'percent',
  'école',
  'nothing matches this',
];

async function seed(adapter: DatabaseAdapter): Promise<string> {
  const user = await adapter.insertOne(users, {
    email: `lit-${Date.now()}-${Math.random()}@x.test`,
    display_name: 'L',
  });
  const session = await adapter.insertOne(sessions, { user_id: user.id, title: 'literals' });
  await adapter.insertMany(
    plots,
    TITLES.map((title, i) => ({
      session_id: session.id,
      title,
      summary: i % 2 === 0 ? null : `summary of ${title}`,
    })),
  );
  return String(session.id);
}

async function titles(
  adapter: DatabaseAdapter,
  sessionId: string,
  filters: Filter[],
  text?: string,
): Promise<string[]> {
  const result = await adapter.search(plots, {
    filters: [{ column: 'session_id', op: 'eq', value: sessionId }, ...filters],
    ...(text === undefined ? {} : { text }),
    sort: [],
    limit: 100,
    offset: 0,
  });
  return result.rows.map((r: Row) => String(r.title)).sort();
}

describe(`Supabase adapter: literal text matching, compared with SQLite (${databaseBackend()})`, function () {
  this.timeout(60_000);
  let supabase: SupabaseTestAdapter;
  let sqlite: SqliteTestAdapter;
  let supabaseSession: string;
  let sqliteSession: string;

  before(async () => {
    supabase = await adapterOn(await sharedServer(), { connections: { min: 1, max: 2 } });
    sqlite = await createSqliteAdapter('inline');
    supabaseSession = await seed(supabase.adapter);
    sqliteSession = await seed(sqlite.adapter);
  });
  after(async () => {
    await supabase?.cleanup();
    await sqlite?.cleanup();
  });

  it('contains: every needle matches exactly the titles that contain it, as on SQLite', async () => {
    for (const needle of NEEDLES) {
      const expected = TITLES.filter((t) => t.toLowerCase().includes(needle.toLowerCase())).sort();
      const filter: Filter = { column: 'title', op: 'contains', value: needle };
      const got = await titles(supabase.adapter, supabaseSession, [filter]);
      expect(got, `contains ${JSON.stringify(needle)}`).to.deep.equal(expected);
      expect(
        await titles(sqlite.adapter, sqliteSession, [filter]),
        `SQLite ${JSON.stringify(needle)}`,
      ).to.deep.equal(got);
    }
  });

  it('free text: every needle matches across title and summary literally, as on SQLite', async () => {
    for (const needle of NEEDLES.filter((n) => n.trim() !== '')) {
      const expected = TITLES.filter((t, i) => {
        const summary = i % 2 === 0 ? '' : `summary of ${t}`;
        return `${t}\u0000${summary}`.toLowerCase().includes(needle.toLowerCase());
      }).sort();
      const got = await titles(supabase.adapter, supabaseSession, [], needle);
      expect(got, `text ${JSON.stringify(needle)}`).to.deep.equal(expected);
      expect(
        await titles(sqlite.adapter, sqliteSession, [], needle),
        `SQLite ${JSON.stringify(needle)}`,
      ).to.deep.equal(got);
    }
  });

  it('equality and in-lists with separators and quotes in the values match exactly', async () => {
    const odd = ['say "hello", then (leave)', 'comma,separated,(list)', 'back\\slash'];
    const eq = await titles(supabase.adapter, supabaseSession, [
      { column: 'title', op: 'eq', value: odd[0] },
    ]);
    expect(eq).to.deep.equal([odd[0]]);
    const inList = await titles(supabase.adapter, supabaseSession, [
      { column: 'title', op: 'in', value: odd },
    ]);
    expect(inList).to.deep.equal([...odd].sort());
    expect(
      await titles(sqlite.adapter, sqliteSession, [{ column: 'title', op: 'in', value: odd }]),
    ).to.deep.equal(inList);
    const byColumn = await supabase.adapter.getManyByColumn(plots, 'title', odd);
    expect(
      byColumn
        .filter((r) => r.session_id === supabaseSession)
        .map((r) => r.title)
        .sort(),
    ).to.deep.equal([...odd].sort());
  });
});
