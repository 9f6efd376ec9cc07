/**
 * deploy/base/policy-node-agent.yaml, evaluated: the ValidatingAdmissionPolicy's
 * CEL runs here (@marcbachmann/cel-js) against pod UPDATEs, with the variables
 * the apiserver binds, and its verdicts are checked case by case. The
 * apiserver's side is mirrored where cel-js alone would differ:
 *  - `object`, `oldObject` and `request` are what
 *    runtime.DefaultUnstructuredConverter makes of the typed objects
 *    (k8s.io/apiserver/pkg/admission/plugin/cel/activation.go): plain maps, in
 *    which an omitempty field that is empty (a pod without annotations, a user
 *    without extra) is absent, so that has() is false and a select of it is a
 *    "no such key" error, not an empty map. Integers are int64 (BigInt here).
 *  - `variables` is lazy, and a variable that fails is an error wherever it is
 *    read (lazy.MapValue, types.WrapErr): here every variable is evaluated in
 *    order, and one that fails is left out of the map, so that reading it is a
 *    "no such key" error, which && and || absorb as CEL's do.
 *  - The decision: matchConstraints, then matchConditions (a false one skips
 *    the policy; an error with none false is failurePolicy's to decide), then
 *    each validation (false denies with its message; an error is
 *    failurePolicy's), then the binding's validationActions
 *    (https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Environment } from '@marcbachmann/cel-js';

const ROOT = resolve(import.meta.dirname, '../../..');

/**
 * The names the launcher pod carries, read from controller/render/pod.ts as
 * text: importing it would load the whole controller, which this test needs
 * none of.
 */
function renderConstant(name: string): string {
  const value = new RegExp(`export const ${name} = '([^']+)'`, 'u').exec(readFileSync(join(ROOT, 'controller/render/pod.ts'), 'utf8'))?.[1];
  assert.ok(value, `controller/render/pod.ts: ${name} not found`);
  return value;
}
const LAUNCHER_SPEC_ANNOTATION = renderConstant('LAUNCHER_SPEC_ANNOTATION');
const LAUNCHER_STATUS_ANNOTATION = renderConstant('LAUNCHER_STATUS_ANNOTATION');
const VMI_LABEL = renderConstant('VMI_LABEL');
const POLICY_FILE = join(ROOT, 'deploy/base/policy-node-agent.yaml');
const AGENT = 'system:serviceaccount:virtnet-system:virtnet-node-agent';
const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';

// ------------------------------------------------------------- the manifests

interface Expression { name?: string; expression: string }
interface Validation extends Expression { message?: string; messageExpression?: string; reason?: string }
interface Rule { apiGroups: string[]; apiVersions: string[]; operations: string[]; resources: string[]; scope?: string }
interface Requirement { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }
interface Selector { matchLabels?: Record<string, string>; matchExpressions?: Requirement[] }
interface MatchResources { resourceRules?: Rule[]; excludeResourceRules?: Rule[]; namespaceSelector?: Selector; objectSelector?: Selector }
interface Policy {
  kind: 'ValidatingAdmissionPolicy';
  metadata: { name: string };
  spec: {
    failurePolicy?: 'Fail' | 'Ignore';
    paramKind?: unknown;
    matchConstraints: MatchResources;
    matchConditions?: Expression[];
    variables?: Expression[];
    validations: Validation[];
  };
}
interface Binding {
  kind: 'ValidatingAdmissionPolicyBinding';
  spec: { policyName: string; validationActions: Array<'Deny' | 'Warn' | 'Audit'>; matchResources?: MatchResources; paramRef?: unknown };
}

function manifests(text: string): { policy: Policy; binding: Binding } {
  const all = parseAllDocuments(text);
  for (const d of all) if (d.errors.length) throw new Error(`${POLICY_FILE}: ${d.errors[0]!.message}`);
  const objs = all.map((d) => d.toJS() as { kind: string }).filter((o) => o);
  const policy = objs.find((o): o is Policy => o.kind === 'ValidatingAdmissionPolicy');
  const binding = objs.find((o): o is Binding => o.kind === 'ValidatingAdmissionPolicyBinding');
  assert.ok(policy && binding, `${POLICY_FILE}: a policy and its binding`);
  return { policy, binding };
}

const loaded = () => manifests(readFileSync(POLICY_FILE, 'utf8'));

// ------------------------------------------------------ what the apiserver sees

interface OwnerReference { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }
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
interface UserInfo { username: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> }
interface Attempt { user: UserInfo; oldPod: Pod; pod: Pod; operation?: 'CREATE' | 'UPDATE' | 'DELETE'; subResource?: string }

type CelValue = null | boolean | bigint | number | string | CelValue[] | { [key: string]: CelValue };

/** The map-typed fields of Pod and AdmissionRequest the fixtures use: their entries are kept even when empty. */
const MAP_FIELDS = new Set(['annotations', 'labels', 'extra']);

const isEmpty = (v: CelValue) => v === '' || (Array.isArray(v) && v.length === 0)
  || (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0);

/**
 * A JSON value as the apiserver hands it to CEL: integers are int64, and a
 * struct field that is omitempty and empty (the converter's isZero: an empty
 * string, list or map) is absent. Every struct field the fixtures here leave
 * empty is omitempty in the Pod and AdmissionRequest types; booleans and
 * numbers are kept, as the fixtures' are pointers (*bool, *int64). Entries of
 * a map (annotations, labels, extra) and items of a list are never dropped.
 */
function unstructured(value: unknown, isMap = false): CelValue {
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (value === null || typeof value !== 'object') return value as CelValue;
  if (Array.isArray(value)) return value.map((v) => unstructured(v));
  const entries = Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, unstructured(v, MAP_FIELDS.has(k))] as const);
  return Object.fromEntries(isMap ? entries : entries.filter(([, v]) => !isEmpty(v)));
}

/** The AdmissionRequest of a pod write, in the fields CEL's `request` has. */
function admissionRequest(a: Attempt): CelValue {
  const pods = { group: '', version: 'v1', resource: 'pods' };
  const kind = { group: '', version: 'v1', kind: 'Pod' };
  return unstructured({
    uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
    kind, resource: pods, subResource: a.subResource, requestKind: kind, requestResource: pods, requestSubResource: a.subResource,
    name: a.oldPod.metadata.name, namespace: a.oldPod.metadata.namespace, operation: a.operation ?? 'UPDATE',
    userInfo: a.user, dryRun: false, options: { apiVersion: 'meta.k8s.io/v1', kind: 'PatchOptions' },
  });
}

// ------------------------------------------------------ the policy, evaluated

/**
 * The variables each kind of expression sees (validating-admission-policy
 * docs, "Validation expression"): matchConditions have no `variables`. The
 * `authorizer` is not bound: an expression that uses it fails to compile
 * here, and then this test has to learn it. Kubernetes' CEL libraries beyond
 * cel-js's built-ins (lists, regex, url, ip, quantity, ...) are not
 * registered either, for the same reason; `join` is in both.
 */
function celEnvironment(withVariables: boolean): Environment {
  const env = new Environment({ unlistedVariablesAreDyn: false })
    .registerVariable('object', 'dyn').registerVariable('oldObject', 'dyn')
    .registerVariable('request', 'map').registerVariable('params', 'dyn').registerVariable('namespaceObject', 'dyn');
  return withVariables ? env.registerVariable('variables', 'map') : env;
}

const MATCH_ENV = celEnvironment(false);
const VALIDATION_ENV = celEnvironment(true);

type Outcome = { value: unknown } | { error: string };

function run(env: Environment, expression: string, context: Record<string, unknown>): Outcome {
  try {
    return { value: env.evaluate(expression, context) };
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0]! };
  }
}

function ruleMatches(rule: Rule, a: Attempt): boolean {
  const resource = a.subResource ? `pods/${a.subResource}` : 'pods';
  const any = (list: string[], v: string) => list.includes('*') || list.includes(v);
  // "*" is every resource but no subresource, "*/*" everything, "pods/*" every subresource of pods.
  const resourceMatches = rule.resources.some((r) => r === resource || r === '*/*'
    || (r === '*' && !a.subResource) || (r === 'pods/*' && Boolean(a.subResource)));
  return any(rule.apiGroups, '') && any(rule.apiVersions, 'v1') && any(rule.operations, a.operation ?? 'UPDATE')
    && resourceMatches && (rule.scope === undefined || rule.scope === '*' || rule.scope === 'Namespaced');
}

/** A label selector (metav1.LabelSelector); an absent one selects everything. */
function selects(selector: Selector | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector) return true;
  const l = labels ?? {};
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => l[k] === v);
  return byLabels && (selector.matchExpressions ?? []).every((r) => {
    const has = Object.hasOwn(l, r.key);
    switch (r.operator) {
      case 'In': return has && r.values!.includes(l[r.key]!);
      case 'NotIn': return !has || !r.values!.includes(l[r.key]!);
      case 'Exists': return has;
      case 'DoesNotExist': return !has;
      default: throw new Error(`selector operator ${String(r.operator)}: not taught to this test`);
    }
  });
}

/** Whether a MatchResources selects the write; the objectSelector matches the new or the old object. */
function resourcesMatch(m: MatchResources | undefined, a: Attempt): boolean {
  if (!m) return true;
  const rules = m.resourceRules ?? [];
  return (rules.length === 0 || rules.some((r) => ruleMatches(r, a))) && !(m.excludeResourceRules ?? []).some((r) => ruleMatches(r, a))
    && selects(m.namespaceSelector, { 'kubernetes.io/metadata.name': a.oldPod.metadata.namespace })
    && (selects(m.objectSelector, a.pod.metadata.labels) || selects(m.objectSelector, a.oldPod.metadata.labels));
}

/** messageProblems: messageExpressions that gave no usable message, which the apiserver replaces silently. */
interface Verdict { matched: boolean; allowed: boolean; denials: string[]; messageProblems: string[] }

/** The message of a failed validation: messageExpression if it gives one line, else message, else the expression. */
function denialMessage(v: Validation, context: Record<string, unknown>, problems: string[]): string {
  if (v.messageExpression) {
    const m = run(VALIDATION_ENV, v.messageExpression, context);
    if ('value' in m && typeof m.value === 'string' && m.value.trim() && !m.value.includes('\n')) return m.value;
    problems.push(`${v.messageExpression}: ${JSON.stringify(m)}`);
  }
  return v.message ?? `failed expression: ${v.expression}`;
}

function variablesOf(policy: Policy, context: Record<string, unknown>): Record<string, unknown> {
  const variables: Record<string, unknown> = {};
  for (const v of policy.spec.variables ?? []) {
    const out = run(VALIDATION_ENV, v.expression, { ...context, variables });
    if ('value' in out) variables[v.name!] = out.value;
  }
  return variables;
}

function admit({ policy, binding }: { policy: Policy; binding: Binding }, a: Attempt): Verdict {
  const skipped = { matched: false, allowed: true, denials: [], messageProblems: [] };
  if (!resourcesMatch(policy.spec.matchConstraints, a) || !resourcesMatch(binding.spec.matchResources, a)) return skipped;
  const fails = policy.spec.failurePolicy !== 'Ignore';
  const base = { object: unstructured(a.pod), oldObject: unstructured(a.oldPod), request: admissionRequest(a), params: null, namespaceObject: null };
  const conditions = (policy.spec.matchConditions ?? []).map((m) => run(MATCH_ENV, m.expression, base));
  if (conditions.some((c) => 'value' in c && c.value === false)) return skipped;
  const conditionErrors = conditions.filter((c): c is { error: string } => 'error' in c).map((c) => `match condition error: ${c.error}`);
  if (conditionErrors.length) return fails ? { ...skipped, matched: true, allowed: false, denials: conditionErrors } : skipped;
  const context = { ...base, variables: variablesOf(policy, base) };
  const denials: string[] = [];
  const messageProblems: string[] = [];
  for (const v of policy.spec.validations) {
    const out = run(VALIDATION_ENV, v.expression, context);
    if ('error' in out) {
      if (fails) denials.push(`expression '${v.expression}' resulted in error: ${out.error}`);
    } else if (out.value !== true) denials.push(denialMessage(v, context, messageProblems));
  }
  return { matched: true, allowed: denials.length === 0 || !binding.spec.validationActions.includes('Deny'), denials, messageProblems };
}

// ---------------------------------------------------------------- fixtures

/** A pod-bound ServiceAccount token's user (KEP-4193: node-name and node-uid in extra, 1.30+). */
function agentOn(node: string | undefined, extra: Record<string, string[]> = {}): UserInfo {
  return {
    username: AGENT,
    uid: '3c7a2d15-8a43-4e7e-9b1c-2f6b1f0d7a11',
    groups: ['system:serviceaccounts', 'system:serviceaccounts:virtnet-system', 'system:authenticated'],
    extra: {
      'authentication.kubernetes.io/credential-id': ['JTI=0f5a6c7e-1d2b-4c3a-9e8f-7a6b5c4d3e2f'],
      'authentication.kubernetes.io/pod-name': ['virtnet-node-agent-x7k2p'],
      'authentication.kubernetes.io/pod-uid': ['9b2e4f6a-1c3d-4e5f-8a7b-6c5d4e3f2a1b'],
      ...(node !== undefined && { [NODE_NAME_EXTRA]: [node], 'authentication.kubernetes.io/node-uid': ['5d1c9e2b-7f4a-4b6c-8d3e-1a2b3c4d5e6f'] }),
      ...extra,
    },
  };
}

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
      ownerReferences: [{ apiVersion: 'virtnet.io/v1alpha1', kind: 'VirtualMachineInstance', name: 'vm1', uid: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', controller: true, blockOwnerDeletion: true }],
      managedFields: [{ manager: 'virtnet-controller', operation: 'Update', time: '2026-12-01T22:00:00Z' }],
    },
    spec: {
      nodeName: 'node-a',
      containers: [{ name: 'launcher', image: 'ghcr.io/virtnet/virtnet:0.1.0', ports: [{ containerPort: 9100, protocol: 'TCP' }] }],
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
  pod.metadata.managedFields = [...(pod.metadata.managedFields ?? []), { manager: 'virtnet-node-agent', operation: 'Update', time: '2026-12-01T22:05:00Z' }];
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

interface Case { name: string; attempt: Attempt; allowed: boolean; matched?: boolean; says?: RegExp }

const CASES: Case[] = [
  // Allowed: the launcher report, on the agent's own node.
  { name: 'own node, launcher-status changed', attempt: ownNode(reportStatus), allowed: true },
  { name: 'own node, launcher-status added to a pod without it', attempt: ownNode(reportStatus, written(launcherPod(), setAnnotation(LAUNCHER_STATUS_ANNOTATION, undefined))), allowed: true },
  { name: 'own node, launcher-status added to a pod without annotations', attempt: ownNode(reportStatus, written(launcherPod(), (p) => delete p.metadata.annotations)), allowed: true },
  { name: 'own node, launcher-status removed', attempt: ownNode(setAnnotation(LAUNCHER_STATUS_ANNOTATION, undefined)), allowed: true },
  { name: 'own node, nothing changed', attempt: ownNode(() => {}), allowed: true },
  // The node.
  { name: 'another node\'s pod', attempt: { ...ownNode(reportStatus), user: agentOn('node-b') }, allowed: false, says: /of node node-b may change only pods bound to that node/u },
  { name: 'a pod bound to no node yet', attempt: ownNode(reportStatus, written(launcherPod(), (p) => delete p.spec.nodeName)), allowed: false, says: /may change only pods bound to that node/u },
  { name: 'moving the pod to the agent\'s node', attempt: ownNode((p) => { p.spec.nodeName = 'node-a'; }, written(launcherPod(), (p) => { p.spec.nodeName = 'node-b'; })), allowed: false },
  { name: 'a token without node-name (other extras kept)', attempt: { ...ownNode(reportStatus), user: agentOn(undefined) }, allowed: false, says: /names no node/u },
  { name: 'a token without any extra (impersonation, legacy Secret token)', attempt: { ...ownNode(reportStatus), user: { username: AGENT, groups: ['system:serviceaccounts', 'system:authenticated'] } }, allowed: false, says: /names no node/u },
  { name: 'an empty node-name, on a pod bound to no node', attempt: { ...ownNode(reportStatus, written(launcherPod(), (p) => delete p.spec.nodeName)), user: agentOn('') }, allowed: false, says: /names no node/u },
  { name: 'node-name given twice', attempt: { ...ownNode(reportStatus), user: agentOn('node-a', { [NODE_NAME_EXTRA]: ['node-a', 'node-b'] }) }, allowed: false, says: /names no node/u },
  { name: 'node-name with no value', attempt: { ...ownNode(reportStatus), user: agentOn('node-a', { [NODE_NAME_EXTRA]: [] }) }, allowed: false, says: /names no node/u },
  // Annotations other than the report.
  { name: 'launcher-spec changed', attempt: ownNode(setAnnotation(LAUNCHER_SPEC_ANNOTATION, '{"name":"vm1","memoryMiB":65536}')), allowed: false, says: /may change only the annotations virtnet\.io\/launcher-status/u },
  { name: 'launcher-spec removed', attempt: ownNode(setAnnotation(LAUNCHER_SPEC_ANNOTATION, undefined)), allowed: false, says: /may change only the annotations/u },
  { name: 'launcher-spec removed with the report changed', attempt: ownNode((p) => { reportStatus(p); setAnnotation(LAUNCHER_SPEC_ANNOTATION, undefined)(p); }), allowed: false },
  { name: 'every annotation removed', attempt: ownNode((p) => delete p.metadata.annotations), allowed: false },
  { name: 'an annotation added', attempt: ownNode(setAnnotation('virtnet.io/extra', 'x')), allowed: false, says: /may change only the annotations/u },
  { name: 'an annotation added to a pod without annotations', attempt: ownNode(setAnnotation('virtnet.io/extra', 'x'), written(launcherPod(), (p) => delete p.metadata.annotations)), allowed: false },
  { name: 'the Multus networks annotation changed', attempt: ownNode(setAnnotation('k8s.v1.cni.cncf.io/networks', '[{"name":"other-tenant-net"}]')), allowed: false },
  // Labels, owners, finalizers.
  { name: 'a label changed', attempt: ownNode((p) => { p.metadata.labels = { ...p.metadata.labels, [VMI_LABEL]: 'vm2' }; }), allowed: false, says: /labels, owner references or finalizers/u },
  { name: 'a label added', attempt: ownNode((p) => { p.metadata.labels = { ...p.metadata.labels, x: 'y' }; }), allowed: false },
  { name: 'every label removed', attempt: ownNode((p) => delete p.metadata.labels), allowed: false },
  { name: 'labels added to a pod without labels', attempt: ownNode((p) => { p.metadata.labels = { x: 'y' }; }, written(launcherPod(), (p) => delete p.metadata.labels)), allowed: false },
  { name: 'ownerReferences changed', attempt: ownNode((p) => { p.metadata.ownerReferences![0]!.controller = false; }), allowed: false, says: /labels, owner references or finalizers/u },
  { name: 'ownerReferences removed', attempt: ownNode((p) => delete p.metadata.ownerReferences), allowed: false },
  { name: 'a finalizer added', attempt: ownNode((p) => { p.metadata.finalizers = ['virtnet.io/hold']; }), allowed: false },
  { name: 'a finalizer removed', attempt: ownNode((p) => { p.metadata.finalizers = ['b']; }, written(launcherPod(), (p) => { p.metadata.finalizers = ['a', 'b']; })), allowed: false },
  // The spec.
  { name: 'the image changed', attempt: ownNode((p) => { p.spec.containers[0]!.image = 'evil.example/x:1'; }), allowed: false, says: /may not change a pod's spec/u },
  { name: 'a toleration added', attempt: ownNode((p) => { p.spec.tolerations = [{ operator: 'Exists' }]; }), allowed: false },
  { name: 'a grace period changed', attempt: ownNode((p) => { p.spec.terminationGracePeriodSeconds = 0; }), allowed: false },
  // Other writers: the policy is not theirs.
  { name: 'the controller changes the spec', attempt: { ...ownNode((p) => { p.spec.containers[0]!.image = 'x:1'; }), user: { username: 'system:serviceaccount:virtnet-system:virtnet-controller' } }, allowed: true, matched: false },
  { name: 'a kubelet of another node', attempt: { ...ownNode(reportStatus), user: { username: 'system:node:node-b', groups: ['system:nodes'] } }, allowed: true, matched: false },
  { name: 'a same-named ServiceAccount of another namespace', attempt: { ...ownNode(reportStatus), user: { ...agentOn('node-b'), username: 'system:serviceaccount:tenant-a:virtnet-node-agent' } }, allowed: true, matched: false },
  // Writes the policy does not see (the agent's RBAC grants none of them).
  { name: 'pods/status', attempt: { ...ownNode(reportStatus), subResource: 'status' }, allowed: true, matched: false },
  { name: 'a DELETE', attempt: { ...ownNode(() => {}), operation: 'DELETE' }, allowed: true, matched: false },
];

// ------------------------------------------------------------------- tests

test('every expression compiles with the variables the apiserver binds, and only cel-js built-ins', () => {
  const { policy } = loaded();
  assert.equal(policy.spec.paramKind, undefined, 'no params: a binding without paramRef gives params = null');
  const check = (env: Environment, e: string, types: string[]) => {
    const r = env.check(e);
    assert.ok(r.valid, `${e}: ${r.error?.message}`);
    assert.ok(types.includes(r.type!), `${e}: type ${r.type}, not ${types.join(' or ')}`);
  };
  for (const m of policy.spec.matchConditions ?? []) check(MATCH_ENV, m.expression, ['bool', 'dyn']);
  // A variable may read only those before it (the apiserver compiles them in order).
  const before = new Set<string>();
  for (const v of policy.spec.variables ?? []) {
    assert.ok(VALIDATION_ENV.check(v.expression).valid, `variable ${v.name}: ${VALIDATION_ENV.check(v.expression).error?.message}`);
    for (const [, used] of v.expression.matchAll(/\bvariables\.(\w+)/gu)) assert.ok(before.has(used!), `variable ${v.name} reads ${used}, not defined before it`);
    before.add(v.name!);
  }
  for (const [, used] of policy.spec.validations.flatMap((v) => [v.expression, v.messageExpression ?? '']).join('\n').matchAll(/\bvariables\.(\w+)/gu)) {
    assert.ok(before.has(used!), `variables.${used} is not defined`);
  }
  for (const v of policy.spec.validations) {
    check(VALIDATION_ENV, v.expression, ['bool', 'dyn']);
    if (v.messageExpression) check(VALIDATION_ENV, v.messageExpression, ['string', 'dyn']);
    // ValidatingAdmissionPolicy validation: "message must not contain line breaks".
    assert.ok(!v.message?.includes('\n'), `${v.expression}: the message has a line break`);
  }
});

test('the binding enforces the policy on every namespace and every pod', () => {
  const { policy, binding } = loaded();
  assert.equal(binding.spec.policyName, policy.metadata.name);
  assert.ok(binding.spec.validationActions.includes('Deny'), 'Warn or Audit alone would let every write through');
  assert.equal(binding.spec.paramRef, undefined);
  // Selectors, read as data: nothing a tenant or the agent controls (a label, a namespace's labels) can opt a pod out.
  const hostile = { ...ownNode(reportStatus), user: agentOn('node-b') };
  const labelSets: Array<Record<string, string> | undefined> = [undefined, {}, { [VMI_LABEL]: 'vm1' }, { 'virtnet.io/exempt': 'true' }];
  for (const labels of labelSets) {
    const old = launcherPod();
    if (labels) old.metadata.labels = labels;
    else delete old.metadata.labels;
    const a = { ...hostile, oldPod: old, pod: written(old, reportStatus) };
    assert.ok(resourcesMatch(policy.spec.matchConstraints, a) && resourcesMatch(binding.spec.matchResources, a), `labels ${JSON.stringify(labels)}`);
  }
  for (const m of [policy.spec.matchConstraints, binding.spec.matchResources]) {
    assert.equal(m?.namespaceSelector, undefined, 'every namespace');
    assert.equal(m?.objectSelector, undefined, 'every pod');
  }
});

for (const c of CASES) {
  test(`${c.allowed ? 'allowed' : 'denied'}: ${c.name}`, () => {
    const verdict = admit(loaded(), c.attempt);
    assert.equal(verdict.matched, c.matched ?? true, `matched: ${JSON.stringify(verdict)}`);
    assert.equal(verdict.allowed, c.allowed, `allowed: ${JSON.stringify(verdict)}`);
    // A denial is the policy's own answer, never a CEL error left to failurePolicy.
    for (const d of verdict.denials) assert.doesNotMatch(d, /resulted in error|match condition error/u, d);
    assert.deepEqual(verdict.messageProblems, [], 'a messageExpression gave no message');
    if (c.says) assert.ok(verdict.denials.some((d) => c.says!.test(d)), `${c.says}: ${verdict.denials.join('; ')}`);
  });
}

/** Whether a case's verdict, and the denial it expects, hold under a policy. */
function holds(c: Case, manifests: { policy: Policy; binding: Binding }): boolean {
  const verdict = admit(manifests, c.attempt);
  return verdict.allowed === c.allowed && (!c.says || verdict.denials.some((d) => c.says!.test(d)));
}

test('every validation is needed: without any one of them, a case fails (a write gets through, or is refused without saying why)', () => {
  const full = loaded();
  full.policy.spec.validations.forEach((dropped, i) => {
    const policy = structuredClone(full.policy);
    policy.spec.validations.splice(i, 1);
    assert.ok(CASES.some((c) => !holds(c, { policy, binding: full.binding })), `no case needs validation ${dropped.expression}`);
  });
  // The node comparison in particular: with it gone, another node's pod is open.
  const policy = structuredClone(full.policy);
  for (const v of policy.spec.validations) v.expression = v.expression.replace('oldObject.spec.nodeName == variables.nodeName', 'true');
  assert.equal(admit({ policy, binding: full.binding }, CASES.find((c) => c.name === 'another node\'s pod')!.attempt).allowed, true);
});
