/**
 * The examples as a user runs them, and two VMIs brought up at once: each
 * gets its own address, and the guests reach each other over the node's
 * bridge.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ping } from '../../support/netns.ts';
import { TestNode } from '../../support/node-driver.ts';
import { GuestConsole, waitFor } from '../../../harness/guest-console.ts';

let node: TestNode;

// The dual-stack NAD keeps host-local's default data directory, as a user's would.
const ipamDir = '/var/lib/cni/networks/dualstack';
let ipamDirExisted = false;

before(() => {
  ipamDirExisted = existsSync(ipamDir);
  node = new TestNode();
});
after(() => {
  node.destroy();
  if (!ipamDirExisted) rmSync(ipamDir, { recursive: true, force: true });
});

interface Vmi {
  metadata: { name: string };
  status: { phase: string; interfaces: Array<{ name: string; ipAddresses?: string[]; leased?: boolean }> };
}

function vmis(): Vmi[] {
  return (JSON.parse(node.must(['get', 'vmis', '-o', 'json'])) as { items: Vmi[] }).items;
}

test('examples/vm-dualstack.yaml: the guest takes both pod addresses (DHCPv4 and DHCPv6) and answers on both', () => {
  const out = node.must(['up', 'examples/vm-dualstack.yaml']);
  assert.match(out, /lease default/u);
  const vmi = vmis().find((v) => v.metadata.name === 'vm-dualstack')!;
  const nic = vmi.status.interfaces[0]!;
  assert.equal(nic.leased, true);
  const v4 = nic.ipAddresses!.find((ip) => !ip.includes(':'));
  const v6 = nic.ipAddresses!.find((ip) => ip.includes(':'));
  assert.match(v4 ?? '', /^10\.245\.0\.\d+$/u);
  assert.match(v6 ?? '', /^fd00:10:245::/u);
  assert.ok(ping(node.netns, v4!, 3), `no IPv4 reply from ${v4}`);
  assert.ok(ping(node.netns, v6!, 5), `no IPv6 reply from ${v6}`);
  assert.match(node.must(['get', 'nads']), /^default\s+dualstack\s+\S+\s+\d+[smhd]/mu);
  node.must(['down', 'vm-dualstack']);
});

test(
  'examples/vm-masquerade-ports.yaml: a VM behind its pod IP serves port 80 to the node; runStrategy Halted stops ' +
    'it',
  () => {
    const out = node.must(['up', 'examples/vm-masquerade-ports.yaml']);
    assert.match(out, /default\/web: Running/u);
    const vmi = vmis().find((v) => v.metadata.name === 'web')!;
    const podIp = vmi.status.interfaces[0]!.ipAddresses![0]!;
    const curl = (url: string) => node.netns.try(['curl', '-s', '-g', '--max-time', '3', url]);
    assert.match(curl(`http://${podIp}/`).stdout, /virtnet guest web/u);
    assert.notEqual(curl(`http://${podIp}:8080/`).status, 0, 'an unlisted port is not forwarded');
    const described = node.must(['describe', 'vmi', 'web']);
    assert.match(described, /masquerade/u);
    assert.match(described, /80\/TCP/u);
    assert.match(node.must(['get', 'vms']), /^default\s+web\s+\d+[smhd]\S*\s+Running\s+true$/mu);
    const halted = join(node.stateDir, 'web-halted.yaml');
    writeFileSync(
      halted,
      readFileSync('examples/vm-masquerade-ports.yaml', 'utf8').replace('runStrategy: Always', 'runStrategy: Halted'),
    );
    assert.match(node.must(['up', halted]), /default\/web: stopped/u);
    assert.equal(vmis().length, 0);
  },
);

test('two VMIs up at once get distinct IPs and reach each other', async () => {
  const file = join(node.stateDir, 'two.yaml');
  const vmi = (name: string) => `apiVersion: virtnet.io/v1alpha1
kind: VirtualMachineInstance
metadata:
  name: ${name}
spec:
  domain:
    resources: { requests: { memory: 256Mi } }
    devices:
      interfaces: [{ name: default, bridge: {} }]
  networks: [{ name: default, pod: {} }]
`;
  writeFileSync(file, `${vmi('vm-a')}---\n${vmi('vm-b')}`);
  const out = node.must(['up', file]);
  assert.match(out, /default\/vm-a: Running/u);
  assert.match(out, /default\/vm-b: Running/u);
  const ips = Object.fromEntries(vmis().map((v) => [v.metadata.name, v.status.interfaces[0]!.ipAddresses![0]!]));
  assert.notEqual(ips['vm-a'], ips['vm-b']);
  const guest = new GuestConsole(node.launcherDir('vm-a'));
  try {
    const r = await guest.run(`ping -c 2 -W 2 ${ips['vm-b']}`);
    assert.equal(r.rc, 0, r.output);
  } finally {
    guest.close();
  }
  node.must(['down', '--all']);
  assert.deepEqual(vmis(), []);
});

test('VMIs named like dnsmasq keywords or with a dot get their lease and a hostname (issue 11, defect 5)', async () => {
  const file = join(node.stateDir, 'keywords.yaml');
  const vmi = (name: string) => `apiVersion: kubevirt.io/v1
kind: VirtualMachineInstance
metadata:
  name: "${name}"
spec:
  domain:
    resources: { requests: { memory: 128Mi } }
    devices:
      interfaces: [{ name: default, bridge: {} }]
  networks: [{ name: default, pod: {} }]
`;
  // The hostname is the name's first label, as KubeVirt derives it.
  const names: Array<[string, string]> = [
    ['ignore', 'ignore'],
    ['600', '600'],
    ['my.vm', 'my'],
  ];
  writeFileSync(file, names.map(([n]) => vmi(n)).join('---\n'));
  const out = node.must(['up', file]);
  for (const [name, hostname] of names) {
    assert.match(out, new RegExp(`default/${name.replace('.', '\\.')}: Running`, 'u'), out);
    // dnsmasq has leased when `up` returns; the guest logs its lease a moment later.
    const console = join(node.launcherDir(name), 'console.log');
    const lease = await waitFor(
      `${name}'s lease line`,
      () =>
        readFileSync(console, 'utf8')
          .split('\n')
          // Whole lines only: the last may still be being written (`up` now returns within ms of the lease).
          .slice(0, -1)
          .find((l) => l.includes('VIRTNET-LEASE4')),
      30_000,
    );
    assert.match(lease, new RegExp(` hostname=${hostname} `, 'u'), `${name}: ${lease}`);
  }
  node.must(['down', '--all']);
  assert.deepEqual(vmis(), []);
});
