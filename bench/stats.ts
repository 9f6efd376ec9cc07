/** Small summary statistics for benchmark samples (milliseconds). */

/**
 * The q-quantile (0..1) by linear interpolation between closest ranks
 * (the "type 7" estimator of R and NumPy's default). NaN for no samples.
 */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] ?? Number.NaN;
  const b = sorted[hi] ?? a;
  return a + (b - a) * (pos - lo);
}

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p95: number;
  max: number;
  mean: number;
}

export function summarize(samples: readonly number[]): Summary {
  const n = samples.length;
  return {
    n,
    min: n ? Math.min(...samples) : Number.NaN,
    p50: quantile(samples, 0.5),
    p95: quantile(samples, 0.95),
    max: n ? Math.max(...samples) : Number.NaN,
    mean: n ? samples.reduce((s, x) => s + x, 0) / n : Number.NaN,
  };
}

/** Round for display and JSON: milliseconds to 0.01 ms. */
export function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** One row of a benchmark's markdown table: label, n, p50, p95 (ms, two decimals). */
export function summaryRow(label: string, samples: readonly number[]): string {
  const s = summarize(samples);
  return `| ${label} | ${s.n} | ${round2(s.p50)} | ${round2(s.p95)} |`;
}
