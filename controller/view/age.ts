/**
 * Ages as kubectl prints them (k8s.io/apimachinery/pkg/util/duration
 * HumanDuration): two or three significant figures, so that an AGE column
 * stays narrow and the units tell old from new at a glance.
 */
const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY_HOURS = 24;
const YEAR_DAYS = 365;

/** "3m" plus "12s", the second unit only when it is not zero (kubectl prints 2m, not 2m0s). */
function withRemainder(major: number, majorUnit: string, minor: number, minorUnit: string): string {
  return minor === 0 ? `${major}${majorUnit}` : `${major}${majorUnit}${minor}${minorUnit}`;
}

/** kubectl's HumanDuration of a duration given in milliseconds. */
export function humanDuration(ms: number): string {
  // Go converts with int(), which truncates toward zero; a second of clock
  // skew between machines still reads as "0s", more is an invalid age.
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 2 * MINUTE) return `${seconds}s`;
  const minutes = Math.floor(seconds / MINUTE);
  if (minutes < 10) return withRemainder(minutes, 'm', seconds % MINUTE, 's');
  if (minutes < 3 * 60) return `${minutes}m`;
  const hours = Math.floor(seconds / HOUR);
  if (hours < 8) return withRemainder(hours, 'h', minutes % 60, 'm');
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / DAY_HOURS);
  if (hours < 8 * DAY_HOURS) return withRemainder(days, 'd', hours % DAY_HOURS, 'h');
  if (days < 2 * YEAR_DAYS) return `${days}d`;
  const years = Math.floor(days / YEAR_DAYS);
  if (days < 8 * YEAR_DAYS) return withRemainder(years, 'y', days % YEAR_DAYS, 'd');
  return `${years}y`;
}

/** The age of an object created at `timestamp` (ISO 8601), as kubectl's AGE column shows it. */
export function ageSince(timestamp: string | undefined, now: Date): string {
  const created = timestamp ? Date.parse(timestamp) : Number.NaN;
  // kubectl prints <unknown> for a zero creationTimestamp; an unparsable one is no better.
  if (Number.isNaN(created)) return '<unknown>';
  return humanDuration(now.getTime() - created);
}
