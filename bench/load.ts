/**
 * Load generator for a running service:
 *
 *   npm run load -- --target http://127.0.0.1:3000 --duration 60 --rate 200 --mix reads=60,search=30,batch=10
 *
 * Seeds a little data through the API (a user, a session, 20 authors, --seed-plots plots), then
 * sends a fixed rate of requests — point reads of plots (a third with include=author), searches
 * with include=author, batch writes of --batch-size plots — for --duration seconds, showing a
 * progress bar with the live rate, errors and latency, and ends with a summary table (counts by
 * status, p50/p95/p99). It talks only to --target, stops by itself, and Ctrl-C ends it early
 * (the summary is still printed). Run it against `docker compose up` to watch the dashboards move.
 *
 * Options: --target (default http://127.0.0.1:3000), --duration s (60), --rate req/s (200),
 * --mix (reads=60,search=30,batch=10), --max-in-flight (64), --batch-size (20), --seed-plots (200),
 * --json (print the summary as JSON instead of the table), --quiet (no progress bar).
 */
import { parseArgs } from 'node:util';

import cliProgress from 'cli-progress';

import {
  DEFAULT_MIX,
  LoadGenerator,
  parseMix,
  summaryTable,
  type LoadProgress,
} from './support/load-core.js';

function numberFlag(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`--${name} must be a number, got ${JSON.stringify(raw)}`);
  return n;
}

async function cli(): Promise<number> {
  const { values } = parseArgs({
    options: {
      target: { type: 'string', default: 'http://127.0.0.1:3000' },
      duration: { type: 'string', default: '60' },
      rate: { type: 'string', default: '200' },
      mix: {
        type: 'string',
        default: `reads=${DEFAULT_MIX.read},search=${DEFAULT_MIX.search},batch=${DEFAULT_MIX.batch}`,
      },
      'max-in-flight': { type: 'string', default: '64' },
      'batch-size': { type: 'string', default: '20' },
      'seed-plots': { type: 'string', default: '200' },
      json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(
      'usage: npm run load -- [--target URL] [--duration s] [--rate req/s] [--mix reads=60,search=30,batch=10]\n' +
        '                      [--max-in-flight n] [--batch-size n] [--seed-plots n] [--json] [--quiet]',
    );
    return 0;
  }
  const durationS = numberFlag('duration', values.duration);
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const showBar = !values.quiet && !values.json && process.stderr.isTTY === true;
  const bar = new cliProgress.SingleBar(
    {
      format:
        ' {bar} {percentage}% | {elapsed_s}/{duration_s} s | {live} req/s | sent {sent} | errors {errors} | p50 {p50} ms p99 {p99} ms | in flight {inFlight}',
      hideCursor: true,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  const f = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '-');
  const payload = (p: LoadProgress | null): Record<string, string | number> => ({
    elapsed_s: p ? Math.round(p.elapsedS) : 0,
    duration_s: durationS,
    live: p ? p.liveRate : 0,
    sent: p ? p.sent : 0,
    errors: p ? p.errors : 0,
    p50: p ? f(p.p50Ms) : '-',
    p99: p ? f(p.p99Ms) : '-',
    inFlight: p ? p.inFlight : 0,
  });

  const generator = new LoadGenerator({
    target: values.target,
    durationS,
    rate: numberFlag('rate', values.rate),
    mix: parseMix(values.mix),
    maxInFlight: numberFlag('max-in-flight', values['max-in-flight']),
    batchSize: numberFlag('batch-size', values['batch-size']),
    seedPlots: numberFlag('seed-plots', values['seed-plots']),
    signal: abort.signal,
    onProgress(p) {
      if (showBar) bar.update(Math.min(durationS, p.elapsedS), payload(p));
      else if (!values.quiet && !values.json) {
        console.error(
          `${Math.round(p.elapsedS)}/${durationS} s  ${p.liveRate} req/s  sent ${p.sent}  errors ${p.errors}  p50 ${f(p.p50Ms)} ms  p99 ${f(p.p99Ms)} ms`,
        );
      }
    },
  });
  if (!values.json) console.error(`seeding ${values.target} …`);
  if (showBar) bar.start(durationS, 0, payload(null));
  let summary;
  try {
    summary = await generator.run();
  } finally {
    if (showBar) bar.stop();
  }
  if (values.json) {
    console.log(JSON.stringify(summary));
  } else {
    console.log(
      `\n${summary.target}: ${summary.completed} requests in ${summary.durationS.toFixed(1)} s ` +
        `(${summary.achievedRate.toFixed(1)} req/s of ${summary.requestedRate} asked; ${summary.skipped} skipped at the in-flight cap, ${summary.abandoned} unanswered)`,
    );
    console.log(summaryTable(summary));
  }
  const failed = summary.kinds.find((k) => k.kind === 'all');
  const errors = failed
    ? Object.entries(failed.byStatus)
        .filter(([s]) => s === 'error' || Number(s) >= 500)
        .reduce((a, [, n]) => a + n, 0)
    : 0;
  return errors > 0 ? 1 : 0;
}

cli().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(2);
  },
);
