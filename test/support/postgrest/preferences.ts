/**
 * The `Prefer` header (RFC 7240) as PostgREST v12 reads it
 * (src/PostgREST/ApiRequest/Preferences.hs): values split on commas across all `Prefer` headers,
 * the first occurrence of each preference wins, unknown ones are collected for `handling=strict`.
 *
 * `tx=commit|rollback` is parsed but never applied: PostgREST only honours it when `db-tx-end`
 * allows overrides, which its default (and Supabase's) does not.
 */
import { pgrstError } from './errors.js';

export interface Preferences {
  readonly resolution?: 'merge-duplicates' | 'ignore-duplicates';
  readonly representation?: 'representation' | 'minimal' | 'headers-only';
  /** planned/estimated are answered with an exact count (there is no planner estimate here). */
  readonly count?: 'exact' | 'planned' | 'estimated';
  readonly missing?: 'default' | 'null';
  readonly handling?: 'strict' | 'lenient';
  readonly maxAffected?: number;
  readonly invalid: readonly string[];
}

const KNOWN: Readonly<Record<string, (prefs: MutablePreferences) => void>> = {
  'resolution=merge-duplicates': (p) => (p.resolution ??= 'merge-duplicates'),
  'resolution=ignore-duplicates': (p) => (p.resolution ??= 'ignore-duplicates'),
  'return=representation': (p) => (p.representation ??= 'representation'),
  'return=minimal': (p) => (p.representation ??= 'minimal'),
  'return=headers-only': (p) => (p.representation ??= 'headers-only'),
  'count=exact': (p) => (p.count ??= 'exact'),
  'count=planned': (p) => (p.count ??= 'planned'),
  'count=estimated': (p) => (p.count ??= 'estimated'),
  'missing=default': (p) => (p.missing ??= 'default'),
  'missing=null': (p) => (p.missing ??= 'null'),
  'handling=strict': (p) => (p.handling ??= 'strict'),
  'handling=lenient': (p) => (p.handling ??= 'lenient'),
  // Accepted but not applied (see the module comment).
  'tx=commit': () => undefined,
  'tx=rollback': () => undefined,
  'params=single-object': () => undefined,
};

type MutablePreferences = { -readonly [K in keyof Preferences]: Preferences[K] } & { invalid: string[] };

/** `header` is Node's joined value of every `Prefer` header (joined with ", "). */
export function parsePreferences(header: string | undefined): Preferences {
  const prefs: MutablePreferences = { invalid: [] };
  if (header === undefined) return prefs;
  for (const raw of header.split(',')) {
    const pref = raw.trim();
    if (pref === '') continue;
    const apply = KNOWN[pref];
    if (apply !== undefined) {
      apply(prefs);
      continue;
    }
    const maxAffected = /^max-affected=(-?\d+)$/.exec(pref);
    if (maxAffected !== null) {
      prefs.maxAffected ??= Number(maxAffected[1]);
      continue;
    }
    // timezone=… needs the server's list of time zone names; not implemented, so "invalid".
    prefs.invalid.push(pref);
  }
  return prefs;
}

/** PGRST122 when `handling=strict` meets preferences PostgREST does not know. */
export function assertStrictPreferences(prefs: Preferences): void {
  if (prefs.handling === 'strict' && prefs.invalid.length > 0) {
    throw pgrstError(
      400,
      'PGRST122',
      'Invalid preferences given with handling=strict',
      `Invalid preferences: ${prefs.invalid.join(', ')}`,
    );
  }
}

export interface AppliedPreferences {
  readonly resolution?: boolean;
  readonly missing?: boolean;
  readonly representation?: boolean;
  readonly count?: boolean;
  readonly handling?: boolean;
  readonly maxAffected?: boolean;
}

/**
 * `Preference-Applied`, in PostgREST's fixed order (resolution, missing, return, count, handling,
 * max-affected), listing only what `which` says this kind of request applies.
 */
export function preferenceAppliedHeader(prefs: Preferences, which: AppliedPreferences): string | undefined {
  const values: string[] = [];
  if (which.resolution === true && prefs.resolution !== undefined)
    values.push(`resolution=${prefs.resolution}`);
  if (which.missing === true && prefs.missing !== undefined) values.push(`missing=${prefs.missing}`);
  if (which.representation === true && prefs.representation !== undefined)
    values.push(`return=${prefs.representation}`);
  if (which.count === true && prefs.count !== undefined) values.push(`count=${prefs.count}`);
  if (which.handling === true && prefs.handling !== undefined) values.push(`handling=${prefs.handling}`);
  if (which.maxAffected === true && prefs.handling === 'strict' && prefs.maxAffected !== undefined) {
    values.push(`max-affected=${prefs.maxAffected}`);
  }
  return values.length === 0 ? undefined : values.join(', ');
}
