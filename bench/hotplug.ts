/**
 * NIC hotplug as a user does it, against the running test guest: the wall
 * time of `virtnet up` with an interface more (CNI ADD into the running pod,
 * the launcher's wiring and DHCP, libvirt's attach, the guest's lease) and of
 * `virtnet up` with it `state: absent` (libvirt's detach until the guest has
 * released it, the unwiring, the CNI DEL); side by side, alternating, with
 * the reference: the same plug and unplug on bare QEMU through QMP
 * (bench/bare-hotplug.ts).
 *   node --import tsx bench/hotplug.ts [--n 10]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BareHotplugGuest } from './bare-hotplug.ts';
import { round2, summarize, summaryRow } from './stats.ts';
import { runBench } from './harness.ts';

const args = process.argv.slice(2);
const at = args.indexOf('--n');
const N = at >= 0 && Number(args[at + 1]) > 0 ? Number(args[at + 1]) : 10;
const tag = String(process.pid);
const NODE = `vnb-hpnode-${tag}`;
const BARE = `vnb-hpbare-${tag}`;
/** host-local keeps the NAD's IPs in /var/lib/cni/networks/<its name>: one of this run's own. */
const LAN = `vnbhp${tag}`;
const tmp = mkdtempSync(join(tmpdir(), 'virtnet-bench-'));
const stateDir = join(tmp, 'state');
let bare: BareHotplugGuest | undefined;

const virtnet = (argv: string[]) =>
  spawnSync(
    'nsenter',
    [`--net=/run/netns/${NODE}`, '--', process.execPath, resolve('dist/cli/virtnet'), '--state-dir', stateDir, ...argv],
    { encoding: 'utf8', timeout: 300_000 },
  );

function manifest(lan: '' | 'up' | 'absent'): string {
  const nad =
    'apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata: { name: lan }\nspec:\n' +
    `  config: '{ "cniVersion": "1.0.0", "name": "${LAN}", "type": "bridge", "bridge": "br-hp", ` +
    `"ipam": { "type": "host-local", "subnet": "192.168.78.0/24" } }'\n`;
  const iface = lan ? `        - { name: lan, bridge: {}${lan === 'absent' ? ', state: absent' : ''} }\n` : '';
  const net = lan ? '    - { name: lan, multus: { networkName: lan } }\n' : '';
  const vmi =
    'apiVersion: virtnet.io/v1alpha1\nkind: VirtualMachineInstance\nmetadata: { name: hp }\nspec:\n  domain:\n' +
    '    resources: { requests: { memory: 256Mi } }\n    devices:\n      interfaces:\n' +
    `        - { name: default, bridge: {} }\n${iface}  networks:\n    - { name: default, pod: {} }\n${net}`;
  const file = join(tmp, `hp-${lan || 'base'}.yaml`);
  writeFileSync(file, `${nad}---\n${vmi}`);
  return file;
}

/** `virtnet up FILE` to its exit: ms, and its step lines. */
function timedUp(file: string): { ms: number; out: string } {
  const t = performance.now();
  const r = virtnet(['up', file]);
  if (r.status !== 0) throw new Error(`up ${file} failed: ${r.stdout}${r.stderr}`);
  return { ms: performance.now() - t, out: r.stdout };
}

function stepMs(out: string, step: RegExp): number | undefined {
  const m = new RegExp(`^default/hp\\s+${step.source}\\s+([\\d.]+) (ms|s)\\b`, 'mu').exec(out);
  return m ? Number(m[1]) * (m[2] === 's' ? 1000 : 1) : undefined;
}

function cleanup(): void {
  virtnet(['down', '--all']);
  bare?.stop();
  for (const ns of [NODE, BARE]) spawnSync('ip', ['netns', 'del', ns]);
  rmSync(`/var/lib/cni/networks/${LAN}`, { recursive: true, force: true });
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
  timedUp(manifest(''));
  bare = await BareHotplugGuest.boot(BARE, join(tmp, 'bare'), {
    kernel: join(dir, 'vmlinuz'),
    initrd: join(dir, 'initrd.img'),
  });
  const s = { plug: [] as number[], unplug: [] as number[], barePlug: [] as number[], bareUnplug: [] as number[] };
  const steps = { cniAdd: [] as number[], cniDel: [] as number[], lease: [] as number[] };
  // One warm-up round of each, not counted.
  for (let i = -1; i < N; i++) {
    const plug = timedUp(manifest('up'));
    const unplug = timedUp(manifest('absent'));
    const bp = await bare.plug();
    const bu = await bare.unplug();
    if (i < 0) continue;
    s.plug.push(plug.ms);
    s.unplug.push(unplug.ms);
    s.barePlug.push(bp);
    s.bareUnplug.push(bu);
    for (const [k, out, re] of [
      ['cniAdd', plug.out, /cni add \S+/u],
      ['lease', plug.out, /lease lan/u],
      ['cniDel', unplug.out, /cni del \S+/u],
    ] as const) {
      const ms = stepMs(out, re);
      if (ms !== undefined) steps[k].push(ms);
    }
  }
  console.log(`virtnet NIC hotplug benchmark (${new Date().toISOString()}), TCG test guest, ms`);
  console.log('| measure | n | p50 | p95 |\n|---|---|---|---|');
  console.log(summaryRow('`virtnet up` with a NIC more → exit with its lease (CLI wall time)', s.plug));
  console.log(summaryRow('bare QEMU: tap + netdev_add + device_add → lease', s.barePlug));
  console.log(
    summaryRow('`virtnet up` with the NIC `state: absent` → exit, its IP released (CLI wall time)', s.unplug),
  );
  console.log(summaryRow('bare QEMU: device_del → DEVICE_DELETED, netdev and tap removed', s.bareUnplug));
  console.log(summaryRow('  step: cni add (bridge + host-local into the running pod)', steps.cniAdd));
  console.log(summaryRow('  step: lease lan (from the live change to the lease)', steps.lease));
  console.log(summaryRow('  step: cni del', steps.cniDel));
  const ratio = (a: number[], b: number[]) => round2(summarize(a).p50 / summarize(b).p50);
  console.log(`ratio virtnet/bare (p50): plug ${ratio(s.plug, s.barePlug)}x, unplug ${ratio(s.unplug, s.bareUnplug)}x`);
}

runBench(main, cleanup);
