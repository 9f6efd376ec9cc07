/**
 * The controller's whole status on a cluster, against the in-process API
 * server: the launcher's report becomes status.virtnet, so
 * `kubectl virtnet describe` and `topology` draw the VM's wiring; and the
 * VMI's life becomes Events that the real kubectl shows under "Events:" in
 * `kubectl describe`, one per transition (resyncs and a restarted controller
 * add none), failures as Warnings with their reason. The test plays the
 * kubelet, Multus and the node agent by writing the pod, as
 * controller.test.ts does.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { startKubeTestServer, type KubeTestServer } from '../../../harness/kube/api-server.ts';
import { until } from '../../../harness/kube/testing.ts';
import { Controller } from '../../../controller/control/controller.ts';
import { KubeApi } from '../../../controller/kube/kube.ts';
import { main as kubectlVirtnet } from '../../../controller/kubectl/main.ts';
import { NETWORK_STATUS_ANNOTATION } from '../../../controller/status/pod.ts';
import { LAUNCHER_STATUS_ANNOTATION } from '../../../controller/render/pod.ts';
import { podIfName } from '../../../launcher/names.ts';

type Obj = Record<string, any>;
let server: KubeTestServer;
let ctrl: Controller;
let core: k8s.CoreV1Api;
let custom: k8s.CustomObjectsApi;
let dir: string;
let kubeconfig: string;
const G = { group: 'virtnet.io', version: 'v1alpha1', namespace: 'default' };

function startController(): Promise<void> {
  ctrl = new Controller(new KubeApi(server.kubeConfig()), {
    image: 'virtnet:test',
    serviceCIDRs: ['10.96.0.0/12'],
    testGuest: {
      kernel: '/var/cache/virtnet/guest/vmlinuz',
      initrd: '/var/cache/virtnet/guest/initrd.img',
      cmdline: 'console=ttyS0',
    },
    log: pino({ level: 'silent' }),
    resyncMs: 200,
  });
  return ctrl.start();
}

before(async () => {
  server = await startKubeTestServer({ bookmarkIntervalMs: 200 });
  dir = mkdtempSync(join(tmpdir(), 'virtnet-events-'));
  kubeconfig = server.kubeconfigFile(dir);
  const kc = server.kubeConfig();
  core = kc.makeApiClient(k8s.CoreV1Api);
  custom = kc.makeApiClient(k8s.CustomObjectsApi);
  await startController();
});
after(async () => {
  await ctrl.stop();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const twoNics = (name: string, extra: Obj = {}) => ({
  apiVersion: 'virtnet.io/v1alpha1',
  kind: 'VirtualMachineInstance',
  metadata: { name },
  spec: {
    domain: {
      devices: {
        interfaces: [
          { name: 'default', masquerade: {}, ports: [{ port: 80 }] },
          { name: 'lan', bridge: {} },
        ],
      },
    },
    networks: [
      { name: 'default', pod: {} },
      { name: 'lan', multus: { networkName: 'lan' } },
    ],
    ...extra,
  },
});
const getVmi = async (name: string) =>
  (await custom.getNamespacedCustomObject({ ...G, plural: 'virtualmachineinstances', name })) as Obj;
const podOf = (name: string) =>
  server.objects('pods', 'default').find((p) => p.metadata.labels?.['virtnet.io/vmi'] === name);
const eventsOf = (vmi: Obj) =>
  server.objects('events', 'default').filter((e) => e.involvedObject?.uid === vmi.metadata.uid);

/** The secondary network's pod interface, as the launcher names it from the network's name. */
const LAN = podIfName({ name: 'lan', multus: { networkName: 'lan' } });
const nic = (o: Obj) => ({ dhcp: true, leased4: false, leased6: false, ...o });
const NICS = [
  nic({
    name: 'default',
    binding: 'masquerade',
    podInterface: 'eth0',
    bridge: 'k6t-eth0',
    tap: 'tap0',
    mac: '02:00:00:00:00:09',
    mtu: 1500,
    ips: ['10.0.2.2/24'],
  }),
  nic({
    name: 'lan',
    binding: 'bridge',
    podInterface: LAN,
    bridge: LAN.replace(/^pod/u, 'k6t-'),
    tap: LAN.replace(/^pod/u, 'tap'),
    mac: '02:00:00:00:00:0a',
    mtu: 1500,
    ips: [],
    dhcp: false,
  }),
];

/** The kubelet's part (a node, Running), Multus' (network-status) and the node agent's (the launcher's report). */
async function playNode(name: string, launcher: Obj): Promise<void> {
  const pod = podOf(name)!;
  const { namespace } = pod.metadata;
  const fresh = (await core.readNamespacedPod({ name: pod.metadata.name, namespace })) as Obj;
  fresh.spec.nodeName = 'node-1';
  fresh.metadata.annotations = {
    ...fresh.metadata.annotations,
    [NETWORK_STATUS_ANNOTATION]: JSON.stringify([
      { name: 'virtnet', interface: 'eth0', ips: ['10.244.1.9'], default: true, dns: {} },
    ]),
    [LAUNCHER_STATUS_ANNOTATION]: JSON.stringify({
      accel: 'tcg',
      steps: [
        { name: 'network', ms: 21 },
        { name: 'boot', ms: 380 },
      ],
      ...launcher,
    }),
  };
  const updated = (await core.replaceNamespacedPod({
    name: pod.metadata.name,
    namespace,
    body: fresh as k8s.V1Pod,
  })) as Obj;
  updated.status = { ...updated.status, phase: 'Running' };
  await core.replaceNamespacedPodStatus({ name: pod.metadata.name, namespace, body: updated as k8s.V1Pod });
}

/** The real kubectl, asynchronously: the API server answering it runs in this process. */
async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)('kubectl', ['--kubeconfig', kubeconfig, ...args]);
  return stdout;
}

/** kubectl virtnet in-process, its output captured. */
async function virtnet(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await kubectlVirtnet(['--kubeconfig', kubeconfig, ...args], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** The rows under "Events:" of kubectl describe: [type, reason, from, message]. */
function eventRows(describe: string): string[][] {
  const lines = describe.split('\n');
  const at = lines.findIndex((l) => l.startsWith('Events:'));
  assert.ok(at >= 0, `no Events section in:\n${describe}`);
  const header = lines[at + 1]!;
  const cols = ['Type', 'Reason', 'Age', 'From', 'Message'].map((c) => header.indexOf(c));
  assert.ok(
    cols.every((c) => c >= 0),
    header,
  );
  return lines
    .slice(at + 3)
    .filter((l) => l.trim())
    .map((l) => [
      l.slice(cols[0], cols[1]).trim(),
      l.slice(cols[1], cols[2]).trim(),
      l.slice(cols[3], cols[4]).trim(),
      l.slice(cols[4]).trim(),
    ]);
}

test('a VMI on a cluster: wiring in status.virtnet, drawn by kubectl virtnet describe and topology', async () => {
  await custom.createNamespacedCustomObject({
    group: 'k8s.cni.cncf.io',
    version: 'v1',
    namespace: 'default',
    plural: 'network-attachment-definitions',
    body: {
      apiVersion: 'k8s.cni.cncf.io/v1',
      kind: 'NetworkAttachmentDefinition',
      metadata: { name: 'lan' },
      spec: { config: '{"cniVersion":"1.0.0","type":"virtnet-bridge"}' },
    },
  });
  await custom.createNamespacedCustomObject({ ...G, plural: 'virtualmachineinstances', body: twoNics('web') });
  await until(() => podOf('web') !== undefined, 'the launcher pod', 5000);
  assert.match((await virtnet('describe', 'vmi', 'web')).out, /Interfaces:\s+\(no network yet\)/u, 'before the report');
  await playNode('web', { phase: 'Running', nics: NICS });
  // The pod's annotations and its Running status are two writes: wait for the status that follows both.
  await until(
    async () => {
      const status = (await getVmi('web')).status;
      return status?.virtnet?.nics?.length === 2 && status.phase === 'Running';
    },
    'status.virtnet from the report, Running',
    5000,
  );
  const st = (await getVmi('web')).status;
  assert.deepEqual(st.virtnet.steps, [
    { name: 'launcher network', ms: 21 },
    { name: 'boot', ms: 380 },
  ]);
  assert.equal(st.virtnet.accel, 'tcg');
  // network-status (as the test writes it) lists only the pod network: lan is known from the domain alone.
  assert.deepEqual(
    st.interfaces.map((i: Obj) => [i.name, i.infoSource, i.podInterfaceName]),
    [
      ['default', 'domain, multus-status', 'eth0'],
      ['lan', 'domain', LAN],
    ],
  );

  const d = await virtnet('describe', 'vmi', 'web');
  assert.equal(d.code, 0, d.err);
  assert.doesNotMatch(d.out, /no network yet/u);
  for (const line of [
    /^Node: +node-1$/mu,
    /^Launcher Pod: +virt-launcher-web-\w+$/mu,
    /^Accel: +tcg$/mu,
    new RegExp(`^ {4}Pod Interface: +${LAN}$`, 'mu'),
    /^ {4}Network: +default\/lan$/mu,
    /^ {4}Ports: +80\/TCP$/mu,
    /^ {4}Pod IPs: +10\.244\.1\.9$/mu,
    /^ {2}launcher network +21 ms$/mu,
    /^ {2}Ready +False +LeasePending +\S+ +the guest has not taken its lease on default$/mu,
    /^ {2}Synchronized +True +LauncherPodFound/mu,
  ]) {
    assert.match(d.out, line);
  }
  const t = await virtnet('topology', 'web');
  assert.equal(t.code, 0, t.err);
  assert.match(t.out, /pod network ─+┼─▶ eth0 ─▶ nft NAT ─▶ k6t-eth0 ─▶ tap0/u);
  assert.ok(
    t.out.includes(`default/lan ─┼─▶ ${LAN} ─▶ ${LAN.replace(/^pod/u, 'k6t-')} ─▶ ${LAN.replace(/^pod/u, 'tap')} ─`),
    t.out,
  );
  assert.match(t.out, /pod virt-launcher-web-\w+ on node-1/u);
});

test("kubectl describe shows the VMI's history under Events, each transition once", async () => {
  await playNode('web', { phase: 'Running', nics: [{ ...NICS[0], leased4: true }, NICS[1]] });
  await until(
    async () => (await getVmi('web')).status.conditions.find((c: Obj) => c.type === 'Ready').status === 'True',
    'Ready once leased',
    5000,
  );
  const vmi = await getVmi('web');
  await until(() => eventsOf(vmi).some((e) => e.reason === 'Leased'), 'the lease event', 5000);
  const text = await kubectl('describe', 'vmi', 'web');
  const rows = eventRows(text);
  assert.deepEqual(
    rows.map(([type, reason, from]) => [type, reason, from]),
    [
      ['Normal', 'SuccessfulCreate', 'virtnet-controller'],
      ['Normal', 'Scheduled', 'virtnet-controller'],
      ['Normal', 'NetworkReady', 'virtnet-controller'],
      ['Normal', 'Started', 'virtnet-controller'],
      ['Normal', 'Leased', 'virtnet-controller'],
    ],
  );
  assert.match(rows[0]![3]!, /^Created launcher pod virt-launcher-web-\w+$/u);
  assert.equal(rows[1]![3], `launcher pod ${podOf('web')!.metadata.name} is on node node-1`);
  assert.match(
    rows[2]![3]!,
    /^2 NICs wired: default \(masquerade, pod: eth0 -> nft NAT -> k6t-eth0 -> tap0\); lan \(bridge, default\/lan: /u,
  );
  assert.equal(rows[4]![3], 'default: the guest took its DHCPv4 lease of 10.0.2.2/24');
  // kubectl virtnet describe ends with the same Events, found the same way.
  const ours = await virtnet('describe', 'vmi', 'web');
  assert.deepEqual(eventRows(ours.out), rows);

  // Level-based reconciles (resync every 200 ms) and a restarted controller add nothing.
  const before = eventsOf(vmi).length;
  await new Promise((r) => setTimeout(r, 700));
  await ctrl.stop();
  await startController();
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(eventsOf(vmi).length, before);
  assert.ok(eventsOf(vmi).every((e) => e.count === 1));
});

test('failures are Warnings with their reason: a boot file outside the allowed directories, a launcher that fails', async () => {
  const sneaky = twoNics('sneaky', {
    domain: { devices: { disks: [{ name: 'root', disk: {} }], interfaces: [{ name: 'default', masquerade: {} }] } },
    networks: [{ name: 'default', pod: {} }],
    volumes: [{ name: 'root', hostDisk: { path: '/etc/kubernetes/pki/ca.key', type: 'Disk' } }],
  });
  await custom.createNamespacedCustomObject({ ...G, plural: 'virtualmachineinstances', body: sneaky });
  await until(async () => (await getVmi('sneaky')).status?.phase === 'Failed', 'Failed', 5000);
  const refused = await getVmi('sneaky');
  await until(() => eventsOf(refused).length > 0, 'the warning', 5000);
  const sneakyRows = eventRows(await kubectl('describe', 'vmi', 'sneaky'));
  assert.deepEqual(
    sneakyRows.map(([type, reason]) => [type, reason]),
    [['Warning', 'HostPathNotAllowed']],
  );
  assert.match(sneakyRows[0]![3]!, /^\/etc\/kubernetes\/pki\/ca\.key: a VMI may boot only from files under /u);
  assert.equal(podOf('sneaky'), undefined);
  await custom.createNamespacedCustomObject({ ...G, plural: 'virtualmachineinstances', body: twoNics('crash') });
  await until(() => podOf('crash') !== undefined, 'the launcher pod', 5000);
  await playNode('crash', {
    phase: 'Failed',
    error: 'qemu-system-x86_64: failed to initialize kvm: Permission denied',
    nics: NICS,
  });
  await until(async () => (await getVmi('crash')).status?.phase === 'Failed', 'Failed', 5000);
  const crash = await getVmi('crash');
  await until(() => eventsOf(crash).some((e) => e.type === 'Warning'), 'the warning', 5000);
  const rows = eventRows(await kubectl('describe', 'vmi', 'crash'));
  assert.deepEqual(
    rows.filter(([type]) => type === 'Warning'),
    [['Warning', 'Failed', 'virtnet-controller', 'qemu-system-x86_64: failed to initialize kvm: Permission denied']],
  );
  const d = await virtnet('describe', 'vmi', 'crash');
  assert.match(d.out, /^ {2}Ready +False +PhaseFailed +\S+ +qemu-system-x86_64: failed to initialize kvm/mu);
});
