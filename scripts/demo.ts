/**
 * The quick-start demo for what virtnet runs today: two pods on a node bridge,
 * wired by the real virtnet-bridge executable through the CNI exec protocol
 * with Debian's host-local as IPAM. Everything happens inside namespaces the
 * demo makes, and it removes them on the way out, also on failure.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const plugin = resolve('dist/cni/virtnet-bridge');
const state = mkdtempSync(join(tmpdir(), 'virtnet-demo-'));
const namespaces = ['vn-demo-node', 'vn-demo-pod1', 'vn-demo-pod2'];
const conf = {
  cniVersion: '1.1.0', name: 'demo', type: 'virtnet-bridge', bridge: 'virtnet0',
  isDefaultGateway: true, macspoofchk: true, dataDir: join(state, 'virtnet'),
  ipam: { type: 'host-local', subnet: '10.244.0.0/24', dataDir: join(state, 'ipam') },
};

function cni(verb: string, pod: string): Record<string, any> | undefined {
  const t = performance.now();
  const r = spawnSync('ip', ['netns', 'exec', 'vn-demo-node', plugin], {
    input: JSON.stringify(conf), encoding: 'utf8',
    env: { ...process.env, CNI_COMMAND: verb, CNI_CONTAINERID: pod, CNI_NETNS: `/var/run/netns/${pod}`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' },
  });
  if (r.status !== 0) throw new Error(`${verb} ${pod} failed: ${r.stdout}${r.stderr}`);
  console.log(`${verb.padEnd(4)} ${pod}: ${(performance.now() - t).toFixed(0)} ms`);
  return r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
}

function cleanup(): void {
  for (const ns of namespaces) spawnSync('ip', ['netns', 'del', ns]);
  rmSync(state, { recursive: true, force: true });
}

try {
  cleanup();
  for (const ns of namespaces) execFileSync('ip', ['netns', 'add', ns]);
  const add1 = cni('ADD', 'vn-demo-pod1')!;
  const add2 = cni('ADD', 'vn-demo-pod2')!;
  console.log(`\npod1 result: ${JSON.stringify(add1.ips)}`);
  console.log(`pod2 result: ${JSON.stringify(add2.ips)}\n`);
  const ip2 = (add2.ips[0].address as string).split('/')[0]!;
  execFileSync('ip', ['netns', 'exec', 'vn-demo-pod1', 'ping', '-c', '3', '-i', '0.2', ip2], { stdio: 'inherit' });
  console.log();
  cni('DEL', 'vn-demo-pod1');
  cni('DEL', 'vn-demo-pod2');
} finally {
  cleanup();
}
