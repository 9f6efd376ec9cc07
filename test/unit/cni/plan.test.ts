/**
 * The ADD plan (planPort, then planAddressing once IPAM has answered) as
 * golden tests: fixed facts in, the exact operations, sysctls, nftables
 * commands, result and rendered ip(8) batch lines out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planAddressing, planPort, vxlanLinkName, DEFAULT_MTU, type PortFacts } from '../../../cni/plan.ts';
import type { LinkOp } from '../../../lib/iproute.ts';
import type { NftCommand } from '../../../lib/nft.ts';
import { parseConfig } from '../../../cni/config.ts';
import { renderOp } from '../../../lib/iproute.ts';
import type { BridgeConf, CniResult } from '../../../cni/types.ts';

const HOST_VETH = 'veth1a2b3c4d';
const HOST_MAC = '02:00:00:00:00:01';
const CONTAINER_MAC = '02:00:00:00:00:02';
const BRIDGE_MAC = '02:00:00:00:00:03';
const NETNS = '/var/run/netns/pod1';
const TABLE = `virtnet-${HOST_VETH}`;

function conf(extra: Record<string, unknown>): BridgeConf {
  return parseConfig(
    JSON.stringify({ cniVersion: '1.1.0', name: 'podnet', type: 'virtnet-bridge', bridge: 'vnbr0', ...extra }),
  );
}

function dualStackIpam(): CniResult {
  return { cniVersion: '1.1.0', ips: [{ address: '10.88.0.5/16' }, { address: 'fd00:88::5/64' }], routes: [], dns: {} };
}

type Facts = PortFacts & { ipam: CniResult | undefined };

function facts(extra: Partial<Facts> = {}): Facts {
  return {
    containerID: 'ctr-1',
    ifname: 'eth0',
    netns: NETNS,
    hostVeth: HOST_VETH,
    hostMac: HOST_MAC,
    containerMac: CONTAINER_MAC,
    bridgeMac: BRIDGE_MAC,
    bridgeExists: false,
    vxlanExists: false,
    ipam: dualStackIpam(),
    ...extra,
  };
}

interface WholePlan {
  /** Phase 1 host batch (bridge, veth, port). */
  hostOps: LinkOp[];
  /** Phase 2 host batch (bridge gateway addresses). */
  gatewayOps: LinkOp[];
  containerOps: LinkOp[];
  /** Phase 1 nft (port filters) then phase 2 nft (NAT). */
  nft: NftCommand[];
  sysctls: Record<string, string>;
  result: CniResult;
}

/** Both phases of ADD, as add.ts runs them; no gateway address on the bridge yet unless told. */
function planAdd(c: BridgeConf, f: Facts, gatewayPresent: (cidr: string) => boolean = () => false): WholePlan {
  const { ipam, ...portFacts } = f;
  const port = planPort(c, portFacts);
  const addr = planAddressing(c, portFacts, ipam, gatewayPresent);
  return {
    hostOps: port.hostOps,
    gatewayOps: addr.gatewayOps,
    containerOps: addr.containerOps,
    nft: [...port.nft, ...addr.nft],
    sysctls: addr.sysctls,
    result: addr.result,
  };
}

const IPAM = { type: 'host-local' };

test('plan: isGateway + isDefaultGateway, dual stack, new bridge', () => {
  const plan = planAdd(conf({ isDefaultGateway: true, ipam: IPAM }), facts());
  const ips = [
    { address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 2 },
    { address: 'fd00:88::5/64', gateway: 'fd00:88::1', interface: 2 },
  ];
  const routes = [
    { dst: '0.0.0.0/0', gw: '10.88.0.1' },
    { dst: '::/0', gw: 'fd00:88::1' },
  ];
  assert.deepEqual(plan.hostOps, [
    { op: 'bridge-add', name: 'vnbr0', mac: BRIDGE_MAC },
    { op: 'link-set', name: 'vnbr0', up: true, alias: 'virtnet-bridge' },
    {
      op: 'veth-add',
      name: HOST_VETH,
      mtu: 1500,
      mac: HOST_MAC,
      peer: 'eth0',
      peerMac: CONTAINER_MAC,
      peerNetns: NETNS,
    },
    { op: 'link-set', name: HOST_VETH, master: 'vnbr0', alias: 'virtnet/podnet/ctr-1', up: true },
    { op: 'link-show', name: 'vnbr0' },
  ]);
  assert.deepEqual(plan.gatewayOps, [
    { op: 'addr-add', replace: true, dev: 'vnbr0', cidr: '10.88.0.1/16' },
    { op: 'addr-add', replace: true, dev: 'vnbr0', cidr: 'fd00:88::1/64', nodad: true },
  ]);
  assert.deepEqual(plan.containerOps, [
    { op: 'addr-add', dev: 'eth0', cidr: '10.88.0.5/16' },
    { op: 'addr-add', dev: 'eth0', cidr: 'fd00:88::5/64', nodad: true },
    { op: 'link-set', name: 'eth0', up: true },
    { op: 'route-add', dst: '0.0.0.0/0', dev: 'eth0', via: '10.88.0.1' },
    { op: 'route-add', dst: '::/0', dev: 'eth0', via: 'fd00:88::1' },
  ]);
  assert.deepEqual(plan.sysctls, { 'net.ipv4.ip_forward': '1', 'net.ipv6.conf.all.forwarding': '1' });
  assert.deepEqual(plan.nft, []);
  assert.deepEqual(plan.result, {
    cniVersion: '1.1.0',
    interfaces: [
      { name: 'vnbr0' },
      { name: HOST_VETH, mac: HOST_MAC, mtu: 1500 },
      { name: 'eth0', mac: CONTAINER_MAC, mtu: 1500, sandbox: NETNS },
    ],
    ips,
    routes,
    dns: {},
  });
});

test('plan: rendered ip batch lines for the gateway plan', () => {
  const plan = planAdd(conf({ isDefaultGateway: true, ipam: IPAM }), facts());
  assert.deepEqual(plan.hostOps.map(renderOp), [
    'link add name vnbr0 address 02:00:00:00:00:03 type bridge',
    'link set dev vnbr0 alias virtnet-bridge up',
    'link add name veth1a2b3c4d mtu 1500 address 02:00:00:00:00:01 type veth peer name eth0 mtu 1500 address ' +
      '02:00:00:00:00:02 netns /var/run/netns/pod1',
    'link set dev veth1a2b3c4d master vnbr0 alias virtnet/podnet/ctr-1 up',
    'link show dev vnbr0',
  ]);
  assert.deepEqual(plan.gatewayOps.map(renderOp), [
    'addr replace 10.88.0.1/16 dev vnbr0',
    'addr replace fd00:88::1/64 dev vnbr0 nodad',
  ]);
  assert.deepEqual(plan.containerOps.map(renderOp), [
    'addr add 10.88.0.5/16 dev eth0',
    'addr add fd00:88::5/64 dev eth0 nodad',
    'link set dev eth0 up',
    'route add 0.0.0.0/0 via 10.88.0.1 dev eth0',
    'route add ::/0 via fd00:88::1 dev eth0',
  ]);
});

test('plan: L2 only (no ipam) has no addresses, routes or sysctls, even with isDefaultGateway', () => {
  for (const extra of [{}, { isDefaultGateway: true }]) {
    const c = parseConfig(JSON.stringify({ cniVersion: '1.0.0', name: 'l2net', mtu: 9000, ...extra }));
    const plan = planAdd(c, facts({ ipam: undefined, bridgeExists: true }));
    assert.deepEqual(plan.hostOps, [
      { op: 'link-set', name: 'virtnet0', up: true },
      {
        op: 'veth-add',
        name: HOST_VETH,
        mtu: 9000,
        mac: HOST_MAC,
        peer: 'eth0',
        peerMac: CONTAINER_MAC,
        peerNetns: NETNS,
      },
      { op: 'link-set', name: HOST_VETH, master: 'virtnet0', alias: 'virtnet/l2net/ctr-1', up: true },
      { op: 'link-show', name: 'virtnet0' },
    ]);
    assert.deepEqual(plan.gatewayOps, []);
    assert.deepEqual(plan.containerOps, [{ op: 'link-set', name: 'eth0', up: true }]);
    assert.deepEqual(plan.sysctls, {});
    assert.deepEqual(plan.nft, []);
    assert.deepEqual(plan.result, {
      cniVersion: '1.0.0',
      interfaces: [
        { name: 'virtnet0' },
        { name: HOST_VETH, mac: HOST_MAC, mtu: 9000 },
        { name: 'eth0', mac: CONTAINER_MAC, mtu: 9000, sandbox: NETNS },
      ],
      ips: [],
      routes: [],
      dns: {},
    });
    assert.deepEqual(plan.hostOps.map(renderOp), [
      'link set dev virtnet0 up',
      'link add name veth1a2b3c4d mtu 9000 address 02:00:00:00:00:01 type veth peer name eth0 mtu 9000 address ' +
        '02:00:00:00:00:02 netns /var/run/netns/pod1',
      'link set dev veth1a2b3c4d master virtnet0 alias virtnet/l2net/ctr-1 up',
      'link show dev virtnet0',
    ]);
    assert.deepEqual(plan.containerOps.map(renderOp), ['link set dev eth0 up']);
  }
});

test('plan: config dns is the result dns when IPAM gives none', () => {
  const c = conf({ dns: { nameservers: ['10.0.0.53'] } });
  assert.deepEqual(planAdd(c, facts({ ipam: undefined })).result.dns, { nameservers: ['10.0.0.53'] });
  const ipam: CniResult = { ...dualStackIpam(), dns: { nameservers: ['10.88.0.53'], search: ['x.test'] } };
  assert.deepEqual(planAdd(c, facts({ ipam })).result.dns, { nameservers: ['10.88.0.53'], search: ['x.test'] });
});

test('plan: IPAM gateway and routes win; isGateway without isDefaultGateway adds no default route', () => {
  const ipam: CniResult = {
    cniVersion: '1.1.0',
    ips: [{ address: '10.88.0.5/16', gateway: '10.88.0.254' }],
    routes: [
      { dst: '192.168.0.0/16' },
      { dst: '10.0.0.0/8', gw: '10.88.0.254', priority: 10, table: 100, mtu: 1400, advmss: 1360 },
    ],
    dns: {},
  };
  const plan = planAdd(conf({ isGateway: true, ipam: IPAM }), facts({ ipam, bridgeExists: true }));
  assert.deepEqual(plan.gatewayOps, [{ op: 'addr-add', replace: true, dev: 'vnbr0', cidr: '10.88.0.254/16' }]);
  assert.equal(
    plan.hostOps.some((o) => o.op === 'addr-add'),
    false,
  );
  assert.equal(
    plan.hostOps.some((o) => o.op === 'bridge-add'),
    false,
  );
  assert.deepEqual(plan.sysctls, { 'net.ipv4.ip_forward': '1' });
  assert.deepEqual(plan.result.ips, [{ address: '10.88.0.5/16', gateway: '10.88.0.254', interface: 2 }]);
  assert.deepEqual(plan.result.routes, ipam.routes);
  assert.deepEqual(plan.containerOps.map(renderOp), [
    'addr add 10.88.0.5/16 dev eth0',
    'link set dev eth0 up',
    'route add 192.168.0.0/16 via 10.88.0.254 dev eth0',
    'route add 10.0.0.0/8 via 10.88.0.254 dev eth0 metric 10 table 100 mtu 1400 advmss 1360',
  ]);
});

test('plan: without isGateway there is no gateway, no bridge address and no via', () => {
  const ipam: CniResult = {
    cniVersion: '1.1.0',
    ips: [{ address: '10.88.0.5/16' }],
    routes: [{ dst: '10.99.0.0/16' }],
  };
  const plan = planAdd(conf({ ipam: IPAM }), facts({ ipam }));
  assert.deepEqual(plan.result.ips, [{ address: '10.88.0.5/16', interface: 2 }]);
  assert.deepEqual(plan.gatewayOps, []);
  assert.deepEqual(plan.sysctls, {});
  assert.deepEqual(plan.containerOps.at(-1), { op: 'route-add', dst: '10.99.0.0/16', dev: 'eth0' });
  assert.equal(renderOp(plan.containerOps.at(-1)!), 'route add 10.99.0.0/16 dev eth0');
});

test('plan: isDefaultGateway does not duplicate a default route the IPAM already gives', () => {
  const ipam: CniResult = { ...dualStackIpam(), routes: [{ dst: '0.0.0.0/0', gw: '10.88.0.254' }] };
  const plan = planAdd(conf({ isDefaultGateway: true, ipam: IPAM }), facts({ ipam }));
  assert.deepEqual(plan.result.routes, [
    { dst: '0.0.0.0/0', gw: '10.88.0.254' },
    { dst: '::/0', gw: 'fd00:88::1' },
  ]);
});

test('plan: promiscMode, hairpinMode, mtu and a new vxlan', () => {
  const c = conf({
    mtu: 1450,
    promiscMode: true,
    hairpinMode: true,
    vxlan: { id: 42, remote: '192.0.2.10', local: '192.0.2.1' },
  });
  const plan = planAdd(c, facts({ ipam: undefined }));
  assert.equal(vxlanLinkName(42), 'vxlan42');
  assert.deepEqual(plan.hostOps, [
    { op: 'bridge-add', name: 'vnbr0', mac: BRIDGE_MAC, mtu: 1450 },
    { op: 'link-set', name: 'vnbr0', up: true, alias: 'virtnet-bridge', promisc: true },
    { op: 'vxlan-add', name: 'vxlan42', id: 42, dstPort: 4789, remote: '192.0.2.10', local: '192.0.2.1', mtu: 1450 },
    { op: 'link-set', name: 'vxlan42', master: 'vnbr0', alias: 'virtnet-bridge', up: true },
    {
      op: 'veth-add',
      name: HOST_VETH,
      mtu: 1450,
      mac: HOST_MAC,
      peer: 'eth0',
      peerMac: CONTAINER_MAC,
      peerNetns: NETNS,
    },
    { op: 'link-set', name: HOST_VETH, master: 'vnbr0', alias: 'virtnet/podnet/ctr-1', up: true },
    { op: 'bridge-port', name: HOST_VETH, hairpin: true },
    { op: 'link-show', name: 'vnbr0' },
  ]);
  assert.deepEqual(plan.hostOps.map(renderOp), [
    'link add name vnbr0 mtu 1450 address 02:00:00:00:00:03 type bridge',
    'link set dev vnbr0 promisc on alias virtnet-bridge up',
    'link add name vxlan42 mtu 1450 type vxlan id 42 remote 192.0.2.10 local 192.0.2.1 dstport 4789',
    'link set dev vxlan42 master vnbr0 alias virtnet-bridge up',
    'link add name veth1a2b3c4d mtu 1450 address 02:00:00:00:00:01 type veth peer name eth0 mtu 1450 address ' +
      '02:00:00:00:00:02 netns /var/run/netns/pod1',
    'link set dev veth1a2b3c4d master vnbr0 alias virtnet/podnet/ctr-1 up',
    'link set dev veth1a2b3c4d type bridge_slave hairpin on',
    'link show dev vnbr0',
  ]);
  assert.equal(DEFAULT_MTU, 1500);
});

test('plan: multicast vxlan renders group and dev; an existing vxlan is not re-created', () => {
  const c = conf({ vxlan: { id: 7, group: '239.1.1.7', dev: 'eth1', port: 8472 } });
  const fresh = planAdd(c, facts({ ipam: undefined, bridgeExists: true }));
  assert.deepEqual(fresh.hostOps.filter((o) => 'name' in o && o.name === 'vxlan7').map(renderOp), [
    'link add name vxlan7 type vxlan id 7 group 239.1.1.7 dev eth1 dstport 8472',
    'link set dev vxlan7 master vnbr0 alias virtnet-bridge up',
  ]);
  const again = planAdd(c, facts({ ipam: undefined, bridgeExists: true, vxlanExists: true }));
  assert.equal(
    again.hostOps.some((o) => o.op === 'vxlan-add' || (o.op === 'link-set' && o.name === 'vxlan7')),
    false,
  );
});

test('plan: a gateway address already on the bridge is not added again, but forwarding is still ensured', () => {
  const asked: string[] = [];
  const plan = planAdd(conf({ isDefaultGateway: true, ipam: IPAM }), facts({ bridgeExists: true }), (cidr) => {
    asked.push(cidr);
    return cidr === '10.88.0.1/16';
  });
  assert.deepEqual(asked, ['10.88.0.1/16', 'fd00:88::1/64']);
  assert.deepEqual(plan.gatewayOps, [
    { op: 'addr-add', replace: true, dev: 'vnbr0', cidr: 'fd00:88::1/64', nodad: true },
  ]);
  assert.deepEqual(plan.sysctls, { 'net.ipv4.ip_forward': '1', 'net.ipv6.conf.all.forwarding': '1' });
  const all = planAdd(conf({ isDefaultGateway: true, ipam: IPAM }), facts({ bridgeExists: true }), () => true);
  assert.deepEqual(all.gatewayOps, []);
  assert.deepEqual(all.result.routes, [
    { dst: '0.0.0.0/0', gw: '10.88.0.1' },
    { dst: '::/0', gw: 'fd00:88::1' },
  ]);
});

test('plan: the gateway check is not consulted without isGateway', () => {
  let calls = 0;
  const plan = planAdd(conf({ ipam: IPAM }), facts(), () => {
    calls++;
    return false;
  });
  assert.equal(calls, 0);
  assert.deepEqual(plan.gatewayOps, []);
});

const FROM_PORT = { match: { op: '==', left: { meta: { key: 'iifname' } }, right: HOST_VETH } };
const BRIDGE_PREFIX = [
  { add: { table: { family: 'bridge', name: TABLE } } },
  { delete: { table: { family: 'bridge', name: TABLE } } },
  { add: { table: { family: 'bridge', name: TABLE } } },
  {
    add: {
      chain: {
        family: 'bridge',
        table: TABLE,
        name: 'from_port',
        type: 'filter',
        hook: 'prerouting',
        prio: -200,
        policy: 'accept',
      },
    },
  },
];
const MACSPOOF_RULE = {
  add: {
    rule: {
      family: 'bridge',
      table: TABLE,
      chain: 'from_port',
      expr: [
        FROM_PORT,
        { match: { op: '!=', left: { payload: { protocol: 'ether', field: 'saddr' } }, right: CONTAINER_MAC } },
        { drop: null },
      ],
    },
  },
};
const TRUNK_SET = { set: [10, { range: [100, 200] }, 4094] };
const VID = { payload: { protocol: 'vlan', field: 'id' } };
const TRUNK_CMDS = [
  {
    add: {
      rule: {
        family: 'bridge',
        table: TABLE,
        chain: 'from_port',
        expr: [FROM_PORT, { match: { op: '!=', left: VID, right: TRUNK_SET } }, { drop: null }],
      },
    },
  },
  {
    add: {
      chain: {
        family: 'bridge',
        table: TABLE,
        name: 'to_port',
        type: 'filter',
        hook: 'postrouting',
        prio: 200,
        policy: 'accept',
      },
    },
  },
  {
    add: {
      rule: {
        family: 'bridge',
        table: TABLE,
        chain: 'to_port',
        expr: [
          { match: { op: '==', left: { meta: { key: 'oifname' } }, right: HOST_VETH } },
          { match: { op: '!=', left: VID, right: TRUNK_SET } },
          { drop: null },
        ],
      },
    },
  },
];
const TRUNK = [{ id: 10 }, { minID: 100, maxID: 200 }, { id: 4094 }];

test('plan nft: macspoofchk drops frames whose source MAC is not the container MAC', () => {
  const plan = planAdd(conf({ macspoofchk: true }), facts({ ipam: undefined }));
  assert.deepEqual(plan.nft, [...BRIDGE_PREFIX, MACSPOOF_RULE]);
});

test('plan nft: vlanTrunk filters both directions with a set of ids and ranges', () => {
  const plan = planAdd(conf({ vlanTrunk: TRUNK }), facts({ ipam: undefined }));
  assert.deepEqual(plan.nft, [...BRIDGE_PREFIX, ...TRUNK_CMDS]);
});

test('plan nft: macspoofchk and vlanTrunk share one bridge table', () => {
  const plan = planAdd(conf({ macspoofchk: true, vlanTrunk: TRUNK }), facts({ ipam: undefined }));
  assert.deepEqual(plan.nft, [...BRIDGE_PREFIX, MACSPOOF_RULE, ...TRUNK_CMDS]);
});

test('plan nft: ipMasq masquerades each address leaving its subnet, except multicast', () => {
  const plan = planAdd(conf({ ipMasq: true, isGateway: true, ipam: IPAM }), facts());
  assert.deepEqual(plan.nft, [
    { add: { table: { family: 'inet', name: TABLE } } },
    { delete: { table: { family: 'inet', name: TABLE } } },
    { add: { table: { family: 'inet', name: TABLE } } },
    {
      add: {
        chain: {
          family: 'inet',
          table: TABLE,
          name: 'postrouting',
          type: 'nat',
          hook: 'postrouting',
          prio: 100,
          policy: 'accept',
        },
      },
    },
    {
      add: {
        rule: {
          family: 'inet',
          table: TABLE,
          chain: 'postrouting',
          expr: [
            { match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '10.88.0.5' } },
            {
              match: {
                op: '!=',
                left: { payload: { protocol: 'ip', field: 'daddr' } },
                right: { set: [{ prefix: { addr: '10.88.0.0', len: 16 } }, { prefix: { addr: '224.0.0.0', len: 4 } }] },
              },
            },
            { masquerade: null },
          ],
        },
      },
    },
    {
      add: {
        rule: {
          family: 'inet',
          table: TABLE,
          chain: 'postrouting',
          expr: [
            { match: { op: '==', left: { payload: { protocol: 'ip6', field: 'saddr' } }, right: 'fd00:88::5' } },
            {
              match: {
                op: '!=',
                left: { payload: { protocol: 'ip6', field: 'daddr' } },
                right: { set: [{ prefix: { addr: 'fd00:88::', len: 64 } }, { prefix: { addr: 'ff00::', len: 8 } }] },
              },
            },
            { masquerade: null },
          ],
        },
      },
    },
  ]);
});

test('plan nft: ipMasq without addresses (L2 only) adds nothing', () => {
  assert.deepEqual(planAdd(conf({ ipMasq: true }), facts({ ipam: undefined })).nft, []);
});

test('plan nft: all three features give the bridge table first, then the inet table', () => {
  const plan = planAdd(conf({ macspoofchk: true, vlanTrunk: [{ id: 5 }], ipMasq: true, ipam: IPAM }), facts());
  const families = plan.nft.map((cmd) => {
    const inner = Object.values(cmd)[0] as Record<string, { family: string }>;
    return Object.values(inner)[0]!.family;
  });
  const firstInet = families.indexOf('inet');
  assert.ok(firstInet > 0);
  assert.ok(families.slice(0, firstInet).every((f) => f === 'bridge'));
  assert.ok(families.slice(firstInet).every((f) => f === 'inet'));
});

test('plan: planAdd is pure (inputs unchanged, same answer twice)', () => {
  const c = conf({ isDefaultGateway: true, ipMasq: true, macspoofchk: true, ipam: IPAM });
  const f = facts();
  const cBefore = structuredClone(c);
  const fBefore = structuredClone(f);
  const a = planAdd(c, f);
  const b = planAdd(c, f);
  assert.deepEqual(a, b);
  assert.deepEqual(c, cBefore);
  assert.deepEqual(f, fBefore);
  // The result's routes are not the IPAM's objects.
  a.result.routes?.push({ dst: '1.1.1.1/32' });
  assert.deepEqual(f.ipam?.routes, []);
});

test('plan: an IPAM address that is not a CIDR is a TypeError', () => {
  const ipam: CniResult = { cniVersion: '1.1.0', ips: [{ address: '10.88.0.5' }] };
  assert.throws(() => planAdd(conf({ ipam: IPAM }), facts({ ipam })), TypeError);
});
