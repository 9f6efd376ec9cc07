/**
 * deploy/base/policy-node-agent-nodes.yaml, evaluated: the
 * ValidatingAdmissionPolicy's CEL runs against Node UPDATEs as the apiserver
 * runs it (policy-eval.ts, which says where it mirrors the apiserver), and
 * its verdicts are checked case by case: the node agent may set or remove its
 * own Node's two annotations, well-formed, and nothing else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { readFileSync } from 'node:fs';
import { MAX_VNI, peerNode, VTEP_MAC_ANNOTATION, VXLAN_VNIS_ANNOTATION } from '../../../controller/agent/node-peer.ts';
import { vnisAnnotation } from '../../../controller/agent/node-network.ts';
import {
  admit,
  agentOn,
  AGENT,
  assertCompiles,
  assertEveryValidationNeeded,
  assertVerdict,
  holds,
  loadManifests,
  NODE_NAME_EXTRA,
  resourcesMatch,
  type Expected,
  type Manifests,
  type Resource,
  type UserInfo,
  type Write,
} from './policy-eval.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const POLICY_FILE = join(ROOT, 'deploy/base/policy-node-agent-nodes.yaml');
const RBAC_FILE = join(ROOT, 'deploy/base/rbac-node-agent.yaml');
const loaded = () => loadManifests(POLICY_FILE);

/** Nodes: core/v1, cluster-scoped; status.capacity and allocatable are maps (of quantities, strings once converted). */
const NODES: Resource = {
  group: '',
  version: 'v1',
  resource: 'nodes',
  kind: 'Node',
  namespaced: false,
  mapFields: new Set(['annotations', 'labels', 'capacity', 'allocatable']),
};

// ---------------------------------------------------------------- fixtures

interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}
interface Node {
  apiVersion: 'v1';
  kind: 'Node';
  metadata: {
    name: string;
    uid: string;
    resourceVersion: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string }>;
    finalizers?: string[];
    managedFields?: Array<{ manager: string; operation: string; time: string; subresource?: string }>;
  };
  // unschedulable is a plain bool (omitempty): only true is ever set here, as the converter drops false.
  spec: { podCIDR?: string; podCIDRs?: string[]; providerID?: string; taints?: Taint[]; unschedulable?: boolean };
  status: {
    addresses: Array<{ type: string; address: string }>;
    capacity: Record<string, string>;
    allocatable: Record<string, string>;
    nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string; osImage: string; architecture: string };
  };
}

/** node-a as a kubeadm cluster registers it, with the agent's annotations already published. */
function nodeA(): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: 'node-a',
      uid: '7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f',
      resourceVersion: '90211',
      labels: { 'kubernetes.io/hostname': 'node-a', 'kubernetes.io/os': 'linux', 'node-role.kubernetes.io/worker': '' },
      annotations: {
        'kubeadm.alpha.kubernetes.io/cri-socket': 'unix:///run/containerd/containerd.sock',
        'node.alpha.kubernetes.io/ttl': '0',
        'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
        [VTEP_MAC_ANNOTATION]: 'be:3f:21:7a:0c:15',
        [VXLAN_VNIS_ANNOTATION]: '42,100',
      },
      managedFields: [{ manager: 'kubelet', operation: 'Update', time: '2026-12-01T21:00:00Z', subresource: 'status' }],
    },
    spec: {
      podCIDR: '10.244.1.0/24',
      podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'],
      providerID: 'kind://docker/kind/node-a',
      taints: [{ key: 'dedicated', value: 'vms', effect: 'NoSchedule' }],
    },
    status: {
      addresses: [
        { type: 'InternalIP', address: '172.18.0.3' },
        { type: 'Hostname', address: 'node-a' },
      ],
      capacity: { cpu: '8', memory: '16318452Ki', pods: '110' },
      allocatable: { cpu: '8', memory: '16216052Ki', pods: '110' },
      nodeInfo: {
        kubeletVersion: 'v1.31.2',
        containerRuntimeVersion: 'containerd://1.7.18',
        osImage: 'Debian GNU/Linux 12 (bookworm)',
        architecture: 'amd64',
      },
    },
  };
}

/** The Node after a write: the change, and the apiserver recording the writer in managedFields. */
function written(old: Node, change: (n: Node) => void): Node {
  const node = structuredClone(old);
  change(node);
  node.metadata.managedFields = [
    ...(node.metadata.managedFields ?? []),
    { manager: 'virtnet-cluster', operation: 'Update', time: '2026-12-01T22:05:00Z' },
  ];
  return node;
}

/** A JSON merge patch of annotations (RFC 7386): a null removes one; an empty result leaves no annotations. */
function patch(annotations: Record<string, string | null>): (n: Node) => void {
  return (n) => {
    const merged: Record<string, string> = { ...n.metadata.annotations };
    for (const [k, v] of Object.entries(annotations)) {
      if (v === null) delete merged[k];
      else merged[k] = v;
    }
    if (Object.keys(merged).length) n.metadata.annotations = merged;
    else delete n.metadata.annotations;
  };
}

const withoutOurs = () => written(nodeA(), patch({ [VTEP_MAC_ANNOTATION]: null, [VXLAN_VNIS_ANNOTATION]: null }));
const bare = () => written(nodeA(), (n) => delete n.metadata.annotations);

/** The agent on node-a changes node-a with `change`. */
function ownNode(change: (n: Node) => void, old = nodeA()): Write {
  return { user: agentOn('node-a'), oldObject: old, object: written(old, change) };
}
const as = (user: UserInfo, w: Write): Write => ({ ...w, user });
const mac = (value: string) => ownNode(patch({ [VTEP_MAC_ANNOTATION]: value }));
const vnis = (value: string) => ownNode(patch({ [VXLAN_VNIS_ANNOTATION]: value }));
const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

interface Case extends Expected {
  name: string;
  write: Write;
}

const MAC_RULE = /virtnet\.io\/vtep-mac must be a unicast MAC address in lower case/u;
const VNIS_RULE = /virtnet\.io\/vxlan-vnis must be at most 4096 VNIs/u;

/** VTEP MACs the agent could write, and the hostile ones. */
const GOOD_MACS = ['02:42:ac:12:00:03', 'be:3f:21:7a:0c:15', '00:00:00:00:00:01', 'fe:ff:ff:ff:ff:ff'];
const BAD_MACS = [
  '02:42:AC:12:00:03',
  'BE:3F:21:7A:0C:15',
  '01:00:5e:00:00:fb',
  '33:33:00:00:00:01',
  'ff:ff:ff:ff:ff:ff',
  '03:00:00:00:00:00',
  '00:00:00:00:00:00',
  '',
  'not-a-mac',
  '02-42-ac-12-00-03',
  '0242.ac12.0003',
  '02:42:ac:12:00',
  '02:42:ac:12:00:03:04',
  '02:42:ac:12:00:03\n',
  ' 02:42:ac:12:00:03',
  '02:42:ac:12:00:0g',
  '2:42:ac:12:0:3',
  'a'.repeat(200_000),
];
/** VNI lists the agent could write (as vnisAnnotation makes them), and the hostile ones. */
const GOOD_VNIS = [[42], [0], [MAX_VNI], [1, 42, 100], range(10_000_000, 4096)].map(vnisAnnotation);
const BAD_VNIS = [
  '1, 2',
  ' 1',
  '1 ',
  'a',
  '1,b',
  '0x10',
  '1.5',
  '-1',
  '+1',
  '007',
  '1,,2',
  '1,',
  ',1',
  '',
  '1\n',
  '1;2',
  String(MAX_VNI + 1),
  '99999999',
  '123456789',
  '4294967338',
  vnisAnnotation(range(1, 4097)),
  `${'1,'.repeat(150_000)}1`,
];

const CASES: Case[] = [
  // Allowed: its own Node's two annotations, set, changed, removed.
  {
    name: 'both annotations changed',
    write: ownNode(patch({ [VTEP_MAC_ANNOTATION]: '02:42:ac:12:00:03', [VXLAN_VNIS_ANNOTATION]: '1,42,100' })),
    allowed: true,
  },
  { name: 'the VTEP MAC alone changed', write: mac('02:42:ac:12:00:03'), allowed: true },
  {
    name: 'both added to a Node without them',
    write: ownNode(patch({ [VTEP_MAC_ANNOTATION]: '02:42:ac:12:00:03', [VXLAN_VNIS_ANNOTATION]: '7' }), withoutOurs()),
    allowed: true,
  },
  {
    name: 'both added to a Node without annotations',
    write: ownNode(patch({ [VTEP_MAC_ANNOTATION]: '02:42:ac:12:00:03', [VXLAN_VNIS_ANNOTATION]: '7' }), bare()),
    allowed: true,
  },
  {
    name: 'both removed',
    write: ownNode(patch({ [VTEP_MAC_ANNOTATION]: null, [VXLAN_VNIS_ANNOTATION]: null })),
    allowed: true,
  },
  { name: 'the VNIs removed, the MAC kept', write: ownNode(patch({ [VXLAN_VNIS_ANNOTATION]: null })), allowed: true },
  {
    name: 'both removed, leaving no annotations',
    write: ownNode(
      patch({ [VTEP_MAC_ANNOTATION]: null, [VXLAN_VNIS_ANNOTATION]: null }),
      written(bare(), patch({ [VTEP_MAC_ANNOTATION]: 'be:3f:21:7a:0c:15' })),
    ),
    allowed: true,
  },
  { name: 'nothing changed', write: ownNode(() => {}), allowed: true },
  ...GOOD_MACS.map((v): Case => ({ name: `VTEP MAC ${v}`, write: mac(v), allowed: true })),
  ...GOOD_VNIS.map(
    (v): Case => ({
      name: `VNIs ${v.length > 40 ? `${v.slice(0, 40)}… (${v.length} characters)` : v}`,
      write: vnis(v),
      allowed: true,
    }),
  ),
  // The node.
  {
    name: "another node's Node",
    write: as(agentOn('node-b'), ownNode(patch({ [VTEP_MAC_ANNOTATION]: '02:42:ac:12:00:03' }))),
    allowed: false,
    says: /of node node-b may change only that Node, not node-a/u,
  },
  {
    name: "another node's annotations removed",
    write: as(agentOn('node-b'), ownNode(patch({ [VTEP_MAC_ANNOTATION]: null, [VXLAN_VNIS_ANNOTATION]: null }))),
    allowed: false,
    says: /may change only that Node/u,
  },
  {
    name: 'a token without node-name (other extras kept)',
    write: as(agentOn(undefined), mac('02:42:ac:12:00:03')),
    allowed: false,
    says: /names no node/u,
  },
  {
    name: 'a token without any extra (impersonation, legacy Secret token)',
    write: as(
      { username: AGENT, groups: ['system:serviceaccounts', 'system:authenticated'] },
      mac('02:42:ac:12:00:03'),
    ),
    allowed: false,
    says: /names no node/u,
  },
  {
    name: 'an empty node-name',
    write: as(agentOn(''), mac('02:42:ac:12:00:03')),
    allowed: false,
    says: /names no node/u,
  },
  {
    name: 'node-name given twice',
    write: as(agentOn('node-a', { [NODE_NAME_EXTRA]: ['node-a', 'node-b'] }), mac('02:42:ac:12:00:03')),
    allowed: false,
    says: /names no node/u,
  },
  {
    name: 'node-name with no value',
    write: as(agentOn('node-a', { [NODE_NAME_EXTRA]: [] }), mac('02:42:ac:12:00:03')),
    allowed: false,
    says: /names no node/u,
  },
  // Other annotations.
  {
    name: 'another annotation changed',
    write: ownNode(patch({ 'node.alpha.kubernetes.io/ttl': '30' })),
    allowed: false,
    says: /may change only the Node annotations virtnet\.io\/vtep-mac, virtnet\.io\/vxlan-vnis/u,
  },
  {
    name: 'another annotation added',
    write: ownNode(patch({ 'flannel.alpha.coreos.com/backend-data': '{"VNI":1,"VtepMAC":"02:42:ac:12:00:03"}' })),
    allowed: false,
    says: /may change only the Node annotations/u,
  },
  {
    name: 'another annotation removed',
    write: ownNode(patch({ 'volumes.kubernetes.io/controller-managed-attach-detach': null })),
    allowed: false,
    says: /may change only the Node annotations/u,
  },
  {
    name: 'another annotation removed with ours changed',
    write: ownNode(patch({ 'node.alpha.kubernetes.io/ttl': null, [VTEP_MAC_ANNOTATION]: '02:42:ac:12:00:03' })),
    allowed: false,
  },
  { name: 'every annotation removed', write: ownNode((n) => delete n.metadata.annotations), allowed: false },
  {
    name: 'an annotation added to a Node without annotations',
    write: ownNode(patch({ 'virtnet.io/extra': 'x' }), bare()),
    allowed: false,
  },
  // Labels, owners, finalizers.
  {
    name: 'a label changed',
    write: ownNode((n) => {
      n.metadata.labels = { ...n.metadata.labels, 'kubernetes.io/hostname': 'node-b' };
    }),
    allowed: false,
    says: /labels, owner references or finalizers/u,
  },
  {
    name: 'a label added',
    write: ownNode((n) => {
      n.metadata.labels = { ...n.metadata.labels, 'node-role.kubernetes.io/control-plane': '' };
    }),
    allowed: false,
  },
  { name: 'every label removed', write: ownNode((n) => delete n.metadata.labels), allowed: false },
  {
    name: 'labels added to a Node without labels',
    write: ownNode(
      (n) => {
        n.metadata.labels = { x: 'y' };
      },
      written(nodeA(), (n) => delete n.metadata.labels),
    ),
    allowed: false,
  },
  {
    name: 'an owner reference added',
    write: ownNode((n) => {
      n.metadata.ownerReferences = [
        { apiVersion: 'v1', kind: 'Namespace', name: 'kube-system', uid: '1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e' },
      ];
    }),
    allowed: false,
    says: /labels, owner references or finalizers/u,
  },
  {
    name: 'a finalizer added',
    write: ownNode((n) => {
      n.metadata.finalizers = ['virtnet.io/hold'];
    }),
    allowed: false,
  },
  // The spec.
  {
    name: 'the pod subnets changed',
    write: ownNode((n) => {
      n.spec.podCIDRs = ['10.0.0.0/8'];
      n.spec.podCIDR = '10.0.0.0/8';
    }),
    allowed: false,
    says: /may not change a Node's spec/u,
  },
  {
    name: 'a taint removed',
    write: ownNode((n) => delete n.spec.taints),
    allowed: false,
    says: /may not change a Node's spec/u,
  },
  {
    name: 'a taint added',
    write: ownNode((n) => {
      n.spec.taints = [...n.spec.taints!, { key: 'x', effect: 'NoExecute' }];
    }),
    allowed: false,
  },
  {
    name: 'cordoned',
    write: ownNode((n) => {
      n.spec.unschedulable = true;
    }),
    allowed: false,
  },
  {
    name: 'the provider ID changed',
    write: ownNode((n) => {
      n.spec.providerID = 'kind://docker/kind/node-b';
    }),
    allowed: false,
  },
  // Hostile values, each alone and each with the other annotation well-formed.
  ...BAD_MACS.map(
    (v): Case => ({
      name: `VTEP MAC ${JSON.stringify(v.slice(0, 40))}${v.length > 40 ? `… (${v.length} characters)` : ''}`,
      write: mac(v),
      allowed: false,
      says: MAC_RULE,
    }),
  ),
  ...BAD_VNIS.map(
    (v): Case => ({
      name: `VNIs ${JSON.stringify(v.slice(0, 40))}${v.length > 40 ? `… (${v.length} characters)` : ''}`,
      write: vnis(v),
      allowed: false,
      says: VNIS_RULE,
    }),
  ),
  {
    name: 'a bad MAC added with good VNIs to a Node without them',
    write: ownNode(patch({ [VTEP_MAC_ANNOTATION]: '01:00:5e:00:00:fb', [VXLAN_VNIS_ANNOTATION]: '7' }), withoutOurs()),
    allowed: false,
    says: MAC_RULE,
  },
  // Other writers: the policy is not theirs.
  {
    name: "the kubelet of node-b changes node-a's labels",
    write: as(
      { username: 'system:node:node-b', groups: ['system:nodes'] },
      ownNode((n) => {
        n.metadata.labels = { x: 'y' };
      }),
    ),
    allowed: true,
    matched: false,
  },
  {
    name: 'the controller',
    write: as({ username: 'system:serviceaccount:virtnet-system:virtnet-controller' }, mac('01:00:5e:00:00:fb')),
    allowed: true,
    matched: false,
  },
  {
    name: 'a same-named ServiceAccount of another namespace',
    write: as({ ...agentOn('node-b'), username: 'system:serviceaccount:tenant-a:virtnet-node-agent' }, mac('x')),
    allowed: true,
    matched: false,
  },
  // Writes the policy does not see (the agent's RBAC grants none of them: see the RBAC test below).
  { name: 'nodes/status', write: { ...mac('x'), subResource: 'status' }, allowed: true, matched: false },
  { name: 'a DELETE', write: { ...ownNode(() => {}), operation: 'DELETE' }, allowed: true, matched: false },
];

// ------------------------------------------------------------------- tests

test('every expression compiles with the variables the apiserver binds, and only cel-js built-ins', () => {
  assertCompiles(loaded().policy);
});

test('the writable annotations are exactly those node-peer.ts names, and the VNI bound is its MAX_VNI', () => {
  const { policy } = loaded();
  const writable = policy.spec.variables?.find((v) => v.name === 'writable')?.expression;
  assert.ok(writable, 'a variable named writable');
  assert.deepEqual(JSON.parse(writable.replaceAll("'", '"')), [VTEP_MAC_ANNOTATION, VXLAN_VNIS_ANNOTATION]);
  assert.ok(
    policy.spec.validations.some((v) => v.expression.includes(`<= ${MAX_VNI})`)),
    `a validation bounds each VNI by ${MAX_VNI}`,
  );
});

test('the binding enforces the policy on every Node, whatever its labels', () => {
  const { policy, binding } = loaded();
  assert.equal(binding.spec.policyName, policy.metadata.name);
  assert.deepEqual(binding.spec.validationActions, ['Deny'], 'Warn or Audit alone would let every write through');
  assert.equal(binding.spec.paramRef, undefined);
  for (const labels of [
    undefined,
    {},
    { 'virtnet.io/exempt': 'true' },
    { 'node-role.kubernetes.io/control-plane': '' },
  ]) {
    const old = nodeA();
    if (labels) old.metadata.labels = labels;
    else delete old.metadata.labels;
    const w = as(agentOn('node-b'), ownNode(patch({ [VTEP_MAC_ANNOTATION]: '02:42:ac:12:00:03' }), old));
    assert.ok(
      resourcesMatch(policy.spec.matchConstraints, NODES, w) && resourcesMatch(binding.spec.matchResources, NODES, w),
      `labels ${JSON.stringify(labels)}`,
    );
  }
  for (const m of [policy.spec.matchConstraints, binding.spec.matchResources])
    assert.equal(m?.objectSelector, undefined, 'every Node');
});

test('RBAC: every Node write the agent may make is an UPDATE of the main resource, which the policy sees', () => {
  interface Role {
    kind: string;
    metadata: { name: string };
    rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }>;
  }
  const role = parseAllDocuments(readFileSync(RBAC_FILE, 'utf8'))
    .map((d) => d.toJS() as Role)
    .find((o) => o.kind === 'ClusterRole');
  assert.ok(role, `${RBAC_FILE}: a ClusterRole`);
  const onNodes = role.rules.filter(
    (r) => r.apiGroups.includes('') && r.resources.some((x) => x === 'nodes' || x.startsWith('nodes/')),
  );
  assert.ok(
    onNodes.every((r) => r.resources.every((x) => !x.startsWith('nodes/'))),
    'no Node subresource (nodes/status is not matched)',
  );
  const verbs = new Set(onNodes.flatMap((r) => r.verbs));
  assert.ok(verbs.has('patch'), 'the agent patches its Node');
  for (const v of verbs)
    assert.ok(
      ['get', 'list', 'watch', 'patch'].includes(v),
      `verb ${v} on nodes: a create or delete is not matched by the policy, an update replaces the whole Node`,
    );
});

for (const c of CASES) {
  test(`${c.allowed ? 'allowed' : 'denied'}: ${c.name}`, () => assertVerdict(admit(loaded(), NODES, c.write), c));
}

test(
  'every validation is needed: without any one of them, a case fails (a write gets through, or is refused without ' +
    'saying why)',
  () => {
    const full = loaded();
    const failsWithout = (m: Manifests) => CASES.some((c) => !holds(c, admit(m, NODES, c.write)));
    assertEveryValidationNeeded(full, failsWithout);
    // The node comparison in particular: with it gone, another node's Node is open.
    const policy = structuredClone(full.policy);
    for (const v of policy.spec.validations)
      v.expression = v.expression.replace('object.metadata.name == variables.nodeName', 'true');
    assert.equal(
      admit({ policy, binding: full.binding }, NODES, CASES.find((c) => c.name === "another node's Node")!.write)
        .allowed,
      true,
    );
  },
);

test('what the policy admits, node-peer.ts reads on the other nodes without a problem', () => {
  const annotationProblems = (w: Write) => peerNode(w.object).problems.filter((p) => p.includes('annotation'));
  for (const w of [...GOOD_MACS.map(mac), ...GOOD_VNIS.map(vnis), ...BAD_MACS.map(mac), ...BAD_VNIS.map(vnis)]) {
    if (admit(loaded(), NODES, w).allowed)
      assert.deepEqual(annotationProblems(w), [], JSON.stringify(w.object.metadata).slice(0, 300));
  }
});
