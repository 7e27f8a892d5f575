import { expect } from 'chai';
import {
  RecordingObserver,
  expectCounters,
  hold,
  makePool,
  rejectionOf,
  sleep,
  stopAllPools,
} from './helpers.js';

describe('ObservedPool stats() and resetWindow()', () => {
  afterEach(stopAllPools);

  it('reports timing distributions in milliseconds', async () => {
    const { pool } = makePool({ min: 1, max: 1 });
    await pool.start();
    for (let i = 0; i < 3; i++) await pool.withConnection(() => sleep(20));
    const s = pool.stats();
    expect(s.dbSystem).to.equal('sqlite');
    expect(s.useTimeMs.count).to.equal(3);
    expect(s.useTimeMs.p50).to.be.within(18, 60);
    expect(s.useTimeMs.avg).to.be.within(18, 60);
    expect(s.waitTimeMs.count).to.equal(3);
    expect(s.waitTimeMs.max).to.be.below(50);
    expect(s.createTimeMs.count).to.equal(1);
  });

  it('resetWindow zeroes the window counters but not connection or health state', async () => {
    const observer = new RecordingObserver();
    const { pool, factory } = makePool({ min: 1, max: 1, acquireTimeoutMs: 30 }, undefined, observer);
    await pool.start();
    const firstReset = pool.stats().lastReset;
    const holder = hold(pool);
    await holder.acquired;
    await rejectionOf(pool.withConnection(async () => undefined));
    holder.release();
    await holder.done;
    factory.all[0]!.failValidate = true;
    await pool.checkHealth();
    expectCounters(pool, {
      total: 1,
      idle: 1,
      created: 2,
      closed: 1,
      unhealthyClosed: 1,
      hits: 1,
      timeouts: 1,
    });
    const eventsBefore = observer.events.length;

    await sleep(5);
    pool.resetWindow();
    expectCounters(pool, { total: 1, idle: 1 });
    const s = pool.stats();
    expect(s.hitRate).to.equal(null);
    expect(s.healthChecks).to.equal(0);
    expect(s.healthCheckFailures).to.equal(0);
    for (const d of [s.waitTimeMs, s.useTimeMs, s.createTimeMs]) {
      expect(d).to.deep.equal({ count: 0, avg: null, p50: null, p95: null, p99: null, max: null });
    }
    expect(Date.parse(s.lastReset)).to.be.greaterThan(Date.parse(firstReset));
    // Health state is not a window counter.
    expect(s.healthy).to.equal(false);
    expect(s.consecutiveHealthFailures).to.equal(1);
    expect(s.lastHealthError).to.equal('validation failed');
    // The observer (Prometheus) is not told anything.
    expect(observer.events.length).to.equal(eventsBefore);

    await pool.withConnection(async () => undefined);
    expectCounters(pool, { total: 1, idle: 1, hits: 1 });
    expect(pool.stats().hitRate).to.equal(1);
  });
});
