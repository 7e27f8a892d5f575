/**
 * Chunking of long value lists. One statement per chunk keeps every statement under the
 * backends' limits (SQLite's bound-parameter cap, PostgREST's URI length) and the number of
 * statements per call predictable: ceil(n / chunk size), whatever the values are.
 */

/** Values per `IN (…)` list; 2,000 ids cost 4 statements. */
export const IN_LIST_CHUNK_SIZE = 500;

/** Splits `items` into consecutive slices of at most `size` items (none when `items` is empty). */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`chunk size must be a positive integer, got ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The distinct values in first-seen order (duplicates would only lengthen IN lists). */
export function uniqueValues<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}

/**
 * The placeholder count a list of `n` values is padded to: the next power of two, capped at
 * `max`. Padding (by repeating a value, harmless in `IN`) bounds the distinct statement texts to
 * about log2(max), so prepared-statement caches stay small and hit.
 */
export function paddedLength(n: number, max: number = IN_LIST_CHUNK_SIZE): number {
  if (n <= 1) return 1;
  let p = 1;
  while (p < n) p *= 2;
  return Math.min(p, Math.max(max, n));
}
