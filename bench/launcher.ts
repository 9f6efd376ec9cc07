/**
 * Launcher benchmark, in namespaces it makes and always removes:
 *  1. network setup and teardown of the bridge binding (--network-only runs);
 *  2. "tap ready" → "guest has its lease": the launcher (libvirtd, domain,
 *     boot, DHCP) side by side with bare QEMU on a hand-made tap and a
 *     hand-started dnsmasq, alternating, with the same test guest under TCG.
 *   node --import tsx bench/launcher.ts [--n 20] [--vm-runs 3]
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { summarize, round2 } from './stats.ts';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => Number(args[args.indexOf(name) + 1] ?? dflt) || dflt;
const N = args.includes('--n') ? opt('--n', 20) : 20;
const VM_RUNS = args.includes('--vm-runs') ? opt('--vm-runs', 3) : 3;
const ROOT = resolve('.');
const PLUGIN = join(ROOT, 'dist/cni/virtnet-bridge');
const LAUNCHER = join(ROOT, 'dist/launcher/virtnet-launcher');
const tag = String(process.pid);
const NS = { node: `vnb-lnode-${tag}`, pod: `vnb-lpod-${tag}`, bare: `vnb-bare-${tag}` };
const tmp = mkdtempSync(join(tmpdir(), 'virtnet-bench-'));
const children: ChildProcess[] = [];

function cleanup(): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const ns of Object.values(NS)) spawnSync('ip', ['netns', 'del', ns]);
  rmSync(tmp, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

const sh = (argv: string[], input?: string) => execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', ...(input && { input }) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => T | undefined | false, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function guest(): { kernel: string; initrd: string } {
  const dir = sh(['bash', 'scripts/build-guest.sh']).trim().split('\n').at(-1)!;
  return { kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.img') };
}

interface Status { phase: string; steps: Array<{ name: string; ms: number }>; tapReadyAtMs?: number; teardownMs?: number | undefined; nics: Array<{ leased4: boolean; leasedAtMs?: number }>; error?: string }
const readStatus = (dir: string): Status | undefined => {
  try {
    return JSON.parse(readFileSync(join(dir, 'status.json'), 'utf8')) as Status;
  } catch {
    return undefined;
  }
};

async function launcherRun(stateDir: string, spec: object, networkOnly: boolean): Promise<Status> {
  rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(join(stateDir, 'spec.json'), JSON.stringify(spec));
  writeFileSync(join(stateDir, 'resolv.conf'), 'nameserver 10.96.0.10\nsearch bench.svc.cluster.local\n');
  const argv = ['netns', 'exec', NS.pod, process.execPath, LAUNCHER, 'run', '--spec', join(stateDir, 'spec.json'), '--state-dir', stateDir, '--resolv-conf', join(stateDir, 'resolv.conf'), ...(networkOnly ? ['--network-only'] : [])];
  const child = spawn('ip', argv, { stdio: 'ignore' });
  children.push(child);
  const exited = new Promise((r) => child.on('exit', r));
  const running = await until('launcher Running', () => {
    const s = readStatus(stateDir);
    if (s?.phase === 'Failed') throw new Error(`launcher failed: ${s.error}`);
    return (networkOnly ? s?.phase === 'Running' : s?.nics[0]?.leased4) && s;
  }, 120_000);
  child.kill('SIGTERM');
  await exited;
  return { ...running, teardownMs: readStatus(stateDir)?.teardownMs };
}

async function bareRun(g: { kernel: string; initrd: string }): Promise<number> {
  spawnSync('ip', ['netns', 'del', NS.bare]);
  sh(['ip', 'netns', 'add', NS.bare]);
  const dir = join(tmp, 'bare');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  const inNs = (argv: string[]) => sh(['ip', 'netns', 'exec', NS.bare, ...argv]);
  inNs(['ip', 'link', 'add', 'br0', 'type', 'bridge']);
  inNs(['ip', 'addr', 'add', '10.250.0.1/24', 'dev', 'br0']);
  inNs(['ip', 'tuntap', 'add', 'dev', 'tap0', 'mode', 'tap']);
  inNs(['ip', 'link', 'set', 'tap0', 'master', 'br0', 'up']);
  inNs(['ip', 'link', 'set', 'br0', 'up']);
  // dnsmasq binds to br0, so it starts once br0 exists, as the launcher's does.
  const dnsmasq = spawn('ip', ['netns', 'exec', NS.bare, 'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--port=0', '--no-ping', '--bind-interfaces',
    '--interface=br0', '--dhcp-range=10.250.0.2,static,255.255.255.0', '--dhcp-host=52:54:00:00:00:02,10.250.0.2,bare,infinite',
    `--dhcp-leasefile=${join(dir, 'leases')}`, `--pid-file=${join(dir, 'pid')}`], { stdio: 'ignore' });
  children.push(dnsmasq);
  await until('bare dnsmasq', () => existsSync(join(dir, 'pid')), 5000);
  const tapReady = performance.now();
  const qemu = spawn('ip', ['netns', 'exec', NS.bare, 'qemu-system-x86_64', '-accel', 'tcg', '-machine', 'q35', '-m', '256', '-nodefaults', '-display', 'none', '-serial', 'null', '-monitor', 'none',
    '-kernel', g.kernel, '-initrd', g.initrd, '-append', 'console=ttyS0 quiet panic=-1',
    '-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no', '-device', 'virtio-net-pci,netdev=n0,mac=52:54:00:00:00:02'], { stdio: 'ignore' });
  children.push(qemu);
  const leases = join(dir, 'leases');
  await until('bare lease', () => existsSync(leases) && readFileSync(leases, 'utf8').includes('10.250.0.2'), 120_000);
  const ms = performance.now() - tapReady;
  qemu.kill('SIGKILL');
  dnsmasq.kill('SIGTERM');
  await Promise.all([new Promise((r) => qemu.on('exit', r)), new Promise((r) => dnsmasq.on('exit', r))]);
  spawnSync('ip', ['netns', 'del', NS.bare]);
  return ms;
}

function row(label: string, samples: number[]): string {
  const s = summarize(samples);
  return `| ${label} | ${samples.length} | ${round2(s.p50)} | ${round2(s.p95)} |`;
}

async function main(): Promise<void> {
  const g = guest();
  sh(['ip', 'netns', 'add', NS.node]);
  sh(['ip', 'netns', 'add', NS.pod]);
  const conf = JSON.stringify({ cniVersion: '1.1.0', name: 'lbench', type: 'virtnet-bridge', bridge: 'vlbench0', isDefaultGateway: true, dataDir: join(tmp, 'cni'), ipam: { type: 'host-local', subnet: '10.249.0.0/24', dataDir: join(tmp, 'ipam') } });
  execFileSync('ip', ['netns', 'exec', NS.node, PLUGIN], { input: conf, env: { ...process.env, CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'bench', CNI_NETNS: `/var/run/netns/${NS.pod}`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' } });
  const spec = { name: 'bench', namespace: 'bench', memoryMiB: 256, cpus: 1, interfaces: [{ name: 'default', bridge: {} }], networks: [{ name: 'default', pod: {} }], boot: { kernel: g.kernel, initrd: g.initrd, cmdline: 'console=ttyS0 quiet panic=-1' } };
  const stateDir = join(tmp, 'launcher');
  const setup: number[] = [];
  const teardown: number[] = [];
  const spawnToRunning: number[] = [];
  for (let i = 0; i < N + 2; i++) {
    const t = performance.now();
    const s = await launcherRun(stateDir, spec, true);
    if (i < 2) continue; // warm-up
    spawnToRunning.push(performance.now() - t);
    setup.push(s.steps.filter((x) => ['discover', 'plan', 'network', 'dhcp'].includes(x.name)).reduce((a, x) => a + x.ms, 0));
    if (s.teardownMs !== undefined) teardown.push(s.teardownMs);
  }
  const virtnet: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < VM_RUNS; i++) {
    const s = await launcherRun(stateDir, spec, false);
    virtnet.push((s.nics[0]!.leasedAtMs ?? NaN) - (s.tapReadyAtMs ?? NaN));
    bare.push(await bareRun(g));
  }
  console.log(`launcher benchmark (${new Date().toISOString()}), TCG guest, ms`);
  console.log('| measure | n | p50 | p95 |\n|---|---|---|---|');
  console.log(row('bridge binding: network setup (discover+plan+apply+dnsmasq)', setup));
  console.log(row('bridge binding: teardown (dnsmasq stop + restore)', teardown));
  console.log(row('launcher exec to Running, network only (incl. node start, unshare)', spawnToRunning));
  console.log(row('virtnet: tap ready → guest lease (libvirtd, domain, boot, DHCP)', virtnet));
  console.log(row('bare qemu: tap ready → guest lease (qemu, boot, DHCP)', bare));
  console.log(`ratio virtnet/bare (p50): ${round2(summarize(virtnet).p50 / summarize(bare).p50)}x`);
}

main().then(() => process.exit(0), (e: Error) => {
  console.error(e.message);
  process.exit(1);
});
