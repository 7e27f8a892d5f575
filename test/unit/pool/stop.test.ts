import { expect } from 'chai';
import { PoolClosedError, PoolTimeoutError } from '../../../src/pool/index.js';
import { STOP_CLOSE_BUDGET_MS } from '../../../src/pool/observed-pool.js';
import {
  RecordingObserver,
  expectCounters,
  gate,
  hold,
  makePool,
  rejectionOf,
  sleep,
  stopAllPools,
} from './helpers.js';
import type { TestPool } from './helpers.js';

describe('ObservedPool stop()', () => {
  afterEach(stopAllPools);

  it('closes idle connections (reason shutdown) and reports nothing forced', async () => {
    const observer = new RecordingObserver();
    const { pool, factory } = makePool({ min: 3, max: 3 }, undefined, observer);
    await pool.start();
    const report = await pool.stop();
    expect(report).to.include({ name: 'test-pool', forcedClosed: 0 });
    expect(report.forcedStacks).to.deep.equal([]);
    expect(report.durationMs).to.be.below(50);
    expectCounters(pool, { created: 3, closed: 3, shutdownClosed: 3 });
    expect(factory.open.size).to.equal(0);
    expect(factory.destroyed).to.equal(3);
    expect(observer.count('close')).to.deep.equal({ shutdown: 3 });
  });

  it('with a leaked connection: returns within the grace period and reports it with the acquirer’s stack', async () => {
    const { pool, factory } = makePool({ min: 1, max: 2, shutdownGraceMs: 100, leakThresholdMs: 60_000 });
    await pool.start();
    const neverOpened = gate();
    let leaked: Promise<void> | undefined;
    function forgetsToFinishItsWork(p: TestPool): void {
      leaked = p.withConnection(() => neverOpened.promise);
    }
    forgetsToFinishItsWork(pool);
    await sleep(5);
    expectCounters(pool, { total: 1, used: 1, created: 1, hits: 1 });

    const started = performance.now();
    const report = await pool.stop();
    const took = performance.now() - started;
    expect(took).to.be.within(95, 160);
    expect(report.durationMs).to.be.within(95, 160);
    expect(report.forcedClosed).to.equal(1);
    expect(report.forcedStacks).to.have.length(1);
    expect(report.forcedStacks[0]).to.contain('forgetsToFinishItsWork');
    expectCounters(pool, { created: 1, closed: 1, shutdownClosed: 1, hits: 1 });
    expect(factory.all[0]!.destroyed).to.equal(true);

    // The late release of the force-closed connection is expected: quiet, no double close.
    neverOpened.open();
    await leaked;
    expectCounters(pool, { created: 1, closed: 1, shutdownClosed: 1, hits: 1 });
    expect(factory.doubleDestroys).to.equal(0);
  });

  it('reports a forced close without a stack when leak detection is off', async () => {
    const { pool } = makePool({ min: 1, max: 1, shutdownGraceMs: 0, leakThresholdMs: 0 });
    await pool.start();
    const holder = hold(pool);
    await holder.acquired;
    const report = await pool.stop();
    expect(report.forcedStacks).to.deep.equal(['(acquirer stack not captured: leak detection is off)']);
    holder.release();
    await holder.done;
  });

  it('waits for a borrowed connection released during the grace period, then closes it', async () => {
    const { pool, factory } = makePool({ min: 1, max: 1, shutdownGraceMs: 1000 });
    await pool.start();
    const holder = hold(pool);
    await holder.acquired;
    const stopping = pool.stop();
    await sleep(30);
    expect(factory.all[0]!.destroyed).to.equal(false);
    holder.release();
    await holder.done;
    const report = await stopping;
    expect(report.forcedClosed).to.equal(0);
    expect(report.durationMs).to.be.below(200);
    expectCounters(pool, { created: 1, closed: 1, shutdownClosed: 1, hits: 1 });
    expect(factory.open.size).to.equal(0);
  });

  it('is idempotent: every call returns the same report promise', async () => {
    const { pool } = makePool({ min: 1 });
    await pool.start();
    const first = pool.stop();
    const second = pool.stop();
    expect(second).to.equal(first);
    expect(await second).to.equal(await first);
    expect(pool.stop()).to.equal(first);
    expectCounters(pool, { created: 1, closed: 1, shutdownClosed: 1 });
  });

  it('use after stop fails at once with PoolClosedError (DB_POOL_CLOSED, 503)', async () => {
    const observer = new RecordingObserver();
    const { pool, factory } = makePool({ min: 1 }, undefined, observer);
    await pool.start();
    await pool.stop();
    const started = performance.now();
    const err = await rejectionOf(pool.withConnection(async () => 'never'));
    expect(performance.now() - started).to.be.below(10);
    expect(err).to.be.instanceOf(PoolClosedError);
    expect((err as PoolClosedError).code).to.equal('DB_POOL_CLOSED');
    expect((err as PoolClosedError).status).to.equal(503);
    expect(factory.createCalls).to.equal(1);
    expectCounters(pool, { created: 1, closed: 1, shutdownClosed: 1, acquireErrors: 1 });
    expect(await pool.checkHealth()).to.equal(false);
  });

  it('rejects waiting acquirers with PoolClosedError at once', async () => {
    const { pool } = makePool({ min: 1, max: 1, acquireTimeoutMs: 5000, shutdownGraceMs: 300 });
    await pool.start();
    const holder = hold(pool);
    await holder.acquired;
    const waiters = [pool.withConnection(async () => 'w1'), pool.withConnection(async () => 'w2')].map((w) =>
      rejectionOf(w),
    );
    await sleep(5);
    expectCounters(pool, { total: 1, used: 1, pending: 2, created: 1, hits: 1 });

    const stopping = pool.stop();
    const started = performance.now();
    for (const err of await Promise.all(waiters)) {
      expect(err).to.be.instanceOf(PoolClosedError);
      expect(err).to.not.be.instanceOf(PoolTimeoutError);
    }
    expect(performance.now() - started).to.be.below(20);
    expectCounters(pool, { total: 1, used: 1, created: 1, hits: 1, acquireErrors: 2 });
    holder.release();
    await holder.done;
    expect((await stopping).forcedClosed).to.equal(0);
    expectCounters(pool, { created: 1, closed: 1, shutdownClosed: 1, hits: 1, acquireErrors: 2 });
  });

  it('never hangs, even when destroy() hangs', async () => {
    const { pool, factory } = makePool({ min: 2, max: 2, shutdownGraceMs: 0 });
    await pool.start();
    factory.destroyHangs = true;
    const started = performance.now();
    const report = await pool.stop();
    expect(performance.now() - started).to.be.within(STOP_CLOSE_BUDGET_MS - 10, STOP_CLOSE_BUDGET_MS + 150);
    expect(report.forcedClosed).to.equal(0);
    expectCounters(pool, { created: 2, closed: 2, shutdownClosed: 2 });
  });

  it('closes a connection whose create was still in flight at stop', async () => {
    const { pool, factory } = makePool({ min: 0, max: 1, shutdownGraceMs: 0, acquireTimeoutMs: 1000 });
    factory.createDelayMs = 60;
    const waiter = rejectionOf(pool.withConnection(async () => undefined));
    await sleep(5);
    expectCounters(pool, { pending: 1, creating: 1 });
    await pool.stop();
    expect(await waiter).to.be.instanceOf(PoolClosedError);
    await sleep(120);
    expect(factory.created).to.equal(1);
    expect(factory.open.size).to.equal(0);
    expectCounters(pool, { created: 1, closed: 1, shutdownClosed: 1, acquireErrors: 1 });
  });
});
