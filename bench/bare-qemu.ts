/**
 * The reference for VM networking benchmarks: a guest on bare QEMU (the
 * test guest's kernel, or a disk image with its cloud-init seed),
 * with everything made by hand: a namespace, a bridge, a tap, a dnsmasq
 * bound to the bridge, and QEMU, until the guest's DHCP lease appears.
 * It times both "from nothing" (namespace creation → lease) and "tap ready"
 * (QEMU start → lease), and always removes what it made.
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

async function until(what: string, fn: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** dnsmasq as the references run it: DHCP only, on br0 alone, no config file, no ping before an offer. */
export const BARE_DNSMASQ = [
  'dnsmasq',
  '--keep-in-foreground',
  '--conf-file=/dev/null',
  '--port=0',
  '--no-ping',
  '--bind-interfaces',
  '--interface=br0',
];

export interface BareRun {
  /** Namespace creation → lease. */
  fromNothingMs: number;
  /** QEMU started on a ready tap → lease. */
  tapReadyMs: number;
}

/** What bare QEMU boots: the test guest's kernel, or a disk (booted by SeaBIOS) with a cloud-init seed ISO. */
export type BareGuest = { kernel: string; initrd: string } | { disk: string; seed: string; memoryMiB: number };

function guestArgs(g: BareGuest): string[] {
  if ('kernel' in g)
    return ['-m', '256', '-kernel', g.kernel, '-initrd', g.initrd, '-append', 'console=ttyS0 quiet panic=-1'];
  return [
    '-m',
    String(g.memoryMiB),
    '-drive',
    `file=${g.disk},format=qcow2,if=virtio`,
    '-drive',
    `file=${g.seed},format=raw,if=virtio,readonly=on`,
  ];
}

/** @param track called with each child started, so that its owner can kill it on exit */
export async function bareQemuToLease(
  ns: string,
  dir: string,
  g: BareGuest,
  track: (c: ChildProcess) => void,
  leaseTimeoutMs = 120_000,
): Promise<BareRun> {
  spawnSync('ip', ['netns', 'del', ns]);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const start = performance.now();
  const inNs = (argv: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...argv]);
  execFileSync('ip', ['netns', 'add', ns]);
  inNs(['ip', 'link', 'add', 'br0', 'type', 'bridge']);
  inNs(['ip', 'addr', 'add', '10.250.0.1/24', 'dev', 'br0']);
  inNs(['ip', 'tuntap', 'add', 'dev', 'tap0', 'mode', 'tap']);
  inNs(['ip', 'link', 'set', 'tap0', 'master', 'br0', 'up']);
  inNs(['ip', 'link', 'set', 'br0', 'up']);
  // dnsmasq binds to br0, so it starts once br0 exists, as the launcher's does.
  const dnsmasq = spawn(
    'ip',
    [
      'netns',
      'exec',
      ns,
      ...BARE_DNSMASQ,
      '--dhcp-range=10.250.0.2,static,255.255.255.0',
      '--dhcp-host=52:54:00:00:00:02,10.250.0.2,bare,infinite',
      `--dhcp-leasefile=${join(dir, 'leases')}`,
      `--pid-file=${join(dir, 'pid')}`,
    ],
    { stdio: 'ignore' },
  );
  track(dnsmasq);
  await until('bare dnsmasq', () => existsSync(join(dir, 'pid')), 5000);
  const tapReady = performance.now();
  const qemu = spawn(
    'ip',
    [
      'netns',
      'exec',
      ns,
      'qemu-system-x86_64',
      '-accel',
      'tcg',
      '-machine',
      'q35',
      '-nodefaults',
      '-display',
      'none',
      '-serial',
      'null',
      '-monitor',
      'none',
      ...guestArgs(g),
      '-netdev',
      'tap,id=n0,ifname=tap0,script=no,downscript=no',
      '-device',
      'virtio-net-pci,netdev=n0,mac=52:54:00:00:00:02',
    ],
    { stdio: 'ignore' },
  );
  track(qemu);
  const leases = join(dir, 'leases');
  await until(
    'bare lease',
    () => existsSync(leases) && readFileSync(leases, 'utf8').includes('10.250.0.2'),
    leaseTimeoutMs,
  );
  const end = performance.now();
  qemu.kill('SIGKILL');
  dnsmasq.kill('SIGTERM');
  await Promise.all([new Promise((r) => qemu.on('exit', r)), new Promise((r) => dnsmasq.on('exit', r))]);
  spawnSync('ip', ['netns', 'del', ns]);
  return { fromNothingMs: end - start, tapReadyMs: end - tapReady };
}
