/**
 * A small reader for what `/metrics` serves (Prometheus text 0.0.4 or OpenMetrics): samples with
 * their labels, and the `# TYPE` of each family, so tests can assert on series and values.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Exposition {
  readonly samples: readonly Sample[];
  /** Family name → type (`counter`, `gauge`, `histogram`, …). */
  readonly types: ReadonlyMap<string, string>;
}

const LABELS = String.raw`\{((?:[^"}]|"(?:[^"\\]|\\.)*")*)\}`;
// name{labels} value [timestamp] [# {exemplar labels} value [timestamp]]
const SAMPLE = new RegExp(String.raw`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:${LABELS})?\s+(\S+)(?:\s+\S+)?(?:\s+#\s.*)?$`);

function parseLabels(block: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const m of (block ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
    labels[m[1]!] = m[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
  }
  return labels;
}

/** Parses an exposition; throws on a line that is neither a comment nor a sample. */
export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`unparseable exposition line: ${line}`);
    const raw = m[3]!;
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    samples.push({ name: m[1]!, labels: parseLabels(m[2]), value });
  }
  return { samples, types };
}

/** Samples named `name` whose labels include every given label. */
export function select(exposition: Exposition, name: string, labels: Record<string, string> = {}): Sample[] {
  return exposition.samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}

/** The one sample matching; throws when there are none or several. */
export function valueOf(exposition: Exposition, name: string, labels: Record<string, string> = {}): number {
  const found = select(exposition, name, labels);
  if (found.length !== 1) {
    throw new Error(`expected one ${name}${JSON.stringify(labels)} sample, found ${found.length}`);
  }
  return found[0]!.value;
}

/** Sum of every matching sample (0 when none). */
export function sumOf(exposition: Exposition, name: string, labels: Record<string, string> = {}): number {
  return select(exposition, name, labels).reduce((sum, s) => sum + s.value, 0);
}

/** A stable key of a series: name plus sorted labels. */
export function seriesKey(sample: Sample): string {
  const labels = Object.keys(sample.labels)
    .sort()
    .map((k) => `${k}="${sample.labels[k]}"`)
    .join(',');
  return `${sample.name}{${labels}}`;
}
