/**
 * planRestore: the pod put back as CNI left it, after a normal run, after a
 * crash midway, and (the safety property) after a restore already happened.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { planRestore } from '../../../launcher/plan/restore.ts';
import { planPod } from '../../../launcher/plan/pod.ts';
import { linkNamesFor } from '../../../launcher/names.ts';
import type { PodInterface, PodNetwork } from '../../../launcher/discover.ts';
import type { LauncherSpec } from '../../../launcher/spec.ts';
import { renderOp, type IpLink, type LinkOp } from '../../../lib/iproute.ts';
import { golden } from './golden-helper.ts';

const BLUE_HASH = createHash('sha256').update('blue').digest('hex').slice(0, 11);

const ETH0: PodInterface = {
  name: 'eth0',
  mac: '0a:58:0a:f4:00:05',
  mtu: 1450,
  ipv4: [{ address: '10.244.0.5', prefix: 24 }],
  ipv6: [{ address: 'fd00:10:244::5', prefix: 64 }],
  routes4: [
    { dst: '0.0.0.0/0', gateway: '10.244.0.1' },
    { dst: '10.96.0.0/12', gateway: '10.244.0.254', metric: 100 },
  ],
  routes6: [{ dst: '::/0', gateway: 'fd00:10:244::1', metric: 1024 }],
};
const BLUE: PodInterface = {
  name: `pod${BLUE_HASH}`,
  mac: '02:00:00:ab:cd:ef',
  mtu: 1500,
  ipv4: [{ address: '192.168.50.7', prefix: 24 }],
  ipv6: [],
  routes4: [],
  routes6: [],
};
const ORIGINAL: PodNetwork = { interfaces: [ETH0, BLUE], resolv: { nameservers: [], search: [], skipped: [] } };
const POD_NAMES = linkNamesFor({ name: 'default', pod: {} });
const BLUE_NAMES = linkNamesFor({ name: 'blue', multus: { networkName: 'default/blue' } });
const NICS = [
  { names: POD_NAMES, index: 0 },
  { names: BLUE_NAMES, index: 1 },
];

let ifindex = 1;
function link(ifname: string, kind: string, extra: Partial<IpLink> = {}): IpLink {
  return {
    ifindex: ifindex++,
    ifname,
    mtu: 1500,
    address: '02:00:00:00:00:99',
    linkinfo: { info_kind: kind },
    ...extra,
  };
}

const text = (ops: LinkOp[]): string => ops.map(renderOp).join('\n');
const deletes = (ops: LinkOp[], name: string): boolean => ops.some((o) => o.op === 'link-del' && o.name === name);

test('golden: full restore after a normal run', () => {
  const current = [
    link('lo', 'loopback'),
    link('eth0-nic', 'veth', { master: 'k6t-eth0' }),
    link('k6t-eth0', 'bridge'),
    link('tap0', 'tun', { master: 'k6t-eth0' }),
    link('eth0', 'dummy'),
    link(`${BLUE_HASH}-nic`, 'veth', { master: `k6t-${BLUE_HASH}` }),
    link(`k6t-${BLUE_HASH}`, 'bridge'),
    link(`tap${BLUE_HASH}`, 'tun'),
    link(`pod${BLUE_HASH}`, 'dummy'),
  ];
  const r = planRestore(ORIGINAL, NICS, current);
  golden('restore-full.txt', `# ops\n${text(r.ops)}\n# ops6\n${text(r.ops6)}\n`);
  for (const n of ['tap0', 'k6t-eth0', 'eth0', `tap${BLUE_HASH}`, `k6t-${BLUE_HASH}`, `pod${BLUE_HASH}`])
    assert.ok(deletes(r.ops, n), n);
  // The placeholder goes before the real NIC takes its name back.
  const lines = r.ops.map(renderOp);
  assert.ok(
    lines.indexOf('link del dev eth0') <
      lines.indexOf('link set dev eth0-nic name eth0 mtu 1450 address 0a:58:0a:f4:00:05'),
    lines.join('\n'),
  );
  assert.ok(lines.includes('addr add 10.244.0.5/24 dev eth0'));
  assert.ok(lines.includes('addr add fd00:10:244::5/64 dev eth0 nodad'));
  assert.ok(lines.includes('route add 0.0.0.0/0 via 10.244.0.1 dev eth0'));
  assert.ok(lines.includes('route add ::/0 via fd00:10:244::1 dev eth0 metric 1024'));
  assert.ok(lines.includes('rule del from 169.254.75.10 table 1000 pref 1000'));
  assert.ok(lines.includes('rule del from 169.254.75.11 table 1001 pref 1001'));
  assert.deepEqual(r.ops6.map(renderOp), ['rule del iif k6t-eth0 table 1000 pref 1000']);
});

test('the restore of a real plan undoes every link it made', () => {
  const spec: LauncherSpec = {
    name: 'vm1',
    namespace: 'default',
    memoryMiB: 256,
    cpus: 1,
    boot: { kernel: '/k' },
    interfaces: [
      { name: 'default', bridge: {} },
      { name: 'blue', bridge: {} },
    ],
    networks: [
      { name: 'default', pod: {} },
      { name: 'blue', multus: { networkName: 'default/blue' } },
    ],
  };
  const plan = planPod(spec, ORIGINAL, { dummyLinks: true, freshMacs: ['02:aa:00:00:00:01', '02:aa:00:00:00:02'] });
  // Simulate the plan's link adds and renames on the original set of links.
  const names = new Set(['lo', ...ORIGINAL.interfaces.map((i) => i.name)]);
  for (const o of plan.ops) {
    if (o.op === 'bridge-add' || o.op === 'tap-add' || o.op === 'dummy-add') names.add(o.name);
    if (o.op === 'link-set' && o.newName) {
      names.delete(o.name);
      names.add(o.newName);
    }
  }
  const made = [...names].filter((n) => !['lo', 'eth0', `pod${BLUE_HASH}`].includes(n));
  const r = planRestore(
    ORIGINAL,
    plan.nics,
    [...names].map((n) => link(n, 'x')),
  );
  for (const n of made) {
    const undone = deletes(r.ops, n) || r.ops.some((o) => o.op === 'link-set' && o.name === n && o.newName);
    assert.ok(undone, `${n} is left behind:\n${text(r.ops)}`);
  }
  // Every rule the plan added is deleted.
  for (const rule of [...plan.ops, ...plan.ops6].filter((o) => o.op === 'rule-add')) {
    const del = renderOp({ ...rule, op: 'rule-del' } as LinkOp);
    assert.ok([...r.ops, ...r.ops6].map(renderOp).includes(del), `${del} missing`);
  }
});

test('golden: after a crash midway (eth0 renamed to eth0-nic, no placeholder or bridge yet)', () => {
  const current = [
    link('lo', 'loopback'),
    link('eth0-nic', 'veth', { address: '02:aa:00:00:00:01' }),
    link(`pod${BLUE_HASH}`, 'veth', {
      addr_info: [{ family: 'inet', local: '192.168.50.7', prefixlen: 24, scope: 'global' }],
    }),
  ];
  const r = planRestore(ORIGINAL, NICS, current);
  golden('restore-crash-midway.txt', `# ops\n${text(r.ops)}\n# ops6\n${text(r.ops6)}\n`);
  assert.ok(!r.ops.some((o) => o.op === 'link-del'), text(r.ops));
  assert.deepEqual(
    r.ops.find((o) => o.op === 'link-set' && o.newName),
    {
      op: 'link-set',
      name: 'eth0-nic',
      newName: 'eth0',
      mac: '0a:58:0a:f4:00:05',
      mtu: 1450,
    },
  );
  // The untouched secondary NIC is left alone: no link op names it.
  assert.ok(!r.ops.some((o) => o.op !== 'rule-del' && JSON.stringify(o).includes(`pod${BLUE_HASH}`)), text(r.ops));
});

test('SAFETY: after a restore already happened, eth0 (a veth again) is never deleted', () => {
  const current = [
    link('lo', 'loopback'),
    link('eth0', 'veth', {
      address: ETH0.mac,
      mtu: 1450,
      link_netnsid: 0,
      addr_info: ETH0.ipv4.map((a) => ({
        family: 'inet' as const,
        local: a.address,
        prefixlen: a.prefix,
        scope: 'global',
      })),
    }),
    link(`pod${BLUE_HASH}`, 'veth', {
      address: BLUE.mac,
      addr_info: [{ family: 'inet', local: '192.168.50.7', prefixlen: 24, scope: 'global' }],
    }),
  ];
  const r = planRestore(ORIGINAL, NICS, current);
  assert.ok(!deletes(r.ops, 'eth0'), `deletes eth0:\n${text(r.ops)}`);
  assert.ok(!deletes(r.ops, `pod${BLUE_HASH}`), `deletes pod${BLUE_HASH}:\n${text(r.ops)}`);
  assert.ok(!r.ops.some((o) => o.op === 'link-del'), text(r.ops));
  // Nothing touches the links at all: only (idempotent, -force) rule deletions remain.
  assert.deepEqual(
    r.ops.map((o) => o.op),
    ['rule-del', 'rule-del'],
  );
  // Running it twice changes nothing.
  assert.deepEqual(planRestore(ORIGINAL, NICS, current), r);
});

test('SAFETY: a link named eth0 is deleted only while eth0-nic exists, for any mix of present links', () => {
  const all = ['eth0', 'eth0-nic', 'k6t-eth0', 'tap0'];
  for (let mask = 0; mask < 2 ** all.length; mask++) {
    const present = all.filter((_, i) => mask & (1 << i));
    const r = planRestore(
      ORIGINAL,
      [{ names: POD_NAMES, index: 0 }],
      present.map((n) => link(n, 'x')),
    );
    const delEth0 = deletes(r.ops, 'eth0');
    assert.equal(delEth0, present.includes('eth0') && present.includes('eth0-nic'), present.join(','));
    // Only links that are present are deleted.
    for (const o of r.ops)
      if (o.op === 'link-del') assert.ok(present.includes(o.name), `${o.name} not present: ${present.join(',')}`);
    // A rename happens only from eth0-nic, and only when eth0 is (or is about to be) gone.
    const rename = r.ops.find((o) => o.op === 'link-set' && o.newName === 'eth0');
    assert.equal(Boolean(rename), present.includes('eth0-nic'), present.join(','));
  }
});

test('a NIC without a matching original interface: its links are deleted, nothing renamed', () => {
  const r = planRestore(
    { interfaces: [], resolv: ORIGINAL.resolv },
    [{ names: POD_NAMES, index: 0 }],
    [link('tap0', 'tun'), link('k6t-eth0', 'bridge'), link('eth0-nic', 'veth'), link('eth0', 'dummy')],
  );
  assert.deepEqual(r.ops.map(renderOp), ['link del dev tap0', 'link del dev k6t-eth0']);
  assert.deepEqual(r.ops6, []);
});

// Regression (fixed): planPod numbers a NIC's server address, policy table and rule
// preference by its index in spec.interfaces, absent ones included; the saved nics
// (plan.nics) leave absent interfaces out, and planRestore numbers by that array.
test('rules are deleted with the numbers the plan used when an absent interface comes first', () => {
  const spec: LauncherSpec = {
    name: 'vm1',
    namespace: 'default',
    memoryMiB: 256,
    cpus: 1,
    boot: { kernel: '/k' },
    interfaces: [
      { name: 'blue', bridge: {}, state: 'absent' },
      { name: 'default', bridge: {} },
    ],
    networks: [
      { name: 'blue', multus: { networkName: 'default/blue' } },
      { name: 'default', pod: {} },
    ],
  };
  const plan = planPod(spec, ORIGINAL, { dummyLinks: true, freshMacs: ['02:aa:00:00:00:01', '02:aa:00:00:00:02'] });
  const added = [...plan.ops, ...plan.ops6]
    .filter((o) => o.op === 'rule-add')
    .map((o) => renderOp({ ...o, op: 'rule-del' } as LinkOp));
  assert.deepEqual(added, [
    'rule del from 169.254.75.11 table 1001 pref 1001',
    'rule del iif k6t-eth0 table 1001 pref 1001',
  ]);
  const r = planRestore(ORIGINAL, plan.nics, [
    link('eth0-nic', 'veth'),
    link('k6t-eth0', 'bridge'),
    link('tap0', 'tun'),
    link('eth0', 'dummy'),
  ]);
  const deleted = [...r.ops, ...r.ops6].filter((o) => o.op === 'rule-del').map(renderOp);
  assert.deepEqual(deleted.sort(), added.sort());
});

// Regression (fixed): the plan adds the placeholder's gateway routes with `onlink`, the
// restore without. For a pod whose gateway is not in a connected subnet (Calico:
// 10.1.2.3/32, default via 169.254.1.1), `ip route add 0.0.0.0/0 via 169.254.1.1 dev
// eth0` fails with "Nexthop has invalid gateway" and, under -force, the pod is left
// without its default route.
test('restore re-adds a gateway outside any subnet after its host route', () => {
  const calico: PodInterface = {
    name: 'eth0',
    mac: 'ee:ee:ee:ee:ee:ee',
    mtu: 1480,
    ipv4: [{ address: '10.1.2.3', prefix: 32 }],
    ipv6: [],
    routes4: [{ dst: '0.0.0.0/0', gateway: '169.254.1.1' }, { dst: '169.254.1.1/32' }],
    routes6: [],
  };
  const r = planRestore(
    { interfaces: [calico], resolv: ORIGINAL.resolv },
    [{ names: POD_NAMES, index: 0 }],
    [link('eth0-nic', 'veth')],
  );
  const lines = r.ops.map(renderOp);
  const host = lines.indexOf('route add 169.254.1.1/32 dev eth0');
  assert.ok(host >= 0 && host < lines.indexOf('route add 0.0.0.0/0 via 169.254.1.1 dev eth0'), text(r.ops));
});

test('a failed apply that flushed the pod NIC before renaming it: its addresses and routes come back', () => {
  const current = [link('lo', 'loopback'), link('eth0', 'veth', { address: ETH0.mac, addr_info: [] })];
  const lines = planRestore(ORIGINAL, [NICS[0]!], current).ops.map(renderOp);
  assert.ok(lines.includes('addr add 10.244.0.5/24 dev eth0'), lines.join('\n'));
  assert.ok(lines.includes('link set dev eth0 up'), lines.join('\n'));
  assert.ok(lines.includes('route add 0.0.0.0/0 via 10.244.0.1 dev eth0'), lines.join('\n'));
  assert.ok(!lines.some((l) => l.startsWith('link del')), lines.join('\n'));
});
