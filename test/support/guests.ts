/**
 * The project's guests for tests and benchmarks, built or reused from their
 * caches by scripts/guest.sh: the busybox test guest, and the Debian 12
 * cloud image (scripts/guest/debian.sh), whose qcow2 path is the script's
 * last line.
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

/** The Debian cloud guest's qcow2 (a cold build takes a few minutes; progress goes to stderr). */
export function debianGuest(): string {
  const out = execFileSync('bash', [resolve('scripts/guest.sh'), 'debian'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 1_200_000,
  });
  return out.trim().split('\n').at(-1)!;
}
