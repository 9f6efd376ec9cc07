/**
 * deploy/base/policy-node-agent.yaml, evaluated: the ValidatingAdmissionPolicy's
 * CEL runs against pod UPDATEs as the apiserver runs it (policy-eval.ts, which
 * says where it mirrors the apiserver), and its verdicts are checked case by case.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  admit as admitWrite,
  agentOn,
  AGENT,
  assertCompiles,
  assertEveryValidationNeeded,
  assertVerdict,
  holds,
  loadManifests,
  NODE_NAME_EXTRA,
  resourcesMatch as writeMatches,
  type Manifests,
  type MatchResources,
  type Resource,
  type UserInfo,
  type Verdict,
} from './policy-eval.ts';

const ROOT = resolve(import.meta.dirname, '../../..');

/**
 * The names the launcher pod carries, read from controller/render/pod.ts as
 * text: importing it would load the whole controller, which this test needs
 * none of.
 */
function renderConstant(name: string): string {
  const value = new RegExp(`export const ${name} = '([^']+)'`, 'u').exec(
    readFileSync(join(ROOT, 'controller/render/pod.ts'), 'utf8'),
  )?.[1];
  assert.ok(value, `controller/render/pod.ts: ${name} not found`);
  return value;
}
const LAUNCHER_SPEC_ANNOTATION = renderConstant('LAUNCHER_SPEC_ANNOTATION');
const LAUNCHER_STATUS_ANNOTATION = renderConstant('LAUNCHER_STATUS_ANNOTATION');
const VMI_LABEL = renderConstant('VMI_LABEL');
const POLICY_FILE = join(ROOT, 'deploy/base/policy-node-agent.yaml');

const loaded = () => loadManifests(POLICY_FILE);

// ------------------------------------------------------ what the apiserver sees

interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}
interface Pod {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
    finalizers?: string[];
    managedFields?: Array<{ manager: string; operation: string; time: string }>;
  };
  spec: {
    nodeName?: string;
    containers: Array<{ name: string; image: string; ports?: Array<{ containerPort: number; protocol: string }> }>;
    terminationGracePeriodSeconds?: number;
    tolerations?: Array<{ key?: string; operator: string; effect?: string }>;
  };
  status: { phase: string };
}
interface Attempt {
  user: UserInfo;
  oldPod: Pod;
  pod: Pod;
  operation?: 'CREATE' | 'UPDATE' | 'DELETE';
  subResource?: string;
}

/** Pods: core/v1, namespaced; the map-typed fields the fixtures use are annotations and labels. */
const PODS: Resource = {
  group: '',
  version: 'v1',
  resource: 'pods',
  kind: 'Pod',
  namespaced: true,
  mapFields: new Set(['annotations', 'labels']),
};

const asWrite = (a: Attempt) => ({
  user: a.user,
  oldObject: a.oldPod,
  object: a.pod,
  subResource: a.subResource,
  ...(a.operation && { operation: a.operation }),
});
const admit = (m: Manifests, a: Attempt): Verdict => admitWrite(m, PODS, asWrite(a));
const resourcesMatch = (m: MatchResources | undefined, a: Attempt): boolean => writeMatches(m, PODS, asWrite(a));

// ---------------------------------------------------------------- fixtures

/** A launcher pod as controller/render/pod.ts makes it, scheduled onto node-a, with a launcher report. */
function launcherPod(): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'virt-launcher-vm1-q8z4d',
      namespace: 'tenant-a',
      uid: '1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9',
      resourceVersion: '48213',
      labels: { [VMI_LABEL]: 'vm1', 'app.kubernetes.io/component': 'virt-launcher' },
      annotations: {
        [LAUNCHER_SPEC_ANNOTATION]: '{"name":"vm1","memoryMiB":512}',
        'k8s.v1.cni.cncf.io/networks': '[{"name":"sec","interface":"net1"}]',
        [LAUNCHER_STATUS_ANNOTATION]: '{"phase":"Starting"}',
      },
      ownerReferences: [
        {
          apiVersion: 'virtnet.io/v1alpha1',
          kind: 'VirtualMachineInstance',
          name: 'vm1',
          uid: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      managedFields: [{ manager: 'virtnet-controller', operation: 'Update', time: '2026-12-01T22:00:00Z' }],
    },
    spec: {
      nodeName: 'node-a',
      containers: [
        { name: 'launcher', image: 'ghcr.io/virtnet/virtnet:0.1.0', ports: [{ containerPort: 9100, protocol: 'TCP' }] },
      ],
      terminationGracePeriodSeconds: 30,
    },
    status: { phase: 'Running' },
  };
}

/**
 * The pod after a write: the change, plus what the apiserver itself does
 * before validating admission (it records the writer in managedFields).
 */
function written(old: Pod, change: (p: Pod) => void): Pod {
  const pod = structuredClone(old);
  change(pod);
  pod.metadata.managedFields = [
    ...(pod.metadata.managedFields ?? []),
    { manager: 'virtnet-node-agent', operation: 'Update', time: '2026-12-01T22:05:00Z' },
  ];
  return pod;
}

function setAnnotation(key: string, value: string | undefined): (p: Pod) => void {
  return (p) => {
    const annotations = { ...p.metadata.annotations };
    if (value === undefined) delete annotations[key];
    else annotations[key] = value;
    p.metadata.annotations = annotations;
  };
}

const reportStatus = setAnnotation(LAUNCHER_STATUS_ANNOTATION, '{"phase":"Running","nics":[]}');

/** The agent on node-a patches the pod of node-a with `change`. */
function ownNode(change: (p: Pod) => void, old = launcherPod()): Attempt {
  return { user: agentOn('node-a'), oldPod: old, pod: written(old, change) };
}

interface Case {
  name: string;
  attempt: Attempt;
  allowed: boolean;
  matched?: boolean;
  says?: RegExp;
}

const CASES: Case[] = [
  // Allowed: the launcher report, on the agent's own node.
  { name: 'own node, launcher-status changed', attempt: ownNode(reportStatus), allowed: true },
  {
    name: 'own node, launcher-status added to a pod without it',
    attempt: ownNode(reportStatus, written(launcherPod(), setAnnotation(LAUNCHER_STATUS_ANNOTATION, undefined))),
    allowed: true,
  },
  {
    name: 'own node, launcher-status added to a pod without annotations',
    attempt: ownNode(
      reportStatus,
      written(launcherPod(), (p) => delete p.metadata.annotations),
    ),
    allowed: true,
  },
  {
    name: 'own node, launcher-status removed',
    attempt: ownNode(setAnnotation(LAUNCHER_STATUS_ANNOTATION, undefined)),
    allowed: true,
  },
  { name: 'own node, nothing changed', attempt: ownNode(() => {}), allowed: true },
  // The node.
  {
    name: "another node's pod",
    attempt: { ...ownNode(reportStatus), user: agentOn('node-b') },
    allowed: false,
    says: /of node node-b may change only pods bound to that node/u,
  },
  {
    name: 'a pod bound to no node yet',
    attempt: ownNode(
      reportStatus,
      written(launcherPod(), (p) => delete p.spec.nodeName),
    ),
    allowed: false,
    says: /may change only pods bound to that node/u,
  },
  {
    name: "moving the pod to the agent's node",
    attempt: ownNode(
      (p) => {
        p.spec.nodeName = 'node-a';
      },
      written(launcherPod(), (p) => {
        p.spec.nodeName = 'node-b';
      }),
    ),
    allowed: false,
  },
  {
    name: 'a token without node-name (other extras kept)',
    attempt: { ...ownNode(reportStatus), user: agentOn(undefined) },
    allowed: false,
    says: /names no node/u,
  },
  {
    name: 'a token without any extra (impersonation, legacy Secret token)',
    attempt: {
      ...ownNode(reportStatus),
      user: { username: AGENT, groups: ['system:serviceaccounts', 'system:authenticated'] },
    },
    allowed: false,
    says: /names no node/u,
  },
  {
    name: 'an empty node-name, on a pod bound to no node',
    attempt: {
      ...ownNode(
        reportStatus,
        written(launcherPod(), (p) => delete p.spec.nodeName),
      ),
      user: agentOn(''),
    },
    allowed: false,
    says: /names no node/u,
  },
  {
    name: 'node-name given twice',
    attempt: { ...ownNode(reportStatus), user: agentOn('node-a', { [NODE_NAME_EXTRA]: ['node-a', 'node-b'] }) },
    allowed: false,
    says: /names no node/u,
  },
  {
    name: 'node-name with no value',
    attempt: { ...ownNode(reportStatus), user: agentOn('node-a', { [NODE_NAME_EXTRA]: [] }) },
    allowed: false,
    says: /names no node/u,
  },
  // Annotations other than the report.
  {
    name: 'launcher-spec changed',
    attempt: ownNode(setAnnotation(LAUNCHER_SPEC_ANNOTATION, '{"name":"vm1","memoryMiB":65536}')),
    allowed: false,
    says: /may change only the annotations virtnet\.io\/launcher-status/u,
  },
  {
    name: 'launcher-spec removed',
    attempt: ownNode(setAnnotation(LAUNCHER_SPEC_ANNOTATION, undefined)),
    allowed: false,
    says: /may change only the annotations/u,
  },
  {
    name: 'launcher-spec removed with the report changed',
    attempt: ownNode((p) => {
      reportStatus(p);
      setAnnotation(LAUNCHER_SPEC_ANNOTATION, undefined)(p);
    }),
    allowed: false,
  },
  { name: 'every annotation removed', attempt: ownNode((p) => delete p.metadata.annotations), allowed: false },
  {
    name: 'an annotation added',
    attempt: ownNode(setAnnotation('virtnet.io/extra', 'x')),
    allowed: false,
    says: /may change only the annotations/u,
  },
  {
    name: 'an annotation added to a pod without annotations',
    attempt: ownNode(
      setAnnotation('virtnet.io/extra', 'x'),
      written(launcherPod(), (p) => delete p.metadata.annotations),
    ),
    allowed: false,
  },
  {
    name: 'the Multus networks annotation changed',
    attempt: ownNode(setAnnotation('k8s.v1.cni.cncf.io/networks', '[{"name":"other-tenant-net"}]')),
    allowed: false,
  },
  // Labels, owners, finalizers.
  {
    name: 'a label changed',
    attempt: ownNode((p) => {
      p.metadata.labels = { ...p.metadata.labels, [VMI_LABEL]: 'vm2' };
    }),
    allowed: false,
    says: /labels, owner references or finalizers/u,
  },
  {
    name: 'a label added',
    attempt: ownNode((p) => {
      p.metadata.labels = { ...p.metadata.labels, x: 'y' };
    }),
    allowed: false,
  },
  { name: 'every label removed', attempt: ownNode((p) => delete p.metadata.labels), allowed: false },
  {
    name: 'labels added to a pod without labels',
    attempt: ownNode(
      (p) => {
        p.metadata.labels = { x: 'y' };
      },
      written(launcherPod(), (p) => delete p.metadata.labels),
    ),
    allowed: false,
  },
  {
    name: 'ownerReferences changed',
    attempt: ownNode((p) => {
      p.metadata.ownerReferences![0]!.controller = false;
    }),
    allowed: false,
    says: /labels, owner references or finalizers/u,
  },
  { name: 'ownerReferences removed', attempt: ownNode((p) => delete p.metadata.ownerReferences), allowed: false },
  {
    name: 'a finalizer added',
    attempt: ownNode((p) => {
      p.metadata.finalizers = ['virtnet.io/hold'];
    }),
    allowed: false,
  },
  {
    name: 'a finalizer removed',
    attempt: ownNode(
      (p) => {
        p.metadata.finalizers = ['b'];
      },
      written(launcherPod(), (p) => {
        p.metadata.finalizers = ['a', 'b'];
      }),
    ),
    allowed: false,
  },
  // The spec.
  {
    name: 'the image changed',
    attempt: ownNode((p) => {
      p.spec.containers[0]!.image = 'evil.example/x:1';
    }),
    allowed: false,
    says: /may not change a pod's spec/u,
  },
  {
    name: 'a toleration added',
    attempt: ownNode((p) => {
      p.spec.tolerations = [{ operator: 'Exists' }];
    }),
    allowed: false,
  },
  {
    name: 'a grace period changed',
    attempt: ownNode((p) => {
      p.spec.terminationGracePeriodSeconds = 0;
    }),
    allowed: false,
  },
  // Other writers: the policy is not theirs.
  {
    name: 'the controller changes the spec',
    attempt: {
      ...ownNode((p) => {
        p.spec.containers[0]!.image = 'x:1';
      }),
      user: { username: 'system:serviceaccount:virtnet-system:virtnet-controller' },
    },
    allowed: true,
    matched: false,
  },
  {
    name: 'a kubelet of another node',
    attempt: { ...ownNode(reportStatus), user: { username: 'system:node:node-b', groups: ['system:nodes'] } },
    allowed: true,
    matched: false,
  },
  {
    name: 'a same-named ServiceAccount of another namespace',
    attempt: {
      ...ownNode(reportStatus),
      user: { ...agentOn('node-b'), username: 'system:serviceaccount:tenant-a:virtnet-node-agent' },
    },
    allowed: true,
    matched: false,
  },
  // Writes the policy does not see (the agent's RBAC grants none of them).
  { name: 'pods/status', attempt: { ...ownNode(reportStatus), subResource: 'status' }, allowed: true, matched: false },
  { name: 'a DELETE', attempt: { ...ownNode(() => {}), operation: 'DELETE' }, allowed: true, matched: false },
];

// ------------------------------------------------------------------- tests

test('every expression compiles with the variables the apiserver binds, and only cel-js built-ins', () => {
  assertCompiles(loaded().policy);
});

test('the binding enforces the policy on every namespace and every pod', () => {
  const { policy, binding } = loaded();
  assert.equal(binding.spec.policyName, policy.metadata.name);
  assert.ok(binding.spec.validationActions.includes('Deny'), 'Warn or Audit alone would let every write through');
  assert.equal(binding.spec.paramRef, undefined);
  // Selectors, read as data: nothing a tenant or the agent controls (a label, a namespace's labels) can opt a pod out.
  const hostile = { ...ownNode(reportStatus), user: agentOn('node-b') };
  const labelSets: Array<Record<string, string> | undefined> = [
    undefined,
    {},
    { [VMI_LABEL]: 'vm1' },
    { 'virtnet.io/exempt': 'true' },
  ];
  for (const labels of labelSets) {
    const old = launcherPod();
    if (labels) old.metadata.labels = labels;
    else delete old.metadata.labels;
    const a = { ...hostile, oldPod: old, pod: written(old, reportStatus) };
    assert.ok(
      resourcesMatch(policy.spec.matchConstraints, a) && resourcesMatch(binding.spec.matchResources, a),
      `labels ${JSON.stringify(labels)}`,
    );
  }
  for (const m of [policy.spec.matchConstraints, binding.spec.matchResources]) {
    assert.equal(m?.namespaceSelector, undefined, 'every namespace');
    assert.equal(m?.objectSelector, undefined, 'every pod');
  }
});

for (const c of CASES) {
  test(`${c.allowed ? 'allowed' : 'denied'}: ${c.name}`, () => assertVerdict(admit(loaded(), c.attempt), c));
}

test(
  'every validation is needed: without any one of them, a case fails (a write gets through, or is refused without ' +
    'saying why)',
  () => {
    const full = loaded();
    assertEveryValidationNeeded(full, (m) => CASES.some((c) => !holds(c, admit(m, c.attempt))));
    // The node comparison in particular: with it gone, another node's pod is open.
    const policy = structuredClone(full.policy);
    for (const v of policy.spec.validations)
      v.expression = v.expression.replace('oldObject.spec.nodeName == variables.nodeName', 'true');
    assert.equal(
      admit({ policy, binding: full.binding }, CASES.find((c) => c.name === "another node's pod")!.attempt).allowed,
      true,
    );
  },
);
