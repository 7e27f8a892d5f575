import { expect } from 'chai';
import { ConnectionRegistry, PoolStateError } from '../../../src/pool/connection-registry.js';

interface Conn {
  readonly id: number;
}

describe('ConnectionRegistry (lend / release guards)', () => {
  it('classifies lendings: on-demand first = miss, warm first = hit, later = hit', () => {
    const r = new ConnectionRegistry<Conn>();
    const onDemand = { id: 1 };
    const warm = { id: 2 };
    r.add(onDemand, false, 0);
    r.add(warm, true, 0);
    expect(r.lend(onDemand, 1, {})).to.equal('miss');
    expect(r.lend(warm, 1, {})).to.equal('hit');
    r.release(onDemand);
    expect(r.lend(onDemand, 2, {})).to.equal('hit');
    expect(r.lent).to.equal(2);
    expect(r.size).to.equal(2);
  });

  it('fails loudly on a double release', () => {
    const r = new ConnectionRegistry<Conn>();
    const c = { id: 1 };
    r.add(c, true, 0);
    r.lend(c, 0, {});
    r.release(c);
    expect(() => r.release(c)).to.throw(PoolStateError, 'double release');
    expect(r.lent).to.equal(0);
  });

  it('fails loudly on releasing a connection it never lent', () => {
    const r = new ConnectionRegistry<Conn>();
    expect(() => r.release({ id: 9 })).to.throw(PoolStateError, 'does not know');
  });

  it('fails loudly on lending a connection twice', () => {
    const r = new ConnectionRegistry<Conn>();
    const c = { id: 1 };
    r.add(c, true, 0);
    r.lend(c, 0, {});
    expect(() => r.lend(c, 0, {})).to.throw(PoolStateError, 'lent twice');
    expect(r.lent).to.equal(1);
  });

  it('refuses a connection the factory returned twice', () => {
    const r = new ConnectionRegistry<Conn>();
    const c = { id: 1 };
    r.add(c, true, 0);
    expect(() => r.add(c, false, 0)).to.throw(PoolStateError, 'already open');
  });

  it('forgets a connection exactly once, even a lent one', () => {
    const r = new ConnectionRegistry<Conn>();
    const c = { id: 1 };
    r.add(c, true, 0);
    r.lend(c, 0, {});
    expect(r.remove(c)).to.not.equal(undefined);
    expect(r.remove(c)).to.equal(undefined);
    expect(r.lent).to.equal(0);
    expect(r.size).to.equal(0);
  });
});
