/**
 * Files of the node that a VM may open (a kernel, an initrd, a disk image).
 * A VMI author is not the node's admin, so a path is allowed only when it
 * names a regular file that lies, after every symlink is resolved, inside a
 * directory the admin listed. The lexical check alone would let
 * /var/lib/virtnet/images/x -> /etc/shadow through, and a block device
 * (/dev/sda as a raw disk) would hand the guest the node's own disk.
 */
import { realpathSync, statSync } from 'node:fs';
import { posix } from 'node:path';

/** Every path: the standalone node's admin runs `virtnet up` themselves. */
export const ANY_HOST_PATH = '/';

function inside(path: string, dir: string): boolean {
  const d = dir === '/' ? '/' : `${dir.replace(/\/+$/u, '')}/`;
  return path.startsWith(d);
}

function resolved(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/** Why `path` may not be opened for a VM, or undefined when it may. */
export function hostPathProblem(path: string, allowedDirs: readonly string[]): string | undefined {
  if (!path.startsWith('/')) return `"${path}" must be an absolute path`;
  if (posix.normalize(path) !== path || path.split('/').includes('..'))
    return `"${path}" must be a normalised path (no "..", "." or "//")`;
  const list = allowedDirs.join(', ');
  if (!allowedDirs.some((d) => inside(path, d)))
    return `"${path}" is outside the directories this node allows VMs to boot from (${list})`;
  const real = resolved(path);
  if (real === undefined) return `"${path}" does not exist`;
  const realDirs = allowedDirs.map((d) => resolved(d) ?? d);
  if (!realDirs.some((d) => inside(real, d)))
    return `"${path}" resolves to "${real}", outside the directories this node allows VMs to boot from (${list})`;
  if (!statSync(real).isFile()) return `"${path}" is not a regular file`;
  return undefined;
}
