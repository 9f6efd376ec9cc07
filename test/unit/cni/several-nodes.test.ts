/**
 * Issue 13 (several nodes) in the plugin's config and plan: a head-end
 * replicated VXLAN (`vxlan` with neither remote nor group; the node agent
 * keeps its FDB) and `ipMasqExclude` (no NAT towards the cluster's pod
 * network).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configProblems, parseConfig, MAX_MASQ_EXCLUDE } from '../../../cni/config.ts';
import { planAddressing, planPort, type PortFacts } from '../../../cni/plan.ts';
import { renderOp } from '../../../lib/iproute.ts';
import { ErrorCode, VirtnetError } from '../../../lib/errors.ts';
import type { BridgeConf, CniResult } from '../../../cni/types.ts';

const conf = (extra: Record<string, unknown> = {}): BridgeConf =>
  parseConfig(
    JSON.stringify({ cniVersion: '1.1.0', name: 'podnet', type: 'virtnet-bridge', bridge: 'vnbr0', ...extra }),
  );

/** The refusal's code-7 message; fails when the config is accepted. */
function refused(extra: Record<string, unknown>): string {
  try {
    conf(extra);
  } catch (e) {
    assert.ok(e instanceof VirtnetError, String(e));
    assert.equal(e.code, ErrorCode.invalidConfig);
    return e.message;
  }
  assert.fail(`accepted ${JSON.stringify(extra)}`);
}

const FACTS: PortFacts = {
  containerID: 'ctr-1',
  ifname: 'eth0',
  netns: '/var/run/netns/pod1',
  hostVeth: 'veth1a2b3c4d',
  hostMac: '02:00:00:00:00:01',
  containerMac: '02:00:00:00:00:02',
  bridgeMac: '02:00:00:00:00:03',
  bridgeExists: false,
  vxlanExists: false,
};

test('head-end vxlan: {id} alone is accepted, with the default port and no peer', () => {
  assert.deepEqual(conf({ vxlan: { id: 100 } }).vxlan, { id: 100, port: 4789 });
  assert.deepEqual(configProblems({ cniVersion: '1.1.0', name: 'n', vxlan: { id: 100 } }), []);
});

test('head-end vxlan: local, dev and port are kept', () => {
  assert.deepEqual(conf({ vxlan: { id: 100, local: '192.0.2.1', dev: 'eth1', port: 8472 } }).vxlan, {
    id: 100,
    port: 8472,
    local: '192.0.2.1',
    dev: 'eth1',
  });
  assert.deepEqual(conf({ vxlan: { id: 0, local: 'fd00::1' } }).vxlan, { id: 0, port: 4789, local: 'fd00::1' });
});

test('vxlan: remote with group is still refused, naming both values; group still needs dev', () => {
  assert.equal(
    refused({ vxlan: { id: 1, remote: '192.0.2.2', group: '239.1.1.1', dev: 'eth1' } }),
    'vxlan: set either remote ("192.0.2.2") ' +
      'or group ("239.1.1.1"), not both; ' +
      'set neither for head-end replication ' +
      "from the node agent's FDB entries",
  );
  assert.equal(
    refused({ vxlan: { id: 1, group: '239.1.1.1' } }),
    'vxlan.dev: is required with a multicast group (the underlay device)',
  );
});

test('head-end vxlan: its other fields are checked as before', () => {
  assert.equal(
    refused({ vxlan: { id: 100, local: '192.0.2.1/24' } }),
    'vxlan.local: "192.0.2.1/24" is not an IP address',
  );
  assert.match(refused({ vxlan: { id: 100, dev: 'eth 1' } }), /^vxlan\.dev: "eth 1" must not contain/u);
  assert.equal(refused({ vxlan: { id: 100, port: 65536 } }), 'vxlan.port: must be an integer from 1 to 65535');
  assert.equal(refused({ vxlan: { local: '192.0.2.1' } }), 'vxlan.id: is required (a VNI from 0 to 16777215)');
  assert.deepEqual(configProblems({ cniVersion: '1.1.0', name: 'n', vxlan: { id: 100, remotes: ['192.0.2.2'] } }), [
    'vxlan.remotes: unknown field (did you mean "remote"?)',
  ]);
});

test('head-end vxlan plan: the device as for a unicast peer, less the remote: same name, mark, bridge port', () => {
  const plan = planPort(conf({ mtu: 1450, vxlan: { id: 100, local: '192.0.2.1' } }), FACTS);
  const vx = plan.hostOps.filter((o) => 'name' in o && o.name === 'vxlan100');
  assert.deepEqual(vx, [
    { op: 'vxlan-add', name: 'vxlan100', id: 100, dstPort: 4789, local: '192.0.2.1', mtu: 1450 },
    { op: 'link-set', name: 'vxlan100', master: 'vnbr0', alias: 'virtnet-bridge', up: true },
  ]);
  // No "nolearning": ip-link(8) leaves learning on, so unicast MACs are learned behind the all-zeros entries.
  assert.deepEqual(vx.map(renderOp), [
    'link add name vxlan100 mtu 1450 type vxlan id 100 local 192.0.2.1 dstport 4789',
    'link set dev vxlan100 master vnbr0 alias virtnet-bridge up',
  ]);
});

test('head-end vxlan plan: a second network or attachment with the VNI shares the existing device', () => {
  const first = conf({ vxlan: { id: 100 } });
  const second = parseConfig(
    JSON.stringify({ cniVersion: '1.0.0', name: 'other-nad', bridge: 'vnbr0', vxlan: { id: 100 } }),
  );
  for (const c of [first, second]) {
    const ops = planPort(c, { ...FACTS, bridgeExists: true, vxlanExists: true }).hostOps;
    assert.equal(
      ops.some((o) => 'name' in o && o.name === 'vxlan100'),
      false,
      `${c.name}: the device is neither made nor touched`,
    );
    assert.ok(ops.some((o) => o.op === 'veth-add'));
  }
});

test('ipMasqExclude: both families, kept as network CIDRs', () => {
  const c = conf({
    ipMasq: true,
    ipMasqExclude: ['10.244.0.0/16', 'fd00:10:244::/56', '10.96.1.7/12', '192.0.2.9/32'],
  });
  assert.deepEqual(c.ipMasqExclude, ['10.244.0.0/16', 'fd00:10:244::/56', '10.96.0.0/12', '192.0.2.9/32']);
  assert.equal('ipMasqExclude' in conf({ ipMasq: true }), false);
  assert.deepEqual(conf({ ipMasqExclude: [] }).ipMasqExclude, []);
  assert.equal(
    conf({ ipMasqExclude: Array.from({ length: MAX_MASQ_EXCLUDE }, (_, i) => `10.${i}.0.0/16`) }).ipMasqExclude?.length,
    64,
  );
});

test('ipMasqExclude: refusals name the field, the value and the rule', () => {
  assert.equal(
    refused({ ipMasqExclude: '10.244.0.0/16' }),
    'ipMasqExclude: "10.244.0.0/16" must be a list of CIDRs (e.g. ["10.244.0.0/16", "fd00:10:244::/56"])',
  );
  assert.equal(refused({ ipMasqExclude: ['10.244.0.0/16', 10] }), 'ipMasqExclude[1]: 10 must be a CIDR string');
  assert.equal(
    refused({ ipMasqExclude: ['10.244.0.0'] }),
    'ipMasqExclude[0]: "10.244.0.0" is not a CIDR (address/prefix length, e.g. 10.244.0.0/16)',
  );
  assert.equal(
    refused({ ipMasqExclude: ['10.244.0.0/33'] }),
    'ipMasqExclude[0]: "10.244.0.0/33" mixes families: an IPv4 address with the prefix length 33, which only IPv6 ' +
      'has (IPv4 prefixes are 0 to 32)',
  );
  assert.equal(
    refused({ ipMasqExclude: ['::ffff:10.244.0.0/112'] }),
    'ipMasqExclude[0]: "::ffff:10.244.0.0/112" is an IPv4-mapped IPv6 prefix, which no IPv6 packet carries; write ' +
      'the IPv4 CIDR',
  );
  assert.equal(
    refused({ ipMasqExclude: ['0.0.0.0/0'] }),
    'ipMasqExclude[0]: "0.0.0.0/0" excludes every destination; set ipMasq to false instead',
  );
  assert.equal(
    refused({ ipMasqExclude: ['fd00::/129'] }),
    'ipMasqExclude[0]: "fd00::/129" is not a CIDR (address/prefix length, e.g. 10.244.0.0/16)',
  );
  assert.equal(
    refused({ ipMasqExclude: Array.from({ length: 65 }, () => '10.0.0.0/8') }),
    'ipMasqExclude: has 65 entries; at most 64 are allowed',
  );
  assert.match(
    refused({ ipMasqExclude: ['x'.repeat(5000)] }),
    /^ipMasqExclude\[0\]: "x{99}… \(5000 characters\) is not a CIDR/u,
  );
});

test('ipMasqExclude: the unknown-field check knows it, and hints at it', () => {
  assert.deepEqual(
    configProblems({ cniVersion: '1.1.0', name: 'n', ipMasq: true, ipMasqExclude: ['10.244.0.0/16'] }),
    [],
  );
  assert.deepEqual(configProblems({ cniVersion: '1.1.0', name: 'n', ipMasqExlude: ['10.244.0.0/16'] }), [
    'ipMasqExlude: unknown field (did you mean "ipMasqExclude"?)',
  ]);
});

const TABLE = 'virtnet-veth1a2b3c4d';
const DUAL: CniResult = {
  cniVersion: '1.1.0',
  ips: [{ address: '10.244.1.5/24' }, { address: 'fd00:10:244:1::5/64' }],
  routes: [],
};

/** The `daddr != {…}` set of each masquerade rule, as "addr/len" strings, in order. */
function keptDestinations(c: BridgeConf, ipam: CniResult = DUAL): string[][] {
  const nft = planAddressing(c, FACTS, ipam, () => false).nft as Array<{
    add?: { rule?: { table: string; expr: Array<{ match?: { right: unknown } }> } };
  }>;
  return nft.flatMap((cmd) => {
    const r = cmd.add?.rule;
    if (!r) return [];
    assert.equal(r.table, TABLE);
    const set = r.expr[1]?.match?.right as { set: Array<{ prefix: { addr: string; len: number } }> };
    return [set.set.map((e) => `${e.prefix.addr}/${e.prefix.len}`)];
  });
}

test('ipMasq rules: without ipMasqExclude, only the subnet and multicast are kept', () => {
  assert.deepEqual(keptDestinations(conf({ ipMasq: true })), [
    ['10.244.1.0/24', '224.0.0.0/4'],
    ['fd00:10:244:1::/64', 'ff00::/8'],
  ]);
});

test('ipMasq rules: each family gets its own ipMasqExclude entries, in the same daddr set', () => {
  const c = conf({ ipMasq: true, ipMasqExclude: ['10.96.0.0/12', 'fd00:96::/108', '192.0.2.0/24'] });
  assert.deepEqual(keptDestinations(c), [
    ['10.244.1.0/24', '224.0.0.0/4', '10.96.0.0/12', '192.0.2.0/24'],
    ['fd00:10:244:1::/64', 'ff00::/8', 'fd00:96::/108'],
  ]);
  const v4only = { cniVersion: '1.1.0', ips: [{ address: '10.244.1.5/24' }] };
  assert.deepEqual(keptDestinations(c, v4only), [['10.244.1.0/24', '224.0.0.0/4', '10.96.0.0/12', '192.0.2.0/24']]);
});

test('ipMasq rules: the cluster network covering the pod subnet replaces it; no element lies inside another', () => {
  const c = conf({
    ipMasq: true,
    ipMasqExclude: ['10.244.0.0/16', '10.244.7.0/24', 'fd00:10:244::/56', 'fd00:10:244::/56', '224.0.0.0/3'],
  });
  assert.deepEqual(keptDestinations(c), [
    ['10.244.0.0/16', '224.0.0.0/3'],
    ['ff00::/8', 'fd00:10:244::/56'],
  ]);
});

test('ipMasq rules: the whole masquerade rule with an exclusion', () => {
  const nft = planAddressing(
    conf({ ipMasq: true, ipMasqExclude: ['10.244.0.0/16'] }),
    FACTS,
    { cniVersion: '1.1.0', ips: [{ address: '10.244.1.5/24' }] },
    () => false,
  ).nft;
  assert.deepEqual(nft.at(-1), {
    add: {
      rule: {
        family: 'inet',
        table: TABLE,
        chain: 'postrouting',
        expr: [
          { match: { op: '==', left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '10.244.1.5' } },
          {
            match: {
              op: '!=',
              left: { payload: { protocol: 'ip', field: 'daddr' } },
              right: { set: [{ prefix: { addr: '224.0.0.0', len: 4 } }, { prefix: { addr: '10.244.0.0', len: 16 } }] },
            },
          },
          { masquerade: null },
        ],
      },
    },
  });
});

test('ipMasqExclude without ipMasq adds no rules (there is nothing to exclude from)', () => {
  assert.deepEqual(planAddressing(conf({ ipMasqExclude: ['10.244.0.0/16'] }), FACTS, DUAL, () => false).nft, []);
});
