/**
 * Admission with the cluster's facts, against the in-process API server:
 * the webhook (over HTTP, as the apiserver calls it) watches the Node
 * objects through controller/kube/kube.ts and refuses a masquerade VM
 * subnet that overlaps any node's pod subnet or the service CIDR, naming
 * the node and the subnet; a node added, given its subnets, or deleted
 * later counts from the moment the watch sees it. Last, `virtnet-cluster
 * webhook` itself, with its --service-cidr flags. No kernel is touched.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { startKubeTestServer, type KubeTestServer } from '../../../harness/kube/api-server.ts';
import { apiError, freePort, until } from '../../../harness/kube/testing.ts';
import { webhookValidator } from '../../../harness/lab/admission.ts';
import { KubeApi } from '../../../controller/kube/kube.ts';
import { clusterFacts, watchNodeSubnets, type NodeSubnets } from '../../../controller/control/node-subnets.ts';
import { serveWebhook } from '../../../controller/control/webhook.ts';

type Obj = Record<string, any>;
const G = { group: 'virtnet.io', version: 'v1alpha1', namespace: 'default', plural: 'virtualmachineinstances' };
let server: KubeTestServer;
let webhook: Server;
let nodes: NodeSubnets;
let core: k8s.CoreV1Api;
let custom: k8s.CustomObjectsApi;

const node = (name: string, podCIDRs?: string[]): k8s.V1Node => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name, labels: { 'kubernetes.io/hostname': name } },
  spec: podCIDRs ? { podCIDR: podCIDRs[0]!, podCIDRs } : {},
});

const vmi = (name: string, vmNetworkCIDR: string): Obj => ({
  apiVersion: 'virtnet.io/v1alpha1',
  kind: 'VirtualMachineInstance',
  metadata: { name },
  spec: {
    domain: { devices: { interfaces: [{ name: 'default', masquerade: {} }] } },
    networks: [{ name: 'default', pod: { vmNetworkCIDR } }],
  },
});
const createVmi = (body: Obj) => custom.createNamespacedCustomObject({ ...G, body });

/** The message the API server answered a refused create with. */
async function refusal(body: Obj): Promise<string> {
  const { code, status } = await apiError(createVmi(body));
  assert.equal(code, 422);
  return status.message as string;
}

before(async () => {
  server = await startKubeTestServer({ bookmarkIntervalMs: 200 });
  const kc = server.kubeConfig();
  core = kc.makeApiClient(k8s.CoreV1Api);
  custom = kc.makeApiClient(k8s.CustomObjectsApi);
  await core.createNode({ body: node('node-a', ['10.244.0.0/24', 'fd00:10:244::/64']) });
  await core.createNode({ body: node('node-b', ['10.244.1.0/24']) });
  nodes = watchNodeSubnets(new KubeApi(kc));
  webhook = await serveWebhook(0, undefined, '127.0.0.1', undefined, clusterFacts(nodes, ['10.96.0.0/12']));
  await nodes.start();
  await until(() => nodes.synced, 'the node list');
  server.onValidate = webhookValidator(`http://127.0.0.1:${(webhook.address() as AddressInfo).port}`);
});
after(async () => {
  await nodes.stop();
  await new Promise((r) => webhook.close(r));
  await server.close();
});

test(
  'a masquerade vmNetworkCIDR ' +
    "inside node-b's pod subnet is " +
    'refused, naming the field, the ' +
    'value, the node and its subnet',
  async () => {
    const message = await refusal(vmi('on-b', '10.244.1.64/26'));
    assert.equal(
      message,
      'admission webhook denied the request: VirtualMachineInstance "on-b" is invalid: ' +
        'spec.networks[0].pod.vmNetworkCIDR: "10.244.1.64/26" overlaps node "node-b"\'s pod subnet 10.244.1.0/24; ' +
        'choose a subnet outside it',
    );
    assert.equal(server.objects('virtualmachineinstances.virtnet.io').length, 0, 'nothing is stored');
  },
);

test('one overlapping the --service-cidr is refused; one clear of both is admitted and stored', async () => {
  assert.match(
    await refusal(vmi('svc', '10.100.3.0/24')),
    /spec\.networks\[0\]\.pod\.vmNetworkCIDR: "10\.100\.3\.0\/24" overlaps the service CIDR 10\.96\.0\.0\/12; choose a subnet outside it$/u,
  );
  await createVmi(vmi('clear', '192.168.50.0/24'));
  assert.deepEqual(
    server.objects('virtualmachineinstances.virtnet.io').map((o) => o.metadata.name),
    ['clear'],
  );
});

test('a node added later, given its pod subnet later, and deleted, counts from when the watch sees it', async () => {
  await core.createNode({ body: node('node-c') });
  await createVmi(vmi('before-c', '10.244.2.0/26')); // node-c has no pod subnet yet
  await core.patchNode(
    { name: 'node-c', body: { spec: { podCIDR: '10.244.2.0/24', podCIDRs: ['10.244.2.0/24'] } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  await until(() => nodes.subnets().some((s) => s.node === 'node-c'), "the watch to see node-c's subnet");
  assert.match(
    await refusal(vmi('on-c', '10.244.2.0/26')),
    /"10\.244\.2\.0\/26" overlaps node "node-c"'s pod subnet 10\.244\.2\.0\/24/u,
  );
  await core.deleteNode({ name: 'node-c' });
  await until(() => !nodes.subnets().some((s) => s.node === 'node-c'), 'the watch to see node-c go');
  await createVmi(vmi('after-c', '10.244.2.0/26'));
  assert.deepEqual(nodes.subnets(), [
    { node: 'node-a', cidr: '10.244.0.0/24' },
    { node: 'node-a', cidr: 'fd00:10:244::/64' },
    { node: 'node-b', cidr: '10.244.1.0/24' },
  ]);
});

const MAIN = join(import.meta.dirname, '../../../controller/cluster/main.ts');

/** `virtnet-cluster <args>` as a child process: its exit and its stderr. */
function cluster(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, stderr: () => stderr };
}

test('virtnet-cluster webhook: --service-cidr and the node watch reach its verdicts; bad flags exit 1 naming the ' +
  'flag and the value', {
  timeout: 30_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'webhook-cmd-'));
  try {
    const kubeconfig = server.kubeconfigFile(dir);
    const bad = cluster(['webhook', '--kubeconfig', kubeconfig, '--webhook-port', '1', '--service-cidr', '10.43.0.0']);
    assert.equal(await bad.exited, 1);
    assert.match(bad.stderr(), /error: --service-cidr "10\.43\.0\.0" is not a CIDR/u);
    const noPort = cluster(['webhook', '--kubeconfig', kubeconfig]);
    assert.equal(await noPort.exited, 1);
    assert.match(noPort.stderr(), /error: webhook: --webhook-port P is required/u);

    const port = await freePort();
    const run = cluster([
      'webhook',
      '--kubeconfig',
      kubeconfig,
      '--webhook-port',
      String(port),
      '--service-cidr',
      '10.43.0.0/16',
      '--service-cidr',
      'fd00:43::/112',
      '--log-level',
      'silent',
    ]);
    try {
      await until(
        async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200,
        'the webhook ready (its node list read)',
        20_000,
      );
      const judge = webhookValidator(`http://127.0.0.1:${port}`);
      const asked = async (cidr: string) =>
        judge({
          operation: 'CREATE',
          object: vmi('cmd', cidr),
          resource: {
            group: 'virtnet.io',
            version: 'v1alpha1',
            plural: 'virtualmachineinstances',
            kind: 'VirtualMachineInstance',
            namespaced: true,
            statusSubresource: true,
          },
        });
      assert.match(
        (await asked('10.43.7.0/24')).message ?? '',
        /"10\.43\.7\.0\/24" overlaps the service CIDR 10\.43\.0\.0\/16/u,
      );
      assert.match(
        (await asked('10.244.1.0/24')).message ?? '',
        /overlaps node "node-b"'s pod subnet 10\.244\.1\.0\/24/u,
      );
      assert.equal(
        (await asked('10.100.0.0/24')).allowed,
        true,
        'the default 10.96.0.0/12 is replaced by the flag, not added to',
      );
    } finally {
      run.child.kill('SIGTERM');
      assert.equal(await run.exited, 0, `a clean exit on SIGTERM: ${run.stderr()}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
