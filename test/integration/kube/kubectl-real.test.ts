/**
 * The real kubectl against the in-process API server, verb by verb, on the
 * resources a virtnet lab drives: VMIs, VMs, pods, NADs and nodes. get reads
 * the server's Table (its columns are the server's: the CRDs' printer columns,
 * the built-in printers'), describe the object and its Events, create and
 * apply go through kubectl's validation (OpenAPI v3, then fieldValidation=Strict
 * on the server) and its three-way patches (strategic merge for built-ins,
 * merge patch for custom resources), delete and wait watch until done.
 * kubectl runs asynchronously (execFile): the server answers it from this
 * process. Discovery is cached in a directory of the test's own.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { startKubeTestServer, type KubeTestServer } from '../../../harness/kube/api-server.ts';
import { until } from '../../../harness/kube/testing.ts';

type Obj = Record<string, any>;
const NS = 'default';
const VIRTNET = { group: 'virtnet.io', version: 'v1alpha1' };
const MERGE = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

let server: KubeTestServer;
let dir: string;
let kubeconfig: string;
let core: k8s.CoreV1Api;
let custom: k8s.CustomObjectsApi;

before(async () => {
  server = await startKubeTestServer({ bookmarkIntervalMs: 200 });
  dir = mkdtempSync(join(tmpdir(), 'virtnet-kubectl-real-'));
  kubeconfig = server.kubeconfigFile(dir);
  core = server.kubeConfig().makeApiClient(k8s.CoreV1Api);
  custom = server.kubeConfig().makeApiClient(k8s.CustomObjectsApi);
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Run {
  code: number;
  out: string;
  err: string;
}

/** kubectl with the server's kubeconfig and a cache of the test's own; a non-zero exit is a result, not a throw. */
async function kubectl(...args: string[]): Promise<Run> {
  const argv = ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), ...args];
  try {
    const { stdout, stderr } = await promisify(execFile)('kubectl', argv, { timeout: 60_000 });
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const failed = e as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw e;
    return { code: failed.code, out: failed.stdout ?? '', err: failed.stderr ?? '' };
  }
}

/** kubectl that must succeed: its stdout. */
async function ok(...args: string[]): Promise<string> {
  const r = await kubectl(...args);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.err}`);
  return r.out;
}

/** Writes a manifest (several objects as a YAML stream) and returns its path. */
function manifest(file: string, ...objects: Obj[]): string {
  const path = join(dir, file);
  writeFileSync(path, objects.map((o) => toYaml(o)).join('---\n'));
  return path;
}

/**
 * A kubectl table as rows of cells keyed by header; cells are cut at the header's column starts, as kubectl pads them.
 */
function table(out: string): Array<Record<string, string>> {
  const [header = '', ...lines] = out.trimEnd().split('\n');
  const names = header.split(/ {2,}/u);
  const starts = names.map((n, i) =>
    header.indexOf(n, i === 0 ? 0 : header.indexOf(names[i - 1]!) + names[i - 1]!.length),
  );
  return lines.map((l) => Object.fromEntries(names.map((n, i) => [n, l.slice(starts[i], starts[i + 1]).trim()])));
}
const headerOf = (out: string) => out.split('\n')[0]!.trim().split(/ {2,}/u);

const vmi = (name: string, labels: Obj = { app: 'web' }, namespace?: string): Obj => ({
  apiVersion: 'virtnet.io/v1alpha1',
  kind: 'VirtualMachineInstance',
  metadata: { name, labels, ...(namespace && { namespace }) },
  spec: {
    domain: { devices: { interfaces: [{ name: 'default', masquerade: {} }] } },
    networks: [{ name: 'default', pod: {} }],
  },
});
const vm = (name: string) => ({
  apiVersion: 'virtnet.io/v1alpha1',
  kind: 'VirtualMachine',
  metadata: { name },
  spec: { runStrategy: 'Always', template: { spec: vmi(name).spec } },
});
const nad = (name: string, spec: Obj = { config: '{"cniVersion":"1.0.0","name":"lan","type":"bridge"}' }) => ({
  apiVersion: 'k8s.cni.cncf.io/v1',
  kind: 'NetworkAttachmentDefinition',
  metadata: { name },
  spec,
});
const pod = (name: string, labels: Obj = { app: 'web' }) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels },
  spec: { nodeName: 'node-1', containers: [{ name: 'launcher', image: 'virtnet:test' }] },
});
// A node as its kubelet registers it: with status, which create keeps for nodes.
const node = (name: string, role: string) => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name, labels: { [`node-role.kubernetes.io/${role}`]: '', 'kubernetes.io/hostname': name } },
  spec: { podCIDRs: ['10.244.1.0/24'] },
  status: {
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'KubeletReady',
        message: 'kubelet is posting ready status',
        lastHeartbeatTime: new Date().toISOString(),
        lastTransitionTime: new Date().toISOString(),
      },
    ],
    addresses: [
      { type: 'InternalIP', address: '10.0.0.11' },
      { type: 'Hostname', address: name },
    ],
    capacity: { cpu: '4', memory: '8Gi', pods: '110', 'ephemeral-storage': '20Gi' },
    allocatable: { cpu: '4', memory: '8Gi', pods: '110', 'ephemeral-storage': '20Gi' },
    nodeInfo: {
      kubeletVersion: 'v1.31.0',
      osImage: 'Debian GNU/Linux 12 (bookworm)',
      kernelVersion: '6.1.0-test',
      containerRuntimeVersion: 'containerd://1.7.0',
      operatingSystem: 'linux',
      architecture: 'amd64',
    },
  },
});

const getVmi = async (name: string) =>
  (await custom.getNamespacedCustomObject({
    ...VIRTNET,
    namespace: NS,
    plural: 'virtualmachineinstances',
    name,
  })) as Obj;
async function setVmiStatus(name: string, status: Obj): Promise<void> {
  const body = { ...(await getVmi(name)), status };
  await custom.replaceNamespacedCustomObjectStatus({
    ...VIRTNET,
    namespace: NS,
    plural: 'virtualmachineinstances',
    name,
    body,
  });
}

describe("get: the server's tables", () => {
  before(async () => {
    await ok(
      'create',
      '-f',
      manifest(
        'lab.yaml',
        vmi('web'),
        vmi('db', { app: 'db' }),
        vmi('api', { app: 'web' }, 'team'),
        vm('web'),
        nad('lan'),
        pod('launcher-web'),
        node('node-1', 'control-plane'),
      ),
    );
    await setVmiStatus('web', {
      phase: 'Running',
      nodeName: 'node-1',
      interfaces: [{ name: 'default', ipAddress: '10.244.1.5' }],
    });
    const vmObj = (await custom.getNamespacedCustomObject({
      ...VIRTNET,
      namespace: NS,
      plural: 'virtualmachines',
      name: 'web',
    })) as Obj;
    await custom.replaceNamespacedCustomObjectStatus({
      ...VIRTNET,
      namespace: NS,
      plural: 'virtualmachines',
      name: 'web',
      body: { ...vmObj, status: { printableStatus: 'Running', ready: true } },
    });
    const p = await core.readNamespacedPod({ name: 'launcher-web', namespace: NS });
    p.status = {
      phase: 'Running',
      podIP: '10.244.1.5',
      hostIP: '10.0.0.11',
      containerStatuses: [
        { name: 'launcher', ready: true, restartCount: 2, image: 'virtnet:test', imageID: '', state: { running: {} } },
      ],
    };
    await core.replaceNamespacedPodStatus({ name: 'launcher-web', namespace: NS, body: p });
  });

  test("vmi: the CRD's printer columns (PHASE IP NODE AGE), in the context namespace, -A adds NAMESPACE", async () => {
    const out = await ok('get', 'vmi');
    assert.deepEqual(headerOf(out), ['NAME', 'PHASE', 'IP', 'NODE', 'AGE']);
    const rows = table(out);
    assert.deepEqual(
      rows.map((r) => [r.NAME, r.PHASE, r.IP, r.NODE]),
      [
        ['db', '', '', ''],
        ['web', 'Running', '10.244.1.5', 'node-1'],
      ],
    );
    assert.ok(
      rows.every((r) => /^\d+s$/u.test(r.AGE!)),
      out,
    );
    const all = table(await ok('get', 'virtualmachineinstances', '-A'));
    assert.deepEqual(
      all.map((r) => `${r.NAMESPACE}/${r.NAME}`),
      ['default/db', 'default/web', 'team/api'],
    );
    assert.deepEqual(
      table(await ok('get', 'vmi', '-A', '-l', 'app=web')).map((r) => r.NAME),
      ['web', 'api'],
    );
    assert.deepEqual(
      table(await ok('get', 'vmi', 'web')).map((r) => r.NAME),
      ['web'],
    );
    assert.deepEqual(headerOf(await ok('get', 'vmi', '-o', 'wide')), ['NAME', 'PHASE', 'IP', 'NODE', 'AGE']);
  });

  test('vm, net-attach-def: printer columns where the CRD has them, else NAME AGE', async () => {
    const vms = await ok('get', 'vm');
    assert.deepEqual(headerOf(vms), ['NAME', 'STATUS', 'RUNSTRATEGY', 'AGE']);
    assert.deepEqual(
      table(vms).map((r) => [r.NAME, r.STATUS, r.RUNSTRATEGY]),
      [['web', 'Running', 'Always']],
    );
    const nads = await ok('get', 'net-attach-def');
    assert.deepEqual(headerOf(nads), ['NAME', 'AGE']);
    assert.deepEqual(
      table(nads).map((r) => r.NAME),
      ['lan'],
    );
    assert.deepEqual(headerOf(await ok('get', 'network-attachment-definitions', '-A')), ['NAMESPACE', 'NAME', 'AGE']);
  });

  test('pods: NAME READY STATUS RESTARTS AGE, and IP NODE with -o wide', async () => {
    const out = await ok('get', 'pods');
    assert.deepEqual(headerOf(out), ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE']);
    assert.deepEqual(
      table(out).map((r) => [r.NAME, r.READY, r.STATUS, r.RESTARTS]),
      [['launcher-web', '1/1', 'Running', '2']],
    );
    const wide = await ok('get', 'pods', '-o', 'wide', '-l', 'app=web');
    assert.deepEqual(headerOf(wide), [
      'NAME',
      'READY',
      'STATUS',
      'RESTARTS',
      'AGE',
      'IP',
      'NODE',
      'NOMINATED NODE',
      'READINESS GATES',
    ]);
    assert.deepEqual(
      table(wide).map((r) => [r.IP, r.NODE, r['NOMINATED NODE']]),
      [['10.244.1.5', 'node-1', '<none>']],
    );
    assert.equal((await ok('get', 'pods', '-l', 'app=none')).trim(), '');
  });

  test("nodes: NAME STATUS ROLES AGE VERSION, the node's facts with -o wide", async () => {
    const out = await ok('get', 'nodes');
    assert.deepEqual(headerOf(out), ['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION']);
    assert.deepEqual(
      table(out).map((r) => [r.NAME, r.STATUS, r.ROLES, r.VERSION]),
      [['node-1', 'Ready', 'control-plane', 'v1.31.0']],
    );
    const wide = table(await ok('get', 'no', '-o', 'wide'))[0]!;
    assert.deepEqual(
      [wide['INTERNAL-IP'], wide['EXTERNAL-IP'], wide['OS-IMAGE'], wide['KERNEL-VERSION'], wide['CONTAINER-RUNTIME']],
      ['10.0.0.11', '<none>', 'Debian GNU/Linux 12 (bookworm)', '6.1.0-test', 'containerd://1.7.0'],
    );
  });

  test('-o json, -o yaml: whole objects, a List for several', async () => {
    const list = JSON.parse(await ok('get', 'vmi', '-o', 'json')) as Obj;
    assert.equal(list.kind, 'List');
    assert.deepEqual(
      list.items.map((o: Obj) => [o.kind, o.metadata.name]),
      [
        ['VirtualMachineInstance', 'db'],
        ['VirtualMachineInstance', 'web'],
      ],
    );
    const one = parseYaml(await ok('get', 'vmi', 'web', '-o', 'yaml')) as Obj;
    assert.equal(one.status.phase, 'Running');
    assert.deepEqual(one.spec, vmi('web').spec);
    const nodeObj = JSON.parse(await ok('get', 'node', 'node-1', '-o', 'json')) as Obj;
    assert.equal(nodeObj.status.nodeInfo.kubeletVersion, 'v1.31.0');
  });

  test('a name that is not there: NotFound, exit 1', async () => {
    const r = await kubectl('get', 'vmi', 'nope');
    assert.equal(r.code, 1);
    assert.match(r.err, /Error from server \(NotFound\): virtualmachineinstances\.virtnet\.io "nope" not found/u);
  });

  test('get all: the "all" category, as the CRDs declare it', async () => {
    const out = await ok('get', 'all');
    assert.match(out, /^pod\/launcher-web +1\/1 +Running/mu);
    assert.match(out, /^virtualmachineinstance\.virtnet\.io\/web +Running/mu);
    assert.match(out, /^virtualmachine\.virtnet\.io\/web +Running/mu);
  });
});

/** The rows under "Events:" of kubectl describe, as [type, reason, from, message]. */
function eventRows(text: string): string[][] {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.startsWith('Events:'));
  assert.ok(at >= 0, `no Events section in:\n${text}`);
  if (/^Events:\s+<none>$/u.test(lines[at]!)) return [];
  return table(
    lines
      .slice(at + 1)
      .filter((l) => !/^\s*-+(\s+-+)*\s*$/u.test(l))
      .join('\n')
      .replace(/^ {2}/gmu, ''),
  ).map((r) => [r.Type!, r.Reason!, r.From!, r.Message!]);
}

describe('describe', () => {
  test('each resource: its fields, and its Events found by involvedObject', async () => {
    const target = (await custom.getNamespacedCustomObject({
      ...VIRTNET,
      namespace: NS,
      plural: 'virtualmachines',
      name: 'web',
    })) as Obj;
    const now = new Date();
    await core.createNamespacedEvent({
      namespace: NS,
      body: {
        metadata: { name: 'web.vm-started' },
        involvedObject: {
          apiVersion: 'virtnet.io/v1alpha1',
          kind: 'VirtualMachine',
          name: 'web',
          namespace: NS,
          uid: target.metadata.uid,
        },
        reason: 'SuccessfulCreate',
        message: 'Created virtual machine instance web',
        type: 'Normal',
        source: { component: 'virtnet-controller' },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
    const vmText = await ok('describe', 'vm', 'web');
    assert.match(vmText, /^Kind: +VirtualMachine$/mu);
    assert.match(vmText, /^ {2}Printable Status: +Running$/mu);
    assert.deepEqual(eventRows(vmText), [
      ['Normal', 'SuccessfulCreate', 'virtnet-controller', 'Created virtual machine instance web'],
    ]);

    const vmiText = await ok('describe', 'vmi', 'web');
    assert.match(vmiText, /^Name: +web$/mu);
    assert.match(vmiText, /^ {2}Phase: +Running$/mu);
    assert.deepEqual(eventRows(vmiText), []);

    const podText = await ok('describe', 'pod', 'launcher-web');
    for (const line of [
      /^Status: +Running$/mu,
      /^Node: +node-1\/10\.0\.0\.11$/mu,
      /^IP: +10\.244\.1\.5$/mu,
      /^ {4}Image: +virtnet:test$/mu,
    ])
      assert.match(podText, line);

    const nadText = await ok('describe', 'net-attach-def', 'lan');
    assert.match(nadText, /^Kind: +NetworkAttachmentDefinition$/mu);
    assert.match(nadText, /^ {2}Config: +\{"cniVersion":"1\.0\.0","name":"lan","type":"bridge"\}$/mu);

    const nodeText = await ok('describe', 'node', 'node-1');
    for (const line of [
      /^Roles: +control-plane$/mu,
      /^PodCIDRs: +10\.244\.1\.0\/24$/mu,
      /^ {2}InternalIP: +10\.0\.0\.11$/mu,
      /^ {2}default +launcher-web /mu,
    ])
      assert.match(nodeText, line);
  });
});

const patches = () => server.requests.filter((r) => r.method === 'PATCH');

// In order: each test builds on what the one before it left (the pod multi, the node node-2, the VMI applied).
describe('create and apply', () => {
  test('apply: created, then unchanged without a write, then configured by a merge patch that also removes', async () => {
    const file = manifest('apply-vmi.yaml', vmi('applied', { app: 'web', tier: 'a' }));
    assert.equal((await ok('apply', '-f', file)).trim(), 'virtualmachineinstance.virtnet.io/applied created');
    const stored = server.objects('virtualmachineinstances.virtnet.io', NS).find((o) => o.metadata.name === 'applied')!;
    assert.deepEqual(JSON.parse(stored.metadata.annotations[LAST_APPLIED]).spec, vmi('applied').spec);
    const before = patches().length;
    assert.equal((await ok('apply', '-f', file)).trim(), 'virtualmachineinstance.virtnet.io/applied unchanged');
    assert.equal(patches().length, before, 'an unchanged apply sends no patch');

    const changed = vmi('applied', { app: 'web' });
    changed.spec.domain.devices.interfaces[0].ports = [{ port: 80 }];
    assert.equal(
      (await ok('apply', '-f', manifest('apply-vmi.yaml', changed))).trim(),
      'virtualmachineinstance.virtnet.io/applied configured',
    );
    assert.equal(patches().at(-1)!.contentType, 'application/merge-patch+json');
    const after = await getVmi('applied');
    assert.deepEqual(after.metadata.labels, { app: 'web' }, 'the label the file no longer has is gone');
    assert.deepEqual(after.spec.domain.devices.interfaces[0].ports, [{ port: 80 }]);
    assert.equal(after.metadata.generation, 2);
  });

  // A real server would also refuse most of these pod spec changes (a pod's spec is immutable but for images
  // and a few fields); the test server does not check that, and here the patch's merging is what is tested.
  test('apply on a pod: a strategic merge patch that merges containers by name and keeps what others wrote', async () => {
    const two = (order: string[], envA: Obj[]) => ({
      ...pod('multi'),
      spec: {
        containers: order.map((n) =>
          n === 'a' ? { name: 'a', image: 'img-a', env: envA } : { name: 'b', image: 'img-b' },
        ),
      },
    });
    const file = manifest(
      'apply-pod.yaml',
      two(
        ['a', 'b'],
        [
          { name: 'FIRST', value: '1' },
          { name: 'SECOND', value: '2' },
        ],
      ),
    );
    assert.equal((await ok('apply', '-f', file)).trim(), 'pod/multi created');
    // Another writer (a defaulter, say) sets a field the file does not have.
    await core.patchNamespacedPod(
      {
        name: 'multi',
        namespace: NS,
        body: {
          spec: {
            containers: [
              {
                name: 'a',
                image: 'img-a',
                imagePullPolicy: 'Always',
                env: [
                  { name: 'FIRST', value: '1' },
                  { name: 'SECOND', value: '2' },
                ],
              },
              { name: 'b', image: 'img-b' },
            ],
          },
        },
      },
      MERGE,
    );
    assert.equal(
      (await ok('apply', '-f', manifest('apply-pod.yaml', two(['b', 'a'], [{ name: 'SECOND', value: '3' }])))).trim(),
      'pod/multi configured',
    );
    assert.equal(patches().at(-1)!.contentType, 'application/strategic-merge-patch+json');
    const p = await core.readNamespacedPod({ name: 'multi', namespace: NS });
    assert.deepEqual(
      p.spec!.containers.map((c) => [c.name, c.imagePullPolicy, c.env?.map((e) => `${e.name}=${e.value}`)]),
      [
        ['b', undefined, undefined],
        ['a', 'Always', ['SECOND=3']],
      ],
    );
    assert.equal(
      (await ok('apply', '-f', manifest('apply-pod.yaml', two(['b', 'a'], [{ name: 'SECOND', value: '3' }])))).trim(),
      'pod/multi unchanged',
    );
  });

  test('apply on a node and a NAD; create of what exists is AlreadyExists', async () => {
    const n = node('node-2', 'worker');
    assert.equal((await ok('apply', '-f', manifest('node.yaml', n))).trim(), 'node/node-2 created');
    assert.equal((await ok('apply', '-f', manifest('node.yaml', n))).trim(), 'node/node-2 unchanged');
    n.metadata.labels['virtnet.io/lab'] = 'two';
    assert.equal((await ok('apply', '-f', manifest('node.yaml', n))).trim(), 'node/node-2 configured');
    assert.equal((await core.readNode({ name: 'node-2' })).metadata?.labels?.['virtnet.io/lab'], 'two');
    assert.equal(
      (await ok('apply', '-f', manifest('nad.yaml', nad('wan')))).trim(),
      'networkattachmentdefinition.k8s.cni.cncf.io/wan created',
    );
    assert.equal(
      (await ok('apply', '-f', manifest('nad.yaml', nad('wan', { config: '{"type":"macvlan"}' })))).trim(),
      'networkattachmentdefinition.k8s.cni.cncf.io/wan configured',
    );
    assert.equal(
      server.objects('network-attachment-definitions', NS).find((o) => o.metadata.name === 'wan')!.spec.config,
      '{"type":"macvlan"}',
    );
    const again = await kubectl('create', '-f', manifest('nad.yaml', nad('wan')));
    assert.equal(again.code, 1);
    assert.match(
      again.err,
      /\(AlreadyExists\).*network-attachment-definitions\.k8s\.cni\.cncf\.io "wan" already exists/u,
    );
  });

  test('validation: kubectl reads /openapi/v3 and sends fieldValidation=Strict; unknown fields fail on the server', async () => {
    const bad = vmi('typo');
    bad.spec.domain.devices.interfaces[0].masqurade = {};
    const r = await kubectl('apply', '-f', manifest('typo.yaml', bad));
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /VirtualMachineInstance in version "v1alpha1" cannot be handled as a VirtualMachineInstance: strict decoding error: unknown field "spec\.domain\.devices\.interfaces\[0\]\.masqurade"/u,
    );
    assert.equal(
      server.objects('virtualmachineinstances.virtnet.io', NS).some((o) => o.metadata.name === 'typo'),
      false,
    );
    const nadTypo = await kubectl('create', '-f', manifest('nad-typo.yaml', nad('typo', { conifg: '{}' })));
    assert.match(nadTypo.err, /unknown field "spec\.conifg"/u);
    assert.ok(server.requests.some((q) => q.path === '/openapi/v3' && q.status === 200));
    assert.ok(
      server.requests.some(
        (q) => q.method === 'POST' && new URLSearchParams(q.query).get('fieldValidation') === 'Strict',
      ),
    );
    // Without validation kubectl asks for none, and the server stores the object as sent (it does not prune).
    assert.equal(
      (await ok('create', '--validate=false', '-f', manifest('typo.yaml', bad))).trim(),
      'virtualmachineinstance.virtnet.io/typo created',
    );
  });

  test(
    'kubectl patch --type=strategic: sets of strings, $deleteFromPrimitiveList, $patch replace and delete, on ' +
      'status too',
    async () => {
      const patch = (...args: string[]) => ok('patch', ...args, '--type=strategic');
      await patch('pod', 'multi', '-p', '{"metadata":{"finalizers":["x.io/a","x.io/b"]}}');
      await patch('pod', 'multi', '-p', '{"metadata":{"finalizers":["x.io/c","x.io/a"]}}');
      assert.deepEqual((await core.readNamespacedPod({ name: 'multi', namespace: NS })).metadata?.finalizers, [
        'x.io/a',
        'x.io/b',
        'x.io/c',
      ]);
      await patch(
        'pod',
        'multi',
        '-p',
        '{"metadata":{"$deleteFromPrimitiveList/finalizers":["x.io/a","x.io/b","x.io/c"],"labels":{"$patch":"replace","only":"this"}}}',
      );
      const p = await core.readNamespacedPod({ name: 'multi', namespace: NS });
      assert.deepEqual([p.metadata?.finalizers, p.metadata?.labels], [[], { only: 'this' }]);

      await patch(
        'node',
        'node-2',
        '--subresource=status',
        '-p',
        '{"status":{"conditions":[{"type":"DiskPressure","status":"False"}]}}',
      );
      assert.deepEqual(
        (await core.readNode({ name: 'node-2' })).status?.conditions?.map((c) => c.type),
        ['Ready', 'DiskPressure'],
      );
      assert.equal(table(await ok('get', 'node', 'node-2'))[0]!.STATUS, 'Ready');
      await patch(
        'node',
        'node-2',
        '--subresource=status',
        '-p',
        '{"status":{"conditions":[{"type":"Ready","$patch":"delete"}]}}',
      );
      assert.deepEqual(
        (await core.readNode({ name: 'node-2' })).status?.conditions?.map((c) => c.type),
        ['DiskPressure'],
      );
      assert.equal(table(await ok('get', 'node', 'node-2'))[0]!.STATUS, 'Unknown', 'a node without a Ready condition');
      const refused = await kubectl(
        'patch',
        'vmi',
        'applied',
        '--type=strategic',
        '-p',
        '{"metadata":{"labels":{"x":"y"}}}',
      );
      assert.equal(refused.code, 1);
      // Custom resources take no strategic merge patch: the server answers 415 with the types it takes.
      assert.match(
        refused.err,
        /unknown format - accepted media types include: application\/json-patch\+json, application\/merge-patch\+json, application\/apply-patch\+yaml$/mu,
      );
      assert.equal(patches().at(-1)!.status, 415);
    },
  );

  test('apply --server-side creates and updates through an apply patch', async () => {
    const file = manifest('ssa.yaml', vmi('ssa'));
    assert.equal(
      (await ok('apply', '--server-side', '-f', file)).trim(),
      'virtualmachineinstance.virtnet.io/ssa serverside-applied',
    );
    assert.equal(patches().at(-1)!.contentType, 'application/apply-patch+yaml');
    assert.deepEqual((await getVmi('ssa')).spec, vmi('ssa').spec);
  });
});

/** Resolves once a watch on the named object has started after request number `from`: kubectl is then waiting. */
const watching = (name: string, from: number) =>
  until(
    () =>
      server.requests
        .slice(from)
        .some(
          (q) =>
            /(^|&)watch=true/u.test(q.query) &&
            new URLSearchParams(q.query).get('fieldSelector') === `metadata.name=${name}`,
        ),
    `kubectl's watch on ${name}`,
    20_000,
  );

describe('delete', () => {
  test('delete NAME and delete -f: gone when kubectl returns', async () => {
    await ok('apply', '-f', manifest('doomed.yaml', vmi('doomed'), pod('doomed-pod'), nad('doomed-nad')));
    assert.equal((await ok('delete', 'vmi', 'doomed')).trim(), 'virtualmachineinstance.virtnet.io "doomed" deleted');
    assert.equal(
      server.objects('virtualmachineinstances.virtnet.io', NS).some((o) => o.metadata.name === 'doomed'),
      false,
    );
    const rest = manifest('doomed-rest.yaml', pod('doomed-pod'), nad('doomed-nad'));
    assert.deepEqual((await ok('delete', '-f', rest)).trim().split('\n'), [
      'pod "doomed-pod" deleted',
      'networkattachmentdefinition.k8s.cni.cncf.io "doomed-nad" deleted',
    ]);
    assert.equal(
      server.objects('pods', NS).some((o) => o.metadata.name === 'doomed-pod'),
      false,
    );
    const missing = await kubectl('delete', 'vmi', 'doomed');
    assert.equal(missing.code, 1);
    assert.match(missing.err, /\(NotFound\).*"doomed" not found/u);
  });

  test('delete waits (by a watch) while a finalizer holds the object, and returns once it is gone', async () => {
    const held = vmi('held');
    held.metadata.finalizers = ['virtnet.io/test'];
    await ok('apply', '-f', manifest('held.yaml', held));
    let done = false;
    const from = server.requests.length;
    const deleting = kubectl('delete', 'vmi', 'held', '--timeout=20s').then((r) => ((done = true), r));
    await watching('held', from);
    assert.ok((await getVmi('held')).metadata.deletionTimestamp, 'marked for deletion, held by its finalizer');
    assert.equal(done, false, 'kubectl returned while the object was still there');
    await custom.patchNamespacedCustomObject(
      {
        ...VIRTNET,
        namespace: NS,
        plural: 'virtualmachineinstances',
        name: 'held',
        body: { metadata: { finalizers: null } },
      },
      MERGE,
    );
    const r = await deleting;
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.trim(), 'virtualmachineinstance.virtnet.io "held" deleted');
  });
});

describe('wait', () => {
  before(async () => {
    await ok('apply', '-f', manifest('waiting.yaml', vmi('waiting'), vmi('never')));
  });

  test('--for=condition=Ready returns when the condition is met', async () => {
    const from = server.requests.length;
    const waiting = kubectl('wait', '--for=condition=Ready', 'vmi/waiting', '--timeout=20s');
    await watching('waiting', from);
    await setVmiStatus('waiting', {
      phase: 'Running',
      conditions: [
        { type: 'Ready', status: 'True', reason: 'GuestLeased', lastTransitionTime: new Date().toISOString() },
      ],
    });
    const r = await waiting;
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.trim(), 'virtualmachineinstance.virtnet.io/waiting condition met');
  });

  test('--for=jsonpath={.status.phase}=Running; a condition never met times out with exit 1', async () => {
    assert.equal(
      (await ok('wait', '--for=jsonpath={.status.phase}=Running', 'vmi/waiting', '--timeout=10s')).trim(),
      'virtualmachineinstance.virtnet.io/waiting condition met',
    );
    const started = Date.now();
    const r = await kubectl('wait', '--for=condition=Ready', 'vmi/never', '--timeout=1s');
    assert.equal(r.code, 1);
    assert.match(r.err, /timed out waiting for the condition on virtualmachineinstances\/never/u);
    assert.ok(Date.now() - started >= 1000, 'it waited out its timeout');
  });

  test('--for=delete returns once the object is deleted', async () => {
    const from = server.requests.length;
    const waiting = kubectl('wait', '--for=delete', 'vmi/never', '--timeout=20s');
    await watching('never', from);
    await custom.deleteNamespacedCustomObject({
      ...VIRTNET,
      namespace: NS,
      plural: 'virtualmachineinstances',
      name: 'never',
    });
    const r = await waiting;
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.trim(), 'virtualmachineinstance.virtnet.io/never condition met');
  });
});

test('host: the server listens on the address given, and its kubeconfigs name it', async () => {
  const other = await startKubeTestServer({ host: '127.0.0.2' });
  const otherDir = mkdtempSync(join(tmpdir(), 'virtnet-kubectl-host-'));
  try {
    assert.match(other.url, /^http:\/\/127\.0\.0\.2:\d+$/u);
    assert.equal(other.kubeConfig().getCurrentCluster()?.server, other.url);
    const file = other.kubeconfigFile(otherDir);
    assert.equal((parseYaml(readFileSync(file, 'utf8')) as Obj).clusters[0].cluster.server, other.url);
    const { stdout } = await promisify(execFile)('kubectl', [
      '--kubeconfig',
      file,
      '--cache-dir',
      join(otherDir, 'cache'),
      'get',
      'namespaces',
      '-o',
      'name',
    ]);
    assert.deepEqual(stdout.trim().split('\n'), ['namespace/default', 'namespace/kube-system']);
  } finally {
    await other.close();
    rmSync(otherDir, { recursive: true, force: true });
  }
});
