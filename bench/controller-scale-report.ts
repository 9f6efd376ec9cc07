/**
 * bench/controller-scale.ts's tables: per-VMI samples pooled over the runs
 * (p50, p99, max), per-run figures with their median, the controller's API
 * requests by kind, and one summary line.
 */
import { quantile, round2 } from './stats.ts';

export const PHASES = ['cold start', 'resync', 'Running'] as const;
export type Phase = (typeof PHASES)[number];

export interface RunResult {
  /** Per-VMI (or per-reconcile) milliseconds, by table label. */
  samples: Record<string, number[]>;
  /** One number per run, by table label (the unit in the label). */
  figures: Record<string, number>;
  /** The controller's API requests in each phase, by kind ("POST pods"). */
  requests: Record<Phase, Map<string, number>>;
}

const fmt = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? String(round2(x)) : 'n/a');
const median = (xs: number[]) => quantile(xs, 0.5);
const total = (m: Map<string, number>) => [...m.values()].reduce((s, x) => s + x, 0);

function sampleRows(results: RunResult[]): string[] {
  const head = [
    '| per VMI (or reconcile), pooled over the runs | n | p50 (ms) | p99 (ms) | max (ms) |',
    '|---|---|---|---|---|',
  ];
  return [
    ...head,
    ...Object.keys(results[0]!.samples).map((label) => {
      const xs = results.flatMap((r) => r.samples[label] ?? []);
      return (
        `| ${label} | ${xs.length} | ${fmt(quantile(xs, 0.5))} | ${fmt(quantile(xs, 0.99))} | ` +
        `${fmt(xs.length ? Math.max(...xs) : Number.NaN)} |`
      );
    }),
  ];
}

function figureRows(results: RunResult[]): string[] {
  const head = [
    `| per run | ${results.map((_, i) => `run ${i + 1}`).join(' | ')} | median |`,
    `|---|${results.map(() => '---|').join('')}---|`,
  ];
  const row = (label: string, xs: number[]) => `| ${label} | ${xs.map(fmt).join(' | ')} | ${fmt(median(xs))} |`;
  const figures = Object.keys(results[0]!.figures).map((label) =>
    row(
      label,
      results.map((r) => r.figures[label]!),
    ),
  );
  const requests = PHASES.map((p) =>
    row(
      `controller API requests, ${p}`,
      results.map((r) => total(r.requests[p])),
    ),
  );
  return [...head, ...figures, ...requests];
}

function breakdown(r: RunResult): string[] {
  return PHASES.map((p) => {
    const kinds = [...r.requests[p].entries()].sort((a, b) => b[1] - a[1]).map(([k, c]) => `${k} ${c}`);
    return `  ${p}: ${kinds.join(', ') || 'none'}`;
  });
}

/** The median over the runs of a figure, for the summary line. */
function m(results: RunResult[], label: string): string {
  const xs = results.map((r) => r.figures[label]);
  if (xs.some((x) => x === undefined)) throw new Error(`no figure "${label}" to summarize`);
  return fmt(median(xs as number[]));
}

export function summaryLine(results: RunResult[], vmis: number): string {
  const cpu = median(
    results.map((r) =>
      ['cold start', 'resync pass', 'Running'].reduce((s, p) => s + r.figures[`controller CPU, ${p} (ms)`]!, 0),
    ),
  );
  const requests = median(results.map((r) => PHASES.reduce((s, p) => s + total(r.requests[p]), 0)));
  return (
    `summary: ${vmis} VMIs, median of ${results.length} run(s): cold start ` +
    `${m(results, 'cold start: VMIs reconciled per second (to the last status)')} VMIs/s (first pod ` +
    `${m(results, 'cold start: start() → first launcher pod (ms)')} ms, last status ` +
    `${m(results, 'cold start: start() → last VMI status Scheduling (ms)')} ms after start()); resync pass ` +
    `${m(results, 'resync: one pass over every VMI (ms)')} ms (${m(results, 'resync: reconciles per second')}/s); ` +
    `all Running ${m(results, 'Running: first pod write → last VMI Running (ms)')} ms ` +
    `(${m(results, 'Running: VMIs per second')} VMIs/s); controller peak RSS ` +
    `${m(results, 'controller peak RSS (MiB)')} MiB, CPU ${fmt(cpu)} ms; ${fmt(requests)} API requests on ` +
    `${m(results, 'controller TCP connections opened, all phases')} TCP connections`
  );
}

export function report(results: RunResult[], title: string): string[] {
  return [
    title,
    ...sampleRows(results),
    '',
    ...figureRows(results),
    '',
    "the controller's API requests in run 1, by kind:",
    ...breakdown(results[0]!),
  ];
}
