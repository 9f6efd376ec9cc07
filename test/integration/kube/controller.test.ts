/**
 * The controller's whole loop against the in-process API server, through
 * @kubernetes/client-node: create → launcher pod → (the test plays the
 * kubelet and Multus) → Running with interfaces → delete; with 409s
 * injected, watches expired, the controller restarted midway, a NAD that
 * comes late, and a VirtualMachine started and stopped.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { startKubeTestServer, type KubeTestServer } from '../../../harness/kube/api-server.ts';
import { until } from '../../../harness/kube/testing.ts';
import { Controller } from '../../../controller/control/controller.ts';
import { KubeApi } from '../../../controller/kube/kube.ts';
import { LAUNCHER_STATUS_ANNOTATION } from '../../../controller/render/pod.ts';
import { NETWORK_STATUS_ANNOTATION } from '../../../controller/status/pod.ts';

type Obj = Record<string, any>;
let server: KubeTestServer;
let ctrl: Controller;
let core: k8s.CoreV1Api;
let custom: k8s.CustomObjectsApi;
const G = { group: 'virtnet.io', version: 'v1alpha1', namespace: 'default' };

function startController(): Promise<void> {
  ctrl = new Controller(new KubeApi(server.kubeConfig()), {
    image: 'virtnet:test',
    serviceCIDRs: ['10.96.0.0/12'],
    testGuest: { kernel: '/g/vmlinuz', initrd: '/g/initrd.img', cmdline: 'console=ttyS0' },
    log: pino({ level: 'silent' }),
    resyncMs: 500,
  });
  return ctrl.start();
}

before(async () => {
  server = await startKubeTestServer({ bookmarkIntervalMs: 200 });
  const kc = server.kubeConfig();
  core = kc.makeApiClient(k8s.CoreV1Api);
  custom = kc.makeApiClient(k8s.CustomObjectsApi);
  await startController();
});
after(async () => {
  await ctrl.stop();
  await server.close();
});

const vmi = (
  name: string,
  networks: Obj[] = [{ name: 'default', pod: {} }],
  interfaces: Obj[] = [{ name: 'default', masquerade: {} }],
) => ({
  apiVersion: 'virtnet.io/v1alpha1',
  kind: 'VirtualMachineInstance',
  metadata: { name },
  spec: { domain: { devices: { interfaces } }, networks },
});
const createVmi = (body: Obj) => custom.createNamespacedCustomObject({ ...G, plural: 'virtualmachineinstances', body });
const getVmi = async (name: string) =>
  (await custom.getNamespacedCustomObject({ ...G, plural: 'virtualmachineinstances', name })) as Obj;
const podsOf = (name: string) =>
  server.objects('pods', 'default').filter((p) => p.metadata.labels?.['virtnet.io/vmi'] === name);
const phaseOf = async (name: string) =>
  (await getVmi(name).catch(() => undefined))?.status?.phase as string | undefined;

/** The kubelet's and Multus' part: the pod on a node, network-status, Running, the launcher's report. */
async function runPod(pod: Obj, leased: boolean): Promise<void> {
  const { name, namespace } = pod.metadata;
  const fresh = (await core.readNamespacedPod({ name, namespace })) as Obj;
  fresh.spec.nodeName = 'node-1';
  fresh.metadata.annotations = {
    ...fresh.metadata.annotations,
    [NETWORK_STATUS_ANNOTATION]: JSON.stringify([
      { name: 'virtnet', interface: 'eth0', ips: ['10.244.0.9'], default: true, dns: {} },
    ]),
    [LAUNCHER_STATUS_ANNOTATION]: JSON.stringify({
      phase: 'Running',
      nics: [
        {
          name: 'default',
          binding: 'masquerade',
          podInterface: 'eth0',
          bridge: 'k6t-eth0',
          tap: 'tap0',
          mac: '02:00:00:00:00:09',
          mtu: 1500,
          ips: ['10.0.2.2/24'],
          dhcp: true,
          leased4: leased,
          leased6: false,
        },
      ],
      steps: [],
    }),
  };
  const updated = (await core.replaceNamespacedPod({ name, namespace, body: fresh as k8s.V1Pod })) as Obj;
  updated.status = { ...updated.status, phase: 'Running' };
  await core.replaceNamespacedPodStatus({ name, namespace, body: updated as k8s.V1Pod });
}

test('a VMI gets one launcher pod, follows it to Running with its interfaces, through 409s', async () => {
  await createVmi(vmi('web'));
  await until(() => podsOf('web').length === 1, 'the launcher pod', 5000);
  const pod = podsOf('web')[0]!;
  assert.equal(pod.metadata.ownerReferences[0].kind, 'VirtualMachineInstance');
  assert.match(pod.metadata.annotations['virtnet.io/launcher-spec'], /"boot":\{"kernel":"\/g\/vmlinuz"/u);
  await until(async () => (await phaseOf('web')) === 'Scheduling', 'Scheduling');
  server.conflictNext('virtualmachineinstances', 2);
  await runPod(pod, false);
  await until(async () => (await phaseOf('web')) === 'Running', 'Running despite two 409s', 5000);
  let st = (await getVmi('web')).status;
  assert.deepEqual(
    [st.nodeName, st.interfaces[0].ipAddress, st.interfaces[0].mac, st.interfaces[0].leased],
    ['node-1', '10.244.0.9', '02:00:00:00:00:09', false],
  );
  assert.equal(st.conditions.find((c: Obj) => c.type === 'Ready').reason, 'LeasePending');
  await runPod(pod, true);
  await until(
    async () => (await getVmi('web')).status.conditions.find((c: Obj) => c.type === 'Ready').status === 'True',
    'Ready once leased',
  );
  st = (await getVmi('web')).status;
  assert.equal(st.interfaces[0].leased, true);
  assert.ok(
    server.requests.some((r) => r.status === 409),
    'the injected conflicts were met',
  );
  assert.equal(podsOf('web').length, 1);
});

test('expired watches: the caches re-list and keep working', async () => {
  server.expireWatches();
  await createVmi(vmi('after-expiry'));
  await until(() => podsOf('after-expiry').length === 1, 'a pod for a VMI made after the expiry', 8000);
});

test('a restarted controller converges with no duplicate pods and no status churn', async () => {
  await ctrl.stop();
  const rv = (await getVmi('web')).metadata.resourceVersion;
  await createVmi(vmi('while-down'));
  await startController();
  await until(() => podsOf('while-down').length === 1, 'the pod of a VMI made while the controller was down', 5000);
  await new Promise((r) => setTimeout(r, 1200)); // two resyncs
  assert.equal(podsOf('web').length, 1);
  assert.equal(podsOf('after-expiry').length, 1);
  assert.equal(podsOf('while-down').length, 1);
  assert.equal((await getVmi('web')).metadata.resourceVersion, rv, 'an unchanged VMI is not rewritten');
});

test("a missing NAD holds the VMI Pending with a condition; the NAD's arrival starts it", async () => {
  await createVmi(
    vmi('late', [{ name: 'blue', multus: { networkName: 'blue-net', default: true } }], [{ name: 'blue', bridge: {} }]),
  );
  await until(
    async () => (await getVmi('late')).status?.conditions?.[0]?.reason === 'NetworkAttachmentDefinitionNotFound',
    'the NAD condition',
  );
  assert.match(
    (await getVmi('late')).status.conditions[0].message,
    /NetworkAttachmentDefinition default\/blue-net not found/u,
  );
  assert.equal(podsOf('late').length, 0);
  await custom.createNamespacedCustomObject({
    group: 'k8s.cni.cncf.io',
    version: 'v1',
    namespace: 'default',
    plural: 'network-attachment-definitions',
    body: {
      apiVersion: 'k8s.cni.cncf.io/v1',
      kind: 'NetworkAttachmentDefinition',
      metadata: { name: 'blue-net' },
      spec: { config: '{"cniVersion":"1.0.0","type":"bridge"}' },
    },
  });
  await until(() => podsOf('late').length === 1, 'the pod once the NAD exists', 5000);
  assert.equal(podsOf('late')[0]!.metadata.annotations['v1.multus-cni.io/default-network'], 'default/blue-net');
});

test('a VirtualMachine starts its VMI with running: true and stops it with false', async () => {
  const vm = {
    apiVersion: 'virtnet.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name: 'db' },
    spec: { running: true, template: { spec: vmi('db').spec } },
  };
  await custom.createNamespacedCustomObject({ ...G, plural: 'virtualmachines', body: vm });
  await until(async () => (await phaseOf('db')) !== undefined, "the VM's VMI", 5000);
  assert.equal((await getVmi('db')).metadata.ownerReferences[0].kind, 'VirtualMachine');
  const current = (await custom.getNamespacedCustomObject({ ...G, plural: 'virtualmachines', name: 'db' })) as Obj;
  current.spec.running = false;
  await custom.replaceNamespacedCustomObject({ ...G, plural: 'virtualmachines', name: 'db', body: current });
  await until(async () => (await phaseOf('db')) === undefined, 'the VMI deleted', 5000);
  await until(
    async () =>
      ((await custom.getNamespacedCustomObject({ ...G, plural: 'virtualmachines', name: 'db' })) as Obj).status
        ?.printableStatus === 'Stopped',
    'the VM Stopped',
  );
});

test('deleting a VMI deletes its pod; the metrics saw reconciles and phase transitions', async () => {
  await custom.deleteNamespacedCustomObject({ ...G, plural: 'virtualmachineinstances', name: 'web' });
  await until(() => podsOf('web').length === 0, 'the pod gone', 5000);
  const text = await ctrl.metrics.registry.metrics();
  assert.match(text, /virtnet_controller_reconcile_duration_seconds_count\{kind="vmi"\} [1-9]/u);
  // This controller started after "web" ran; the VMIs made since went through Pending and Scheduling under it.
  assert.match(
    text,
    /virtnet_vmi_phase_transition_time_from_creation_seconds_count\{phase="(Pending|Scheduling)"\} [1-9]/u,
  );
  assert.match(text, /# TYPE virtnet_controller_reconcile_errors_total counter/u);
});
