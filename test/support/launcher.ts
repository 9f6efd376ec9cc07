/**
 * End-to-end fixtures: pods wired by the real CNI plugin, launchers run as
 * the node runtime will run them (inside the pod's netns), the test guest,
 * and its serial console driven like a person at a terminal.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Netns } from './netns.ts';
import { GuestConsole, waitFor } from '../../harness/guest-console.ts';
import type { LauncherSpec } from '../../launcher/spec.ts';
import type { LauncherStatus } from '../../launcher/status.ts';

export const LAUNCHER = resolve('dist/launcher/virtnet-launcher');

let guestDir: string | undefined;

/** Build (or reuse) the test guest; returns its directory. */
export function testGuest(): { kernel: string; initrd: string } {
  if (!guestDir) {
    const r = spawnSync('bash', ['scripts/build-guest.sh'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) throw new Error(`build-guest.sh failed with ${r.status}`);
    guestDir = r.stdout.trim().split('\n').at(-1)!;
  }
  return { kernel: join(guestDir, 'vmlinuz'), initrd: join(guestDir, 'initrd.img') };
}

export function guestSpec(name: string, extra: Partial<LauncherSpec> = {}, cmdline = ''): LauncherSpec {
  const g = testGuest();
  return {
    name,
    namespace: 'e2e',
    memoryMiB: 256,
    cpus: 1,
    interfaces: [{ name: 'default', bridge: {} }],
    networks: [{ name: 'default', pod: {} }],
    boot: { kernel: g.kernel, initrd: g.initrd, cmdline: `console=ttyS0 quiet panic=-1 ${cmdline}`.trim() },
    ...extra,
  };
}

export { waitFor };

export class RunningLauncher {
  readonly exited: Promise<number | null>;

  constructor(
    readonly child: ChildProcess,
    readonly stateDir: string,
    readonly pod: Netns,
  ) {
    this.exited = new Promise((r) => child.on('exit', (code) => r(code)));
    this.guestConsole = new GuestConsole(stateDir);
  }

  status(): LauncherStatus | undefined {
    try {
      return JSON.parse(readFileSync(join(this.stateDir, 'status.json'), 'utf8')) as LauncherStatus;
    } catch {
      return undefined;
    }
  }

  console(): string {
    return this.guestConsole.log();
  }

  /** The first console line starting with `prefix` (after `from` characters). */
  consoleLine(prefix: string, from = 0): string | undefined {
    return this.guestConsole.line(prefix, from);
  }

  async waitRunning(timeoutMs = 60_000): Promise<LauncherStatus> {
    return waitFor(
      'launcher Running',
      () => {
        const s = this.status();
        if (s?.phase === 'Failed') throw new Error(`launcher failed: ${s.error}`);
        return s?.phase === 'Running' && s;
      },
      timeoutMs,
    );
  }

  private readonly guestConsole: GuestConsole;

  /** Type a command on the guest's serial console and wait for its exit code (output comes back through the log). */
  guestRun(command: string, timeoutMs = 20_000): Promise<{ rc: number; output: string }> {
    return this.guestConsole.run(command, timeoutMs);
  }

  async stop(): Promise<number | null> {
    this.guestConsole.close();
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}

export interface LaunchOptions {
  resolvConf?: string;
  networkOnly?: boolean;
}

export function startLauncher(
  pod: Netns,
  stateDir: string,
  spec: LauncherSpec,
  o: LaunchOptions = {},
): RunningLauncher {
  mkdirSync(stateDir, { recursive: true });
  const specFile = join(stateDir, 'spec.json');
  writeFileSync(specFile, JSON.stringify(spec));
  const resolvConf = join(stateDir, 'resolv.conf');
  writeFileSync(
    resolvConf,
    o.resolvConf ??
      'nameserver 10.96.0.10\nsearch e2e.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n',
  );
  const args = [
    'netns',
    'exec',
    pod.name,
    process.execPath,
    LAUNCHER,
    'run',
    '--spec',
    specFile,
    '--state-dir',
    stateDir,
    '--resolv-conf',
    resolvConf,
    '--allowed-host-path',
    '/',
  ];
  if (o.networkOnly) args.push('--network-only');
  const out = openSync(join(stateDir, 'launcher.log'), 'a');
  const child = spawn('ip', args, { stdio: ['ignore', out, out] });
  closeSync(out);
  return new RunningLauncher(child, stateDir, pod);
}

/** What teardown must give back: links, addresses, routes and rules, without kernel-chosen details. */
export function podSnapshot(pod: Netns): string {
  const links = JSON.parse(pod.run(['ip', '-j', 'addr', 'show'])) as Array<{
    ifname: string;
    address: string;
    mtu: number;
    flags: string[];
    addr_info: Array<{ local: string; prefixlen: number }>;
  }>;
  const routes4 = pod
    .run(['ip', 'route', 'show', 'table', 'all'])
    .split('\n')
    .filter((l) => !l.includes('fe80') && l.trim())
    .sort();
  const routes6 = pod
    .run(['ip', '-6', 'route', 'show', 'table', 'all'])
    .split('\n')
    .filter((l) => !l.includes('fe80') && !l.startsWith('multicast') && l.trim())
    .sort();
  const rules = [pod.run(['ip', 'rule']), pod.run(['ip', '-6', 'rule'])].join('');
  return JSON.stringify(
    {
      links: links.map((l) => ({
        n: l.ifname,
        mac: l.address,
        mtu: l.mtu,
        up: l.flags.includes('UP'),
        a: l.addr_info.map((a) => `${a.local}/${a.prefixlen}`).sort(),
      })),
      routes4,
      routes6,
      rules,
    },
    null,
    1,
  );
}
