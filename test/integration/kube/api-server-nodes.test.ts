// The test API server's Node resource (core v1, cluster-scoped, with a
// status subresource), driven through @kubernetes/client-node as the node
// agent, the webhook and kubectl use it: discovery names it, a kubelet's
// registration keeps its status, the spec and the status are written apart,
// and the field selectors are the ones kube-apiserver registers for nodes
// (pkg/registry/core/node: metadata.name and spec.unschedulable).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { startKubeTestServer } from '../../../harness/kube/api-server.ts';
import { apiError, collectWatch } from '../../../harness/kube/testing.ts';

const TIMEOUT = { timeout: 20_000 };

test(
  'nodes: discovery, create with status, list by field selector, spec and status written apart, watch, delete',
  TIMEOUT,
  async () => {
    const s = await startKubeTestServer();
    try {
      const kc = s.kubeConfig();
      const core = kc.makeApiClient(k8s.CoreV1Api);
      const resources = (await (await fetch(`${s.url}/api/v1`)).json()) as {
        resources: Array<{ name: string; namespaced: boolean; kind: string; verbs: string[] }>;
      };
      const node = resources.resources.find((r) => r.name === 'nodes');
      assert.deepEqual(node && { namespaced: node.namespaced, kind: node.kind }, { namespaced: false, kind: 'Node' });
      assert.ok(node!.verbs.includes('watch') && node!.verbs.includes('list'));
      assert.ok(
        resources.resources.some((r) => r.name === 'nodes/status'),
        'the status subresource is listed',
      );

      const ready = {
        conditions: [{ type: 'Ready', status: 'True' }],
        addresses: [{ type: 'InternalIP', address: '192.168.50.11' }],
      };
      const a = await core.createNode({
        body: {
          metadata: { name: 'node-a', labels: { 'kubernetes.io/hostname': 'node-a' } },
          spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'] },
          status: ready,
        },
      });
      assert.equal(a.metadata?.namespace, undefined, 'cluster-scoped');
      assert.equal(
        a.status?.addresses?.[0]?.address,
        '192.168.50.11',
        'a kubelet registers its Node with its status, and keeps it',
      );
      await core.createNode({ body: { metadata: { name: 'node-b' }, spec: { unschedulable: true } } });

      const names = (l: k8s.V1NodeList) => l.items.map((n) => n.metadata?.name);
      assert.deepEqual(names(await core.listNode({ fieldSelector: 'metadata.name=node-a' })), ['node-a']);
      assert.deepEqual(names(await core.listNode({ fieldSelector: 'spec.unschedulable=true' })), ['node-b']);
      assert.deepEqual(
        names(await core.listNode({ fieldSelector: 'spec.unschedulable=false' })),
        ['node-a'],
        'an absent spec.unschedulable selects as false, as GetAttrs renders it',
      );
      assert.deepEqual(names(await core.listNode({ labelSelector: 'kubernetes.io/hostname=node-a' })), ['node-a']);
      const refused = await apiError(core.listNode({ fieldSelector: 'spec.podCIDR=10.244.1.0/24' }));
      assert.equal(refused.code, 400);
      assert.match(refused.status.message, /field label not supported: spec\.podCIDR/u);

      // A write of the main resource keeps the status; one of /status keeps the spec.
      const w = collectWatch(kc, '/api/v1/nodes', { fieldSelector: 'metadata.name=node-a' });
      const fresh = await core.readNode({ name: 'node-a' });
      const replaced = await core.replaceNode({
        name: 'node-a',
        body: { ...fresh, spec: { podCIDR: '10.244.7.0/24', podCIDRs: ['10.244.7.0/24'] }, status: {} },
      });
      assert.deepEqual(replaced.spec?.podCIDRs, ['10.244.7.0/24']);
      assert.equal(replaced.status?.addresses?.[0]?.address, '192.168.50.11', 'a spec write keeps the status');
      const statusWrite = await core.replaceNodeStatus({
        name: 'node-a',
        body: {
          ...replaced,
          spec: {},
          status: { ...replaced.status, addresses: [{ type: 'InternalIP', address: '192.168.50.12' }] },
        },
      });
      assert.deepEqual(statusWrite.spec?.podCIDRs, ['10.244.7.0/24'], 'a status write keeps the spec');
      assert.equal(statusWrite.status?.addresses?.[0]?.address, '192.168.50.12');
      await w.waitFor(3);
      // Without a resourceVersion a watch starts with the current state (ADDED), then the changes.
      assert.deepEqual(
        w.events.map((e) => [e.type, e.object.metadata.name]),
        [
          ['ADDED', 'node-a'],
          ['MODIFIED', 'node-a'],
          ['MODIFIED', 'node-a'],
        ],
        'a watch by name sees that node only',
      );
      await w.stop();

      await core.deleteNode({ name: 'node-b' });
      assert.deepEqual(names(await core.listNode()), ['node-a']);
    } finally {
      await s.close();
    }
  },
);
