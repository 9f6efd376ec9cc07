/**
 * The sysctl driver. /proc/sys/net is per network namespace and follows the
 * reading process, so in our own namespace it is plain file I/O; in another
 * namespace it is sysctl(8) through nsenter.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { exec } from './exec.ts';
import { inNetns } from './netns.ts';

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

export async function setSysctlsIn(netns: string, values: Record<string, string>): Promise<void> {
  const args = Object.entries(values).map(([k, v]) => {
    pathOf(k);
    if (!/^[0-9a-zA-Z ._-]*$/u.test(v)) throw new TypeError(`invalid sysctl value ${JSON.stringify(v)}`);
    return `${k}=${v}`;
  });
  if (args.length) await exec(inNetns(netns, ['sysctl', '-q', '-w', ...args]));
}
