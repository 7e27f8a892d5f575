import { expect } from 'chai';
import { RecordingObserver, expectCounters, hold, makePool, settle, sleep, stopAllPools } from './helpers.js';

describe('ObservedPool health monitor', () => {
  afterEach(stopAllPools);

  it('replaces an idle connection that fails validation (reason unhealthy) and refills to min', async () => {
    const observer = new RecordingObserver();
    const { pool, factory } = makePool({ min: 2, max: 3 }, undefined, observer);
    await pool.start();
    const bad = factory.all[0]!;
    bad.failValidate = true;

    expect(await pool.checkHealth()).to.equal(false);
    expect(bad.destroyed).to.equal(true);
    expectCounters(pool, { total: 2, idle: 2, created: 3, closed: 1, unhealthyClosed: 1 });
    let s = pool.stats();
    expect(s.healthy).to.equal(false);
    expect(s.consecutiveHealthFailures).to.equal(1);
    expect(s.healthCheckFailures).to.equal(1);
    expect(s.healthChecks).to.equal(1);
    expect(s.lastHealthError).to.equal('validation failed');
    expect(s.lastHealthCheckAt).to.be.a('string');
    expect([...factory.validated].sort()).to.deep.equal([1, 2]);

    expect(await pool.checkHealth()).to.equal(true);
    s = pool.stats();
    expect(s.healthy).to.equal(true);
    expect(s.consecutiveHealthFailures).to.equal(0);
    expect(s.healthCheckFailures).to.equal(1);
    expect(s.healthChecks).to.equal(2);
    // The last error is kept for the operator after a passing check.
    expect(s.lastHealthError).to.equal('validation failed');
    expect(observer.of('health').map((e) => [e.outcome, e.error])).to.deep.equal([
      ['unhealthy', 'validation failed'],
      ['healthy', undefined],
    ]);
    expectCounters(pool, { total: 2, idle: 2, created: 3, closed: 1, unhealthyClosed: 1 });
  });

  it('never validates or closes a borrowed connection', async () => {
    const { pool, factory } = makePool({ min: 2, max: 2 });
    await pool.start();
    const holder = hold(pool);
    const borrowed = await holder.acquired;
    borrowed.failValidate = true; // would fail, if it were (wrongly) checked

    expect(await pool.checkHealth()).to.equal(true);
    expect(factory.validated).to.not.include(borrowed.id);
    expect(factory.validated).to.have.length(1);
    expect(factory.validatedWhileInUse).to.equal(0);
    expect(borrowed.destroyed).to.equal(false);
    expectCounters(pool, { total: 2, used: 1, idle: 1, created: 2, hits: 1 });
    holder.release();
    await holder.done;
    expectCounters(pool, { total: 2, idle: 2, created: 2, hits: 1 });
  });

  it('nobody can borrow a connection while it is being validated', async () => {
    const { pool, factory } = makePool({ min: 1, max: 2 });
    await pool.start();
    factory.validateDelayMs = 40;
    const checking = pool.checkHealth();
    await settle();
    // The only connection is being checked: this acquire opens a new one.
    const lent = await pool.withConnection(async (c) => c);
    expect(lent.id).to.equal(2);
    expect(await checking).to.equal(true);
    expect(factory.validatedWhileInUse).to.equal(0);
    expectCounters(pool, { total: 2, idle: 2, created: 2, misses: 1 });
  });

  it('records the message of a validation that throws, and times out one that hangs', async () => {
    const { pool, factory } = makePool({ min: 1, max: 1, createTimeoutMs: 40 });
    await pool.start();
    factory.failValidate = 'SQLITE_IOERR: disk I/O error';
    expect(await pool.checkHealth()).to.equal(false);
    expect(pool.stats().lastHealthError).to.equal('SQLITE_IOERR: disk I/O error');
    expectCounters(pool, { total: 1, idle: 1, created: 2, closed: 1, unhealthyClosed: 1 });

    factory.failValidate = false;
    factory.validateDelayMs = 200;
    expect(await pool.checkHealth()).to.equal(false);
    expect(pool.stats().lastHealthError).to.equal('validation timed out after 40 ms');
    expect(pool.stats().consecutiveHealthFailures).to.equal(2);
    expectCounters(pool, { total: 1, idle: 1, created: 3, closed: 2, unhealthyClosed: 2 });
  });

  it('with no idle connection, a create must work', async () => {
    const { pool, factory } = makePool({ min: 0, max: 2 });
    expect(await pool.checkHealth()).to.equal(true);
    expectCounters(pool, { total: 1, idle: 1, created: 1 });

    const holder = hold(pool);
    await holder.acquired;
    factory.failCreate = 'connect ETIMEDOUT';
    expect(await pool.checkHealth()).to.equal(false);
    expect(pool.stats().lastHealthError).to.equal('connect ETIMEDOUT');
    expectCounters(pool, { total: 1, used: 1, created: 1, createFailures: 1, hits: 1 });
    holder.release();
    await holder.done;
  });

  it('fails when the refill to min fails, counting consecutive failures', async () => {
    const { pool, factory } = makePool({ min: 2, max: 2 });
    await pool.start();
    factory.all[0]!.failValidate = true;
    factory.failCreate = 'too many clients already';
    expect(await pool.checkHealth()).to.equal(false);
    expect(await pool.checkHealth()).to.equal(false);
    const s = pool.stats();
    expect(s.consecutiveHealthFailures).to.equal(2);
    expect(s.healthCheckFailures).to.equal(2);
    expect(s.lastHealthError).to.equal('too many clients already');
    expectCounters(pool, { total: 1, idle: 1, created: 2, closed: 1, unhealthyClosed: 1, createFailures: 2 });

    factory.failCreate = false;
    expect(await pool.checkHealth()).to.equal(true);
    expectCounters(pool, { total: 2, idle: 2, created: 3, closed: 1, unhealthyClosed: 1, createFailures: 2 });
  });

  it('recycles idle connections past their lifetime without counting a failure', async () => {
    const { pool } = makePool({ min: 1, max: 1, maxLifetimeMs: 30 });
    await pool.start();
    await sleep(40);
    expect(await pool.checkHealth()).to.equal(true);
    expectCounters(pool, { total: 1, idle: 1, created: 2, closed: 1, maxLifetimeClosed: 1 });
  });

  it('overlapping calls share one pass', async () => {
    const { pool, factory } = makePool({ min: 1, max: 1 });
    await pool.start();
    factory.validateDelayMs = 20;
    const a = pool.checkHealth();
    const b = pool.checkHealth();
    expect(b).to.equal(a);
    await a;
    expect(factory.validated).to.deep.equal([1]);
    expect(pool.stats().healthChecks).to.equal(1);
  });

  it('runs every healthCheckIntervalMs once started', async () => {
    const { pool, factory } = makePool({ min: 1, max: 1, healthCheckIntervalMs: 25 });
    await pool.start();
    await sleep(120);
    const s = pool.stats();
    expect(s.healthChecks).to.be.within(3, 5);
    expect(factory.validated.length).to.equal(s.healthChecks);
    await pool.stop();
    await sleep(60);
    expect(pool.stats().healthChecks).to.equal(s.healthChecks);
  });
});
