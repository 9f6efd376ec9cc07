/**
 * A strict reader of the Prometheus text exposition format 0.0.4
 * (prometheus.io/docs/instrumenting/exposition_formats): every line is a
 * HELP, a TYPE or a sample; samples belong to a declared family; label
 * syntax and values are checked; histograms have ascending `le` buckets
 * ending in +Inf whose counts never fall, and _sum and _count.
 * Throws on the first violation, naming the line.
 */
export interface Family {
  name: string;
  type: string;
  help: string;
  samples: Array<{ name: string; labels: Record<string, string>; value: number }>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/u;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)( -?\d+)?$/u;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\["\\n])*)"(,|$)/uy;

function labels(text: string, line: string): Record<string, string> {
  const out: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const m = LABEL.exec(text);
    if (!m) throw new Error(`bad labels in: ${line}`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const familyOf = (sample: string) =>
    families.get(sample) ?? families.get(sample.replace(/_(bucket|sum|count|total)$/u, ''));
  for (const line of text.split('\n')) {
    if (!line) continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/u.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta;
      if (!NAME.test(name!)) throw new Error(`bad metric name: ${line}`);
      const f = families.get(name!) ?? { name: name!, type: 'untyped', help: '', samples: [] };
      if (kind === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest!))
          throw new Error(`bad type: ${line}`);
        f.type = rest!;
      } else f.help = rest!;
      families.set(name!, f);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a sample: ${line}`);
    const f = familyOf(m[1]!);
    if (!f) throw new Error(`sample of an undeclared family: ${line}`);
    f.samples.push({ name: m[1]!, labels: m[3] ? labels(m[3], line) : {}, value: Number(m[4]) });
  }
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function checkHistogram(f: Family): void {
  const series = new Map<string, Array<{ le: number; v: number }>>();
  for (const s of f.samples.filter((x) => x.name === `${f.name}_bucket`)) {
    const { le, ...rest } = s.labels;
    if (le === undefined) throw new Error(`${f.name}: a bucket without le`);
    const k = JSON.stringify(rest);
    series.set(k, [...(series.get(k) ?? []), { le: le === '+Inf' ? Infinity : Number(le), v: s.value }]);
  }
  for (const [k, buckets] of series) {
    buckets.forEach((b, i) => {
      if (i && (b.le <= buckets[i - 1]!.le || b.v < buckets[i - 1]!.v))
        throw new Error(`${f.name}${k}: buckets out of order or falling`);
    });
    if (buckets.at(-1)!.le !== Infinity) throw new Error(`${f.name}${k}: no +Inf bucket`);
    for (const suffix of ['_sum', '_count']) {
      if (!f.samples.some((s) => s.name === `${f.name}${suffix}` && JSON.stringify(s.labels) === k))
        throw new Error(`${f.name}${k}: no ${suffix}`);
    }
  }
}
