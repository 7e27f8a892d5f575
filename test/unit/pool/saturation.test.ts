import { expect } from 'chai';
import { AppError } from '../../../src/errors/index.js';
import { PoolSaturatedError } from '../../../src/pool/index.js';
import {
  RecordingObserver,
  expectCounters,
  hold,
  makePool,
  rejectionOf,
  settle,
  stopAllPools,
} from './helpers.js';

describe('ObservedPool bounded wait queue', () => {
  afterEach(stopAllPools);

  it('lets maxWaitingClients callers wait and rejects exactly the rest at once', async () => {
    const observer = new RecordingObserver();
    const { pool } = makePool({ min: 2, max: 2, maxWaitingClients: 3 }, undefined, observer);
    await pool.start();
    const holders = [hold(pool), hold(pool)];
    await Promise.all(holders.map((h) => h.acquired));

    const attempts = Array.from({ length: 8 }, () =>
      pool
        .withConnection(async () => 'served')
        .then(
          (value) => ({ value }),
          (err: unknown) => ({ err }),
        ),
    );
    await settle();
    expectCounters(pool, { total: 2, used: 2, pending: 3, created: 2, hits: 2, rejected: 5 });

    for (const h of holders) h.release();
    const results = await Promise.all(attempts);
    const served = results.filter((r) => 'value' in r);
    const rejected = results.filter((r) => 'err' in r).map((r) => (r as { err: unknown }).err);
    expect(served).to.have.length(3);
    expect(rejected).to.have.length(5);
    for (const err of rejected) {
      expect(err).to.be.instanceOf(PoolSaturatedError).and.instanceOf(AppError);
      const saturated = err as PoolSaturatedError;
      expect(saturated.code).to.equal('DB_POOL_SATURATED');
      expect(saturated.status).to.equal(503);
      expect(saturated.snapshot).to.include({ used: 2, idle: 0, pending: 3, max: 2 });
      expect(saturated.message).to.equal(
        'The test-pool pool is saturated: all 2 connections are busy and 3 callers are already waiting.',
      );
    }
    expectCounters(pool, { total: 2, idle: 2, created: 2, hits: 5, rejected: 5 });
    const acquires = observer.of('acquire').filter((e) => e.outcome === 'rejected');
    expect(acquires).to.have.length(5);
    for (const e of acquires) expect(e.seconds).to.equal(0);
    // Refusals did not wait: they are not in the wait distribution.
    expect(pool.stats().waitTimeMs.count).to.equal(5);
  });

  it('maxWaitingClients = 0: nobody waits for a busy pool', async () => {
    const { pool } = makePool({ min: 1, max: 1, maxWaitingClients: 0 });
    await pool.start();
    const holder = hold(pool);
    await holder.acquired;
    const started = performance.now();
    const err = await rejectionOf(pool.withConnection(async () => undefined));
    expect(performance.now() - started).to.be.below(20);
    expect(err).to.be.instanceOf(PoolSaturatedError);
    expectCounters(pool, { total: 1, used: 1, created: 1, hits: 1, rejected: 1 });
    holder.release();
    await holder.done;
  });

  it('maxWaitingClients = 0 still lets a cold pool grow to max (waiting for a create is not queueing)', async () => {
    const { pool, factory } = makePool({ min: 0, max: 2, maxWaitingClients: 0 });
    factory.createDelayMs = 10;
    const a = hold(pool);
    const b = hold(pool);
    const c = rejectionOf(pool.withConnection(async () => undefined));
    expect(await c).to.be.instanceOf(PoolSaturatedError);
    await Promise.all([a.acquired, b.acquired]);
    expectCounters(pool, { total: 2, used: 2, created: 2, misses: 2, rejected: 1 });
    a.release();
    b.release();
    await Promise.all([a.done, b.done]);
    expectCounters(pool, { total: 2, idle: 2, created: 2, misses: 2, rejected: 1 });
  });
});
