// L2 beyond one bridge: a VXLAN overlay between two nodes, and VLAN trunks
// enforced by nftables bridge-family rules (this kernel has no 8021q and no
// bridge VLAN filtering, so the tagged frames are made on raw sockets).
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeNetns, deleteAllNetns, links, ping } from '../../support/netns.ts';
import { bridgeConf, mustCall, scratchDir } from '../../support/cni.ts';
import { framesSeen } from '../../support/vlan-frames.ts';

describe('virtnet-bridge overlays and trunks', () => {
  const scratch = scratchDir();
  after(() => {
    deleteAllNetns();
    scratch.cleanup();
  });

  test('pods on two nodes reach each other over a VXLAN-backed bridge', () => {
    const [n1, n2] = [makeNetns('vnt-node'), makeNetns('vnt-node')];
    // The underlay: one veth between the two nodes.
    n1.run(['ip', 'link', 'add', 'underlay', 'type', 'veth', 'peer', 'name', 'underlay', 'netns', n2.name]);
    n1.run(['ip', 'addr', 'add', '192.0.2.1/30', 'dev', 'underlay']);
    n2.run(['ip', 'addr', 'add', '192.0.2.2/30', 'dev', 'underlay']);
    n1.run(['ip', 'link', 'set', 'underlay', 'up']);
    n2.run(['ip', 'link', 'set', 'underlay', 'up']);
    const conf = (remote: string, start: string, end: string) =>
      bridgeConf(scratch.dir, {
        name: `overlay-${start.split('.').at(-1)}`,
        bridge: 'vxbr0',
        subnet: '10.96.0.0/24',
        extra: { isGateway: false, mtu: 1450, vxlan: { id: 4242, remote, dev: 'underlay' } },
        ipamExtra: { rangeStart: start, rangeEnd: end },
      });
    const [p1, p2] = [makeNetns('vnt-pod'), makeNetns('vnt-pod')];
    const c1 = conf('192.0.2.2', '10.96.0.10', '10.96.0.19');
    const c2 = conf('192.0.2.1', '10.96.0.20', '10.96.0.29');
    const a1 = mustCall(n1, 'ADD', c1, { containerID: 'c-vx1', ifname: 'eth0', netns: p1.path }).json!;
    const a2 = mustCall(n2, 'ADD', c2, { containerID: 'c-vx2', ifname: 'eth0', netns: p2.path }).json!;
    const vx = links(n1).find((l) => l.ifname === 'vxlan4242');
    assert.equal(vx?.master, 'vxbr0', 'the VXLAN device is a port of the bridge');
    const ip2 = (a2.ips[0].address as string).split('/')[0]!;
    const ip1 = (a1.ips[0].address as string).split('/')[0]!;
    assert.ok(ping(p1, ip2, 3), 'node 1 pod reaches node 2 pod');
    assert.ok(ping(p2, ip1), 'and back');
    mustCall(n1, 'DEL', c1, { containerID: 'c-vx1', ifname: 'eth0', netns: p1.path });
    mustCall(n2, 'DEL', c2, { containerID: 'c-vx2', ifname: 'eth0', netns: p2.path });
  });

  test('a vlanTrunk port passes its VLANs and drops other tags, both ways', async () => {
    const node = makeNetns('vnt-node');
    const open = bridgeConf(scratch.dir, { name: 'open', bridge: 'vtrunk0', extra: { isGateway: false } });
    const trunk = bridgeConf(scratch.dir, {
      name: 'trunk',
      bridge: 'vtrunk0',
      extra: { isGateway: false, vlanTrunk: [{ id: 100 }, { minID: 300, maxID: 310 }] },
    });
    const [a, b] = [makeNetns('vnt-pod'), makeNetns('vnt-pod')];
    mustCall(node, 'ADD', open, { containerID: 'c-open', ifname: 'eth0', netns: a.path });
    mustCall(node, 'ADD', trunk, { containerID: 'c-trunk', ifname: 'eth0', netns: b.path });
    assert.deepEqual(await framesSeen(a, b, [100, 200, 305]), ['VNT100', 'VNT305'], 'to the trunk port: 200 dropped');
    assert.deepEqual(await framesSeen(b, a, [100, 200, 305]), ['VNT100', 'VNT305'], 'from the trunk port: 200 dropped');
    mustCall(node, 'DEL', open, { containerID: 'c-open', ifname: 'eth0', netns: a.path });
    mustCall(node, 'DEL', trunk, { containerID: 'c-trunk', ifname: 'eth0', netns: b.path });
    // Without the trunk's rules, every tag crosses the plain bridge.
    mustCall(node, 'ADD', open, { containerID: 'c-open', ifname: 'eth0', netns: a.path });
    mustCall(node, 'ADD', open, { containerID: 'c-open2', ifname: 'eth0', netns: b.path });
    assert.deepEqual(await framesSeen(a, b, [100, 200]), ['VNT100', 'VNT200']);
    mustCall(node, 'DEL', open, { containerID: 'c-open', ifname: 'eth0', netns: a.path });
    mustCall(node, 'DEL', open, { containerID: 'c-open2', ifname: 'eth0', netns: b.path });
  });
});
