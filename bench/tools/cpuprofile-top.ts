/**
 * Prints the functions with the most self time in a V8 CPU profile (`node --cpu-prof`):
 *
 *   node dist/bench/tools/cpuprofile-top.js <file.cpuprofile> [--top 25] [--filter text]
 *
 * Self time is attributed from the profile's samples (each sample's leaf node); the total column
 * adds the time of everything called below the function (counted once per sample).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface TopEntry {
  readonly name: string;
  readonly selfMs: number;
  readonly selfPct: number;
  readonly totalMs: number;
}

function label(node: ProfileNode): string {
  const f = node.callFrame;
  const file = f.url === '' ? '' : ` ${path.basename(f.url.replace(/^file:\/\//, ''))}:${f.lineNumber + 1}`;
  return `${f.functionName || '(anonymous)'}${file}`;
}

/** Self and total time per function (by name + file + line) of a parsed profile. */
export function topFunctions(profile: CpuProfile): TopEntry[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let all = 0;
  profile.samples.forEach((id, i) => {
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    all += dt;
    const leaf = byId.get(id);
    if (leaf === undefined) return;
    const leafName = label(leaf);
    self.set(leafName, (self.get(leafName) ?? 0) + dt);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const name = label(byId.get(cur)!);
      if (seen.has(name)) continue;
      seen.add(name);
      total.set(name, (total.get(name) ?? 0) + dt);
    }
  });
  return [...self.entries()]
    .map(([name, ms]) => ({ name, selfMs: ms, selfPct: (100 * ms) / all, totalMs: total.get(name) ?? ms }))
    .sort((a, b) => b.selfMs - a.selfMs);
}

function cli(): void {
  const { values, positionals } = parseArgs({
    options: { top: { type: 'string', default: '25' }, filter: { type: 'string' } },
    allowPositionals: true,
  });
  const file = positionals[0];
  if (file === undefined) {
    console.error(
      'usage: node dist/bench/tools/cpuprofile-top.js <file.cpuprofile> [--top 25] [--filter text]',
    );
    process.exit(2);
  }
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  let entries = topFunctions(profile);
  if (values.filter !== undefined) entries = entries.filter((e) => e.name.includes(values.filter!));
  const top = entries.slice(0, Number(values.top));
  console.log(`${'self ms'.padStart(9)} ${'self %'.padStart(7)} ${'total ms'.padStart(9)}  function`);
  for (const e of top) {
    console.log(
      `${e.selfMs.toFixed(1).padStart(9)} ${e.selfPct.toFixed(1).padStart(7)} ${e.totalMs.toFixed(1).padStart(9)}  ${e.name}`,
    );
  }
}

if (require.main === module) cli();
