/**
 * controller/control/reconcile-live.ts: a running VMI's launcher pod given the VMI's new interfaces (the
 * networks annotation and the launcher spec of the next generation), and nothing at all while the pod has
 * them, however its annotation spells them (a pod made by launcherPod, read back as the API stores it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../../../controller/api/kube-objects.ts';
import type { StoredVmi } from '../../../controller/api/stored-vmi.ts';
import { livePodUpdate } from '../../../controller/control/reconcile-live.ts';
import { LAUNCHER_SPEC_ANNOTATION, launcherPod } from '../../../controller/render/pod.ts';
import { parseLauncherSpec } from '../../../launcher/spec.ts';
import { NETWORKS_ANNOTATION } from '../../../netattach/annotation.ts';

const BOOT = { kernel: '/var/cache/virtnet/guest/vmlinuz', initrd: '/var/cache/virtnet/guest/initrd.img' };

function vmi(extra: Array<Record<string, unknown>> = [], nets: Array<Record<string, unknown>> = []): StoredVmi {
  return {
    apiVersion: 'virtnet.io/v1alpha1',
    kind: 'VirtualMachineInstance',
    metadata: { name: 'vm1', namespace: 'apps', uid: 'uid-1' },
    spec: {
      domain: {
        resources: { requests: { memory: '256Mi' } },
        devices: {
          interfaces: [
            { name: 'default', masquerade: {}, ports: [{ name: 'http', port: 80 }] },
            { name: 'blue', bridge: {}, macAddress: '02:00:00:00:00:0B' },
            ...extra,
          ],
        },
      },
      networks: [{ name: 'default', pod: {} }, { name: 'blue', multus: { networkName: 'blue-net' } }, ...nets],
    },
  } as StoredVmi;
}

/** The VMI's launcher pod as the API server gives it back: rendered, then through JSON. */
function podOf(v: StoredVmi): Pod {
  const manifest = launcherPod(v, { image: 'virtnet:test', boot: BOOT, serviceCIDRs: ['10.96.0.0/12'] });
  return JSON.parse(JSON.stringify({ ...manifest, metadata: { ...manifest.metadata, name: 'virt-launcher-vm1-x' } }));
}

const specOf = (annotation: string | null | undefined) => parseLauncherSpec(JSON.parse(annotation ?? ''));

test('a pod that has the VMI interfaces gets nothing, also when its annotation orders keys otherwise', () => {
  const v = vmi();
  const pod = podOf(v);
  assert.equal(livePodUpdate(v, pod), undefined);
  // Keys in another order, as a different writer (or a JSON round trip elsewhere) may leave them.
  const spec = JSON.parse(pod.metadata.annotations![LAUNCHER_SPEC_ANNOTATION]!) as Record<string, unknown>;
  const reordered = Object.fromEntries(Object.entries(spec).reverse());
  (reordered.interfaces as Array<Record<string, unknown>>).forEach((i, k, all) => {
    all[k] = Object.fromEntries(Object.entries(i).reverse());
  });
  const again = {
    ...pod,
    metadata: { ...pod.metadata, annotations: { [LAUNCHER_SPEC_ANNOTATION]: JSON.stringify(reordered) } },
  };
  assert.equal(livePodUpdate(v, again), undefined);
});

test('a new interface: the networks annotation names it, the launcher spec has it under the next generation', () => {
  const running = vmi();
  const pod = podOf(running);
  const wanted = vmi([{ name: 'red', bridge: {} }], [{ name: 'red', multus: { networkName: 'other/red-net' } }]);
  const change = livePodUpdate(wanted, pod);
  assert.ok(change);
  const next = specOf(change[LAUNCHER_SPEC_ANNOTATION]);
  assert.deepEqual(
    next.interfaces.map((i) => i.name),
    ['default', 'blue', 'red'],
  );
  assert.equal(next.generation, 1);
  const before = specOf(pod.metadata.annotations![LAUNCHER_SPEC_ANNOTATION]);
  assert.deepEqual(
    { ...next, interfaces: [], networks: [], generation: 0 },
    { ...before, interfaces: [], networks: [], generation: 0 },
    'only the NICs change',
  );
  const selection = JSON.parse(change[NETWORKS_ANNOTATION]!) as Array<{ name: string; namespace: string }>;
  assert.deepEqual(
    selection.map((s) => `${s.namespace}/${s.name}`),
    ['apps/blue-net', 'other/red-net'],
  );
  // Applied, the pod has them: nothing more.
  const applied = { ...pod, metadata: { ...pod.metadata, annotations: { ...pod.metadata.annotations, ...change } } };
  assert.equal(livePodUpdate(wanted, applied as Pod), undefined);
});

test('state absent leaves the launcher spec and the selection; the last secondary gone removes the annotation', () => {
  const pod = podOf(vmi());
  const absent = vmi();
  (absent.spec.domain.devices.interfaces![1] as Record<string, unknown>).state = 'absent';
  const change = livePodUpdate(absent, pod);
  assert.ok(change);
  assert.deepEqual(
    specOf(change[LAUNCHER_SPEC_ANNOTATION]).interfaces.map((i) => i.name),
    ['default'],
  );
  assert.equal(change[NETWORKS_ANNOTATION], null, 'no secondary network left: the annotation is removed');
});

test('a link going down is a change; a pod whose launcher spec cannot be read gets nothing', () => {
  const pod = podOf(vmi());
  const down = vmi();
  (down.spec.domain.devices.interfaces![1] as Record<string, unknown>).state = 'down';
  const change = livePodUpdate(down, pod);
  assert.equal(specOf(change?.[LAUNCHER_SPEC_ANNOTATION]).interfaces[1]?.state, 'down');
  for (const bad of ['', '{', '{"name":5}', 'null']) {
    const broken = { ...pod, metadata: { ...pod.metadata, annotations: { [LAUNCHER_SPEC_ANNOTATION]: bad } } };
    assert.equal(livePodUpdate(down, broken), undefined, bad);
  }
  const none = { ...pod, metadata: { ...pod.metadata, annotations: {} } };
  assert.equal(livePodUpdate(down, none), undefined);
});
