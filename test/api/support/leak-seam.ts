/**
 * Test seam for the shutdown tests, loaded with `node --require` before the real entry point, so
 * production code stays as it is: on SIGUSR2 it borrows one connection of the `sqlite-read` pool
 * and never gives it back — a leaked connection, as a forgotten release or a query that never
 * returns would leave. It prints one JSON log line when it holds the connection.
 *
 * It finds the pools by wrapping ObservedPool.prototype.start (the service starts every pool).
 */
import { ObservedPool } from '../../../src/pool/index.js';

const pools: Array<ObservedPool<unknown>> = [];
const start = ObservedPool.prototype.start;
ObservedPool.prototype.start = function (this: ObservedPool<unknown>) {
  pools.push(this);
  return start.call(this);
};

process.on('SIGUSR2', () => {
  const pool = pools.find((p) => p.name === 'sqlite-read');
  if (pool === undefined) {
    process.stdout.write(`${JSON.stringify({ msg: 'test seam: no sqlite-read pool' })}\n`);
    return;
  }
  void pool
    .withConnection(() => {
      process.stdout.write(`${JSON.stringify({ msg: 'test seam: leaked a sqlite-read connection' })}\n`);
      return new Promise<never>(() => undefined); // never settles: the connection is never released
    })
    .catch(() => undefined);
});
