/**
 * Small PromQL text helpers for the end-to-end test: Grafana variable substitution and removal of
 * an alert's threshold, so that "the alert expression without its threshold returns data" can be
 * asked of a real Prometheus. They work on the expression text at parenthesis depth 0 (strings,
 * label matchers, ranges and parenthesised sub-expressions are skipped), which is enough for the
 * expressions this repository writes; they are not a PromQL parser.
 */

/** Grafana's variables, as the end-to-end test substitutes them. */
export interface GrafanaVariables {
  readonly [name: string]: string;
}

/**
 * Replaces `$name`, `${name}` and `[[name]]` (longest names first, so `$__rate_interval` is not
 * read as `$__rate`), and fails on any variable left over.
 */
export function substituteVariables(expr: string, variables: GrafanaVariables): string {
  let out = expr;
  for (const name of Object.keys(variables).sort((a, b) => b.length - a.length)) {
    const value = variables[name]!;
    out = out
      .split(`\${${name}}`)
      .join(value)
      .split(`[[${name}]]`)
      .join(value)
      .replace(new RegExp(`\\$${name.replace(/[$]/g, '\\$')}(?![A-Za-z0-9_])`, 'g'), () => value);
  }
  const left = /\$\{?[A-Za-z_][A-Za-z0-9_]*|\[\[[A-Za-z_]/.exec(out);
  if (left) throw new Error(`unsubstituted Grafana variable ${left[0]} in: ${expr}`);
  return out;
}

/** Indexes of the characters of `expr` that are at depth 0 (outside (), {}, [] and strings). */
function depthZero(expr: string): boolean[] {
  const top: boolean[] = [];
  let depth = 0;
  let quote: string | null = null;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i]!;
    if (quote) {
      top.push(false);
      if (c === '\\') {
        top.push(false);
        i++;
      } else if (c === quote) quote = null;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      quote = c;
      top.push(false);
      continue;
    }
    if (c === '(' || c === '{' || c === '[') {
      top.push(false);
      depth++;
      continue;
    }
    if (c === ')' || c === '}' || c === ']') {
      depth--;
      top.push(false);
      continue;
    }
    top.push(depth === 0);
  }
  return top;
}

/** True when the whole expression is one parenthesised group: `( … )`. */
function isWrapped(expr: string): boolean {
  if (!expr.startsWith('(') || !expr.endsWith(')')) return false;
  let depth = 0;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i]!;
    if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth === 0 && i < expr.length - 1) return false;
    }
  }
  return true;
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$|^[+-]?(Inf|NaN)$/i;

interface SetOperation {
  readonly operator: 'and' | 'or' | 'unless';
  /** The operator with its vector-matching modifier, as written (`and on (job)`). */
  readonly text: string;
  readonly left: string;
  readonly right: string;
}

/** The last depth-0 `and` / `or` / `unless` (they associate to the left), with its modifiers. */
function splitSetOperation(expr: string): SetOperation | null {
  const top = depthZero(expr);
  const re = /\b(and|or|unless)\b/gi;
  let found: SetOperation | null = null;
  for (const m of expr.matchAll(re)) {
    const at = m.index ?? 0;
    if (!top[at]) continue;
    let end = at + m[0].length;
    const modifier = /^\s*(on|ignoring)\s*\([^)]*\)/i.exec(expr.slice(end));
    if (modifier) end += modifier[0].length;
    found = {
      operator: m[1]!.toLowerCase() as SetOperation['operator'],
      text: expr.slice(at, end).trim(),
      left: expr.slice(0, at).trim(),
      right: expr.slice(end).trim(),
    };
  }
  return found;
}

/** The first depth-0 comparison operator (`==`, `!=`, `>=`, `<=`, `>`, `<`, optionally `bool`). */
function splitComparison(expr: string): { left: string; right: string } | null {
  const top = depthZero(expr);
  for (let i = 0; i < expr.length; i++) {
    if (!top[i]) continue;
    const two = expr.slice(i, i + 2);
    let length = 0;
    if (two === '==' || two === '!=' || two === '>=' || two === '<=') length = 2;
    else if (expr[i] === '>' || expr[i] === '<') length = 1;
    if (length === 0) continue;
    const right = expr
      .slice(i + length)
      .trim()
      .replace(/^bool\b/i, '')
      .trim();
    return { left: expr.slice(0, i).trim(), right };
  }
  return null;
}

/**
 * An alert expression without its threshold, to ask whether the metrics it compares exist:
 *
 * - `( X )`                 → `( strip(X) )`
 * - `A and [on(…)] B`       → `strip(A) and [on(…)] strip(B)` — the vector matching is kept, so the
 *                             label sets of both sides must still line up;
 * - `A or B`                → `strip(A) or strip(B)`;
 * - `A unless [on(…)] B`    → `strip(A)` — the right side only suppresses; stripped, it would
 *                             suppress everything;
 * - `X <cmp> [bool] N`, `N <cmp> X` with a number N → `strip(X)` (a comparison between two vectors
 *                             is kept as it is);
 * - `absent(X)` / `absent_over_time(X)` → `strip(X)`: absent() has data only when X has none, so the
 *                             meaningful question is whether X exists.
 */
export function stripThreshold(expression: string): string {
  const expr = expression.trim();
  if (isWrapped(expr)) return `(${stripThreshold(expr.slice(1, -1))})`;

  const set = splitSetOperation(expr);
  if (set) {
    if (set.operator === 'unless') return stripThreshold(set.left);
    return `${stripThreshold(set.left)} ${set.text} ${stripThreshold(set.right)}`;
  }

  const comparison = splitComparison(expr);
  if (comparison) {
    if (NUMBER.test(comparison.right)) return stripThreshold(comparison.left);
    if (NUMBER.test(comparison.left)) return stripThreshold(comparison.right);
    return expr;
  }

  const absent = /^absent(?:_over_time)?\s*\(/.exec(expr);
  if (absent && isWrapped(expr.slice(absent[0].length - 1))) {
    const inner = expr.slice(absent[0].length, -1).trim();
    // absent_over_time(x[5m]) → x
    return stripThreshold(inner.replace(/\[[^\]]*\]\s*$/, ''));
  }
  return expr;
}
