/**
 * A small reader for the Prometheus text format and OpenMetrics (samples, labels, exemplars), for
 * asserting on what `/metrics` serves. Comment lines (`# HELP`, `# TYPE`, `# EOF`) are skipped.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  /** OpenMetrics exemplar (`… # {trace_id="…",span_id="…"} value [timestamp]`), if any. */
  readonly exemplar?: { readonly labels: Readonly<Record<string, string>>; readonly value: number };
}

const LABEL_BLOCK = String.raw`\{((?:[^"}]|"(?:[^"\\]|\\.)*")*)\}`;
const SAMPLE_LINE = new RegExp(
  String.raw`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:${LABEL_BLOCK})?\s+(\S+)(?:\s+\S+)?(?:\s+#\s+${LABEL_BLOCK}\s+(\S+)(?:\s+\S+)?)?\s*$`,
);

function parseLabels(block: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  if (!block) return labels;
  for (const m of block.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"/g)) {
    labels[m[1]!] = m[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
  }
  return labels;
}

function parseValue(raw: string): number {
  if (raw === '+Inf') return Infinity;
  if (raw === '-Inf') return -Infinity;
  return Number(raw);
}

/** Every sample of an exposition. Throws on a line that is neither a comment nor a sample. */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const m = SAMPLE_LINE.exec(line);
    if (!m) throw new Error(`unparseable exposition line: ${line}`);
    const sample: Sample = {
      name: m[1]!,
      labels: parseLabels(m[2]),
      value: parseValue(m[3]!),
      ...(m[4] === undefined ? {} : { exemplar: { labels: parseLabels(m[4]), value: parseValue(m[5]!) } }),
    };
    samples.push(sample);
  }
  return samples;
}

/** The samples named `name` whose labels include every pair of `labels`. */
export function samplesOf(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The value of the one sample named `name` with `labels` (0 when there is none). */
export function valueOf(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samplesOf(samples, name, labels);
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value ?? 0;
}
