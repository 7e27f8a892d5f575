import { expect } from 'chai';
import { PoolTimeoutError, isCreateFailureTimeout } from '../../../src/pool/index.js';
import {
  RecordingObserver,
  expectCounters,
  makePool,
  rejectionOf,
  settle,
  sleep,
  stopAllPools,
} from './helpers.js';

describe('ObservedPool create failures', () => {
  afterEach(stopAllPools);

  it('create always failing: acquirers get PoolTimeoutError naming the error, nothing is left pending', async () => {
    const observer = new RecordingObserver();
    const { pool, factory } = makePool({ min: 0, max: 3, acquireTimeoutMs: 150 }, undefined, observer);
    factory.failCreate = 'connect ECONNREFUSED 127.0.0.1:5432';

    const started = performance.now();
    const errors = await Promise.all(
      Array.from({ length: 3 }, () => rejectionOf(pool.withConnection(async () => undefined))),
    );
    expect(performance.now() - started).to.be.within(140, 400);
    for (const err of errors) {
      expect(err).to.be.instanceOf(PoolTimeoutError);
      expect(err.message).to.contain('last connect error: connect ECONNREFUSED 127.0.0.1:5432');
      expect((err as PoolTimeoutError).snapshot).to.include({
        total: 0,
        used: 0,
        lastCreateError: 'connect ECONNREFUSED 127.0.0.1:5432',
      });
    }
    await settle();
    const failures = factory.createFailures;
    // tarn retried while the acquirers waited (every acquireTimeoutMs / 5 = 30 ms).
    expect(failures).to.be.greaterThan(3);
    expectCounters(pool, { timeouts: 3, createFailures: failures });
    expect(observer.count('create')).to.deep.equal({ error: failures });
    expect(observer.count('acquire')).to.deep.equal({ timeout: 3 });

    // No retry loop survives the acquirers.
    await sleep(100);
    expect(factory.createFailures).to.equal(failures);
    expectCounters(pool, { timeouts: 3, createFailures: failures });
  });

  it('isCreateFailureTimeout: a timeout with room in the pool and failing or pending creates, not one of a busy pool', async () => {
    const failing = makePool({ min: 0, max: 2, acquireTimeoutMs: 60 });
    failing.factory.failCreate = 'connect ECONNREFUSED 127.0.0.1:5432';
    expect(isCreateFailureTimeout(await rejectionOf(failing.pool.withConnection(async () => undefined)))).to.equal(true);

    const slow = makePool({ min: 0, max: 1, acquireTimeoutMs: 40, createTimeoutMs: 1000 });
    slow.factory.createDelayMs = 200;
    const pending = await rejectionOf(slow.pool.withConnection(async () => undefined));
    expect((pending as PoolTimeoutError).snapshot).to.include({ creating: 1, lastCreateError: null });
    expect(isCreateFailureTimeout(pending)).to.equal(true);

    const busy = makePool({ min: 1, max: 1, acquireTimeoutMs: 40 });
    await busy.pool.start();
    let release!: () => void;
    const holding = busy.pool.withConnection(() => new Promise<void>((resolve) => (release = resolve)));
    const timedOut = await rejectionOf(busy.pool.withConnection(async () => undefined));
    release();
    await holding;
    expect(timedOut).to.be.instanceOf(PoolTimeoutError);
    expect(isCreateFailureTimeout(timedOut)).to.equal(false);
    expect(isCreateFailureTimeout(new Error('x'))).to.equal(false);
    await sleep(250);
  });

  it('keeps only the message of a create error, cut to 200 characters', async () => {
    const { pool, factory } = makePool({ min: 0, max: 1, acquireTimeoutMs: 50 });
    factory.failCreate = `password authentication failed ${'x'.repeat(500)}`;
    await rejectionOf(pool.withConnection(async () => undefined));
    const message = pool.stats().lastCreateError;
    expect(message).to.have.length(200);
    expect(message!.startsWith('password authentication failed xxx')).to.equal(true);
    expect(message!.endsWith('…')).to.equal(true);
  });

  it('a create slower than createTimeoutMs fails; the late connection is closed and never counted', async () => {
    const { pool, factory } = makePool({ min: 0, max: 1, acquireTimeoutMs: 100, createTimeoutMs: 30 });
    factory.createDelayMs = 60;
    const err = await rejectionOf(pool.withConnection(async () => undefined));
    expect(err).to.be.instanceOf(PoolTimeoutError);
    expect(err.message).to.contain(
      'last connect error: opening a test-pool connection timed out after 30 ms',
    );
    await sleep(80);
    expect(factory.created).to.be.at.least(1);
    expect(factory.open.size).to.equal(0);
    expect(factory.destroyCalls).to.equal(factory.created);
    expectCounters(pool, { timeouts: 1, createFailures: factory.createCalls });
  });

  it('a transient create failure is retried within the same acquire', async () => {
    const { pool, factory } = makePool({ min: 0, max: 1, acquireTimeoutMs: 200 });
    let calls = 0;
    factory.failCreate = () => (++calls === 1 ? 'connection reset' : false);
    expect(await pool.withConnection(async (c) => c.id)).to.equal(1);
    expectCounters(pool, { total: 1, idle: 1, created: 1, createFailures: 1, misses: 1 });
    // A successful create clears the stale error.
    expect(pool.stats().lastCreateError).to.equal(null);
  });
});
