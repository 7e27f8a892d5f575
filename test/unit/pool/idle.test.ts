import { expect } from 'chai';
import { RecordingObserver, expectCounters, hold, makePool, sleep, stopAllPools } from './helpers.js';

describe('ObservedPool idle timeout', () => {
  afterEach(stopAllPools);

  it('closes idle connections above min after idleTimeoutMs (reason idle) and keeps min', async () => {
    const observer = new RecordingObserver();
    const { pool, factory } = makePool({ min: 1, max: 3, idleTimeoutMs: 40 }, undefined, observer);
    await pool.start();
    const holders = [hold(pool), hold(pool), hold(pool)];
    await Promise.all(holders.map((h) => h.acquired));
    for (const h of holders) h.release();
    await Promise.all(holders.map((h) => h.done));
    expectCounters(pool, { total: 3, idle: 3, created: 3, hits: 1, misses: 2 });

    await sleep(120);
    expectCounters(pool, { total: 1, idle: 1, created: 3, closed: 2, idleClosed: 2, hits: 1, misses: 2 });
    expect(observer.count('close')).to.deep.equal({ idle: 2 });
    expect(factory.open.size).to.equal(1);

    await sleep(80);
    expectCounters(pool, { total: 1, idle: 1, created: 3, closed: 2, idleClosed: 2, hits: 1, misses: 2 });
  });

  it('health checks do not reset the idle clock', async () => {
    const { pool } = makePool({ min: 1, max: 3, idleTimeoutMs: 60 });
    await pool.start();
    const holders = [hold(pool), hold(pool), hold(pool)];
    await Promise.all(holders.map((h) => h.acquired));
    for (const h of holders) h.release();
    await Promise.all(holders.map((h) => h.done));
    // Checked every 25 ms, i.e. more often than the idle timeout.
    for (let i = 0; i < 6; i++) {
      expect(await pool.checkHealth()).to.equal(true);
      await sleep(25);
    }
    expectCounters(pool, { total: 1, idle: 1, created: 3, closed: 2, idleClosed: 2, hits: 1, misses: 2 });
  });
});
