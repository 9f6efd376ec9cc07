/**
 * The node agent against the API: it watches only its node's launcher pods
 * (a field selector the apiserver applies) and copies each launcher's report
 * from the node onto its pod, once per change, as a JSON merge patch of that
 * one annotation (its RBAC grants patch, not update: deploy/base). A
 * malformed status.json is skipped without stopping the other reports.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { startKubeTestServer, type KubeTestServer } from '../../../harness/kube/api-server.ts';
import { until } from '../../../harness/kube/testing.ts';
import { NodeAgent } from '../../../controller/agent/node-agent.ts';
import { KubeApi } from '../../../controller/kube/kube.ts';
import { LAUNCHER_STATUS_ANNOTATION } from '../../../controller/render/pod.ts';

let server: KubeTestServer;
let dir: string;
before(async () => {
  server = await startKubeTestServer();
  dir = mkdtempSync(join(tmpdir(), 'virtnet-test-agent-'));
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

test("the node agent reports its own node's launchers onto their pods, and only those", async () => {
  const core = server.kubeConfig().makeApiClient(k8s.CoreV1Api);
  const pod = (name: string, node: string) =>
    core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name, labels: { 'virtnet.io/vmi': name } },
        spec: { nodeName: node, containers: [{ name: 'compute', image: 'x' }] },
      },
    });
  const mine = (await pod('mine', 'node-a')) as { metadata: { uid: string } };
  const theirs = (await pod('theirs', 'node-b')) as { metadata: { uid: string } };
  const status = {
    phase: 'Running',
    pid: 1,
    warnings: [],
    steps: [
      { name: 'discover', ms: 5 },
      { name: 'plan', ms: 1 },
      { name: 'network', ms: 9 },
    ],
    nics: [
      {
        name: 'default',
        binding: 'bridge',
        podInterface: 'eth0',
        bridge: 'k6t-eth0',
        tap: 'tap0',
        mac: '02:00:00:00:00:01',
        mtu: 1500,
        ips: ['10.244.0.5/24'],
        dhcp: true,
        leased4: true,
        leased6: false,
      },
    ],
  };
  const broken = (await pod('broken', 'node-a')) as { metadata: { uid: string } };
  for (const [uid, text] of [
    [broken.metadata.uid, '{"phase": "Running", "pid": 1, "warnings": [], "nics": 5, "steps": []}'],
    [mine.metadata.uid, JSON.stringify(status)],
    [theirs.metadata.uid, JSON.stringify(status)],
  ] as const) {
    mkdirSync(join(dir, 'pods', uid), { recursive: true });
    writeFileSync(join(dir, 'pods', uid, 'status.json'), text);
  }
  const conflist = {
    cniVersion: '1.1.0',
    name: 'n',
    plugins: [{ type: 'virtnet-bridge', dataDir: join(dir, 'records') }],
  };
  const agent = new NodeAgent(new KubeApi(server.kubeConfig()), {
    node: 'node-a',
    log: pino({ level: 'silent' }),
    plugin: 'dist/cni/virtnet-bridge',
    cniBinDir: join(dir, 'bin'),
    cniConfDir: join(dir, 'net.d'),
    conflist,
    stateRoot: join(dir, 'pods'),
    reportIntervalMs: 50,
  });
  const since = server.requests.length;
  await agent.start();
  try {
    const annotation = async (name: string) =>
      (
        (await core.readNamespacedPod({ name, namespace: 'default' })) as {
          metadata: { annotations?: Record<string, string> };
        }
      ).metadata.annotations?.[LAUNCHER_STATUS_ANNOTATION];
    await until(async () => (await annotation('mine')) !== undefined, 'the report on its pod', 5000);
    assert.equal(JSON.parse((await annotation('mine'))!).nics[0].leased4, true);
    const podWrites = server.requests
      .slice(since)
      .filter((r) => r.path.startsWith('/api/v1/namespaces/') && ['PUT', 'PATCH', 'POST', 'DELETE'].includes(r.method));
    assert.deepEqual(
      podWrites.map((r) => [r.method, r.path, r.contentType, r.status]),
      [['PATCH', '/api/v1/namespaces/default/pods/mine', 'application/merge-patch+json', 200]],
      'one merge patch, no read-modify-write',
    );
    const writes = () => server.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith('/pods/mine')).length;
    const before = writes();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(writes(), before, 'an unchanged report is not written again');
    assert.equal(await annotation('theirs'), undefined, "another node's pod is not this agent's");
    assert.equal(
      await annotation('broken'),
      undefined,
      'a malformed status.json is not copied (and did not stop the others)',
    );
    assert.ok(
      server.requests.some((r) => r.path === '/api/v1/pods' && r.query.includes('fieldSelector=spec.nodeName')),
      'the apiserver filters by node',
    );
    assert.match(await agent.metrics.registry.metrics(), /virtnet_dhcp_leases_total\{family="ipv4"\} 1\n/u);
  } finally {
    await agent.stop();
  }
});
