import { expect } from 'chai';
import { Distribution, RESERVOIR_SIZE } from '../../../src/pool/distribution.js';

describe('Distribution (bounded reservoir)', () => {
  it('is empty before the first sample', () => {
    expect(new Distribution().summary()).to.deep.equal({
      count: 0,
      avg: null,
      p50: null,
      p95: null,
      p99: null,
      max: null,
    });
  });

  it('gives nearest-rank percentiles, average and max', () => {
    const d = new Distribution();
    // Out of order on purpose: the summary must sort numerically.
    for (let i = 100; i >= 1; i--) d.record(i);
    expect(d.summary()).to.deep.equal({ count: 100, avg: 50.5, p50: 50, p95: 95, p99: 99, max: 100 });
  });

  it('keeps percentiles over the last RESERVOIR_SIZE samples, count/avg/max over all', () => {
    const d = new Distribution();
    d.record(10_000);
    for (let i = 0; i < RESERVOIR_SIZE; i++) d.record(1);
    const s = d.summary();
    expect(s.count).to.equal(RESERVOIR_SIZE + 1);
    expect(s.max).to.equal(10_000);
    expect(s.p99).to.equal(1);
    expect(s.avg).to.be.closeTo((10_000 + RESERVOIR_SIZE) / (RESERVOIR_SIZE + 1), 0.001);
  });
});
