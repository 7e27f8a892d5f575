/**
 * The backends every repository/API suite runs against (issue 4: the same tests, unchanged, on
 * SQLite and on Supabase through the PostgREST test server; differences between them are bugs).
 *
 *   for (const backend of BACKENDS) describe(`… [${backend}]`, function () { … startTestService({ backend }) … });
 *
 * One service per backend per file (in `before`), never per test: a PGlite start costs ~1 s.
 */
export const BACKENDS = ['sqlite', 'supabase'] as const;
export type Backend = (typeof BACKENDS)[number];
