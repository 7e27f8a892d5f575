import { expect } from 'chai';
import { RecordingObserver, expectCounters, hold, makePool, settle, stopAllPools } from './helpers.js';

describe('ObservedPool hit / miss accounting', () => {
  afterEach(stopAllPools);

  it('hitRate is null before the first acquire', async () => {
    const { pool } = makePool({ min: 2 });
    expect(pool.stats().hitRate).to.equal(null);
    await pool.start();
    expect(pool.stats().hitRate).to.equal(null);
    expectCounters(pool, { total: 2, idle: 2, created: 2 });
  });

  it('warm-up then N sequential acquires = N hits, 0 misses', async () => {
    const observer = new RecordingObserver();
    const { pool, factory } = makePool({ min: 2, max: 4 }, undefined, observer);
    await pool.start();
    expectCounters(pool, { total: 2, idle: 2, created: 2 });

    const N = 25;
    for (let i = 1; i <= N; i++) {
      await pool.withConnection(async () => {
        expectCounters(pool, { total: 2, used: 1, idle: 1, created: 2, hits: i });
      });
      expectCounters(pool, { total: 2, idle: 2, created: 2, hits: i });
    }
    expect(pool.stats().hitRate).to.equal(1);
    expect(factory.createCalls).to.equal(2);
    expect(observer.count('acquire')).to.deep.equal({ hit: N });
    expect(observer.count('release')).to.deep.equal({ any: N });
  });

  it('concurrency above min: exactly (concurrency − min) misses, the rest hits', async () => {
    const observer = new RecordingObserver();
    const { pool } = makePool({ min: 2, max: 5 }, undefined, observer);
    await pool.start();

    const holders = Array.from({ length: 5 }, () => hold(pool));
    const conns = await Promise.all(holders.map((h) => h.acquired));
    expect(new Set(conns).size).to.equal(5);
    expectCounters(pool, { total: 5, used: 5, created: 5, hits: 2, misses: 3 });

    for (const h of holders) h.release();
    await Promise.all(holders.map((h) => h.done));
    expectCounters(pool, { total: 5, idle: 5, created: 5, hits: 2, misses: 3 });

    // Every connection has been lent now: any later acquire is a hit.
    const again = Array.from({ length: 5 }, () => hold(pool));
    await Promise.all(again.map((h) => h.acquired));
    expectCounters(pool, { total: 5, used: 5, created: 5, hits: 7, misses: 3 });
    for (const h of again) h.release();
    await Promise.all(again.map((h) => h.done));
    expect(pool.stats().hitRate).to.equal(7 / 10);
    expect(observer.count('acquire')).to.deep.equal({ hit: 7, miss: 3 });
  });

  it('a cold pool (no warm-up): the first acquire is a miss, the next ones hits', async () => {
    const { pool } = makePool({ min: 0, max: 2 });
    await pool.withConnection(async () => undefined);
    expectCounters(pool, { total: 1, idle: 1, created: 1, misses: 1 });
    await pool.withConnection(async () => undefined);
    await pool.withConnection(async () => undefined);
    expectCounters(pool, { total: 1, idle: 1, created: 1, misses: 1, hits: 2 });
    expect(pool.stats().hitRate).to.equal(2 / 3);
  });

  it('a connection released to a waiter is a hit', async () => {
    const { pool } = makePool({ min: 1, max: 1 });
    await pool.start();
    const first = hold(pool);
    const firstConn = await first.acquired;
    const second = hold(pool);
    await settle();
    expectCounters(pool, { total: 1, used: 1, pending: 1, created: 1, hits: 1 });
    first.release();
    expect(await second.acquired).to.equal(firstConn);
    expectCounters(pool, { total: 1, used: 1, created: 1, hits: 2 });
    second.release();
    await Promise.all([first.done, second.done]);
    expectCounters(pool, { total: 1, idle: 1, created: 1, hits: 2 });
  });

  it('is LIFO: the most recently released connection is lent next', async () => {
    const { pool } = makePool({ min: 2, max: 2 });
    await pool.start();
    const a = hold(pool);
    const b = hold(pool);
    const [connA, connB] = await Promise.all([a.acquired, b.acquired]);
    a.release();
    await a.done;
    b.release();
    await b.done;
    expect(await pool.withConnection(async (c) => c)).to.equal(connB);
    expect(connA).to.not.equal(connB);
  });
});
