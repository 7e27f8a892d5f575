/**
 * Tracing as shipped: the real entry point (`node dist/src/main.js`, which imports
 * tracing-bootstrap.ts first so that http and express are patched before they load) exports its
 * spans over OTLP/HTTP JSON to a small receiver on loopback (test/support/otlp-receiver.ts),
 * configured only by the standard OTEL_* variables.
 *
 * The batch processor's delay is set far beyond the test (OTEL_BSP_SCHEDULE_DELAY), so nothing is
 * exported while the service runs: every span the receiver gets was flushed by the shutdown path
 * (SIGTERM → main.ts → stopTracing()).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { expect } from 'chai';
import { findProjectRoot } from '../../src/paths.js';
import { parseExposition } from '../support/exposition.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.js';

const SERVER = 2;
const CLIENT = 3;
const INTERNAL = 1;
const STATUS_ERROR = 2;

describe('tracing end to end: the real entry point exports spans over OTLP/HTTP JSON and flushes them at shutdown', function () {
  this.timeout(60_000);
  let receiver: OtlpReceiver;
  let child: ChildProcess | undefined;
  let exited: Promise<number | null>;
  let dir: string;
  let url = '';
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  let exitCode: number | null = null;
  let exemplarTraceIds: string[] = [];
  let spansBeforeShutdown = -1;
  const ids: Record<string, string> = {};

  async function request(method: string, pathname: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${url}${pathname}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    return { status: res.status, body: text.startsWith('{') ? (JSON.parse(text) as unknown) : text };
  }

  before(async () => {
    receiver = await startOtlpReceiver();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-otlp-'));
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
    Object.assign(env, {
      HOST: '127.0.0.1',
      PORT: '0',
      SQLITE_DB_PATH: path.join(dir, 'otlp.db'),
      DB_POOL_MIN_CONNECTIONS: '1',
      DB_POOL_MAX_CONNECTIONS: '2',
      DB_POOL_HEALTH_CHECK_INTERVAL: '0.5',
      SHUTDOWN_GRACE_PERIOD: '2',
      LOG_LEVEL: 'info',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '600000',
    });
    const main = path.join(findProjectRoot(__dirname), 'dist', 'src', 'main.js');
    child = spawn(process.execPath, [main], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    exited = new Promise((resolve) => child!.once('exit', (code) => resolve(code)));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-20_000)));
    const listening = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the service did not start within 20 s:\n${stderr}`)), 20_000);
      readline.createInterface({ input: child!.stdout! }).on('line', (line) => {
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          return;
        }
        logs.push(entry);
        if (typeof entry.port === 'number' && String(entry.msg).startsWith('listening on')) url = `http://127.0.0.1:${entry.port}`;
        if (entry.msg === 'database pools warm; service ready') {
          clearTimeout(timer);
          resolve();
        }
      });
      void exited.then((code) => reject(new Error(`the service exited (${code}) during start-up:\n${stderr}`)));
    });
    await listening;
    expect(url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);

    // Traffic: probes and the scrape (not traced), creates, a read with include, a conflict.
    expect((await request('GET', '/health/ready')).status).to.equal(200);
    const user = await request('POST', '/api/users', { email: `${randomUUID()}@example.test`, display_name: 'Otlp' });
    const session = await request('POST', '/api/sessions', { user_id: (user.body as { id: string }).id, title: 'Traced' });
    ids.session = (session.body as { id: string }).id;
    const author = await request('POST', '/api/authors', { session_id: ids.session, name: 'Author' });
    await request('POST', '/api/plots/batch', {
      items: [0, 1, 2].map((i) => ({ session_id: ids.session, author_id: (author.body as { id: string }).id, title: `P${i}` })),
    });
    const read = await request('GET', `/api/plots?session_id=eq.${ids.session}&include=author`);
    expect(read.status).to.equal(200);
    expect((await request('POST', '/api/plots', { session_id: randomUUID(), title: 'Orphan' })).status).to.equal(409);
    const scrape = await fetch(`${url}/metrics`, { headers: { accept: 'application/openmetrics-text; version=1.0.0' } });
    exemplarTraceIds = parseExposition(await scrape.text()).flatMap((s) => (s.exemplar?.labels.trace_id ? [s.exemplar.labels.trace_id] : []));
    // Let the health monitor (every 0.5 s) run a few passes.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    spansBeforeShutdown = receiver.spans.length;

    child.kill('SIGTERM');
    const timer = setTimeout(() => child?.kill('SIGKILL'), 15_000);
    exitCode = await exited;
    clearTimeout(timer);
  });

  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    await receiver?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  function serverSpan(method: string, route: string): ReceivedSpan {
    const found = receiver.spans.filter(
      (s) => s.kind === SERVER && s.attributes['http.request.method'] === method && s.attributes['http.route'] === route,
    );
    expect(found, `${method} ${route} server spans among ${receiver.spans.map((s) => s.name).join(', ')}`).to.have.length(1);
    return found[0]!;
  }

  /** True when `span` descends from `ancestor` (walking parent ids within the trace). */
  function descendsFrom(span: ReceivedSpan, ancestor: ReceivedSpan): boolean {
    const byId = new Map(receiver.spans.filter((s) => s.traceId === span.traceId).map((s) => [s.spanId, s]));
    let current: ReceivedSpan | undefined = span;
    for (let hops = 0; current && hops < 50; hops++) {
      if (current.parentSpanId === ancestor.spanId) return true;
      current = byId.get(current.parentSpanId);
    }
    return false;
  }

  it('exports nothing while running (batched) and everything at shutdown; exits 0', () => {
    expect(spansBeforeShutdown, 'spans exported before SIGTERM').to.equal(0);
    expect(exitCode, stderr).to.equal(0);
    expect(receiver.spans.length).to.be.greaterThan(10);
    expect(logs.some((l) => l.msg === 'stopped')).to.equal(true);
    expect(logs.some((l) => l.msg === 'flushing spans failed')).to.equal(false);
    for (const span of receiver.spans) expect(span.resource['service.name']).to.equal('bookswriter-data');
  });

  it('http and express are instrumented: a server span per request, named by route template', () => {
    const server = serverSpan('GET', '/api/plots');
    expect(server.parentSpanId).to.equal('');
    expect(server.name).to.equal('GET /api/plots');
    expect(server.attributes['http.response.status_code']).to.equal(200);
  });

  it('only traces are exported (no OTLP metrics or logs: those are prom-client and pino)', () => {
    expect([...receiver.requests.keys()]).to.deep.equal(['/v1/traces']);
  });

  it('a request trace has the server span, the route handler, db and acquire spans — no per-middleware noise', () => {
    const server = serverSpan('GET', '/api/plots');
    const trace = receiver.spans.filter((s) => s.traceId === server.traceId);
    const byScope = (scope: string): string[] => trace.filter((s) => s.scope === scope).map((s) => s.name);
    expect(byScope('@opentelemetry/instrumentation-express')).to.deep.equal(['request handler']);
    expect(byScope('@opentelemetry/instrumentation-router')).to.deep.equal([]);
    expect(byScope('@opentelemetry/instrumentation-http')).to.deep.equal(['GET /api/plots']);
    const ours = byScope('bookswriter-data');
    expect(ours.length).to.be.greaterThan(0);
    expect(trace.length).to.equal(ours.length + 2);
  });

  it('probes and the scrape are not traced', () => {
    const paths = receiver.spans.filter((s) => s.kind === SERVER).map((s) => String(s.attributes['url.path']));
    expect(paths).not.to.include('/health/ready');
    expect(paths).not.to.include('/metrics');
  });

  it('db spans with acquire children sit under the request', () => {
    const server = serverSpan('GET', '/api/plots');
    const db = receiver.spans.filter((s) => s.traceId === server.traceId && s.scope === 'bookswriter-data' && s.kind === CLIENT);
    expect(db.map((s) => s.name).sort()).to.include.members(['SELECT plots', 'SELECT authors']);
    for (const span of db) {
      expect(descendsFrom(span, server), `${span.name} under the server span`).to.equal(true);
      expect(span.attributes).to.include({ 'db.system.name': 'sqlite', 'db.collection.name': span.name.split(' ')[1] });
      expect(String(span.attributes['db.query.text'])).not.to.include(ids.session!);
      const acquires = receiver.spans.filter((s) => s.parentSpanId === span.spanId);
      expect(acquires.map((s) => s.name)).to.deep.equal(['acquire sqlite-read']);
      expect(acquires[0]!.kind).to.equal(INTERNAL);
    }
    const batch = receiver.spans.find((s) => s.name === 'BATCH INSERT plots');
    expect(batch?.attributes['db.operation.batch.size']).to.equal(3);
  });

  it('the failed insert is an error span with error.type = CONFLICT', () => {
    const server = serverSpan('POST', '/api/plots');
    const insert = receiver.spans.find((s) => s.traceId === server.traceId && s.name === 'INSERT plots');
    expect(insert, 'INSERT plots span').to.exist;
    expect(insert!.status.code).to.equal(STATUS_ERROR);
    expect(insert!.attributes['error.type']).to.equal('CONFLICT');
    expect(insert!.events.map((e) => e.name)).to.include('exception');
  });

  it('health checks are traced', () => {
    const checks = receiver.spans.filter((s) => s.name.startsWith('health_check '));
    expect(new Set(checks.map((s) => s.name))).to.deep.equal(new Set(['health_check sqlite-read', 'health_check sqlite-write']));
    for (const span of checks) expect(span.attributes['db.client.connection.pool.healthy']).to.equal(true);
  });

  it('the exemplars of the OpenMetrics scrape point at exported traces', () => {
    expect(exemplarTraceIds.length).to.be.greaterThan(0);
    const traces = new Set(receiver.spans.map((s) => s.traceId));
    for (const id of exemplarTraceIds) expect(traces.has(id), `exemplar trace ${id}`).to.equal(true);
  });
});
