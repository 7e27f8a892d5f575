/**
 * The PostgREST value encoder: every value the adapter puts into a URL goes through it. Checked
 * against PostgREST's grammar (the test server's parser, a port of QueryParams.hs) by round trip,
 * and the regex escaping against PostgreSQL's own `~*`.
 */
import { expect } from 'chai';

import {
  chunkInList,
  compactQuery,
  compactUuid,
  encodedLength,
  escapeRegex,
  inListValue,
  listElement,
  logicConditions,
  quoteValue,
  requestTargetLength,
} from '../../../src/adapters/supabase/encoding.js';
import { parseQueryParams } from '../../support/postgrest/query-params.js';
import { databaseBackend } from '../../contract/supabase-fixture.js';
import { sharedServer } from './helpers.js';

/** Deterministic PRNG (mulberry32), so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Characters that matter to PostgREST's grammar, URLs, regexes and LIKE, plus plain ones. */
const NASTY = [...',()"\\{}[]*%_.^$|?+ \t\n&=#;:/\'`~!@<>', 'a', 'B', '7', 'é', '🚀', '\u00a0', '+'];

function randomText(random: () => number, maxLength: number): string {
  const length = Math.floor(random() * (maxLength + 1));
  let text = '';
  for (let i = 0; i < length; i++) text += NASTY[Math.floor(random() * NASTY.length)];
  return text;
}

/** What PostgREST would parse from `key=value`, sent the way the adapter sends it. */
function parsed(key: string, value: string): ReturnType<typeof parseQueryParams> {
  const url = compactQuery(`http://h/rest/v1/t?${new URLSearchParams([[key, value]]).toString()}`);
  return parseQueryParams(new URL(url).searchParams);
}

describe('Supabase adapter: PostgREST value encoding', () => {
  describe('quoting and lists', () => {
    it('quotes with backslash escapes for \\ and " only', () => {
      expect(quoteValue('plain')).to.equal('"plain"');
      expect(quoteValue('a"b\\c')).to.equal('"a\\"b\\\\c"');
      expect(quoteValue('')).to.equal('""');
    });

    it('leaves unambiguous list elements raw and quotes the rest', () => {
      expect(listElement('abc')).to.equal('abc');
      expect(listElement('0f8fad5bd9cb469fa16570867728950e')).to.equal('0f8fad5bd9cb469fa16570867728950e');
      expect(listElement('2024-01-01T00:00:00.000Z')).to.equal('2024-01-01T00:00:00.000Z');
      for (const text of ['a,b', 'a)b', '(a', 'a"b', 'a\\b', ' lead', 'trail ', '', 'a b', '{x}']) {
        expect(listElement(text), text).to.equal(quoteValue(text));
      }
    });

    it('every in-list round-trips through PostgREST’s grammar, whatever the characters (1,000 random lists)', () => {
      const random = prng(42);
      for (let i = 0; i < 1_000; i++) {
        const values = Array.from({ length: 1 + Math.floor(random() * 6) }, () => randomText(random, 12));
        const query = parsed('title', `in.${inListValue(values)}`);
        expect(query.filters, JSON.stringify(values)).to.have.length(1);
        expect(query.filters[0]?.operation, JSON.stringify(values)).to.deep.equal({ kind: 'in', values });
      }
    });

    it('every or=(…) tree round-trips: one condition per column, values intact (1,000 random texts)', () => {
      const random = prng(7);
      for (let i = 0; i < 1_000; i++) {
        const text = randomText(random, 16);
        const conditions = ['title', 'summary', 'genre'].map((column) => ({
          column,
          operator: 'imatch',
          value: text,
        }));
        const query = parsed('or', `(${logicConditions(conditions)})`);
        expect(query.logic, JSON.stringify(text)).to.have.length(1);
        const tree = query.logic[0];
        expect(tree?.kind).to.equal('expr');
        if (tree?.kind !== 'expr') return;
        expect(tree.operator).to.equal('or');
        expect(
          tree.children.map((child) =>
            child.kind === 'filter' ? [child.filter.field, child.filter.operation] : null,
          ),
          JSON.stringify(text),
        ).to.deep.equal(
          conditions.map((c) => [c.column, { kind: 'simple', operator: 'imatch', value: text }]),
        );
      }
    });

    it('a horizontal filter keeps its whole value raw (no quoting needed)', () => {
      const random = prng(3);
      for (let i = 0; i < 300; i++) {
        const text = randomText(random, 20);
        const query = parsed('title', `imatch.${text}`);
        expect(query.filters[0]?.operation, JSON.stringify(text)).to.deep.equal({
          kind: 'simple',
          operator: 'imatch',
          value: text,
        });
      }
    });

    it('refuses column names and operators that are not plain identifiers', () => {
      expect(() => logicConditions([{ column: 'title,id.eq.1', operator: 'imatch', value: 'x' }])).to.throw(
        TypeError,
      );
      expect(() => logicConditions([{ column: 'title', operator: 'imatch.x', value: 'x' }])).to.throw(
        TypeError,
      );
      expect(() => logicConditions([])).to.throw(RangeError);
    });
  });

  describe('URLs', () => {
    it('compactQuery only unescapes , ( ) in the query, and the decoded query is unchanged', () => {
      const random = prng(11);
      for (let i = 0; i < 500; i++) {
        const value = randomText(random, 30);
        const url = `http://h/p%2C?${new URLSearchParams([
          ['k', value],
          ['o', '(a,b)'],
        ]).toString()}`;
        const compact = compactQuery(url);
        expect(compact.startsWith('http://h/p%2C?')).to.equal(true);
        expect([...new URL(compact).searchParams]).to.deep.equal([...new URL(url).searchParams]);
        expect(compact.length).to.be.at.most(url.length);
      }
      // A literal "%2C" typed by a user is "%252C" on the wire and must stay that way.
      expect(compactQuery('http://h/?t=%252C%2C')).to.equal('http://h/?t=%252C,');
    });

    it('measures request targets and encoded lengths as they go on the wire', () => {
      expect(requestTargetLength('http://127.0.0.1:5/rest/v1/t?a=b')).to.equal('/rest/v1/t?a=b'.length);
      expect(encodedLength('a,b')).to.equal(3);
      expect(encodedLength('a b')).to.equal(3); // space → +
      expect(encodedLength('é')).to.equal(6); // %C3%A9
      expect(encodedLength('"x"')).to.equal(7); // %22x%22
    });

    it('chunks 2,002 UUIDs into 10 lists of at most 6,800 characters (hyphens dropped)', () => {
      const ids = Array.from({ length: 2_002 }, (_, i) =>
        compactUuid(`00000000-0000-4000-8000-${String(i).padStart(12, '0')}`),
      );
      const chunks = chunkInList(ids, 250, 6_800);
      expect(chunks).to.have.length(10);
      expect(chunks.flat()).to.deep.equal(ids);
      for (const chunk of chunks) expect(encodedLength(inListValue(chunk))).to.be.at.most(6_800);
      expect(encodedLength(inListValue(chunks[0]!))).to.be.above(6_500);
    });

    it('chunks long and unicode text by encoded size, and gives an overlong value a list of its own', () => {
      const values = ['short', 'é'.repeat(500), 'x'.repeat(3_000), 'y'.repeat(9_000), 'z,z', 'w'];
      const chunks = chunkInList(values, 250, 6_800);
      expect(chunks.flat()).to.deep.equal(values);
      expect(chunks.some((c) => c.length === 1 && c[0] === 'y'.repeat(9_000))).to.equal(true);
      for (const chunk of chunks) {
        if (chunk.length > 1) expect(encodedLength(inListValue(chunk))).to.be.at.most(6_800);
      }
      expect(chunkInList([], 10, 100)).to.deep.equal([]);
      expect(chunkInList(['a', 'b', 'c'], 2, 6_800)).to.deep.equal([['a', 'b'], ['c']]);
    });
  });

  describe(`regex escaping against PostgreSQL's ~* (${databaseBackend()})`, function () {
    this.timeout(60_000);

    it('escapes every ARE metacharacter and nothing else', () => {
      expect(escapeRegex('a.b*c+d?e^f$g|h(i)j[k]l{m}n\\o')).to.equal(
        'a\\.b\\*c\\+d\\?e\\^f\\$g\\|h\\(i\\)j\\[k\\]l\\{m\\}n\\\\o',
      );
      expect(escapeRegex('%_,"é🚀 ')).to.equal('%_,"é🚀 ');
      expect(escapeRegex('***=literal')).to.equal('\\*\\*\\*=literal');
    });

    it('text ~* escapeRegex(needle) is exactly a case-insensitive substring test (400 pairs)', async () => {
      const server = await sharedServer();
      const random = prng(99);
      const cases: [string, string][] = [
        ['100 % done', '%'],
        ['snake_case', 'e_c'],
        ['star * and (parens), dots.', '(parens),'],
        ['back\\slash', '\\'],
        ['quote "x"', '"x"'],
        ['***=abc', '***='],
        ['Fantasy Noir', 'NOIR'],
        ['a.b', '.'],
        ['ab', '.'],
        ['x', ''],
        ['[abc]', '[a'],
        ['{1,2}', '{1'],
      ];
      for (let i = 0; i < 388; i++) {
        const haystack = randomText(random, 14);
        const points = Array.from(haystack); // slice by code points: never half an emoji
        const start = Math.floor(random() * (points.length + 1));
        // Half the needles are taken from the text (so they match), half are random.
        const needle =
          random() < 0.5
            ? points.slice(start, start + 1 + Math.floor(random() * 4)).join('')
            : randomText(random, 3);
        cases.push([haystack, needle]);
      }
      const { rows } = await server.executor.query<{ matches: boolean[] }>(
        `select array_agg(t.h ~* t.p order by t.i) as matches
           from unnest($1::text[], $2::text[]) with ordinality as t(h, p, i)`,
        [pgArray(cases.map((c) => c[0])), pgArray(cases.map((c) => escapeRegex(c[1])))],
      );
      const matches = rows[0]?.matches ?? [];
      cases.forEach(([haystack, needle], i) => {
        const expected = haystack.toLowerCase().includes(needle.toLowerCase());
        expect(matches[i], `${JSON.stringify(haystack)} ~* ${JSON.stringify(needle)}`).to.equal(expected);
      });
    });
  });
});

/** A PostgreSQL array literal of text values (every element quoted and escaped). */
function pgArray(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`;
}
