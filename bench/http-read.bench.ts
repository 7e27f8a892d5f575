/**
 * HTTP read: `GET /api/plots/:id` on the service (in-process, defaults: worker mode, metrics on,
 * tracing off — tracing needs its own process, see observability-cost) against an express
 * hello-world route served by the same process, both loaded by autocannon from a child process
 * on loopback (10 connections), interleaved round by round.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import express from 'express';

import { cannon, seedOverHttp, startService, type CannonResult } from './support/http.js';
import { interleave, main, measured, ratios, sleep, type BenchmarkDefinition, type ResultRow } from './harness.js';

const CONNECTIONS = 10;
const DEFAULT_SECONDS = 4;

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
  defaultRounds: 5,
  async run(ctx) {
    const seconds = ctx.flags.seconds ?? DEFAULT_SECONDS;
    const results: Record<string, CannonResult[]> = { plot: [], hello: [], inline: [] };
    /** This process's CPU time per request (µs) per run: far less sensitive to the machine's load than req/s. */
    const cpu: Record<string, number[]> = { plot: [], hello: [], inline: [] };
    const service = await startService(ctx.tmpDir());
    ctx.defer(() => service.stop());
    const inlineService = await startService(ctx.tmpDir(), { SQLITE_EXECUTION_MODE: 'inline' });
    ctx.defer(() => inlineService.stop());
    const hello = await startHelloWorld();
    ctx.defer(() => hello.close());
    const story = await seedOverHttp(service.client, { authors: 10, plots: 100 }, `hr${Date.now().toString(36)}`);
    const inlineStory = await seedOverHttp(inlineService.client, { authors: 10, plots: 100 }, `hri${Date.now().toString(36)}`);
    const plotUrl = `${service.url}/api/plots/${story.plotIds[7]}`;
    const inlineUrl = `${inlineService.url}/api/plots/${inlineStory.plotIds[7]}`;
    const load = (name: string, url: string) => ({
      name,
      unit: 'req/s',
      async measure() {
        const before = process.cpuUsage();
        const r = await cannon({ url, connections: CONNECTIONS, seconds });
        const used = process.cpuUsage(before);
        cpu[name]!.push((used.user + used.system) / r.requests);
        if (r.non2xx > 0 || r.errors > 0) throw new Error(`${name}: ${r.non2xx} non-2xx, ${r.errors} errors`);
        results[name]!.push(r);
        return r.requestsPerSec;
      },
    });
    const samples = await interleave([load('plot', plotUrl), load('hello', hello.url), load('inline', inlineUrl)], {
      rounds: ctx.rounds,
      warmup: ctx.warmup,
      log: ctx.log,
      between: () => sleep(200),
    });
    const plot = samples.get('plot')!;
    const hw = samples.get('hello')!;
    const inl = samples.get('inline')!;
    const p99 = (name: string): number[] => results[name]!.slice(ctx.warmup).map((r) => r.latencyP99Ms);
    const cpuOf = (name: string): number[] => cpu[name]!.slice(ctx.warmup);
    const rows: ResultRow[] = [
      {
        benchmark: 'HTTP read (worker, default)',
        compares: 'GET /api/plots/:id vs express hello-world req/s',
        a: measured('GET /api/plots/:id', 'req/s', plot),
        b: measured('hello world', 'req/s', hw),
        ratio: measured('plots / hello', '×', ratios(plot, hw)),
        target: { on: 'ratio', op: '>=', value: 0.7, text: '≥ 0.7×' },
      },
      {
        benchmark: 'HTTP read (inline)',
        compares: 'GET /api/plots/:id (inline mode) vs express hello-world req/s',
        a: measured('GET /api/plots/:id inline', 'req/s', inl),
        b: measured('hello world', 'req/s', hw),
        ratio: measured('plots / hello', '×', ratios(inl, hw)),
        note: 'diagnostic',
      },
      {
        benchmark: 'HTTP read, CPU per request',
        compares: 'server-process CPU time per request (user + system), GET /api/plots/:id vs hello world',
        a: measured('GET /api/plots/:id', 'µs', cpuOf('plot')),
        b: measured('hello world', 'µs', cpuOf('hello')),
        ratio: measured('hello / plots (CPU-bound req/s ratio)', '×', ratios(cpuOf('hello'), cpuOf('plot'))),
        note: 'diagnostic; includes the worker threads',
      },
    ];
    return {
      rows,
      extra: {
        connections: CONNECTIONS,
        secondsPerRound: seconds,
        p99Ms: { plot: p99('plot'), hello: p99('hello'), inline: p99('inline') },
        cpuPerRequestUs: { plot: cpuOf('plot'), hello: cpuOf('hello'), inline: cpuOf('inline') },
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
