/**
 * docker-compose.yml, the Dockerfile and the files they reference, checked without a Docker
 * engine: the file parses and passes dclint (schema + best practices), every mounted file exists,
 * images are pinned, every service is health-checked and waits for healthy dependencies, and the
 * ports and uids agree across compose, the Dockerfile, Prometheus and Grafana provisioning.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { expect } from 'chai';
import { parse as parseYaml } from 'yaml';

import { PROMETHEUS_DATASOURCE_UID, TEMPO_DATASOURCE_UID } from '../../grafana/src/common';
import { findRepoRoot, generateDashboards } from '../../grafana/src/generate';
import { SCRAPE_JOB } from '../../grafana/src/metrics';

const ROOT = findRepoRoot(__dirname);
const read = (rel: string): string => fs.readFileSync(path.join(ROOT, rel), 'utf8');

interface Healthcheck {
  test?: string | string[];
  disable?: boolean;
  interval?: string;
}
interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  profiles?: string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  volumes?: Array<string | { type?: string; source?: string; target?: string }>;
  configs?: Array<string | { source: string; target?: string }>;
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: Array<string | number | { target?: number; published?: string | number }>;
  command?: string | string[];
  healthcheck?: Healthcheck;
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
  configs?: Record<string, { content?: string; file?: string }>;
}

const compose = parseYaml(read('docker-compose.yml')) as Compose;
const services = compose.services;
const service = (name: string): Service => {
  const s = services[name];
  if (!s) throw new Error(`docker-compose.yml has no service ${name}`);
  return s;
};

/** Compose interpolation of `${VAR:-default}` / `${VAR-default}` / `$$` with an empty environment. */
function interpolate(value: string): string {
  return value
    .replace(/\$\{(\w+)(?::?-([^}]*))?\}/g, (_m, _name: string, def: string | undefined) => def ?? '')
    .replace(/\$\$/g, '$');
}

function env(s: Service): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(s.environment)) {
    for (const kv of s.environment) {
      const i = kv.indexOf('=');
      out[kv.slice(0, i)] = interpolate(kv.slice(i + 1));
    }
  } else {
    for (const [k, v] of Object.entries(s.environment ?? {})) out[k] = interpolate(String(v ?? ''));
  }
  return out;
}

/** Container-side ports of a service's `ports` mappings. */
function containerPorts(s: Service): number[] {
  return (s.ports ?? []).map((p) => {
    if (typeof p === 'object') return Number(p.target);
    const parts = String(p).split('/')[0]?.split(':') ?? [];
    return Number(parts[parts.length - 1]);
  });
}

/** Bind mounts `{host, target}` (host relative to the repository root). */
function bindMounts(s: Service): Array<{ host: string; target: string }> {
  const out: Array<{ host: string; target: string }> = [];
  for (const v of s.volumes ?? []) {
    if (typeof v === 'string') {
      const [host, target] = v.split(':');
      if (host && target && /^[./~]/.test(host)) out.push({ host, target });
    } else if (v.type === 'bind' && v.source && v.target) {
      out.push({ host: v.source, target: v.target });
    }
  }
  return out;
}

function healthcheckText(s: Service): string {
  const t = s.healthcheck?.test;
  return Array.isArray(t) ? t.join(' ') : String(t ?? '');
}

/** `http://host:port...` → {host, port}. */
function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)) };
}

const PROMETHEUS_YML = path.join(ROOT, 'prometheus', 'prometheus.yml');
/** prometheus/ is written by the alerting work; until it lands, the checks on it are pending. */
const prometheusConfigWritten = fs.existsSync(PROMETHEUS_YML);
const PENDING_PROMETHEUS =
  'prometheus/prometheus.yml does not exist yet (written with the Prometheus rules and alerts); ' +
  'the checks on the files under prometheus/ run once it is committed';

interface Datasource {
  name: string;
  type: string;
  uid: string;
  url: string;
  jsonData?: { exemplarTraceIdDestinations?: Array<{ name: string; datasourceUid: string }> };
}
const datasources = (
  parseYaml(read('grafana/provisioning/datasources/datasources.yml')) as { datasources: Datasource[] }
).datasources;
const datasource = (type: string): Datasource => {
  const d = datasources.find((x) => x.type === type);
  if (!d) throw new Error(`no ${type} datasource provisioned`);
  return d;
};

describe('docker compose and Dockerfile (no Docker engine)', () => {
  describe('docker-compose.yml', () => {
    it('passes dclint (compose schema and best-practice rules, .dclintrc) with no errors or warnings', function () {
      this.timeout(60_000);
      const bin = path.join(path.dirname(require.resolve('dclint/package.json')), 'bin', 'dclint.cjs');
      let out: string;
      try {
        out = execFileSync(
          process.execPath,
          [bin, '-f', 'json', '-c', path.join(ROOT, '.dclintrc.yml'), 'docker-compose.yml'],
          { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
        );
      } catch (e) {
        // dclint exits 1 when it finds errors; the JSON report is still on stdout.
        out = String((e as { stdout?: string }).stdout ?? '');
      }
      const report = JSON.parse(out) as Array<{
        filePath: string;
        errorCount: number;
        warningCount: number;
        messages: Array<{ rule: string; message: string; line: number }>;
      }>;
      expect(report).to.have.length(1);
      const messages = report.flatMap((r) =>
        r.messages.map((m) => `line ${m.line}: ${m.message} (${m.rule})`),
      );
      expect(messages).to.deep.equal([]);
      expect(report[0]?.errorCount).to.equal(0);
      expect(report[0]?.warningCount).to.equal(0);
    });

    it('has the expected services; the Supabase ones only in the `supabase` profile', () => {
      const core = ['app', 'prometheus', 'alertmanager', 'grafana', 'tempo'];
      const supabase = ['postgres', 'postgrest', 'supabase-gateway', 'app-supabase'];
      expect(Object.keys(services).sort()).to.deep.equal([...core, ...supabase].sort());
      for (const name of core) expect(service(name).profiles, name).to.equal(undefined);
      for (const name of supabase) expect(service(name).profiles, name).to.deep.equal(['supabase']);
    });

    it('pins every image to an explicit tag (no `latest`, no untagged image)', () => {
      for (const [name, s] of Object.entries(services)) {
        if (s.build !== undefined) {
          expect(s.image, `${name} builds its image; an image name here would make dclint complain`).to.equal(
            undefined,
          );
          continue;
        }
        const image = s.image ?? '';
        const m = /^([\w./-]+):([\w.-]+)(@sha256:[a-f0-9]{64})?$/.exec(image);
        expect(m, `${name}: image "${image}" has no tag`).to.not.equal(null);
        expect(m?.[2], `${name}: ${image}`).to.not.match(/^latest$|^stable$|^main$/);
        // Pinned to a version, not a floating major (e.g. postgres:17 or nginx:alpine).
        expect(m?.[2], `${name}: ${image} is not pinned to a release`).to.match(/^v?\d+\.\d+(\.\d+)?/);
      }
    });

    it('gives every service a healthcheck', () => {
      for (const [name, s] of Object.entries(services)) {
        expect(s.healthcheck, `${name} healthcheck`).to.be.an('object');
        expect(s.healthcheck?.disable, name).to.not.equal(true);
        expect(Array.isArray(s.healthcheck?.test), `${name}: exec-form test (no shell needed)`).to.equal(
          true,
        );
        expect((s.healthcheck?.test as string[])[0], name).to.equal('CMD');
        expect(s.healthcheck?.interval, `${name} interval`).to.be.a('string');
      }
    });

    it('waits for dependencies to be healthy, never on a service of another profile', () => {
      let edges = 0;
      for (const [name, s] of Object.entries(services)) {
        if (s.depends_on === undefined) continue;
        expect(
          Array.isArray(s.depends_on),
          `${name}: depends_on needs the long form with a condition`,
        ).to.equal(false);
        for (const [dep, spec] of Object.entries(s.depends_on as Record<string, { condition?: string }>)) {
          edges++;
          expect(services[dep], `${name} depends on unknown ${dep}`).to.be.an('object');
          expect(spec.condition, `${name} → ${dep}`).to.equal('service_healthy');
          expect(services[dep]?.healthcheck, `${dep} needs a healthcheck`).to.be.an('object');
          // A service without a profile must not wait for one that only starts with a profile.
          if (!s.profiles) expect(services[dep]?.profiles, `${name} → ${dep}`).to.equal(undefined);
        }
      }
      expect(edges).to.be.greaterThan(5);
    });

    it('mounts only files that exist, and declares every named volume and config it uses', function () {
      const missing: string[] = [];
      const pending: string[] = [];
      for (const [name, s] of Object.entries(services)) {
        for (const { host } of bindMounts(s)) {
          const rel = path.normalize(host);
          if (!fs.existsSync(path.join(ROOT, rel))) {
            if (!prometheusConfigWritten && rel.startsWith(`prometheus${path.sep}`))
              pending.push(`${name}: ${host}`);
            else missing.push(`${name}: ${host}`);
          }
        }
        for (const v of s.volumes ?? []) {
          if (typeof v !== 'string') continue;
          const source = v.split(':')[0] ?? '';
          if (!/^[./~]/.test(source)) {
            expect(compose.volumes ?? {}, `${name}: volume ${source} not declared`).to.have.property(source);
          }
        }
        for (const c of s.configs ?? []) {
          const source = typeof c === 'string' ? c : c.source;
          const config = compose.configs?.[source];
          expect(config, `${name}: config ${source} not declared`).to.be.an('object');
          if (config?.file) expect(fs.existsSync(path.join(ROOT, config.file)), config.file).to.equal(true);
        }
        if (s.build !== undefined) {
          const b = typeof s.build === 'string' ? { context: s.build } : s.build;
          const context = path.join(ROOT, b.context ?? '.');
          expect(fs.existsSync(context), `${name}: build context`).to.equal(true);
          expect(
            fs.existsSync(path.join(context, b.dockerfile ?? 'Dockerfile')),
            `${name}: Dockerfile`,
          ).to.equal(true);
        }
      }
      expect(missing, 'bind-mounted paths that do not exist').to.deep.equal([]);
      if (pending.length > 0) {
        console.log(`      (pending: ${pending.join(', ')}: ${PENDING_PROMETHEUS})`);
        this.skip();
      }
    });

    it('the app: port, health endpoint, SQLite volume and trace export agree with the Dockerfile', () => {
      const dockerfile = read('Dockerfile');
      const exposed = [...dockerfile.matchAll(/^EXPOSE\s+(\d+)/gm)].map((m) => Number(m[1]));
      expect(exposed).to.deep.equal([3000]);
      for (const name of ['app', 'app-supabase']) {
        const s = service(name);
        const e = env(s);
        expect(Number(e.PORT), `${name} PORT`).to.equal(exposed[0]);
        expect(containerPorts(s), `${name} ports`).to.deep.equal([exposed[0]]);
        expect(healthcheckText(s), name).to.contain(`http://127.0.0.1:${exposed[0]}/health/ready`);
        expect(hostPort(e.OTEL_EXPORTER_OTLP_ENDPOINT ?? '')).to.deep.equal({ host: 'tempo', port: 4318 });
      }
      const app = service('app');
      const dbPath = env(app).SQLITE_DB_PATH ?? '';
      expect(dockerfile).to.match(new RegExp(`SQLITE_DB_PATH=${dbPath.replace(/[.]/g, '\\.')}\\b`));
      const dataVolume = (app.volumes ?? []).find((v) => typeof v === 'string' && v.endsWith(':/data'));
      expect(dataVolume, 'app keeps /data in a named volume').to.be.a('string');
      expect(path.posix.dirname(dbPath)).to.equal('/data');
      expect(env(app).DATABASE_MODE).to.equal('sqlite');
    });

    it('the Supabase profile: gateway under /rest/v1, PostgREST roles, a key signed with the JWT secret', () => {
      const app = env(service('app-supabase'));
      expect(app.DATABASE_MODE).to.equal('supabase');
      const gateway = hostPort(app.SUPABASE_URL ?? '');
      expect(gateway.host).to.equal('supabase-gateway');
      const nginx = interpolate(compose.configs?.['gateway-nginx']?.content ?? '');
      expect(nginx).to.contain(`listen ${gateway.port};`);
      expect(containerPorts(service('supabase-gateway'))).to.deep.equal([gateway.port]);
      expect(healthcheckText(service('supabase-gateway'))).to.contain(`127.0.0.1:${gateway.port}/`);
      const postgrest = env(service('postgrest'));
      expect(nginx).to.contain(`location /rest/v1/ {`);
      expect(nginx).to.contain(`proxy_pass http://postgrest:${postgrest.PGRST_SERVER_PORT}/;`);

      // The default key is an HS256 JWT for service_role signed with the default secret.
      const [header, payload, signature] = (app.SUPABASE_KEY ?? '').split('.');
      const expected = crypto
        .createHmac('sha256', postgrest.PGRST_JWT_SECRET ?? '')
        .update(`${header}.${payload}`)
        .digest('base64url');
      expect(signature, 'SUPABASE_KEY is signed with PGRST_JWT_SECRET').to.equal(expected);
      expect(JSON.parse(Buffer.from(header ?? '', 'base64url').toString())).to.include({ alg: 'HS256' });
      expect(JSON.parse(Buffer.from(payload ?? '', 'base64url').toString())).to.include({
        role: 'service_role',
      });
      expect((postgrest.PGRST_JWT_SECRET ?? '').length, 'PostgREST wants ≥ 32 characters').to.be.at.least(32);

      // PostgREST logs in as authenticator with the password the role script sets.
      const pg = env(service('postgres'));
      const uri = new URL(postgrest.PGRST_DB_URI ?? '');
      expect(uri.username).to.equal('authenticator');
      expect(decodeURIComponent(uri.password)).to.equal(pg.AUTHENTICATOR_PASSWORD);
      expect(uri.hostname).to.equal('postgres');
      expect(uri.pathname).to.equal(`/${pg.POSTGRES_DB}`);
      expect(postgrest.PGRST_DB_ANON_ROLE).to.equal('anon');
      const roles = compose.configs?.['postgrest-roles']?.content ?? '';
      for (const role of ['anon', 'authenticated', 'service_role', 'authenticator']) {
        expect(roles).to.match(new RegExp(`create role ${role}\\b`));
      }
      expect(healthcheckText(service('postgrest'))).to.equal('CMD postgrest --ready');
      expect(postgrest.PGRST_ADMIN_SERVER_PORT, 'postgrest --ready needs the admin server').to.match(/^\d+$/);

      // Roles before migrations; the migrations come from the repository.
      const targets = (service('postgres').configs ?? []).map((c) =>
        typeof c === 'string' ? c : (c.target ?? ''),
      );
      expect(targets).to.deep.equal([
        '/docker-entrypoint-initdb.d/00-postgrest-roles.sh',
        '/docker-entrypoint-initdb.d/10-apply-migrations.sh',
      ]);
      const migrations = bindMounts(service('postgres')).find((m) => m.target === '/migrations/postgres');
      expect(path.normalize(migrations?.host ?? '')).to.equal(path.normalize('migrations/postgres'));
      expect(compose.configs?.['apply-migrations']?.content).to.contain('/migrations/postgres/*.sql');
      expect(
        fs.readdirSync(path.join(ROOT, 'migrations', 'postgres')).some((f) => f.endsWith('.sql')),
      ).to.equal(true);
    });
  });

  describe('Prometheus, Alertmanager, Tempo and Grafana wiring', () => {
    it('Grafana datasources point at the compose services and their ports', () => {
      const checks: Array<[string, string]> = [
        ['prometheus', 'prometheus'],
        ['tempo', 'tempo'],
        ['alertmanager', 'alertmanager'],
      ];
      for (const [type, svc] of checks) {
        const { host, port } = hostPort(datasource(type).url);
        expect(host, `${type} datasource host`).to.equal(svc);
        expect(containerPorts(service(svc)), `${svc} ports`).to.include(port);
        expect(healthcheckText(service(svc)), `${svc} healthcheck port`).to.contain(`127.0.0.1:${port}/`);
      }
    });

    it('the dashboards default to the provisioned Prometheus uid; exemplars open the provisioned Tempo', () => {
      const prometheus = datasource('prometheus');
      expect(prometheus.uid).to.equal(PROMETHEUS_DATASOURCE_UID);
      for (const [name, json] of Object.entries(generateDashboards())) {
        const d = JSON.parse(json) as {
          templating: { list: Array<{ name: string; current?: { value?: string } }> };
        };
        const variable = d.templating.list.find((v) => v.name === 'datasource');
        expect(variable?.current?.value, name).to.equal(prometheus.uid);
      }
      const tempo = datasource('tempo');
      expect(tempo.uid).to.equal(TEMPO_DATASOURCE_UID);
      expect(prometheus.jsonData?.exemplarTraceIdDestinations).to.deep.equal([
        { name: 'trace_id', datasourceUid: tempo.uid },
      ]);
      const uids = datasources.map((d) => d.uid);
      expect(new Set(uids).size).to.equal(uids.length);
    });

    it('Grafana mounts the provisioning and the dashboards where the provider reads them', () => {
      const mounts = bindMounts(service('grafana'));
      const target = (host: string): string | undefined =>
        mounts.find((m) => path.normalize(m.host) === path.normalize(host))?.target;
      expect(target('grafana/provisioning')).to.equal('/etc/grafana/provisioning');
      const providers = (
        parseYaml(read('grafana/provisioning/dashboards/dashboards.yml')) as {
          providers: Array<{ type: string; options: { path: string } }>;
        }
      ).providers;
      expect(providers).to.have.length(1);
      expect(target('grafana/dashboards')).to.equal(providers[0]?.options.path);
      const home = env(service('grafana')).GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ?? '';
      expect(path.posix.dirname(home)).to.equal(providers[0]?.options.path);
      expect(Object.keys(generateDashboards())).to.include(path.posix.basename(home));
    });

    it('Tempo receives OTLP/HTTP on the port the app exports to', () => {
      const tempoYml = parseYaml(read('tempo/tempo.yml')) as {
        server: { http_listen_port: number };
        distributor: { receivers: { otlp: { protocols: { http: { endpoint: string } } } } };
      };
      const endpoint = tempoYml.distributor.receivers.otlp.protocols.http.endpoint;
      expect(endpoint, 'must listen on all interfaces to be reachable from app').to.match(/^0\.0\.0\.0:/);
      const otlpPort = Number(endpoint.split(':')[1]);
      expect(hostPort(env(service('app')).OTEL_EXPORTER_OTLP_ENDPOINT ?? '').port).to.equal(otlpPort);
      expect(containerPorts(service('tempo'))).to.include(otlpPort);
      expect(hostPort(datasource('tempo').url).port).to.equal(tempoYml.server.http_listen_port);
    });

    it('Prometheus keeps exemplars and reads its config from prometheus/', () => {
      const prom = service('prometheus');
      const command = (prom.command as string[]).join(' ');
      expect(command).to.contain('--enable-feature=exemplar-storage');
      expect(command).to.contain('--config.file=/etc/prometheus/prometheus.yml');
      expect(bindMounts(prom).map((m) => [path.normalize(m.host), m.target])).to.deep.include([
        'prometheus',
        '/etc/prometheus',
      ]);
      const am = service('alertmanager');
      expect((am.command as string[]).join(' ')).to.contain(
        '--config.file=/etc/alertmanager/alertmanager.yml',
      );
      expect(bindMounts(am).map((m) => [path.normalize(m.host), m.target])).to.deep.include([
        path.normalize('prometheus/alertmanager.yml'),
        '/etc/alertmanager/alertmanager.yml',
      ]);
    });

    it('prometheus/prometheus.yml scrapes app:3000 as job bookswriter-data and alerts to alertmanager:9093', function () {
      if (!prometheusConfigWritten) {
        console.log(`      (pending: ${PENDING_PROMETHEUS})`);
        this.skip();
      }
      const config = parseYaml(fs.readFileSync(PROMETHEUS_YML, 'utf8')) as {
        scrape_configs?: Array<{ job_name: string; static_configs?: Array<{ targets?: string[] }> }>;
        alerting?: { alertmanagers?: Array<{ static_configs?: Array<{ targets?: string[] }> }> };
        rule_files?: string[];
      };
      const job = config.scrape_configs?.find((j) => j.job_name === SCRAPE_JOB);
      expect(job, `scrape job ${SCRAPE_JOB}`).to.be.an('object');
      const targets = (job?.static_configs ?? []).flatMap((c) => c.targets ?? []);
      const appPort = containerPorts(service('app'))[0];
      expect(targets).to.include(`app:${appPort}`);
      const amTargets = (config.alerting?.alertmanagers ?? []).flatMap((a) =>
        (a.static_configs ?? []).flatMap((c) => c.targets ?? []),
      );
      expect(amTargets).to.include(`alertmanager:${containerPorts(service('alertmanager'))[0]}`);
      expect(hostPort(datasource('prometheus').url).port).to.equal(containerPorts(service('prometheus'))[0]);
      // Rule files resolve inside the mounted directory (relative to the config file).
      for (const pattern of config.rule_files ?? []) {
        expect(path.isAbsolute(pattern), `${pattern} must be relative to prometheus/`).to.equal(false);
        const dir = path.join(ROOT, 'prometheus', path.dirname(pattern));
        expect(fs.existsSync(dir), `rule_files ${pattern}`).to.equal(true);
      }
    });
  });

  describe('Dockerfile and .dockerignore', () => {
    const dockerfile = read('Dockerfile');

    it('is multi-stage on a pinned node:20 bookworm-slim, builds better-sqlite3 and prunes dev deps', () => {
      const arg = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1] ?? '';
      expect(arg).to.match(/^node:20\.\d+\.\d+-bookworm-slim$/);
      const froms = [...dockerfile.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\w+))?/gim)].map((m) => [m[1], m[2]]);
      expect(froms).to.deep.equal([
        ['${NODE_IMAGE}', 'build'],
        ['${NODE_IMAGE}', 'runtime'],
      ]);
      expect(dockerfile).to.match(/apt-get install[^\n]*python3 make g\+\+/);
      expect(dockerfile).to.match(/^RUN npm ci\b/m);
      expect(dockerfile).to.match(/npm run build/);
      expect(dockerfile).to.match(/npm prune --omit=dev/);
      expect(dockerfile).to.not.match(/:latest\b/);
    });

    it('runs as a non-root user with /data as the SQLite volume, a node healthcheck and the main entry', () => {
      const runtime = dockerfile.slice(dockerfile.search(/^FROM .* AS runtime/m));
      expect(runtime).to.match(/^USER node$/m);
      expect(runtime).to.match(/^VOLUME \["\/data"\]$/m);
      expect(runtime).to.match(/chown node:node \/data/);
      const healthcheck = /^HEALTHCHECK [^\n]*\\\n\s*(CMD .*)$/m.exec(runtime)?.[1] ?? '';
      expect(healthcheck).to.match(/^CMD \["node", "-e", ".*\/health\/ready/);
      expect(healthcheck, 'the slim image has neither').to.not.match(/curl|wget/);
      const cmd = /^CMD (\[.*\])$/m.exec(runtime)?.[1] ?? '[]';
      expect(JSON.parse(cmd)).to.deep.equal(['node', 'dist/src/main.js']);
      const pkg = JSON.parse(read('package.json')) as { main?: string; scripts?: Record<string, string> };
      expect(pkg.main).to.equal('dist/src/main.js');
      expect(pkg.scripts?.build).to.be.a('string');
    });

    it('.dockerignore lets in only what the build needs', () => {
      const lines = read('.dockerignore')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#'));
      expect(lines[0], 'allow-list: ignore everything first').to.equal('*');
      for (const needed of [
        '!package.json',
        '!package-lock.json',
        '!tsconfig.json',
        '!src/',
        '!migrations/',
      ]) {
        expect(lines).to.include(needed);
      }
      expect(lines.some((l) => /node_modules|dist|test|\.git/.test(l) && l.startsWith('!'))).to.equal(false);
      // Everything the Dockerfile COPYs from the context is let in.
      for (const m of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
        for (const src of (m[1] ?? '').split(/\s+/)) {
          const allowed = lines.some((l) => l === `!${src}` || l === `!${src}/`);
          expect(allowed, `COPY ${src} is excluded by .dockerignore`).to.equal(true);
        }
      }
    });
  });
});
