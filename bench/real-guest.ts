/**
 * A real guest, side by side in one run (issue 12): the Debian 12 cloud
 * image as a containerDisk through `virtnet up examples/debian-containerdisk.yaml`
 * (pulled from a local registry in the node's namespace, uncached and then
 * cached), against bare QEMU booting the same disk (an overlay of it) with
 * the same kind of cloud-init seed, a hand-made tap and dnsmasq
 * (bench/bare-qemu.ts). Both run under TCG with one vCPU and 1 GiB, and are
 * timed to the guest's DHCP lease; runs alternate.
 *   node --import tsx bench/real-guest.ts [--n 2]
 */
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { bareQemuToLease } from './bare-qemu.ts';
import { round2, summarize, summaryRow } from './stats.ts';
import { runBench } from './harness.ts';
import { planSeed } from '../launcher/cloudinit/seed.ts';
import { buildIsoImage } from '../lib/iso.ts';

const args = process.argv.slice(2);
const N = args.includes('--n') && Number(args[args.indexOf('--n') + 1]) > 0 ? Number(args[args.indexOf('--n') + 1]) : 2;
const tag = String(process.pid);
const NODE = `vnb-rgnode-${tag}`;
const BARE = `vnb-rgbare-${tag}`;
const tmp = mkdtempSync(join(tmpdir(), 'virtnet-bench-'));
const stateDir = join(tmp, 'state');
const cache = join(tmp, 'cache');
const conf = join(tmp, 'registries.conf');
const children: ChildProcess[] = [];
const inNode = (argv: string[]) =>
  execFileSync('ip', ['netns', 'exec', NODE, ...argv], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const virtnet = (argv: string[]) =>
  spawnSync(
    'nsenter',
    [
      `--net=/run/netns/${NODE}`,
      '--',
      process.execPath,
      resolve('dist/cli/virtnet'),
      '--state-dir',
      stateDir,
      '--registries-conf',
      conf,
      ...argv,
    ],
    { encoding: 'utf8', timeout: 600_000, env: { ...process.env, VIRTNET_IMAGE_CACHE_DIR: cache } },
  );

function cleanup(): void {
  virtnet(['down', '--all']);
  spawnSync('ip', ['netns', 'exec', NODE, 'bash', 'scripts/local-registry.sh', 'stop', join(tmp, 'registry')]);
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const ns of [NODE, BARE]) spawnSync('ip', ['netns', 'del', ns]);
  rmSync(tmp, { recursive: true, force: true });
}

/** `up` of the example: its wall time to the lease, and its image step. */
function upOnce(): { upMs: number; imageMs: number; pulled: boolean } {
  const t = performance.now();
  const r = virtnet(['up', '--timeout', '300', 'examples/debian-containerdisk.yaml']);
  if (r.status !== 0) throw new Error(`up failed: ${r.stdout}${r.stderr}`);
  const upMs = performance.now() - t;
  const m = /image containerdisk\s+([\d.]+) (ms|s)\b.*\((pulled|cached)\)/u.exec(r.stdout);
  if (!m) throw new Error(`no image step in: ${r.stdout}`);
  const d = virtnet(['down', 'debian-web']);
  if (d.status !== 0) throw new Error(`down failed: ${d.stderr}`);
  return { upMs, imageMs: Number(m[1]) * (m[2] === 's' ? 1000 : 1), pulled: m[3] === 'pulled' };
}

/** The bare run's seed: the example's kind of NoCloud seed, DHCP on the bare MAC. */
async function bareSeed(): Promise<string> {
  const plan = planSeed({
    kind: 'noCloud',
    instanceId: 'bench-bare',
    hostname: 'debian-web',
    userData: Buffer.from('#cloud-config\npassword: debian\n'),
    nics: [{ name: 'default', mac: '52:54:00:00:00:02', mtu: 1500, dhcp4: true, dhcp6: false, staticAddresses: [] }],
  });
  const seed = join(tmp, 'seed.iso');
  await buildIsoImage(plan, seed);
  return seed;
}

async function main(): Promise<void> {
  const disk = execFileSync('bash', ['scripts/guest.sh', 'debian'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
    .trim()
    .split('\n')
    .at(-1)!;
  execFileSync('ip', ['netns', 'add', NODE]);
  execFileSync('ip', ['-n', NODE, 'link', 'set', 'lo', 'up']);
  inNode(['bash', 'scripts/local-registry.sh', 'start', join(tmp, 'registry'), '5000']);
  inNode(['bash', 'scripts/local-registry.sh', 'push', disk, '127.0.0.1:5000/virtnet/debian-cloud:12', '--insecure']);
  writeFileSync(conf, '[[registry]]\nprefix = "registry:5000"\nlocation = "127.0.0.1:5000"\ninsecure = true\n');
  const seed = await bareSeed();
  const uncached: number[] = [];
  const cached: number[] = [];
  const up: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < N; i++) {
    rmSync(cache, { recursive: true, force: true });
    const first = upOnce();
    if (!first.pulled) throw new Error('the first up did not pull');
    uncached.push(first.imageMs);
    const second = upOnce();
    if (second.pulled) throw new Error('the second up pulled again');
    cached.push(second.imageMs);
    up.push(first.upMs, second.upMs);
    const overlay = join(tmp, 'bare-overlay.qcow2');
    rmSync(overlay, { force: true });
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', disk, overlay]);
    bare.push(
      (
        await bareQemuToLease(
          BARE,
          join(tmp, 'bare'),
          { disk: overlay, seed, memoryMiB: 1024 },
          (c) => children.push(c),
          300_000,
        )
      ).fromNothingMs,
    );
  }
  console.log(`real guest benchmark (${new Date().toISOString()}), Debian 12 cloud image under TCG, ms`);
  console.log('| measure | n | p50 | p95 |\n|---|---|---|---|');
  console.log(summaryRow('containerDisk pull and prepare, uncached (141 MiB qcow2 from a local registry)', uncached));
  console.log(summaryRow('containerDisk prepare, cached (IfNotPresent)', cached));
  console.log(summaryRow('`virtnet up examples/debian-containerdisk.yaml` → exit with the lease', up));
  console.log(summaryRow('bare QEMU from nothing → lease (same disk, seed, tap, dnsmasq by hand)', bare));
  console.log(`ratio up/bare (p50): ${round2(summarize(up).p50 / summarize(bare).p50)}x`);
}

runBench(main, cleanup);
