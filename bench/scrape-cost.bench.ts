/**
 * Scrape cost: rendering `/metrics` once every pool series and every route series exists. The
 * in-process service is first driven through every route of every table (search, create, batch
 * create/update, lookup, get, update, delete, a session's content), the error paths (400, 404,
 * 415) and the metrics API, so each histogram has its full set of label combinations. Then the
 * two expositions are rendered alternately, in small interleaved chunks: the Prometheus text
 * format (what Prometheus gets by default) and OpenMetrics (with exemplars). Reported: ms per
 * render, bytes, series (sample lines) and metric families; the HTTP scrape (GET /metrics over
 * loopback) as a diagnostic.
 */
import { randomUUID } from 'node:crypto';

import { TABLE_NAMES } from '../src/schema/tables.js';
import { seedOverHttp, startService, type JsonClient } from './support/http.js';
import { collectRounds, interleavedTimePerOp, main, measured, type BenchmarkDefinition } from './harness.js';

const OPENMETRICS = 'application/openmetrics-text; version=1.0.0';

/** Every route of the API once (and the error paths), so every route series exists. */
export async function exerciseEveryRoute(client: JsonClient): Promise<number> {
  let requests = 0;
  const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    requests++;
    return (await client.request(method, path, body)).body;
  };
  const tag = `sc${randomUUID().slice(0, 6)}`;
  const story = await seedOverHttp(client, { authors: 5, plots: 20 }, tag);
  const sessionId = story.sessionId;
  const parents: Record<string, Record<string, unknown>> = {
    users: { email: `${tag}-x@example.test`, display_name: 'X' },
    sessions: {
      user_id: ((await call('GET', `/api/sessions/${sessionId}`)) as { user_id: string }).user_id,
      title: 'S',
    },
    authors: { session_id: sessionId, name: 'A' },
    plots: { session_id: sessionId, title: 'P' },
    world_building: { session_id: sessionId, name: 'W' },
    characters: { session_id: sessionId, name: 'C' },
  };
  let n = 0;
  for (const table of TABLE_NAMES) {
    const base = parents[table]!;
    const fresh = (): Record<string, unknown> =>
      table === 'users' ? { ...base, email: `${tag}-${n++}@example.test` } : { ...base };
    const one = (await call('POST', `/api/${table}`, fresh())) as { id: string };
    const many = (await call('POST', `/api/${table}/batch`, { items: [fresh(), fresh()] })) as {
      data: Array<{ id: string }>;
    };
    const ids = many.data.map((r) => r.id);
    const change =
      table === 'users'
        ? { display_name: 'Y' }
        : table === 'plots' || table === 'sessions'
          ? { title: 'T' }
          : { name: 'N' };
    await call('PATCH', `/api/${table}/batch`, { items: ids.map((id) => ({ id, changes: change })) });
    await call('POST', `/api/${table}/lookup`, { ids: [one.id, ...ids] });
    await call('GET', `/api/${table}?limit=5`);
    await call('GET', `/api/${table}/${one.id}`);
    await call('PATCH', `/api/${table}/${one.id}`, change);
    await call('DELETE', `/api/${table}/${one.id}`);
    await call('GET', `/api/${table}/${one.id}`); // 404
    await call('GET', `/api/${table}/not-a-uuid`); // 400
    await call('POST', `/api/${table}`, {}); // 400
  }
  await call('GET', `/api/sessions/${sessionId}/content`);
  await call('GET', `/api/plots?session_id=eq.${sessionId}&include=author&limit=20`);
  await call('GET', `/api/authors?session_id=eq.${sessionId}&include=plots_count`);
  await call('GET', '/api/nowhere'); // unmatched
  for (const path of [
    '/metrics/database/pool',
    '/metrics/database/health',
    '/metrics/performance/summary',
    '/metrics/database/config',
    '/health/live',
    '/health/ready',
  ]) {
    await call('GET', path);
  }
  return requests;
}

export function seriesOf(body: string): { series: number; families: number } {
  let series = 0;
  let families = 0;
  for (const line of body.split('\n')) {
    if (line.startsWith('# TYPE ')) families++;
    else if (line !== '' && !line.startsWith('#')) series++;
  }
  return { series, families };
}

/** Sample lines per metric family (histograms: buckets + sum + count per label set), largest first. */
export function seriesByFamily(body: string): Record<string, number> {
  const counts = new Map<string, number>();
  let family = '';
  for (const line of body.split('\n')) {
    if (line.startsWith('# TYPE ')) family = line.split(' ')[2] ?? '';
    else if (line !== '' && !line.startsWith('#')) counts.set(family, (counts.get(family) ?? 0) + 1);
  }
  return Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]));
}

export const definition: BenchmarkDefinition = {
  name: 'scrape-cost',
  title: 'Scrape cost: /metrics render with every pool and route series populated',
  defaultRounds: 7,
  async run(ctx) {
    const service = await startService(ctx.tmpDir());
    ctx.defer(() => service.stop());
    const requests = await exerciseEveryRoute(service.client);
    const metrics = service.container.metrics;
    const classic = await metrics.render(undefined);
    const open = await metrics.render(OPENMETRICS);
    const classicShape = seriesOf(classic.body);
    const openShape = seriesOf(open.body);
    const routes = new Set([...classic.body.matchAll(/http_route="([^"]*)"/g)].map((m) => m[1]));

    const samples = await collectRounds(
      { rounds: ctx.rounds, warmup: ctx.warmup, log: ctx.log },
      async () => {
        const perOp = await interleavedTimePerOp(
          {
            'text format': { run: () => metrics.render(undefined) },
            OpenMetrics: { run: () => metrics.render(OPENMETRICS) },
            'HTTP GET /metrics': { run: () => service.client.expect(200, 'GET', '/metrics') },
          },
          { minMs: 300, chunkMs: 20 },
        );
        return Object.fromEntries(Object.entries(perOp).map(([k, us]) => [k, us / 1000]));
      },
    );
    const row = (
      name: string,
      body: string,
      shape: { series: number; families: number },
      target: boolean,
    ) => ({
      benchmark: `scrape cost (${name})`,
      compares: `render of /metrics (${name}) with every series populated`,
      a: measured(name, 'ms', samples.get(name)!),
      ...(target
        ? { target: { on: 'a' as const, op: '<=' as const, value: 2, text: '≤ 2 ms per scrape' } }
        : {}),
      note: `${(Buffer.byteLength(body) / 1024).toFixed(1)} KiB, ${shape.series} series, ${shape.families} metric families${target ? '' : '; diagnostic'}`,
    });
    return {
      rows: [
        row('text format', classic.body, classicShape, true),
        row('OpenMetrics', open.body, openShape, true),
        {
          benchmark: 'scrape cost (HTTP)',
          compares: 'GET /metrics over loopback, text format',
          a: measured('HTTP GET /metrics', 'ms', samples.get('HTTP GET /metrics')!),
          note: 'diagnostic; includes the request itself',
        },
      ],
      extra: {
        requestsToPopulate: requests,
        routes: [...routes].sort(),
        text: { bytes: Buffer.byteLength(classic.body), ...classicShape },
        openMetrics: { bytes: Buffer.byteLength(open.body), ...openShape },
        seriesByFamily: seriesByFamily(classic.body),
      },
      notes: [
        `${requests} requests covered ${routes.size} route templates before timing; renders run one after another in this process.`,
      ],
    };
  },
};

if (require.main === module) main(definition);
