/**
 * planPod: golden plans (ops rendered as ip(8) batch text, plus ops6,
 * sysctls and NIC plans), the plan's DHCP part checked by the dnsmasq
 * renderer, and the errors a plan refuses with.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { planPod, PlanError } from '../../../launcher/plan/pod.ts';
import { bridgeServerAddress, nicMtu, subnetRouterAnycast } from '../../../launcher/plan/bridge.ts';
import { dhcpNicOf, type PodPlan, type HostFacts } from '../../../launcher/plan/types.ts';
import type { PodInterface, PodNetwork } from '../../../launcher/discover.ts';
import type { InterfaceSpec, LauncherSpec, NetworkSpec } from '../../../launcher/spec.ts';
import { parseResolvConf } from '../../../launcher/resolv.ts';
import { renderOp, type LinkOp } from '../../../lib/iproute.ts';
import { renderDnsmasqConfig } from '../../../launcher/dhcp/dnsmasq-config.ts';
import { golden } from './golden-helper.ts';

const BLUE_HASH = createHash('sha256').update('blue').digest('hex').slice(0, 11);

const FACTS: HostFacts = {
  dummyLinks: true,
  freshMacs: ['02:aa:00:00:00:01', '02:aa:00:00:00:02', '02:aa:00:00:00:03'],
};

const RESOLV = parseResolvConf(
  'search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n',
);

const ETH0_V4: PodInterface = {
  name: 'eth0',
  mac: '0a:58:0a:f4:00:05',
  mtu: 1450,
  ipv4: [{ address: '10.244.0.5', prefix: 24 }],
  ipv6: [],
  routes4: [
    { dst: '0.0.0.0/0', gateway: '10.244.0.1' },
    { dst: '10.96.0.0/12', gateway: '10.244.0.254', metric: 100 },
  ],
  routes6: [],
};

const ETH0_DUAL: PodInterface = {
  ...ETH0_V4,
  ipv6: [{ address: 'fd00:10:244::5', prefix: 64 }],
  routes4: [{ dst: '0.0.0.0/0', gateway: '10.244.0.1' }],
  routes6: [{ dst: '::/0', gateway: 'fd00:10:244::1', metric: 1024 }],
};

const ETH0_L2: PodInterface = {
  name: 'eth0',
  mac: '0a:58:0a:f4:00:05',
  mtu: 1500,
  ipv4: [],
  ipv6: [],
  routes4: [],
  routes6: [],
};

const BLUE_POD: PodInterface = {
  name: `pod${BLUE_HASH}`,
  mac: '02:00:00:ab:cd:ef',
  mtu: 1500,
  ipv4: [{ address: '192.168.50.7', prefix: 24 }],
  ipv6: [],
  routes4: [],
  routes6: [],
};

const POD_NET: NetworkSpec = { name: 'default', pod: {} };
const BLUE_NET: NetworkSpec = { name: 'blue', multus: { networkName: 'default/blue-net' } };

function spec(
  interfaces: InterfaceSpec[],
  networks: NetworkSpec[] = [POD_NET],
  over: Partial<LauncherSpec> = {},
): LauncherSpec {
  return {
    name: 'vm1',
    namespace: 'default',
    memoryMiB: 256,
    cpus: 1,
    interfaces,
    networks,
    boot: { kernel: '/boot/vmlinuz' },
    ...over,
  };
}

function net(interfaces: PodInterface[], resolv = RESOLV): PodNetwork {
  return { interfaces, resolv };
}

/** The plan as one reviewable text: batch lines, then JSON. */
function planText(plan: PodPlan): string {
  const lines = (ops: LinkOp[]): string => ops.map(renderOp).join('\n');
  return [
    '# ops (ip -batch)',
    lines(plan.ops),
    '# ops6 (ip -6 -batch)',
    lines(plan.ops6),
    '# sysctls',
    JSON.stringify(plan.sysctls, null, 2),
    '# nft',
    JSON.stringify(plan.nft, null, 2),
    '# nics',
    JSON.stringify(plan.nics, null, 2),
    '# warnings',
    JSON.stringify(plan.warnings, null, 2),
    '',
  ].join('\n');
}

/** Every NIC's DHCP part must pass the dnsmasq renderer's validation. */
function checkDhcp(plan: PodPlan): string[] {
  const nics = plan.nics.flatMap((n) => dhcpNicOf(n) ?? []);
  if (nics.length === 0) return [];
  return renderDnsmasqConfig({ nics, leaseFile: '/run/virtnet/dnsmasq.leases', pidFile: '/run/virtnet/dnsmasq.pid' })
    .warnings;
}

const ops = (plan: PodPlan): string[] => plan.ops.map(renderOp);

test('golden (a): IPv4, default route and a route via a gateway, every DHCP option, lowered MTU', () => {
  const s = spec(
    [
      {
        name: 'default',
        bridge: {},
        macAddress: '02:5E:00:00:00:05',
        mtu: 1400,
        model: 'e1000',
        bootOrder: 1,
        pciAddress: '0000:00:05.0',
        dhcpOptions: {
          ntpServers: ['10.0.0.123', '10.0.0.124'],
          tftpServerName: 'tftp.example',
          bootFileName: 'pxelinux.0',
          privateOptions: [
            { option: 240, value: 'private-240' },
            { option: 252, value: 'http://wpad.example/wpad.dat' },
          ],
        },
      },
    ],
    [POD_NET],
    { hostname: 'myhost', subdomain: 'mysub' },
  );
  const plan = planPod(s, net([ETH0_V4]), FACTS);
  golden('plan-ipv4-options.txt', planText(plan));
  assert.deepEqual(plan.warnings, []);
  const nic = plan.nics[0]!;
  assert.equal(nic.mtu, 1400);
  assert.equal(nic.mac, '02:5e:00:00:00:05');
  assert.deepEqual(nic.dhcp, {
    serverAddress: '169.254.75.10',
    sharedNetwork: true,
    ipv4: { address: '10.244.0.5', prefix: 24 },
    hostname: 'myhost',
    router: '10.244.0.1',
    classlessRoutes: [
      { dst: '169.254.75.10/32', gateway: '0.0.0.0' },
      { dst: '10.96.0.0/12', gateway: '10.244.0.254' },
    ],
    dnsServers: ['10.96.0.10'],
    searchDomains: [
      'mysub.default.svc.cluster.local',
      'default.svc.cluster.local',
      'svc.cluster.local',
      'cluster.local',
    ],
    domainName: 'mysub.default.svc.cluster.local',
    ntpServers: ['10.0.0.123', '10.0.0.124'],
    tftpServerName: 'tftp.example',
    bootFileName: 'pxelinux.0',
    privateOptions: [
      { code: 240, value: 'private-240' },
      { code: 252, value: 'http://wpad.example/wpad.dat' },
    ],
  });
  const served = dhcpNicOf(nic);
  assert.deepEqual(
    served && [served.bridge, served.mac, served.mtu],
    ['k6t-eth0', '02:5e:00:00:00:05', 1400],
    "dnsmasq serves the NIC's bridge, for its MAC, with its MTU",
  );
  // The tap and bridge take the lowered MTU; the placeholder keeps the pod's.
  assert.ok(ops(plan).includes('link add name k6t-eth0 mtu 1400 address 02:aa:00:00:00:01 type bridge'));
  assert.ok(ops(plan).includes('link set dev tap0 master k6t-eth0 mtu 1400 up'));
  assert.ok(ops(plan).includes('link set dev eth0 mtu 1450 address 0a:58:0a:f4:00:05 up'));
  assert.ok(ops(plan).includes('route add 10.96.0.0/12 via 10.244.0.254 dev eth0 metric 100 onlink'));
  assert.deepEqual(plan.ops6, []);
  assert.deepEqual(checkDhcp(plan), []);
});

test('golden (b): dual-stack with an IPv6 default route', () => {
  const plan = planPod(spec([{ name: 'default', bridge: {} }]), net([ETH0_DUAL]), FACTS);
  golden('plan-dual-stack.txt', planText(plan));
  const nic = plan.nics[0]!;
  assert.deepEqual(nic.ips, ['10.244.0.5', 'fd00:10:244::5']);
  assert.deepEqual(nic.dhcp?.ipv6, { address: 'fd00:10:244::5', prefix: 64 });
  assert.deepEqual(nic.dhcp?.routerAdvertisement, { routerLifetime: 1800 });
  assert.equal(plan.sysctls['net.ipv6.conf.all.forwarding'], '1');
  assert.ok(ops(plan).includes('addr add fd00:10:244::/64 dev k6t-eth0 nodad noprefixroute'));
  assert.ok(ops(plan).includes('addr add fd00:10:244::5/64 dev eth0 nodad'));
  assert.ok(ops(plan).includes('route add ::/0 via fd00:10:244::1 dev k6t-eth0 table 1000'));
  assert.deepEqual(plan.ops6.map(renderOp), ['rule add iif k6t-eth0 table 1000 pref 1000']);
  // The renderer warns that dnsmasq 2.90 serves no DHCPv6 over a shared network; the config is valid.
  assert.ok(checkDhcp(plan).every((w) => /ipv6/u.test(w)));
});

test('dual-stack without an IPv6 default route: RA router lifetime 0, no forwarding, no ops6', () => {
  const plan = planPod(spec([{ name: 'default', bridge: {} }]), net([{ ...ETH0_DUAL, routes6: [] }]), FACTS);
  assert.deepEqual(plan.nics[0]?.dhcp?.routerAdvertisement, { routerLifetime: 0 });
  assert.equal(plan.sysctls['net.ipv6.conf.all.forwarding'], undefined);
  assert.deepEqual(plan.ops6, []);
});

test('golden (c): a pod NIC with no IP is a plain L2 port', () => {
  const plan = planPod(spec([{ name: 'default', bridge: {} }]), net([ETH0_L2]), FACTS);
  golden('plan-l2.txt', planText(plan));
  const nic = plan.nics[0]!;
  assert.equal(nic.dhcp, undefined);
  assert.ok(!('dhcp' in nic));
  assert.deepEqual(nic.ips, []);
  // No addresses or routes on the placeholder, no policy routing, no sysctls.
  assert.ok(
    !plan.ops.some((o) => (o.op === 'addr-add' && o.dev === 'eth0') || o.op === 'route-add' || o.op === 'rule-add'),
    ops(plan).join('\n'),
  );
  assert.deepEqual(plan.sysctls, {});
  assert.deepEqual(plan.ops6, []);
});

test('golden (d): two NICs, the second on a secondary multus network', () => {
  const s = spec(
    [
      { name: 'default', bridge: {} },
      { name: 'blue', bridge: {}, macAddress: '02:00:00:00:be:ef' },
    ],
    [POD_NET, BLUE_NET],
  );
  const plan = planPod(s, net([ETH0_V4, BLUE_POD]), FACTS);
  golden('plan-two-nics.txt', planText(plan));
  const blue = plan.nics[1]!;
  assert.deepEqual(blue.names, {
    podIf: `pod${BLUE_HASH}`,
    bridge: `k6t-${BLUE_HASH}`,
    podNic: `${BLUE_HASH}-nic`,
    tap: `tap${BLUE_HASH}`,
  });
  assert.equal(blue.dhcp?.serverAddress, '169.254.75.11');
  assert.equal(dhcpNicOf(blue)?.bridge, `k6t-${BLUE_HASH}`, "the DHCP server serves the NIC's own bridge");
  assert.equal(blue.dhcp?.router, undefined);
  assert.deepEqual(blue.dhcp?.classlessRoutes, [{ dst: '169.254.75.11/32', gateway: '0.0.0.0' }]);
  assert.ok(ops(plan).includes(`addr add 169.254.75.11/32 dev k6t-${BLUE_HASH}`));
  assert.ok(ops(plan).includes('rule add from 169.254.75.11 table 1001 pref 1001'));
  assert.ok(ops(plan).includes(`link set dev pod${BLUE_HASH} name ${BLUE_HASH}-nic address 02:aa:00:00:00:02`));
  assert.equal(plan.sysctls[`net.ipv4.conf.k6t-${BLUE_HASH}.accept_local`], '1');
  assert.deepEqual(checkDhcp(plan), []);
});

test('(e) dummyLinks: a dummy placeholder, else a tap; nothing else differs', () => {
  const s = spec([{ name: 'default', bridge: {} }]);
  const withDummy = ops(planPod(s, net([ETH0_V4]), { ...FACTS, dummyLinks: true }));
  const withTap = ops(planPod(s, net([ETH0_V4]), { ...FACTS, dummyLinks: false }));
  golden('plan-tap-placeholder.txt', `${withTap.join('\n')}\n`);
  assert.equal(withDummy.length, withTap.length);
  const diff = withDummy.flatMap((l, i) => (l === withTap[i] ? [] : [[l, withTap[i]]]));
  assert.deepEqual(diff, [['link add name eth0 type dummy', 'tuntap add dev eth0 mode tap']]);
});

test("(f) an MTU above the pod NIC's is clamped, with a warning", () => {
  const plan = planPod(spec([{ name: 'default', bridge: {}, mtu: 9000 }]), net([ETH0_V4]), FACTS);
  assert.equal(plan.nics[0]?.mtu, 1450);
  assert.equal(dhcpNicOf(plan.nics[0]!)?.mtu, 1450, 'DHCP hands out the clamped MTU');
  assert.deepEqual(plan.warnings, ["interface default: mtu 9000 is above the pod NIC's 1450; using 1450"]);
  assert.ok(ops(plan).includes('link set dev tap0 master k6t-eth0 mtu 1450 up'));
  const w: string[] = [];
  assert.equal(nicMtu(1500, undefined, w, 'x'), 1500);
  assert.equal(nicMtu(1500, 1500, w, 'x'), 1500);
  assert.equal(nicMtu(1500, 1280, w, 'x'), 1280);
  assert.deepEqual(w, []);
});

test('resolv.conf lines that were skipped become plan warnings', () => {
  const plan = planPod(
    spec([{ name: 'default', bridge: {} }]),
    net([ETH0_V4], parseResolvConf('nameserver 10.96.0.10\nbogus line\n')),
    FACTS,
  );
  assert.deepEqual(plan.warnings, ['resolv.conf: ignored line "bogus line"']);
});

test('absent interfaces are left out; down ones are planned with linkState down', () => {
  const s = spec(
    [
      { name: 'blue', bridge: {}, state: 'absent' },
      { name: 'default', bridge: {}, state: 'down' },
    ],
    [BLUE_NET, POD_NET],
  );
  const plan = planPod(s, net([ETH0_V4]), FACTS);
  assert.deepEqual(
    plan.nics.map((n) => [n.name, n.linkState]),
    [['default', 'down']],
  );
});

test('every op in every plan renders (renderOp re-validates names, MACs, CIDRs)', () => {
  const s = spec(
    [
      { name: 'default', bridge: {} },
      { name: 'blue', bridge: {} },
    ],
    [POD_NET, BLUE_NET],
  );
  for (const dummyLinks of [true, false]) {
    const plan = planPod(s, net([ETH0_DUAL, BLUE_POD]), { ...FACTS, dummyLinks });
    for (const o of [...plan.ops, ...plan.ops6]) assert.doesNotThrow(() => renderOp(o), JSON.stringify(o));
  }
});

test('errors: missing pod interface, unknown network, no binding, no fresh MAC', () => {
  const cases: Array<[string, LauncherSpec, PodNetwork, HostFacts, RegExp]> = [
    [
      'missing pod interface',
      spec([{ name: 'default', bridge: {} }]),
      net([BLUE_POD]),
      FACTS,
      new RegExp(`^interfaces\\[0\\] default: pod interface eth0 not found \\(have pod${BLUE_HASH}\\)$`, 'u'),
    ],
    [
      'no pod interfaces at all',
      spec([{ name: 'default', bridge: {} }]),
      net([]),
      FACTS,
      /^interfaces\[0\] default: pod interface eth0 not found \(have none\)$/u,
    ],
    [
      'missing secondary pod interface',
      spec(
        [
          { name: 'default', bridge: {} },
          { name: 'blue', bridge: {} },
        ],
        [POD_NET, BLUE_NET],
      ),
      net([ETH0_V4]),
      FACTS,
      new RegExp(`^interfaces\\[1\\] blue: pod interface pod${BLUE_HASH} not found \\(have eth0\\)$`, 'u'),
    ],
    [
      'no network',
      spec([{ name: 'red', bridge: {} }]),
      net([ETH0_V4]),
      FACTS,
      /^interfaces\[0\] red: no network of that name$/u,
    ],
    [
      'no binding',
      spec([{ name: 'default' }]),
      net([ETH0_V4]),
      FACTS,
      /^interfaces\[0\] default: needs a binding \(bridge or masquerade\)$/u,
    ],
    [
      'no fresh MAC',
      spec([{ name: 'default', bridge: {} }]),
      net([ETH0_V4]),
      { dummyLinks: true, freshMacs: [] },
      /^interfaces\[0\]: no fresh MAC supplied$/u,
    ],
  ];
  for (const [name, s, n, f, re] of cases) {
    assert.throws(
      () => planPod(s, n, f),
      (e: unknown) => {
        assert.ok(e instanceof PlanError, `${name}: not a PlanError: ${String(e)}`);
        assert.match(e.message, re, name);
        return true;
      },
      name,
    );
  }
});

test('more than 100 interfaces: a RangeError from bridgeServerAddress', () => {
  const names = Array.from({ length: 101 }, (_, i) => `net${i}`);
  const networks: NetworkSpec[] = names.map((name) => ({ name, multus: { networkName: `default/${name}` } }));
  const interfaces: InterfaceSpec[] = names.map((name) => ({ name, bridge: {} }));
  const pods: PodInterface[] = networks.map((n, i) => ({
    name: `pod${createHash('sha256').update(n.name).digest('hex').slice(0, 11)}`,
    mac: `02:00:00:00:01:${i.toString(16).padStart(2, '0')}`,
    mtu: 1500,
    ipv4: [],
    ipv6: [],
    routes4: [],
    routes6: [],
  }));
  const freshMacs = names.map((_, i) => `02:aa:00:00:01:${i.toString(16).padStart(2, '0')}`);
  // 100 are fine.
  const ok = planPod(spec(interfaces.slice(0, 100), networks.slice(0, 100)), net(pods.slice(0, 100)), {
    dummyLinks: true,
    freshMacs,
  });
  assert.equal(ok.nics.length, 100);
  assert.ok(ok.ops.map(renderOp).includes(`addr add 169.254.75.199/32 dev k6t-${pods[99]!.name.slice(3)}`));
  assert.throws(
    () => planPod(spec(interfaces, networks), net(pods), { dummyLinks: true, freshMacs }),
    (e: unknown) => {
      assert.ok(e instanceof RangeError, String(e));
      assert.match(e.message, /^interface index 100: .*at most 100 NICs/u);
      return true;
    },
  );
  assert.equal(bridgeServerAddress(0), '169.254.75.10');
  assert.equal(bridgeServerAddress(9), '169.254.75.19');
  assert.equal(bridgeServerAddress(10), '169.254.75.110');
  assert.equal(bridgeServerAddress(55), '169.254.75.155');
  // Distinct for every index.
  assert.equal(new Set(Array.from({ length: 100 }, (_, i) => bridgeServerAddress(i))).size, 100);
});

test('subnetRouterAnycast: the prefix with a zero interface id', () => {
  assert.equal(subnetRouterAnycast({ address: 'fd00:10:244::5', prefix: 64 }), 'fd00:10:244::');
  assert.equal(subnetRouterAnycast({ address: '2001:db8:1:2:3:4:5:6', prefix: 80 }), '2001:db8:1:2:3::');
});

// Regression (fixed): with a /128 pod address (Calico and others hand these out), the
// "Subnet-Router anycast" address is the guest's own address: the bridge would hold
// the very IP the guest is given, so the pod netns answers for it on the bridge.
test('a /128 pod IPv6 address is not also put on the bridge', () => {
  const pod: PodInterface = { ...ETH0_DUAL, ipv6: [{ address: 'fd00:10:244::5', prefix: 128 }] };
  const plan = planPod(spec([{ name: 'default', bridge: {} }]), net([pod]), FACTS);
  const onBridge = plan.ops.filter((o) => o.op === 'addr-add' && o.dev === 'k6t-eth0').map(renderOp);
  assert.ok(!onBridge.some((l) => l.startsWith('addr add fd00:10:244::5/')), onBridge.join('\n'));
});

// Regression (fixed): resolv.ts accepts "nameserver fe80::1%eth0"; the plan passes it on as
// a DNS server and the dnsmasq renderer throws, so the VM gets no lease at all.
test('a scoped IPv6 nameserver in resolv.conf does not break the DHCP config', () => {
  const resolv = parseResolvConf('nameserver 10.96.0.10\nnameserver fe80::1%eth0\n');
  const plan = planPod(spec([{ name: 'default', bridge: {} }]), net([ETH0_V4], resolv), FACTS);
  assert.doesNotThrow(() => checkDhcp(plan));
});
