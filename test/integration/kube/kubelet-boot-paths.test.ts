/**
 * The kubelet role checks a launcher pod's spec itself (issue 11, defect 3):
 * anyone who may create a pod labelled as a VMI's reaches it, so the boot
 * files must lie in the node's allowed directories and the spec must have
 * the launcher's shape. A refused pod is Failed, and nothing is made for it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { startKubeTestServer, type KubeTestServer } from '../../../harness/kube/api-server.ts';
import { until } from '../../../harness/kube/testing.ts';
import { KubeApi } from '../../../controller/kube/kube.ts';
import { PodRunner } from '../../../controller/agent/kubelet.ts';
import { NodeRuntime } from '../../../controller/node/runtime.ts';
import { nodeConfig } from '../../../controller/node/config.ts';
import { LAUNCHER_SPEC_ANNOTATION, VMI_LABEL } from '../../../controller/render/pod.ts';

let server: KubeTestServer;
let dir: string;
let runner: PodRunner;
before(async () => {
  server = await startKubeTestServer();
  dir = mkdtempSync(join(tmpdir(), 'virtnet-test-kubelet-'));
  mkdirSync(join(dir, 'images'));
  writeFileSync(join(dir, 'outside.raw'), 'x');
  const rt = new NodeRuntime(nodeConfig({ stateDir: join(dir, 'state'), allowedHostPaths: [join(dir, 'images')] }));
  runner = new PodRunner(new KubeApi(server.kubeConfig()), rt, 'node-a', pino({ level: 'silent' }));
  await runner.start();
});
after(async () => {
  await runner.stop();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const spec = (boot: unknown, disks?: unknown) =>
  JSON.stringify({
    name: 'vm',
    namespace: 'default',
    memoryMiB: 64,
    cpus: 1,
    interfaces: [],
    networks: [],
    boot,
    ...(disks !== undefined && { disks }),
  });

for (const [what, annotation, rule] of [
  [
    'a disk outside the allowed directories',
    () =>
      spec({ firmware: 'bios' }, [
        { name: 'root', file: join(dir, 'outside.raw'), format: 'raw', device: 'disk', bus: 'virtio' },
      ]),
    /disks\[0\]\.file: ".*outside\.raw" is outside the directories/u,
  ],
  [
    'a kernel that escapes by ..',
    () => spec({ kernel: `${join(dir, 'images')}/../outside.raw` }),
    /boot\.kernel: .* must be a normalised path/u,
  ],
  ['a spec of the wrong shape', () => JSON.stringify({ name: 5 }), /spec name: must be a non-empty string/u],
  ['a spec that is not JSON', () => '{', /not JSON/u],
] as const) {
  test(`a pod with ${what} is Failed and gets no sandbox`, async () => {
    const core = server.kubeConfig().makeApiClient(k8s.CoreV1Api);
    const name = `p${Math.random().toString(36).slice(2, 8)}`;
    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name, labels: { [VMI_LABEL]: name }, annotations: { [LAUNCHER_SPEC_ANNOTATION]: annotation() } },
        spec: { nodeName: 'node-a', containers: [{ name: 'compute', image: 'x' }] },
      },
    });
    const read = async () =>
      (await core.readNamespacedPod({ name, namespace: 'default' })) as {
        status?: { phase?: string; message?: string };
      };
    await until(async () => (await read()).status?.phase === 'Failed', 'the pod Failed', 5000);
    assert.match((await read()).status?.message ?? '', rule);
    const vmis = join(dir, 'state', 'vmis');
    assert.deepEqual(
      existsSync(vmis) ? readdirSync(vmis).flatMap((ns) => readdirSync(join(vmis, ns))) : [],
      [],
      'no record, no sandbox',
    );
  });
}
