/**
 * The generated Grafana dashboards: committed JSON equals the generator's output, and every
 * panel and query follows the conventions on-call relies on (units, the datasource variable,
 * $__rate_interval, the job/instance/pool filters, exemplars on latency, only metrics the
 * service exports).
 */
import fs from 'node:fs';
import path from 'node:path';

import { expect } from 'chai';

import { PROMETHEUS_DATASOURCE_UID } from '../../grafana/src/common';
import { dashboardsDir, findRepoRoot, generateDashboards } from '../../grafana/src/generate';
import {
  ALLOWED_METRIC_NAMES,
  POOL_METRIC_NAMES,
  SCRAPE_JOB,
  metricNamesInExpr,
  rateIntervalProblems,
} from '../../grafana/src/metrics';

interface Target {
  refId?: string;
  expr?: string;
  exemplar?: boolean;
  format?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id?: number;
  type: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  gridPos?: { x: number; y: number; w: number; h: number };
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: Target[];
}
interface Variable {
  type: string;
  name: string;
  query?: unknown;
  datasource?: { type?: string; uid?: string };
  multi?: boolean;
  includeAll?: boolean;
  current?: { value?: unknown };
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Variable[] };
}

const EXPECTED: Record<string, { uid: string; title: string; variables: string[] }> = {
  'pools.json': {
    uid: 'bookswriter-pools',
    title: 'BooksWriter Data — Pools',
    variables: ['datasource', 'job', 'instance', 'pool'],
  },
  'service.json': {
    uid: 'bookswriter-service',
    title: 'BooksWriter Data — Service',
    variables: ['datasource', 'job', 'instance', 'pool'],
  },
};

const REGENERATE =
  'run `npx tsc -p tsconfig.json && node dist/grafana/src/generate.js` and commit grafana/dashboards';

const generated = generateDashboards();
const dashboards: Array<[string, Dashboard]> = Object.entries(generated).map(([name, json]) => [
  name,
  JSON.parse(json) as Dashboard,
]);

const queryPanels = (d: Dashboard): Panel[] => d.panels.filter((p) => p.type !== 'row');

/** Every `metric{matchers}` selector in an expression. */
function selectors(expr: string): Array<{ metric: string; matchers: string }> {
  return [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}/g)].map((m) => ({
    metric: m[1] ?? '',
    matchers: m[2] ?? '',
  }));
}

/** Problems with the filters of one expression: job and instance always, pool on pool series. */
function filterProblems(expr: string): string[] {
  const problems: string[] = [];
  const selected = selectors(expr);
  const withSelector = new Set(selected.map((s) => s.metric));
  for (const name of metricNamesInExpr(expr)) {
    if (!withSelector.has(name)) problems.push(`${name} has no label selector in: ${expr}`);
  }
  for (const { metric, matchers } of selected) {
    if (!matchers.includes('job=~"$job"')) problems.push(`${metric} not filtered by job`);
    if (!matchers.includes('instance=~"$instance"')) problems.push(`${metric} not filtered by instance`);
    if (POOL_METRIC_NAMES.has(metric) && !matchers.includes('pool=~"$pool"')) {
      problems.push(`${metric} not filtered by pool`);
    }
  }
  return problems;
}

describe('grafana dashboards', () => {
  describe('generator and committed JSON', () => {
    it('generates exactly the expected dashboard files', () => {
      expect(Object.keys(generated).sort()).to.deep.equal(Object.keys(EXPECTED).sort());
    });

    for (const name of Object.keys(EXPECTED)) {
      it(`grafana/dashboards/${name} equals the generator output byte for byte`, () => {
        const file = path.join(dashboardsDir(findRepoRoot(__dirname)), name);
        expect(fs.existsSync(file), `${file} is missing: ${REGENERATE}`).to.equal(true);
        const committed = fs.readFileSync(file, 'utf8');
        // Not chai's deep diff of 2,000 lines: the first differing line says enough.
        if (committed !== generated[name]) {
          const a = committed.split('\n');
          const b = (generated[name] ?? '').split('\n');
          const line = a.findIndex((l, i) => l !== b[i]);
          expect.fail(
            `grafana/dashboards/${name} is stale (first difference at line ${line + 1}: ` +
              `committed ${JSON.stringify(a[line])}, generated ${JSON.stringify(b[line])}); ${REGENERATE}`,
          );
        }
      });
    }

    it('formats with 2-space indentation and a trailing newline', () => {
      for (const [name, json] of Object.entries(generated)) {
        expect(json.endsWith('}\n'), name).to.equal(true);
        expect(json).to.equal(`${JSON.stringify(JSON.parse(json), null, 2)}\n`);
      }
    });

    it('is deterministic (two runs give the same bytes)', () => {
      expect(generateDashboards()).to.deep.equal(generated);
    });
  });

  it('uids are unique, valid and the expected ones; titles as specified', () => {
    const uids = dashboards.map(([, d]) => d.uid);
    expect(new Set(uids).size).to.equal(uids.length);
    for (const [name, d] of dashboards) {
      expect(d.uid).to.equal(EXPECTED[name]?.uid);
      expect(d.title).to.equal(EXPECTED[name]?.title);
      expect(d.uid).to.match(/^[a-zA-Z0-9_-]{1,40}$/);
    }
  });

  for (const [name, d] of dashboards) {
    describe(name, () => {
      it('declares the template variables (datasource, job, instance, pool)', () => {
        const vars = d.templating.list;
        expect(vars.map((v) => v.name)).to.deep.equal(EXPECTED[name]?.variables);
        const byName = new Map(vars.map((v) => [v.name, v]));
        const ds = byName.get('datasource');
        expect(ds?.type).to.equal('datasource');
        expect(ds?.query).to.equal('prometheus');
        expect(ds?.current?.value, 'default datasource is the provisioned one').to.equal(
          PROMETHEUS_DATASOURCE_UID,
        );
        expect(byName.get('job')?.current?.value).to.equal(SCRAPE_JOB);
        for (const v of ['job', 'instance', 'pool']) {
          const variable = byName.get(v);
          expect(variable?.type, v).to.equal('query');
          expect(variable?.datasource, v).to.deep.equal({ type: 'prometheus', uid: '${datasource}' });
          const query = String(variable?.query);
          const m = /^label_values\((.+),\s*(\w+)\)$/.exec(query);
          expect(m, `${v}: ${query}`).to.not.equal(null);
          expect(m?.[2], v).to.equal(v);
          for (const metric of metricNamesInExpr(m?.[1] ?? '')) {
            expect(
              ALLOWED_METRIC_NAMES.has(metric),
              `${v} lists values of unknown metric ${metric}`,
            ).to.equal(true);
          }
        }
        for (const v of ['instance', 'pool']) {
          expect(byName.get(v)?.multi, `${v} multi`).to.equal(true);
          expect(byName.get(v)?.includeAll, `${v} include all`).to.equal(true);
        }
        // Each variable narrows the next one.
        expect(String(byName.get('instance')?.query)).to.contain('job=~"$job"');
        expect(String(byName.get('pool')?.query)).to.contain('instance=~"$instance"');
      });

      it('panel ids are unique and the layout has no overlaps', () => {
        const ids = d.panels.map((p) => p.id);
        expect(ids.every((id) => typeof id === 'number')).to.equal(true);
        expect(new Set(ids).size).to.equal(ids.length);
        const cells = new Map<string, string>();
        for (const p of d.panels) {
          const g = p.gridPos;
          expect(g, `${p.title} gridPos`).to.not.equal(undefined);
          if (!g) continue;
          expect(g.x + g.w, `${p.title} fits 24 columns`).to.be.at.most(24);
          for (let x = g.x; x < g.x + g.w; x++) {
            for (let y = g.y; y < g.y + g.h; y++) {
              const other = cells.get(`${x},${y}`);
              expect(other, `${p.title} overlaps ${other}`).to.equal(undefined);
              cells.set(`${x},${y}`, p.title ?? '');
            }
          }
        }
      });

      it('every panel has a unit, a description and the ${datasource} datasource', () => {
        const panels = queryPanels(d);
        expect(panels.length).to.be.greaterThan(10);
        for (const p of panels) {
          expect(p.fieldConfig?.defaults?.unit, `${p.title} unit`).to.be.a('string').and.not.equal('');
          expect(p.datasource, `${p.title} datasource`).to.deep.equal({
            type: 'prometheus',
            uid: '${datasource}',
          });
          expect(p.targets, `${p.title} targets`).to.be.an('array').that.is.not.empty;
          const refIds = (p.targets ?? []).map((t) => t.refId);
          expect(new Set(refIds).size, `${p.title} refIds unique`).to.equal(refIds.length);
          for (const t of p.targets ?? []) {
            expect(t.datasource, `${p.title} ${t.refId} datasource`).to.deep.equal({
              type: 'prometheus',
              uid: '${datasource}',
            });
          }
        }
      });

      it('every rate / irate / increase uses [$__rate_interval]', () => {
        for (const p of queryPanels(d)) {
          for (const t of p.targets ?? []) {
            expect(rateIntervalProblems(t.expr ?? ''), `${p.title} ${t.refId}`).to.deep.equal([]);
          }
        }
      });

      it('queries only metrics the service exports (grafana/src/metrics.ts)', () => {
        for (const p of queryPanels(d)) {
          for (const t of p.targets ?? []) {
            const names = metricNamesInExpr(t.expr ?? '');
            expect(names, `${p.title} ${t.refId} selects no metric`).to.not.be.empty;
            const unknown = names.filter((n) => !ALLOWED_METRIC_NAMES.has(n));
            expect(unknown, `${p.title} ${t.refId}: ${t.expr}`).to.deep.equal([]);
          }
        }
      });

      it('every selector filters by job and instance, and pool series by pool', () => {
        for (const p of queryPanels(d)) {
          for (const t of p.targets ?? []) {
            expect(filterProblems(t.expr ?? ''), `${p.title} ${t.refId}`).to.deep.equal([]);
          }
        }
      });

      it('latency panels (histogram buckets) ask for exemplars', () => {
        let latencyTargets = 0;
        for (const p of queryPanels(d).filter((x) => x.type === 'timeseries' || x.type === 'heatmap')) {
          for (const t of p.targets ?? []) {
            if (!/_bucket\{/.test(t.expr ?? '')) continue;
            latencyTargets++;
            expect(t.exemplar, `${p.title} ${t.refId} exemplar`).to.equal(true);
            expect(p.fieldConfig?.defaults?.unit, `${p.title} unit`).to.equal('s');
          }
        }
        expect(latencyTargets).to.be.greaterThan(0);
      });

      it('heatmaps read the exposed buckets (format heatmap, no re-bucketing)', () => {
        for (const p of queryPanels(d).filter((x) => x.type === 'heatmap')) {
          for (const t of p.targets ?? []) {
            expect(t.format, p.title).to.equal('heatmap');
            expect(t.expr, p.title).to.match(/^sum by \(le\) \(rate\(\w+_bucket\{/);
          }
        }
      });
    });
  }

  it('the pools dashboard covers the pool metrics; the service dashboard the HTTP and runtime ones', () => {
    const used = (d: Dashboard): Set<string> =>
      new Set(
        queryPanels(d).flatMap((p) => (p.targets ?? []).flatMap((t) => metricNamesInExpr(t.expr ?? ''))),
      );
    const pools = used(dashboards.find(([n]) => n === 'pools.json')?.[1] as Dashboard);
    for (const m of [
      'db_client_connections',
      'db_client_connections_max',
      'db_client_connections_idle_min',
      'db_client_connections_pending_requests',
      'db_client_connections_hit_ratio',
      'db_client_connections_healthy',
      'db_client_connections_health_failures',
      'db_client_connection_health_checks_total',
      'db_client_connection_acquires_total',
      'db_client_connection_creates_total',
      'db_client_connection_closes_total',
      'db_client_connection_leaks_total',
      'db_client_connection_wait_time_seconds_bucket',
      'db_client_connection_use_time_seconds_bucket',
      'db_client_connection_create_time_seconds_bucket',
      'db_client_operation_duration_seconds_bucket',
    ]) {
      expect(pools.has(m), `pools dashboard uses ${m}`).to.equal(true);
    }
    const service = used(dashboards.find(([n]) => n === 'service.json')?.[1] as Dashboard);
    for (const m of [
      'http_server_request_duration_seconds_count',
      'http_server_request_duration_seconds_bucket',
      'nodejs_eventloop_lag_p99_seconds',
      'nodejs_eventloop_lag_p50_seconds',
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
      'process_cpu_seconds_total',
      'db_client_n_plus_one_suspected_total',
    ]) {
      expect(service.has(m), `service dashboard uses ${m}`).to.equal(true);
    }
  });

  describe('the PromQL checks themselves', () => {
    it('metricNamesInExpr finds metrics, not functions, labels, variables or numbers', () => {
      expect(
        metricNamesInExpr(
          'histogram_quantile(0.99, sum by (le, pool) (rate(foo_bucket{job=~"$job", le!="1e-3"}[$__rate_interval])))' +
            ' / on (pool) group_left bar_total{x="y"} > bool 1e-9 or vector(0) * baz',
        ),
      ).to.deep.equal(['bar_total', 'baz', 'foo_bucket']);
    });

    it('rateIntervalProblems flags fixed windows and accepts $__rate_interval', () => {
      expect(rateIntervalProblems('sum(rate(x_total{a="b"}[$__rate_interval]))')).to.deep.equal([]);
      expect(rateIntervalProblems('sum(rate(x_total[5m]))')).to.have.length(2);
      expect(rateIntervalProblems('increase(x_total{a="(b)"}[1h])')).to.not.be.empty;
      expect(rateIntervalProblems('avg_over_time(x[10m])')).to.have.length(1);
    });

    it('filterProblems flags a missing job, instance or pool filter', () => {
      expect(filterProblems('db_client_connections_max{job=~"$job", instance=~"$instance"}')).to.deep.equal([
        'db_client_connections_max not filtered by pool',
      ]);
      expect(filterProblems('process_cpu_seconds_total')).to.have.length(1);
      expect(
        filterProblems('http_server_request_duration_seconds_count{instance=~"$instance"}'),
      ).to.deep.equal(['http_server_request_duration_seconds_count not filtered by job']);
    });
  });
});
