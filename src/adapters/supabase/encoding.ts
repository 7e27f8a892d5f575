/**
 * The one place where values become PostgREST query text. Every user-supplied value that reaches a
 * URL goes through a function of this module; nothing is spliced raw into `.filter()` or `.or()`.
 *
 * PostgREST's grammar (v12, src/PostgREST/ApiRequest/QueryParams.hs):
 * - a horizontal filter's value (`col=op.VALUE`) is the rest of the parameter (`pSingleVal`): it
 *   needs no quoting, only URL encoding (done by postgrest-js);
 * - an element of `in.(…)` (`pListElement`) is either `"quoted"` — `\` escapes the next character —
 *   or raw text up to the next `,` or `)`; the spaces after `(` are skipped;
 * - a value inside a logic tree (`or=(col.op.VALUE,…)`, `pLogicSingleVal`) is quoted, a `{…}` array
 *   literal, or raw text up to `,` or `)`.
 *
 * `like`/`ilike` cannot express a literal substring: PostgREST turns every `*` into `%` (escaped or
 * not), so a user's `*` would become a wildcard. Literal case-insensitive matching therefore uses
 * `imatch` (PostgreSQL `~*`) with the text regex-escaped.
 */

/** Column names are allow-listed identifiers; this guards the encoder against misuse anyway. */
const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

function assertIdentifier(name: string): void {
  if (!IDENTIFIER.test(name)) throw new TypeError(`not a plain column name: ${JSON.stringify(name)}`);
}

/** `"text"` with `\` and `"` backslash-escaped (PostgREST's `pQuotedValue`). */
export function quoteValue(text: string): string {
  return `"${text.replace(/[\\"]/g, (ch) => `\\${ch}`)}"`;
}

/**
 * Text that PostgREST reads back unchanged as a raw `in.(…)` element: no separators, quotes,
 * backslashes or white space (spaces after `(` would be skipped). Braces are quoted too, to be
 * safe with the array-literal syntax of logic trees. Everything else (`+`, `%`, `&`…) is protected
 * by the URL encoding.
 */
const SAFE_LIST_ELEMENT = /^[^\s,()"\\{}]+$/u;

/** One element of an `in.(…)` list: raw when that is unambiguous, else quoted. */
export function listElement(text: string): string {
  return SAFE_LIST_ELEMENT.test(text) ? text : quoteValue(text);
}

/** An `in.(…)` list value, e.g. `(a,"b,c")`. An empty list is `()`, which matches nothing. */
export function inListValue(values: readonly string[]): string {
  return `(${values.map(listElement).join(',')})`;
}

/** The characters that are special in a PostgreSQL advanced regular expression (ARE). */
const REGEX_SPECIAL = /[\\^$.|?*+()[\]{}]/g;

/**
 * `text` as a PostgreSQL ARE that matches exactly that text. Only the special characters are
 * escaped: in an ARE a backslash before a non-alphanumeric character means the character itself,
 * whereas before a letter or digit it would start an escape such as `\d`. Escaping `*` also rules
 * out the `***=` / `***:` director prefixes.
 */
export function escapeRegex(text: string): string {
  return text.replace(REGEX_SPECIAL, '\\$&');
}

/** One condition of a logic tree. */
export interface LogicCondition {
  readonly column: string;
  /** A PostgREST operator (`eq`, `imatch`…); never user input. */
  readonly operator: string;
  readonly value: string;
}

/**
 * The inside of an `or=(…)` parameter (postgrest-js's `.or()` adds the parentheses):
 * `col.op."value",…` with every value quoted, so commas, parentheses, quotes, backslashes, a
 * leading `{` or a trailing space in user text cannot change the tree.
 */
export function logicConditions(conditions: readonly LogicCondition[]): string {
  if (conditions.length === 0) throw new RangeError('a logic tree needs at least one condition');
  return conditions
    .map(({ column, operator, value }) => {
      assertIdentifier(column);
      if (!/^[a-z]+$/.test(operator)) throw new TypeError(`not an operator: ${JSON.stringify(operator)}`);
      return `${column}.${operator}.${quoteValue(value)}`;
    })
    .join(',');
}

/**
 * A UUID without its hyphens, one of the input forms PostgreSQL documents for `uuid`: 32 instead of
 * 36 characters per id keeps a 200-id `in.(…)` list well inside one URL.
 */
export function compactUuid(uuid: string): string {
  return uuid.replace(/-/g, '');
}

/**
 * The URL with `%2C`, `%28` and `%29` in its query turned back into `,`, `(` and `)`.
 * URLSearchParams percent-encodes PostgREST's list syntax (3 bytes per separator); PostgREST decodes
 * the whole query string before parsing it, so both spellings reach its parser as the same text,
 * and these characters are legal in a query (RFC 3986 sub-delims). A literal `%` in a value is
 * `%25…`, so a value's own text can never be mistaken for one of these escapes.
 */
export function compactQuery(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  return url.slice(0, q) + url.slice(q).replace(/%2C|%28|%29/gi, (escape) => decodeURIComponent(escape));
}

/** Length of `value` in a query string as postgrest-js encodes it and {@link compactQuery} shortens it. */
export function encodedLength(value: string): number {
  // `v=` is 2 characters; form encoding as URLSearchParams does it.
  return compactQuery(`?${new URLSearchParams([['v', value]]).toString()}`).length - 3;
}

/** The request target (path and query) of a URL, whose length proxies limit (~8 KiB in nginx/Kong). */
export function requestTargetLength(url: string): number {
  const schemeEnd = url.indexOf('://');
  const pathStart = schemeEnd < 0 ? 0 : url.indexOf('/', schemeEnd + 3);
  return pathStart < 0 ? 1 : url.length - pathStart;
}

/**
 * Splits `values` (already in their query form) into `in.(…)` lists of at most `maxValues` values
 * whose encoded text stays within `maxChars`, keeping the order. A single value longer than
 * `maxChars` gets a list of its own (the caller decides whether that is acceptable).
 */
export function chunkInList(values: readonly string[], maxValues: number, maxChars: number): string[][] {
  if (!Number.isInteger(maxValues) || maxValues < 1)
    throw new RangeError('maxValues must be a positive integer');
  const chunks: string[][] = [];
  let current: string[] = [];
  // `(` + `)`, then each value plus its separator.
  let used = 2;
  for (const value of values) {
    const cost = encodedLength(listElement(value)) + (current.length === 0 ? 0 : 1);
    if (current.length > 0 && (current.length >= maxValues || used + cost > maxChars)) {
      chunks.push(current);
      current = [];
      used = 2;
    }
    used += current.length === 0 ? encodedLength(listElement(value)) : cost;
    current.push(value);
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
