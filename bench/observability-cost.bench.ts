/**
 * Observability cost: the service with metrics and tracing on (100 % sampled, batch span export
 * over OTLP/HTTP to a local sink) against the same service with both off, under the same load
 * (`GET /api/plots/:id`, autocannon -c 10 from a child process), interleaved round by round.
 *
 * Tracing has to start before express is loaded, so each configuration is its own process:
 * `node dist/src/main.js` with its environment. Diagnostic processes split the cost: metrics on
 * and tracing off; tracing on with only the http instrumentation (our own spans and the server
 * span, no express spans); and the service without any OpenTelemetry bootstrap
 * (bench/support/main-untraced.ts), to show what "off" via OTEL_SDK_DISABLED still costs.
 * Server CPU time per request is read from /proc.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';

import type { Env } from '../src/config/index.js';
import {
  cannon,
  cpuTimeOf,
  JsonClient,
  seedOverHttp,
  spawnService,
  type CannonResult,
  type SpawnedService,
} from './support/http.js';
import { startOtlpSink } from './support/otlp-sink.js';
import {
  fmt,
  interleave,
  main,
  measured,
  ratios,
  sleep,
  summarize,
  type BenchmarkDefinition,
} from './harness.js';

const CONNECTIONS = 10;
const DEFAULT_SECONDS = 3;

interface Config {
  readonly name: string;
  readonly env: Env;
  /** Entry script (default dist/src/main.js). */
  readonly entry?: string;
}

export const definition: BenchmarkDefinition = {
  name: 'observability-cost',
  title: 'Observability cost: metrics + tracing (100 %, batch OTLP export) vs both off (separate processes)',
  defaultRounds: 4,
  async run(ctx) {
    const seconds = ctx.flags.seconds ?? DEFAULT_SECONDS;
    const sink = await startOtlpSink();
    ctx.defer(() => sink.close());
    const configs: Config[] = [
      {
        name: 'on',
        env: {
          DB_POOL_ENABLE_METRICS: 'true',
          OTEL_SDK_DISABLED: 'false',
          OTEL_TRACES_SAMPLER: 'always_on',
          OTEL_TRACES_EXPORTER: 'otlp',
          OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
          OTEL_SERVICE_NAME: 'bookswriter-data-bench',
        },
      },
      { name: 'off', env: { DB_POOL_ENABLE_METRICS: 'false', OTEL_SDK_DISABLED: 'true' } },
      { name: 'metrics only', env: { DB_POOL_ENABLE_METRICS: 'true', OTEL_SDK_DISABLED: 'true' } },
      {
        name: 'on, http instrumentation only',
        env: {
          DB_POOL_ENABLE_METRICS: 'true',
          OTEL_SDK_DISABLED: 'false',
          OTEL_TRACES_SAMPLER: 'always_on',
          OTEL_NODE_ENABLED_INSTRUMENTATIONS: 'http',
          OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        },
      },
      {
        name: 'off, no instrumentation hooks',
        env: { DB_POOL_ENABLE_METRICS: 'false', OTEL_SDK_DISABLED: 'true' },
        entry: path.join(__dirname, 'support', 'main-untraced.js'),
      },
    ];
    const services = new Map<string, { service: SpawnedService; url: string }>();
    for (const config of configs) {
      const service = await spawnService(ctx.tmpDir(), config.env, [], config.entry);
      ctx.defer(() => service.stop());
      const client = new JsonClient(service.url);
      const story = await seedOverHttp(client, { authors: 10, plots: 100 }, `oc${randomUUID().slice(0, 6)}`);
      await client.close();
      services.set(config.name, { service, url: `${service.url}/api/plots/${story.plotIds[5]}` });
    }
    const results: Record<string, CannonResult[]> = {};
    const cpu: Record<string, number[]> = {};
    const variants = configs.map((config) => ({
      name: config.name,
      unit: 'req/s',
      async measure() {
        const { service, url } = services.get(config.name)!;
        const before = cpuTimeOf(service.pid);
        const r = await cannon({ url, connections: CONNECTIONS, seconds });
        const cpuMs = cpuTimeOf(service.pid) - before;
        if (r.non2xx > 0 || r.errors > 0)
          throw new Error(`${config.name}: ${r.non2xx} non-2xx, ${r.errors} errors`);
        (results[config.name] ??= []).push(r);
        (cpu[config.name] ??= []).push((cpuMs * 1000) / r.requests);
        return r.requestsPerSec;
      },
    }));
    const samples = await interleave(variants, {
      rounds: ctx.rounds,
      warmup: ctx.warmup,
      log: ctx.log,
      between: () => sleep(300),
    });
    const measuredOf = (name: string, pick: (r: CannonResult) => number): number[] =>
      results[name]!.slice(ctx.warmup).map(pick);
    const cpuOf = (name: string): number[] => cpu[name]!.slice(ctx.warmup);
    const p99On = measuredOf('on', (r) => r.latencyP99Ms);
    const p99Off = measuredOf('off', (r) => r.latencyP99Ms);
    const p99Metrics = measuredOf('metrics only', (r) => r.latencyP99Ms);
    const on = samples.get('on')!;
    const off = samples.get('off')!;
    const metricsOnly = samples.get('metrics only')!;
    // Let the batch processor flush once more, then read the sink.
    await sleep(1000);
    return {
      rows: [
        {
          benchmark: 'observability cost (throughput)',
          compares: 'metrics + tracing on vs both off, req/s',
          a: measured('on', 'req/s', on),
          b: measured('off', 'req/s', off),
          ratio: measured('on / off', '×', ratios(on, off)),
          target: { on: 'ratio', op: '>=', value: 0.8, text: '≥ 0.8× throughput' },
        },
        {
          benchmark: 'observability cost (p99)',
          compares: 'metrics + tracing on vs both off, p99 latency',
          a: measured('on', 'ms', p99On),
          b: measured('off', 'ms', p99Off),
          ratio: measured('on / off', '×', ratios(p99On, p99Off)),
          target: { on: 'ratio', op: '<=', value: 1.25, text: 'p99 ≤ 1.25×' },
        },
        {
          benchmark: 'observability cost (metrics only)',
          compares: 'metrics on, tracing off vs both off, req/s',
          a: measured('metrics only', 'req/s', metricsOnly),
          b: measured('off', 'req/s', off),
          ratio: measured('metrics / off', '×', ratios(metricsOnly, off)),
          note: `diagnostic; p99 ${p99Metrics.map((v) => v.toFixed(0)).join('/')} ms`,
        },
        {
          benchmark: 'observability cost (express spans)',
          compares: 'tracing on with the http instrumentation only (no express spans) vs both off, req/s',
          a: measured('on, http only', 'req/s', samples.get('on, http instrumentation only')!),
          b: measured('off', 'req/s', off),
          ratio: measured(
            'on (http only) / off',
            '×',
            ratios(samples.get('on, http instrumentation only')!, off),
          ),
          note: `diagnostic; p99 ${measuredOf('on, http instrumentation only', (r) => r.latencyP99Ms)
            .map((v) => v.toFixed(0))
            .join('/')} ms`,
        },
        {
          benchmark: 'observability cost (disabled hooks)',
          compares:
            'off via OTEL_SDK_DISABLED (instrumentations still patch http/express) vs no instrumentation at all, req/s',
          a: measured('off', 'req/s', off),
          b: measured('no hooks', 'req/s', samples.get('off, no instrumentation hooks')!),
          ratio: measured('off / no hooks', '×', ratios(off, samples.get('off, no instrumentation hooks')!)),
          note: `diagnostic; CPU/request ${fmt(summarize(cpuOf('off')).median)} vs ${fmt(summarize(cpuOf('off, no instrumentation hooks')).median)} µs`,
        },
        {
          benchmark: 'observability cost (CPU per request)',
          compares: 'server CPU time per request, on vs off',
          a: measured('on', 'µs', cpuOf('on')),
          b: measured('off', 'µs', cpuOf('off')),
          ratio: measured('on / off', '×', ratios(cpuOf('on'), cpuOf('off'))),
          note: `diagnostic; metrics only ${cpuOf('metrics only')
            .map((v) => v.toFixed(0))
            .join('/')} µs`,
        },
      ],
      extra: {
        connections: CONNECTIONS,
        secondsPerRound: seconds,
        sink: { ...sink.stats },
        env: Object.fromEntries(configs.map((c) => [c.name, c.env])),
        raw: results,
        cpuPerRequestUs: cpu,
      },
      notes: [
        `Spans exported to the local sink: ${sink.stats.requests} OTLP requests, ${(sink.stats.bytes / 1024 / 1024).toFixed(1)} MiB.`,
        'Each configuration is a separate `node dist/src/main.js` process (tracing must start before express loads).',
      ],
    };
  },
};

if (require.main === module) main(definition);
