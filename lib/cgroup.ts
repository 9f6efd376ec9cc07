/**
 * One cgroup v2 per VM pod, the way a kubelet runs pods: the launcher joins
 * it before it starts anything, so dnsmasq, libvirtd, QEMU (libvirt moves it
 * nowhere: qemu.conf has cgroup_controllers = [ ]) and every virsh inherit
 * it (cgroups(7): "a child process created via fork(2) inherits its
 * parent's cgroup memberships"). Teardown then writes "1" to cgroup.kill,
 * which SIGKILLs every member and every process that forks meanwhile
 * (cgroup-v2.rst, "cgroup.kill", Linux 5.14), and waits for "populated 0"
 * in cgroup.events. A process that libvirtd forks as teardown begins can
 * therefore never escape, as a recorded pid list would let it.
 *
 * The v2 hierarchy is found in /proc/self/mountinfo: nodes mount it at
 * /sys/fs/cgroup, hybrid hosts at /sys/fs/cgroup/unified. Without it (or
 * without cgroup.kill) callers fall back to recorded pids and start times.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The directory under the v2 root that holds virtnet's pod cgroups. */
export const CGROUP_PARENT = 'virtnet';
const POD_CGROUP = /^[a-z0-9][a-z0-9-]{0,62}$/u;

/** The cgroup2 mount point, from mountinfo(5) (field 5 is the mount point; the fstype follows " - "). */
export function cgroup2Mount(mountinfo = readMountinfo()): string | undefined {
  for (const line of mountinfo.split('\n')) {
    const [before, after] = line.split(' - ');
    if (after?.split(' ')[0] === 'cgroup2') return before?.split(' ')[4];
  }
  return undefined;
}

function readMountinfo(): string {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return '';
  }
}

/** The pod cgroup's directory for a sandbox name, or undefined without cgroup v2. */
export function podCgroupPath(name: string, mount = cgroup2Mount()): string | undefined {
  if (!POD_CGROUP.test(name)) throw new TypeError(`${JSON.stringify(name)} is not a pod cgroup name`);
  return mount === undefined ? undefined : join(mount, CGROUP_PARENT, name);
}

/**
 * Make the pod's cgroup; undefined when this kernel cannot kill a cgroup
 * (no v2 mount, or a kernel before 5.14 without cgroup.kill).
 */
export function createPodCgroup(name: string): string | undefined {
  const path = podCgroupPath(name);
  if (path === undefined) return undefined;
  mkdirSync(path, { recursive: true });
  if (existsSync(join(path, 'cgroup.kill'))) return path;
  rmdirSync(path);
  return undefined;
}

/** Move a process into the cgroup; "0" moves the writer itself (cgroup-v2.rst, "cgroup.procs"). */
export function joinCgroup(path: string, pid: number | 0 = 0): void {
  writeFileSync(join(path, 'cgroup.procs'), `${pid}\n`);
}

/** The pids in the cgroup now (none when it is gone). */
export function cgroupPids(path: string): number[] {
  try {
    return readFileSync(join(path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function populated(path: string): boolean {
  try {
    return /^populated 1$/mu.test(readFileSync(join(path, 'cgroup.events'), 'utf8'));
  } catch {
    return false; // gone
  }
}

/**
 * Kill everything in the cgroup, wait until it is empty, remove it.
 * Succeeds when the cgroup is already gone; throws if it stays populated.
 */
export async function killCgroup(path: string, timeoutMs = 10_000): Promise<void> {
  if (!existsSync(path)) return;
  if (populated(path)) writeFileSync(join(path, 'cgroup.kill'), '1\n');
  const end = Date.now() + timeoutMs;
  while (populated(path)) {
    if (Date.now() > end)
      throw new Error(
        `cgroup ${path} still holds pids ${cgroupPids(path).join(', ')} ${timeoutMs} ms after cgroup.kill`,
      );
    await new Promise((r) => setTimeout(r, 20));
  }
  try {
    rmdirSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** The name of `path` inside the v2 hierarchy, as /proc/PID/cgroup shows it ("/virtnet/vn-…"). */
export function cgroupName(path: string, mount = cgroup2Mount()): string {
  if (mount === undefined || !path.startsWith(`${mount}/`))
    throw new TypeError(`${path} is not under the cgroup2 mount ${mount ?? '(none)'}`);
  return path.slice(mount.length);
}

/**
 * The v2 cgroup of a process by its name in the hierarchy (cgroups(7): the "0::" line), readable in any mount
 * namespace.
 */
export function cgroupOf(pid: number | 'self' = 'self'): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cgroup`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('0::'))
      ?.slice(3);
  } catch {
    return undefined;
  }
}

/** Whether `pid` is a member of the cgroup at `path` (by cgroupOf's name in the hierarchy). */
export function inCgroup(pid: number, path: string, mount = cgroup2Mount()): boolean {
  const name = cgroupOf(pid);
  return mount !== undefined && name !== undefined && join(mount, name) === path;
}
