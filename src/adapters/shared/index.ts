/**
 * Backend-independent helpers shared by the SQLite and Supabase adapters: value normalisation by
 * column type, row preparation for insert/update, search validation, chunking, migration files.
 */
export { IN_LIST_CHUNK_SIZE, chunk, paddedLength, uniqueValues } from './chunk.js';
export { AdapterLifecycle } from './lifecycle.js';
export {
  MigrationError,
  loadMigrationFiles,
  migrationChecksum,
  pendingMigrations,
  type MigrationFile,
} from './migration-files.js';
export {
  MAX_IN_FILTER_VALUES,
  filterableColumns,
  searchableColumns,
  sortableColumns,
  validateFilter,
  validateFilters,
  validateLookupColumn,
  validateSearch,
  validateSort,
  type ComparisonOperator,
  type ValidatedFilter,
  type ValidatedSearch,
} from './query.js';
export {
  columnSetKey,
  normalizeId,
  prepareInsertRow,
  prepareUpdateChanges,
  type PrepareOptions,
} from './rows.js';
export { columnDefinition, isUuid, jsonText, normalizeTimestamp, normalizeValue } from './values.js';
