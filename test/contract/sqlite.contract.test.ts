/** The adapter contract suite against SQLite, in both execution modes. */
import { describeAdapterContract } from './adapter-contract.js';
import { createSqliteAdapter } from './sqlite-fixture.js';

for (const mode of ['worker', 'inline'] as const) {
  describeAdapterContract(`SQLite (${mode} mode)`, async () => {
    const { adapter, operations, cleanup } = await createSqliteAdapter(mode);
    return { adapter, operations, cleanup };
  });
}
