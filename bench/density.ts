/**
 * Density on one node (issue 15), in two runs that each leave nothing:
 *   1. VMs: one `virtnet up` of --vms VMIs (the test guest, --memory MiB
 *      each, bridge binding on the pod network), started concurrently: the
 *      time until all have their lease, the CPU busy meanwhile, and the
 *      memory of each VM pod beyond its QEMU (RSS, and PSS, which splits the
 *      pages the pods share), read from the pods' cgroups; then `down --all`.
 *   2. Sandboxes: --sandboxes network-only pods (a netns and a CNI ADD each,
 *      no VM) through the shim to one `virtnet cni-daemon`, all at once as a
 *      burst of pods would come; then as many DELs.
 * After each, it checks that no VM pod process, cgroup, veth, IP allocation or
 * attachment record is left. Runs in a private node namespace.
 *   node --import tsx bench/density.ts [--vms 50] [--memory 96] [--sandboxes 200]
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cgroup2Mount, cgroupPids } from '../lib/cgroup.ts';
import { runBench } from './harness.ts';
import { round2, summarize } from './stats.ts';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  const n = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}: a whole number, not "${args[i + 1]}"`);
  return n;
};
const VMS = flag('--vms', 50);
const MEMORY_MIB = flag('--memory', 96);
const SANDBOXES = flag('--sandboxes', 200);
const NODE = `vnb-dnode-${process.pid}`;
const tmp = mkdtempSync(join(tmpdir(), 'virtnet-density-'));
const stateDir = join(tmp, 'state');
const CLI = resolve('dist/cli/virtnet');
const SHIM = resolve('dist/cni/virtnet-bridge');
const podNetns: string[] = [];
let daemonPid: number | undefined;

const virtnet = (argv: string[], timeout = 900_000) =>
  spawnSync('nsenter', [`--net=/run/netns/${NODE}`, '--', process.execPath, CLI, '--state-dir', stateDir, ...argv], {
    encoding: 'utf8',
    timeout,
  });

function cleanup(): void {
  virtnet(['down', '--all', '--force']);
  if (daemonPid) spawnSync('kill', ['-KILL', String(daemonPid)]);
  for (const ns of [...podNetns, NODE]) spawnSync('ip', ['netns', 'del', ns]);
  rmSync(tmp, { recursive: true, force: true });
}

/** CPU time spent busy and in all, from /proc/stat's first line (proc(5)). */
function cpuTicks(): { busy: number; total: number } {
  const [, ...f] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/u);
  const n = f.map(Number);
  const idle = (n[3] ?? 0) + (n[4] ?? 0);
  const total = n.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

function manifests(): string {
  return Array.from({ length: VMS }, (_, i) =>
    [
      'apiVersion: virtnet.io/v1alpha1',
      'kind: VirtualMachineInstance',
      `metadata: { name: d-${String(i).padStart(3, '0')} }`,
      'spec:',
      '  domain:',
      `    resources: { requests: { memory: ${MEMORY_MIB}Mi } }`,
      '    devices: { interfaces: [ { name: default, bridge: {} } ] }',
      '  networks: [ { name: default, pod: {} } ]',
    ].join('\n'),
  ).join('\n---\n');
}

/** A "Key:   123 kB" field of a /proc file's text (proc(5)), 0 when absent. */
const kbField = (text: string, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'mu').exec(text)?.[1] ?? 0);

/** kB of a process: RSS and PSS from smaps_rollup (proc(5)); 0 for one gone meanwhile. */
function memoryOf(pid: number): { rss: number; pss: number; comm: string } {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (key: string) => kbField(text, key);
    return { rss: kb('Rss'), pss: kb('Pss'), comm: readFileSync(`/proc/${pid}/comm`, 'utf8').trim() };
  } catch {
    return { rss: 0, pss: 0, comm: '' };
  }
}

/** MiB the node has in use: MemTotal - MemAvailable (proc(5)), so page cache that can be dropped does not count. */
function nodeUsedMiB(): number {
  const info = readFileSync('/proc/meminfo', 'utf8');
  return (kbField(info, 'MemTotal') - kbField(info, 'MemAvailable')) / 1024;
}

/** The pod cgroups (virtnet/<netns>): its subdirectories, not its interface files. */
function podCgroups(): string[] {
  const root = join(cgroup2Mount() ?? '/sys/fs/cgroup', 'virtnet');
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => join(root, e.name));
}

/** Each VM pod's memory beyond QEMU, MiB, from the pods' cgroups. */
function podMemory(): { rss: number[]; pss: number[]; qemuRss: number[]; qemuPss: number[] } {
  const out = { rss: [] as number[], pss: [] as number[], qemuRss: [] as number[], qemuPss: [] as number[] };
  for (const pod of podCgroups()) {
    const procs = cgroupPids(pod).map(memoryOf);
    const beyond = procs.filter((p) => !p.comm.startsWith('qemu'));
    out.rss.push(beyond.reduce((s, p) => s + p.rss, 0) / 1024);
    out.pss.push(beyond.reduce((s, p) => s + p.pss, 0) / 1024);
    const qemu = procs.filter((p) => p.comm.startsWith('qemu'));
    out.qemuRss.push(qemu.reduce((s, p) => s + p.rss, 0) / 1024);
    out.qemuPss.push(qemu.reduce((s, p) => s + p.pss, 0) / 1024);
  }
  return out;
}

/** What a VM run must not leave: pod cgroups, launcher processes, pod namespaces. */
function vmLeftovers(): string[] {
  const cgroups = podCgroups();
  const procs = spawnSync('pgrep', ['-f', tmp], { encoding: 'utf8' }).stdout.trim();
  const netns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((l) => l.startsWith('vn-'));
  return [
    ...cgroups.map((c) => `cgroup ${c}`),
    ...(procs ? [`processes ${procs.split('\n').join(' ')}`] : []),
    ...netns.map((n) => `netns ${n}`),
  ];
}

async function vmRun(): Promise<void> {
  const file = join(tmp, 'density.yaml');
  writeFileSync(file, manifests());
  const used0 = nodeUsedMiB();
  const c0 = cpuTicks();
  const t0 = performance.now();
  const r = virtnet(['up', '--timeout', '900', file]);
  const upS = (performance.now() - t0) / 1000;
  const c1 = cpuTicks();
  if (r.status !== 0) throw new Error(`up failed (${r.status}): ${r.stdout.slice(-2000)}${r.stderr.slice(-2000)}`);
  const leased = [...r.stdout.matchAll(/lease default\s+([\d.]+) (ms|s)/gu)].length;
  const mem = podMemory();
  // What the node pays per pod: its memory in use grew by this much, QEMUs' own share (PSS) apart. Kernel memory
  // (page tables, namespaces, links, sockets) is in it; pages the pods share (node's and libvirt's code) once.
  const nodePerPod = (nodeUsedMiB() - used0 - mem.qemuPss.reduce((a, b) => a + b, 0)) / VMS;
  const t1 = performance.now();
  const d = virtnet(['down', '--all']);
  const downS = (performance.now() - t1) / 1000;
  if (d.status !== 0) throw new Error(`down failed: ${d.stderr}`);
  const left = vmLeftovers();
  const cpu = (100 * (c1.busy - c0.busy)) / (c1.total - c0.total);
  console.log(`\n## ${VMS} VMs in one \`virtnet up\` (test guest, ${MEMORY_MIB} MiB each, TCG)`);
  console.log('| measure | value |\n|---|---|');
  console.log(`| VMs with their lease when \`up\` returned | ${leased} of ${VMS} |`);
  console.log(`| \`up\` → all leased | ${round2(upS)} s |`);
  console.log(`| CPU busy during the start (all cores) | ${round2(cpu)} % |`);
  for (const [label, xs] of [
    ['memory per VM pod beyond QEMU, RSS', mem.rss],
    ['memory per VM pod beyond QEMU, PSS', mem.pss],
    ['QEMU per VM pod, RSS', mem.qemuRss],
  ] as const) {
    const s = summarize(xs);
    console.log(`| ${label} (MiB, p50 / max, ${s.n} pods) | ${round2(s.p50)} / ${round2(s.max)} |`);
  }
  console.log(`| node memory in use per VM pod beyond QEMU's PSS (MiB, mean) | ${round2(nodePerPod)} |`);
  console.log(`| \`down --all\` | ${round2(downS)} s |`);
  console.log(`| left behind | ${left.length ? left.join('; ') : 'nothing'} |`);
  if (leased !== VMS || left.length) throw new Error('the VM run did not pass');
}

/** `virtnet cni-daemon` in the node namespace; resolves once its socket is there. */
async function startDaemon(socket: string): Promise<void> {
  const child = spawn('ip', ['netns', 'exec', NODE, process.execPath, CLI, 'cni-daemon', '--socket', socket], {
    stdio: 'ignore',
  });
  daemonPid = child.pid;
  for (const end = Date.now() + 10_000; !existsSync(socket); await new Promise((r) => setTimeout(r, 20)))
    if (Date.now() > end || child.exitCode !== null) throw new Error('cni-daemon did not start');
}

function shimCall(verb: string, conf: string, id: string, netns: string, socket: string): Promise<number> {
  const env = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: verb,
    CNI_CONTAINERID: id,
    CNI_NETNS: netns,
    CNI_IFNAME: 'eth0',
    CNI_PATH: '/usr/lib/cni',
    VIRTNET_CNI_POLICY: join(tmp, 'policy.json'),
    VIRTNET_CNI_SOCKET: socket,
  };
  const t = performance.now();
  const child = spawn('ip', ['netns', 'exec', NODE, SHIM], { env, stdio: ['pipe', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b));
  child.stdin.end(conf);
  return new Promise((res, rej) =>
    child.on('close', (code) =>
      code === 0 ? res(performance.now() - t) : rej(new Error(`${verb} ${id} failed (${code}): ${out}`)),
    ),
  );
}

async function sandboxRun(): Promise<void> {
  const socket = join(tmp, 'daemon', 'cni.sock');
  mkdirSync(join(tmp, 'daemon'), { mode: 0o700 });
  writeFileSync(join(tmp, 'policy.json'), JSON.stringify({ dataRoots: [tmp] }));
  await startDaemon(socket);
  const ipam = join(tmp, 'ipam');
  const conf = JSON.stringify({
    cniVersion: '1.1.0',
    name: 'density',
    type: 'virtnet-bridge',
    bridge: 'vdensity0',
    isGateway: true,
    dataDir: join(tmp, 'cni'),
    ipam: { type: 'host-local', subnet: '10.229.0.0/22', dataDir: ipam },
  });
  for (let i = 0; i < SANDBOXES; i++) {
    const ns = `vnb-dpod-${process.pid}-${i}`;
    execFileSync('ip', ['netns', 'add', ns]);
    podNetns.push(ns);
  }
  const t0 = performance.now();
  const adds = await Promise.all(podNetns.map((ns, i) => shimCall('ADD', conf, `sb${i}`, `/run/netns/${ns}`, socket)));
  const addS = (performance.now() - t0) / 1000;
  const daemonRss = daemonPid ? memoryOf(daemonPid).rss / 1024 : Number.NaN;
  const allocated = readdirSync(join(ipam, 'density')).filter((f) => /^\d/u.test(f)).length;
  const t1 = performance.now();
  await Promise.all(podNetns.map((ns, i) => shimCall('DEL', conf, `sb${i}`, `/run/netns/${ns}`, socket)));
  const delS = (performance.now() - t1) / 1000;
  const leftIps = readdirSync(join(ipam, 'density')).filter((f) => /^\d/u.test(f)).length;
  const veths = (
    JSON.parse(
      execFileSync('ip', ['-n', NODE, '-j', 'link', 'show', 'type', 'veth'], { encoding: 'utf8' }),
    ) as unknown[]
  ).length;
  const records = existsSync(join(tmp, 'cni', 'density'))
    ? readdirSync(join(tmp, 'cni', 'density')).filter((f) => f.endsWith('.json')).length
    : 0;
  const s = summarize(adds);
  console.log(`\n## ${SANDBOXES} network-only sandboxes at once through the shim and \`virtnet cni-daemon\``);
  console.log('| measure | value |\n|---|---|');
  console.log(`| ADDs done, IPs allocated | ${adds.length}, ${allocated} |`);
  console.log(
    `| all ADDs | ${round2(addS)} s (one ADD p50 ${round2(s.p50)} ms, p95 ${round2(s.p95)} ms, in the burst) |`,
  );
  console.log(`| all DELs | ${round2(delS)} s |`);
  console.log(`| the daemon's RSS after the burst | ${round2(daemonRss)} MiB |`);
  console.log(`| left behind | ${leftIps} IPs, ${veths} veths, ${records} records |`);
  if (allocated !== SANDBOXES || leftIps || veths || records) throw new Error('the sandbox run did not pass');
}

async function main(): Promise<void> {
  execFileSync('ip', ['netns', 'add', NODE]);
  execFileSync('ip', ['-n', NODE, 'link', 'set', 'lo', 'up']);
  console.log(`virtnet density benchmark (${new Date().toISOString()}), ${VMS} VMs, ${SANDBOXES} sandboxes`);
  if (VMS) await vmRun();
  if (SANDBOXES) await sandboxRun();
}

runBench(main, cleanup);
