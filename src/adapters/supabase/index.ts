/**
 * The Supabase adapter's public surface. Everything else in this folder (connection, encoding,
 * codec, error mapping) is internal, exported here only where tests or tools need it.
 */
export {
  DEFAULT_MAX_BODY_BYTES,
  IN_LIST_MAX_CHARS,
  IN_LIST_MAX_VALUES,
  MAX_REQUEST_TARGET_LENGTH,
  PAGE_ROWS,
  SupabaseAdapter,
  type SupabaseAdapterOptions,
  type SupabasePoolSettings,
} from './adapter.js';
export { SupabaseConnection, type SupabaseConnectionOptions } from './connection.js';
export { mapSupabaseError, type SupabaseErrorContext } from './errors.js';
