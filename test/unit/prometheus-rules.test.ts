/**
 * prometheus/: the scrape config, the recording and alerting rules, their promtool unit tests and
 * the runbook stay valid and consistent.
 *
 * - promtool (Debian package `prometheus`) checks the config, the rules and runs the unit tests.
 *   Without promtool on PATH these tests are skipped locally and FAIL in CI (`CI` set).
 * - The rest is checked here, because promtool cannot: every alert has a severity, summary,
 *   description and a runbook_url whose anchor exists in runbook.md (and whose section names the
 *   same alert, severity and `for`); every alert has a firing, a pending and a non-firing unit
 *   test; every recording rule is checked by a unit test; rules and tests use only the metric
 *   names the service exports (design §7).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { parse } from 'yaml';
import { z } from 'zod';

/** The repository root: the nearest directory above this file with package.json (works from dist/). */
function findRepoRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json in ${start} or above`);
    dir = parent;
  }
}

/** Absolute path of an executable on PATH, or null. */
function findOnPath(command: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, command);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

const ROOT = findRepoRoot(__dirname);
const PROM_DIR = path.join(ROOT, 'prometheus');
const RULES_DIR = path.join(PROM_DIR, 'rules');
const TESTS_DIR = path.join(PROM_DIR, 'tests');
const ALERTS_FILE = path.join(RULES_DIR, 'alerts.yml');
const RUNBOOK_FILE = path.join(PROM_DIR, 'runbook.md');

const IN_CI = process.env.CI !== undefined && !/^(|0|false|no)$/i.test(process.env.CI.trim());
const PROMTOOL = findOnPath('promtool');
const AMTOOL = findOnPath('amtool');

const SEVERITIES = ['page', 'ticket', 'info'] as const;

/** Metric names the service exports (design §7, prom-client defaults) and Prometheus's `up`. Histograms by base name. */
const EXPORTED_METRICS: ReadonlySet<string> = new Set([
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
  'db_client_connection_wait_time_seconds',
  'db_client_connection_use_time_seconds',
  'db_client_connection_create_time_seconds',
  'db_client_operation_duration_seconds',
  'http_server_request_duration_seconds',
  'db_client_n_plus_one_suspected_total',
  // prom-client defaults
  'process_resident_memory_bytes',
  'process_cpu_seconds_total',
  'process_start_time_seconds',
  'nodejs_eventloop_lag_p99_seconds',
  'nodejs_heap_size_used_bytes',
  'nodejs_heap_size_total_bytes',
  'up',
]);
const HISTOGRAMS: ReadonlySet<string> = new Set([
  'db_client_connection_wait_time_seconds',
  'db_client_connection_use_time_seconds',
  'db_client_connection_create_time_seconds',
  'db_client_operation_duration_seconds',
  'http_server_request_duration_seconds',
]);
/** Prefixes that mark a word in PromQL as one of our metrics (label names such as db_system do not match). */
const METRIC_PREFIXES = ['db_client_', 'http_server_', 'nodejs_', 'process_'];

const ruleSchema = z.object({
  alert: z.string().optional(),
  record: z.string().optional(),
  expr: z.string(),
  for: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
type Rule = z.infer<typeof ruleSchema>;
const ruleFileSchema = z.object({
  groups: z.array(
    z.object({ name: z.string(), interval: z.string().optional(), rules: z.array(ruleSchema) }),
  ),
});
const unitTestFileSchema = z.object({
  rule_files: z.array(z.string()),
  evaluation_interval: z.string().optional(),
  tests: z.array(
    z.object({
      name: z.string().optional(),
      interval: z.string().optional(),
      input_series: z.array(z.object({ series: z.string(), values: z.string() })).optional(),
      promql_expr_test: z
        .array(
          z.object({
            expr: z.string(),
            eval_time: z.string(),
            exp_samples: z.array(z.object({ labels: z.string(), value: z.number() })).nullish(),
          }),
        )
        .optional(),
      alert_rule_test: z
        .array(
          z.object({
            eval_time: z.string(),
            alertname: z.string(),
            exp_alerts: z.array(z.unknown()).nullish(),
          }),
        )
        .optional(),
    }),
  ),
});
type UnitTestFile = z.infer<typeof unitTestFileSchema>;

function readYaml<T>(file: string, schema: z.ZodType<T>): T {
  return schema.parse(parse(fs.readFileSync(file, 'utf8')));
}

function yamlFiles(dir: string, suffix: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith(suffix))
    .sort()
    .map((name) => path.join(dir, name));
}

const ruleFiles = yamlFiles(RULES_DIR, '.yml');
const testFiles = yamlFiles(TESTS_DIR, '.test.yml');
const rules: Rule[] = ruleFiles.flatMap((file) =>
  readYaml(file, ruleFileSchema).groups.flatMap((g) => g.rules),
);
const alerts = rules.filter((r): r is Rule & { alert: string } => r.alert !== undefined);
const records = rules.filter((r): r is Rule & { record: string } => r.record !== undefined);
const unitTests: { file: string; content: UnitTestFile }[] = testFiles.map((file) => ({
  file,
  content: readYaml(file, unitTestFileSchema),
}));

/** Prometheus duration (e.g. `1h30m`) in milliseconds, or null when malformed. */
function durationMs(text: string): number | null {
  const units: Record<string, number> = {
    ms: 1,
    s: 1e3,
    m: 60e3,
    h: 3600e3,
    d: 86400e3,
    w: 604800e3,
    y: 31536000e3,
  };
  if (!/^(\d+(ms|s|m|h|d|w|y))+$/.test(text)) return null;
  let total = 0;
  for (const m of text.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)) total += Number(m[1]) * units[m[2]!]!;
  return total;
}

/** GitHub's anchor for a Markdown heading (lower case, punctuation dropped, spaces to dashes). */
function githubSlug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/** runbook.md sections by anchor: the text from the heading to the next heading. */
function runbookSections(markdown: string): Map<string, string> {
  const sections = new Map<string, string>();
  let current: string | null = null;
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) inFence = !inFence;
    const heading = inFence ? null : /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
    if (heading) {
      let slug = githubSlug(heading[1]!);
      for (let n = 1; sections.has(slug); n++) slug = `${githubSlug(heading[1]!)}-${n}`;
      current = slug;
      sections.set(slug, '');
    } else if (current !== null) {
      sections.set(current, `${sections.get(current)!}${line}\n`);
    }
  }
  return sections;
}

/** Names of our metrics (and `up`) used in a PromQL expression; string literals are ignored. */
function metricsIn(expr: string): string[] {
  const code = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  const names = new Set<string>();
  for (const [word] of code.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    if (word.includes(':')) continue; // recording rules are checked separately
    if (word === 'up' || METRIC_PREFIXES.some((p) => word.startsWith(p))) names.add(word);
  }
  return [...names];
}

/** `foo_bucket` → `foo` when foo is one of our histograms. */
function baseMetric(name: string): string {
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  return m && HISTOGRAMS.has(m[1]!) ? m[1]! : name;
}

function run(command: string, args: string[]): { status: number | null; output: string } {
  const result = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** The promtool path; skips the test locally (with a message) and fails it in CI when missing. */
function requirePromtool(ctx: Mocha.Context): string {
  if (PROMTOOL !== null) return PROMTOOL;
  if (IN_CI) {
    throw new Error(
      'promtool is not on PATH, and CI must have it (Debian/Ubuntu: apt-get install prometheus)',
    );
  }
  console.log(
    '      promtool is not on PATH: skipping (install it with `apt-get install prometheus`; with CI set this test fails)',
  );
  return ctx.skip();
}

describe('prometheus/ config, rules, unit tests and runbook', function () {
  describe('promtool', function () {
    this.timeout(120_000);

    it('check config: prometheus.yml and the rule files it loads are valid', function () {
      const promtool = requirePromtool(this);
      const { status, output } = run(promtool, ['check', 'config', 'prometheus/prometheus.yml']);
      expect(status, output).to.equal(0);
      expect(output).to.include(`${ruleFiles.length} rule files found`);
    });

    it('check rules: every rules file is valid', function () {
      const promtool = requirePromtool(this);
      const { status, output } = run(promtool, [
        'check',
        'rules',
        ...ruleFiles.map((f) => path.relative(ROOT, f)),
      ]);
      expect(status, output).to.equal(0);
    });

    it('test rules: every unit test passes', function () {
      const promtool = requirePromtool(this);
      const { status, output } = run(promtool, [
        'test',
        'rules',
        ...testFiles.map((f) => path.relative(ROOT, f)),
      ]);
      expect(status, output).to.equal(0);
      expect(output).not.to.include('FAILED');
    });

    it('amtool check-config: alertmanager.yml is valid (when amtool is installed)', function () {
      if (AMTOOL === null) {
        console.log(
          '      amtool is not on PATH: skipping (Debian: apt-get install prometheus-alertmanager)',
        );
        this.skip();
      }
      const { status, output } = run(AMTOOL, ['check-config', 'prometheus/alertmanager.yml']);
      expect(status, output).to.equal(0);
    });
  });

  describe('alert rules', function () {
    it('exist, with unique names', function () {
      expect(alerts.length).to.be.greaterThan(0);
      const names = alerts.map((a) => a.alert);
      expect(names, 'duplicate alert names').to.deep.equal([...new Set(names)]);
    });

    it('each has a severity (page|ticket|info), summary, description, runbook_url and a `for` > 0', function () {
      for (const a of alerts) {
        expect(a.labels?.severity, `${a.alert}: labels.severity`).to.be.oneOf([...SEVERITIES]);
        for (const key of ['summary', 'description', 'runbook_url']) {
          expect(a.annotations?.[key]?.trim(), `${a.alert}: annotations.${key}`).to.be.a('string').and.not.be
            .empty;
        }
        const forMs = durationMs(a.for ?? '');
        expect(forMs, `${a.alert}: for "${a.for}"`).to.be.a('number').and.greaterThan(0);
      }
    });

    it('link their runbook_url to the one base and an existing runbook.md section about the same alert', function () {
      const bases = [...fs.readFileSync(ALERTS_FILE, 'utf8').matchAll(/^# runbook_base: (\S+)$/gm)].map(
        (m) => m[1]!,
      );
      expect(bases, 'one "# runbook_base: <url>" line in alerts.yml').to.have.length(1);
      const base = bases[0]!;
      expect(base).to.match(/^https:\/\/.+\/prometheus\/runbook\.md$/);

      const sections = runbookSections(fs.readFileSync(RUNBOOK_FILE, 'utf8'));
      for (const a of alerts) {
        const url = a.annotations!.runbook_url!;
        expect(url.startsWith(`${base}#`), `${a.alert}: ${url} starts with ${base}#`).to.equal(true);
        const anchor = url.slice(base.length + 1);
        expect([...sections.keys()], `${a.alert}: anchor #${anchor} in runbook.md`).to.include(anchor);
        const header = /\*\*Alert:\*\* `([^`]+)` · severity `([^`]+)` · for (\S+)/.exec(
          sections.get(anchor)!,
        );
        expect(
          header,
          `runbook.md#${anchor} starts with "**Alert:** \`name\` · severity \`s\` · for d"`,
        ).to.not.equal(null);
        expect(header![1], `runbook.md#${anchor} alert`).to.equal(a.alert);
        expect(header![2], `runbook.md#${anchor} severity`).to.equal(a.labels!.severity);
        expect(header![3], `runbook.md#${anchor} for`).to.equal(a.for);
      }
    });
  });

  describe('recording rules', function () {
    it('are named level:metric:operations, uniquely', function () {
      expect(records.length).to.be.greaterThan(0);
      for (const r of records) expect(r.record).to.match(/^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$/);
      const names = records.map((r) => r.record);
      expect(names, 'duplicate record names').to.deep.equal([...new Set(names)]);
    });
  });

  describe('metric names', function () {
    it('rules use only metrics the service exports and recording rules that exist', function () {
      const recorded = new Set(records.map((r) => r.record));
      for (const r of rules) {
        const name = r.alert ?? r.record;
        for (const metric of metricsIn(r.expr)) {
          expect(EXPORTED_METRICS.has(baseMetric(metric)), `${name} uses unknown metric ${metric}`).to.equal(
            true,
          );
        }
        for (const [word] of r.expr
          .replace(/"(?:[^"\\]|\\.)*"/g, '""')
          .matchAll(/[a-z_]+:[a-z0-9_]+:[a-z0-9_]+/g)) {
          expect(recorded.has(word), `${name} uses unknown recording rule ${word}`).to.equal(true);
        }
      }
    });

    it('unit tests feed only metrics the service exports', function () {
      for (const { file, content } of unitTests) {
        for (const t of content.tests) {
          for (const { series } of t.input_series ?? []) {
            const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(series)?.[0] ?? '';
            expect(
              EXPORTED_METRICS.has(baseMetric(name)),
              `${path.basename(file)} "${t.name}": ${series}`,
            ).to.equal(true);
          }
        }
      }
    });
  });

  describe('unit-test coverage', function () {
    it('every test file loads rule files that exist', function () {
      expect(testFiles.length).to.be.greaterThan(0);
      for (const { file, content } of unitTests) {
        for (const ruleFile of content.rule_files) {
          expect(
            fs.existsSync(path.resolve(path.dirname(file), ruleFile)),
            `${path.basename(file)}: ${ruleFile}`,
          ).to.equal(true);
        }
      }
    });

    it('every alert has a firing case, a pending case (during `for`) and a non-firing case on healthy data', function () {
      for (const a of alerts) {
        let firing = 0;
        let quietOnHealthyData = 0;
        let pending = 0;
        for (const { content } of unitTests) {
          for (const t of content.tests) {
            const cases = (t.alert_rule_test ?? []).filter((c) => c.alertname === a.alert);
            const fires = cases.filter((c) => (c.exp_alerts ?? []).length > 0).length;
            firing += fires;
            // A test group where the alert never fires is a healthy-data case.
            if (fires === 0) quietOnHealthyData += cases.length;
            pending += (t.promql_expr_test ?? []).filter(
              (e) =>
                e.expr.includes(`alertname="${a.alert}"`) &&
                e.expr.includes('alertstate="pending"') &&
                (e.exp_samples ?? []).length > 0,
            ).length;
          }
        }
        expect(firing, `${a.alert}: alert_rule_test with exp_alerts`).to.be.greaterThan(0);
        expect(quietOnHealthyData, `${a.alert}: test group where it does not fire`).to.be.greaterThan(0);
        expect(
          pending,
          `${a.alert}: promql_expr_test on ALERTS{alertname="${a.alert}", alertstate="pending"}`,
        ).to.be.greaterThan(0);
      }
    });

    it('every recording rule is checked by a promql_expr_test with expected samples', function () {
      const checked = new Set<string>();
      for (const { content } of unitTests) {
        for (const t of content.tests) {
          for (const e of t.promql_expr_test ?? []) {
            if ((e.exp_samples ?? []).length > 0) checked.add(e.expr.trim());
          }
        }
      }
      for (const r of records)
        expect(checked.has(r.record), `promql_expr_test of ${r.record}`).to.equal(true);
    });
  });
});
