/**
 * Pagination as PostgREST v12 does it (src/PostgREST/RangeQuery.hs): `limit`/`offset` and the
 * `Range` header intersect, `db-max-rows` caps the result, and `Content-Range` / the status
 * (200, 206, 416) are derived from what was returned and the optional exact count.
 */
import { pgrstError } from './errors.js';

/** Rows `offset … offset+limit-1`; `limit` undefined means unbounded. */
export interface RowRange {
  readonly offset: number;
  readonly limit: number | undefined;
}

const RANGE_HEADER = /^(\d+)-(\d*)$/;

/**
 * Combines `limit`/`offset` with a `Range: a-b` header (GET/HEAD only) and checks the result like
 * PostgREST: an empty range is PGRST103, except `limit=0` which asks for no rows.
 */
export function requestedRange(
  limit: number | undefined,
  offset: number | undefined,
  rangeHeader: string | undefined,
): RowRange {
  const paramOffset = offset ?? 0;
  if (limit !== undefined && limit < 0) {
    throw pgrstError(
      416,
      'PGRST103',
      'Requested range not satisfiable',
      'Limit should be greater than or equal to zero.',
    );
  }
  let lower = paramOffset;
  let upper = limit === undefined ? Infinity : paramOffset + limit - 1;

  // A malformed Range header is ignored (PostgREST's regex falls back to "all rows").
  const match = rangeHeader === undefined ? null : RANGE_HEADER.exec(rangeHeader.trim());
  if (match !== null) {
    const headerLower = Number(match[1]);
    const headerUpper = match[2] === '' ? Infinity : Number(match[2]);
    if (headerLower > headerUpper) {
      throw pgrstError(
        416,
        'PGRST103',
        'Requested range not satisfiable',
        'The lower boundary must be lower than or equal to the upper boundary in the Range header.',
      );
    }
    lower = Math.max(lower, headerLower);
    upper = Math.min(upper, headerUpper);
  }
  if (limit === 0) return { offset: paramOffset, limit: 0 };
  if (upper < lower) return { offset: lower, limit: 0 };
  return { offset: lower, limit: upper === Infinity ? undefined : upper - lower + 1 };
}

/** `db-max-rows`: never return more than `maxRows` rows from a read. */
export function capRange(range: RowRange, maxRows: number | undefined): RowRange {
  if (maxRows === undefined) return range;
  return {
    offset: range.offset,
    limit: range.limit === undefined ? maxRows : Math.min(range.limit, maxRows),
  };
}

/** contentRangeH: `lower-upper/total`, `*` for an empty page or an unknown total. */
export function contentRange(lower: number, upper: number, total: number | undefined): string {
  const rangePart = total !== 0 && lower <= upper ? `${lower}-${upper}` : '*';
  return `${rangePart}/${total === undefined ? '*' : String(total)}`;
}

/** Status and `Content-Range` of a read that returned `pageTotal` rows from `offset`. */
export function readRangeStatus(
  offset: number,
  pageTotal: number,
  total: number | undefined,
): { status: number; contentRange: string } {
  const upper = offset + pageTotal - 1;
  const range = contentRange(offset, upper, total);
  if (total === undefined) return { status: 200, contentRange: range };
  if (offset > total) return { status: 416, contentRange: range };
  if (pageTotal < total) return { status: 206, contentRange: range };
  return { status: 200, contentRange: range };
}
