/**
 * METRICS_TOKEN: with a token set, every /metrics endpoint (Prometheus text, the JSON API and the
 * reset) needs `Authorization: Bearer <token>`; probes and the domain API do not. The token never
 * appears in a response, header or log line.
 */
import { expect } from 'chai';
import { tokensEqual } from '../../src/http/auth.js';
import { startTestService, type TestService } from '../support/service.js';

const TOKEN = 'metrics-canary-token-5d1e8f2b';

describe('METRICS_TOKEN', () => {
  let service: TestService;
  before(async () => {
    service = await startTestService({ env: { METRICS_TOKEN: TOKEN } });
  });
  after(() => service.stop());

  const protectedRoutes: Array<[string, string]> = [
    ['GET', '/metrics'],
    ['GET', '/metrics/database/pool'],
    ['POST', '/metrics/database/pool/reset'],
    ['GET', '/metrics/database/health'],
    ['GET', '/metrics/performance/summary'],
    ['GET', '/metrics/database/config'],
  ];

  for (const [method, route] of protectedRoutes) {
    it(`${method} ${route}: 401 without the token, 401 with a wrong one, 200 with it`, async () => {
      const none = await service.request(method, route);
      expect(none.status).to.equal(401);
      expect(none.headers.get('www-authenticate')).to.match(/^Bearer /);
      expect((none.body as { error: { code: string } }).error.code).to.equal('UNAUTHORIZED');

      const wrong = await service.request(method, route, undefined, { authorization: `Bearer ${TOKEN}x` });
      expect(wrong.status).to.equal(401);

      const right = await service.request(method, route, undefined, { authorization: `Bearer ${TOKEN}` });
      expect(right.status).to.equal(200);
      expect(right.text).not.to.contain(TOKEN);
    });
  }

  it('a refused reset resets nothing', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    await service.request('GET', '/api/users?limit=1');
    const before = await service.request('GET', '/metrics/database/pool', undefined, auth);
    const refused = await service.request('POST', '/metrics/database/pool/reset');
    expect(refused.status).to.equal(401);
    const after = await service.request('GET', '/metrics/database/pool', undefined, auth);
    const lastReset = (body: unknown) => (body as { pools: Array<{ last_reset: string }> }).pools[0]!.last_reset;
    expect(lastReset(after.body)).to.equal(lastReset(before.body));
  });

  it('leaves probes and the domain API open', async () => {
    expect((await service.request('GET', '/health/live')).status).to.equal(200);
    expect((await service.request('GET', '/health/ready')).status).to.equal(200);
    expect((await service.request('GET', '/api/users?limit=1')).status).to.equal(200);
  });

  it('never writes the token to a log line', () => {
    expect(JSON.stringify(service.logs)).not.to.contain(TOKEN);
  });

  it('compares tokens exactly', () => {
    expect(tokensEqual(TOKEN, TOKEN)).to.equal(true);
    expect(tokensEqual(TOKEN.slice(0, -1), TOKEN)).to.equal(false);
    expect(tokensEqual('', TOKEN)).to.equal(false);
  });
});
