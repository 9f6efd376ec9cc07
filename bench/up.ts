/**
 * `virtnet up` end to end, as a user runs it: the CLI's wall time from its
 * start to its exit with the guest's lease (validate, sandbox, pod network
 * through the CNI exec protocol, launcher, libvirt, boot, DHCP), its steps,
 * and `virtnet down`; side by side with the hand-made reference, bare QEMU
 * from nothing (bench/bare-qemu.ts), alternating, with the same TCG guest.
 * Runs on a private node namespace with its own state directory.
 *   node --import tsx bench/up.ts [--n 5]
 */
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { bareQemuToLease } from './bare-qemu.ts';
import { round2, summarize, summaryRow } from './stats.ts';
import { runBench } from './harness.ts';

const args = process.argv.slice(2);
const N = Number(args[args.indexOf('--n') + 1]) > 0 && args.includes('--n') ? Number(args[args.indexOf('--n') + 1]) : 5;
const tag = String(process.pid);
const NODE = `vnb-upnode-${tag}`;
const BARE = `vnb-upbare-${tag}`;
const tmp = mkdtempSync(join(tmpdir(), 'virtnet-bench-'));
const stateDir = join(tmp, 'state');
const children: ChildProcess[] = [];
const virtnet = (argv: string[]) =>
  spawnSync(
    'nsenter',
    [`--net=/run/netns/${NODE}`, '--', process.execPath, resolve('dist/cli/virtnet'), '--state-dir', stateDir, ...argv],
    { encoding: 'utf8', timeout: 300_000 },
  );

function cleanup(): void {
  virtnet(['down', '--all']);
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const ns of [NODE, BARE]) spawnSync('ip', ['netns', 'del', ns]);
  rmSync(tmp, { recursive: true, force: true });
}

async function main(): Promise<void> {
  execFileSync('ip', ['netns', 'add', NODE]);
  execFileSync('ip', ['-n', NODE, 'link', 'set', 'lo', 'up']);
  const dir = execFileSync('bash', ['scripts/build-guest.sh'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
    .trim()
    .split('\n')
    .at(-1)!;
  const g = { kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.img') };
  const up: number[] = [];
  const down: number[] = [];
  const bare: number[] = [];
  const steps = new Map<string, number[]>();
  // One warm-up of each, not counted: the first up writes the default network and creates the node bridge.
  for (let i = -1; i < N; i++) {
    let t = performance.now();
    const r = virtnet(['up', 'examples/vm-bridge.yaml']);
    if (r.status !== 0) throw new Error(`up failed: ${r.stdout}${r.stderr}`);
    const upMs = performance.now() - t;
    t = performance.now();
    const d = virtnet(['down', 'vm-bridge']);
    if (d.status !== 0) throw new Error(`down failed: ${d.stderr}`);
    const downMs = performance.now() - t;
    const b = await bareQemuToLease(BARE, join(tmp, 'bare'), g, (c) => children.push(c));
    if (i < 0) continue;
    up.push(upMs);
    down.push(downMs);
    bare.push(b.fromNothingMs);
    for (const m of r.stdout.matchAll(/^default\/vm-bridge\s+(\S.*?\S)\s+([\d.]+) (ms|s)\b/gmu)) {
      const ms = Number(m[2]) * (m[3] === 's' ? 1000 : 1);
      steps.set(m[1]!, [...(steps.get(m[1]!) ?? []), ms]);
    }
  }
  console.log(`virtnet up benchmark (${new Date().toISOString()}), TCG guest, ms`);
  console.log('| measure | n | p50 | p95 |\n|---|---|---|---|');
  console.log(summaryRow('`virtnet up examples/vm-bridge.yaml` → exit with the lease (CLI wall time)', up));
  console.log(summaryRow('bare QEMU from nothing → lease (netns, bridge, tap, dnsmasq, QEMU by hand)', bare));
  console.log(summaryRow('`virtnet down vm-bridge` (CLI wall time)', down));
  for (const [name, xs] of steps) console.log(summaryRow(`  step: ${name}`, xs));
  // Each run, in order: one slow outlier shows here, where p95 of five hides which run it was.
  console.log(`runs, up: ${up.map(Math.round).join(' ')}; bare: ${bare.map(Math.round).join(' ')}`);
  console.log(`ratio up/bare (p50): ${round2(summarize(up).p50 / summarize(bare).p50)}x`);
}

runBench(main, cleanup);
