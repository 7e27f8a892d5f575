/**
 * Generates grafana/dashboards/*.json from the TypeScript definitions.
 *
 *   npm run build && npm run dashboards      (node dist/grafana/src/generate.js)
 *
 * The JSON is committed (Grafana provisioning reads it) and a unit test regenerates it in-process
 * and compares byte for byte, so the committed files never drift from the code. Output is stable:
 * keys in builder order, 2-space indent, trailing newline.
 */
import fs from 'node:fs';
import path from 'node:path';

import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';

import { poolsDashboard } from './pools';
import { serviceDashboard } from './service';

/** Formats a dashboard the way the committed files are formatted. */
export function formatDashboard(d: dashboard.Dashboard): string {
  return `${JSON.stringify(d, null, 2)}\n`;
}

/** Every generated dashboard: file name (inside grafana/dashboards) → file content. */
export function generateDashboards(): Record<string, string> {
  return {
    'pools.json': formatDashboard(poolsDashboard()),
    'service.json': formatDashboard(serviceDashboard()),
  };
}

/**
 * The repository root: the nearest directory at or above `startDir` holding a package.json. The
 * compiled file runs from dist/grafana/src, the sources live in grafana/src; walking up works
 * from both.
 */
export function findRepoRoot(startDir: string = __dirname): string {
  let dir = path.resolve(startDir);
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`No package.json in ${startDir} or above it`);
    dir = parent;
  }
}

/** The directory the JSON is written to and provisioned from. */
export function dashboardsDir(root: string = findRepoRoot()): string {
  return path.join(root, 'grafana', 'dashboards');
}

/** Writes every dashboard; returns the paths written. */
export function writeDashboards(dir: string = dashboardsDir()): string[] {
  fs.mkdirSync(dir, { recursive: true });
  return Object.entries(generateDashboards()).map(([name, content]) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, content);
    return file;
  });
}

if (require.main === module) {
  for (const file of writeDashboards()) process.stdout.write(`wrote ${path.relative(process.cwd(), file)}\n`);
}
