/**
 * One libvirtd per pod, as KubeVirt runs it: in the launcher's own mount
 * namespace, with tmpfs over libvirt's run, lib, cache and log directories
 * and a private /etc/libvirt, so two pods on a node never share a pid file,
 * a socket or a domain list (shared/reference/measured-here.md, "libvirt per pod").
 */
import { mkdirSync, readlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
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

export function libvirtdConf(socketDir: string): string {
  return [
    `unix_sock_dir = "${socketDir}"`,
    'unix_sock_rw_perms = "0700"',
    'auth_unix_rw = "none"',
    'log_outputs = "3:stderr"',
    '',
  ].join('\n');
}

/** Set by launcher/main.ts once it runs under `unshare --mount --propagation private`. */
export const PRIVATE_MOUNTNS_ENV = 'VIRTNET_LAUNCHER_MOUNTNS';

/** Mounting is only safe in a mount namespace of our own, which main.ts makes. */
export function assertPrivateMountNamespace(): void {
  if (process.env[PRIVATE_MOUNTNS_ENV] !== readlinkSync('/proc/self/ns/mnt')) {
    throw new Error(
      'launcher: refusing to mount outside a private mount namespace; start it through virtnet-launcher run',
    );
  }
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
    await new Promise((r) => setTimeout(r, 50));
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
  for (const dir of PRIVATE_DIRS) {
    mkdirSync(dir, { recursive: true });
    await exec(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', dir]);
  }
  if (opts.sharedCacheDir) {
    mkdirSync(opts.sharedCacheDir, { recursive: true });
    mkdirSync('/var/cache/libvirt/qemu', { recursive: true });
    await exec(['mount', '--bind', opts.sharedCacheDir, '/var/cache/libvirt/qemu']);
  }
  mkdirSync('/etc/libvirt', { recursive: true });
  await exec(['mount', '--bind', etc, '/etc/libvirt']);
  const daemon = startDaemon(
    ['libvirtd', '--config', join(etc, 'libvirtd.conf'), '--pid-file', '/run/libvirt/libvirtd.pid'],
    join(opts.stateDir, 'libvirtd.log'),
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
