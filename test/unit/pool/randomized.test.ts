/**
 * Random load with random faults: creates, validations and destroys fail at random, connections
 * break, callbacks throw or hold too long, health checks run in between. The pool's invariants are
 * checked after every event (each observer callback, each step of the driver, inside each callback)
 * and the accounting is reconciled at the end. Seeded, so a failure can be replayed.
 */
import { expect } from 'chai';
import { PoolClosedError, PoolSaturatedError, PoolTimeoutError } from '../../../src/pool/index.js';
import type { AcquireOutcome, PoolObserver } from '../../../src/pool/index.js';
import { FakeFactory } from '../../support/fake-factory.js';
import { makePool, sleep, stopAllPools } from './helpers.js';

/** mulberry32: a tiny seeded PRNG with good enough spread for fault injection. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class CallbackError extends Error {}

const RUN_MS = 1200;

/** Fault paths seen over all seeds (timing varies from run to run; their sum must cover them all). */
const seen = {
  timeouts: 0,
  rejected: 0,
  createFailures: 0,
  leaks: 0,
  healthCheckFailures: 0,
  idle: 0,
  unhealthy: 0,
  max_lifetime: 0,
  error: 0,
};
const PHASE_MS = 200;

describe('ObservedPool invariants under random load and faults', () => {
  afterEach(stopAllPools);

  for (const seed of [1, 7, 2024]) {
    it(`holds every invariant and balances every count (seed ${seed})`, async function () {
      this.timeout(10_000);
      const rng = mulberry32(seed);
      const violations: string[] = [];
      const observed: Record<AcquireOutcome, number> = { hit: 0, miss: 0, timeout: 0, rejected: 0, error: 0 };
      let observedCloses = 0;

      const factory = new FakeFactory();
      factory.failCreate = () => (rng() < 0.15 ? 'random create failure' : false);
      factory.failValidate = () => (rng() < 0.05 ? 'random validate failure' : false);
      factory.failDestroy = () => (rng() < 0.1 ? 'random destroy failure' : false);

      // Declared before the pool so the observer can reach it; assigned right below.
      let check: (where: string) => void = () => undefined;
      const observer: PoolObserver = {
        onAcquire: (_p, outcome) => {
          observed[outcome]++;
          check(`onAcquire(${outcome})`);
        },
        onRelease: () => check('onRelease'),
        onCreate: (_p, outcome) => check(`onCreate(${outcome})`),
        onClose: (_p, reason) => {
          observedCloses++;
          check(`onClose(${reason})`);
        },
        onLeak: () => check('onLeak'),
        onHealthCheck: () => check('onHealthCheck'),
      };
      const { pool } = makePool(
        {
          min: 2,
          max: 5,
          maxWaitingClients: 4,
          acquireTimeoutMs: 25,
          idleTimeoutMs: 50,
          maxLifetimeMs: 250,
          leakThresholdMs: 60,
          healthCheckIntervalMs: 40,
          createTimeoutMs: 30,
          shutdownGraceMs: 50,
        },
        factory,
        observer,
      );
      check = (where) => {
        try {
          pool.assertInvariants();
        } catch (err) {
          violations.push(`${where}: ${(err as Error).message}`);
        }
      };

      await pool.start().catch(() => undefined); // a random create failure may fail the warm-up
      check('after start');

      const results = { ok: 0, thrown: 0, timeout: 0, saturated: 0, other: [] as string[] };
      const tasks: Promise<void>[] = [];
      const started = performance.now();
      let events = 0;
      while (performance.now() - started < RUN_MS) {
        events++;
        // Alternate busy phases (bursts, long holds: queueing, timeouts, refusals) and quiet
        // ones (idle reaping, health checks on idle connections).
        const busy = Math.floor((performance.now() - started) / PHASE_MS) % 2 === 0;
        factory.createDelayMs = Math.floor(rng() * 15);
        factory.validateDelayMs = Math.floor(rng() * 5);
        factory.destroyDelayMs = Math.floor(rng() * 5);
        const r = rng();
        const acquirers = busy ? 1 + Math.floor(rng() * 3) : rng() < 0.15 ? 1 : 0;
        for (let i = 0; i < acquirers && r < 0.8; i++) {
          const holdMs = rng() < 0.03 ? 90 : Math.floor(rng() * (busy ? 40 : 5));
          const breaks = rng() < 0.02;
          const throws = rng() < 0.1;
          const task = pool
            .withConnection(async (c) => {
              check('callback start');
              if (c.inUse) violations.push(`connection ${c.id} lent twice`);
              if (c.destroyed) violations.push(`connection ${c.id} lent after destroy`);
              c.inUse = true;
              await sleep(holdMs);
              c.inUse = false;
              if (breaks) c.broken = true;
              check('callback end');
              if (throws) throw new CallbackError('callback failed');
              return c.id;
            })
            .then(
              () => {
                results.ok++;
              },
              (err: unknown) => {
                if (err instanceof CallbackError) results.thrown++;
                else if (err instanceof PoolTimeoutError) results.timeout++;
                else if (err instanceof PoolSaturatedError) results.saturated++;
                else results.other.push(String(err));
              },
            )
            .finally(() => check('settled'));
          tasks.push(task);
        }
        if (r >= 0.8 && r < 0.86) {
          tasks.push(pool.checkHealth().then(() => check('checkHealth')));
        } else if (r >= 0.86 && r < 0.9) {
          const open = [...factory.open];
          const victim = open[Math.floor(rng() * open.length)];
          if (victim) victim.broken = true;
        }
        check('event');
        await sleep(Math.floor(rng() * 4));
        check('after gap');
      }
      await Promise.all(tasks);
      await sleep(40); // late creates and background refills settle
      check('drained');

      const s = pool.stats();
      expect(events).to.be.greaterThan(150);
      expect(results.other).to.deep.equal([]);
      seen.timeouts += s.timeouts;
      seen.rejected += s.rejected;
      seen.createFailures += s.createFailures;
      seen.leaks += s.leaks;
      seen.healthCheckFailures += s.healthCheckFailures;
      for (const reason of ['idle', 'unhealthy', 'max_lifetime', 'error'] as const) {
        seen[reason] += s.closedByReason[reason];
      }
      // Every acquire has exactly one outcome, in the stats and at the observer.
      expect(s.hits + s.misses).to.equal(results.ok + results.thrown);
      expect(s.timeouts).to.equal(results.timeout);
      expect(s.rejected).to.equal(results.saturated);
      expect(s.acquireErrors).to.equal(0);
      expect(observed).to.deep.equal({
        hit: s.hits,
        miss: s.misses,
        timeout: s.timeouts,
        rejected: s.rejected,
        error: 0,
      });
      // Every close has exactly one reason; the books balance with the factory.
      const byReason = Object.values(s.closedByReason).reduce((a, b) => a + b, 0);
      expect(byReason).to.equal(s.closed);
      expect(observedCloses).to.equal(s.closed);
      expect(s.created - s.closed).to.equal(s.total);
      expect(s.pending).to.equal(0);
      expect(s.used).to.equal(0);
      expect(factory.open.size).to.equal(s.total);
      expect(factory.doubleDestroys).to.equal(0);
      expect(factory.foreignDestroys).to.equal(0);
      expect(factory.validatedWhileInUse).to.equal(0);

      const report = await pool.stop();
      expect(report.forcedClosed).to.equal(0);
      expect(await pool.withConnection(async () => 1).catch((e: unknown) => e)).to.be.instanceOf(
        PoolClosedError,
      );
      await sleep(60);
      const end = pool.stats();
      expect(end.total).to.equal(0);
      expect(end.created).to.equal(end.closed);
      expect(factory.open.size).to.equal(0);
      expect(factory.doubleDestroys).to.equal(0);
      expect(violations).to.deep.equal([]);
    });
  }

  it('exercised every fault path over the seeds', () => {
    for (const [path, count] of Object.entries(seen)) expect(count, path).to.be.greaterThan(0);
  });
});
