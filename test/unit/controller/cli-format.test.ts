/** The CLI's presentation: kubectl ages, the get table, describe, and the topology in text and SVG. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XMLValidator } from 'fast-xml-parser';
import type { NicWiring } from '../../../controller/api/status.ts';
import { ageSince, humanDuration } from '../../../controller/view/age.ts';
import { describeVmi, forwardedPorts, leaseState, nicState } from '../../../controller/view/describe.ts';
import { listObject, vmiTable, type VmiView } from '../../../controller/view/table.ts';
import { topologySvg, topologyText } from '../../../controller/view/topology.ts';

const NOW = new Date('2024-05-01T10:03:12Z');
const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

const masqueradeNic: NicWiring = {
  name: 'default',
  binding: 'masquerade',
  network: 'pod',
  podInterface: 'eth0',
  bridge: 'k6t-eth0',
  tap: 'tap0',
  mac: '02:00:00:00:00:01',
  model: 'virtio',
  mtu: 1500,
  ips: ['10.0.2.2/24', 'fd10:0:2::2/120'],
  podIps: ['10.244.0.5/24', 'fd00:10:244::5/64'],
  leased4: true,
  leased6: true,
  ports: [],
};
const bridgeNic: NicWiring = {
  name: 'blue',
  binding: 'bridge',
  network: 'vms/blue-net',
  podInterface: 'pod16477688c0e',
  bridge: 'k6t-16477688c0e',
  tap: 'tap16477688c0e',
  mac: '02:00:00:00:00:02',
  model: 'e1000',
  mtu: 9000,
  ips: ['192.168.50.10/24'],
  podIps: [],
  leased4: false,
  leased6: false,
  ports: [],
};

function twoNicVmi(name = 'web', netns = 'virtnet-default-web'): VmiView {
  return {
    metadata: { name, namespace: 'default', creationTimestamp: '2024-05-01T10:00:00Z' },
    status: {
      phase: 'Running',
      interfaces: [
        { name: 'default', ipAddress: '10.0.2.2', ipAddresses: ['10.0.2.2', 'fd10:0:2::2'] },
        { name: 'blue', ipAddress: '192.168.50.10' },
      ],
      virtnet: {
        netns,
        launcherPid: 4242,
        accel: 'tcg',
        nics: [masqueradeNic, bridgeNic],
        steps: [
          { name: 'discover', ms: 12 },
          { name: 'apply', ms: 140.4 },
        ],
      },
    },
  };
}
const bareVmi: VmiView = { metadata: { name: 'db', namespace: 'apps', creationTimestamp: '2024-04-29T09:00:00Z' } };

test('ages follow kubectl HumanDuration at every boundary', () => {
  const cases: Array<[number, string]> = [
    [-2 * S, '<invalid>'],
    [-1 * S, '0s'],
    [0, '0s'],
    [45 * S, '45s'],
    [59 * S, '59s'],
    [119 * S + 999, '119s'],
    [2 * M, '2m'],
    [2 * M + S, '2m1s'],
    [3 * M + 12 * S, '3m12s'],
    [10 * M - S, '9m59s'],
    [10 * M, '10m'],
    [10 * M + 30 * S, '10m'],
    [3 * H - S, '179m'],
    [3 * H, '3h'],
    [3 * H + 5 * M, '3h5m'],
    [5 * H, '5h'],
    [8 * H - M, '7h59m'],
    [8 * H, '8h'],
    [8 * H + 30 * M, '8h'],
    [48 * H - S, '47h'],
    [2 * D, '2d'],
    [2 * D + 5 * H, '2d5h'],
    [8 * D - H, '7d23h'],
    [8 * D, '8d'],
    [8 * D + 5 * H, '8d'],
    [730 * D - S, '729d'],
    [730 * D, '2y'],
    [731 * D, '2y1d'],
    [8 * 365 * D - D, '7y364d'],
    [8 * 365 * D, '8y'],
    [9 * 365 * D + 5 * D, '9y'],
  ];
  for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, `${ms} ms`);
  assert.equal(ageSince(undefined, NOW), '<unknown>');
  assert.equal(ageSince('not a date', NOW), '<unknown>');
  assert.equal(ageSince('2024-05-01T10:02:27Z', NOW), '45s');
});

test('the get table: aligned kubectl columns, sorted, IPs per interface, Pending and <none> without status', () => {
  const table = vmiTable([twoNicVmi(), bareVmi], NOW);
  const lines = table.split('\n');
  assert.equal(lines.pop(), '', 'ends with a newline');
  assert.deepEqual(
    lines.map((l) => l.split(/ {3,}/)),
    [
      ['NAMESPACE', 'NAME', 'PHASE', 'IPS', 'AGE'],
      ['apps', 'db', 'Pending', '<none>', '2d1h'],
      ['default', 'web', 'Running', 'default=10.0.2.2,fd10:0:2::2 blue=192.168.50.10', '3m12s'],
    ],
  );
  // Every column starts where its header does; no line has trailing blanks.
  const columnStarts = [...lines[0]!.matchAll(/\S+/g)].map((m) => m.index);
  for (const line of lines.slice(1))
    assert.deepEqual(
      [...line.matchAll(/(?<=^| {3})\S/g)].map((m) => m.index),
      columnStarts,
      line,
    );
  for (const line of lines) assert.equal(line, line.trimEnd());
  assert.equal(vmiTable([], NOW), '');
});

test('listObject is the v1 List kubectl prints for several objects', () => {
  assert.deepEqual(listObject([bareVmi]), {
    apiVersion: 'v1',
    kind: 'List',
    items: [bareVmi],
    metadata: { resourceVersion: '' },
  });
});

/** The lines of describe's block for one interface: from "  name:" to the next block or section. */
function interfaceBlock(text: string, name: string): string[] {
  const lines = text.split('\n');
  const start = lines.indexOf(`  ${name}:`);
  assert.ok(start >= 0, `no block for ${name}`);
  const end = lines.findIndex((l, i) => i > start && !l.startsWith('    '));
  return lines.slice(start + 1, end);
}
const field = (block: string[], label: string) =>
  block
    .find((l) => l.trimStart().startsWith(`${label}:`))
    ?.slice(`    ${label}:`.length)
    .trim();

test('describe: header fields, and each NIC field on its own interface block', () => {
  const text = describeVmi(twoNicVmi(), NOW);
  for (const [label, value] of [
    ['Name', 'web'],
    ['Namespace', 'default'],
    ['Phase', 'Running'],
    ['Netns', 'virtnet-default-web'],
    ['Launcher PID', '4242'],
    ['Accel', 'tcg'],
  ]) {
    assert.match(text, new RegExp(`^${label}: +${value}$`, 'm'));
  }
  assert.match(text, /^Created: +2024-05-01T10:00:00Z \(3m12s ago\)$/m);
  const want: Record<string, Record<string, string>> = {
    default: {
      Network: 'pod',
      Binding: 'masquerade',
      'Pod Interface': 'eth0',
      Bridge: 'k6t-eth0',
      Tap: 'tap0',
      MAC: '02:00:00:00:00:01',
      Model: 'virtio',
      MTU: '1500',
      'Guest IPs': '10.0.2.2/24, fd10:0:2::2/120',
      'Pod IPs': '10.244.0.5/24, fd00:10:244::5/64',
      Lease: 'leased (IPv4, IPv6)',
      Ports: 'all',
      State: 'at boot, link up',
    },
    blue: {
      Network: 'vms/blue-net',
      Binding: 'bridge',
      'Pod Interface': 'pod16477688c0e',
      Bridge: 'k6t-16477688c0e',
      Tap: 'tap16477688c0e',
      MAC: '02:00:00:00:00:02',
      Model: 'e1000',
      MTU: '9000',
      'Guest IPs': '192.168.50.10/24',
      'Pod IPs': '<none>',
      Lease: 'waiting',
      Ports: '-',
      State: 'at boot, link up',
    },
  };
  for (const [nic, fields] of Object.entries(want)) {
    const block = interfaceBlock(text, nic);
    for (const [label, value] of Object.entries(fields)) assert.equal(field(block, label), value, `${nic} ${label}`);
  }
  assert.match(text, /^Steps:\n {2}discover {3}12 ms\n {2}apply {5}140 ms\n$/m);
});

test('describe: lease states and forwarded ports', () => {
  assert.equal(leaseState({ ips: [], leased4: false, leased6: false }), 'no DHCP');
  assert.equal(leaseState({ ips: ['10.0.2.2/24'], leased4: true, leased6: false }), 'leased (IPv4)');
  assert.equal(leaseState({ ips: ['fd10::2/120'], leased4: false, leased6: true }), 'leased (IPv6)');
  assert.equal(forwardedPorts({ binding: 'masquerade', ports: ['80/TCP', '8000-8010/UDP'] }), '80/TCP, 8000-8010/UDP');
});

test('describe and topology show hot-plugged NICs, NICs being removed, and links down', () => {
  assert.equal(nicState({}), 'at boot, link up');
  assert.equal(nicState({ hotplugged: true, linkState: 'down' }), 'hot-plugged, link down');
  assert.equal(
    nicState({ hotplugged: true, removing: true }),
    'hot-plugged, being removed (waiting for the guest to release it), link up',
  );
  const vmi = twoNicVmi();
  vmi.status!.virtnet!.nics[1] = { ...bridgeNic, hotplugged: true, removing: true, linkState: 'down' };
  assert.equal(
    field(interfaceBlock(describeVmi(vmi, NOW), 'blue'), 'State'),
    'hot-plugged, being removed (waiting for the guest to release it), link down',
  );
  const text = topologyText(vmi);
  assert.match(text, /blue \(hot-plugged, removing\)/u);
  assert.match(text, /link down/u);
  assert.doesNotMatch(topologyText(twoNicVmi()), /hot-plugged|removing|link down/u);
});

test('describe without status: Pending, no network yet, reason shown when there is one', () => {
  const text = describeVmi(bareVmi, NOW);
  assert.match(text, /^Phase: +Pending$/m);
  assert.match(text, /^Interfaces: +\(no network yet\)$/m);
  assert.match(text, /^Netns: +<none>$/m);
  const failed = describeVmi(
    { ...bareVmi, status: { phase: 'Failed', reason: 'launcher exited 1', interfaces: [] } },
    NOW,
  );
  assert.match(failed, /^Phase: +Failed\nReason: +launcher exited 1$/m);
});

test('topology text: every hop of each NIC on one line, in order, inside aligned boxes within 100 columns', () => {
  const text = topologyText(twoNicVmi());
  const lines = text.trimEnd().split('\n');
  const hops: Array<[string, string[]]> = [
    ['pod network', ['pod network', 'eth0', 'nft NAT', 'k6t-eth0', 'tap0', 'default']],
    ['vms/blue-net', ['vms/blue-net', 'pod16477688c0e', 'k6t-16477688c0e', 'tap16477688c0e', 'blue']],
  ];
  for (const [network, path] of hops) {
    const line = lines.find((l) => l.startsWith(network));
    assert.ok(line, `a line for ${network}`);
    let at = -1;
    for (const hop of path) {
      const next = line.indexOf(hop, at + 1);
      assert.ok(next > at, `${hop} after position ${at} in ${line}`);
      at = next;
    }
  }
  assert.ok(!lines.find((l) => l.startsWith('vms/blue-net'))!.includes('nft NAT'), 'bridge binding has no NAT');
  for (const detail of [
    '10.244.0.5/24',
    'fd00:10:244::5/64',
    '02:00:00:00:00:01',
    'virtio',
    '10.0.2.2/24',
    '192.168.50.10/24',
    'netns virtnet-default-web',
    'VM web',
  ]) {
    assert.ok(text.includes(detail), detail);
  }
  const widths = new Set(lines.map((l) => [...l].length));
  assert.equal(widths.size, 1, 'every line ends at the pod box edge');
  assert.ok([...widths][0]! <= 100);
  assert.equal(topologyText(bareVmi), 'apps/db: (no network yet)\n');
});

test('topology SVG: valid XML, every hop drawn, text escaped, deterministic', () => {
  const evil = twoNicVmi('a<b&c>d', 'ns"<&>');
  evil.status!.virtnet!.nics[1] = { ...bridgeNic, network: 'x/<y>&z' };
  const svg = topologySvg(evil);
  assert.equal(XMLValidator.validate(svg), true);
  assert.match(svg, /<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" viewBox="0 0 \d+ \d+"/);
  assert.match(svg, /<marker id="arrow"/);
  assert.ok(
    svg.includes('VM a&lt;b&amp;c&gt;d') &&
      svg.includes('netns ns&quot;&lt;&amp;&gt;') &&
      svg.includes('x/&lt;y&gt;&amp;z'),
  );
  assert.ok(!svg.includes('a<b') && !svg.includes('<y>'));
  const texts = [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
  for (const hop of [
    'pod network',
    'eth0',
    'nft NAT',
    'k6t-eth0',
    'tap0',
    'default',
    'pod16477688c0e',
    'k6t-16477688c0e',
    'tap16477688c0e',
    'blue',
    '02:00:00:00:00:02',
  ]) {
    assert.ok(texts.includes(hop), hop);
  }
  assert.equal(svg.match(/marker-end/g)?.length, 9, '5 arrows for masquerade, 4 for bridge');
  assert.equal(topologySvg(evil), svg);
  const empty = topologySvg(bareVmi);
  assert.equal(XMLValidator.validate(empty), true);
  assert.ok(empty.includes('apps/db: (no network yet)'));
});
