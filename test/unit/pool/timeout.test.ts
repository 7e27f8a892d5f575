import { expect } from 'chai';
import { TimeoutError as TarnTimeoutError } from 'tarn';
import { AppError } from '../../../src/errors/index.js';
import { PoolTimeoutError } from '../../../src/pool/index.js';
import { RecordingObserver, expectCounters, hold, makePool, rejectionOf, stopAllPools } from './helpers.js';

describe('ObservedPool acquire timeout', () => {
  afterEach(stopAllPools);

  it('rejects with PoolTimeoutError (DB_POOL_TIMEOUT, 503) carrying a snapshot', async () => {
    const observer = new RecordingObserver();
    const { pool } = makePool(
      { name: 'sqlite-read', min: 1, max: 1, acquireTimeoutMs: 100 },
      undefined,
      observer,
    );
    await pool.start();
    const holder = hold(pool);
    await holder.acquired;
    expectCounters(pool, { total: 1, used: 1, created: 1, hits: 1 });

    const started = performance.now();
    const err = await rejectionOf(pool.withConnection(async () => 'never'));
    const waited = performance.now() - started;

    expect(err).to.be.instanceOf(PoolTimeoutError).and.instanceOf(AppError);
    const timeout = err as PoolTimeoutError;
    expect(timeout.name).to.equal('PoolTimeoutError');
    expect(timeout.code).to.equal('DB_POOL_TIMEOUT');
    expect(timeout.status).to.equal(503);
    expect(timeout.retryAfterSeconds).to.equal(1);
    expect(timeout.snapshot).to.deep.equal({
      name: 'sqlite-read',
      total: 1,
      used: 1,
      idle: 0,
      pending: 1,
      creating: 0,
      min: 1,
      max: 1,
      lastCreateError: null,
    });
    expect(timeout.details).to.deep.equal({ pool: timeout.snapshot });
    expect(timeout.message).to.match(
      /^No sqlite-read connection became free within 1\d\d ms \(used 1\/1, waiting 1\)\.$/,
    );
    expect(timeout.cause).to.be.instanceOf(TarnTimeoutError);
    expect(waited).to.be.within(95, 250);
    expectCounters(pool, { total: 1, used: 1, created: 1, hits: 1, timeouts: 1 });

    const timeouts = observer.of('acquire').filter((e) => e.outcome === 'timeout');
    expect(timeouts).to.have.length(1);
    expect(timeouts[0]!.seconds).to.be.within(0.095, 0.25);
    expect(pool.stats().waitTimeMs.count).to.equal(2);
    expect(pool.stats().waitTimeMs.max).to.be.at.least(95);

    // The pool is fine afterwards.
    holder.release();
    await holder.done;
    await pool.withConnection(async () => undefined);
    expectCounters(pool, { total: 1, idle: 1, created: 1, hits: 2, timeouts: 1 });
  });

  it('times out every waiter of a full pool and leaves nothing pending', async () => {
    const { pool } = makePool({ min: 2, max: 2, acquireTimeoutMs: 60 });
    await pool.start();
    const holders = [hold(pool), hold(pool)];
    await Promise.all(holders.map((h) => h.acquired));
    const errors = await Promise.all(
      Array.from({ length: 4 }, () => rejectionOf(pool.withConnection(async () => undefined))),
    );
    for (const err of errors) expect(err).to.be.instanceOf(PoolTimeoutError);
    expectCounters(pool, { total: 2, used: 2, created: 2, hits: 2, timeouts: 4 });
    for (const h of holders) h.release();
    await Promise.all(holders.map((h) => h.done));
    expectCounters(pool, { total: 2, idle: 2, created: 2, hits: 2, timeouts: 4 });
  });
});
