/**
 * The query-string grammar of PostgREST (src/PostgREST/ApiRequest/QueryParams.hs, v12), for the
 * subset this test server implements: `select`, horizontal filters (with `not.`), `or`/`and` logic
 * trees, `order`, `limit`/`offset`, `columns`, `on_conflict`.
 *
 * Differences from PostgREST are failures, never silent reinterpretations: embedded resources,
 * JSON paths, full-text search and aggregates raise `notImplemented` (501).
 */
import { notImplemented, parseError, pgrstError, PostgrestHttpError } from './errors.js';

export type SimpleOperator =
  | 'eq'
  | 'neq'
  | 'gt'
  | 'gte'
  | 'lt'
  | 'lte'
  | 'like'
  | 'ilike'
  | 'match'
  | 'imatch'
  | 'cs'
  | 'cd'
  | 'ov'
  | 'sl'
  | 'sr'
  | 'nxr'
  | 'nxl'
  | 'adj'
  | 'isdistinct';

/** Operators that accept the `(any)` / `(all)` modifier, e.g. `like(any).{a*,b*}`. */
export type QuantifiableOperator = 'eq' | 'gt' | 'gte' | 'lt' | 'lte' | 'like' | 'ilike' | 'match' | 'imatch';

export type Operation =
  | { readonly kind: 'simple'; readonly operator: SimpleOperator; readonly value: string }
  | {
      readonly kind: 'quantified';
      readonly operator: QuantifiableOperator;
      readonly quantifier: 'any' | 'all';
      /** A PostgreSQL array literal as sent, e.g. `{a*,b*}`. */
      readonly value: string;
    }
  | { readonly kind: 'in'; readonly values: readonly string[] }
  | { readonly kind: 'is'; readonly value: 'null' | 'true' | 'false' | 'unknown' };

export interface Filter {
  readonly field: string;
  readonly negated: boolean;
  readonly operation: Operation;
}

export type LogicTree =
  | { readonly kind: 'filter'; readonly filter: Filter }
  | {
      readonly kind: 'expr';
      readonly negated: boolean;
      readonly operator: 'and' | 'or';
      readonly children: readonly LogicTree[];
    };

export type SelectItem =
  | { readonly kind: 'star' }
  | { readonly kind: 'column'; readonly name: string; readonly alias?: string; readonly cast?: string };

export interface OrderTerm {
  readonly field: string;
  readonly direction?: 'asc' | 'desc';
  readonly nulls?: 'first' | 'last';
}

export interface QueryParams {
  readonly select: readonly SelectItem[];
  readonly filters: readonly Filter[];
  readonly logic: readonly LogicTree[];
  readonly order: readonly OrderTerm[];
  /** `limit=` as PostgREST reads it: an integer, or undefined when absent or not a number. */
  readonly limit: number | undefined;
  readonly offset: number | undefined;
  readonly columns: readonly string[] | undefined;
  readonly onConflict: readonly string[] | undefined;
  /** The query string with parameters sorted by name (PostgREST's `Content-Location`). */
  readonly canonical: string;
}

const SIMPLE_OPERATORS: ReadonlySet<string> = new Set<SimpleOperator>([
  'eq',
  'neq',
  'gt',
  'gte',
  'lt',
  'lte',
  'like',
  'ilike',
  'match',
  'imatch',
  'cs',
  'cd',
  'ov',
  'sl',
  'sr',
  'nxr',
  'nxl',
  'adj',
  'isdistinct',
]);
const QUANTIFIABLE_OPERATORS: ReadonlySet<string> = new Set<QuantifiableOperator>([
  'eq',
  'gt',
  'gte',
  'lt',
  'lte',
  'like',
  'ilike',
  'match',
  'imatch',
]);
const FTS_OPERATORS: ReadonlySet<string> = new Set(['fts', 'plfts', 'phfts', 'wfts']);

/** Casts accepted in `select=col::type` (PostgREST splices casts into SQL; we allow-list them). */
const ALLOWED_CASTS: ReadonlySet<string> = new Set([
  'text',
  'varchar',
  'int',
  'int2',
  'int4',
  'int8',
  'integer',
  'smallint',
  'bigint',
  'numeric',
  'float4',
  'float8',
  'real',
  'double precision',
  'bool',
  'boolean',
  'json',
  'jsonb',
  'uuid',
  'date',
  'timestamp',
  'timestamptz',
]);

/** Thrown inside the parsers; converted to PGRST100 with the parameter's name and input. */
class GrammarError extends Error {
  constructor(
    readonly column: number,
    readonly details: string,
  ) {
    super(details);
  }
}

/** A position in the text being parsed (PostgREST reports 1-based columns). */
class Cursor {
  pos = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }
  peek(offset = 0): string {
    return this.text[this.pos + offset] ?? '';
  }
  startsWith(token: string): boolean {
    return this.text.startsWith(token, this.pos);
  }
  eat(token: string): boolean {
    if (!this.startsWith(token)) return false;
    this.pos += token.length;
    return true;
  }
  expect(token: string, what = `"${token}"`): void {
    if (!this.eat(token)) this.fail(`expecting ${what}`);
  }
  skipSpaces(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos += 1;
  }
  fail(expecting: string): never {
    const found = this.done ? 'end of input' : `"${this.peek()}"`;
    throw new GrammarError(this.pos + 1, `unexpected ${found} ${expecting}`);
  }
}

const IDENTIFIER_CHAR = /[\p{L}0-9_ $]/u;

/** `"quoted \"value\""` with backslash escapes. */
function parseQuoted(cursor: Cursor): string {
  cursor.expect('"');
  let value = '';
  for (;;) {
    if (cursor.done) cursor.fail('expecting closing quote');
    const ch = cursor.peek();
    cursor.pos += 1;
    if (ch === '"') return value;
    if (ch === '\\') {
      if (cursor.done) cursor.fail('expecting escaped character');
      value += cursor.peek();
      cursor.pos += 1;
    } else {
      value += ch;
    }
  }
}

/** pFieldName: a quoted name, or identifier parts (letters, digits, `_`, ` `, `$`) joined by `-`. */
function parseFieldName(cursor: Cursor): string {
  if (cursor.peek() === '"') return parseQuoted(cursor);
  const parts: string[] = [];
  for (;;) {
    const start = cursor.pos;
    while (!cursor.done && IDENTIFIER_CHAR.test(cursor.peek())) cursor.pos += 1;
    const part = cursor.text.slice(start, cursor.pos).trim();
    if (part === '') cursor.fail('expecting field name (* or [a..z0..9_$])');
    parts.push(part);
    // A dash joins parts unless it starts a JSON arrow (`->`).
    if (cursor.peek() === '-' && cursor.peek(1) !== '>') {
      cursor.pos += 1;
      continue;
    }
    return parts.join('-');
  }
}

/** A field with an optional JSON path; JSON paths are not implemented. */
function parseField(cursor: Cursor): string {
  cursor.skipSpaces();
  const name = parseFieldName(cursor);
  if (cursor.startsWith('->')) throw notImplemented('JSON path operators (->, ->>)');
  cursor.skipSpaces();
  return name;
}

// ---------------------------------------------------------------------------------------------
// select
// ---------------------------------------------------------------------------------------------

function parseSelectItem(cursor: Cursor): SelectItem {
  cursor.skipSpaces();
  if (cursor.startsWith('..')) throw notImplemented('Spread embedded resources (select=...rel(...))');
  if (cursor.eat('*')) {
    cursor.skipSpaces();
    return { kind: 'star' };
  }
  const first = parseFieldName(cursor);
  let alias: string | undefined;
  let name = first;
  if (cursor.peek() === ':' && cursor.peek(1) !== ':') {
    cursor.pos += 1;
    alias = first;
    cursor.skipSpaces();
    name = parseFieldName(cursor);
  }
  if (cursor.startsWith('->')) throw notImplemented('JSON path operators (->, ->>)');
  if (cursor.peek() === '(' || cursor.peek() === '!')
    throw notImplemented('Embedded resources (select=rel(...))');
  let cast: string | undefined;
  if (cursor.eat('::')) {
    const start = cursor.pos;
    while (!cursor.done && /[A-Za-z0-9_ $]/.test(cursor.peek())) cursor.pos += 1;
    cast = cursor.text.slice(start, cursor.pos).trim();
    if (cast === '') cursor.fail('expecting letter or digit');
    if (!ALLOWED_CASTS.has(cast.toLowerCase())) throw notImplemented(`Casting to '${cast}' in select`);
  }
  cursor.skipSpaces();
  if (!cursor.done && cursor.peek() !== ',' && cursor.peek() !== ')')
    cursor.fail('expecting "::", ")", "," or end of input');
  const base = { kind: 'column' as const, name };
  return { ...base, ...(alias === undefined ? {} : { alias }), ...(cast === undefined ? {} : { cast }) };
}

export function parseSelect(input: string): SelectItem[] {
  return withGrammar('select parameter', input, (cursor) => {
    const items: SelectItem[] = [parseSelectItem(cursor)];
    while (cursor.eat(',')) items.push(parseSelectItem(cursor));
    // Like PostgREST (no end-of-input check), text after a complete list is ignored.
    return items;
  });
}

// ---------------------------------------------------------------------------------------------
// filters and logic trees
// ---------------------------------------------------------------------------------------------

type ValueParser = (cursor: Cursor) => string;

/** pSingleVal: everything up to the end of the parameter. */
const singleValue: ValueParser = (cursor) => {
  const value = cursor.text.slice(cursor.pos);
  cursor.pos = cursor.text.length;
  return value;
};

/** pLogicSingleVal: a quoted value, a `{…}` array literal, or text up to `,` or `)`. */
const logicValue: ValueParser = (cursor) => {
  if (cursor.peek() === '"') {
    const saved = cursor.pos;
    try {
      const quoted = parseQuoted(cursor);
      if (cursor.done || cursor.peek() === ',' || cursor.peek() === ')') return quoted;
    } catch (error) {
      if (!(error instanceof GrammarError)) throw error;
    }
    cursor.pos = saved;
  }
  if (cursor.peek() === '{') {
    const close = cursor.text.indexOf('}', cursor.pos);
    const inner = close < 0 ? '' : cursor.text.slice(cursor.pos + 1, close);
    if (close >= 0 && !inner.includes('{')) {
      const value = cursor.text.slice(cursor.pos, close + 1);
      cursor.pos = close + 1;
      return value;
    }
  }
  const start = cursor.pos;
  while (!cursor.done && cursor.peek() !== ',' && cursor.peek() !== ')') cursor.pos += 1;
  return cursor.text.slice(start, cursor.pos);
};

/** pListElement: a quoted element (when followed by `,` or `)`), else text up to `,` or `)`. */
function parseListElement(cursor: Cursor): string {
  if (cursor.peek() === '"') {
    const saved = cursor.pos;
    try {
      const quoted = parseQuoted(cursor);
      if (cursor.peek() === ',' || cursor.peek() === ')') return quoted;
    } catch (error) {
      if (!(error instanceof GrammarError)) throw error;
    }
    cursor.pos = saved;
  }
  const start = cursor.pos;
  while (!cursor.done && cursor.peek() !== ',' && cursor.peek() !== ')') cursor.pos += 1;
  return cursor.text.slice(start, cursor.pos);
}

function parseList(cursor: Cursor): string[] {
  cursor.skipSpaces();
  cursor.expect('(');
  cursor.skipSpaces();
  const values = [parseListElement(cursor)];
  while (cursor.eat(',')) values.push(parseListElement(cursor));
  cursor.skipSpaces();
  cursor.expect(')');
  cursor.skipSpaces();
  return values;
}

function parseOperation(cursor: Cursor, value: ValueParser): Operation {
  if (cursor.eat('in.')) return { kind: 'in', values: parseList(cursor) };
  if (cursor.eat('is.')) {
    for (const candidate of ['null', 'unknown', 'true', 'false'] as const) {
      const slice = cursor.text.slice(cursor.pos, cursor.pos + candidate.length);
      if (slice.toLowerCase() === candidate && slice.length === candidate.length) {
        cursor.pos += candidate.length;
        return { kind: 'is', value: candidate };
      }
    }
    cursor.fail('expecting null or trilean value (unknown, true, false)');
  }
  const dot = cursor.text.indexOf('.', cursor.pos);
  if (dot < 0) {
    cursor.pos = cursor.text.length;
    cursor.fail('expecting delimiter (.)');
  }
  const operatorText = cursor.text.slice(cursor.pos, dot);
  const ftsName = operatorText.replace(/\(.*$/, '');
  if (FTS_OPERATORS.has(ftsName))
    throw notImplemented('Full-text search operators (fts, plfts, phfts, wfts)');
  const quantified = /^([a-z]+)\((any|all)\)$/.exec(operatorText);
  if (quantified !== null) {
    const [, operator = '', quantifier = ''] = quantified;
    if (!QUANTIFIABLE_OPERATORS.has(operator)) {
      throw new GrammarError(cursor.pos + 1, `unknown single value operator ${operatorText}`);
    }
    cursor.pos = dot + 1;
    return {
      kind: 'quantified',
      operator: operator as QuantifiableOperator,
      quantifier: quantifier as 'any' | 'all',
      value: value(cursor),
    };
  }
  if (!SIMPLE_OPERATORS.has(operatorText)) {
    throw new GrammarError(cursor.pos + 1, `unknown single value operator ${operatorText}`);
  }
  cursor.pos = dot + 1;
  return { kind: 'simple', operator: operatorText as SimpleOperator, value: value(cursor) };
}

/** pOpExpr: `[not.]operation`. */
function parseOpExpr(cursor: Cursor, value: ValueParser): { negated: boolean; operation: Operation } {
  const saved = cursor.pos;
  if (cursor.eat('not.')) {
    try {
      return { negated: true, operation: parseOperation(cursor, value) };
    } catch (error) {
      // `not` could also be an operator-less value; PostgREST backtracks the same way.
      if (!(error instanceof GrammarError)) throw error;
      cursor.pos = saved;
    }
  }
  return { negated: false, operation: parseOperation(cursor, value) };
}

/** The value of a horizontal filter parameter, e.g. `not.in.(1,2)`. */
export function parseFilterValue(field: string, input: string): Filter {
  return withGrammar('filter', input, (cursor) => ({ field, ...parseOpExpr(cursor, singleValue) }));
}

function parseLogicNode(cursor: Cursor): LogicTree {
  cursor.skipSpaces();
  const saved = cursor.pos;
  // A filter `field.op.value` first (pLogicFilter), else a nested `[not.]and(…)` / `[not.]or(…)`.
  try {
    const field = parseField(cursor);
    cursor.expect('.', 'delimiter (.)');
    const { negated, operation } = parseOpExpr(cursor, logicValue);
    cursor.skipSpaces();
    return { kind: 'filter', filter: { field, negated, operation } };
  } catch (error) {
    if (!(error instanceof GrammarError)) throw error;
    cursor.pos = saved;
  }
  return parseLogicExpr(cursor);
}

function parseLogicExpr(cursor: Cursor): LogicTree {
  cursor.skipSpaces();
  const negated = cursor.eat('not.');
  let operator: 'and' | 'or';
  if (cursor.eat('and')) operator = 'and';
  else if (cursor.eat('or')) operator = 'or';
  else cursor.fail('expecting logic operator (and, or)');
  cursor.skipSpaces();
  cursor.expect('(');
  const children = [parseLogicNode(cursor)];
  for (;;) {
    cursor.skipSpaces();
    if (!cursor.eat(',')) break;
    children.push(parseLogicNode(cursor));
  }
  cursor.skipSpaces();
  cursor.expect(')');
  cursor.skipSpaces();
  return { kind: 'expr', negated, operator, children };
}

/** An `or=(…)` / `and=(…)` / `not.or=(…)` parameter; `key` is the parameter name. */
export function parseLogicParam(key: string, input: string): LogicTree {
  // PostgREST parses "<op>(<value>)" and reports the value as the parameter input.
  return withGrammar('logic tree', input, (cursor) => parseLogicExpr(cursor), `${key}${input}`);
}

// ---------------------------------------------------------------------------------------------
// order, columns, on_conflict
// ---------------------------------------------------------------------------------------------

function parseOrderTerm(cursor: Cursor): OrderTerm {
  cursor.skipSpaces();
  const field = parseFieldName(cursor);
  if (cursor.startsWith('->')) throw notImplemented('JSON path operators (->, ->>)');
  if (cursor.peek() === '(') throw notImplemented('Ordering by an embedded resource (order=rel(col))');
  let direction: OrderTerm['direction'];
  let nulls: OrderTerm['nulls'];
  if (cursor.eat('.asc')) direction = 'asc';
  else if (cursor.eat('.desc')) direction = 'desc';
  if (cursor.eat('.nullsfirst')) nulls = 'first';
  else if (cursor.eat('.nullslast')) nulls = 'last';
  cursor.skipSpaces();
  if (!cursor.done && cursor.peek() !== ',') {
    cursor.fail(
      direction === undefined
        ? 'expecting "asc", "desc", "nullsfirst" or "nullslast"'
        : 'expecting "," or end of input',
    );
  }
  return {
    field,
    ...(direction === undefined ? {} : { direction }),
    ...(nulls === undefined ? {} : { nulls }),
  };
}

export function parseOrder(input: string): OrderTerm[] {
  return withGrammar('order', input, (cursor) => {
    const terms = [parseOrderTerm(cursor)];
    while (cursor.eat(',')) terms.push(parseOrderTerm(cursor));
    return terms;
  });
}

/** pColumns: field names separated by commas (used by `columns=` and `on_conflict=`). */
export function parseColumnList(
  what: 'columns parameter' | 'on_conflict parameter',
  input: string,
): string[] {
  return withGrammar(what, input, (cursor) => {
    const names: string[] = [];
    do {
      cursor.skipSpaces();
      names.push(parseFieldName(cursor));
      cursor.skipSpaces();
    } while (cursor.eat(','));
    if (!cursor.done) cursor.fail('expecting "," or end of input');
    return names;
  });
}

function withGrammar<T>(what: string, input: string, parse: (cursor: Cursor) => T, parsedText = input): T {
  try {
    return parse(new Cursor(parsedText));
  } catch (error) {
    if (error instanceof GrammarError) throw parseError(what, input, error.column, error.details);
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// the whole query string
// ---------------------------------------------------------------------------------------------

const RESERVED = new Set(['select', 'columns', 'on_conflict']);
const RESERVED_EMBEDDABLE = new Set(['order', 'limit', 'offset', 'and', 'or']);

function lastSegment(key: string): string {
  const parts = key.split('.');
  return parts[parts.length - 1] ?? key;
}

/** PostgREST's test for "this parameter is a filter" (the rest are RPC arguments, ignored here). */
function looksLikeFilter(key: string, value: string): boolean {
  if (key.includes('.')) return true;
  const parts = value.split('.');
  const head = parts[0] ?? '';
  if (head === 'not' && parts.length >= 2) return true;
  if (head === 'is' || head === 'in') return true;
  const operatorName = head.replace(/\((any|all)\)$/, '');
  if (SIMPLE_OPERATORS.has(operatorName) || FTS_OPERATORS.has(head.replace(/\(.*$/, ''))) return true;
  const beforeParen = value.split('(')[0] ?? '';
  return value.includes('(') && FTS_OPERATORS.has(beforeParen);
}

function notAnEmbed(path: string): PostgrestHttpError {
  return pgrstError(
    400,
    'PGRST108',
    `'${path}' is not an embedded resource in this request`,
    null,
    `Verify that '${path}' is included in the 'select' query parameter.`,
  );
}

/** Integers as Haskell's `readMaybe` accepts them; anything else is ignored like PostgREST does. */
function readInteger(value: string | undefined): number | undefined {
  if (value === undefined || !/^-?\d+$/.test(value)) return undefined;
  return Number(value);
}

/** Haskell's `urlEncode` (used for the canonical query): only `A-Za-z0-9-_.~` stay unescaped. */
function urlEncode(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** Parses a request's query string (`URLSearchParams`, so `+` already means space). */
export function parseQueryParams(search: URLSearchParams): QueryParams {
  const entries = [...search.entries()];
  const first = (name: string): string | undefined => entries.find(([key]) => key === name)?.[1];
  const last = (name: string): string | undefined => entries.filter(([key]) => key === name).pop()?.[1];

  const selectText = first('select');
  const select = selectText === undefined ? [{ kind: 'star' as const }] : parseSelect(selectText);

  const filters: Filter[] = [];
  const logic: LogicTree[] = [];
  let order: OrderTerm[] = [];
  for (const [key, value] of entries) {
    if (RESERVED.has(key)) continue;
    const segment = lastSegment(key);
    if (RESERVED_EMBEDDABLE.has(segment)) {
      const path = key
        .split('.')
        .slice(0, -1)
        .filter((part) => part !== 'not');
      if (path.length > 0) throw notAnEmbed(path.join('.'));
      if (segment === 'order' && order.length === 0) order = parseOrder(value);
      // `not.or` keeps its `not.`: the parsed text is "not.or(…)".
      if (segment === 'and' || segment === 'or') logic.push(parseLogicParam(key, value));
      continue;
    }
    if (!looksLikeFilter(key, value)) continue;
    const path = withGrammar('tree path', key, (cursor) => {
      const parts = [parseFieldName(cursor)];
      while (cursor.eat('.')) parts.push(parseFieldName(cursor));
      if (cursor.startsWith('->')) throw notImplemented('JSON path operators (->, ->>)');
      return parts;
    });
    if (path.length > 1) throw notAnEmbed(path.slice(0, -1).join('.'));
    filters.push(parseFilterValue(path[0] ?? key, value));
  }

  const columnsText = first('columns');
  const onConflictText = first('on_conflict');
  const canonical = [...entries]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${urlEncode(key)}=${urlEncode(value)}`)
    .join('&');

  return {
    select,
    filters,
    logic,
    order,
    limit: readInteger(last('limit')),
    offset: readInteger(last('offset')),
    columns: columnsText === undefined ? undefined : parseColumnList('columns parameter', columnsText),
    onConflict:
      onConflictText === undefined ? undefined : parseColumnList('on_conflict parameter', onConflictText),
    canonical,
  };
}
