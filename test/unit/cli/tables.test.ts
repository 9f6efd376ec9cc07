/** The VM and NAD tables both CLIs print (view/table.ts): kubectl's columns, sorted, <none> for what is absent. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NicWiring } from '../../../controller/api/status.ts';
import { cniTypes, nadTable, nameLines, vmiWideTable, vmTable, type VmiView } from '../../../controller/view/table.ts';

const NOW = new Date('2024-05-01T10:03:12Z');
const rows = (table: string) =>
  table
    .trimEnd()
    .split('\n')
    .map((l) => l.split(/ {3,}/u));

test('vmTable: KubeVirt printer columns AGE, STATUS, READY, sorted by namespace/name', () => {
  const table = vmTable(
    [
      {
        metadata: { name: 'web', namespace: 'b', creationTimestamp: '2024-05-01T10:00:00Z' },
        status: { printableStatus: 'Running', ready: true },
      },
      { metadata: { name: 'db', creationTimestamp: '2024-05-01T10:03:00Z' } },
    ],
    NOW,
  );
  assert.deepEqual(rows(table), [
    ['NAMESPACE', 'NAME', 'AGE', 'STATUS', 'READY'],
    ['b', 'web', '3m12s', 'Running', 'true'],
    ['default', 'db', '12s', '<none>', '<none>'],
  ]);
  assert.equal(vmTable([], NOW), '');
});

test('nadTable: the CNI types of spec.config in order; <none> for a config on the node, <invalid> for no JSON', () => {
  const nad = (name: string, config?: string) => ({
    metadata: { name, namespace: 'default', creationTimestamp: '2024-05-01T09:03:12Z' },
    ...(config !== undefined && { spec: { config } }),
  });
  const table = nadTable(
    [
      nad('lan', JSON.stringify({ cniVersion: '1.0.0', plugins: [{ type: 'virtnet-bridge' }, { type: 'portmap' }] })),
      nad('file'),
      nad('bad', '{not json'),
      nad('one', JSON.stringify({ cniVersion: '1.0.0', type: 'macvlan' })),
    ],
    NOW,
  );
  assert.deepEqual(rows(table), [
    ['NAMESPACE', 'NAME', 'TYPE', 'AGE'],
    ['default', 'bad', '<invalid>', '60m'],
    ['default', 'file', '<none>', '60m'],
    ['default', 'lan', 'virtnet-bridge,portmap', '60m'],
    ['default', 'one', 'macvlan', '60m'],
  ]);
  assert.equal(cniTypes(nad('empty', JSON.stringify({ plugins: [] }))), '<invalid>');
  assert.equal(nadTable([], NOW), '');
});

test('vmiWideTable adds the netns and each NIC binding; nameLines prints kind/name as kubectl -o name', () => {
  const nic: NicWiring = {
    name: 'default',
    binding: 'masquerade',
    network: 'pod',
    podInterface: 'eth0',
    bridge: 'k6t-eth0',
    tap: 'tap0',
    mac: '02:00:00:00:00:01',
    model: 'virtio',
    mtu: 1500,
    ips: ['10.0.2.2/24'],
    podIps: [],
    leased4: true,
    leased6: false,
    ports: [],
  };
  const vmi: VmiView = {
    metadata: { name: 'web', namespace: 'default', creationTimestamp: '2024-05-01T10:00:00Z' },
    status: {
      phase: 'Running',
      interfaces: [{ name: 'default', ipAddress: '10.0.2.2' }],
      virtnet: { netns: 'virtnet-default-web', nics: [nic], steps: [] },
    },
  };
  assert.deepEqual(rows(vmiWideTable([vmi], NOW))[1], [
    'default',
    'web',
    'Running',
    'default=10.0.2.2',
    '3m12s',
    'virtnet-default-web',
    'default:masquerade',
  ]);
  assert.equal(
    nameLines('virtualmachine.kubevirt.io', [{ metadata: { name: 'b' } }, { metadata: { name: 'a' } }]),
    'virtualmachine.kubevirt.io/a\nvirtualmachine.kubevirt.io/b',
  );
});
