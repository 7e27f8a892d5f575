/**
 * The repositories: one {@link TableRepository} per table, all the same class.
 */
import type { DatabaseAdapter, Row } from '../adapters/contract.js';
import { TABLES, TABLE_NAMES, type TableName } from '../schema/tables.js';
import { TableRepository } from './repository.js';

export { COUNT_SUFFIX, TableRepository, includeNames } from './repository.js';
export type { Page, SearchParams } from './repository.js';

export type Repositories = Readonly<Record<TableName, TableRepository>> & {
  /** A session with all of its content (plots, authors, world building, characters) in five queries. */
  sessionContent(id: string): Promise<Row>;
};

/** Every has-many relation of a session: its whole content. */
const SESSION_CONTENT = Object.entries(TABLES.sessions.relations)
  .filter(([, relation]) => relation.kind === 'hasMany')
  .map(([name]) => name);

export function createRepositories(adapter: DatabaseAdapter): Repositories {
  const byTable = Object.fromEntries(
    TABLE_NAMES.map((name) => [name, new TableRepository(adapter, TABLES[name])]),
  ) as Record<TableName, TableRepository>;
  return Object.freeze({
    ...byTable,
    sessionContent: (id: string) => byTable.sessions.get(id, SESSION_CONTENT),
  });
}
