// How the server words values in Table cells: ages as apimachinery's
// duration.HumanDuration writes them, and the simple JSONPath of a printer
// column (".status.interfaces[0].ipAddress").
// https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#additional-printer-columns
import type { Obj } from './util.ts';

/** "45s", "3m20s", "12m", "5h7m", "2d3h", "1y30d": coarser as the duration grows, as HumanDuration does. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  const both = (big: number, bigUnit: string, small: number, smallUnit: string) =>
    small === 0 ? `${big}${bigUnit}` : `${big}${bigUnit}${small}${smallUnit}`;
  if (minutes < 10) return both(minutes, 'm', seconds % 60, 's');
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return both(hours, 'h', minutes % 60, 'm');
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return both(days, 'd', hours % 24, 'h');
  if (hours < 24 * 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (hours < 24 * 365 * 8) return both(years, 'y', days % 365, 'd');
  return `${years}y`;
}

/** The age of an RFC 3339 timestamp, "<unknown>" without one (ConvertToHumanReadableDateType). */
export function humanAge(timestamp: unknown): string {
  const at = typeof timestamp === 'string' ? Date.parse(timestamp) : NaN;
  return Number.isNaN(at) ? '<unknown>' : humanDuration(Date.now() - at);
}

/**
 * The value at a printer column's path: dotted fields and [N] indexes, the
 * subset that CRD validation allows for additionalPrinterColumns. Anything
 * else in the path is refused, so a column never silently prints nothing.
 */
export function jsonPathValue(obj: Obj, path: string): unknown {
  if (!/^(\.[A-Za-z0-9_-]+|\[\d+\])+$/u.test(path))
    throw new Error(`printer column path ${JSON.stringify(path)}: only .field and [N] steps are supported`);
  let v: unknown = obj;
  for (const m of path.matchAll(/\.([A-Za-z0-9_-]+)|\[(\d+)\]/gu)) {
    if (v === undefined || v === null || typeof v !== 'object') return undefined;
    v = m[2] !== undefined ? (Array.isArray(v) ? v[Number(m[2])] : undefined) : (v as Obj)[m[1]!];
  }
  return v;
}
