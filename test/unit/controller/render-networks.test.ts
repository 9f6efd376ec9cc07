/** The launcher pod's network annotations, and that netattach reads them back as intended. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { launcherPodNetworkAnnotations } from '../../../controller/render/networks.ts';
import { parseNetworksAnnotation } from '../../../netattach/annotation.ts';

const hash = (s: string) => `pod${createHash('sha256').update(s).digest('hex').slice(0, 11)}`;

test('multus networks become selections with KubeVirt interface names and requested MACs', () => {
  const a = launcherPodNetworkAnnotations({
    namespace: 'vms',
    interfaces: [
      { name: 'default', masquerade: {} },
      { name: 'blue', bridge: {}, macAddress: '02:AB:00:00:00:01' },
      { name: 'red', bridge: {} },
      { name: 'gone', bridge: {}, state: 'absent' },
    ],
    networks: [
      { name: 'default', pod: {} },
      { name: 'blue', multus: { networkName: 'blue-net' } },
      { name: 'red', multus: { networkName: 'infra/red-net' } },
      { name: 'gone', multus: { networkName: 'x' } },
    ],
  });
  assert.deepEqual(Object.keys(a), ['k8s.v1.cni.cncf.io/networks']);
  const sel = parseNetworksAnnotation(a['k8s.v1.cni.cncf.io/networks']!, 'vms');
  assert.deepEqual(
    sel.map((s) => [s.namespace, s.name, s.interface, s.mac]),
    [
      ['vms', 'blue-net', hash('blue'), '02:ab:00:00:00:01'],
      ['infra', 'red-net', hash('red'), undefined],
    ],
  );
});

test('a default multus network becomes v1.multus-cni.io/default-network, and no pod network is needed', () => {
  const a = launcherPodNetworkAnnotations({
    namespace: 'vms',
    interfaces: [{ name: 'main', bridge: {} }],
    networks: [{ name: 'main', multus: { networkName: 'fast', default: true } }],
  });
  assert.deepEqual(a, { 'v1.multus-cni.io/default-network': 'vms/fast' });
});

test('a pod network only: no annotations', () => {
  assert.deepEqual(
    launcherPodNetworkAnnotations({
      namespace: 'vms',
      interfaces: [{ name: 'default', bridge: {} }],
      networks: [{ name: 'default', pod: {} }],
    }),
    {},
  );
});

test("a multus network's static addresses become the selection's ips (the delegate's runtimeConfig.ips)", () => {
  const a = launcherPodNetworkAnnotations({
    namespace: 'vms',
    interfaces: [
      { name: 'default', bridge: {} },
      { name: 'data', bridge: {} },
    ],
    networks: [
      { name: 'default', pod: {} },
      { name: 'data', multus: { networkName: 'l2', ips: ['192.168.77.1/24', 'fd00:77::1/64'] } },
    ],
  });
  const [sel] = parseNetworksAnnotation(a['k8s.v1.cni.cncf.io/networks']!, 'vms');
  assert.deepEqual(sel!.ips, ['192.168.77.1/24', 'fd00:77::1/64']);
});
