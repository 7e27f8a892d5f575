import { expect } from 'chai';

import { PostgrestHttpError, statusForSqlState } from '../../support/postgrest/errors.js';
import {
  assertStrictPreferences,
  parsePreferences,
  preferenceAppliedHeader,
} from '../../support/postgrest/preferences.js';
import {
  parseFilterValue,
  parseLogicParam,
  parseOrder,
  parseQueryParams,
  parseSelect,
} from '../../support/postgrest/query-params.js';
import { capRange, contentRange, readRangeStatus, requestedRange } from '../../support/postgrest/range.js';
import { arrayLiteral } from '../../support/postgrest/sql-builder.js';

function httpError(fn: () => unknown): PostgrestHttpError {
  try {
    fn();
  } catch (error) {
    expect(error).to.be.instanceOf(PostgrestHttpError);
    return error as PostgrestHttpError;
  }
  expect.fail('expected a PostgrestHttpError');
}

describe('PostgREST test server: query grammar, ranges, preferences (no database)', () => {
  describe('filters', () => {
    it('parses operator, value (everything after the first dot) and not.', () => {
      expect(parseFilterValue('name', 'eq.a.b.c')).to.deep.equal({
        field: 'name',
        negated: false,
        operation: { kind: 'simple', operator: 'eq', value: 'a.b.c' },
      });
      expect(parseFilterValue('qty', 'not.gte.5')).to.deep.include({ negated: true });
      expect(parseFilterValue('flag', 'is.NULL').operation).to.deep.equal({ kind: 'is', value: 'null' });
      expect(parseFilterValue('name', 'like(any).{a*,b*}').operation).to.deep.equal({
        kind: 'quantified',
        operator: 'like',
        quantifier: 'any',
        value: '{a*,b*}',
      });
    });

    it('parses in-lists with PostgREST quoting: "…" elements, backslash escapes, bare elements up to , or )', () => {
      const values = (text: string): readonly string[] => {
        const op = parseFilterValue('c', text).operation;
        expect(op.kind).to.equal('in');
        return op.kind === 'in' ? op.values : [];
      };
      expect(values('in.(1,2,3)')).to.deep.equal(['1', '2', '3']);
      expect(values('in.("Hebdon, John",plain)')).to.deep.equal(['Hebdon, John', 'plain']);
      expect(values('in.("say \\"hi\\"","back\\\\slash","f(x)")')).to.deep.equal([
        'say "hi"',
        'back\\slash',
        'f(x)',
      ]);
      // An unescaped quote ends the quoted element early, so PostgREST falls back to bare text.
      expect(values('in.("a "b", c")')).to.deep.equal(['"a "b"', ' c"']);
      expect(values('in.()')).to.deep.equal(['']);
      expect(values('in.( a b ,c)')).to.deep.equal(['a b ', 'c']);
    });

    it('rejects unknown operators and missing delimiters with PGRST100 in Parsec’s wording', () => {
      const unknown = httpError(() => parseFilterValue('c', 'eqq.1'));
      expect(unknown.status).to.equal(400);
      expect(unknown.body).to.deep.equal({
        code: 'PGRST100',
        details: 'unknown single value operator eqq',
        hint: null,
        message: '"failed to parse filter (eqq.1)" (line 1, column 1)',
      });
      expect(httpError(() => parseFilterValue('c', 'is.maybe')).body.code).to.equal('PGRST100');
      expect(httpError(() => parseFilterValue('c', 'in.(1,2')).body.code).to.equal('PGRST100');
    });

    it('refuses what the test server does not implement with 501', () => {
      expect(httpError(() => parseFilterValue('c', 'fts(english).cat')).status).to.equal(501);
      expect(httpError(() => parseQueryParams(new URLSearchParams('data->>a=eq.1'))).status).to.equal(501);
    });
  });

  describe('logic trees', () => {
    it('parses nested and/or with not., quoted values, {…} literals and in-lists', () => {
      expect(
        parseLogicParam('or', '(a.eq.1,not.and(b.in.(1,2),c.is.null),d.eq."x,y",e.cs.{1,2})'),
      ).to.deep.equal({
        kind: 'expr',
        negated: false,
        operator: 'or',
        children: [
          {
            kind: 'filter',
            filter: { field: 'a', negated: false, operation: { kind: 'simple', operator: 'eq', value: '1' } },
          },
          {
            kind: 'expr',
            negated: true,
            operator: 'and',
            children: [
              {
                kind: 'filter',
                filter: { field: 'b', negated: false, operation: { kind: 'in', values: ['1', '2'] } },
              },
              {
                kind: 'filter',
                filter: { field: 'c', negated: false, operation: { kind: 'is', value: 'null' } },
              },
            ],
          },
          {
            kind: 'filter',
            filter: {
              field: 'd',
              negated: false,
              operation: { kind: 'simple', operator: 'eq', value: 'x,y' },
            },
          },
          {
            kind: 'filter',
            filter: {
              field: 'e',
              negated: false,
              operation: { kind: 'simple', operator: 'cs', value: '{1,2}' },
            },
          },
        ],
      });
      expect(parseLogicParam('not.and', '(a.eq.1)')).to.deep.include({ negated: true, operator: 'and' });
      expect(httpError(() => parseLogicParam('or', '()')).body.code).to.equal('PGRST100');
    });
  });

  describe('select, order, query string', () => {
    it('parses select items: *, names, quoted names, aliases, allow-listed casts', () => {
      expect(parseSelect('*,id, label:name,"odd name",qty::text')).to.deep.equal([
        { kind: 'star' },
        { kind: 'column', name: 'id' },
        { kind: 'column', name: 'name', alias: 'label' },
        { kind: 'column', name: 'odd name' },
        { kind: 'column', name: 'qty', cast: 'text' },
      ]);
      expect(httpError(() => parseSelect('id,notes(id)')).status).to.equal(501);
      expect(httpError(() => parseSelect('qty::regclass')).status).to.equal(501);
      expect(httpError(() => parseSelect('')).body.code).to.equal('PGRST100');
    });

    it('parses order terms with direction and nulls placement', () => {
      expect(parseOrder('a,b.desc,c.asc.nullsfirst,d.nullslast')).to.deep.equal([
        { field: 'a' },
        { field: 'b', direction: 'desc' },
        { field: 'c', direction: 'asc', nulls: 'first' },
        { field: 'd', nulls: 'last' },
      ]);
      expect(httpError(() => parseOrder('a.sideways')).body.code).to.equal('PGRST100');
    });

    it('classifies parameters like PostgREST: reserved names, filters, and ignored non-filters', () => {
      const query = parseQueryParams(
        new URLSearchParams(
          'select=id&id=gt.1&id=lt.9&foo=bar&limit=5&offset=abc&columns="a","b"&on_conflict=a&or=(x.eq.1)',
        ),
      );
      expect(query.filters.map((f) => f.operation)).to.deep.equal([
        { kind: 'simple', operator: 'gt', value: '1' },
        { kind: 'simple', operator: 'lt', value: '9' },
      ]);
      expect(query.logic).to.have.length(1);
      expect(query.limit).to.equal(5);
      expect(query.offset).to.equal(undefined); // not a number: ignored, as PostgREST's readMaybe does
      expect(query.columns).to.deep.equal(['a', 'b']);
      expect(query.onConflict).to.deep.equal(['a']);
      expect(httpError(() => parseQueryParams(new URLSearchParams('rel.id=eq.1'))).body.code).to.equal(
        'PGRST108',
      );
    });

    it('builds the canonical query (sorted, urlEncode-escaped) for Content-Location', () => {
      expect(parseQueryParams(new URLSearchParams('z=eq.1&a=in.(1,2)')).canonical).to.equal(
        'a=in.%281%2C2%29&z=eq.1',
      );
    });

    it('builds PostgreSQL array literals with every element quoted and escaped', () => {
      expect(arrayLiteral(['a', 'b,c', 'say "hi"', 'back\\slash', ''])).to.equal(
        '{"a","b,c","say \\"hi\\"","back\\\\slash",""}',
      );
    });
  });

  describe('ranges', () => {
    it('combines limit/offset with the Range header and caps at max-rows', () => {
      expect(requestedRange(undefined, undefined, undefined)).to.deep.equal({ offset: 0, limit: undefined });
      expect(requestedRange(10, 5, undefined)).to.deep.equal({ offset: 5, limit: 10 });
      expect(requestedRange(undefined, undefined, '2-4')).to.deep.equal({ offset: 2, limit: 3 });
      expect(requestedRange(10, 0, '5-')).to.deep.equal({ offset: 5, limit: 5 });
      expect(requestedRange(0, 3, undefined)).to.deep.equal({ offset: 3, limit: 0 });
      expect(requestedRange(undefined, undefined, 'bytes=1-2')).to.deep.equal({
        offset: 0,
        limit: undefined,
      });
      expect(capRange({ offset: 0, limit: undefined }, 1000)).to.deep.equal({ offset: 0, limit: 1000 });
      expect(capRange({ offset: 0, limit: 10 }, 1000)).to.deep.equal({ offset: 0, limit: 10 });
      expect(httpError(() => requestedRange(-1, undefined, undefined)).body.details).to.equal(
        'Limit should be greater than or equal to zero.',
      );
      expect(httpError(() => requestedRange(undefined, undefined, '5-1')).status).to.equal(416);
    });

    it('formats Content-Range and picks 200/206/416 like RangeQuery.hs', () => {
      expect(contentRange(0, 9, undefined)).to.equal('0-9/*');
      expect(contentRange(0, -1, undefined)).to.equal('*/*');
      expect(contentRange(0, -1, 0)).to.equal('*/0');
      expect(contentRange(1, 0, 7)).to.equal('*/7');
      expect(readRangeStatus(0, 10, undefined)).to.deep.equal({ status: 200, contentRange: '0-9/*' });
      expect(readRangeStatus(0, 10, 123)).to.deep.equal({ status: 206, contentRange: '0-9/123' });
      expect(readRangeStatus(0, 3, 3)).to.deep.equal({ status: 200, contentRange: '0-2/3' });
      expect(readRangeStatus(10, 0, 3)).to.deep.equal({ status: 416, contentRange: '*/3' });
    });
  });

  describe('preferences', () => {
    it('splits all Prefer values, keeps the first of each kind and collects unknown ones', () => {
      const prefs = parsePreferences(
        'return=representation, count=exact,return=minimal, resolution=ignore-duplicates, nonsense, max-affected=5',
      );
      expect(prefs).to.deep.equal({
        representation: 'representation',
        count: 'exact',
        resolution: 'ignore-duplicates',
        maxAffected: 5,
        invalid: ['nonsense'],
      });
      expect(() => assertStrictPreferences(prefs)).not.to.throw();
      const strict = httpError(() =>
        assertStrictPreferences(parsePreferences('handling=strict, nonsense, timezone=Mars/Olympus')),
      );
      expect(strict.body).to.deep.equal({
        code: 'PGRST122',
        details: 'Invalid preferences: nonsense, timezone=Mars/Olympus',
        hint: null,
        message: 'Invalid preferences given with handling=strict',
      });
    });

    it('writes Preference-Applied in PostgREST’s order, only for what the request applies', () => {
      const prefs = parsePreferences(
        'count=exact, missing=default, return=representation, resolution=merge-duplicates',
      );
      expect(
        preferenceAppliedHeader(prefs, {
          resolution: true,
          missing: true,
          representation: true,
          count: true,
        }),
      ).to.equal('resolution=merge-duplicates, missing=default, return=representation, count=exact');
      expect(preferenceAppliedHeader(prefs, { count: true })).to.equal('count=exact');
      expect(preferenceAppliedHeader(parsePreferences(undefined), { count: true })).to.equal(undefined);
    });
  });

  describe('SQLSTATE → HTTP status', () => {
    it('follows PostgREST v12’s table', () => {
      const cases: [string, number][] = [
        ['23505', 409],
        ['23503', 409],
        ['23502', 400],
        ['22P02', 400],
        ['42703', 400],
        ['42P01', 404],
        ['42883', 404],
        ['25006', 405],
        ['08006', 503],
        ['53300', 503],
        ['53400', 500],
        ['57014', 500],
        ['P0001', 400],
        ['PT402', 402],
        ['XX000', 500],
      ];
      for (const [code, status] of cases) expect(statusForSqlState(code, true), code).to.equal(status);
      expect(statusForSqlState('42501', true)).to.equal(403);
      expect(statusForSqlState('42501', false)).to.equal(401);
    });
  });
});
