/**
 * Multi-NIC VMs and L2 VNFs through `virtnet up`, as a VM author writes them
 * (examples/vm-multinic.yaml, examples/vnf-l2.yaml), with Debian's bridge
 * plugin and host-local as real delegates; and a NAD deleted while in use.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestNode } from '../../support/node-driver.ts';
import { GuestConsole, waitFor } from '../../../harness/guest-console.ts';

let node: TestNode;
// The lan NAD keeps host-local's default data directory, as a user's would.
const lanIpam = '/var/lib/cni/networks/lan';
let lanIpamExisted = false;
const consoles: GuestConsole[] = [];

before(() => {
  lanIpamExisted = existsSync(lanIpam);
  node = new TestNode();
});
after(() => {
  for (const c of consoles) c.close();
  node.destroy();
  if (!lanIpamExisted) rmSync(lanIpam, { recursive: true, force: true });
});

interface Vmi {
  metadata: { name: string };
  status: {
    phase: string;
    interfaces: Array<{
      name: string;
      ipAddresses?: string[];
      mac?: string;
      leased?: boolean;
      podInterfaceName?: string;
    }>;
  };
}

function vmi(name: string): Vmi {
  return JSON.parse(node.must(['get', 'vmis', name, '-o', 'json'])) as Vmi;
}

function guest(name: string): GuestConsole {
  const c = new GuestConsole(node.launcherDir(name));
  consoles.push(c);
  return c;
}

const guestIf = (con: GuestConsole, mac: string) => con.ifnameOf(mac);

test('examples/vm-multinic.yaml: masquerade, a bridge+host-local NAD with the asked MAC, and an L2-only NAD', async () => {
  const out = node.must(['up', 'examples/vm-multinic.yaml']);
  assert.match(out, /lease l2\s+0 ms\s+no DHCP/u);
  const st = vmi('multinic').status;
  const byName = Object.fromEntries(st.interfaces.map((i) => [i.name, i]));
  assert.equal(byName.lan!.mac, '02:50:00:00:00:10', 'the spec MAC reaches the guest');
  assert.match(byName.lan!.ipAddresses![0]!, /^192\.168\.50\.\d+$/u);
  assert.equal(byName.lan!.leased, true);
  assert.equal(byName.default!.leased, true);
  assert.equal(byName.l2!.ipAddresses, undefined);
  assert.match(byName.l2!.podInterfaceName!, /^pod[0-9a-f]{11}$/u);
  const con = guest('multinic');
  await waitFor('guest ready', () => con.line('VIRTNET-READY'), 60_000);
  const lanIf = await guestIf(con, '02:50:00:00:00:10');
  const addr = await con.run(`ip -4 -o addr show dev ${lanIf}`);
  assert.ok(addr.output.includes(`${byName.lan!.ipAddresses![0]}/24`), addr.output);
  const leases = con
    .log()
    .split(/\r?\n/u)
    .filter((l) => l.startsWith('VIRTNET-LEASE4'));
  assert.ok(
    leases.some((l) => l.includes(' ip=10.0.2.2/24 ')),
    leases.join('\n'),
  );
  assert.equal(leases.length, 2, `the L2-only NIC gets no lease:\n${leases.join('\n')}`);
});

test('a NAD deleted while in use: the VM keeps running, a new VMI naming it is refused, down still releases its IP', () => {
  const del = node.run(['delete', 'nad', 'lan']);
  assert.equal(del.status, 0, del.stderr);
  assert.match(del.stderr, /default\/multinic uses it and keeps running/u);
  assert.equal(vmi('multinic').status.phase, 'Running');
  const file = join(node.stateDir, 'late.yaml');
  writeFileSync(
    file,
    'apiVersion: virtnet.io/v1alpha1\nkind: VirtualMachineInstance\nmetadata: { name: late }\nspec:\n  domain: { ' +
      'devices: { interfaces: [{ name: lan, bridge: {} }] } }\n  networks: [{ name: lan, multus: { networkName: lan ' +
      '} }]\n',
  );
  const r = node.run(['up', file]);
  assert.equal(r.status, 1);
  assert.match(
    r.stderr,
    /spec\.networks\[0\]\.multus\.networkName: NetworkAttachmentDefinition default\/lan not found/u,
  );
  node.must(['down', 'multinic']);
  const left = existsSync(lanIpam) ? readdirSync(lanIpam).filter((f) => /^\d+\.\d+\.\d+\.\d+$/u.test(f)) : [];
  assert.deepEqual(left, [], 'the lan IP is released from the cache, without the NAD');
});

test('examples/vnf-l2.yaml: two VNFs share an L2 network; the trunk port carries VLAN 100 and drops VLAN 200', async () => {
  node.must(['up', 'examples/vnf-l2.yaml']);
  const cons = { a: guest('vnf-a'), b: guest('vnf-b') };
  for (const [n, c] of Object.entries(cons)) {
    await waitFor(`vnf-${n} ready`, () => c.line('VIRTNET-READY'), 60_000);
    const mac = vmi(`vnf-${n}`).status.interfaces.find((i) => i.name === 'data')!.mac!;
    const nic = await guestIf(c, mac);
    const host = n === 'a' ? 1 : 2;
    const setup = await c.run(
      `ip addr add 192.0.2.${host}/24 dev ${nic}; ip link add link ${nic} name v100 type vlan id 100 && ip addr ` +
        `add 198.51.100.${host}/24 dev v100 && ip link set v100 up && ip link add link ${nic} name v200 type vlan id ` +
        `200 && ip addr add 203.0.113.${host}/24 dev v200 && ip link set v200 up`,
    );
    assert.equal(setup.rc, 0, setup.output);
  }
  assert.equal((await cons.a.run('ping -c 2 -W 2 192.0.2.2')).rc, 0, 'untagged frames cross the shared L2 network');
  assert.equal((await cons.a.run('ping -c 2 -W 2 198.51.100.2')).rc, 0, 'VLAN 100 passes the trunk port');
  assert.notEqual((await cons.a.run('ping -c 2 -W 2 203.0.113.2')).rc, 0, 'VLAN 200 is dropped at the trunk port');
  node.must(['down', 'vnf-a', 'vnf-b']);
});
