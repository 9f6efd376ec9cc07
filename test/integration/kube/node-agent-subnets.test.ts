/**
 * The node agent against the API: as the default network, its conflist
 * holds its own Node object's spec.podCIDRs (both families), so two nodes
 * hand out addresses from two subnets; a change of them rewrites it; a
 * Node with none and no --pod-cidr gets no conflist and a log line that
 * says why. It reads only its own Node (a metadata.name field selector
 * the apiserver applies), with the list and watch its ClusterRole grants.
 * No kernel: the CNI directories are scratch directories.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { startKubeTestServer, type KubeTestServer } from '../../../harness/kube/api-server.ts';
import { until } from '../../../harness/kube/testing.ts';
import { DEFAULT_NETWORK_FILE, NodeAgent, type NodeAgentOptions } from '../../../controller/agent/node-agent.ts';
import { KubeApi } from '../../../controller/kube/kube.ts';
import { podNetworkConfList } from '../../../controller/cluster/main.ts';

let server: KubeTestServer;
let core: k8s.CoreV1Api;
let dir: string;
before(async () => {
  server = await startKubeTestServer();
  core = server.kubeConfig().makeApiClient(k8s.CoreV1Api);
  dir = mkdtempSync(join(tmpdir(), 'virtnet-test-agent-subnets-'));
  mkdirSync(join(dir, 'image'));
  writeFileSync(join(dir, 'image', 'virtnet-bridge'), '#!/bin/sh\n');
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const createNode = (name: string, podCIDRs?: string[]) =>
  core.createNode({
    body: {
      metadata: { name, labels: { 'kubernetes.io/hostname': name } },
      spec: podCIDRs ? { podCIDR: podCIDRs[0]!, podCIDRs } : {},
    },
  });

/** A node agent for `node` on its own scratch CNI directories, its log lines kept. */
async function startAgent(node: string, o: Partial<NodeAgentOptions> = {}) {
  const lines: Array<Record<string, any>> = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const confDir = join(dir, node, 'net.d');
  const agent = new NodeAgent(new KubeApi(server.kubeConfig()), {
    node,
    log: pino({ level: 'info' }, sink),
    plugin: join(dir, 'image', 'virtnet-bridge'),
    cniBinDir: join(dir, node, 'bin'),
    cniConfDir: confDir,
    conflist: podNetworkConfList(),
    stateRoot: join(dir, node, 'pods'),
    defaultNetwork: true,
    nodeSyncTimeoutMs: 5000,
    ...o,
  });
  await agent.start();
  const file = join(confDir, DEFAULT_NETWORK_FILE);
  const ranges = () => (existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')).plugins[0].ipam.ranges : undefined);
  const files = () => (existsSync(confDir) ? readdirSync(confDir) : []);
  return { agent, lines, files, ranges };
}

test("each node's conflist holds its own Node's pod subnets, and follows a change of them", async () => {
  await createNode('node-a', ['10.244.1.0/24', 'fd00:10:244:1::/64']);
  await createNode('node-b', ['10.244.2.0/24', 'fd00:10:244:2::/64']);
  const since = server.requests.length;
  // A fallback flag does not win over the Node's own subnets.
  const a = await startAgent('node-a', { podCIDRs: ['10.99.0.0/24'] });
  const b = await startAgent('node-b');
  try {
    assert.deepEqual(a.ranges(), [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:10:244:1::/64' }]]);
    assert.deepEqual(b.ranges(), [[{ subnet: '10.244.2.0/24' }], [{ subnet: 'fd00:10:244:2::/64' }]]);
    assert.ok(a.lines.some((l) => l.msg === 'virtnet is the default network' && l.source === 'Node node-a'));
    const nodeReads = server.requests.slice(since).filter((r) => r.path === '/api/v1/nodes');
    assert.ok(
      nodeReads.length >= 2 && nodeReads.every((r) => /fieldSelector=metadata\.name(%3D|=)node-[ab]/u.test(r.query)),
      `each agent reads only its own Node: ${JSON.stringify(nodeReads)}`,
    );
    assert.ok(
      nodeReads.every((r) => r.method === 'GET' && r.status === 200),
      'reads only: list and watch',
    );

    const current = await core.readNode({ name: 'node-a' });
    current.spec = { ...current.spec, podCIDR: '10.244.7.0/24', podCIDRs: ['10.244.7.0/24', 'fd00:10:244:7::/64'] };
    await core.replaceNode({ name: 'node-a', body: current });
    await until(
      () => a.ranges()?.[0]?.[0]?.subnet === '10.244.7.0/24',
      "node-a's conflist rewritten with its new subnets",
    );
    assert.deepEqual(a.ranges(), [[{ subnet: '10.244.7.0/24' }], [{ subnet: 'fd00:10:244:7::/64' }]]);
    assert.deepEqual(
      b.ranges(),
      [[{ subnet: '10.244.2.0/24' }], [{ subnet: 'fd00:10:244:2::/64' }]],
      "the other node's stays",
    );
    assert.deepEqual(a.files(), [DEFAULT_NETWORK_FILE], 'rewritten in place, by rename: no temporary file left');
  } finally {
    await a.agent.stop();
    await b.agent.stop();
  }
});

test(
  'a Node without pod subnets, and no --pod-cidr: no conflist, a log line that says why; the subnets, once ' +
    'assigned, are written',
  async () => {
    await createNode('node-c');
    const c = await startAgent('node-c');
    try {
      assert.deepEqual(c.files(), []);
      const errors = c.lines.filter((l) => l.level === 50);
      assert.equal(errors.length, 1, JSON.stringify(c.lines));
      assert.equal(
        errors[0]!.msg,
        'no pod subnet for this node: Node node-c has no spec.podCIDRs (nor spec.podCIDR) and no --pod-cidr is ' +
          'given, so no default network is written (pods on this node get no network until one is)',
      );
      // The controller-manager's node IPAM assigns them later, here with the older single field only.
      const current = await core.readNode({ name: 'node-c' });
      current.spec = { podCIDR: '10.244.3.0/24' };
      await core.replaceNode({ name: 'node-c', body: current });
      await until(() => c.ranges() !== undefined, "node-c's conflist once its Node has a subnet");
      assert.deepEqual(c.ranges(), [[{ subnet: '10.244.3.0/24' }]]);
    } finally {
      await c.agent.stop();
    }
  },
);

test('a Node whose subnets break the rules: refused with the field named, the last good conflist stands', async () => {
  await createNode('node-d', ['10.244.4.0/24']);
  const d = await startAgent('node-d');
  try {
    assert.deepEqual(d.ranges(), [[{ subnet: '10.244.4.0/24' }]]);
    const current = await core.readNode({ name: 'node-d' });
    current.spec = { podCIDR: '10.244.5.9/24', podCIDRs: ['10.244.5.9/24'] };
    await core.replaceNode({ name: 'node-d', body: current });
    await until(() => d.lines.some((l) => l.msg === 'Node pod subnets refused'), 'the refusal in the log');
    assert.match(
      d.lines.find((l) => l.msg === 'Node pod subnets refused')!.err.message,
      /Node node-d spec\.podCIDRs: 10\.244\.5\.9\/24 has host bits set/u,
    );
    assert.deepEqual(d.ranges(), [[{ subnet: '10.244.4.0/24' }]]);
  } finally {
    await d.agent.stop();
  }
});

test('without --default-network the agent reads its Node but writes no conflist', async () => {
  await createNode('node-e', ['10.244.6.0/24']);
  const e = await startAgent('node-e', { defaultNetwork: false });
  try {
    assert.ok(existsSync(join(dir, 'node-e', 'bin', 'virtnet-bridge')), 'the plugin is installed');
    assert.deepEqual(e.files(), []);
  } finally {
    await e.agent.stop();
  }
});

test(
  'a Node deleted: its subnets ' +
    "are no longer this node's, so " +
    'the fallback takes over, or ' +
    'no default network is left',
  async () => {
    await createNode('node-f', ['10.244.8.0/24']);
    await createNode('node-g', ['10.244.9.0/24']);
    const f = await startAgent('node-f', { podCIDRs: ['10.99.0.0/24'] });
    const g = await startAgent('node-g');
    try {
      assert.deepEqual(f.ranges(), [[{ subnet: '10.244.8.0/24' }]]);
      assert.deepEqual(g.ranges(), [[{ subnet: '10.244.9.0/24' }]]);
      await core.deleteNode({ name: 'node-f' });
      await core.deleteNode({ name: 'node-g' });
      await until(() => f.ranges()?.[0]?.[0]?.subnet === '10.99.0.0/24', 'node-f back on its --pod-cidr');
      await until(() => g.files().length === 0, "node-g's conflist removed");
      assert.ok(g.lines.some((l) => l.msg === "removed virtnet's default network"));
    } finally {
      await f.agent.stop();
      await g.agent.stop();
    }
  },
);
