/**
 * kubectl-virtnet against the in-process API server: main() runs in-process
 * with its output captured, reading what the test wrote through
 * client-node (a VMI's status through the /status subresource, as the
 * controller writes it). Exec is not served by the test server, so console is
 * tested up to the choice of pod, container and command.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { startKubeTestServer, type KubeTestServer } from '../../../harness/kube/api-server.ts';
import { freePort } from '../../../harness/kube/testing.ts';
import { consoleTarget, main } from '../../../controller/kubectl/main.ts';
import type { NicWiring } from '../../../controller/api/status.ts';

type Obj = Record<string, any>;
const VIRTNET = { group: 'virtnet.io', version: 'v1alpha1' };
const NADS = { group: 'k8s.cni.cncf.io', version: 'v1', plural: 'network-attachment-definitions' };

let server: KubeTestServer;
let dir: string;
let kubeconfig: string;
let custom: k8s.CustomObjectsApi;
let core: k8s.CoreV1Api;

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
const nad = (name: string) => ({
  apiVersion: 'k8s.cni.cncf.io/v1',
  kind: 'NetworkAttachmentDefinition',
  metadata: { name },
  spec: { config: JSON.stringify({ cniVersion: '1.0.0', name, type: 'bridge', bridge: `br-${name}` }) },
});

const nic: NicWiring = {
  name: 'default',
  binding: 'masquerade',
  network: 'pod',
  podInterface: 'eth0',
  bridge: 'k6t-eth0',
  tap: 'tap0',
  mac: '02:00:00:00:00:09',
  model: 'virtio',
  mtu: 1500,
  ips: ['10.0.2.2/24'],
  podIps: ['10.244.0.9'],
  leased4: true,
  leased6: false,
  ports: [],
};

/** main() in-process, its lines captured. */
async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['--kubeconfig', kubeconfig, ...args], { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** A kubeconfig like the server's, with another namespace for its context, or another server. */
function kubeconfigWith(file: string, change: (cfg: Obj) => void): string {
  const cfg = parseYaml(readFileSync(kubeconfig, 'utf8')) as Obj;
  change(cfg);
  const path = join(dir, file);
  writeFileSync(path, toYaml(cfg));
  return path;
}

before(async () => {
  server = await startKubeTestServer();
  dir = mkdtempSync(join(tmpdir(), 'kubectl-virtnet-'));
  kubeconfig = server.kubeconfigFile(dir);
  const kc = server.kubeConfig();
  custom = kc.makeApiClient(k8s.CustomObjectsApi);
  core = kc.makeApiClient(k8s.CoreV1Api);
  const create = (namespace: string, plural: string, body: Obj) =>
    custom.createNamespacedCustomObject({ ...VIRTNET, namespace, plural, body });
  await create('default', 'virtualmachineinstances', vmi('web'));
  await create('default', 'virtualmachineinstances', vmi('db'));
  await create('team', 'virtualmachineinstances', vmi('api'));
  await create('default', 'virtualmachines', {
    apiVersion: 'virtnet.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name: 'db' },
    spec: { running: true, template: { spec: vmi('db').spec } },
  });
  await custom.createNamespacedCustomObject({ ...NADS, namespace: 'default', body: nad('lan') });

  // web runs: its status as the controller writes it, through the status subresource.
  const web = (await custom.getNamespacedCustomObject({
    ...VIRTNET,
    namespace: 'default',
    plural: 'virtualmachineinstances',
    name: 'web',
  })) as Obj;
  web.status = {
    phase: 'Running',
    nodeName: 'node-1',
    launcherPod: { name: 'virt-launcher-web-x7k2p', uid: 'u-1' },
    interfaces: [{ name: 'default', ipAddress: '10.244.0.9', ipAddresses: ['10.244.0.9'], mac: nic.mac, leased: true }],
    virtnet: { netns: 'cni-1234', launcherPid: 7, accel: 'tcg', nics: [nic], steps: [{ name: 'boot', ms: 640 }] },
  };
  await custom.replaceNamespacedCustomObjectStatus({
    ...VIRTNET,
    namespace: 'default',
    plural: 'virtualmachineinstances',
    name: 'web',
    body: web,
  });
  const vm = (await custom.getNamespacedCustomObject({
    ...VIRTNET,
    namespace: 'default',
    plural: 'virtualmachines',
    name: 'db',
  })) as Obj;
  vm.status = { printableStatus: 'Starting', ready: false, created: true };
  await custom.replaceNamespacedCustomObjectStatus({
    ...VIRTNET,
    namespace: 'default',
    plural: 'virtualmachines',
    name: 'db',
    body: vm,
  });
});

after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('get', () => {
  test('vmis: the standalone table, in the context namespace, sorted', async () => {
    const { code, out, err } = await run('get', 'vmis');
    assert.equal(code, 0, err);
    const lines = out.split('\n');
    assert.match(lines[0]!, /^NAMESPACE\s+NAME\s+PHASE\s+IPS\s+AGE$/u);
    assert.match(lines[1]!, /^default\s+db\s+Pending\s+<none>\s+\d+s$/u);
    assert.match(lines[2]!, /^default\s+web\s+Running\s+default=10\.244\.0\.9\s+\d+s$/u);
    assert.equal(lines.length, 3, 'team/api is in another namespace');
  });

  test('-n, -A, and the kubeconfig context namespace', async () => {
    assert.match((await run('get', 'vmis', '-n', 'team')).out, /^team\s+api\s+Pending/mu);
    const all = await run('get', 'vmis', '-A');
    assert.deepEqual(
      all.out
        .split('\n')
        .slice(1)
        .map((l) => l.split(/\s+/u).slice(0, 2).join('/')),
      ['default/db', 'default/web', 'team/api'],
    );
    const teamConfig = kubeconfigWith('team', (cfg) => (cfg.contexts[0].context.namespace = 'team'));
    const out: string[] = [];
    assert.equal(
      await main(['get', 'vmis', '--kubeconfig', teamConfig], { out: (l) => out.push(l), err: () => undefined }),
      0,
    );
    assert.match(out.join('\n'), /^team\s+api/mu);
    const r = await run('get', 'vmis', '-A', 'web');
    assert.equal(r.code, 2);
    assert.match(r.err, /cannot be retrieved by name across all namespaces/u);
  });

  test('-o json: a v1 List of whole objects; -o yaml of one name: the object', async () => {
    const json = await run('get', 'vmis', '-o', 'json');
    const list = JSON.parse(json.out) as Obj;
    assert.equal(list.kind, 'List');
    assert.deepEqual(
      list.items.map((i: Obj) => `${i.kind}/${i.metadata.name}`),
      ['VirtualMachineInstance/db', 'VirtualMachineInstance/web'],
    );
    assert.equal(list.items[1].apiVersion, 'virtnet.io/v1alpha1');
    const yaml = parseYaml((await run('get', 'vmi', 'web', '-o', 'yaml')).out) as Obj;
    assert.equal(yaml.kind, 'VirtualMachineInstance');
    assert.equal(yaml.status.launcherPod.name, 'virt-launcher-web-x7k2p');
  });

  test('-o wide adds the node and the launcher pod', async () => {
    const lines = (await run('get', 'vmis', '-o', 'wide')).out.split('\n');
    assert.match(lines[0]!, /^NAMESPACE\s+NAME\s+PHASE\s+IPS\s+AGE\s+NODE\s+LAUNCHER POD$/u);
    assert.match(lines[1]!, /^default\s+db\s+Pending\s+<none>\s+\S+\s+<none>\s+<none>$/u);
    assert.match(
      lines[2]!,
      /^default\s+web\s+Running\s+default=10\.244\.0\.9\s+\S+\s+node-1\s+virt-launcher-web-x7k2p$/u,
    );
    // Columns line up: NODE starts at one offset on every line.
    assert.equal(lines[0]!.indexOf('NODE'), lines[2]!.indexOf('node-1'));
  });

  test("vms and nads: their own tables; none: kubectl's note", async () => {
    assert.match(
      (await run('get', 'vms')).out,
      /^NAMESPACE\s+NAME\s+AGE\s+STATUS\s+READY\ndefault\s+db\s+\S+\s+Starting\s+false$/u,
    );
    assert.match((await run('get', 'nads')).out, /^NAMESPACE\s+NAME\s+TYPE\s+AGE\ndefault\s+lan\s+bridge\s+\S+$/u);
    const none = await run('get', 'nads', '-n', 'empty');
    assert.deepEqual([none.code, none.out, none.err], [0, '', 'No resources found in empty namespace.']);
    assert.equal(JSON.parse((await run('get', 'nads', '-n', 'empty', '-o', 'json')).out).items.length, 0);
  });

  test('NotFound as kubectl words it; the found ones still print', async () => {
    const r = await run('get', 'vmi', 'nope');
    assert.deepEqual(
      [r.code, r.out, r.err],
      [1, '', 'Error from server (NotFound): virtualmachineinstances.virtnet.io "nope" not found'],
    );
    const some = await run('get', 'vmis', 'web', 'nope');
    assert.equal(some.code, 1);
    assert.match(some.out, /^default\s+web\s+Running/mu);
    assert.match(some.err, /"nope" not found/u);
    const kind = await run('get', 'pods');
    assert.deepEqual(
      [kind.code, kind.err],
      [1, 'error: the server doesn\'t have a resource type "pods" (use vmis, vms or nads)'],
    );
  });
});

test('describe: the standalone describe of the status written through /status', async () => {
  const { code, out } = await run('describe', 'vmi', 'web');
  assert.equal(code, 0);
  assert.match(out, /^Name:\s+web$/mu);
  assert.match(out, /^Phase:\s+Running$/mu);
  assert.match(out, /^Netns:\s+cni-1234$/mu);
  assert.match(out, /^ {4}Pod Interface:\s+eth0$/mu);
  assert.match(out, /^ {4}Lease:\s+leased \(IPv4\)$/mu);
  assert.match(out, /^ {2}boot\s+640 ms$/mu);
  assert.match((await run('describe', 'vmi', 'db')).out, /Interfaces:\s+\(no network yet\)/u);
  assert.equal((await run('describe', 'vmi', 'nope')).code, 1);
  assert.equal((await run('describe', 'vmi')).code, 2);
});

test('topology: text, and SVG to a file', async () => {
  const svg = join(dir, 'web.svg');
  const { code, out } = await run('topology', 'web', '--svg', svg);
  assert.equal(code, 0);
  assert.match(out, /pod network ─+┼─▶ eth0 ─▶ nft NAT ─▶ k6t-eth0 ─▶ tap0/u);
  assert.match(out, /VM web/u);
  assert.match(out, new RegExp(`wrote ${svg}$`, 'u'));
  assert.match(readFileSync(svg, 'utf8'), /^<\?xml [^\n]*\n<svg /u);
});

describe('validate', () => {
  const file = (name: string, docs: Obj[]) => {
    const path = join(dir, name);
    writeFileSync(path, docs.map((d) => toYaml(d)).join('---\n'));
    return path;
  };

  test('a valid file; with no NAD named, the cluster is not asked', async () => {
    const before = server.requests.length;
    const r = await run('validate', file('ok.yaml', [vmi('ok')]));
    assert.deepEqual([r.code, r.out, r.err], [0, 'valid: VirtualMachineInstance/ok', '']);
    assert.equal(server.requests.length, before);
  });

  test('an invalid file: every problem with its field path', async () => {
    const bad = vmi(
      'bad',
      [{ name: 'default', pod: {} }],
      [
        { name: 'default', masquerade: {}, macAddress: 'not-a-mac' },
        { name: 'orphan', bridge: {} },
      ],
    );
    const path = file('bad.yaml', [bad]);
    const r = await run('validate', path);
    assert.equal(r.code, 1);
    assert.match(r.err, new RegExp(`^${path}#1: spec\\.domain\\.devices\\.interfaces\\[0\\]\\.macAddress: `, 'mu'));
    assert.match(r.err, /spec\.domain\.devices\.interfaces\[1\]/u);
    const json = JSON.parse((await run('validate', '-o', 'json', path)).out) as Obj;
    assert.equal(json.valid, false);
    assert.ok(json.problems.some((p: Obj) => p.path === 'spec.domain.devices.interfaces[0].macAddress'));
  });

  const multus = (name: string, nadName: string) =>
    vmi(
      name,
      [
        { name: 'default', pod: {} },
        { name: 'net', multus: { networkName: nadName } },
      ],
      [
        { name: 'default', masquerade: {} },
        { name: 'net', bridge: {} },
      ],
    );

  test('NAD references: a present one passes, a missing one is reported', async () => {
    const ok = await run('validate', file('lan.yaml', [multus('uses-lan', 'lan')]));
    assert.deepEqual([ok.code, ok.err], [0, '']);
    const missing = await run('validate', file('missing.yaml', [multus('uses-missing', 'missing')]));
    assert.equal(missing.code, 1);
    assert.match(
      missing.err,
      /#1: spec\.networks\[1\]\.multus\.networkName: NetworkAttachmentDefinition default\/missing not found$/u,
    );
    // In another namespace (-n), "lan" is looked for there, where it is not.
    assert.match(
      (await run('validate', '-n', 'team', file('lan2.yaml', [multus('uses-lan', 'lan')]))).err,
      /team\/lan not found/u,
    );
  });

  test('no cluster: NAD existence skipped, with a note', async () => {
    const port = await freePort();
    const down = kubeconfigWith('down', (cfg) => (cfg.clusters[0].cluster.server = `http://127.0.0.1:${port}`));
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(
      ['validate', '--kubeconfig', down, file('offline.yaml', [multus('uses-missing', 'missing')])],
      { out: (l) => out.push(l), err: (l) => err.push(l) },
    );
    assert.equal(code, 0);
    assert.deepEqual(out, ['valid: VirtualMachineInstance/uses-missing']);
    assert.match(
      err.join('\n'),
      /^note: NetworkAttachmentDefinition references not checked \(no cluster answers: The connection to the server 127\.0\.0\.1:\d+ was refused/u,
    );
  });
});

describe('console', () => {
  const CMD = ['virtnet-launcher', 'console', '--state-dir', '/var/run/virtnet/state'];
  const pod = (name: string, phase: string, labels: Obj, extra: Obj = {}) => ({
    metadata: { name, namespace: 'default', labels, ...extra },
    status: { phase },
  });
  const theVmi = {
    metadata: { name: 'web', namespace: 'default', uid: 'u-web' },
    status: { phase: 'Running', launcherPod: { name: 'virt-launcher-web-b' } },
  };

  test("the VMI's running launcher pod, container compute, the launcher's console", () => {
    const pods = [
      pod('virt-launcher-web-old', 'Running', { 'virtnet.io/vmi': 'web', 'virtnet.io/created-by': 'u-earlier' }),
      pod(
        'virt-launcher-web-gone',
        'Running',
        { 'virtnet.io/vmi': 'web' },
        { deletionTimestamp: '2024-01-01T00:00:00Z' },
      ),
      pod('virt-launcher-web-a', 'Running', { 'virtnet.io/vmi': 'web', 'virtnet.io/created-by': 'u-web' }),
      pod('virt-launcher-web-b', 'Running', { 'virtnet.io/vmi': 'web', 'virtnet.io/created-by': 'u-web' }),
    ];
    assert.deepEqual(consoleTarget(theVmi, pods), {
      namespace: 'default',
      pod: 'virt-launcher-web-b',
      container: 'compute',
      command: CMD,
    });
    assert.deepEqual(consoleTarget({ ...theVmi, status: { phase: 'Running' } }, pods.slice(0, 3)), {
      namespace: 'default',
      pod: 'virt-launcher-web-a',
      container: 'compute',
      command: CMD,
    });
    const pending = consoleTarget(theVmi, [pod('virt-launcher-web-a', 'Pending', { 'virtnet.io/vmi': 'web' })]);
    assert.deepEqual(pending, {
      error:
        'VirtualMachineInstance default/web has no running launcher pod: its launcher pod virt-launcher-web-a is ' +
        'Pending (VMI phase Running)',
    });
  });

  test('through the server: no pod, a Pending pod, no VMI', async () => {
    const none = await run('console', 'db');
    assert.deepEqual(
      [none.code, none.err],
      [
        1,
        'error: VirtualMachineInstance default/db has no running launcher pod: it has no launcher pod (VMI phase ' +
          'Pending)',
      ],
    );
    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: 'virt-launcher-db-q9', labels: { 'virtnet.io/vmi': 'db' } },
        spec: { containers: [{ name: 'compute', image: 'virtnet:test' }] },
      },
    });
    assert.match((await run('console', 'db')).err, /its launcher pod virt-launcher-db-q9 is Pending/u);
    const missing = await run('console', 'nope');
    assert.deepEqual(
      [missing.code, missing.err],
      [1, 'Error from server (NotFound): virtualmachineinstances.virtnet.io "nope" not found'],
    );
  });
});

test('usage mistakes exit 2, a refused connection and a missing context exit 1', async () => {
  for (const args of [
    ['frobnicate'],
    ['get'],
    ['get', 'vmis', '-o', 'xml'],
    ['describe', 'vmi', 'web', '-o', 'wide'],
    ['topology', 'web', '-A'],
    ['get', 'vmis', '--bogus'],
  ]) {
    const r = await run(...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.err, /^error: /u);
  }
  const port = await freePort();
  const down = kubeconfigWith('down2', (cfg) => (cfg.clusters[0].cluster.server = `http://127.0.0.1:${port}`));
  const err: string[] = [];
  assert.equal(await main(['get', 'vmis', '--kubeconfig', down], { out: () => undefined, err: (l) => err.push(l) }), 1);
  assert.deepEqual(err, [
    `The connection to the server 127.0.0.1:${port} was refused - did you specify the right host or port?`,
  ]);
  assert.equal((await run('get', 'vmis', '--context', 'elsewhere')).err, 'error: context "elsewhere" does not exist');
});

test('the executable: the kubectl-virtnet bundle when built, else the entry under tsx', async () => {
  // Asynchronous: the API server answering it runs in this process.
  const bundle = join(process.cwd(), 'dist', 'cluster', 'kubectl-virtnet');
  const argv = existsSync(bundle)
    ? [bundle]
    : ['--import', 'tsx', join(process.cwd(), 'controller', 'cluster', 'kubectl.ts')];
  const { stdout } = await promisify(execFile)(process.execPath, [...argv, 'get', 'vmis', '--kubeconfig', kubeconfig]);
  const ageless = (table: string) => table.replace(/\S+$/gmu, 'AGE'); // the last column; a second may pass between the two
  assert.equal(ageless(stdout.trimEnd()), ageless((await run('get', 'vmis')).out), 'the same table as in-process');
  // execFile rejects on a non-zero exit, with the code and both outputs on the error.
  const r = (await promisify(execFile)(process.execPath, [
    ...argv,
    'get',
    'vmi',
    'nope',
    '--kubeconfig',
    kubeconfig,
  ]).then(
    () => ({ code: 0, stderr: '' }),
    (e: Obj) => e,
  )) as { code: number; stderr: string };
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^Error from server \(NotFound\)/u);
});

test('completion: kubectl_complete-virtnet names the VMIs through kubectl, in the namespace -n names', async () => {
  const bundle = join(process.cwd(), 'dist', 'cluster', 'kubectl_complete-virtnet');
  assert.ok(existsSync(bundle), `${bundle} is built by npm run build`);
  const complete = async (...words: string[]) =>
    (await promisify(execFile)(bundle, ['--kubeconfig', kubeconfig, ...words], { encoding: 'utf8' })).stdout;
  assert.equal(await complete('describe', 'vmi', ''), 'db\nweb\n:4\n');
  assert.equal(await complete('get', 'vmis', '-n', 'team', ''), 'api\n:4\n');
  assert.equal(await complete('console', 'w'), 'web\n:4\n');
});
