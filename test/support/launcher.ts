/**
 * End-to-end fixtures: pods wired by the real CNI plugin, launchers run as
 * the node runtime will run them (inside the pod's netns), the test guest,
 * and its serial console driven like a person at a terminal.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, writeSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Netns } from './netns.ts';
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
    name, namespace: 'e2e', memoryMiB: 256, cpus: 1,
    interfaces: [{ name: 'default', bridge: {} }],
    networks: [{ name: 'default', pod: {} }],
    boot: { kernel: g.kernel, initrd: g.initrd, cmdline: `console=ttyS0 quiet panic=-1 ${cmdline}`.trim() },
    ...extra,
  };
}

export async function waitFor<T>(what: string, fn: () => T | undefined | false, timeoutMs: number, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export class RunningLauncher {
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess, readonly stateDir: string, readonly pod: Netns) {
    this.exited = new Promise((r) => child.on('exit', (code) => r(code)));
  }

  status(): LauncherStatus | undefined {
    try {
      return JSON.parse(readFileSync(join(this.stateDir, 'status.json'), 'utf8')) as LauncherStatus;
    } catch {
      return undefined;
    }
  }

  console(): string {
    const f = join(this.stateDir, 'console.log');
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  /** The first console line starting with `prefix` (after `from` characters). */
  consoleLine(prefix: string, from = 0): string | undefined {
    return this.console().slice(from).split(/\r?\n/u).find((l) => l.startsWith(prefix));
  }

  async waitRunning(timeoutMs = 60_000): Promise<LauncherStatus> {
    return waitFor('launcher Running', () => {
      const s = this.status();
      if (s?.phase === 'Failed') throw new Error(`launcher failed: ${s.error}`);
      return s?.phase === 'Running' && s;
    }, timeoutMs);
  }

  private consoleFd: number | undefined;
  private drain: ChildProcess | undefined;

  /**
   * Attach to the serial console's pty once, as `virtnet console` will: QEMU
   * only talks to a pty that is held open (it polls for a reader about once a
   * second), and what it writes must be read, or the guest's console stalls.
   */
  private async attachConsole(): Promise<number> {
    if (this.consoleFd !== undefined) return this.consoleFd;
    const s = this.status()!;
    const virsh = spawnSync('ip', ['netns', 'exec', this.pod.name, 'virsh', '-q', '-c', s.libvirtUri!, 'ttyconsole', s.domain!], { encoding: 'utf8' });
    const pty = virsh.stdout.trim();
    if (!pty.startsWith('/dev/pts/')) throw new Error(`no console pty: ${virsh.stderr}`);
    spawnSync('stty', ['-F', pty, 'raw', '-echo']);
    this.drain = spawn('cat', [pty], { stdio: ['ignore', 'ignore', 'ignore'] });
    this.consoleFd = openSync(pty, 'w');
    await new Promise((r) => setTimeout(r, 1500));
    return this.consoleFd;
  }

  /** Type a command on the guest's serial console and wait for its exit code (output comes back through the log). */
  async guestRun(command: string, timeoutMs = 20_000): Promise<{ rc: number; output: string }> {
    const fd = await this.attachConsole();
    const marker = `VNT${Math.random().toString(36).slice(2, 8)}`;
    const from = this.console().length;
    writeSync(fd, `${command}; echo ${marker}-RC=$?\n`);
    const re = new RegExp(`${marker}-RC=(\\d+)`, 'u');
    const rc = await waitFor(`"${command}" on the guest`, () => re.exec(this.console().slice(from))?.[1], timeoutMs);
    return { rc: Number(rc), output: this.console().slice(from) };
  }

  async stop(): Promise<number | null> {
    if (this.consoleFd !== undefined) closeSync(this.consoleFd);
    this.consoleFd = undefined;
    this.drain?.kill();
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}

export interface LaunchOptions {
  resolvConf?: string;
  networkOnly?: boolean;
}

export function startLauncher(pod: Netns, stateDir: string, spec: LauncherSpec, o: LaunchOptions = {}): RunningLauncher {
  mkdirSync(stateDir, { recursive: true });
  const specFile = join(stateDir, 'spec.json');
  writeFileSync(specFile, JSON.stringify(spec));
  const resolvConf = join(stateDir, 'resolv.conf');
  writeFileSync(resolvConf, o.resolvConf ?? 'nameserver 10.96.0.10\nsearch e2e.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n');
  const args = ['netns', 'exec', pod.name, process.execPath, LAUNCHER, 'run', '--spec', specFile, '--state-dir', stateDir, '--resolv-conf', resolvConf];
  if (o.networkOnly) args.push('--network-only');
  const out = openSync(join(stateDir, 'launcher.log'), 'a');
  const child = spawn('ip', args, { stdio: ['ignore', out, out] });
  closeSync(out);
  return new RunningLauncher(child, stateDir, pod);
}

/** What teardown must give back: links, addresses, routes and rules, without kernel-chosen details. */
export function podSnapshot(pod: Netns): string {
  const links = JSON.parse(pod.run(['ip', '-j', 'addr', 'show'])) as Array<{ ifname: string; address: string; mtu: number; flags: string[]; addr_info: Array<{ local: string; prefixlen: number }> }>;
  const routes4 = pod.run(['ip', 'route', 'show', 'table', 'all']).split('\n').filter((l) => !l.includes('fe80') && l.trim()).sort();
  const routes6 = pod.run(['ip', '-6', 'route', 'show', 'table', 'all']).split('\n').filter((l) => !l.includes('fe80') && !l.startsWith('multicast') && l.trim()).sort();
  const rules = [pod.run(['ip', 'rule']), pod.run(['ip', '-6', 'rule'])].join('');
  return JSON.stringify({
    links: links.map((l) => ({ n: l.ifname, mac: l.address, mtu: l.mtu, up: l.flags.includes('UP'), a: l.addr_info.map((a) => `${a.local}/${a.prefixlen}`).sort() })),
    routes4, routes6, rules,
  }, null, 1);
}
