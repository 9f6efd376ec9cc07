/**
 * Malformed pod annotations (issue 11, item 13): network-status and the
 * launcher's report are written by others (Multus, the node agent, anyone
 * who may patch the pod). A bad one is named in the Synchronized condition
 * and ignored; the reconcile still mirrors the pod (phase, node, the
 * interfaces from what is well-formed), and never throws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LAUNCHER_STATUS_ANNOTATION } from '../../../controller/render/pod.ts';
import { reconcileVmi, type VmiObservation } from '../../../controller/control/reconcile.ts';
import { NETWORK_STATUS_ANNOTATION } from '../../../controller/status/pod.ts';
import type { VmiStatus } from '../../../controller/api/status.ts';

/** Fixtures built loosely: the code under test checks them as it checks the API server's objects. */
type Obj = any;

const VMI: Obj = {
  apiVersion: 'virtnet.io/v1alpha1',
  kind: 'VirtualMachineInstance',
  metadata: {
    name: 'vm1',
    namespace: 'apps',
    uid: 'uid-1',
    resourceVersion: '7',
    creationTimestamp: '2026-11-28T11:59:00Z',
  },
  spec: {
    domain: {
      devices: { interfaces: [{ name: 'default', masquerade: {} }] },
      resources: { requests: { memory: '256Mi' } },
    },
    networks: [{ name: 'default', pod: {} }],
  },
};
const NIC = {
  name: 'default',
  binding: 'masquerade',
  podInterface: 'eth0',
  bridge: 'k6t-eth0',
  tap: 'tap0',
  mac: '02:00:00:11:22:33',
  mtu: 1500,
  ips: ['10.0.2.2/24'],
  dhcp: true,
  leased4: true,
  leased6: false,
};
const GOOD = {
  [NETWORK_STATUS_ANNOTATION]: JSON.stringify([
    { name: 'virtnet', interface: 'eth0', ips: ['10.244.1.5'], default: true, dns: {} },
  ]),
  [LAUNCHER_STATUS_ANNOTATION]: JSON.stringify({ phase: 'Running', nics: [NIC], steps: [] }),
};

function statusWith(annotations: Obj): VmiStatus {
  const pod = {
    metadata: {
      name: 'virt-launcher-vm1-abcde',
      namespace: 'apps',
      uid: 'pod-uid-1',
      creationTimestamp: '2026-11-28T11:59:01Z',
      labels: { 'virtnet.io/vmi': 'vm1', 'virtnet.io/created-by': 'uid-1' },
      annotations,
    },
    spec: { nodeName: 'node-a' },
    status: { phase: 'Running' },
  };
  const obs: VmiObservation = {
    vmi: structuredClone(VMI),
    pods: [pod],
    nadExists: () => true,
    image: 'virtnet:test',
    serviceCIDRs: [],
    testGuest: { kernel: '/k', initrd: '/i', cmdline: '' },
    allowedHostPaths: [],
  };
  const actions = reconcileVmi(obs, '2026-11-28T12:00:00Z');
  const set = actions.find((a) => a.type === 'setStatus');
  assert.ok(set && set.type === 'setStatus', 'the reconcile still sets the status');
  return set.status;
}

const synchronized = (s: VmiStatus) => s.conditions?.find((c) => c.type === 'Synchronized');

test("well-formed annotations: Running, the pod's IP, Synchronized", () => {
  const s = statusWith(GOOD);
  assert.equal(s.phase, 'Running');
  assert.deepEqual(
    s.interfaces.map((i) => i.ipAddress),
    ['10.244.1.5'],
  );
  assert.deepEqual([synchronized(s)?.status, synchronized(s)?.reason], ['True', 'LauncherPodFound']);
});

const BAD_NETWORK_STATUS: Array<[string, RegExp]> = [
  ['{}', /must be a list, not an object/u],
  ['[null]', /\[0\]: must be an object, not null/u],
  ['"eth0"', /must be a list, not "eth0"/u],
  ['[{"interface": "eth0"}]', /\[0\]\.name: must be a string/u],
  ['[{"name": "n", "interface": 5}]', /\[0\]\.interface: must be a string, not 5/u],
  ['[{"name": "n", "ips": "10.0.0.1"}]', /\[0\]\.ips: must be a list/u],
  ['[{"name": "n", "ips": [7]}]', /\[0\]\.ips\[0\]: must be a string, not 7/u],
  ['[{', /not JSON/u],
];

for (const [text, rule] of BAD_NETWORK_STATUS) {
  test(`network-status ${text}: named in Synchronized and ignored; the launcher's report still counts`, () => {
    const s = statusWith({ ...GOOD, [NETWORK_STATUS_ANNOTATION]: text });
    assert.equal(s.phase, 'Running');
    assert.equal(s.nodeName, 'node-a');
    assert.deepEqual(
      s.interfaces.map((i) => [i.name, i.mac, i.ipAddress]),
      [['default', '02:00:00:11:22:33', undefined]],
    );
    const c = synchronized(s)!;
    assert.deepEqual([c.status, c.reason], ['False', 'InvalidPodAnnotation']);
    assert.ok(c.message?.includes(NETWORK_STATUS_ANNOTATION), c.message);
    assert.match(c.message!, rule);
  });
}

const BAD_REPORTS: Array<[string, RegExp]> = [
  ['{"phase": "Running", "nics": 5, "steps": []}', /nics: must be a list/u],
  ['{"phase": "Running", "nics": [null], "steps": []}', /nics\[0\]: must be an object/u],
  ['{"phase": "Running", "nics": [{"name": "default"}], "steps": []}', /nics\[0\]\.\w+: /u],
  ['{"phase": "Running", "nics": [], "steps": 3}', /steps: must be a list/u],
  ['{"phase": 7, "nics": [], "steps": []}', /phase: must be one of/u],
  ['[]', /must be a JSON object/u],
  ['nope', /not valid JSON/u],
];

for (const [text, rule] of BAD_REPORTS) {
  test(`launcher report ${text}: named in Synchronized and ignored; network-status still counts`, () => {
    const s = statusWith({ ...GOOD, [LAUNCHER_STATUS_ANNOTATION]: text });
    assert.equal(s.phase, 'Scheduled', 'without a report, a running pod is Scheduled');
    assert.deepEqual(
      s.interfaces.map((i) => [i.name, i.ipAddress, i.mac]),
      [['default', '10.244.1.5', undefined]],
    );
    const c = synchronized(s)!;
    assert.deepEqual([c.status, c.reason], ['False', 'InvalidPodAnnotation']);
    assert.ok(c.message?.includes(LAUNCHER_STATUS_ANNOTATION), c.message);
    assert.match(c.message!, rule);
  });
}

test('both bad at once: both named, the status still follows the pod', () => {
  const s = statusWith({
    [NETWORK_STATUS_ANNOTATION]: '[null]',
    [LAUNCHER_STATUS_ANNOTATION]: '{"phase": "Running", "nics": 5, "steps": []}',
  });
  assert.equal(s.phase, 'Scheduled');
  assert.equal(s.launcherPod?.uid, 'pod-uid-1');
  const m = synchronized(s)!.message!;
  assert.ok(m.includes(NETWORK_STATUS_ANNOTATION) && m.includes(LAUNCHER_STATUS_ANNOTATION), m);
});
