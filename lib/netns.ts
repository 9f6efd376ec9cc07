/**
 * The one namespace primitive. Node cannot move one thread into another
 * network namespace (setns affects the calling thread only, and libuv's
 * thread pool would not follow), so work inside a namespace is a child
 * process started through nsenter(1).
 */
import { existsSync } from 'node:fs';
import { exec } from './exec.ts';

const NAMED = /^\/(?:var\/)?run\/netns\/([A-Za-z0-9_.-]+)$/u;

/**
 * Prefix argv so that it runs in the network namespace at `netnsPath`.
 * ip(8) can enter a named namespace itself (`ip -n NAME`, which also looks
 * in /run/netns), saving the nsenter exec; anything else goes through nsenter.
 */
export function inNetns(netnsPath: string | undefined, argv: readonly string[]): string[] {
  if (!netnsPath) return [...argv];
  const named = NAMED.exec(netnsPath)?.[1];
  if (named && argv[0] === 'ip' && named !== '.' && named !== '..') return ['ip', '-n', named, ...argv.slice(1)];
  return ['nsenter', `--net=${netnsPath}`, '--', ...argv];
}

export function netnsExists(netnsPath: string): boolean {
  return existsSync(netnsPath);
}

/** ip-netns(8) names; kept to a safe alphabet so that a name is also a path segment. */
export const NETNS_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/u;

export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

/** `ip netns add`; succeeds if the namespace is already there. */
export async function createNetns(name: string): Promise<void> {
  if (!NETNS_NAME.test(name)) throw new TypeError(`netns name ${JSON.stringify(name)} must match ${NETNS_NAME}`);
  if (netnsExists(netnsPath(name))) return;
  await exec(['ip', 'netns', 'add', name]);
  await exec(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
}

/** `ip netns del`; succeeds if it is already gone. */
export async function deleteNetns(name: string): Promise<void> {
  if (!NETNS_NAME.test(name) || !netnsExists(netnsPath(name))) return;
  await exec(['ip', 'netns', 'del', name]);
}
