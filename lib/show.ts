/**
 * A value as an error message shows it: JSON, cut after 100 characters with
 * its real length, so that every message names the value (issue 11: "errors
 * name the value as well as the path") without echoing a 2 MiB one.
 */
const SHOW_MAX = 100;

export function showValue(value: unknown): string {
  // JSON has no Infinity or NaN (JSON.stringify writes null): those are shown as numbers.
  const text =
    typeof value === 'number' && !Number.isFinite(value) ? String(value) : (JSON.stringify(value) ?? String(value));
  if (text.length <= SHOW_MAX) return text;
  const length = typeof value === 'string' ? `${value.length} characters` : `${text.length} characters as JSON`;
  return `${text.slice(0, SHOW_MAX)}… (${length})`;
}
