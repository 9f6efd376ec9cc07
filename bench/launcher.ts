/**
 * Launcher benchmark, in namespaces it makes and always removes:
 *  1. network setup and teardown of the bridge binding (--network-only runs),
 *     then the same for the masquerade binding in a dual-stack pod;
 *  2. "tap ready" → "guest has its lease": the launcher (libvirtd, domain,
 *     boot, DHCP) side by side with bare QEMU on a hand-made tap and a
 *     hand-started dnsmasq, alternating, with the same test guest under TCG;
 *  3. (--throughput, the default) TCP throughput from the guest to a peer pod
 *     on the same node bridge, bridge binding against masquerade, alternating
 *     full VM runs: the guest pipes `dd` into `nc`, a Python sink in the peer
 *     counts the bytes and times them from first byte to EOF.
 *   node --import tsx bench/launcher.ts [--n 20] [--vm-runs 3] [--no-throughput] [--tp-runs 2] [--tp-mib 32]
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { summarize, round2 } from './stats.ts';
import { bareQemuToLease } from './bare-qemu.ts';
import { isAlive } from '../lib/process.ts';
import { GuestConsole } from '../harness/guest-console.ts';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => Number(args[args.indexOf(name) + 1] ?? dflt) || dflt;
const N = args.includes('--n') ? opt('--n', 20) : 20;
const VM_RUNS = args.includes('--vm-runs') ? opt('--vm-runs', 3) : 3;
const THROUGHPUT = !args.includes('--no-throughput');
const TP_RUNS = args.includes('--tp-runs') ? opt('--tp-runs', 2) : 2;
const TP_MIB = args.includes('--tp-mib') ? opt('--tp-mib', 32) : 32;
const TP_PORT = 5001;
const ROOT = resolve('.');
const PLUGIN = join(ROOT, 'dist/cni/virtnet-bridge');
const LAUNCHER = join(ROOT, 'dist/launcher/virtnet-launcher');
const tag = String(process.pid);
// pod: IPv4 only (bridge binding); pod46: dual-stack (masquerade); peer: the throughput sink.
const NS = {
  node: `vnb-lnode-${tag}`,
  pod: `vnb-lpod-${tag}`,
  pod46: `vnb-lpod46-${tag}`,
  peer: `vnb-lpeer-${tag}`,
  bare: `vnb-bare-${tag}`,
};
const tmp = mkdtempSync(join(tmpdir(), 'virtnet-bench-'));
// The node policy of this bench's plugin calls (cni/policy.ts): their data lives under tmp.
const POLICY = join(tmp, 'cni-policy.json');
writeFileSync(POLICY, JSON.stringify({ dataRoots: [tmp] }));
const children: ChildProcess[] = [];
/** Launchers still running, with their state directories. */
const launchers = new Map<ChildProcess, string>();

/** Last resort (a launcher that would not stop): its recorded QEMU, libvirtd and dnsmasq, if they are still its own. */
function killRecorded(stateDir: string): void {
  const s = readStatus(stateDir);
  const owned: Array<[number | undefined, string]> = [
    [s?.pids?.qemu, `guest=${s?.domain},`],
    [s?.pids?.libvirtd, stateDir],
    [s?.pids?.dnsmasq, stateDir],
  ];
  for (const [pid, mark] of owned) {
    if (pid && isAlive(pid, mark)) process.kill(pid, 'SIGKILL');
  }
}

/** Synchronous, for the exit handler: whatever is still running is killed, the namespaces and files go. */
function cleanup(): void {
  for (const [c, stateDir] of launchers) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    killRecorded(stateDir);
  }
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const ns of Object.values(NS)) spawnSync('ip', ['netns', 'del', ns]);
  rmSync(tmp, { recursive: true, force: true });
}
process.on('exit', cleanup);

/** Stop running launchers as the node runtime would (SIGTERM, so they tear down), before exiting. */
async function stopLaunchers(): Promise<void> {
  await Promise.all(
    [...launchers].map(async ([c, stateDir]) => {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGTERM');
        const done = await Promise.race([
          new Promise<boolean>((r) => c.once('exit', () => r(true))),
          sleep(30_000).then(() => false),
        ]);
        if (!done) c.kill('SIGKILL');
      }
      killRecorded(stateDir);
      launchers.delete(c);
    }),
  );
}

let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (stopping) process.exit(130); // a second signal: the exit handler kills what is left
    stopping = true;
    console.error(`${sig}: stopping launchers and removing namespaces`);
    void stopLaunchers().finally(() => process.exit(130));
  });
}

const sh = (argv: string[], input?: string) =>
  execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', ...(input && { input }) });
function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

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

interface Status {
  phase: string;
  steps: Array<{ name: string; ms: number }>;
  tapReadyAtMs?: number;
  teardownMs?: number | undefined;
  nics: Array<{ leased4: boolean; leasedAtMs?: number; ips: string[] }>;
  error?: string;
  domain?: string;
  pids?: { dnsmasq?: number; libvirtd?: number; qemu?: number };
}
const readStatus = (dir: string): Status | undefined => {
  try {
    return JSON.parse(readFileSync(join(dir, 'status.json'), 'utf8')) as Status;
  } catch {
    return undefined;
  }
};

interface Launcher {
  child: ChildProcess;
  exited: Promise<unknown>;
  stateDir: string;
  netns: string;
}

function startLauncher(netns: string, stateDir: string, spec: object, networkOnly: boolean): Launcher {
  rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(join(stateDir, 'spec.json'), JSON.stringify(spec));
  writeFileSync(join(stateDir, 'resolv.conf'), 'nameserver 10.96.0.10\nsearch bench.svc.cluster.local\n');
  const argv = [
    'netns',
    'exec',
    netns,
    process.execPath,
    LAUNCHER,
    'run',
    '--spec',
    join(stateDir, 'spec.json'),
    '--state-dir',
    stateDir,
    '--resolv-conf',
    join(stateDir, 'resolv.conf'),
    '--allowed-host-path',
    '/',
    ...(networkOnly ? ['--network-only'] : []),
  ];
  const child = spawn('ip', argv, { stdio: 'ignore' });
  launchers.set(child, stateDir);
  const exited = new Promise((r) => child.on('exit', r)).finally(() => launchers.delete(child));
  return { child, exited, stateDir, netns };
}

/** Until the launcher is Running (network only) or its first NIC's guest has its IPv4 lease. */
function untilUp(l: Launcher, networkOnly: boolean): Promise<Status> {
  return until(
    'launcher Running',
    () => {
      const s = readStatus(l.stateDir);
      if (s?.phase === 'Failed') throw new Error(`launcher failed: ${s.error}`);
      if (l.child.exitCode !== null) throw new Error(`launcher exited with ${l.child.exitCode} before it was up`);
      return (networkOnly ? s?.phase === 'Running' : s?.nics[0]?.leased4) && s;
    },
    120_000,
  );
}

async function stopLauncher(l: Launcher): Promise<void> {
  if (l.child.exitCode === null && l.child.signalCode === null) l.child.kill('SIGTERM');
  await l.exited;
}

async function launcherRun(netns: string, stateDir: string, spec: object, networkOnly: boolean): Promise<Status> {
  const l = startLauncher(netns, stateDir, spec, networkOnly);
  try {
    const running = await untilUp(l, networkOnly);
    await stopLauncher(l);
    return { ...running, teardownMs: readStatus(stateDir)?.teardownMs };
  } finally {
    await stopLauncher(l);
  }
}

/** A CNI ADD on the node bridge; returns the namespace's addresses (without prefix lengths). */
function cniAdd(conf: object, containerId: string, netns: string): string[] {
  const out = execFileSync('ip', ['netns', 'exec', NS.node, PLUGIN], {
    input: JSON.stringify(conf),
    encoding: 'utf8',
    env: {
      ...process.env,
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: containerId,
      CNI_NETNS: `/var/run/netns/${netns}`,
      CNI_IFNAME: 'eth0',
      CNI_PATH: '/usr/lib/cni',
      VIRTNET_CNI_POLICY: POLICY,
    },
  });
  return (JSON.parse(out) as { ips: Array<{ address: string }> }).ips.map((i) => i.address.split('/')[0]!);
}

/** Counts what one TCP connection brings, from its first byte to EOF; prints "bytes seconds source". */
const SINK = `
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', int(sys.argv[1])))
s.listen(1)
s.settimeout(float(sys.argv[2]))
print('listening', flush=True)
c, peer = s.accept()
c.settimeout(float(sys.argv[2]))
n, t0 = 0, None
while True:
    b = c.recv(1 << 20)
    if not b:
        break
    if t0 is None:
        t0 = time.monotonic()
    n += len(b)
t1 = time.monotonic()
c.close()
print(n, (t1 - t0) if t0 is not None else 0, peer[0], flush=True)
`;

/**
 * One full launcher run: boot, wait for the guest, send TP_MIB MiB to the
 * peer's sink from the guest's console; MB/s as the sink saw it.
 */
async function throughputRun(
  netns: string,
  stateDir: string,
  spec: object,
  peerIp: string,
  expectSource: string,
): Promise<number> {
  const l = startLauncher(netns, stateDir, spec, false);
  const con = new GuestConsole(stateDir, (c) => children.push(c));
  let sink: ChildProcess | undefined;
  try {
    await untilUp(l, false);
    await until('guest ready', () => con.line('VIRTNET-READY'), 60_000);
    const timeoutS = 600;
    const sinkProc = spawn(
      'ip',
      ['netns', 'exec', NS.peer, '/usr/bin/python3', '-c', SINK, String(TP_PORT), String(timeoutS)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    sink = sinkProc;
    children.push(sinkProc);
    let out = '';
    let err = '';
    sinkProc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    sinkProc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const sinkExited = new Promise<number | null>((r) => sinkProc.on('exit', r));
    await until(
      'the sink to listen',
      () => {
        if (sinkProc.exitCode !== null) throw new Error(`sink exited: ${err}`);
        return out.includes('listening');
      },
      10_000,
    );
    const count = TP_MIB * 16; // 64 KiB blocks
    const sent = await con.run(
      `dd if=/dev/zero bs=64k count=${count} 2>/dev/null | nc ${peerIp} ${TP_PORT}`,
      timeoutS * 1000,
    );
    if (sent.rc !== 0) throw new Error(`guest dd | nc exited with ${sent.rc}: ${sent.output}`);
    const code = await Promise.race([sinkExited, sleep(30_000).then(() => 'timeout' as const)]);
    if (code !== 0) throw new Error(`sink: ${code}: ${err}`);
    const fields = out.trim().split('\n').at(-1)!.split(' ');
    const bytes = Number(fields[0]);
    const secs = Number(fields[1]);
    if (bytes !== count * 65536) throw new Error(`sink got ${bytes} bytes, expected ${count * 65536}`);
    if (fields[2] !== expectSource)
      throw new Error(`sink saw the connection from ${fields[2]}, expected ${expectSource}`);
    return bytes / 1e6 / secs;
  } finally {
    con.close();
    if (sink && sink.exitCode === null && sink.signalCode === null) sink.kill('SIGKILL');
    await stopLauncher(l);
  }
}

function row(label: string, samples: number[]): string {
  const s = summarize(samples);
  return `| ${label} | ${samples.length} | ${round2(s.p50)} | ${round2(s.p95)} |`;
}

function setupTime(s: Status): number {
  return s.steps.filter((x) => ['discover', 'plan', 'network', 'dhcp'].includes(x.name)).reduce((a, x) => a + x.ms, 0);
}

/** N network-only launcher runs after 2 warm-ups: setup (status steps), teardown, exec → Running. */
async function networkOnlyLoop(
  netns: string,
  stateDir: string,
  spec: object,
): Promise<{ setup: number[]; teardown: number[]; spawnToRunning: number[] }> {
  const setup: number[] = [];
  const teardown: number[] = [];
  const spawnToRunning: number[] = [];
  for (let i = 0; i < N + 2; i++) {
    const t = performance.now();
    const s = await launcherRun(netns, stateDir, spec, true);
    if (i < 2) continue; // warm-up
    spawnToRunning.push(performance.now() - t);
    setup.push(setupTime(s));
    if (s.teardownMs !== undefined) teardown.push(s.teardownMs);
  }
  return { setup, teardown, spawnToRunning };
}

async function main(): Promise<void> {
  const g = guest();
  sh(['ip', 'netns', 'add', NS.node]);
  sh(['ip', 'netns', 'add', NS.pod]);
  sh(['ip', 'netns', 'add', NS.pod46]);
  // One network and one IPAM store on one node bridge: the IPv4-only pod (bridge binding), the
  // dual-stack pod (masquerade) and the peer get distinct addresses from the same 10.249.0.0/24.
  const base = {
    cniVersion: '1.1.0',
    name: 'lbench',
    type: 'virtnet-bridge',
    bridge: 'vlbench0',
    isDefaultGateway: true,
    dataDir: join(tmp, 'cni'),
  };
  const conf4 = { ...base, ipam: { type: 'host-local', subnet: '10.249.0.0/24', dataDir: join(tmp, 'ipam') } };
  const conf46 = {
    ...base,
    ipam: {
      type: 'host-local',
      ranges: [[{ subnet: '10.249.0.0/24' }], [{ subnet: 'fd00:249::/64' }]],
      dataDir: join(tmp, 'ipam'),
    },
  };
  const podIp = cniAdd(conf4, 'bench', NS.pod)[0]!;
  const pod46Ips = cniAdd(conf46, 'bench46', NS.pod46);
  if (!pod46Ips.some((ip) => ip.includes(':')))
    throw new Error(`the masquerade pod is not dual-stack: ${pod46Ips.join(', ')}`);
  const pod46Ip = pod46Ips.find((ip) => !ip.includes(':'))!;
  const boot = { kernel: g.kernel, initrd: g.initrd, cmdline: 'console=ttyS0 quiet panic=-1' };
  const spec = {
    name: 'bench',
    namespace: 'bench',
    memoryMiB: 256,
    cpus: 1,
    interfaces: [{ name: 'default', bridge: {} }],
    networks: [{ name: 'default', pod: {} }],
    boot,
  };
  const masqSpec = {
    ...spec,
    name: 'benchm',
    interfaces: [{ name: 'default', masquerade: {}, ports: [{ port: 80 }] }],
  };
  const stateDir = join(tmp, 'launcher');

  const bridge = await networkOnlyLoop(NS.pod, stateDir, spec);
  const masq = await networkOnlyLoop(NS.pod46, stateDir, masqSpec);

  const virtnet: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < VM_RUNS; i++) {
    const s = await launcherRun(NS.pod, stateDir, spec, false);
    virtnet.push((s.nics[0]!.leasedAtMs ?? NaN) - (s.tapReadyAtMs ?? NaN));
    bare.push((await bareQemuToLease(NS.bare, join(tmp, 'bare'), g, (c) => children.push(c))).tapReadyMs);
  }

  const tpBridge: number[] = [];
  const tpMasq: number[] = [];
  if (THROUGHPUT) {
    sh(['ip', 'netns', 'add', NS.peer]);
    const peerIp = cniAdd(conf4, 'peer', NS.peer)[0]!;
    for (let i = 0; i < TP_RUNS; i++) {
      tpBridge.push(await throughputRun(NS.pod, stateDir, spec, peerIp, podIp));
      tpMasq.push(await throughputRun(NS.pod46, stateDir, masqSpec, peerIp, pod46Ip));
    }
  }

  console.log(`launcher benchmark (${new Date().toISOString()}), TCG guest, ms`);
  console.log('| measure | n | p50 | p95 |\n|---|---|---|---|');
  console.log(row('bridge binding: network setup (discover+plan+apply+dnsmasq)', bridge.setup));
  console.log(row('bridge binding: teardown (dnsmasq stop + restore)', bridge.teardown));
  console.log(row('launcher exec to Running, network only (incl. node start, unshare)', bridge.spawnToRunning));
  console.log(
    row('masquerade binding, dual-stack pod, port 80: network setup (discover+plan+apply+dnsmasq)', masq.setup),
  );
  console.log(
    row(
      'masquerade binding, dual-stack pod, port 80: teardown (dnsmasq stop + restore, nft table removed)',
      masq.teardown,
    ),
  );
  console.log(row('virtnet: tap ready → guest lease (libvirtd, domain, boot, DHCP)', virtnet));
  console.log(row('bare qemu: tap ready → guest lease (qemu, boot, DHCP)', bare));
  console.log(`ratio virtnet/bare (p50): ${round2(summarize(virtnet).p50 / summarize(bare).p50)}x`);
  if (THROUGHPUT) {
    console.log(
      `\nTCP throughput guest → peer pod on the node bridge (IPv4, ${TP_MIB} MiB per transfer, timed by the peer ` +
        `from first byte to EOF), MB/s, indicative (TCG)`,
    );
    console.log('| measure | n | p50 | p95 |\n|---|---|---|---|');
    console.log(row('bridge binding: guest → peer, MB/s, indicative (TCG)', tpBridge));
    console.log(row('masquerade binding (dual-stack pod): guest → peer, MB/s, indicative (TCG)', tpMasq));
    console.log(
      `ratio masquerade/bridge (p50), indicative (TCG): ${round2(summarize(tpMasq).p50 / summarize(tpBridge).p50)}x`,
    );
  }
}

main().then(
  () => process.exit(0),
  async (e: Error) => {
    console.error(e.message);
    await stopLaunchers();
    process.exit(1);
  },
);
