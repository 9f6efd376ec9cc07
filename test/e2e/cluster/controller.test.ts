/**
 * One real path through the cluster side: a VMI posted to the in-process
 * API server; the controller renders its launcher pod; the standalone node
 * runtime, in the kubelet's seat (its CNI plugins inside a test node
 * namespace), runs it with a real guest; the VMI's status.interfaces then
 * shows the guest's leased IP. Deleting the VMI tears everything down.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { startKubeTestServer, type KubeTestServer } from '../../../harness/kube/api-server.ts';
import { until } from '../../../harness/kube/testing.ts';
import { makeNetns, ping, type Netns } from '../../support/netns.ts';
import { testGuest } from '../../support/launcher.ts';
import { Controller } from '../../../controller/control/controller.ts';
import { KubeApi } from '../../../controller/kube/kube.ts';

type Obj = Record<string, any>;
let server: KubeTestServer;
let ctrl: Controller;
let kubelet: ChildProcess;
let node: Netns;
let dir: string;
let kubeletLog = '';

before(async () => {
  const g = testGuest();
  dir = mkdtempSync(join(tmpdir(), 'virtnet-test-cluster-'));
  node = makeNetns('vnt-cnode');
  server = await startKubeTestServer();
  ctrl = new Controller(new KubeApi(server.kubeConfig()), {
    image: 'virtnet:test',
    serviceCIDRs: ['10.96.0.0/12'],
    testGuest: { kernel: g.kernel, initrd: g.initrd, cmdline: 'console=ttyS0 quiet panic=-1' },
    log: pino({ level: 'silent' }),
  });
  await ctrl.start();
  kubelet = spawn(
    process.execPath,
    [
      resolve('dist/cluster/virtnet-cluster'),
      'kubelet',
      '--node',
      'node-1',
      '--kubeconfig',
      server.kubeconfigFile(dir),
      '--state-dir',
      join(dir, 'state'),
      '--cni-netns',
      node.name,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  kubelet.stderr!.on('data', (d: Buffer) => (kubeletLog += d.toString()));
});

after(async () => {
  kubelet.kill('SIGTERM');
  await new Promise((r) => kubelet.on('exit', r));
  // Whatever a failed test left: the node runtime's own gc takes it, before the directory goes.
  const down = spawn(process.execPath, [
    resolve('dist/cli/virtnet'),
    '--state-dir',
    join(dir, 'state'),
    'down',
    '--all',
  ]);
  await new Promise((r) => down.on('exit', r));
  await ctrl.stop();
  await server.close();
});

test('a VMI posted to the API runs a real guest whose leased IP shows in status.interfaces; delete tears it down', {
  timeout: 180_000,
}, async () => {
  const custom = server.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
  const G = { group: 'virtnet.io', version: 'v1alpha1', namespace: 'default', plural: 'virtualmachineinstances' };
  // A secondary L2 network from a NAD on the cluster: the kubelet role resolves it as Multus would.
  await custom.createNamespacedCustomObject({
    group: 'k8s.cni.cncf.io',
    version: 'v1',
    namespace: 'default',
    plural: 'network-attachment-definitions',
    body: {
      apiVersion: 'k8s.cni.cncf.io/v1',
      kind: 'NetworkAttachmentDefinition',
      metadata: { name: 'l2' },
      spec: {
        config: JSON.stringify({
          cniVersion: '1.1.0',
          name: 'l2',
          type: 'virtnet-bridge',
          bridge: 'vnt-cl2',
          dataDir: join(dir, 'state', 'cni', 'l2'),
        }),
      },
    },
  });
  const t0 = performance.now();
  await custom.createNamespacedCustomObject({
    ...G,
    body: {
      apiVersion: 'virtnet.io/v1alpha1',
      kind: 'VirtualMachineInstance',
      metadata: { name: 'guest' },
      spec: {
        domain: {
          resources: { requests: { memory: '256Mi' } },
          devices: {
            interfaces: [
              { name: 'default', bridge: {} },
              { name: 'l2', bridge: {} },
            ],
          },
        },
        networks: [
          { name: 'default', pod: {} },
          { name: 'l2', multus: { networkName: 'l2' } },
        ],
      },
    },
  });
  const get = async () => (await custom.getNamespacedCustomObject({ ...G, name: 'guest' })) as Obj;
  await until(
    async () => (await get()).status?.interfaces?.[0]?.leased === true,
    "the guest's lease in status.interfaces",
    120_000,
  ).catch((e: Error) => assert.fail(`${e.message}\nkubelet log:\n${kubeletLog.slice(-3000)}`));
  const runningMs = performance.now() - t0;
  const st = (await get()).status;
  assert.equal(st.phase, 'Running');
  assert.equal(st.nodeName, 'node-1');
  const nic = st.interfaces[0];
  assert.match(nic.ipAddress, /^10\.244\.\d+\.\d+$/u);
  assert.match(nic.mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/u);
  assert.equal(st.conditions.find((c: Obj) => c.type === 'Ready').status, 'True');
  const l2 = st.interfaces.find((i: Obj) => i.name === 'l2');
  assert.match(l2.podInterfaceName, /^pod[0-9a-f]{11}$/u, "the NAD's attachment is on the pod");
  assert.equal(l2.ipAddress, undefined, 'an L2 network gives no address');
  // The launcher's report, through the kubelet role's copy on the pod, is the wiring describe and topology draw.
  assert.deepEqual(
    st.interfaces.map((i: Obj) => i.infoSource),
    ['domain, multus-status', 'domain, multus-status'],
  );
  assert.deepEqual(
    st.virtnet.nics.map((n: Obj) => [n.name, n.podInterface, n.tap.startsWith('tap')]),
    [
      ['default', 'eth0', true],
      ['l2', l2.podInterfaceName, true],
    ],
  );
  assert.ok(
    st.virtnet.steps.some((s: Obj) => s.name === 'launcher network'),
    JSON.stringify(st.virtnet.steps),
  );
  // And the VMI's life as Events, each once.
  const vmiUid = (await get()).metadata.uid;
  await until(
    () => server.objects('events', 'default').some((e) => e.involvedObject.uid === vmiUid && e.reason === 'Leased'),
    'the lease event',
    10_000,
  );
  const events = server.objects('events', 'default').filter((e) => e.involvedObject.uid === vmiUid);
  const reasons = events.map((e) => e.reason);
  for (const r of ['SuccessfulCreate', 'Scheduled', 'NetworkReady', 'Started'])
    assert.equal(reasons.filter((x) => x === r).length, 1, `${r} once in ${reasons.join(', ')}`);
  // One Leased per family the pod network has; never the same one twice.
  const leases = events.filter((e) => e.reason === 'Leased').map((e) => e.message);
  assert.ok(leases.length >= 1 && new Set(leases).size === leases.length, leases.join('; '));
  assert.ok(
    events.every((e) => e.type === 'Normal' && e.count === 1),
    JSON.stringify(events.map((e) => [e.type, e.reason, e.count])),
  );
  assert.ok(ping(node, nic.ipAddress, 3), 'the guest answers on its IP on the node');
  process.stdout.write(`# VMI creation → Running with lease: ${runningMs.toFixed(0)} ms\n`);
  await custom.deleteNamespacedCustomObject({ ...G, name: 'guest' });
  await until(() => server.objects('pods').length === 0, 'the launcher pod deleted with its VMI', 10_000);
  await until(
    () => {
      try {
        return readdirSync(join(dir, 'state', 'vmis', 'default')).length === 0;
      } catch {
        return true;
      }
    },
    "the node runtime's record gone",
    60_000,
  );
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** host-local keeps the hot-plugged network's IPs in /var/lib/cni/networks/<its name>: a name of this run's own. */
const HP_NET = `vntchp${process.pid}`;
after(() => rmSync(`/var/lib/cni/networks/${HP_NET}`, { recursive: true, force: true }));

test("an edit to a VM's template hot-plugs a NIC into its running VMI (LiveUpdate); the status shows it and its lease", {
  timeout: 240_000,
}, async () => {
  const custom = server.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
  const ns = { namespace: 'default' };
  const VM = { group: 'virtnet.io', version: 'v1alpha1', ...ns, plural: 'virtualmachines' };
  const VMI = { ...VM, plural: 'virtualmachineinstances' };
  await custom.createNamespacedCustomObject({
    group: 'k8s.cni.cncf.io',
    version: 'v1',
    ...ns,
    plural: 'network-attachment-definitions',
    body: {
      apiVersion: 'k8s.cni.cncf.io/v1',
      kind: 'NetworkAttachmentDefinition',
      metadata: { name: 'lan' },
      spec: {
        config: JSON.stringify({
          cniVersion: '1.0.0',
          name: HP_NET,
          type: 'bridge',
          bridge: 'vnt-chp',
          ipam: { type: 'host-local', subnet: '192.168.79.0/24' },
        }),
      },
    },
  });
  const template = (extra: Obj[], nets: Obj[]) => ({
    spec: {
      domain: {
        resources: { requests: { memory: '256Mi' } },
        devices: { interfaces: [{ name: 'default', bridge: {} }, ...extra] },
      },
      networks: [{ name: 'default', pod: {} }, ...nets],
    },
  });
  await custom.createNamespacedCustomObject({
    ...VM,
    body: {
      apiVersion: 'virtnet.io/v1alpha1',
      kind: 'VirtualMachine',
      metadata: { name: 'hp' },
      spec: { runStrategy: 'Always', template: template([], []) },
    },
  });
  const vmi = async () => (await custom.getNamespacedCustomObject({ ...VMI, name: 'hp' }).catch(() => ({}))) as Obj;
  const fail = (e: Error) => assert.fail(`${e.message}\nkubelet log:\n${kubeletLog.slice(-3000)}`);
  await until(async () => (await vmi()).status?.interfaces?.[0]?.leased === true, 'the VM running', 120_000).catch(
    fail,
  );
  const pod = () => server.objects('pods').find((p) => p.metadata.labels?.['virtnet.io/vmi'] === 'hp');
  const podUid = pod()?.metadata.uid;
  const vm = (await custom.getNamespacedCustomObject({ ...VM, name: 'hp' })) as Obj;
  const lan = { name: 'lan', bridge: {} };
  const lanNet = { name: 'lan', multus: { networkName: 'lan' } };
  await custom.replaceNamespacedCustomObject({
    ...VM,
    name: 'hp',
    body: { ...vm, spec: { ...vm.spec, template: template([lan], [lanNet]) } },
  });
  const lanStatus = async () => ((await vmi()).status?.interfaces ?? []).find((i: Obj) => i.name === 'lan');
  await until(async () => (await lanStatus())?.leased === true, 'the plugged NIC leased in status', 60_000).catch(fail);
  const got = await lanStatus();
  assert.match(got.ipAddress, /^192\.168\.79\.\d+$/u);
  assert.equal(got.linkState, 'up');
  assert.equal(pod()?.metadata.uid, podUid, 'the same launcher pod: nothing was restarted');
  const wiring = (await vmi()).status.virtnet.nics.find((n: Obj) => n.name === 'lan');
  assert.equal(wiring.hotplugged, true);
  const uid = (await vmi()).metadata.uid;
  await until(
    () =>
      server
        .objects('events', 'default')
        .some((e) => e.involvedObject.uid === uid && e.reason === 'InterfaceHotplugged'),
    'the hotplug event',
    10_000,
  );
  // And back out: state absent in the template, then the NIC is gone from the status and the pod.
  const vm2 = (await custom.getNamespacedCustomObject({ ...VM, name: 'hp' })) as Obj;
  await custom.replaceNamespacedCustomObject({
    ...VM,
    name: 'hp',
    body: { ...vm2, spec: { ...vm2.spec, template: template([{ ...lan, state: 'absent' }], [lanNet]) } },
  });
  await until(async () => (await lanStatus()) === undefined, 'the unplugged NIC gone from status', 60_000).catch(fail);
  await until(
    () =>
      server
        .objects('events', 'default')
        .some((e) => e.involvedObject.uid === uid && e.reason === 'InterfaceUnplugged'),
    'the unplug event',
    10_000,
  );
  assert.equal(pod()?.metadata.uid, podUid);
  await custom.deleteNamespacedCustomObject({ ...VM, name: 'hp' });
  await until(() => server.objects('pods').length === 0, 'the launcher pod deleted with its VM', 30_000);
  const records = () => {
    try {
      return readdirSync(join(dir, 'state', 'vmis', 'default')).length;
    } catch {
      return 0;
    }
  };
  await until(() => records() === 0, "the node runtime's record gone", 60_000);
});
