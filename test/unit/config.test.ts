import path from 'node:path';
import { expect } from 'chai';
import { ConfigError, loadConfig, redactConfig, type Config } from '../../src/config/index.js';

const CWD = '/srv/app';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env, CWD);
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return err as ConfigError;
  }
  expect.fail('expected loadConfig to throw a ConfigError');
}

describe('config', () => {
  describe('defaults', () => {
    it('uses SQLite with the original pool bounds (3–15) and documented defaults', () => {
      const config = loadConfig({}, CWD);
      expect(config.databaseMode).to.equal('sqlite');
      expect(config.pool).to.deep.equal({
        minConnections: 3,
        maxConnections: 15,
        maxIdleTimeSeconds: 300,
        connectionTimeoutSeconds: 30,
        healthCheckIntervalSeconds: 60,
        maxWaitingRequests: 1000,
        maxLifetimeSeconds: 1800,
        leakThresholdSeconds: 60,
        enableMetrics: true,
      });
      expect(config.sqlite).to.deep.equal({
        path: path.join(CWD, 'data', 'bookswriter.db'),
        executionMode: 'worker',
        busyTimeoutMs: 5000,
        journalSizeLimitBytes: 64 * 1024 * 1024,
        createDirectory: true,
      });
      expect(config.supabase).to.equal(null);
      expect(config.http).to.deep.equal({
        host: '0.0.0.0',
        port: 3000,
        maxBodyBytes: 5 * 1024 * 1024,
        maxPageSize: 500,
        maxBatchSize: 5000,
        metricsToken: null,
        metricsPort: null,
        metricsHost: '127.0.0.1',
        rateLimit: { writesPerMinute: 600, burst: 600, maxClients: 10_000 },
        trustProxy: false,
      });
      expect(config.shutdownGraceSeconds).to.equal(10);
      expect(config.logLevel).to.equal('info');
      expect(config.serviceName).to.equal('bookswriter-data');
      expect(config.tracingEnabled).to.equal(true);
      expect(config.nPlusOneThreshold).to.equal(10);
      expect(config.healthCheckTimeoutMs).to.equal(1000);
    });

    it('uses the Supabase pool bounds (2–8) in supabase mode', () => {
      const config = loadConfig(
        { DATABASE_MODE: 'supabase', SUPABASE_URL: 'https://x.supabase.co/', SUPABASE_KEY: 'k' },
        CWD,
      );
      expect(config.pool.minConnections).to.equal(2);
      expect(config.pool.maxConnections).to.equal(8);
      expect(config.supabase).to.deep.equal({
        url: 'https://x.supabase.co',
        key: 'k',
        requestTimeoutMs: 10_000,
        readRetries: 2,
        circuitFailureThreshold: 5,
        circuitWindowMs: 10_000,
        circuitCooldownMs: 5_000,
      });
    });

    it('treats empty variables as unset', () => {
      expect(loadConfig({ PORT: '', DB_POOL_MAX_CONNECTIONS: '  ' }, CWD).http.port).to.equal(3000);
    });

    it('lowers the default minimum when only a smaller maximum is given', () => {
      const config = loadConfig({ DB_POOL_MAX_CONNECTIONS: '2' }, CWD);
      expect([config.pool.minConnections, config.pool.maxConnections]).to.deep.equal([2, 2]);
    });
  });

  describe('every variable', () => {
    it('reads each documented variable', () => {
      const config: Config = loadConfig(
        {
          DATABASE_MODE: 'SQLITE',
          SQLITE_DB_PATH: 'db/books.sqlite',
          SQLITE_EXECUTION_MODE: 'inline',
          SQLITE_BUSY_TIMEOUT_MS: '250',
          SQLITE_JOURNAL_SIZE_LIMIT_BYTES: '1048576',
          DB_POOL_MIN_CONNECTIONS: '1',
          DB_POOL_MAX_CONNECTIONS: '4',
          DB_POOL_MAX_IDLE_TIME: '12.5',
          DB_POOL_CONNECTION_TIMEOUT: '0.5',
          DB_POOL_HEALTH_CHECK_INTERVAL: '0',
          DB_POOL_ENABLE_METRICS: 'false',
          DB_POOL_MAX_WAITING_REQUESTS: '7',
          DB_POOL_MAX_LIFETIME: '90',
          DB_POOL_LEAK_THRESHOLD: '3',
          HOST: '127.0.0.1',
          PORT: '0',
          HTTP_MAX_BODY_BYTES: '2048',
          API_MAX_PAGE_SIZE: '50',
          API_MAX_BATCH_SIZE: '10',
          METRICS_TOKEN: 'a-long-enough-token',
          METRICS_PORT: '9464',
          METRICS_HOST: '::1',
          RATE_LIMIT_WRITES_PER_MINUTE: '120',
          RATE_LIMIT_WRITES_BURST: '30',
          TRUST_PROXY: 'loopback, 10.0.0.0/8,fd00::1',
          SHUTDOWN_GRACE_PERIOD: '2',
          LOG_LEVEL: 'warn',
          N_PLUS_ONE_THRESHOLD: '4',
          HEALTH_CHECK_TIMEOUT_MS: '250',
          OTEL_SERVICE_NAME: 'bw-test',
          OTEL_SDK_DISABLED: 'true',
        },
        CWD,
      );
      expect(config.sqlite).to.deep.equal({
        path: path.join(CWD, 'db', 'books.sqlite'),
        executionMode: 'inline',
        busyTimeoutMs: 250,
        journalSizeLimitBytes: 1_048_576,
        createDirectory: false,
      });
      expect(config.pool).to.deep.equal({
        minConnections: 1,
        maxConnections: 4,
        maxIdleTimeSeconds: 12.5,
        connectionTimeoutSeconds: 0.5,
        healthCheckIntervalSeconds: 0,
        maxWaitingRequests: 7,
        maxLifetimeSeconds: 90,
        leakThresholdSeconds: 3,
        enableMetrics: false,
      });
      expect(config.http).to.deep.equal({
        host: '127.0.0.1',
        port: 0,
        maxBodyBytes: 2048,
        maxPageSize: 50,
        maxBatchSize: 10,
        metricsToken: 'a-long-enough-token',
        metricsPort: 9464,
        metricsHost: '::1',
        rateLimit: { writesPerMinute: 120, burst: 30, maxClients: 10_000 },
        trustProxy: ['loopback', '10.0.0.0/8', 'fd00::1'],
      });
      expect(config.shutdownGraceSeconds).to.equal(2);
      expect(config.logLevel).to.equal('warn');
      expect(config.serviceName).to.equal('bw-test');
      expect(config.tracingEnabled).to.equal(false);
      expect(config.nPlusOneThreshold).to.equal(4);
      expect(config.healthCheckTimeoutMs).to.equal(250);
    });

    it('returns a deeply frozen object', () => {
      const config = loadConfig({}, CWD);
      expect(Object.isFrozen(config)).to.equal(true);
      expect(Object.isFrozen(config.pool)).to.equal(true);
      expect(() => {
        (config.pool as { maxConnections: number }).maxConnections = 99;
      }).to.throw(TypeError);
    });
  });

  describe('bad values', () => {
    it('rejects a non-numeric pool size, naming the variable and the value', () => {
      const err = configError({ DB_POOL_MAX_CONNECTIONS: 'abc' });
      expect(err.problems).to.deep.equal(['DB_POOL_MAX_CONNECTIONS="abc": must be a whole number']);
      expect(err.message).to.contain('Invalid configuration').and.to.contain('DB_POOL_MAX_CONNECTIONS');
    });

    it('rejects min > max', () => {
      const err = configError({ DB_POOL_MIN_CONNECTIONS: '9', DB_POOL_MAX_CONNECTIONS: '3' });
      expect(err.problems).to.deep.equal([
        'DB_POOL_MIN_CONNECTIONS (9) must not exceed DB_POOL_MAX_CONNECTIONS (3)',
      ]);
    });

    it('rejects an unknown DATABASE_MODE', () => {
      const err = configError({ DATABASE_MODE: 'mysql' });
      expect(err.problems).to.deep.equal(['DATABASE_MODE="mysql": must be one of sqlite, supabase']);
    });

    it('requires URL and key in supabase mode', () => {
      const err = configError({ DATABASE_MODE: 'supabase' });
      expect(err.problems).to.deep.equal([
        'SUPABASE_URL is required when DATABASE_MODE=supabase',
        'SUPABASE_KEY is required when DATABASE_MODE=supabase',
      ]);
    });

    it('rejects a malformed SUPABASE_URL once, without a second "required" message', () => {
      const err = configError({ DATABASE_MODE: 'supabase', SUPABASE_URL: 'ftp://x', SUPABASE_KEY: 'k' });
      expect(err.problems).to.deep.equal(['SUPABASE_URL="ftp://x": must be an http(s) URL']);
    });

    it('lists every problem in one error', () => {
      const err = configError({
        PORT: '70000',
        DB_POOL_ENABLE_METRICS: 'maybe',
        DB_POOL_CONNECTION_TIMEOUT: '-1',
        LOG_LEVEL: 'loud',
        SQLITE_EXECUTION_MODE: 'threads',
      });
      expect(err.problems).to.have.length(5);
      expect(err.problems.join('\n')).to.contain('PORT="70000": must be at most 65535');
      expect(err.problems.join('\n')).to.contain('DB_POOL_ENABLE_METRICS="maybe": must be true or false');
    });
  });

  describe('metrics listener, rate limit and proxies', () => {
    it('METRICS_PORT alone binds loopback; 0 picks a free port', () => {
      expect(loadConfig({ METRICS_PORT: '9464' }, CWD).http).to.include({ metricsPort: 9464, metricsHost: '127.0.0.1' });
      expect(loadConfig({ METRICS_PORT: '0', PORT: '0' }, CWD).http.metricsPort).to.equal(0);
    });

    it('refuses METRICS_PORT equal to PORT, a bad port, and METRICS_HOST without METRICS_PORT', () => {
      expect(configError({ PORT: '8080', METRICS_PORT: '8080' }).problems).to.deep.equal([
        'METRICS_PORT (8080) must differ from PORT',
      ]);
      expect(configError({ METRICS_PORT: '3000' }).problems).to.deep.equal(['METRICS_PORT (3000) must differ from PORT']);
      expect(configError({ METRICS_PORT: '70000' }).problems).to.deep.equal(['METRICS_PORT="70000": must be at most 65535']);
      expect(configError({ METRICS_HOST: '0.0.0.0' }).problems).to.deep.equal([
        'METRICS_HOST has no effect without METRICS_PORT (set both, or neither)',
      ]);
    });

    it('RATE_LIMIT_WRITES_PER_MINUTE: 0 turns the limit off; the burst defaults to a minute of it', () => {
      expect(loadConfig({ RATE_LIMIT_WRITES_PER_MINUTE: '0' }, CWD).http.rateLimit.writesPerMinute).to.equal(0);
      expect(loadConfig({ RATE_LIMIT_WRITES_PER_MINUTE: '90' }, CWD).http.rateLimit).to.deep.equal({
        writesPerMinute: 90,
        burst: 90,
        maxClients: 10_000,
      });
      expect(configError({ RATE_LIMIT_WRITES_PER_MINUTE: '-1', RATE_LIMIT_WRITES_BURST: '0' }).problems).to.deep.equal([
        'RATE_LIMIT_WRITES_PER_MINUTE="-1": must be at least 0',
        'RATE_LIMIT_WRITES_BURST="0": must be at least 1',
      ]);
    });

    it('TRUST_PROXY: false, a hop count or named proxies; never "trust everyone"', () => {
      expect(loadConfig({ TRUST_PROXY: 'false' }, CWD).http.trustProxy).to.equal(false);
      expect(loadConfig({ TRUST_PROXY: '1' }, CWD).http.trustProxy).to.equal(1);
      expect(loadConfig({ TRUST_PROXY: 'Loopback,192.168.0.0/16' }, CWD).http.trustProxy).to.deep.equal([
        'loopback',
        '192.168.0.0/16',
      ]);
      expect(configError({ TRUST_PROXY: 'true' }).problems[0]).to.match(/^TRUST_PROXY="true": trusting every proxy/);
      expect(configError({ TRUST_PROXY: '10.0.0.0/33,proxy.local' }).problems[0]).to.contain(
        'not "10.0.0.0/33", "proxy.local"',
      );
    });
  });

  describe('secrets', () => {
    const SECRET = 'sb-secret-canary-7f3a9c';

    it('never echoes SUPABASE_KEY or METRICS_TOKEN in an error', () => {
      const err = configError({ DATABASE_MODE: 'supabase', SUPABASE_URL: 'nope', SUPABASE_KEY: SECRET, METRICS_TOKEN: 'short' });
      expect(err.message).not.to.contain(SECRET);
      expect(err.message).not.to.contain('short');
      expect(err.message).to.contain('METRICS_TOKEN=(hidden)');
    });

    it('redacts secrets for display', () => {
      const config = loadConfig(
        { DATABASE_MODE: 'supabase', SUPABASE_URL: 'http://127.0.0.1:1', SUPABASE_KEY: SECRET, METRICS_TOKEN: `${SECRET}-token` },
        CWD,
      );
      const shown = JSON.stringify(redactConfig(config));
      expect(shown).not.to.contain(SECRET);
      expect(shown).to.contain('"key":"***"').and.to.contain('"metricsToken":"***"');
      // The original is untouched.
      expect(config.supabase?.key).to.equal(SECRET);
    });
  });
});
