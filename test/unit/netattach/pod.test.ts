/** Which attachments a pod gets from its annotations, in which order, named how. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttachError, podAttachments, type AttachContext } from '../../../netattach/pod.ts';
import type { NetworkAttachmentDefinition } from '../../../netattach/nad.ts';

function nad(
  namespace: string,
  name: string,
  plugin: Record<string, unknown> = { type: 'bridge', bridge: `br-${name}` },
): NetworkAttachmentDefinition {
  return {
    apiVersion: 'k8s.cni.cncf.io/v1',
    kind: 'NetworkAttachmentDefinition',
    metadata: { name, namespace },
    spec: { config: JSON.stringify({ cniVersion: '1.0.0', ...plugin }) },
  };
}

const NADS = [
  nad('vms', 'blue'),
  nad('vms', 'red', { type: 'macvlan', master: 'eth1', capabilities: { mac: true, ips: true } }),
  nad('default', 'shared'),
  nad('other', 'secret'),
  nad('vms', 'podnet2', { type: 'virtnet-bridge' }),
];
const ctx = (over: Partial<AttachContext> = {}): AttachContext => ({
  clusterDefault: { cniVersion: '1.1.0', name: 'virtnet', plugins: [{ type: 'virtnet-bridge' }] },
  lookupNad: (ns, name) => NADS.find((n) => n.metadata.namespace === ns && n.metadata.name === name),
  namespaceIsolation: true,
  globalNamespaces: ['default'],
  ...over,
});

test('no annotation: the cluster default only, as eth0', () => {
  const r = podAttachments({ namespace: 'vms' }, ctx());
  assert.deepEqual(
    r.map((a) => [a.name, a.ifname, a.isDefault]),
    [['virtnet', 'eth0', true]],
  );
});

test("the comma form: default first, then net1, net2 in order; namespaces default to the pod's", () => {
  const r = podAttachments(
    { namespace: 'vms', annotations: { 'k8s.v1.cni.cncf.io/networks': 'blue, default/shared@shared0, red' } },
    ctx(),
  );
  assert.deepEqual(
    r.map((a) => [a.name, a.ifname, a.isDefault, a.list.name]),
    [
      ['virtnet', 'eth0', true, 'virtnet'],
      ['vms/blue', 'net1', false, 'blue'],
      ['default/shared', 'shared0', false, 'shared'],
      ['vms/red', 'net3', false, 'red'],
    ],
  );
});

test('the JSON form: interface names, capability arguments and cni-args', () => {
  const value = JSON.stringify([
    {
      name: 'red',
      interface: 'pod1234567890a',
      mac: '02:00:00:00:00:0a',
      ips: ['10.1.0.5/24'],
      'cni-args': { logicNetworkName: 'red' },
    },
  ]);
  const [, red] = podAttachments({ namespace: 'vms', annotations: { 'k8s.v1.cni.cncf.io/networks': value } }, ctx());
  assert.equal(red!.ifname, 'pod1234567890a');
  assert.deepEqual(red!.capabilityArgs, { ips: ['10.1.0.5/24'], mac: '02:00:00:00:00:0a' });
  assert.deepEqual(red!.argsCni, { logicNetworkName: 'red' });
});

test('the same network twice gives two attachments', () => {
  const r = podAttachments({ namespace: 'vms', annotations: { 'k8s.v1.cni.cncf.io/networks': 'blue,blue' } }, ctx());
  assert.deepEqual(
    r.map((a) => a.ifname),
    ['eth0', 'net1', 'net2'],
  );
});

test('v1.multus-cni.io/default-network replaces the cluster default', () => {
  const r = podAttachments(
    {
      namespace: 'vms',
      annotations: { 'v1.multus-cni.io/default-network': 'podnet2', 'k8s.v1.cni.cncf.io/networks': 'blue' },
    },
    ctx(),
  );
  assert.deepEqual(
    r.map((a) => [a.name, a.ifname, a.isDefault]),
    [
      ['vms/podnet2', 'eth0', true],
      ['vms/blue', 'net1', false],
    ],
  );
});

const BAD: Array<[string, Record<string, string>, Partial<AttachContext>, RegExp, RegExp]> = [
  ['a missing NAD', { 'k8s.v1.cni.cncf.io/networks': 'blue,green' }, {}, /networks"\]\[1\]$/u, /vms\/green not found/u],
  [
    'static addresses for a NAD that takes none',
    { 'k8s.v1.cni.cncf.io/networks': '[{"name":"blue","ips":["10.1.0.5/24"]}]' },
    {},
    /networks"\]\[0\]\.ips$/u,
    /vms\/blue has no plugin with "capabilities": \{"ips": true\}, so the addresses 10\.1\.0\.5\/24 would be dropped/u,
  ],
  [
    'a NAD in another namespace under isolation',
    { 'k8s.v1.cni.cncf.io/networks': 'other/secret' },
    {},
    /networks"\]\[0\]$/u,
    /in another namespace/u,
  ],
  [
    'a missing default network NAD',
    { 'v1.multus-cni.io/default-network': 'nope' },
    {},
    /default-network"\]$/u,
    /vms\/nope not found/u,
  ],
  [
    'a default network with an interface name',
    { 'v1.multus-cni.io/default-network': 'podnet2@eth9' },
    {},
    /default-network"\]$/u,
    /exactly one network/u,
  ],
  [
    'an interface name used twice',
    { 'k8s.v1.cni.cncf.io/networks': 'blue@eth0' },
    {},
    /\[0\]\.interface$/u,
    /"eth0" is already used/u,
  ],
  [
    'a NAD whose config is broken',
    { 'k8s.v1.cni.cncf.io/networks': 'broken' },
    {
      lookupNad: () => ({
        apiVersion: 'k8s.cni.cncf.io/v1',
        kind: 'NetworkAttachmentDefinition',
        metadata: { name: 'broken', namespace: 'vms' },
        spec: { config: '{not json' },
      }),
    },
    /\[0\]$/u,
    /broken: .*spec\.config/u,
  ],
];

for (const [name, annotations, over, field, rule] of BAD) {
  test(`refused: ${name}`, () => {
    assert.throws(
      () => podAttachments({ namespace: 'vms', annotations }, ctx(over)),
      (e: unknown) => {
        assert.ok(e instanceof AttachError, String(e));
        assert.match(e.field, field);
        assert.match(e.rule, rule);
        return true;
      },
    );
  });
}

test('without isolation, any namespace may be used; global namespaces always may', () => {
  assert.equal(
    podAttachments(
      { namespace: 'vms', annotations: { 'k8s.v1.cni.cncf.io/networks': 'other/secret' } },
      ctx({ namespaceIsolation: false }),
    ).length,
    2,
  );
  assert.equal(
    podAttachments({ namespace: 'vms', annotations: { 'k8s.v1.cni.cncf.io/networks': 'default/shared' } }, ctx())
      .length,
    2,
  );
});
