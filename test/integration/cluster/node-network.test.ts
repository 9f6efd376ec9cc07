/**
 * The pod network between nodes on a real kernel: three network namespaces
 * play nodes. node-a and node-b share one L2 (a bridge in a "lan"
 * namespace); node-c is on another, reachable only through a router
 * namespace. Each node has a pod (a netns behind its cni0 bridge) with an
 * address of its pod subnets, both families. PodNetworkSync runs in each
 * node with fake Node objects, as the node agent would, and pods ping each
 * other: a<->b by direct routes (host-gw), a<->c through the overlay. A node
 * removed from the list leaves no route, neighbor or FDB entry behind on
 * the others, and routes not virtnet's survive every sync. Last, the NADs'
 * head-end replication: a flood-and-learn VXLAN between two nodes that only
 * works once each has the other's all-zeros FDB entry.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { pino } from 'pino';
import { NadFdbSync, PodNetworkSync } from '../../../controller/agent/node-network.ts';
import { VTEP_MAC_ANNOTATION, VXLAN_VNIS_ANNOTATION, type Backend } from '../../../controller/agent/node-routes.ts';
import { LINK_MARK } from '../../../cni/plan.ts';
import { OVERLAY_MARK, VIRTNET_ROUTE_PROTO } from '../../../lib/route-sync.ts';
import { deleteAllNetns, makeNetns, ping, type Netns } from '../../support/netns.ts';

after(() => deleteAllNetns());
const log = pino({ level: 'silent' });

const ipIn = (ns: Netns, ...args: string[]) => execFileSync('ip', ['-n', ns.name, ...args], { encoding: 'utf8' });
const sysctl = (ns: Netns, ...kv: string[]) => ns.run(['sysctl', '-q', '-w', ...kv]);

interface TestNode {
  name: string;
  ns: Netns;
  pod: Netns;
  ip4: string;
  ip6: string;
  pod4: string;
  pod6: string;
  cidrs: string[];
}

/**
 * A node: eth0 toward its L2 (`lan`'s bridge or the router), cni0 with its subnets' first hosts, and one pod behind it.
 */
function makeNode(letter: string, n: number, ip4: string, ip6: string): TestNode {
  const name = `node-${letter}`;
  const ns = makeNetns(`vnt-rt-${letter}`);
  const pod = makeNetns(`vnt-rt-p${n}`);
  const cidrs = [`10.244.${n}.0/24`, `fd00:244:0:${n}::/64`];
  ipIn(ns, 'link', 'add', 'cni0', 'type', 'bridge');
  ipIn(ns, 'addr', 'add', `10.244.${n}.1/24`, 'dev', 'cni0');
  ipIn(ns, 'addr', 'add', `fd00:244:0:${n}::1/64`, 'dev', 'cni0', 'nodad');
  ipIn(ns, 'link', 'set', 'cni0', 'up');
  ipIn(ns, 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod.name);
  ipIn(ns, 'link', 'set', 'veth0', 'master', 'cni0', 'up');
  ipIn(pod, 'addr', 'add', `10.244.${n}.2/24`, 'dev', 'eth0');
  ipIn(pod, 'addr', 'add', `fd00:244:0:${n}::2/64`, 'dev', 'eth0', 'nodad');
  ipIn(pod, 'link', 'set', 'eth0', 'up');
  ipIn(pod, 'route', 'add', 'default', 'via', `10.244.${n}.1`);
  ipIn(pod, '-6', 'route', 'add', 'default', 'via', `fd00:244:0:${n}::1`);
  sysctl(ns, 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1');
  return { name, ns, pod, ip4, ip6, pod4: `10.244.${n}.2`, pod6: `fd00:244:0:${n}::2`, cidrs };
}

/** Wire `node`'s eth0 to `other` (a lan bridge netns, or the router) and address it. */
function plug(node: TestNode, other: Netns, peerName: string, bridge?: string): void {
  ipIn(node.ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', peerName, 'netns', other.name);
  ipIn(node.ns, 'addr', 'add', `${node.ip4}/24`, 'dev', 'eth0');
  ipIn(node.ns, 'addr', 'add', `${node.ip6}/64`, 'dev', 'eth0', 'nodad');
  ipIn(node.ns, 'link', 'set', 'eth0', 'up');
  if (bridge) ipIn(other, 'link', 'set', peerName, 'master', bridge);
  ipIn(other, 'link', 'set', peerName, 'up');
}

const lan = makeNetns('vnt-rt-lan');
const router = makeNetns('vnt-rt-rtr');
ipIn(lan, 'link', 'add', 'br0', 'type', 'bridge');
ipIn(lan, 'link', 'set', 'br0', 'up');
const a = makeNode('a', 0, '192.168.10.1', 'fd00:10::1');
const b = makeNode('b', 1, '192.168.10.2', 'fd00:10::2');
const c = makeNode('c', 2, '192.168.20.3', 'fd00:20::3');
plug(a, lan, 'a0', 'br0');
plug(b, lan, 'b0', 'br0');
plug(c, router, 'c0');
// The router: one leg on the lan, one to node-c; the nodes' routes to the other L2 are the admin's (not virtnet's).
ipIn(router, 'link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'r0', 'netns', lan.name);
ipIn(lan, 'link', 'set', 'r0', 'master', 'br0', 'up');
ipIn(router, 'addr', 'add', '192.168.10.254/24', 'dev', 'lan0');
ipIn(router, 'addr', 'add', 'fd00:10::fe/64', 'dev', 'lan0', 'nodad');
ipIn(router, 'link', 'set', 'lan0', 'up');
ipIn(router, 'addr', 'add', '192.168.20.254/24', 'dev', 'c0');
ipIn(router, 'addr', 'add', 'fd00:20::fe/64', 'dev', 'c0', 'nodad');
sysctl(router, 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1');
for (const n of [a, b]) {
  ipIn(n.ns, 'route', 'add', '192.168.20.0/24', 'via', '192.168.10.254', 'proto', 'static');
  ipIn(n.ns, '-6', 'route', 'add', 'fd00:20::/64', 'via', 'fd00:10::fe', 'proto', 'static');
}
ipIn(c.ns, 'route', 'add', '192.168.10.0/24', 'via', '192.168.20.254', 'proto', 'static');
ipIn(c.ns, '-6', 'route', 'add', 'fd00:10::/64', 'via', 'fd00:20::fe', 'proto', 'static');
// Default routes, both families, as every real node has: the sync must read them (ip prints "default") and leave them.
for (const [n, v4, v6] of [
  [a, '192.168.10.254', 'fd00:10::fe'],
  [b, '192.168.10.254', 'fd00:10::fe'],
  [c, '192.168.20.254', 'fd00:20::fe'],
] as const) {
  ipIn(n.ns, 'route', 'add', 'default', 'via', v4);
  ipIn(n.ns, '-6', 'route', 'add', 'default', 'via', v6);
}
const NODES = [a, b, c];

/** The Node objects the apiserver would list, with the VTEP MACs the agents have published so far. */
function nodeObjects(nodes: TestNode[], macs: Map<string, string>, vnis = new Map<string, string>()): unknown[] {
  return nodes.map((n) => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: n.name,
      annotations: {
        ...(macs.has(n.name) && { [VTEP_MAC_ANNOTATION]: macs.get(n.name) }),
        ...(vnis.has(n.name) && { [VXLAN_VNIS_ANNOTATION]: vnis.get(n.name) }),
      },
    },
    spec: { podCIDR: n.cidrs[0], podCIDRs: n.cidrs },
    status: {
      addresses: [
        { type: 'InternalIP', address: n.ip4 },
        { type: 'InternalIP', address: n.ip6 },
        { type: 'Hostname', address: n.name },
      ],
    },
  }));
}

const agent = (n: TestNode, backend: Backend) =>
  new PodNetworkSync({ node: n.name, backend, log, wrap: ['nsenter', `--net=${n.ns.path}`, '--'] });
const routes = (n: TestNode, family: '-4' | '-6', ...filter: string[]) =>
  JSON.parse(ipIn(n.ns, family, '-j', 'route', 'show', ...filter)) as Array<{
    dst: string;
    gateway?: string;
    dev: string;
    protocol?: string;
    flags: string[];
  }>;
const routeDev = (n: TestNode, to: string) =>
  (JSON.parse(ipIn(n.ns, '-j', 'route', 'get', to)) as Array<{ dev: string }>)[0]!.dev;
const neighbors = (n: TestNode) =>
  JSON.parse(ipIn(n.ns, '-j', 'neigh', 'show', 'dev', 'virtnet-ovl', 'nud', 'permanent')) as Array<{
    dst: string;
    lladdr: string;
  }>;
const fdb = (n: TestNode, dev = 'virtnet-ovl') =>
  (JSON.parse(n.ns.run(['bridge', '-j', 'fdb', 'show', 'dev', dev])) as Array<{ mac: string; dst?: string }>).filter(
    (e) => e.dst,
  );
/**
 * Reachability per family. The first packets of a new path wait on neighbour
 * discovery at each hop (IPv6's is slower to settle), so a path gets three
 * tries before it counts as broken; a broken one fails all three.
 */
const reaches = (from: Netns, ip: string) => [0, 1, 2].some(() => ping(from, ip, 2));
const pings = (from: TestNode, to: TestNode) => ({ v4: reaches(from.pod, to.pod4), v6: reaches(from.pod, to.pod6) });

const macs = new Map<string, string>();
const agents = new Map(NODES.map((n) => [n.name, agent(n, 'auto')]));
const syncAll = async (nodes: TestNode[], objects: unknown[]) => {
  for (const n of nodes) {
    const r = await agents.get(n.name)!.sync(objects);
    if (r.vtepMac) macs.set(n.name, r.vtepMac);
  }
};

test(
  'auto: before the VTEP MACs are published only the direct routes exist; once they are, pods reach each other by ' +
    'host-gw and through the overlay',
  async () => {
    const first = await agents.get(a.name)!.sync(nodeObjects(NODES, macs));
    assert.ok(first.vtepMac, 'node-a created its overlay and reports its MAC');
    assert.deepEqual(
      first.plan.problems.filter((p) => p.startsWith('node node-c')),
      [
        `node node-c: 10.244.2.0/24 unreachable: its InternalIP 192.168.20.3 is on no local subnet and it ` +
          `publishes no ${VTEP_MAC_ANNOTATION} annotation (no overlay yet)`,
        `node node-c: fd00:244:0:2::/64 unreachable: its InternalIP fd00:20::3 is on no local subnet and it ` +
          `publishes no ${VTEP_MAC_ANNOTATION} annotation (no overlay yet)`,
      ],
    );
    await syncAll(NODES, nodeObjects(NODES, macs));
    assert.equal(macs.size, 3);
    await syncAll(NODES, nodeObjects(NODES, macs));

    const overlay = JSON.parse(ipIn(a.ns, '-d', '-j', 'link', 'show', 'virtnet-ovl'))[0];
    assert.equal(overlay.ifalias, OVERLAY_MARK);
    assert.equal(overlay.linkinfo.info_data.learning, false);
    assert.equal(overlay.linkinfo.info_data.port, 8472);
    assert.equal(overlay.address, macs.get(a.name));
    assert.deepEqual(
      routes(a, '-4', 'proto', String(VIRTNET_ROUTE_PROTO)).map((r) => [r.dst, r.gateway, r.dev]),
      [
        ['10.244.1.0/24', '192.168.10.2', 'eth0'],
        ['10.244.2.0/24', '10.244.2.0', 'virtnet-ovl'],
      ],
    );
    assert.deepEqual(
      routes(a, '-6', 'proto', String(VIRTNET_ROUTE_PROTO)).map((r) => [r.dst, r.gateway, r.dev]),
      [
        ['fd00:244:0:1::/64', 'fd00:10::2', 'eth0'],
        ['fd00:244:0:2::/64', 'fd00:244:0:2::', 'virtnet-ovl'],
      ],
    );
    assert.deepEqual(
      neighbors(a)
        .map((n) => [n.dst, n.lladdr])
        .sort(),
      [
        ['10.244.2.0', macs.get(c.name)],
        ['fd00:244:0:2::', macs.get(c.name)],
      ],
    );
    assert.deepEqual(
      fdb(a).map((e) => [e.mac, e.dst]),
      [[macs.get(c.name), '192.168.20.3']],
    );
    assert.equal(routeDev(a, b.pod4), 'eth0');
    assert.equal(routeDev(a, c.pod4), 'virtnet-ovl');

    assert.deepEqual(pings(a, b), { v4: true, v6: true }, 'a -> b by direct routes');
    assert.deepEqual(pings(b, a), { v4: true, v6: true }, 'b -> a by direct routes');
    assert.deepEqual(pings(a, c), { v4: true, v6: true }, 'a -> c through the overlay');
    assert.deepEqual(pings(c, b), { v4: true, v6: true }, 'c -> b through the overlay');
  },
);

test('a sync with nothing changed changes nothing; a route deleted by hand comes back', async () => {
  const before = [routes(a, '-4'), routes(a, '-6'), neighbors(a), fdb(a)];
  await agents.get(a.name)!.sync(nodeObjects(NODES, macs));
  assert.deepEqual([routes(a, '-4'), routes(a, '-6'), neighbors(a), fdb(a)], before);
  ipIn(a.ns, 'route', 'del', '10.244.2.0/24');
  ipIn(a.ns, 'neigh', 'del', '10.244.2.0', 'dev', 'virtnet-ovl');
  assert.equal(pings(a, c).v4, false);
  await agents.get(a.name)!.sync(nodeObjects(NODES, macs));
  assert.deepEqual([routes(a, '-4'), routes(a, '-6'), fdb(a)], [before[0], before[1], before[3]]);
  assert.equal(pings(a, c).v4, true);
});

test(
  'a node removed from the list: ' +
    'its routes, neighbors and ' +
    'FDB entry are gone on the ' +
    "others; routes not virtnet's stay",
  async () => {
    ipIn(a.ns, 'route', 'add', '10.244.9.0/24', 'via', '192.168.10.254', 'proto', 'static');
    ipIn(a.ns, '-6', 'route', 'add', 'fd00:244:0:9::/64', 'via', 'fd00:10::fe', 'proto', 'boot');
    const without = nodeObjects([a, b], macs);
    await syncAll([a, b], without);
    for (const n of [a, b]) {
      assert.deepEqual(
        routes(n, '-4', 'proto', String(VIRTNET_ROUTE_PROTO)).map((r) => r.dst),
        [n === a ? '10.244.1.0/24' : '10.244.0.0/24'],
        n.name,
      );
      assert.deepEqual(
        routes(n, '-6', 'proto', String(VIRTNET_ROUTE_PROTO)).map((r) => r.dst),
        [n === a ? 'fd00:244:0:1::/64' : 'fd00:244::/64'],
        n.name,
      );
      assert.deepEqual(neighbors(n), [], n.name);
      assert.deepEqual(fdb(n), [], n.name);
      assert.ok(
        routes(n, '-4').some((r) => r.dst === '192.168.20.0/24' && r.protocol === 'static'),
        `${n.name}: the admin's route to the other L2 stays`,
      );
    }
    assert.ok(routes(a, '-4').some((r) => r.dst === '10.244.9.0/24' && r.protocol === 'static'));
    assert.ok(routes(a, '-6').some((r) => r.dst === 'fd00:244:0:9::/64'));
    assert.equal(pings(a, c).v4, false, 'node-c is no longer routed to');
    assert.deepEqual(pings(a, b), { v4: true, v6: true });
  },
);

test("a destination already held by a route not virtnet's is left alone and reported", async () => {
  ipIn(a.ns, 'route', 'add', '10.244.2.0/24', 'via', '192.168.10.254', 'proto', 'static');
  const r = await agents.get(a.name)!.sync(nodeObjects(NODES, macs));
  assert.ok(
    r.plan.problems.some((p) =>
      p.startsWith("route 10.244.2.0/24 exists and is not virtnet's (proto static via 192.168.10.254 dev eth0)"),
    ),
    r.plan.problems.join('\n'),
  );
  assert.deepEqual(
    routes(a, '-4', '10.244.2.0/24').map((x) => [x.gateway, x.protocol]),
    [['192.168.10.254', 'static']],
  );
  ipIn(a.ns, 'route', 'del', '10.244.2.0/24', 'proto', 'static');
  await syncAll([a], nodeObjects(NODES, macs));
  assert.equal(routeDev(a, c.pod4), 'virtnet-ovl');
});

test('backend vxlan carries even the neighbors on the same L2 through the overlay; host-gw removes the overlay', async () => {
  for (const n of NODES) agents.set(n.name, agent(n, 'vxlan'));
  await syncAll(NODES, nodeObjects(NODES, macs));
  assert.equal(routeDev(a, b.pod4), 'virtnet-ovl');
  assert.deepEqual(
    fdb(a)
      .map((e) => e.dst)
      .sort(),
    ['192.168.10.2', '192.168.20.3'],
  );
  assert.deepEqual(pings(a, b), { v4: true, v6: true }, 'a -> b through the overlay');
  assert.deepEqual(pings(b, c), { v4: true, v6: true });
  const hostGw = agent(a, 'host-gw');
  const r = await hostGw.sync(nodeObjects(NODES, macs));
  assert.equal(r.vtepMac, undefined);
  assert.equal(a.ns.try(['ip', 'link', 'show', 'virtnet-ovl']).status, 1, 'the overlay device is gone');
  assert.deepEqual(
    routes(a, '-4', 'proto', String(VIRTNET_ROUTE_PROTO)).map((x) => [x.dst, x.dev]),
    [['10.244.1.0/24', 'eth0']],
  );
  assert.ok(
    r.plan.problems.includes(
      'node node-c: 10.244.2.0/24 unreachable: its InternalIP 192.168.20.3 is on no local subnet and backend ' +
        'host-gw has no overlay',
    ),
  );
  assert.equal(
    (await hostGw.sync(nodeObjects(NODES, macs))).vtepMac,
    undefined,
    'removing an overlay that is gone is fine',
  );
});

test(
  'withdraw (virtnet no longer the ' +
    'default network): every route of ' +
    "virtnet's and the overlay go, " +
    'other routes stay; twice is fine',
  async () => {
    const sync = agent(c, 'auto');
    await sync.sync(nodeObjects(NODES, macs));
    assert.ok(routes(c, '-4', 'proto', String(VIRTNET_ROUTE_PROTO)).length > 0, 'routes to withdraw');
    const defaults = routes(c, '-4').filter((r) => r.dst === 'default');
    assert.ok((await sync.withdraw()) > 0);
    assert.deepEqual(
      [
        ...routes(c, '-4', 'proto', String(VIRTNET_ROUTE_PROTO)),
        ...routes(c, '-6', 'proto', String(VIRTNET_ROUTE_PROTO)),
      ],
      [],
    );
    assert.equal(c.ns.try(['ip', 'link', 'show', 'virtnet-ovl']).status, 1, 'the overlay device is gone');
    assert.deepEqual(
      routes(c, '-4').filter((r) => r.dst === 'default'),
      defaults,
      'the default route stays',
    );
    assert.equal(await sync.withdraw(), 0, 'nothing left to withdraw');
  },
);

test(
  'NAD head-end replication: all-zeros FDB entries to the nodes advertising the VNI make flood-and-learn work, and ' +
    'go with the node',
  async () => {
    for (const [n, ip] of [
      [a, '10.50.0.1/24'],
      [b, '10.50.0.2/24'],
    ] as const) {
      ipIn(n.ns, 'link', 'add', 'vxlan42', 'type', 'vxlan', 'id', '42', 'dstport', '4789', 'local', n.ip4);
      ipIn(n.ns, 'link', 'set', 'vxlan42', 'alias', LINK_MARK);
      ipIn(n.ns, 'addr', 'add', ip, 'dev', 'vxlan42');
      ipIn(n.ns, 'link', 'set', 'vxlan42', 'up');
      // Not head-end: a remote, or not the plugin's.
      ipIn(n.ns, 'link', 'add', 'vxlan43', 'type', 'vxlan', 'id', '43', 'dstport', '4789', 'remote', '192.168.10.99');
      ipIn(n.ns, 'link', 'set', 'vxlan43', 'alias', LINK_MARK);
      ipIn(n.ns, 'link', 'add', 'vxlan44', 'type', 'vxlan', 'id', '44', 'dstport', '4789');
    }
    const nad = new Map(
      [a, b].map((n) => [n, new NadFdbSync({ node: n.name, log, wrap: ['nsenter', `--net=${n.ns.path}`, '--'] })]),
    );
    const vnis = new Map<string, string>();
    for (const [n, s] of nad) vnis.set(n.name, (await s.sync(nodeObjects(NODES, macs))).join(','));
    assert.deepEqual([...vnis.values()], ['42', '42']);
    assert.equal(
      a.ns.try(['ping', '-c', '1', '-W', '1', '10.50.0.2']).status,
      1,
      'no flood destination yet: no ARP reply',
    );
    for (const [, s] of nad) await s.sync(nodeObjects(NODES, macs, vnis));
    assert.deepEqual(
      fdb(a, 'vxlan42')
        .filter((e) => e.mac === '00:00:00:00:00:00')
        .map((e) => e.dst),
      ['192.168.10.2'],
    );
    assert.deepEqual(
      fdb(a, 'vxlan43').map((e) => e.dst),
      ['192.168.10.99'],
      "the remote device's default destination is not touched",
    );
    assert.equal(a.ns.try(['ping', '-c', '2', '-W', '1', '10.50.0.2']).status, 0, 'ARP floods reach node-b');
    await nad.get(a)!.sync(nodeObjects([a, c], macs, vnis));
    assert.deepEqual(
      fdb(a, 'vxlan42').filter((e) => e.mac === '00:00:00:00:00:00'),
      [],
      'node-b removed: its flood destination is gone',
    );
  },
);
