/**
 * The masquerade binding's plan: golden nftables JSON for declared ports,
 * ranges and "everything", both families; and the CIDR rules checked before
 * anything runs (KubeVirt finds bad CIDRs only at runtime).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planPod } from '../../../launcher/plan/pod.ts';
import { PlanFieldError, vmSubnet } from '../../../launcher/plan/masquerade.ts';
import { masqueradeRuleset } from '../../../launcher/plan/masquerade-rules.ts';
import { renderOp } from '../../../lib/iproute.ts';
import type { PodInterface, PodNetwork } from '../../../launcher/discover.ts';
import type { InterfaceSpec, LauncherSpec, NetworkSpec } from '../../../launcher/spec.ts';
import { golden } from './golden-helper.ts';

const POD: PodInterface = {
  name: 'eth0',
  mac: '0a:58:0a:f4:00:05',
  mtu: 1450,
  ipv4: [{ address: '10.244.0.5', prefix: 24 }],
  ipv6: [{ address: 'fd00:10:244::5', prefix: 64 }],
  routes4: [{ dst: '0.0.0.0/0', gateway: '10.244.0.1' }],
  routes6: [{ dst: '::/0', gateway: 'fd00:10:244::1' }],
};
const NET: PodNetwork = {
  interfaces: [POD],
  resolv: { nameservers: ['10.96.0.10'], search: ['default.svc.cluster.local'], skipped: [] },
};
const FACTS = { dummyLinks: false, freshMacs: ['02:aa:00:00:00:01', '02:aa:00:00:00:02'] };

function spec(
  iface: Partial<InterfaceSpec>,
  network: Partial<NetworkSpec> = { pod: {} },
  extra: Partial<LauncherSpec> = {},
): LauncherSpec {
  return {
    name: 'vm1',
    namespace: 'default',
    memoryMiB: 256,
    cpus: 1,
    boot: { kernel: '/k' },
    interfaces: [{ name: 'default', masquerade: {}, ...iface }],
    networks: [{ name: 'default', ...network }],
    ...extra,
  };
}

function fieldError(fn: () => unknown): PlanFieldError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof PlanFieldError, String(e));
    return e;
  }
  assert.fail('expected a PlanFieldError');
}

test('golden: declared TCP port and a UDP range, dual stack', () => {
  const plan = planPod(
    spec({ ports: [{ name: 'http', port: 80 }], portRanges: [{ protocol: 'UDP', start: 5000, end: 5010 }] }),
    NET,
    FACTS,
  );
  golden('masquerade-ports.json', `${JSON.stringify(plan.nft, null, 1)}\n`);
  golden(
    'masquerade-ports-plan.txt',
    [...plan.ops.map(renderOp), '', JSON.stringify(plan.sysctls, null, 1), JSON.stringify(plan.nics, null, 1), ''].join(
      '\n',
    ),
  );
  const nic = plan.nics[0]!;
  assert.equal(nic.binding, 'masquerade');
  assert.deepEqual(nic.dhcp?.ipv4, { address: '10.0.2.2', prefix: 24 });
  assert.deepEqual(nic.dhcp?.ipv6, { address: 'fd10:0:2::2', prefix: 120 });
  assert.equal(nic.dhcp?.router, '10.0.2.1');
  assert.equal(nic.dhcp?.serverAddress, '10.0.2.1');
  assert.equal(nic.dhcp?.sharedNetwork, false);
  assert.equal(nic.dhcp?.classlessRoutes, undefined, "the pod's routes mean nothing on the private subnet");
  assert.deepEqual(nic.dhcp?.routerAdvertisement, { routerLifetime: 1800 });
  assert.deepEqual(nic.ips, ['10.244.0.5', 'fd00:10:244::5'], 'the VMI reports the pod IPs');
  assert.equal(plan.sysctls['net.ipv4.conf.k6t-eth0.route_localnet'], '1');
  assert.ok(plan.ops.map(renderOp).includes('link add name k6t-eth0 mtu 1450 address 02:00:00:00:00:00 type bridge'));
});

test('golden: no ports forwards everything arriving for the pod IP', () => {
  const nft = masqueradeRuleset({
    podIf: 'eth0',
    bridge: 'k6t-eth0',
    forwards: 'all',
    v4: { podIp: '10.244.0.5', guest: '10.0.2.2', gateway: '10.0.2.1' },
  });
  golden('masquerade-all.json', `${JSON.stringify(nft, null, 1)}\n`);
  const text = JSON.stringify(nft);
  assert.ok(!text.includes('dport'), 'no port matches');
  assert.ok(!text.includes('ip6'), 'no IPv6 rules for an IPv4-only pod');
});

test('vmNetworkCIDR: custom subnets give gateway .1 and guest .2', () => {
  assert.deepEqual(vmSubnet('f', '10.11.0.0/29', 4, []).guest, '10.11.0.2');
  assert.deepEqual(vmSubnet('f', '10.11.0.0/30', 4, []).gateway, '10.11.0.1');
  assert.equal(vmSubnet('f', 'fd11::/124', 6, []).guest, 'fd11::2');
});

const BAD: Array<[string, () => unknown, RegExp, RegExp]> = [
  [
    'IPv4 CIDR with fewer than 4 addresses',
    () => planPod(spec({}, { pod: { vmNetworkCIDR: '10.11.0.0/31' } }), NET, FACTS),
    /vmNetworkCIDR$/u,
    /fewer than 4 addresses/u,
  ],
  [
    'a /32',
    () => planPod(spec({}, { pod: { vmNetworkCIDR: '10.11.0.1/32' } }), NET, FACTS),
    /vmNetworkCIDR$/u,
    /fewer than 4/u,
  ],
  [
    'not a CIDR',
    () => planPod(spec({}, { pod: { vmNetworkCIDR: '10.0.2.0' } }), NET, FACTS),
    /vmNetworkCIDR$/u,
    /is not an IPv4 CIDR/u,
  ],
  [
    'an IPv6 CIDR as vmNetworkCIDR',
    () => planPod(spec({}, { pod: { vmNetworkCIDR: 'fd00::/64' } }), NET, FACTS),
    /vmNetworkCIDR$/u,
    /is not an IPv4 CIDR/u,
  ],
  [
    'IPv6 CIDR too small',
    () => planPod(spec({}, { pod: { vmIPv6NetworkCIDR: 'fd10::/127' } }), NET, FACTS),
    /vmIPv6NetworkCIDR$/u,
    /fewer than 4/u,
  ],
  [
    'overlaps the pod subnet',
    () => planPod(spec({}, { pod: { vmNetworkCIDR: '10.244.0.0/28' } }), NET, FACTS),
    /vmNetworkCIDR$/u,
    /overlaps the pod subnet 10\.244\.0\.0\/24/u,
  ],
  [
    'contains the pod subnet',
    () => planPod(spec({}, { pod: { vmNetworkCIDR: '10.0.0.0/8' } }), NET, FACTS),
    /vmNetworkCIDR$/u,
    /overlaps the pod subnet/u,
  ],
  [
    'IPv6 overlaps the pod subnet',
    () => planPod(spec({}, { pod: { vmIPv6NetworkCIDR: 'fd00:10:244::100/120' } }), NET, FACTS),
    /vmIPv6NetworkCIDR$/u,
    /overlaps the pod subnet/u,
  ],
  [
    'overlaps the service CIDR',
    () => planPod(spec({}, { pod: {} }, { serviceCIDRs: ['10.0.0.0/16'] }), NET, FACTS),
    /vmNetworkCIDR$/u,
    /overlaps the service CIDR 10\.0\.0\.0\/16/u,
  ],
  [
    'masquerade on a multus network',
    () => planPod(spec({}, { multus: { networkName: 'blue', default: true } }), NET, FACTS),
    /masquerade$/u,
    /only on the pod network/u,
  ],
  [
    "the bridge's own MAC",
    () => planPod(spec({ macAddress: '02:00:00:00:00:00' }), NET, FACTS),
    /macAddress$/u,
    /masquerade bridge's own MAC/u,
  ],
  [
    'a pod NIC without IPv4',
    () => planPod(spec({}), { ...NET, interfaces: [{ ...POD, ipv4: [], routes4: [] }] }, FACTS),
    /masquerade$/u,
    /needs an IPv4 address/u,
  ],
];

for (const [name, fn, field, rule] of BAD) {
  test(`refused before anything runs: ${name}`, () => {
    const e = fieldError(fn);
    assert.match(e.field, field);
    assert.match(e.rule, rule);
    assert.equal(e.message, `${e.field}: ${e.rule}`);
  });
}
