/**
 * Counts the database operations an adapter issues, at the adapter's instrumentation seam (every
 * statement or batch goes through `instrumentation.run` exactly once — see the adapter contract).
 * The counter wraps the container's own instrumentation, so metrics and spans still see everything.
 */
import type { DatabaseAdapter, OperationInfo, OperationInstrumentation } from '../../src/adapters/contract.js';
import { SqliteAdapter } from '../../src/adapters/sqlite/index.js';
import type { Config } from '../../src/config/index.js';
import { createAdapter, sqliteAdapterOptions, type AdapterWiring } from '../../src/container.js';

export class QueryCounter {
  readonly operations: OperationInfo[] = [];

  /** Wraps `inner` so that every operation is recorded before it runs. */
  wrap(inner: OperationInstrumentation): OperationInstrumentation {
    return {
      run: <T>(info: OperationInfo, fn: () => Promise<T>): Promise<T> => {
        this.operations.push(info);
        return inner.run(info, fn);
      },
    };
  }

  get count(): number {
    return this.operations.length;
  }

  /**
   * Logical operations: a chunked call (its requests carry `chunk`) counts once, as its chunk 0.
   * On Supabase a look-up of n values is one request per `in.(…)` chunk of ≤ 206 values; SQLite
   * binds far more per statement. What must not grow with the page size is this number.
   */
  get logicalCount(): number {
    return this.operations.filter((op) => op.chunk === undefined || op.chunk.index === 0).length;
  }

  reset(): void {
    this.operations.length = 0;
  }

  /** `SELECT plots ×2, SELECT authors ×1` — for messages and the printed report. */
  describe(): string {
    const counts = new Map<string, number>();
    for (const op of this.operations) {
      const key = `${op.operation} ${op.collection}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return [...counts].map(([key, n]) => `${key} ×${n}`).join(', ');
  }

  /**
   * An adapter factory for `ContainerOptions.adapter`: the SQLite adapter the config describes
   * (the same settings as the container's own factory), with this counter around its
   * instrumentation.
   */
  sqliteAdapter(): (config: Config, wiring: AdapterWiring) => DatabaseAdapter {
    return (config, wiring) =>
      new SqliteAdapter(sqliteAdapterOptions(config, { ...wiring, instrumentation: this.wrap(wiring.instrumentation) }));
  }

  /**
   * An adapter factory for `ContainerOptions.adapter`: the adapter the config asks for (SQLite or
   * Supabase, built by the container's own factory), with this counter around its instrumentation.
   */
  adapter(): (config: Config, wiring: AdapterWiring) => DatabaseAdapter {
    return (config, wiring) => createAdapter(config, { ...wiring, instrumentation: this.wrap(wiring.instrumentation) });
  }
}
