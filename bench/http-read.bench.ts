/**
 * HTTP read: `GET /api/plots/:id` on the service (in-process, defaults: worker mode, metrics on,
 * tracing off — tracing needs its own process, see observability-cost) against an express
 * hello-world route served by the same process, both loaded by autocannon from a child process
 * on loopback (10 connections), interleaved round by round.
 *
 * Diagnostics, to split the gap: the service's own `GET /health/live` (the service's middleware —
 * request id, shutdown guard, HTTP metrics, metrics auth — in front of a constant answer, no
 * database), the plot read in inline mode, and the plot read with leak detection off
 * (`DB_POOL_LEAK_THRESHOLD=0`: no acquirer stack captured per acquire). Server CPU time per
 * request is reported too: far steadier than req/s on a shared machine.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import express from 'express';

import { cannon, seedOverHttp, startService, type CannonResult } from './support/http.js';
import {
  fmt,
  interleave,
  main,
  measured,
  ratios,
  sleep,
  summarize,
  type BenchmarkDefinition,
  type ResultRow,
} from './harness.js';

const CONNECTIONS = 10;
const DEFAULT_SECONDS = 3;

export async function startHelloWorld(): Promise<{ url: string; close(): Promise<void> }> {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.get('/hello', (_req, res) => {
    res.json({ hello: 'world' });
  });
  const server = http.createServer(app);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hello`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const definition: BenchmarkDefinition = {
  name: 'http-read',
  title: 'HTTP read: GET /api/plots/:id vs express hello-world, same process (autocannon, loopback)',
  defaultRounds: 4,
  async run(ctx) {
    const seconds = ctx.flags.seconds ?? DEFAULT_SECONDS;
    const names = ['plot', 'hello', 'live', 'inline', 'leak off'] as const;
    const results: Record<string, CannonResult[]> = Object.fromEntries(names.map((n) => [n, []]));
    /** This process's CPU time per request (µs) per run: far less sensitive to the machine's load than req/s. */
    const cpu: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    const service = await startService(ctx.tmpDir());
    ctx.defer(() => service.stop());
    const inlineService = await startService(ctx.tmpDir(), { SQLITE_EXECUTION_MODE: 'inline' });
    ctx.defer(() => inlineService.stop());
    const leakOffService = await startService(ctx.tmpDir(), { DB_POOL_LEAK_THRESHOLD: '0' });
    ctx.defer(() => leakOffService.stop());
    const hello = await startHelloWorld();
    ctx.defer(() => hello.close());
    const plotUrl = async (s: typeof service): Promise<string> => {
      const story = await seedOverHttp(
        s.client,
        { authors: 10, plots: 100 },
        `hr${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`,
      );
      return `${s.url}/api/plots/${story.plotIds[7]}`;
    };
    const urls: Record<(typeof names)[number], string> = {
      plot: await plotUrl(service),
      hello: hello.url,
      live: `${service.url}/health/live`,
      inline: await plotUrl(inlineService),
      'leak off': await plotUrl(leakOffService),
    };
    const load = (name: (typeof names)[number]) => ({
      name,
      unit: 'req/s',
      async measure() {
        const before = process.cpuUsage();
        const r = await cannon({ url: urls[name], connections: CONNECTIONS, seconds });
        const used = process.cpuUsage(before);
        if (r.non2xx > 0 || r.errors > 0) throw new Error(`${name}: ${r.non2xx} non-2xx, ${r.errors} errors`);
        cpu[name]!.push((used.user + used.system) / r.requests);
        results[name]!.push(r);
        return r.requestsPerSec;
      },
    });
    const samples = await interleave(names.map(load), {
      rounds: ctx.rounds,
      warmup: ctx.warmup,
      log: ctx.log,
      between: () => sleep(200),
    });
    const s_ = (name: string): number[] => samples.get(name)!;
    const hw = s_('hello');
    const p99 = (name: string): number[] => results[name]!.slice(ctx.warmup).map((r) => r.latencyP99Ms);
    const cpuOf = (name: string): number[] => cpu[name]!.slice(ctx.warmup);
    const versusHello = (name: string, label: string, benchmark: string, note?: string): ResultRow => ({
      benchmark,
      compares: `${label} vs express hello-world req/s`,
      a: measured(label, 'req/s', s_(name)),
      b: measured('hello world', 'req/s', hw),
      ratio: measured(`${name === 'plot' ? 'plots' : name} / hello`, '×', ratios(s_(name), hw)),
      ...(note === undefined
        ? { target: { on: 'ratio' as const, op: '>=' as const, value: 0.7, text: '≥ 0.7×' } }
        : { note }),
    });
    const rows: ResultRow[] = [
      versusHello('plot', 'GET /api/plots/:id', 'HTTP read (worker, default)'),
      versusHello(
        'live',
        'service GET /health/live',
        'HTTP read (service middleware only)',
        'diagnostic: no database, no /api routing',
      ),
      versusHello('inline', 'GET /api/plots/:id inline', 'HTTP read (inline)', 'diagnostic'),
      versusHello(
        'leak off',
        'GET /api/plots/:id, leak detection off',
        'HTTP read (leak detection off)',
        'diagnostic',
      ),
      {
        benchmark: 'HTTP read, CPU per request',
        compares: 'server-process CPU time per request (user + system, worker threads included)',
        a: measured('GET /api/plots/:id', 'µs', cpuOf('plot')),
        b: measured('hello world', 'µs', cpuOf('hello')),
        ratio: measured('hello / plots', '×', ratios(cpuOf('hello'), cpuOf('plot'))),
        note: `diagnostic (the req/s ratio if CPU-bound); /health/live ${fmt(summarize(cpuOf('live')).median)} µs, inline ${fmt(summarize(cpuOf('inline')).median)} µs, leak off ${fmt(summarize(cpuOf('leak off')).median)} µs`,
      },
    ];
    return {
      rows,
      extra: {
        connections: CONNECTIONS,
        secondsPerRound: seconds,
        p99Ms: Object.fromEntries(names.map((n) => [n, p99(n)])),
        cpuPerRequestUs: Object.fromEntries(names.map((n) => [n, cpuOf(n)])),
        raw: results,
      },
      notes: [
        `autocannon -c ${CONNECTIONS} -d ${seconds} from a child process; ${ctx.rounds} rounds, order rotated each round.`,
        'The service runs with its defaults (metrics on, leak detection on); no tracing SDK in this process.',
      ],
    };
  },
};

if (require.main === module) main(definition);
