// Issue 13 (several nodes), with two namespaces playing two nodes joined by
// a veth underlay:
// - a VXLAN device with neither remote nor group, whose peers are the
//   all-zeros FDB entries a node agent keeps (head-end replication,
//   bridge(8) "fdb append 00:00:00:00:00:00 ... dst"); the test appends the
//   entries itself, standing in for the agent. Tagged frames are made on raw
//   sockets (this kernel has no 8021q), as in overlay.test.ts;
// - ipMasqExclude: routed pod-to-pod traffic keeps the pod's address while
//   ipMasq still masquerades what goes elsewhere.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { makeNetns, deleteAllNetns, ping, type Netns } from '../../support/netns.ts';
import { CNI_PATH, PLUGIN, callPlugin, mustCall, scratchDir } from '../../support/cni.ts';
import { framesSeen } from '../../support/vlan-frames.ts';

const VXLAN = 'vxlan100';
const BRIDGE = 'vhxbr0';
const UNDERLAY = { n1: '192.0.2.1', n2: '192.0.2.2' };
const ALL_ZEROS = '00:00:00:00:00:00';

interface VxlanLink {
  ifindex: number;
  master?: string;
  ifalias?: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
}
interface FdbEntry {
  mac: string;
  dst?: string;
}

function vxlanLink(node: Netns): VxlanLink | undefined {
  const r = node.try(['ip', '-j', '-d', 'link', 'show', 'dev', VXLAN]);
  return r.status === 0 ? (JSON.parse(r.stdout) as VxlanLink[])[0] : undefined;
}

function fdb(node: Netns): FdbEntry[] {
  return JSON.parse(node.run(['bridge', '-j', 'fdb', 'show', 'dev', VXLAN])) as FdbEntry[];
}

/** Two "nodes" whose underlay is one veth, 192.0.2.1 and 192.0.2.2. */
function twoNodes(): [Netns, Netns] {
  const [n1, n2] = [makeNetns('vnt-hx-node'), makeNetns('vnt-hx-node')];
  n1.run(['ip', 'link', 'add', 'underlay', 'type', 'veth', 'peer', 'name', 'underlay', 'netns', n2.name]);
  n1.run(['ip', 'addr', 'add', `${UNDERLAY.n1}/30`, 'dev', 'underlay']);
  n2.run(['ip', 'addr', 'add', `${UNDERLAY.n2}/30`, 'dev', 'underlay']);
  n1.run(['ip', 'link', 'set', 'underlay', 'up']);
  n2.run(['ip', 'link', 'set', 'underlay', 'up']);
  return [n1, n2];
}

/** What the node agent does for each other node: one all-zeros entry, so floods reach it. */
function addPeer(node: Netns, peer: string): void {
  node.run(['bridge', 'fdb', 'append', ALL_ZEROS, 'dev', VXLAN, 'dst', peer]);
}

/** One plugin call, not waited for: concurrent ADDs must each succeed. */
function callAsync(
  node: Netns,
  verb: string,
  conf: object,
  containerID: string,
  netns: string,
): Promise<{ code: number | null; out: string }> {
  const env = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: verb,
    CNI_PATH,
    CNI_CONTAINERID: containerID,
    CNI_IFNAME: 'eth0',
    CNI_NETNS: netns,
    VIRTNET_CNI_POLICY: process.env.VIRTNET_CNI_POLICY ?? '',
  };
  const child = spawn('ip', ['netns', 'exec', node.name, PLUGIN], { env });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (out += d));
  child.stdin.end(JSON.stringify(conf));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out })));
}

/**
 * The source address a UDP datagram from `sender` shows at `listener`
 * (listening on `ip`), as the receiving socket reports it.
 */
async function sourceSeen(sender: Netns, listener: Netns, ip: string): Promise<string> {
  const server =
    `import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("${ip}", 9999)); ` +
    `s.settimeout(3); print(s.recvfrom(64)[1][0])`;
  const recv = spawn('ip', ['netns', 'exec', listener.name, 'python3', '-c', server]);
  let out = '';
  recv.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise((r) => recv.on('close', r));
  await new Promise((r) => setTimeout(r, 300));
  sender.run([
    'python3',
    '-c',
    `import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"VNT", ("${ip}", 9999))`,
  ]);
  await done;
  return out.trim();
}

describe('virtnet-bridge head-end replicated VXLAN across two nodes', () => {
  const scratch = scratchDir();
  after(() => {
    deleteAllNetns();
    scratch.cleanup();
  });

  /** A NAD's config: head-end VXLAN 100 on the shared bridge; static IPAM when given an address. */
  const nad = (name: string, address?: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    cniVersion: '1.1.0',
    name,
    type: 'virtnet-bridge',
    bridge: BRIDGE,
    mtu: 1450,
    dataDir: join(scratch.dir, 'virtnet'),
    vxlan: { id: 100 },
    ...(address && { ipam: { type: 'static', addresses: [{ address }] } }),
    ...extra,
  });
  const at = (containerID: string, pod: Netns) => ({ containerID, ifname: 'eth0', netns: pod.path });

  test('pods on two nodes ping each other; two networks share the device; it outlives the last DEL', () => {
    const [n1, n2] = twoNodes();
    const [p1, p2, p3] = [makeNetns('vnt-hx-pod'), makeNetns('vnt-hx-pod'), makeNetns('vnt-hx-pod')];
    const blue1 = nad('hx-blue', '10.100.0.1/24');
    const blue2 = nad('hx-blue', '10.100.0.2/24');
    const green1 = nad('hx-green', '10.100.0.3/24');
    mustCall(n1, 'ADD', blue1, at('c-hx1', p1));
    mustCall(n2, 'ADD', blue2, at('c-hx2', p2));

    const vx = vxlanLink(n1);
    assert.ok(vx, 'node 1 has vxlan100');
    assert.equal(vx.master, BRIDGE, 'the VXLAN device is a port of the bridge');
    assert.equal(vx.ifalias, 'virtnet-bridge', 'and carries the mark');
    assert.equal(vx.linkinfo?.info_kind, 'vxlan');
    const data = vx.linkinfo?.info_data ?? {};
    assert.equal(data.id, 100);
    assert.equal(data.learning, true, 'learning is on, so unicast MACs are learned');
    assert.equal('remote' in data || 'group' in data, false, `no default destination: ${JSON.stringify(data)}`);
    assert.deepEqual(
      fdb(n1).filter((e) => e.mac === ALL_ZEROS),
      [],
      'the plugin adds no FDB entries of its own',
    );
    assert.equal(ping(p1, '10.100.0.2', 2), false, "without the agent's entries the other node is out of reach");

    addPeer(n1, UNDERLAY.n2);
    addPeer(n2, UNDERLAY.n1);
    assert.ok(ping(p1, '10.100.0.2', 3), 'node 1 pod reaches node 2 pod');
    assert.ok(ping(p2, '10.100.0.1', 3), 'and back');
    const p2Mac = (JSON.parse(p2.run(['ip', '-j', 'link', 'show', 'dev', 'eth0'])) as Array<{ address: string }>)[0]!
      .address;
    assert.ok(
      fdb(n1).some((e) => e.mac === p2Mac && e.dst === UNDERLAY.n2),
      "node 1 learned the remote pod's MAC behind node 2",
    );

    // A second network naming the same VNI on the node uses the same device.
    mustCall(n1, 'ADD', green1, at('c-hx3', p3));
    assert.equal(vxlanLink(n1)?.ifindex, vx.ifindex, 'vxlan100 is shared, not re-made');
    assert.ok(ping(p3, '10.100.0.2', 3), "the second network's pod reaches node 2 too");

    mustCall(n1, 'DEL', blue1, at('c-hx1', p1));
    assert.equal(vxlanLink(n1)?.ifindex, vx.ifindex, 'DEL of one attachment keeps the device');
    assert.ok(ping(p3, '10.100.0.2', 2), 'and the other attachment keeps its path');
    mustCall(n1, 'DEL', green1, at('c-hx3', p3));
    // As with a unicast remote, DEL removes only the veth: the device, and the agent's entries in it, stay.
    assert.equal(vxlanLink(n1)?.ifindex, vx.ifindex, 'the last DEL keeps the device');
    assert.ok(
      fdb(n1).some((e) => e.mac === ALL_ZEROS && e.dst === UNDERLAY.n2),
      "with the node agent's entry",
    );

    mustCall(n1, 'ADD', blue1, at('c-hx1', p1));
    assert.equal(vxlanLink(n1)?.ifindex, vx.ifindex, 'a new ADD uses the kept device');
    assert.ok(ping(p1, '10.100.0.2', 3), 'and reaches node 2 again');
    mustCall(n1, 'DEL', blue1, at('c-hx1', p1));
    mustCall(n2, 'DEL', blue2, at('c-hx2', p2));
  });

  test('a network naming a VNI whose device is a port of another bridge is refused, naming both, and makes nothing', () => {
    const [n1] = twoNodes();
    const [p1, p2] = [makeNetns('vnt-hx-pod'), makeNetns('vnt-hx-pod')];
    mustCall(n1, 'ADD', nad('hx-blue', '10.100.0.1/24'), at('c-hx7', p1));
    const other = nad('hx-other', '10.100.0.9/24', { bridge: 'vnt-hx-br2' });
    const r = callPlugin(n1, 'ADD', other, at('c-hx8', p2));
    assert.notEqual(r.status, 0);
    assert.match(
      r.json?.msg ?? '',
      new RegExp(`vxlan\\.id: VNI 100's device vxlan100 is a port of bridge "${BRIDGE}", not of "vnt-hx-br2"`, 'u'),
      r.stdout,
    );
    assert.equal(n1.try(['ip', 'link', 'show', 'vnt-hx-br2']).status, 1, 'the other bridge was not made');
    mustCall(n1, 'DEL', other, at('c-hx8', p2));
    mustCall(n1, 'DEL', nad('hx-blue', '10.100.0.1/24'), at('c-hx7', p1));
  });

  test('the first pods of a node, on two networks sharing the VNI, all at once: one device, every ADD succeeds', async () => {
    const [n1] = twoNodes();
    const pods = Array.from({ length: 16 }, () => makeNetns('vnt-hx-pod'));
    const confs = [nad('hx-race-a'), nad('hx-race-b')];
    const adds = await Promise.all(pods.map((p, i) => callAsync(n1, 'ADD', confs[i % 2]!, `c-hxr${i}`, p.path)));
    adds.forEach((r, i) => assert.equal(r.code, 0, `ADD ${i}: ${r.out}`));
    const ports = JSON.parse(n1.run(['ip', '-j', 'link', 'show', 'master', BRIDGE])) as Array<{ ifname: string }>;
    assert.equal(ports.filter((l) => l.ifname === VXLAN).length, 1, 'one vxlan100 on the bridge');
    assert.equal(ports.length, pods.length + 1, 'and one veth per pod');
    assert.equal(vxlanLink(n1)?.ifalias, 'virtnet-bridge');
    const dels = await Promise.all(pods.map((p, i) => callAsync(n1, 'DEL', confs[i % 2]!, `c-hxr${i}`, p.path)));
    dels.forEach((r, i) => assert.equal(r.code, 0, `DEL ${i}: ${r.out}`));
  });

  test('vlanTrunk over head-end VXLAN: VLAN 100 crosses to the other node, VLAN 200 is dropped, both ways', async () => {
    const [n1, n2] = twoNodes();
    const [trunkPod, openPod1, openPod2] = [makeNetns('vnt-hx-pod'), makeNetns('vnt-hx-pod'), makeNetns('vnt-hx-pod')];
    const trunk = nad('hx-trunk', undefined, { vlanTrunk: [{ id: 100 }] });
    const open = nad('hx-open');
    mustCall(n1, 'ADD', trunk, at('c-hxt', trunkPod));
    mustCall(n1, 'ADD', open, at('c-hxo1', openPod1));
    mustCall(n2, 'ADD', open, at('c-hxo2', openPod2));
    addPeer(n1, UNDERLAY.n2);
    addPeer(n2, UNDERLAY.n1);

    assert.deepEqual(
      await framesSeen(trunkPod, openPod2, [100, 200]),
      ['VNT100'],
      'from the trunk port to node 2: 200 dropped',
    );
    assert.deepEqual(
      await framesSeen(openPod2, trunkPod, [100, 200]),
      ['VNT100'],
      'from node 2 to the trunk port: 200 dropped',
    );
    // The control: the VXLAN carries both tags to a port without a trunk filter.
    assert.deepEqual(
      await framesSeen(openPod2, openPod1, [100, 200]),
      ['VNT100', 'VNT200'],
      'node 2 to an open port on node 1: both tags',
    );

    mustCall(n1, 'DEL', trunk, at('c-hxt', trunkPod));
    mustCall(n1, 'DEL', open, at('c-hxo1', openPod1));
    mustCall(n2, 'DEL', open, at('c-hxo2', openPod2));
  });

  test(
    'ipMasqExclude: a routed pod ' +
      'on the other node sees the ' +
      "pod's own address; other " +
      'destinations are masqueraded',
    async () => {
      const [n1, n2] = twoNodes();
      // Each node routes the other's pod subnet over the underlay, as the node agent's routes do.
      n1.run(['ip', 'route', 'add', '10.102.2.0/24', 'via', UNDERLAY.n2]);
      n2.run(['ip', 'route', 'add', '10.102.1.0/24', 'via', UNDERLAY.n1]);
      const routed = (name: string, address: string, extra: Record<string, unknown> = {}) => ({
        cniVersion: '1.1.0',
        name,
        type: 'virtnet-bridge',
        bridge: 'vhxrt0',
        isDefaultGateway: true,
        ipMasq: true,
        dataDir: join(scratch.dir, 'virtnet'),
        ipam: { type: 'static', addresses: [{ address, gateway: address.replace(/\.\d+\//u, '.1/').split('/')[0] }] },
        ...extra,
      });
      const [excluded, masqueraded, remote] = [
        makeNetns('vnt-hx-pod'),
        makeNetns('vnt-hx-pod'),
        makeNetns('vnt-hx-pod'),
      ];
      const cluster = routed('hx-cluster', '10.102.1.5/24', { ipMasqExclude: ['10.102.0.0/16', 'fd00:102::/48'] });
      const plain = routed('hx-plain', '10.102.1.6/24');
      const far = routed('hx-far', '10.102.2.5/24');
      mustCall(n1, 'ADD', cluster, at('c-hxm1', excluded));
      mustCall(n1, 'ADD', plain, at('c-hxm2', masqueraded));
      mustCall(n2, 'ADD', far, at('c-hxm3', remote));

      assert.equal(
        await sourceSeen(excluded, remote, '10.102.2.5'),
        '10.102.1.5',
        'no NAT towards the cluster network',
      );
      assert.equal(await sourceSeen(excluded, n2, UNDERLAY.n2), UNDERLAY.n1, 'ipMasq still masquerades what leaves it');
      assert.equal(
        await sourceSeen(masqueraded, remote, '10.102.2.5'),
        UNDERLAY.n1,
        'without ipMasqExclude the same path is masqueraded',
      );

      mustCall(n1, 'DEL', cluster, at('c-hxm1', excluded));
      mustCall(n1, 'DEL', plain, at('c-hxm2', masqueraded));
      mustCall(n2, 'DEL', far, at('c-hxm3', remote));
    },
  );
});
