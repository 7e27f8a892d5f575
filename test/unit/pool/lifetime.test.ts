import { expect } from 'chai';
import { RecordingObserver, expectCounters, hold, makePool, settle, sleep, stopAllPools } from './helpers.js';

describe('ObservedPool max lifetime and broken connections', () => {
  afterEach(stopAllPools);

  it('destroys a connection older than maxLifetimeMs on release (max_lifetime) and refills to min', async () => {
    const observer = new RecordingObserver();
    const { pool, factory } = makePool({ min: 1, max: 2, maxLifetimeMs: 50 }, undefined, observer);
    await pool.start();
    const first = await pool.withConnection(async (c) => {
      await sleep(70);
      return c;
    });
    expect(first.destroyed).to.equal(true);
    await settle();
    expectCounters(pool, { total: 1, idle: 1, created: 2, closed: 1, maxLifetimeClosed: 1, hits: 1 });
    expect(observer.count('close')).to.deep.equal({ max_lifetime: 1 });

    // The refill connection is warm: lending it is a hit.
    const second = await pool.withConnection(async (c) => c);
    expect(second).to.not.equal(first);
    expectCounters(pool, { total: 1, idle: 1, created: 2, closed: 1, maxLifetimeClosed: 1, hits: 2 });
    expect(factory.open.size).to.equal(1);
  });

  it('never lends an idle connection past its lifetime', async () => {
    const { pool } = makePool({ min: 1, max: 1, maxLifetimeMs: 40 });
    await pool.start();
    const first = await pool.withConnection(async (c) => c);
    await sleep(60);
    const second = await pool.withConnection(async (c) => c);
    expect(second).to.not.equal(first);
    expect(first.destroyed).to.equal(true);
    await settle();
    expectCounters(pool, { total: 1, idle: 1, created: 2, closed: 1, maxLifetimeClosed: 1, hits: 2 });
  });

  it('a young connection is returned, not recycled (lifetime counted from creation)', async () => {
    const { pool } = makePool({ min: 1, max: 1, maxLifetimeMs: 1000 });
    await pool.start();
    for (let i = 0; i < 5; i++) await pool.withConnection(() => sleep(2));
    expectCounters(pool, { total: 1, idle: 1, created: 1, hits: 5 });
  });

  it('destroys a connection that is broken on release (reason error) and refills to min', async () => {
    const { pool } = makePool({ min: 2, max: 2 });
    await pool.start();
    const broken = await pool.withConnection(async (c) => {
      c.broken = true;
      return c;
    });
    expect(broken.destroyed).to.equal(true);
    await settle();
    expectCounters(pool, { total: 2, idle: 2, created: 3, closed: 1, errorClosed: 1, hits: 1 });
  });

  it('does not lend an idle connection that broke (validate hook), closing it with reason error', async () => {
    const { pool } = makePool({ min: 1, max: 2 });
    await pool.start();
    const a = hold(pool);
    const b = hold(pool);
    const [connA, connB] = await Promise.all([a.acquired, b.acquired]);
    a.release();
    b.release();
    await Promise.all([a.done, b.done]);
    expectCounters(pool, { total: 2, idle: 2, created: 2, hits: 1, misses: 1 });

    // The worker behind an idle connection died.
    connB.broken = true;
    const lent = await pool.withConnection(async (c) => c);
    expect(lent).to.equal(connA);
    expect(connB.destroyed).to.equal(true);
    await settle();
    expectCounters(pool, { total: 1, idle: 1, created: 2, closed: 1, errorClosed: 1, hits: 2, misses: 1 });
  });
});
