/**
 * NIC hotplug on a running test guest, as a user does it: `virtnet up` of the
 * same VMI with an interface more, with `state: absent`, `state: down` or
 * `up`. The guest keeps running (QEMU's pid, one boot on its console), takes
 * its lease on the new NIC, and every unplug gives back the link, the IP and
 * the cache entry; 20 rounds leak nothing; each failure leaves the VM as it
 * was.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ping } from '../../support/netns.ts';
import { TestNode } from '../../support/node-driver.ts';
import { waitFor } from '../../../harness/guest-console.ts';
import type { LauncherStatus } from '../../../launcher/status.ts';

let node: TestNode;
/** host-local keeps a network's IPs in /var/lib/cni/networks/<its name>: a name of this run's own. */
const LAN = `vnthp${process.pid}`;
const IPAM_DIR = `/var/lib/cni/networks/${LAN}`;

before(() => {
  node = new TestNode();
});
after(() => {
  node.destroy();
  rmSync(IPAM_DIR, { recursive: true, force: true });
});

const NADS = `apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: { name: lan }
spec:
  config: '{ "cniVersion": "1.0.0", "name": "${LAN}", "type": "bridge", "bridge": "br-hplan",
    "ipam": { "type": "host-local", "subnet": "192.168.77.0/24" } }'
---
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: { name: l2 }
spec:
  config: '{ "cniVersion": "1.1.0", "name": "hpl2", "type": "virtnet-bridge", "bridge": "br-hpl2" }'
---
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: { name: trunk }
spec:
  config: '{ "cniVersion": "1.1.0", "name": "hptrunk", "type": "virtnet-bridge", "bridge": "br-hpl2",
    "vlanTrunk": [{ "id": 100 }] }'
---
apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: { name: broken }
spec:
  config: '{ "cniVersion": "1.0.0", "name": "hpbroken", "type": "bridge", "bridge": "br-hpbad",
    "ipam": { "type": "host-local", "subnet": "192.168.88.0/24", "rangeStart": "192.168.89.5" } }'
`;

/** One extra interface of the VMI: its name (= its network's), the NAD, and extra interface fields. */
type Extra = { name: string; nad: string; fields?: string };

/** The VMI `name` on the pod network (bridge binding), with these extra bridge NICs, as a manifest file. */
function vmi(extras: Extra[], name = 'hp', annotations = ''): string {
  const ifaces = extras.map((e) => `        - { name: ${e.name}, bridge: {}${e.fields ? `, ${e.fields}` : ''} }\n`);
  const nets = extras.map((e) => `    - { name: ${e.name}, multus: { networkName: ${e.nad} } }\n`);
  const text =
    `${NADS}---\napiVersion: virtnet.io/v1alpha1\nkind: VirtualMachineInstance\n` +
    `metadata: { name: ${name}${annotations ? `, annotations: { ${annotations} }` : ''} }\n` +
    'spec:\n  domain:\n    resources: { requests: { memory: 256Mi } }\n    devices:\n      interfaces:\n' +
    `        - { name: default, bridge: {} }\n${ifaces.join('')}  networks:\n    - { name: default, pod: {} }\n` +
    nets.join('');
  const file = join(node.stateDir, `${name}-${extras.map((e) => e.name + (e.fields ?? '')).join('-')}.yaml`);
  writeFileSync(file, text);
  return file;
}

const LAN_NIC: Extra = { name: 'lan', nad: 'lan' };

function status(name = 'hp'): LauncherStatus {
  return JSON.parse(readFileSync(join(node.launcherDir(name), 'status.json'), 'utf8')) as LauncherStatus;
}
const consoleLog = (name = 'hp') => readFileSync(join(node.launcherDir(name), 'console.log'), 'utf8');
/** Boots on the guest's console: the init prints VIRTNET-READY once per boot. */
const boots = (name = 'hp') => consoleLog(name).split('VIRTNET-READY').length - 1;
const qemuPid = (name = 'hp') => status(name).pids?.qemu;
const podLinks = () => {
  const [netns] = node.sandboxes();
  const out = node.netns.run(['ip', '-n', netns!, '-j', 'link', 'show']);
  return (JSON.parse(out) as Array<{ ifname: string }>).map((l) => l.ifname).sort();
};
const lanIps = () => (existsSync(IPAM_DIR) ? readdirSync(IPAM_DIR).filter((f) => f.startsWith('192.168.77.')) : []);
const cacheEntries = () => readdirSync(join(node.stateDir, 'cni-cache', 'results')).sort();
const lanStatus = () => status().nics.find((n) => n.name === 'lan');

let baseline: { links: string[]; cache: string[]; pid: number | undefined };

test('plug: a NIC on a bridge+host-local NAD gets its lease in the running guest, QEMU and the boot unchanged', async () => {
  node.must(['up', vmi([])]);
  baseline = { links: podLinks(), cache: cacheEntries(), pid: qemuPid() };
  assert.ok(baseline.pid, 'QEMU runs');
  const out = node.must(['up', vmi([LAN_NIC])]);
  assert.match(out, /default\/hp\s+cni add pod[0-9a-f]{11}/u);
  assert.match(out, /default\/hp\s+lease lan\s+.*192\.168\.77\.\d+/u);
  assert.equal(qemuPid(), baseline.pid, 'the same QEMU');
  assert.equal(boots(), 1, 'no reboot');
  await waitFor(
    'the guest to report its lease on eth1',
    () => /VIRTNET-LEASE4 iface=eth1 /u.test(consoleLog()),
    10_000,
  );
  assert.match(consoleLog(), /VIRTNET-NIC-ADDED iface=eth1/u);
  const nic = lanStatus();
  assert.equal(nic?.hotplugged, true);
  assert.equal(lanIps().length, 1, `one IP in host-local's store: ${lanIps()}`);
  const vmiObject = JSON.parse(node.must(['get', 'vmi', 'hp', '-o', 'json'])) as {
    status: { interfaces: Array<{ name: string; ipAddress?: string; linkState?: string }> };
  };
  const lan = vmiObject.status.interfaces.find((i) => i.name === 'lan');
  assert.equal(lan?.ipAddress, nic?.ips[0]);
  assert.equal(lan?.linkState, 'up');
  // Reached from the node over the NAD's bridge, as a peer on that LAN would.
  node.netns.run(['ip', 'addr', 'add', '192.168.77.254/24', 'dev', 'br-hplan']);
  assert.ok(ping(node.netns, nic!.ips[0]!, 3), 'the guest answers on its new NIC');
  const describe = node.must(['describe', 'vmi', 'hp']);
  assert.match(describe, /lan/u);
});

test('link down: the guest loses carrier and the ping fails; up: it works again', async () => {
  const ip = lanStatus()!.ips[0]!;
  const from = consoleLog().length;
  const down = node.must(['up', vmi([{ ...LAN_NIC, fields: 'state: down' }])]);
  assert.match(down, /lease lan\s+.*link down/u);
  assert.equal(lanStatus()?.linkState, 'down');
  await waitFor('no carrier in the guest', () => consoleLog().slice(from).includes('iface=eth1 carrier=0'), 10_000);
  assert.ok(!ping(node.netns, ip, 2), 'no answer with the link down');
  const got = JSON.parse(node.must(['get', 'vmi', 'hp', '-o', 'json'])) as {
    status: { interfaces: Array<{ name: string; linkState?: string }> };
  };
  assert.equal(got.status.interfaces.find((i) => i.name === 'lan')?.linkState, 'down');
  node.must(['up', vmi([LAN_NIC])]);
  assert.equal(lanStatus()?.linkState, 'up');
  await waitFor('carrier back', () => consoleLog().slice(from).includes('iface=eth1 carrier=1'), 10_000);
  assert.ok(ping(node.netns, ip, 3), 'the ping works again');
  assert.equal(qemuPid(), baseline.pid);
});

test('unplug: gone in the guest and the pod, the IP back in IPAM, the cache entry gone', async () => {
  const out = node.must(['up', vmi([{ ...LAN_NIC, fields: 'state: absent' }])]);
  assert.match(out, /cni del pod[0-9a-f]{11}\s.*released/u);
  await waitFor('the guest to see it go', () => consoleLog().includes('VIRTNET-NIC-REMOVED iface=eth1'), 10_000);
  assert.equal(lanStatus(), undefined);
  assert.deepEqual(podLinks(), baseline.links);
  assert.deepEqual(lanIps(), []);
  assert.deepEqual(cacheEntries(), baseline.cache);
  assert.equal(qemuPid(), baseline.pid);
  // Once it is gone the interface may leave the spec: nothing to do.
  assert.match(node.must(['up', vmi([])]), /default\/hp\s+unchanged/u);
});

test('an L2-only NIC, then a second one on a VLAN trunk', async () => {
  const l2: Extra = { name: 'l2', nad: 'l2' };
  const trunk: Extra = { name: 'trunk', nad: 'trunk' };
  const one = node.must(['up', vmi([l2])]);
  assert.match(one, /lease l2\s+.*no DHCP/u);
  node.must(['up', vmi([l2, trunk])]);
  const nics = status().nics.map((n) => [n.name, n.dhcp, n.hotplugged ?? false]);
  assert.deepEqual(nics, [
    ['default', true, false],
    ['l2', false, true],
    ['trunk', false, true],
  ]);
  await waitFor('both NICs in the guest', () => consoleLog().split('VIRTNET-NIC-ADDED').length - 1 >= 3, 10_000);
  node.must([
    'up',
    vmi([
      { ...l2, fields: 'state: absent' },
      { ...trunk, fields: 'state: absent' },
    ]),
  ]);
  assert.deepEqual(podLinks(), baseline.links);
  assert.deepEqual(cacheEntries(), baseline.cache);
  node.must(['up', vmi([])]);
});

test('failures leave the VM running and nothing half-made: a missing NAD, a failing ADD, a MAC clash', () => {
  const same = () => {
    assert.equal(qemuPid(), baseline.pid);
    assert.deepEqual(podLinks(), baseline.links);
    assert.deepEqual(cacheEntries(), baseline.cache);
    assert.equal(status().nics.length, 1);
  };
  const missing = node.run(['up', vmi([{ name: 'gone', nad: 'no-such-nad' }])]);
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr, /no-such-nad/u);
  same();
  const failing = node.run(['up', vmi([{ name: 'bad', nad: 'broken' }])]);
  assert.notEqual(failing.status, 0);
  assert.match(failing.stderr, /failed at cni add pod[0-9a-f]{11}/u);
  same();
  const mac = status().nics[0]!.mac;
  const clash = node.run(['up', vmi([{ ...LAN_NIC, fields: `macAddress: "${mac}"` }])]);
  assert.notEqual(clash.status, 0);
  assert.match(clash.stderr, new RegExp(`MAC ${mac} is already NIC default's`, 'u'));
  same();
  assert.deepEqual(lanIps(), [], 'the rolled-back ADD gave its IP back');
  // After each failure the VMI still takes the change it can.
  node.must(['up', vmi([LAN_NIC])]);
  node.must(['up', vmi([{ ...LAN_NIC, fields: 'state: absent' }])]);
  node.must(['up', vmi([])]);
});

test('plug and unplug 20 times: no link, IP, cache entry or PCI slot leaks', () => {
  for (let i = 0; i < 20; i++) {
    node.must(['up', vmi([LAN_NIC])]);
    assert.equal(lanIps().length, 1, `round ${i}`);
    node.must(['up', vmi([{ ...LAN_NIC, fields: 'state: absent' }])]);
    assert.deepEqual(lanIps(), [], `round ${i}`);
  }
  node.must(['up', vmi([])]);
  assert.deepEqual(podLinks(), baseline.links);
  assert.deepEqual(cacheEntries(), baseline.cache);
  assert.equal(qemuPid(), baseline.pid);
  assert.equal(boots(), 1);
  // Every slot came back: the NIC plugs again, and the domain has one NIC beside it.
  node.must(['up', vmi([LAN_NIC])]);
  assert.equal(status().nics.length, 2);
  node.must(['up', vmi([{ ...LAN_NIC, fields: 'state: absent' }])]);
});

test('no free PCI slot (virtnet.io/hotplug-ports "0"): an error, the VM as it was', () => {
  node.must(['up', vmi([], 'full', '"virtnet.io/hotplug-ports": "0"')]);
  const pid = qemuPid('full');
  const r = node.run(['up', vmi([LAN_NIC], 'full', '"virtnet.io/hotplug-ports": "0"')]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /failed at live change: interface lan: no free PCI slot/u);
  assert.equal(qemuPid('full'), pid);
  assert.equal(status('full').nics.length, 1);
  assert.deepEqual(lanIps(), []);
  node.must(['down', 'full']);
});

test("a VirtualMachine: a change to its template's interfaces is applied to its running VMI", () => {
  const vm = (extras: Extra[]) => {
    const ifaces = extras.map((e) => `{ name: ${e.name}, bridge: {}${e.fields ? `, ${e.fields}` : ''} }`);
    const nets = extras.map((e) => `{ name: ${e.name}, multus: { networkName: ${e.nad} } }`);
    const file = join(node.stateDir, `vm-${extras.map((e) => e.fields ?? 'up').join('-')}.yaml`);
    writeFileSync(
      file,
      `${NADS}---\napiVersion: virtnet.io/v1alpha1\nkind: VirtualMachine\nmetadata: { name: vmhp }\nspec:\n` +
        '  runStrategy: Always\n  template:\n    spec:\n' +
        `      domain: { resources: { requests: { memory: 256Mi } }, devices: { interfaces: [${[
          '{ name: default, bridge: {} }',
          ...ifaces,
        ].join(', ')}] } }\n` +
        `      networks: [${['{ name: default, pod: {} }', ...nets].join(', ')}]\n`,
    );
    return file;
  };
  node.must(['up', vm([])]);
  const pid = qemuPid('vmhp');
  const out = node.must(['up', vm([LAN_NIC])]);
  assert.match(out, /default\/vmhp\s+lease lan\s+.*192\.168\.77\.\d+/u);
  assert.equal(qemuPid('vmhp'), pid);
  node.must(['up', vm([{ ...LAN_NIC, fields: 'state: absent' }])]);
  assert.equal(status('vmhp').nics.length, 1);
  node.must(['down', 'vmhp']);
});

test('down after hotplugs leaves nothing: links, IPs, cache entries', () => {
  node.must(['up', vmi([LAN_NIC])]);
  node.must(['down', 'hp']);
  assert.deepEqual(node.sandboxes(), []);
  assert.deepEqual(lanIps(), []);
  assert.deepEqual(cacheEntries(), []);
});
