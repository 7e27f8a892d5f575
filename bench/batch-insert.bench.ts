/**
 * Batch insert: 1,000 plots through `POST /api/plots/batch` (one request, one transaction on the
 * writer) against 1,000 single `POST /api/plots`, one after another, over HTTP to the service
 * running in-process with its defaults (worker mode, metrics on). Keep-alive client.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';

import { plotRow } from './support/data.js';
import { seedOverHttp, startService } from './support/http.js';
import { interleave, main, measured, ratios, type BenchmarkDefinition } from './harness.js';

const ROWS = 1000;

export const definition: BenchmarkDefinition = {
  name: 'batch-insert',
  title: 'Batch insert: 1,000 rows via /batch vs 1,000 single POSTs (HTTP, in-process service)',
  defaultRounds: 5,
  async run(ctx) {
    const service = await startService(ctx.tmpDir());
    ctx.defer(() => service.stop());
    const { client } = service;
    const story = await seedOverHttp(client, { authors: 20, plots: 0 }, `bi${randomUUID().slice(0, 6)}`);
    let label = 0;
    const rows = (): Record<string, unknown>[] =>
      Array.from({ length: ROWS }, (_, i) => {
        label++;
        return plotRow(story.sessionId, story.authorIds[i % story.authorIds.length]!, `b${label}`, i);
      });

    const samples = await interleave(
      [
        {
          name: '/batch',
          unit: 'ms',
          async measure() {
            const items = rows();
            const started = performance.now();
            const body = await client.expect<{ data: unknown[] }>(201, 'POST', '/api/plots/batch', { items });
            const ms = performance.now() - started;
            if (body.data.length !== ROWS) throw new Error(`batch stored ${body.data.length} rows`);
            return ms;
          },
        },
        {
          name: 'single POSTs',
          unit: 'ms',
          async measure() {
            const items = rows();
            const started = performance.now();
            for (const item of items) await client.expect(201, 'POST', '/api/plots', item);
            return performance.now() - started;
          },
        },
      ],
      { rounds: ctx.rounds, warmup: ctx.warmup, log: ctx.log },
    );
    const batch = samples.get('/batch')!;
    const single = samples.get('single POSTs')!;
    const total = await client.expect<{ total_count: number }>(
      200,
      'GET',
      `/api/plots?session_id=eq.${story.sessionId}&limit=1`,
    );
    const expected = (ctx.rounds + ctx.warmup) * 2 * ROWS;
    return {
      rows: [
        {
          benchmark: 'batch insert',
          compares: '1,000 rows via /batch vs 1,000 single POSTs',
          a: measured('/batch', 'ms', batch),
          b: measured('1,000 POSTs', 'ms', single),
          ratio: measured('POSTs / batch', '×', ratios(single, batch)),
          target: { on: 'ratio', op: '>=', value: 10, text: '≥ 10×' },
        },
      ],
      extra: { rows: ROWS, storedRows: total.total_count, expectedRows: expected },
      notes: [
        `Times are for all ${ROWS} rows, request to response; every row checked stored (${total.total_count} of ${expected}).`,
      ],
    };
  },
};

if (require.main === module) main(definition);
