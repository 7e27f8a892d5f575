import { expect } from 'chai';
import type { PoolObserver } from '../../../src/pool/index.js';
import { RecordingObserver, expectCounters, makePool, sleep, stopAllPools } from './helpers.js';

describe('ObservedPool observer', () => {
  afterEach(stopAllPools);

  it('receives every event, times in seconds', async () => {
    const observer = new RecordingObserver();
    const { pool, factory } = makePool(
      { name: 'supabase', min: 1, max: 2, idleTimeoutMs: 30 },
      undefined,
      observer,
    );
    factory.createDelayMs = 10;
    await pool.start();
    await Promise.all([pool.withConnection(() => sleep(30)), pool.withConnection(() => sleep(30))]);
    await sleep(80);
    await pool.checkHealth();
    await pool.stop();

    expect(observer.events.every((e) => e.pool === 'supabase')).to.equal(true);
    expect(observer.count('create')).to.deep.equal({ success: 2 });
    expect(observer.count('acquire')).to.deep.equal({ hit: 1, miss: 1 });
    expect(observer.count('release')).to.deep.equal({ any: 2 });
    expect(observer.count('close')).to.deep.equal({ idle: 1, shutdown: 1 });
    expect(observer.count('health')).to.deep.equal({ healthy: 1 });
    for (const e of observer.of('create')) expect(e.seconds).to.be.within(0.008, 0.1);
    for (const e of observer.of('release')) expect(e.seconds).to.be.within(0.025, 0.1);
    const miss = observer.of('acquire').find((e) => e.outcome === 'miss');
    expect(miss!.seconds).to.be.within(0.008, 0.1);
  });

  it('swallows observer exceptions: the pool keeps working and counting', async () => {
    const boom = (): never => {
      throw new Error('observer bug');
    };
    const throwing: PoolObserver = {
      onAcquire: boom,
      onRelease: boom,
      onCreate: boom,
      onClose: boom,
      onLeak: boom,
      onHealthCheck: boom,
    };
    const { pool } = makePool(
      { min: 1, max: 1, leakThresholdMs: 20, maxLifetimeMs: 40 },
      undefined,
      throwing,
    );
    await pool.start();
    expect(await pool.withConnection(async () => 42)).to.equal(42);
    await pool.withConnection(() => sleep(50));
    expect(await pool.checkHealth()).to.equal(true);
    expectCounters(pool, {
      total: 1,
      idle: 1,
      created: 2,
      closed: 1,
      maxLifetimeClosed: 1,
      hits: 2,
      leaks: 1,
    });
  });
});
