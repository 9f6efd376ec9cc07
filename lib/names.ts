/**
 * Name rules shared by every part that builds link names or file names.
 * Link names follow the kernel's dev_valid_name() (net/core/dev.c): at most
 * 15 bytes, not "." or "..", no "/", ":" or whitespace. CNI applies the same
 * rule to CNI_IFNAME (libcni pkg/utils ValidateInterfaceName).
 */
import { openSync, readSync, closeSync } from 'node:fs';

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

/**
 * A short, stable hex name for a longer identifier: 64-bit FNV-1a
 * (draft-eastlake-fnv). Not cryptographic, and needn't be: it only spreads
 * names; its point is that the exec'd CNI plugin need not load node:crypto,
 * which costs a few ms of its start-up.
 */
export function shortHash(input: string, hexChars: number): string {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(input, 'utf8')) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0').slice(0, hexChars);
}

/** Random bytes from the kernel, without loading node:crypto (see shortHash). */
export function urandom(n: number): Uint8Array {
  const buf = Buffer.alloc(n);
  const fd = openSync('/dev/urandom', 'r');
  try {
    readSync(fd, buf, 0, n, null);
  } finally {
    closeSync(fd);
  }
  return buf;
}
