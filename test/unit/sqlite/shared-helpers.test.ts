/**
 * The backend-independent adapter helpers (src/adapters/shared): value normalisation, row
 * preparation, search validation and chunking. The Supabase adapter relies on the same rules.
 */
import { expect } from 'chai';

import {
  chunk,
  normalizeTimestamp,
  normalizeValue,
  paddedLength,
  prepareInsertRow,
  prepareUpdateChanges,
  validateFilter,
  validateSearch,
  validateSort,
} from '../../../src/adapters/shared/index.js';
import { statementsFor } from '../../../src/adapters/sqlite/sql.js';
import { ValidationError } from '../../../src/errors/index.js';
import { TABLES } from '../../../src/schema/tables.js';

const { plots, users } = TABLES;
const NOW = '2026-01-02T03:04:05.006Z';

describe('shared adapter helpers', () => {
  describe('values', () => {
    it('normalises timestamps to UTC ISO with milliseconds and refuses zone-less or free-form times', () => {
      expect(normalizeTimestamp('2026-11-28T12:00:00Z')).to.equal('2026-11-28T12:00:00.000Z');
      expect(normalizeTimestamp('2026-11-28T12:00:00.123456+00:00')).to.equal('2026-11-28T12:00:00.123Z');
      expect(normalizeTimestamp('2026-11-28 13:00:00+01')).to.equal('2026-11-28T12:00:00.000Z');
      expect(normalizeTimestamp('2026-11-28')).to.equal('2026-11-28T00:00:00.000Z');
      expect(normalizeTimestamp(new Date(0))).to.equal('1970-01-01T00:00:00.000Z');
      for (const bad of [
        '2026-11-28T12:00:00',
        'yesterday',
        '1',
        1700000000000,
        null,
        '2026-13-45T00:00:00Z',
      ]) {
        expect(() => normalizeTimestamp(bad), String(bad)).to.throw(ValidationError);
      }
    });

    it('checks types per column and lower-cases UUIDs', () => {
      expect(normalizeValue(plots, 'id', 'ABCDEF01-2345-6789-ABCD-EF0123456789')).to.equal(
        'abcdef01-2345-6789-abcd-ef0123456789',
      );
      expect(() => normalizeValue(plots, 'id', 'abc')).to.throw(ValidationError, /must be a UUID/);
      expect(() => normalizeValue(plots, 'word_count', 1.5)).to.throw(ValidationError, /whole number/);
      expect(() => normalizeValue(plots, 'word_count', '5')).to.throw(ValidationError);
      expect(() => normalizeValue(plots, 'is_published', 1)).to.throw(ValidationError, /true or false/);
      expect(() => normalizeValue(plots, 'title', null)).to.throw(ValidationError, /cannot be null/);
      expect(normalizeValue(plots, 'genre', null)).to.equal(null);
      // Length counts characters (code points), like char_length / length().
      expect(normalizeValue(plots, 'genre', '🚀'.repeat(100))).to.have.length(200);
      expect(() => normalizeValue(plots, 'genre', 'x'.repeat(101))).to.throw(
        ValidationError,
        /longer than 100/,
      );
    });

    it('rejects prototype keys as column names', () => {
      expect(() => normalizeValue(plots, '__proto__', 1)).to.throw(ValidationError, /Unknown column/);
      expect(() => normalizeValue(plots, 'constructor', 1)).to.throw(ValidationError, /Unknown column/);
    });
  });

  describe('rows', () => {
    it('prepareInsertRow fills id and timestamps, keeps table column order, drops undefined', () => {
      const row = prepareInsertRow(
        users,
        { display_name: 'n', email: 'e@x', preferences: undefined },
        { now: NOW, newId: () => 'f'.repeat(8) + '-0000-4000-8000-' + '0'.repeat(12) },
      );
      expect(Object.keys(row)).to.deep.equal(['id', 'email', 'display_name', 'created_at', 'updated_at']);
      expect(row).to.deep.equal({
        id: 'ffffffff-0000-4000-8000-000000000000',
        email: 'e@x',
        display_name: 'n',
        created_at: NOW,
        updated_at: NOW,
      });
    });

    it('prepareInsertRow rejects non-objects and unknown columns', () => {
      expect(() => prepareInsertRow(users, [], { now: NOW })).to.throw(ValidationError);
      expect(() => prepareInsertRow(users, null, { now: NOW })).to.throw(ValidationError);
      expect(() =>
        prepareInsertRow(users, { email: 'e', display_name: 'd', admin: true }, { now: NOW }),
      ).to.throw(ValidationError, /Unknown column "admin"/);
    });

    it('prepareUpdateChanges sets updated_at and refuses to change the primary key', () => {
      expect(prepareUpdateChanges(plots, { title: 't' }, { now: NOW })).to.deep.equal({
        title: 't',
        updated_at: NOW,
      });
      expect(() =>
        prepareUpdateChanges(plots, { id: '00000000-0000-4000-8000-000000000000' }, { now: NOW }),
      ).to.throw(ValidationError, /cannot be changed/);
    });
  });

  describe('search validation', () => {
    it('accepts allow-listed filters and normalises their values', () => {
      expect(validateFilter(plots, { column: 'created_at', op: 'gt', value: '2026-01-01' })).to.deep.equal({
        column: 'created_at',
        op: 'gt',
        value: '2026-01-01T00:00:00.000Z',
      });
      expect(validateFilter(plots, { column: 'status', op: 'in', value: ['a', 'b'] })).to.deep.equal({
        column: 'status',
        op: 'in',
        values: ['a', 'b'],
      });
      expect(validateFilter(plots, { column: 'genre', op: 'is_null', value: false })).to.deep.equal({
        column: 'genre',
        op: 'is_null',
        isNull: false,
      });
    });

    it('rejects non-filterable columns, bad operators and bad values', () => {
      const bad: unknown[] = [
        { column: 'summary', op: 'eq', value: 'x' }, // not filterable
        { column: 'metadata', op: 'eq', value: {} },
        { column: 'title', op: 'regex', value: '.*' },
        { column: 'title', op: 'eq', value: null },
        { column: 'status', op: 'in', value: 'a' },
        { column: 'status', op: 'in', value: Array.from({ length: 1001 }, () => 'a') },
        { column: 'word_count', op: 'contains', value: '1' },
        { column: 'genre', op: 'is_null', value: 'yes' },
      ];
      for (const filter of bad) {
        expect(() => validateFilter(plots, filter as never), JSON.stringify(filter).slice(0, 80)).to.throw(
          ValidationError,
        );
      }
    });

    it('uses the default sort when none is given and rejects non-sortable columns', () => {
      expect(validateSort(plots, [])).to.deep.equal([{ column: 'created_at', direction: 'asc' }]);
      expect(() => validateSort(plots, [{ column: 'metadata', direction: 'asc' }])).to.throw(
        ValidationError,
        /cannot be sorted/,
      );
      expect(() => validateSort(plots, [{ column: 'title', direction: 'up' as never }])).to.throw(
        ValidationError,
      );
    });

    it('treats blank free text as none', () => {
      expect(validateSearch(plots, { filters: [], sort: [], limit: 1, offset: 0, text: '  ' }).text).to.equal(
        null,
      );
      expect(
        validateSearch(plots, { filters: [], sort: [], limit: 1, offset: 0, text: 'x' }).textColumns,
      ).to.deep.equal(['title', 'summary', 'genre']);
    });
  });

  describe('chunking and SQL text', () => {
    it('chunks and pads IN lists so statement texts stay few', () => {
      expect(chunk([1, 2, 3, 4, 5], 2)).to.deep.equal([[1, 2], [3, 4], [5]]);
      expect(chunk([], 3)).to.deep.equal([]);
      expect([1, 2, 3, 5, 9, 300, 499, 500].map((n) => paddedLength(n))).to.deep.equal([
        1, 2, 4, 8, 16, 500, 500, 500,
      ]);
    });

    it('renders filters with placeholders only, literal contains, and the id tie-break', () => {
      const s = statementsFor(plots);
      const where = s.where(
        [
          validateFilter(plots, { column: 'title', op: 'contains', value: "50%_o'k" }),
          validateFilter(plots, { column: 'is_published', op: 'eq', value: true }),
          validateFilter(plots, { column: 'status', op: 'in', value: ['a', 'b', 'c'] }),
        ],
        'Dragon',
        ['title', 'summary'],
      );
      expect(where.sql).to.equal(
        ' WHERE instr(bw_fold("title"), ?) > 0 AND "is_published" = ? AND "status" IN (?, ?, ?, ?)' +
          ' AND (instr(bw_fold("title"), ?) > 0 OR instr(bw_fold("summary"), ?) > 0)',
      );
      expect(where.params).to.deep.equal(["50%_o'k", 1, 'a', 'b', 'c', 'c', 'dragon', 'dragon']);
      expect(
        s.orderBy([
          { column: 'genre', direction: 'asc' },
          { column: 'word_count', direction: 'desc' },
        ]),
      ).to.equal('"genre" ASC NULLS LAST, "word_count" DESC, "id" ASC');
      expect(s.orderBy([{ column: 'id', direction: 'desc' }])).to.equal('"id" DESC');
    });
  });
});
