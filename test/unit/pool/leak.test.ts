import { expect } from 'chai';
import { RecordingObserver, expectCounters, makePool, sleep, stopAllPools } from './helpers.js';
import type { TestPool } from './helpers.js';

describe('ObservedPool leak detection', () => {
  afterEach(stopAllPools);

  it('counts a connection held past leakThresholdMs once, with the acquirer’s stack', async () => {
    const observer = new RecordingObserver();
    const { pool } = makePool({ min: 1, max: 2, leakThresholdMs: 50 }, undefined, observer);
    await pool.start();

    async function holdsTheConnectionTooLong(p: TestPool): Promise<void> {
      await p.withConnection(() => sleep(160));
    }
    await holdsTheConnectionTooLong(pool);

    expectCounters(pool, { total: 1, idle: 1, created: 1, hits: 1, leaks: 1 });
    const leaks = observer.of('leak');
    expect(leaks).to.have.length(1);
    expect(leaks[0]!.pool).to.equal('test-pool');
    // Reported by the sweep between 1× and 1.5× the threshold (plus timer slack), in seconds.
    expect(leaks[0]!.seconds).to.be.within(0.05, 0.12);
    expect(leaks[0]!.stack).to.contain('holdsTheConnectionTooLong');
    expect(leaks[0]!.stack).to.match(/^ {4}at /);
  });

  it('counts each lending separately and ignores short ones', async () => {
    const { pool } = makePool({ min: 1, max: 1, leakThresholdMs: 40 });
    await pool.start();
    await pool.withConnection(() => sleep(5));
    expectCounters(pool, { total: 1, idle: 1, created: 1, hits: 1 });
    await pool.withConnection(() => sleep(100));
    expectCounters(pool, { total: 1, idle: 1, created: 1, hits: 2, leaks: 1 });
    await pool.withConnection(() => sleep(100));
    expectCounters(pool, { total: 1, idle: 1, created: 1, hits: 3, leaks: 2 });
  });

  it('reports a leak while the connection is still held', async () => {
    const observer = new RecordingObserver();
    const { pool } = makePool({ min: 1, max: 1, leakThresholdMs: 30 }, undefined, observer);
    await pool.start();
    let leaksWhileHeld = -1;
    await pool.withConnection(async () => {
      await sleep(90);
      leaksWhileHeld = pool.stats().leaks;
    });
    expect(leaksWhileHeld).to.equal(1);
  });

  it('leakThresholdMs = 0 turns detection off', async () => {
    const { pool } = makePool({ min: 1, max: 1, leakThresholdMs: 0 });
    await pool.start();
    await pool.withConnection(() => sleep(60));
    expectCounters(pool, { total: 1, idle: 1, created: 1, hits: 1 });
  });
});
