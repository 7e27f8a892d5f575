/**
 * The per-client write rate limit: the token bucket itself (fake clock: burst, refill, Retry-After,
 * bounded memory) and the service (429 RATE_LIMITED with Retry-After before the body is read;
 * reads, look-ups, probes and metrics exempt; one bucket per client address, the address taken
 * from X-Forwarded-For only when TRUST_PROXY says so; the 429s counted in the HTTP metrics).
 */
import { expect } from 'chai';
import { clientKey, TokenBucketLimiter } from '../../src/http/rate-limit.js';
import { expectApiError, expectOk, rowCounts, uniqueTag } from '../support/fixtures.js';
import { parseExposition, sumOf } from '../support/metrics-text.js';
import { startTestService, type TestService } from '../support/service.js';

function limiter(writesPerMinute: number, burst: number, maxClients = 1000): { bucket: TokenBucketLimiter; advance: (ms: number) => void } {
  let now = 0;
  const bucket = new TokenBucketLimiter({ writesPerMinute, burst, maxClients, now: () => now, sweepIntervalMs: 0 });
  return { bucket, advance: (ms) => (now += ms) };
}

describe('rate limit: the token bucket', function () {
  it('lets a burst through, then refuses with the seconds until the next token', function () {
    const { bucket, advance } = limiter(6, 3); // one token every 10 s
    expect([1, 2, 3].map(() => bucket.take('a').allowed)).to.deep.equal([true, true, true]);
    expect(bucket.take('a')).to.deep.equal({ allowed: false, retryAfterSeconds: 10 });
    advance(4_000);
    expect(bucket.take('a')).to.deep.equal({ allowed: false, retryAfterSeconds: 6 });
    advance(6_000);
    expect(bucket.take('a').allowed).to.equal(true);
    expect(bucket.take('a').allowed).to.equal(false);
    // Another client has its own bucket.
    expect(bucket.take('b').allowed).to.equal(true);
  });

  it('refills at the configured rate and never above the burst', function () {
    const { bucket, advance } = limiter(600, 5); // 10 per second
    for (let i = 0; i < 5; i++) expect(bucket.take('a').allowed).to.equal(true);
    advance(3_600_000); // an hour idle: still only the burst
    let allowed = 0;
    while (bucket.take('a').allowed) allowed++;
    expect(allowed).to.equal(5);
    advance(1000);
    allowed = 0;
    while (bucket.take('a').allowed) allowed++;
    expect(allowed).to.equal(5); // 10 tokens refilled, capped at 5
    advance(300);
    allowed = 0;
    while (bucket.take('a').allowed) allowed++;
    expect(allowed).to.equal(3);
  });

  it('forgets clients whose bucket has refilled (sweep) and keeps the others', function () {
    const { bucket, advance } = limiter(60, 2);
    bucket.take('idle');
    bucket.take('busy');
    bucket.take('busy');
    advance(1_500); // idle: 1 + 1.5 → full; busy: 0 + 1.5 → not full
    bucket.sweep();
    expect(bucket.size).to.equal(1);
    expect(bucket.take('busy').allowed).to.equal(true);
    expect(bucket.take('busy').allowed).to.equal(false);
  });

  it('holds at most maxClients buckets whatever the number of clients (least recently seen go first)', function () {
    const { bucket } = limiter(60, 1, 1000);
    bucket.take('kept');
    let largest = 0;
    for (let i = 0; i < 100_000; i++) {
      bucket.take(`client-${i}`);
      if (i % 500 === 0) bucket.take('kept'); // seen recently: stays
      largest = Math.max(largest, bucket.size);
    }
    expect(largest).to.equal(1000);
    expect(bucket.size).to.equal(1000);
    // 'kept' still has its (empty) bucket: it was not evicted and handed a fresh one.
    expect(bucket.take('kept').allowed).to.equal(false);
  });

  it('keys IPv4 (also IPv4-mapped) by address and IPv6 by /64', function () {
    expect(clientKey('203.0.113.7')).to.equal('203.0.113.7');
    expect(clientKey('::ffff:203.0.113.7')).to.equal('203.0.113.7');
    expect(clientKey('2001:db8:1:2:3:4:5:6')).to.equal('2001:db8:1:2::/64');
    expect(clientKey('2001:0DB8:0001:0002::9')).to.equal('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:3::9')).to.equal('2001:db8:1:3::/64');
    expect(clientKey('::1')).to.equal('0:0:0:0::/64');
  });

  it('refuses nonsense options', function () {
    expect(() => new TokenBucketLimiter({ writesPerMinute: 0, burst: 1, maxClients: 1 })).to.throw(RangeError);
    expect(() => new TokenBucketLimiter({ writesPerMinute: 1, burst: 0, maxClients: 1 })).to.throw(RangeError);
  });
});

describe('rate limit: the service', function () {
  const BURST = 5;
  let service: TestService;

  before(async function () {
    // One token every 2 s: slow enough that a burst test never sees a refill mid-way.
    service = await startTestService({ env: { RATE_LIMIT_WRITES_PER_MINUTE: '30', RATE_LIMIT_WRITES_BURST: String(BURST) } });
  });

  after(async function () {
    await service?.stop();
  });

  const newUser = (headers: Record<string, string> = {}) =>
    service.request('POST', '/api/users', { email: `${uniqueTag()}@example.test`, display_name: 'R' }, headers);

  /** Writes until refused (tokens refill while other tests run). */
  async function drain(): Promise<void> {
    for (let i = 0; i < 20; i++) if ((await newUser()).status === 429) return;
    expect.fail('never refused');
  }

  const http429 = async (): Promise<number> =>
    sumOf(parseExposition((await service.request('GET', '/metrics')).text), 'http_server_request_duration_seconds_count', {
      http_response_status_code: '429',
    });

  it('429 RATE_LIMITED with Retry-After once the burst is spent; nothing written; counted in the metrics', async function () {
    const before = await rowCounts(service);
    const limitedBefore = await http429();
    const statuses: number[] = [];
    let limited = null;
    const started = performance.now();
    for (let i = 0; i < BURST + 3; i++) {
      const res = await newUser();
      statuses.push(res.status);
      if (res.status === 429) limited ??= res;
    }
    const refills = Math.floor((performance.now() - started) / 2000); // 0 unless this machine is very slow
    const created = statuses.filter((s) => s === 201).length;
    expect(statuses.slice(0, BURST), statuses.join()).to.deep.equal(Array<number>(BURST).fill(201));
    expect(created, statuses.join()).to.be.at.most(BURST + refills);
    expect(statuses.every((s) => s === 201 || s === 429)).to.equal(true);
    const error = expectApiError(limited!, 429, 'RATE_LIMITED');
    expect(limited!.headers.get('retry-after')).to.equal('2');
    expect(error.details).to.deep.equal({ retry_after_seconds: 2 });
    expect((await rowCounts(service)).users).to.equal(before.users + created);
    expect(await http429()).to.equal(limitedBefore + statuses.length - created);
    const scrape = parseExposition((await service.request('GET', '/metrics')).text);
    expect(
      sumOf(scrape, 'http_server_request_duration_seconds_count', { http_route: '/api/users', http_response_status_code: '429' }),
      'labelled with the route template',
    ).to.equal(statuses.length - created);
  });

  it('a refused write is refused before its body is read (malformed JSON → still 429)', async function () {
    const res = await service.request('POST', '/api/users/batch', '{"items": [', { 'content-type': 'application/json' });
    expectApiError(res, 429, 'RATE_LIMITED');
    const del = await service.request('DELETE', `/api/users/${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}`);
    expectApiError(del, 429, 'RATE_LIMITED');
  });

  it('reads, look-ups, probes and metrics are exempt while the bucket is empty', async function () {
    expectApiError(await service.request('PATCH', '/api/users/batch', { items: [] }), 429, 'RATE_LIMITED');
    for (let i = 0; i < 15; i++) {
      expectOk(await service.request('GET', '/api/users?limit=1'));
      expectOk(await service.request('POST', '/api/users/lookup', { ids: ['00000000-0000-4000-8000-000000000000'] }));
      expectOk(await service.request('GET', '/health/live'));
      expectOk(await service.request('GET', '/health/ready'));
      expectOk(await service.request('GET', '/metrics/database/pool'));
      expectOk(await service.request('POST', '/metrics/database/pool/reset'));
    }
  });

  it('without TRUST_PROXY, X-Forwarded-For is ignored: a client cannot pick a fresh bucket', async function () {
    await drain();
    for (const xff of ['203.0.113.9', '198.51.100.1, 203.0.113.9', '2001:db8::1']) {
      expectApiError(await newUser({ 'x-forwarded-for': xff }), 429, 'RATE_LIMITED');
    }
  });

  it('the bucket refills: after two seconds, one more write', async function () {
    await drain();
    await new Promise((resolve) => setTimeout(resolve, 2100));
    expectOk(await newUser(), 201);
    expectApiError(await newUser(), 429, 'RATE_LIMITED');
  });
});

describe('rate limit: behind a trusted proxy (TRUST_PROXY=loopback)', function () {
  let service: TestService;

  before(async function () {
    service = await startTestService({
      env: { RATE_LIMIT_WRITES_PER_MINUTE: '60', RATE_LIMIT_WRITES_BURST: '2', TRUST_PROXY: 'loopback' },
    });
  });

  after(async function () {
    await service?.stop();
  });

  const write = (xff: string): Promise<number> =>
    service
      .request('POST', '/api/users', { email: `${uniqueTag()}@example.test`, display_name: 'P' }, { 'x-forwarded-for': xff })
      .then((r) => r.status);

  it('one bucket per client named by the proxy; IPv6 clients by /64', async function () {
    expect([await write('203.0.113.1'), await write('203.0.113.1'), await write('203.0.113.1')]).to.deep.equal([201, 201, 429]);
    expect(await write('203.0.113.2')).to.equal(201);
    // The proxy appends the client it saw; the right-most untrusted address is the client.
    expect(await write('10.9.9.9, 203.0.113.3')).to.equal(201);
    expect([await write('2001:db8:5:6::1'), await write('2001:db8:5:6::2'), await write('2001:db8:5:6:ffff::3')]).to.deep.equal([201, 201, 429]);
    expect(await write('2001:db8:5:7::1')).to.equal(201);
  });

  it('many distinct clients each get their own bucket', async function () {
    const statuses = await Promise.all(Array.from({ length: 100 }, (_, i) => write(`198.51.100.${i}`)));
    expect(statuses.every((s) => s === 201)).to.equal(true);
  });
});
