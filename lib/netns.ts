/**
 * The one namespace primitive. Node cannot move one thread into another
 * network namespace (setns affects the calling thread only, and libuv's
 * thread pool would not follow), so work inside a namespace is a child
 * process started through nsenter(1).
 */
import { existsSync } from 'node:fs';

/** Prefix argv so that it runs in the network namespace at `netnsPath`. */
export function inNetns(netnsPath: string | undefined, argv: readonly string[]): string[] {
  if (!netnsPath) return [...argv];
  return ['nsenter', `--net=${netnsPath}`, '--', ...argv];
}

export function netnsExists(netnsPath: string): boolean {
  return existsSync(netnsPath);
}
