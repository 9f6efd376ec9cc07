/**
 * The node-to-node pod network plan: Node objects read defensively, and for
 * each other node's pod subnet a direct route, an overlay route with its
 * neighbor and FDB entries, or a problem; both families, each backend, this
 * node skipped, overlaps refused, a removed node's entries gone; and the
 * NADs' head-end replication lists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RouteSync, VIRTNET_ROUTE_PROTO } from '../../../lib/route-sync.ts';
import {
  peerNode,
  peerNodes,
  planNadFdb,
  planPodNetwork,
  VTEP_MAC_ANNOTATION,
  VXLAN_VNIS_ANNOTATION,
  type Backend,
  type PeerNode,
} from '../../../controller/agent/node-routes.ts';

type Obj = Record<string, unknown>;

function nodeObject(
  name: string,
  o: { ips?: unknown[]; podCIDRs?: unknown; podCIDR?: unknown; annotations?: Obj },
): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, ...(o.annotations && { annotations: o.annotations }) },
    spec: {
      ...(o.podCIDRs !== undefined && { podCIDRs: o.podCIDRs }),
      ...(o.podCIDR !== undefined && { podCIDR: o.podCIDR }),
    },
    status: {
      addresses: [
        { type: 'Hostname', address: name },
        ...(o.ips ?? []).map((address) => ({ type: 'InternalIP', address })),
      ],
    },
  };
}

const MAC = { a: '02:00:00:00:00:0a', b: '02:00:00:00:00:0b', c: '02:00:00:00:00:0c' };
/** a and b share 192.168.10.0/24 (and fd00:10::/64); c is on 192.168.20.0/24, behind a router. */
const NODES = [
  nodeObject('node-a', {
    ips: ['192.168.10.1', 'fd00:10::1'],
    podCIDRs: ['10.244.0.0/24', 'fd00:244::/64'],
    annotations: { [VTEP_MAC_ANNOTATION]: MAC.a },
  }),
  nodeObject('node-b', {
    ips: ['192.168.10.2', 'fd00:10::2'],
    podCIDRs: ['10.244.1.0/24', 'fd00:244:0:1::/64'],
    annotations: { [VTEP_MAC_ANNOTATION]: MAC.b },
  }),
  nodeObject('node-c', {
    ips: ['192.168.20.3', 'fd00:20::3'],
    podCIDRs: ['10.244.2.0/24', 'fd00:244:0:2::/64'],
    annotations: { [VTEP_MAC_ANNOTATION]: MAC.c },
  }),
];
const LOCAL_A = {
  prefixes: [
    { cidr: '192.168.10.0/24', dev: 'eth0' },
    { cidr: 'fd00:10::/64', dev: 'eth0' },
    { cidr: '10.244.0.0/24', dev: 'cni0' },
  ],
  overlayDev: 'ovl',
};

const peers = (nodes: unknown[]): PeerNode[] => {
  const r = peerNodes(nodes);
  assert.deepEqual(r.problems, []);
  return r.peers;
};
const planA = (backend: Backend, nodes: unknown[] = NODES) => planPodNetwork('node-a', peers(nodes), LOCAL_A, backend);

test('a Node read as a peer: first InternalIP per family, canonical subnets, VTEP MAC lower-cased, VNIs sorted', () => {
  const r = peerNode(
    nodeObject('n1', {
      ips: ['fd00:0:0::1', '192.0.2.1', '192.0.2.2'],
      podCIDR: 'fd00:1:0::/64',
      annotations: { [VTEP_MAC_ANNOTATION]: '02:AB:00:00:00:01', [VXLAN_VNIS_ANNOTATION]: '42,7,42' },
    }),
  );
  assert.deepEqual(r, {
    node: {
      name: 'n1',
      internalIPs: ['fd00::1', '192.0.2.1'],
      podCIDRs: ['fd00:1::/64'],
      vtepMac: '02:ab:00:00:00:01',
      vxlanVnis: [7, 42],
    },
    problems: [],
  });
});

test(
  'auto: direct routes to the node on a local subnet, the overlay to the one behind a router, both families; this ' +
    'node skipped',
  () => {
    const plan = planA('auto');
    assert.deepEqual(plan.problems, []);
    assert.equal(plan.overlay, true);
    assert.deepEqual(plan.routes, [
      { dst: '10.244.1.0/24', via: '192.168.10.2', dev: 'eth0' },
      { dst: 'fd00:244:0:1::/64', via: 'fd00:10::2', dev: 'eth0' },
      { dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'ovl', onlink: true },
      { dst: 'fd00:244:0:2::/64', via: 'fd00:244:0:2::', dev: 'ovl', onlink: true },
    ]);
    assert.deepEqual(plan.neighbors, [
      { dev: 'ovl', ip: '10.244.2.0', mac: MAC.c },
      { dev: 'ovl', ip: 'fd00:244:0:2::', mac: MAC.c },
    ]);
    // One FDB entry per peer VTEP, to its InternalIP of the overlay's underlay family (IPv4 here).
    assert.deepEqual(plan.fdb, [{ dev: 'ovl', mac: MAC.c, dst: '192.168.20.3' }]);
  },
);

test('vxlan: every peer through the overlay; host-gw: the one behind the router is unreachable, and no overlay', () => {
  const vx = planA('vxlan');
  assert.deepEqual(vx.problems, []);
  assert.ok(vx.routes.every((r) => r.dev === 'ovl' && r.onlink));
  assert.deepEqual(vx.fdb, [
    { dev: 'ovl', mac: MAC.b, dst: '192.168.10.2' },
    { dev: 'ovl', mac: MAC.c, dst: '192.168.20.3' },
  ]);
  const hg = planA('host-gw');
  assert.equal(hg.overlay, false);
  assert.deepEqual(
    hg.routes.map((r) => r.dst),
    ['10.244.1.0/24', 'fd00:244:0:1::/64'],
  );
  assert.deepEqual([hg.neighbors, hg.fdb], [[], []]);
  assert.deepEqual(hg.problems, [
    'node node-c: 10.244.2.0/24 unreachable: its InternalIP 192.168.20.3 is on no local subnet and backend host-gw ' +
      'has no overlay',
    'node node-c: fd00:244:0:2::/64 unreachable: its InternalIP fd00:20::3 is on no local subnet and backend ' +
      'host-gw has no overlay',
  ]);
});

test(
  'a peer without a VTEP MAC yet, or without an InternalIP of the family, is a problem naming the node, the subnet ' +
    'and why',
  () => {
    const c = nodeObject('node-c', { ips: ['192.168.20.3'], podCIDRs: ['10.244.2.0/24', 'fd00:244:0:2::/64'] });
    const plan = planA('auto', [NODES[0], NODES[1], c]);
    assert.deepEqual(plan.problems, [
      `node node-c: 10.244.2.0/24 unreachable: its InternalIP 192.168.20.3 is on no local subnet and it publishes ` +
        `no ${VTEP_MAC_ANNOTATION} annotation (no overlay yet)`,
      `node node-c: fd00:244:0:2::/64 unreachable: it has no IPv6 InternalIP and it publishes no ` +
        `${VTEP_MAC_ANNOTATION} annotation (no overlay yet)`,
    ]);
    assert.equal(plan.routes.length, 2);
  },
);

test("IPv6-only nodes: the overlay runs over IPv6 and the VTEP address is the subnet's network address", () => {
  const a = nodeObject('node-a', { ips: ['fd00:10::1'], podCIDRs: ['fd00:244::/64'] });
  const c = nodeObject('node-c', {
    ips: ['fd00:20::3'],
    podCIDRs: ['fd00:244:0:2::/64'],
    annotations: { [VTEP_MAC_ANNOTATION]: MAC.c },
  });
  const plan = planA('auto', [a, c]);
  assert.deepEqual(plan.routes, [{ dst: 'fd00:244:0:2::/64', via: 'fd00:244:0:2::', dev: 'ovl', onlink: true }]);
  assert.deepEqual(plan.fdb, [{ dev: 'ovl', mac: MAC.c, dst: 'fd00:20::3' }]);
});

test('this node without its Node, subnets or InternalIP has no overlay, and says why', () => {
  // node-x's own view: the underlay, no pod bridge of node-a's subnet.
  const noSelf = planPodNetwork(
    'node-x',
    peers(NODES),
    { ...LOCAL_A, prefixes: LOCAL_A.prefixes.filter((p) => p.dev === 'eth0') },
    'vxlan',
  );
  assert.equal(noSelf.overlay, false);
  assert.equal(noSelf.problems[0], 'no overlay on this node: no Node node-x is listed');
  assert.match(
    noSelf.problems[1]!,
    /node node-a: 10\.244\.0\.0\/24 unreachable: this node has no overlay \(no Node node-x is listed\)/u,
  );
  const bare = nodeObject('node-a', { ips: ['192.168.10.1'] });
  assert.equal(
    planA('auto', [bare, NODES[2]]).problems[0],
    'no overlay on this node: Node node-a has no podCIDR for its VTEP address',
  );
});

test("a subnet overlapping this node's own, or an earlier node's, gets no route: a Node cannot take over pods", () => {
  const hijack = nodeObject('node-b', { ips: ['192.168.10.2'], podCIDRs: ['10.244.0.0/23'] });
  const dup = nodeObject('node-d', { ips: ['192.168.10.4'], podCIDRs: ['10.244.2.128/25'] });
  const plan = planA('auto', [NODES[0], hijack, NODES[2], dup]);
  assert.deepEqual(
    plan.routes.map((r) => r.dst),
    ['10.244.2.0/24', 'fd00:244:0:2::/64'],
  );
  assert.deepEqual(plan.problems, [
    'node node-b: its podCIDR 10.244.0.0/23 ' +
      "overlaps this node's own " +
      'podCIDR 10.244.0.0/24: no route (a ' +
      'Node must not take over local pods)',
    'node node-d: its podCIDR ' +
      "10.244.2.128/25 overlaps node node-c's " +
      '10.244.2.0/24: no route (the ' +
      'first node by name keeps it)',
  ]);
});

test(
  "a node publishing another's " +
    "VTEP MAC (or this node's) " +
    'takes no overlay traffic: ' +
    'neither gets an overlay route',
  () => {
    const evil = nodeObject('node-d', {
      ips: ['192.168.30.4'],
      podCIDRs: ['10.244.3.0/24'],
      annotations: { [VTEP_MAC_ANNOTATION]: MAC.c },
    });
    const plan = planA('auto', [...NODES, evil]);
    assert.ok(
      plan.problems.includes(`VTEP MAC ${MAC.c} is published by node-c and node-d: no overlay route to any of them`),
      plan.problems.join('\n'),
    );
    assert.deepEqual(plan.fdb, []);
    assert.deepEqual(
      plan.routes.map((r) => r.dst),
      ['10.244.1.0/24', 'fd00:244:0:1::/64'],
      'the direct routes stay',
    );
    const mine = planPodNetwork('node-a', peers(NODES), { ...LOCAL_A, ownVtepMac: MAC.c }, 'auto');
    assert.ok(
      mine.problems.includes(`VTEP MAC ${MAC.c} is published by node-c and this node: no overlay route to any of them`),
    );
  },
);

test(
  'a peer subnet over the underlay, ' +
    "holding a node's IP, outside " +
    '--cluster-cidr, or inside the subnet ' +
    'this node serves gets no route',
  () => {
    const claim = (podCIDRs: string[]) =>
      nodeObject('node-z', {
        ips: ['192.168.10.9'],
        podCIDRs,
        annotations: { [VTEP_MAC_ANNOTATION]: '02:00:00:00:00:99' },
      });
    const problems = (cidr: string, local: object = {}) =>
      planPodNetwork('node-a', peers([...NODES, claim([cidr])]), { ...LOCAL_A, ...local }, 'auto').problems;
    assert.deepEqual(problems('192.168.10.0/25'), [
      'node node-z: its podCIDR 192.168.10.0/25 overlaps 192.168.10.0/24, connected on eth0: no route',
    ]);
    assert.deepEqual(problems('192.168.20.0/24'), [
      'node node-z: its podCIDR ' +
        '192.168.20.0/24 holds the InternalIP ' +
        '192.168.20.3: no route (it would ' +
        "take the underlay's traffic)",
    ]);
    assert.deepEqual(problems('8.0.0.0/8', { clusterCidrs: ['10.244.0.0/16', 'fd00:244::/48'] }), [
      'node node-z: its podCIDR 8.0.0.0/8 is outside --cluster-cidr 10.244.0.0/16, fd00:244::/48: no route',
    ]);
    assert.deepEqual(
      problems('10.244.9.0/24', { clusterCidrs: ['10.244.0.0/16'] }),
      [],
      'inside the cluster CIDR it is routed',
    );
    // This node's Node object gone (or without subnets): the agent's own subnets still protect its pods.
    const withoutSelf = [NODES[1], NODES[2], claim(['10.244.5.128/25'])];
    const plan = planPodNetwork(
      'node-a',
      peers(withoutSelf),
      { ...LOCAL_A, prefixes: LOCAL_A.prefixes.filter((x) => x.dev === 'eth0'), ownPodCidrs: ['10.244.5.0/24'] },
      'host-gw',
    );
    assert.ok(
      plan.problems.includes(
        'node node-z: its podCIDR 10.244.5.128/25 ' +
          "overlaps this node's own " +
          'podCIDR 10.244.5.0/24: no route (a ' +
          'Node must not take over local pods)',
      ),
      plan.problems.join('\n'),
    );
    assert.ok(!plan.routes.some((r) => r.dst === '10.244.5.128/25'));
  },
);

test("a peer claiming this node's own address, or one inside its pod subnet, is not routed to", () => {
  const twin = nodeObject('node-b', {
    ips: ['192.168.10.1'],
    podCIDRs: ['10.244.1.0/24'],
    annotations: { [VTEP_MAC_ANNOTATION]: MAC.b },
  });
  const inPods = nodeObject('node-d', {
    ips: ['10.244.0.9'],
    podCIDRs: ['10.244.3.0/24'],
    annotations: { [VTEP_MAC_ANNOTATION]: '02:00:00:00:00:0d' },
  });
  const plan = planA('auto', [NODES[0], twin, inPods]);
  assert.deepEqual(plan.routes, []);
  assert.deepEqual(plan.problems, [
    "node node-b: 10.244.1.0/24 unreachable: its InternalIP 192.168.10.1 is this node's own",
    "node node-d: 10.244.3.0/24 unreachable: its InternalIP 10.244.0.9 is inside this node's podCIDR 10.244.0.0/24",
  ]);
});

test('a node removed from the list: its route, neighbor and FDB entry are gone from the plan', () => {
  const before = planA('auto');
  const after = planA('auto', NODES.slice(0, 2));
  assert.ok(before.routes.some((r) => r.dst === '10.244.2.0/24'));
  assert.deepEqual(
    after.routes.map((r) => r.dst),
    ['10.244.1.0/24', 'fd00:244:0:1::/64'],
  );
  assert.deepEqual([after.neighbors, after.fdb, after.problems], [[], [], []]);
});

test('hostile Node objects never throw: each bad field is a problem naming field, value and rule, and is left out', () => {
  const evil = nodeObject('evil', {
    ips: ['300.1.1.1', '127.0.0.1', 'ff02::1', 42],
    podCIDRs: ['0.0.0.0/0', '10.1.2.3/24', 'nonsense', '10.9.0.0/24'],
    annotations: { [VTEP_MAC_ANNOTATION]: '01:00:5e:00:00:01', [VXLAN_VNIS_ANNOTATION]: '1,16777216,x,-3' },
  });
  const r = peerNode(evil);
  assert.deepEqual(r.node, { name: 'evil', internalIPs: [], podCIDRs: [], vxlanVnis: [1] });
  assert.deepEqual(r.problems, [
    'Node evil status.addresses[1].address: "300.1.1.1" is not an IP address',
    "Node evil status.addresses[2].address: 127.0.0.1 is a loopback address, not a node's unicast address",
    "Node evil status.addresses[3].address: ff02::1 is a multicast address, not a node's unicast address",
    'Node evil status.addresses[4].address: 42 is not an IP address',
    'Node evil spec.podCIDRs[0]: "0.0.0.0/0" must have a prefix of /8 to /30 for IPv4',
    'Node evil spec.podCIDRs[1]: "10.1.2.3/24" has host bits set (the subnet is 10.1.2.0/24)',
    'Node evil spec.podCIDRs: 4 entries; a node has at most one per family, only the first 2 are read',
    `Node evil annotation ${VTEP_MAC_ANNOTATION}: 01:00:5e:00:00:01 is not a unicast MAC`,
    `Node evil annotation ${VXLAN_VNIS_ANNOTATION}: "16777216" is not a VNI (an integer 0..16777215)`,
    `Node evil annotation ${VXLAN_VNIS_ANNOTATION}: "x" is not a VNI (an integer 0..16777215)`,
    `Node evil annotation ${VXLAN_VNIS_ANNOTATION}: "-3" is not a VNI (an integer 0..16777215)`,
  ]);
  for (const garbage of [
    null,
    7,
    'node',
    [],
    { metadata: { name: 'Bad_Name' } },
    { metadata: null },
    { metadata: { name: 'x' }, spec: 5, status: { addresses: 'all' } },
  ]) {
    assert.doesNotThrow(() => peerNode(garbage));
  }
  assert.match(
    peerNode({ metadata: { name: 'Bad_Name' } }).problems[0]!,
    /^Node metadata\.name: "Bad_Name" must be a DNS-1123 subdomain/u,
  );
  assert.deepEqual(peerNode({ metadata: { name: 'x' }, spec: 5, status: { addresses: 'all' } }).node, {
    name: 'x',
    internalIPs: [],
    podCIDRs: [],
    vxlanVnis: [],
  });
});

test('huge lists and annotations are bounded and reported, never walked whole', () => {
  const ips = Array.from({ length: 100_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  const big = nodeObject('big', {
    ips,
    podCIDRs: Array(50_000).fill('10.244.9.0/24'),
    annotations: { [VXLAN_VNIS_ANNOTATION]: '1,'.repeat(40_000) + '2' },
  });
  const r = peerNode(big);
  assert.deepEqual(r.node?.internalIPs, ['10.0.0.0']);
  assert.deepEqual(r.node?.podCIDRs, ['10.244.9.0/24']);
  assert.deepEqual(r.node?.vxlanVnis, []);
  assert.ok(r.problems.some((p) => p.includes('status.addresses: 100001 entries, only the first 64 are read')));
  assert.ok(r.problems.some((p) => p.includes('spec.podCIDRs: 50000 entries')));
  assert.ok(
    r.problems.some(
      (p) =>
        p.startsWith(`Node big annotation ${VXLAN_VNIS_ANNOTATION}: "1,1,`) && p.includes('at most 65536 characters'),
    ),
  );
});

test('the same name twice keeps the first; node order in the list does not change the plan', () => {
  const r = peerNodes([NODES[1], NODES[0], { ...NODES[1]!, spec: { podCIDRs: ['10.99.0.0/24'] } }, NODES[2]]);
  assert.deepEqual(r.problems, ['Node node-b: listed twice, the first is used']);
  assert.deepEqual(
    r.peers.map((p) => p.name),
    ['node-a', 'node-b', 'node-c'],
  );
  assert.deepEqual(planA('auto', [...NODES].reverse()), planA('auto'));
});

test(
  'NAD head-end replication: one ' +
    'all-zeros entry per other ' +
    'node advertising the VNI, to ' +
    "its IP of the device's family",
  () => {
    const withVnis = (n: Obj, vnis: string) => ({
      ...n,
      metadata: { ...(n.metadata as Obj), annotations: { [VXLAN_VNIS_ANNOTATION]: vnis } },
    });
    const nodes = peers([
      withVnis(NODES[0]!, '42,100'),
      withVnis(NODES[1]!, '42'),
      withVnis(NODES[2]!, '42,100,7'),
      nodeObject('node-d', { ips: ['192.168.10.1'], annotations: { [VXLAN_VNIS_ANNOTATION]: '42' } }),
    ]);
    const zero = '00:00:00:00:00:00';
    assert.deepEqual(
      planNadFdb('node-a', nodes, [
        { vni: 42, dev: 'vxlan42' },
        { vni: 100, dev: 'vxlan100', family: 6 },
        { vni: 5, dev: 'vxlan5' },
      ]),
      [
        { dev: 'vxlan42', mac: zero, dst: '192.168.10.2' },
        { dev: 'vxlan42', mac: zero, dst: '192.168.20.3' },
        { dev: 'vxlan100', mac: zero, dst: 'fd00:20::3' },
      ],
    );
    // node-d claims node-a's own address: a flood sent there would come back here.
    assert.deepEqual(
      planNadFdb(
        'node-a',
        nodes.filter((n) => n.name !== 'node-c' && n.name !== 'node-b'),
        [{ vni: 42, dev: 'vxlan42' }],
      ),
      [],
    );
  },
);

// lib/route-sync.ts's diffing, without a kernel: its argv prefix (the netns wrap) is a fake `ip`/`bridge` that answers
// from a table and logs each call.
const FAKE = `const fs = require('node:fs');
const argv = process.argv.slice(2).join(' ');
const table = JSON.parse(fs.readFileSync(process.env.VNT_RT_FAKE, 'utf8'));
fs.appendFileSync(process.env.VNT_RT_FAKE + '.log', argv + '\\n');
process.stdout.write(table[argv] ?? '');`;

async function withFakeKernel(
  table: Record<string, string>,
  body: (sync: RouteSync) => Promise<void>,
): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'vnt-rt-'));
  try {
    writeFileSync(join(dir, 'fake.cjs'), FAKE);
    writeFileSync(join(dir, 'table.json'), JSON.stringify(table));
    process.env.VNT_RT_FAKE = join(dir, 'table.json');
    await body(new RouteSync([process.execPath, join(dir, 'fake.cjs')]));
    return existsSync(join(dir, 'table.json.log'))
      ? readFileSync(join(dir, 'table.json.log'), 'utf8').trim().split('\n')
      : [];
  } finally {
    delete process.env.VNT_RT_FAKE;
    rmSync(dir, { recursive: true, force: true });
  }
}

test(
  'route sync: replaces what differs, deletes only its own stale routes (proto 157), leaves a destination held by ' +
    'another route alone',
  async () => {
    const ours = [
      { dst: '10.244.1.0/24', gateway: '192.168.10.2', dev: 'eth0', flags: [] },
      { dst: '10.244.7.0/24', gateway: '192.168.10.7', dev: 'eth0', flags: [] },
    ];
    // Every real node has a default route, which ip(8) prints as "default" in both families.
    const all = [
      { dst: 'default', gateway: '192.168.10.254', dev: 'eth0', protocol: 'dhcp', flags: [] },
      ...ours.map((r) => ({ ...r, protocol: '157' })),
      { dst: '10.244.3.0/24', gateway: '192.168.10.254', dev: 'eth0', protocol: 'static', flags: [] },
      { dst: '192.168.10.0/24', dev: 'eth0', protocol: 'kernel', flags: [] },
    ];
    const ours6 = [{ dst: 'fd00:244:0:1::/64', gateway: 'fd00:10::2', dev: 'eth0', flags: [] }];
    const all6 = [
      { dst: 'default', gateway: 'fe80::1', dev: 'eth0', protocol: 'ra', flags: [] },
      ...ours6.map((r) => ({ ...r, protocol: '157' })),
    ];
    let report: Awaited<ReturnType<RouteSync['syncRoutes']>> | undefined;
    const calls = await withFakeKernel(
      {
        'ip -j -batch -': `${JSON.stringify(ours)}\n${JSON.stringify(all)}\n`,
        'ip -6 -j -batch -': `${JSON.stringify(ours6)}\n${JSON.stringify(all6)}\n`,
      },
      async (sync) => {
        report = await sync.syncRoutes([
          { dst: '10.244.1.0/24', via: '192.168.10.2', dev: 'eth0' },
          { dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'ovl', onlink: true },
          { dst: '10.244.3.0/24', via: '192.168.10.3', dev: 'eth0' },
        ]);
      },
    );
    assert.deepEqual(
      calls.filter((c) => !c.includes('-batch')),
      [
        `ip route replace 10.244.2.0/24 via 10.244.2.0 dev ovl onlink proto ${VIRTNET_ROUTE_PROTO}`,
        `ip route del 10.244.7.0/24 proto ${VIRTNET_ROUTE_PROTO}`,
        `ip -6 route del fd00:244:0:1::/64 proto ${VIRTNET_ROUTE_PROTO}`,
      ],
    );
    assert.deepEqual(report, {
      changed: 3,
      problems: [
        'route 10.244.3.0/24 exists and is ' +
          "not virtnet's (proto static via " +
          '192.168.10.254 dev eth0): left ' +
          'alone, no route via 192.168.10.3',
      ],
    });
  },
);

test(
  'route sync: neighbors and FDB entries are diffed on their device; learned FDB entries and other MACs are not ' +
    'touched',
  async () => {
    const calls = await withFakeKernel(
      {
        'ip -j neigh show dev ovl nud permanent': JSON.stringify([
          { dst: '10.244.2.0', lladdr: '02:00:00:00:00:0c' },
          { dst: '10.244.9.0', lladdr: '02:00:00:00:00:09' },
        ]),
        'bridge -j fdb show dev vx42': JSON.stringify([
          { mac: '00:00:00:00:00:00', dst: '192.168.10.2', state: 'permanent' },
          { mac: '00:00:00:00:00:00', dst: '192.168.10.9', state: 'permanent' },
          { mac: '02:00:00:00:00:77', dst: '192.168.10.7', state: '' },
          { mac: '02:00:00:00:00:78', dst: '192.168.10.8', state: 'permanent' },
          { mac: '33:33:00:00:00:01', state: 'permanent' },
        ]),
      },
      async (sync) => {
        await sync.syncNeighbors('ovl', [
          { ip: '10.244.2.0', mac: '02:00:00:00:00:0C' },
          { ip: 'fd00:244:0:2::', mac: '02:00:00:00:00:0c' },
        ]);
        await sync.syncFdb(
          'vx42',
          [
            { mac: '00:00:00:00:00:00', dst: '192.168.10.2' },
            { mac: '00:00:00:00:00:00', dst: '192.168.10.3' },
          ],
          { onlyMac: '00:00:00:00:00:00' },
        );
        await assert.rejects(sync.syncNeighbors('bad name', []), /link name "bad name" must not contain/u);
        await assert.rejects(
          sync.syncFdb('vx42', [{ mac: '00:00:00:00:00:00', dst: '1.2.3.4 self' }]),
          /"1\.2\.3\.4 self" is not an IP address/u,
        );
      },
    );
    assert.deepEqual(
      calls.filter((c) => !c.includes(' show ')),
      [
        'ip neigh replace fd00:244:0:2:: lladdr 02:00:00:00:00:0c dev ovl nud permanent',
        'ip neigh del 10.244.9.0 dev ovl',
        'bridge fdb append 00:00:00:00:00:00 dev vx42 dst 192.168.10.3 self permanent',
        'bridge fdb del 00:00:00:00:00:00 dev vx42 dst 192.168.10.9 self',
      ],
    );
  },
);
