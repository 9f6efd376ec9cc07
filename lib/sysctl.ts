/**
 * The sysctl driver. /proc/sys/net is per network namespace and follows the
 * reading process, so in our own namespace it is plain file I/O; in another
 * namespace it is sysctl(8) through nsenter.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const KEY = /^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$/u;

function pathOf(key: string): string {
  if (!KEY.test(key) || key.includes('..')) throw new TypeError(`invalid sysctl key ${JSON.stringify(key)}`);
  return `/proc/sys/${key.replaceAll('.', '/')}`;
}

export function readSysctl(key: string): string {
  return readFileSync(pathOf(key), 'utf8').trim();
}

/** Write only when the value differs, so the common case is a single read. */
export function ensureSysctl(key: string, value: string): void {
  if (readSysctl(key) !== value) writeFileSync(pathOf(key), value);
}
