import { expect } from 'chai';
import { ObservedPool } from '../../../src/pool/index.js';
import type { ObservedPoolOptions } from '../../../src/pool/index.js';
import { FakeFactory } from '../../support/fake-factory.js';
import type { FakeConnection } from '../../support/fake-factory.js';
import { TEST_DEFAULTS, stopAllPools } from './helpers.js';

function optionsWith(changes: Record<string, unknown>): ObservedPoolOptions<FakeConnection> {
  return { ...TEST_DEFAULTS, factory: new FakeFactory(), ...changes } as ObservedPoolOptions<FakeConnection>;
}

function constructionError(changes: Record<string, unknown>): Error {
  try {
    new ObservedPool(optionsWith(changes));
  } catch (err) {
    expect(err).to.be.instanceOf(Error);
    return err as Error;
  }
  return expect.fail('expected the constructor to throw');
}

describe('ObservedPool options', () => {
  afterEach(stopAllPools);

  it('accepts valid options and exposes name and dbSystem', async () => {
    const pool = new ObservedPool(optionsWith({ name: 'sqlite-read', dbSystem: 'sqlite', min: 2, max: 2 }));
    expect(pool.name).to.equal('sqlite-read');
    expect(pool.dbSystem).to.equal('sqlite');
    expect(pool.snapshot()).to.include({ min: 2, max: 2, total: 0 });
    // An ObservedPool<C> is usable where the adapters expect ObservedPool<unknown>.
    const pools: readonly ObservedPool<unknown>[] = [pool];
    expect(pools).to.have.length(1);
    await pool.stop();
  });

  it('rejects unknown keys (typos in config objects)', () => {
    expect(constructionError({ maxWaiting: 3 }).message).to.contain('unknown option "maxWaiting"');
  });

  it('rejects non-integers, negatives and out-of-range values', () => {
    expect(constructionError({ max: 2.5 }).message).to.contain('max must be an integer between 1');
    expect(constructionError({ max: 0 }).message).to.contain('max must be an integer between 1');
    expect(constructionError({ min: -1 }).message).to.contain('min must be an integer between 0');
    expect(constructionError({ acquireTimeoutMs: 0 }).message).to.contain('acquireTimeoutMs');
    expect(constructionError({ acquireTimeoutMs: '100' }).message).to.contain('acquireTimeoutMs');
    expect(constructionError({ idleTimeoutMs: Number.NaN }).message).to.contain('idleTimeoutMs');
    expect(constructionError({ shutdownGraceMs: 2 ** 31 }).message).to.contain('shutdownGraceMs');
  });

  it('rejects min > max', () => {
    expect(constructionError({ min: 5, max: 2 }).message).to.contain('min (5) must not exceed max (2)');
  });

  it('rejects a missing or incomplete factory and empty labels', () => {
    expect(constructionError({ factory: undefined }).message).to.contain('factory must be an object');
    expect(constructionError({ factory: { create: () => undefined } }).message)
      .to.contain('factory.destroy must be a function')
      .and.to.contain('factory.validate must be a function');
    expect(constructionError({ name: '' }).message).to.contain('name must be a non-empty string');
  });

  it('lists every problem in one error', () => {
    const message = constructionError({ min: 1.5, max: -1, bogus: true, dbSystem: 42 }).message;
    expect(message).to.match(/^Invalid ObservedPool options for pool "test-pool": /);
    for (const part of ['unknown option "bogus"', 'dbSystem', 'min must be', 'max must be']) {
      expect(message).to.contain(part);
    }
  });

  it('keeps a frozen copy: later changes to the caller’s object do not apply', async () => {
    const options = { ...optionsWith({ max: 1 }) } as { max: number } & ObservedPoolOptions<FakeConnection>;
    const pool = new ObservedPool(options);
    options.max = 10;
    expect(pool.snapshot().max).to.equal(1);
    await pool.stop();
  });
});
