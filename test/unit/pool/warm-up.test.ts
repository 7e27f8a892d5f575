import { expect } from 'chai';
import { AppError, DatabaseError } from '../../../src/errors/index.js';
import { PoolClosedError } from '../../../src/pool/index.js';
import { expectCounters, makePool, rejectionOf, stopAllPools } from './helpers.js';

describe('ObservedPool start() / warm-up', () => {
  afterEach(stopAllPools);

  it('opens min connections in parallel before resolving', async () => {
    const { pool, factory } = makePool({ min: 3, max: 5 });
    factory.createDelayMs = 20;
    expectCounters(pool, {});
    await pool.start();
    expectCounters(pool, { total: 3, idle: 3, created: 3 });
    expect(factory.maxConcurrentCreates).to.equal(3);
    expect(factory.createCalls).to.equal(3);
    expect(pool.stats().createTimeMs.count).to.equal(3);
    expect(pool.stats().createTimeMs.max).to.be.at.least(15);
  });

  it('is idempotent: a second call returns the same promise and opens nothing more', async () => {
    const { pool, factory } = makePool({ min: 2 });
    const first = pool.start();
    expect(pool.start()).to.equal(first);
    await first;
    await pool.start();
    expectCounters(pool, { total: 2, idle: 2, created: 2 });
    expect(factory.createCalls).to.equal(2);
  });

  it('min = 0 opens nothing', async () => {
    const { pool, factory } = makePool({ min: 0 });
    await pool.start();
    expectCounters(pool, {});
    expect(factory.createCalls).to.equal(0);
  });

  it('rejects with DatabaseError DB_UNAVAILABLE naming the connect error, and stays usable', async () => {
    const { pool, factory } = makePool({ min: 3, max: 4 });
    factory.failCreate = 'connect ECONNREFUSED 127.0.0.1:5432';
    const err = await rejectionOf(pool.start());
    expect(err).to.be.instanceOf(DatabaseError).and.instanceOf(AppError);
    expect((err as DatabaseError).code).to.equal('DB_UNAVAILABLE');
    expect((err as DatabaseError).status).to.equal(503);
    expect(err.message).to.equal(
      'Could not open 3 of 3 test-pool connections at start-up: connect ECONNREFUSED 127.0.0.1:5432',
    );
    expect(err.cause).to.be.instanceOf(Error);
    expectCounters(pool, { createFailures: 3 });
    const stats = pool.stats();
    expect(stats.healthy).to.equal(false);
    expect(stats.lastHealthError).to.equal('connect ECONNREFUSED 127.0.0.1:5432');
    expect(stats.lastCreateError).to.equal('connect ECONNREFUSED 127.0.0.1:5432');

    // The database comes back: acquires work on demand, and start() may be retried.
    factory.failCreate = false;
    await pool.withConnection(async () => undefined);
    expectCounters(pool, { total: 1, idle: 1, created: 1, createFailures: 3, misses: 1 });
    expect(pool.stats().lastCreateError).to.equal(null);
    await pool.start();
    expectCounters(pool, { total: 3, idle: 3, created: 3, createFailures: 3, misses: 1 });
  });

  it('rejects when only some warm-up connections fail', async () => {
    const { pool, factory } = makePool({ min: 3 });
    let calls = 0;
    factory.failCreate = () => (++calls === 2 ? 'too many connections' : false);
    const err = await rejectionOf(pool.start());
    expect(err.message).to.equal(
      'Could not open 1 of 3 test-pool connections at start-up: too many connections',
    );
    expectCounters(pool, { total: 2, idle: 2, created: 2, createFailures: 1 });
  });

  it('stop() during warm-up: start() rejects with PoolClosedError and nothing stays open', async () => {
    const { pool, factory } = makePool({ min: 2, max: 2 });
    factory.createDelayMs = 30;
    const starting = pool.start();
    await pool.stop();
    expect(await rejectionOf(starting)).to.be.instanceOf(PoolClosedError);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(factory.created).to.equal(2);
    expect(factory.open.size).to.equal(0);
    expectCounters(pool, { created: 2, closed: 2, shutdownClosed: 2 });
  });

  it('after stop() it rejects with PoolClosedError', async () => {
    const { pool } = makePool({ min: 1 });
    await pool.stop();
    const err = await rejectionOf(pool.start());
    expect(err).to.be.instanceOf(PoolClosedError);
    expect((err as PoolClosedError).code).to.equal('DB_POOL_CLOSED');
  });
});
