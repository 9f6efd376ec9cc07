/**
 * Name rules shared by every part that builds link names or file names.
 * Link names follow the kernel's dev_valid_name() (net/core/dev.c): at most
 * 15 bytes, not "." or "..", no "/", ":" or whitespace. CNI applies the same
 * rule to CNI_IFNAME (libcni pkg/utils ValidateInterfaceName).
 */
import { createHash } from 'node:crypto';

export const MAX_LINK_NAME_BYTES = 15;

/** Returns why `name` is not a valid link name, or undefined when it is. */
export function linkNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (Buffer.byteLength(name, 'utf8') > MAX_LINK_NAME_BYTES) return `must be at most ${MAX_LINK_NAME_BYTES} bytes`;
  if (name === '.' || name === '..') return 'must not be "." or ".."';
  if (/[/:\s]/u.test(name)) return 'must not contain "/", ":" or whitespace';
  // Not a kernel rule, but every value we pass on argv must be printable.
  if (/[\x00-\x1f\x7f]/u.test(name)) return 'must not contain control characters';
  // Not kernel rules either: ip(8) -batch reads "#" as a comment and strips
  // quotes and backslashes, so such a name could not be passed on safely.
  if (/[#"'\\]/u.test(name)) return 'must not contain #, quotes or backslashes';
  return undefined;
}

/** libcni's rule for container ids and network names (pkg/utils/utils.go). */
export const CNI_ID_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/u;

/** Hex digest, for names derived from longer identifiers. */
export function shortHash(input: string, hexChars: number): string {
  return createHash('sha256').update(input).digest('hex').slice(0, hexChars);
}
