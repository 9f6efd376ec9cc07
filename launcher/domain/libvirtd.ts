/**
 * One libvirtd per pod, as KubeVirt runs it: in the launcher's own mount
 * namespace, with tmpfs over libvirt's run, lib, cache and log directories
 * and a private /etc/libvirt, so two pods on a node never share a pid file,
 * a socket or a domain list (shared/reference/measured-here.md, "libvirt per pod").
 */
import { mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { nextFileChange } from '../../lib/watch.ts';
import { exec } from '../../lib/exec.ts';
import { startDaemon, type Daemon } from '../../lib/daemon.ts';

const PRIVATE_DIRS = ['/run/libvirt', '/var/lib/libvirt', '/var/cache/libvirt', '/var/log/libvirt'];

/** qemu.conf(5): run QEMU as root with no security driver, and log stdio to files (no virtlogd). */
export const QEMU_CONF = [
  'user = "root"',
  'group = "root"',
  'security_driver = "none"',
  'cgroup_controllers = [ ]',
  'remember_owner = 0',
  'stdio_handler = "file"',
  '',
].join('\n');

/**
 * libvirtd.conf: its one socket, and thread pools sized for one launcher's
 * sequential virsh calls. The defaults (5 workers, 5 priority workers, 5
 * admin workers, all started at once) are 20 threads; pools still grow to
 * max_workers (20) on demand, and one priority worker keeps a destroy
 * possible while the others are stuck. With qemuOnlyDriverDir, libvirtd
 * runs 7 threads instead of 20 (measured).
 */
export function libvirtdConf(socketDir: string): string {
  return [
    `unix_sock_dir = "${socketDir}"`,
    'unix_sock_rw_perms = "0700"',
    'auth_unix_rw = "none"',
    'log_outputs = "3:stderr"',
    'min_workers = 1',
    'prio_workers = 1',
    'admin_min_workers = 1',
    '',
  ].join('\n');
}

/**
 * The launcher's marker of its private mount namespace: `pending` from whoever started it under
 * PRIVATE_MOUNTNS_WRAPPER, then the namespace's id (/proc/self/ns/mnt), which launcher/main.ts records.
 */
export const PRIVATE_MOUNTNS_ENV = 'VIRTNET_LAUNCHER_MOUNTNS';
export const PRIVATE_MOUNTNS_PENDING = 'pending';

/**
 * unshare(1) without --fork execs the command in place, in a new mount namespace with every mount made
 * private (mount_namespaces(7), "MS_PRIVATE"): the pid stays the one its caller started.
 */
export const PRIVATE_MOUNTNS_WRAPPER: readonly string[] = ['unshare', '--mount', '--propagation', 'private', '--'];

/**
 * Whether no mount of this namespace propagates to a peer group (mountinfo(5): a `shared:N` optional
 * field marks a mount that does; `master:N` only receives). It holds after PRIVATE_MOUNTNS_WRAPPER, and
 * not in the host's namespace, where / is shared: a `pending` marker without the wrapper is refused.
 */
export function mountsPropagateNowhere(mountinfo: string): boolean {
  const optionalFields = (line: string) => (line.split(' - ')[0] ?? '').split(' ').slice(6);
  return !mountinfo.split('\n').some((line) => optionalFields(line).some((f) => f.startsWith('shared:')));
}

/** Mounting is only safe in a mount namespace of our own, which main.ts makes. */
export function assertPrivateMountNamespace(): void {
  if (process.env[PRIVATE_MOUNTNS_ENV] !== readlinkSync('/proc/self/ns/mnt')) {
    throw new Error(
      'launcher: refusing to mount outside a private mount namespace; start it through virtnet-launcher run',
    );
  }
}

const QEMU_DRIVER = 'libvirt_driver_qemu.so';
const MULTIARCH: Record<string, string> = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };

/** Where distributions put libvirt's driver modules (its DRIVERDIR, <libdir>/libvirt/connection-driver). */
export function connectionDriverDirs(arch: string = process.arch): string[] {
  const tuple = MULTIARCH[arch];
  return [
    ...(tuple ? [`/usr/lib/${tuple}/libvirt/connection-driver`] : []),
    '/usr/lib64/libvirt/connection-driver',
    '/usr/lib/libvirt/connection-driver',
  ];
}

/**
 * libvirtd loads every connection driver module in its DRIVERDIR (network,
 * storage, nodedev with a udev thread, nwfilter, secret, interface); a pod
 * uses QEMU's alone (create, destroy, domstate, console on file disks and
 * ethernet NICs). LIBVIRT_DRIVER_DIR names another directory (libvirt's
 * src/driver.c), and a driver that is not required and not there is skipped
 * (src/util/virmodule.c), so a directory holding a link to the QEMU driver
 * only loads that one: ~2.5 MiB less RSS per libvirtd, measured. Undefined
 * when the QEMU driver is not found: libvirtd then loads its own directory.
 */
export function qemuOnlyDriverDir(base: string, systemDirs = connectionDriverDirs()): string | undefined {
  const system = systemDirs.find((d) => existsSync(join(d, QEMU_DRIVER)));
  if (system === undefined) return undefined;
  const dir = join(base, 'drivers');
  mkdirSync(dir, { recursive: true });
  rmSync(join(dir, QEMU_DRIVER), { force: true });
  symlinkSync(join(system, QEMU_DRIVER), join(dir, QEMU_DRIVER));
  return dir;
}

/** libvirtd's environment: the launcher's, with LIBVIRT_DRIVER_DIR when a QEMU-only one was made. */
export function libvirtdEnv(driverDir: string | undefined, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return driverDir === undefined ? base : { ...base, LIBVIRT_DRIVER_DIR: driverDir };
}

/** The lowest CPU of a Cpus_allowed_list line in proc_pid_status(5) ("0-3,8-11"), or undefined without one. */
export function lowestAllowedCpu(procStatus: string): number | undefined {
  const list = /^Cpus_allowed_list:[ \t]*(\S*)$/mu.exec(procStatus)?.[1] ?? '';
  const firsts = list.split(',').map((range) => range.split('-')[0] ?? '');
  const cpus = firsts.filter((n) => /^\d+$/u.test(n)).map(Number);
  return cpus.length > 0 ? Math.min(...cpus) : undefined;
}

/**
 * libvirtd's argv, run on one CPU: the node's lowest allowed one. libvirt 9.0 drops the QEMU
 * capability cache and re-probes QEMU (~4 s, "host cpuid changed" in virQEMUCapsIsValid) when the
 * host CPUID it reads differs from the cached one, and that CPUID holds the x2APIC ID of the CPU it
 * was read on (leaf 0x1f EDX, measured here), so libvirtds on different CPUs kept invalidating the
 * cache they share: half the starts took 4 s. taskset(1) execs libvirtd in place; libvirt gives QEMU
 * all online CPUs back (qemuProcessInitCpuAffinity, measured: Cpus_allowed_list 0-1).
 */
export function libvirtdArgv(conf: string, cpu: number | undefined): string[] {
  const libvirtd = ['libvirtd', '--config', conf, '--pid-file', '/run/libvirt/libvirtd.pid'];
  return cpu === undefined ? libvirtd : ['taskset', '--cpu-list', String(cpu), ...libvirtd];
}

export interface Libvirtd {
  uri: string;
  daemon: Daemon;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface LibvirtdOptions {
  stateDir: string;
  /** A directory shared by pods for QEMU's capability cache, else a per-pod tmpfs. */
  sharedCacheDir?: string;
}

async function waitFor(path: string, ms: number, daemon: Daemon): Promise<void> {
  let exited: number | undefined;
  void daemon.exited.then((c) => (exited = c));
  const end = Date.now() + ms;
  while (!existsSync(path)) {
    if (exited !== undefined) throw new Error(`libvirtd exited with ${exited} before its socket appeared`);
    if (Date.now() > end) throw new Error(`libvirtd: no socket at ${path} after ${ms} ms`);
    // bind(2) creates the socket's inode, which inotify reports (IN_CREATE); the poll is its floor.
    await nextFileChange(dirname(path), basename(path), 50);
  }
}

export async function startLibvirtd(opts: LibvirtdOptions): Promise<Libvirtd> {
  assertPrivateMountNamespace();
  const base = join(opts.stateDir, 'libvirt');
  const etc = join(base, 'etc');
  const sock = join(base, 'sock');
  // sockaddr_un holds 108 bytes with the NUL (unix(7)); libvirtd would only exit with 6.
  const socketPath = join(sock, 'libvirt-sock');
  if (Buffer.byteLength(socketPath) > 107)
    throw new Error(
      `libvirtd: the socket path ${socketPath} is ${Buffer.byteLength(socketPath)} bytes; ` +
        'unix sockets allow 107: use a shorter --state-dir',
    );
  mkdirSync(etc, { recursive: true });
  mkdirSync(sock, { recursive: true });
  writeFileSync(join(etc, 'qemu.conf'), QEMU_CONF);
  writeFileSync(join(etc, 'libvirtd.conf'), libvirtdConf(sock));
  // The mounts are independent, so their children run at once, but for the cache, which goes on the fresh tmpfs.
  for (const dir of [...PRIVATE_DIRS, '/etc/libvirt']) mkdirSync(dir, { recursive: true });
  await Promise.all([
    ...PRIVATE_DIRS.map((dir) => exec(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', dir])),
    exec(['mount', '--bind', etc, '/etc/libvirt']),
  ]);
  if (opts.sharedCacheDir) {
    mkdirSync(opts.sharedCacheDir, { recursive: true });
    mkdirSync('/var/cache/libvirt/qemu', { recursive: true });
    await exec(['mount', '--bind', opts.sharedCacheDir, '/var/cache/libvirt/qemu']);
  }
  const daemon = startDaemon(
    libvirtdArgv(join(etc, 'libvirtd.conf'), lowestAllowedCpu(readFileSync('/proc/self/status', 'utf8'))),
    join(opts.stateDir, 'libvirtd.log'),
    libvirtdEnv(qemuOnlyDriverDir(base)),
  );
  await waitFor(socketPath, 15_000, daemon);
  return {
    uri: `qemu:///system?socket=${socketPath}`,
    daemon,
    async stop(graceMs = 5000) {
      await daemon.stop(graceMs);
    },
  };
}
