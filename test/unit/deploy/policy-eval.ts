/**
 * A ValidatingAdmissionPolicy of deploy/, evaluated: its CEL runs here
 * (@marcbachmann/cel-js) against one write, with the variables the apiserver
 * binds, and gives the verdict the apiserver would. Shared by the tests of
 * the node agent's policies (node-agent-policy.test.ts for pods,
 * node-agent-node-policy.test.ts for Nodes). The apiserver's side is mirrored
 * where cel-js alone would differ:
 *  - `object`, `oldObject` and `request` are what
 *    runtime.DefaultUnstructuredConverter makes of the typed objects
 *    (k8s.io/apiserver/pkg/admission/plugin/cel/activation.go): plain maps, in
 *    which an omitempty field that is empty (an object without annotations, a
 *    user without extra) is absent, so that has() is false and a select of it
 *    is a "no such key" error, not an empty map. Integers are int64 (BigInt here).
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
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { Environment } from '@marcbachmann/cel-js';

export const AGENT = 'system:serviceaccount:virtnet-system:virtnet-node-agent';
export const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';

// ------------------------------------------------------------- the manifests

export interface Expression {
  name?: string;
  expression: string;
}
export interface Validation extends Expression {
  message?: string;
  messageExpression?: string;
  reason?: string;
}
export interface Rule {
  apiGroups: string[];
  apiVersions: string[];
  operations: string[];
  resources: string[];
  scope?: string;
}
interface Requirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}
export interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Requirement[];
}
export interface MatchResources {
  resourceRules?: Rule[];
  excludeResourceRules?: Rule[];
  namespaceSelector?: Selector;
  objectSelector?: Selector;
}
export interface Policy {
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
export interface Binding {
  kind: 'ValidatingAdmissionPolicyBinding';
  spec: {
    policyName: string;
    validationActions: Array<'Deny' | 'Warn' | 'Audit'>;
    matchResources?: MatchResources;
    paramRef?: unknown;
  };
}
export interface Manifests {
  policy: Policy;
  binding: Binding;
}

/** The policy and its binding in one YAML file. */
export function loadManifests(file: string): Manifests {
  const all = parseAllDocuments(readFileSync(file, 'utf8'));
  for (const d of all) if (d.errors.length) throw new Error(`${file}: ${d.errors[0]!.message}`);
  const objs = all.map((d) => d.toJS() as { kind: string }).filter((o) => o);
  const policy = objs.find((o): o is Policy => o.kind === 'ValidatingAdmissionPolicy');
  const binding = objs.find((o): o is Binding => o.kind === 'ValidatingAdmissionPolicyBinding');
  assert.ok(policy && binding, `${file}: a policy and its binding`);
  return { policy, binding };
}

// ------------------------------------------------------ what the apiserver sees

/** The resource a write is on, and which of its type's fields are maps (their entries are kept even when empty). */
export interface Resource {
  group: string;
  version: string;
  resource: string;
  kind: string;
  namespaced: boolean;
  mapFields: ReadonlySet<string>;
}
export interface KubeObject {
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
}
export interface UserInfo {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}
export interface Write {
  user: UserInfo;
  oldObject: KubeObject;
  object: KubeObject;
  operation?: 'CREATE' | 'UPDATE' | 'DELETE';
  subResource?: string | undefined;
}

type CelValue = null | boolean | bigint | number | string | CelValue[] | { [key: string]: CelValue };

const isEmpty = (v: CelValue) =>
  v === '' ||
  (Array.isArray(v) && v.length === 0) ||
  (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0);

/**
 * A JSON value as the apiserver hands it to CEL: integers are int64, and a
 * struct field that is omitempty and empty (the converter's isZero: an empty
 * string, list or map) is absent. Every struct field the fixtures leave
 * empty is omitempty in their types and in AdmissionRequest; booleans and
 * numbers are kept, so fixtures use them only where the field is a pointer
 * (*bool, *int64) or nonzero. Entries of a map field (mapFields) and items
 * of a list are never dropped.
 */
function unstructured(value: unknown, mapFields: ReadonlySet<string>, isMap = false): CelValue {
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (value === null || typeof value !== 'object') return value as CelValue;
  if (Array.isArray(value)) return value.map((v) => unstructured(v, mapFields));
  const entries = Object.entries(value)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => [k, unstructured(v, mapFields, mapFields.has(k))] as const);
  return Object.fromEntries(isMap ? entries : entries.filter(([, v]) => !isEmpty(v)));
}

/** userInfo.extra is AdmissionRequest's one map field. */
const REQUEST_MAP_FIELDS: ReadonlySet<string> = new Set(['extra']);

/** The AdmissionRequest of a write, in the fields CEL's `request` has. */
function admissionRequest(r: Resource, w: Write): CelValue {
  const resource = { group: r.group, version: r.version, resource: r.resource };
  const kind = { group: r.group, version: r.version, kind: r.kind };
  return unstructured(
    {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind,
      resource,
      subResource: w.subResource,
      requestKind: kind,
      requestResource: resource,
      requestSubResource: w.subResource,
      name: w.oldObject.metadata.name,
      namespace: r.namespaced ? w.oldObject.metadata.namespace : undefined,
      operation: w.operation ?? 'UPDATE',
      userInfo: w.user,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'PatchOptions' },
    },
    REQUEST_MAP_FIELDS,
  );
}

/**
 * A pod-bound ServiceAccount token's user (KEP-4193: node-name and node-uid in extra, 1.30+); node undefined: a token
 * without them.
 */
export function agentOn(node: string | undefined, extra: Record<string, string[]> = {}): UserInfo {
  return {
    username: AGENT,
    uid: '3c7a2d15-8a43-4e7e-9b1c-2f6b1f0d7a11',
    groups: ['system:serviceaccounts', 'system:serviceaccounts:virtnet-system', 'system:authenticated'],
    extra: {
      'authentication.kubernetes.io/credential-id': ['JTI=0f5a6c7e-1d2b-4c3a-9e8f-7a6b5c4d3e2f'],
      'authentication.kubernetes.io/pod-name': ['virtnet-node-agent-x7k2p'],
      'authentication.kubernetes.io/pod-uid': ['9b2e4f6a-1c3d-4e5f-8a7b-6c5d4e3f2a1b'],
      ...(node !== undefined && {
        [NODE_NAME_EXTRA]: [node],
        'authentication.kubernetes.io/node-uid': ['5d1c9e2b-7f4a-4b6c-8d3e-1a2b3c4d5e6f'],
      }),
      ...extra,
    },
  };
}

// ------------------------------------------------------ the policy, evaluated

/**
 * The variables each kind of expression sees (validating-admission-policy
 * docs, "Validation expression"): matchConditions have no `variables`. The
 * `authorizer` is not bound: an expression that uses it fails to compile
 * here, and then this code has to learn it. Kubernetes' CEL libraries beyond
 * cel-js's built-ins (lists, regex, url, ip, quantity, ...) are not
 * registered either, for the same reason; `join`, `split` and `matches` are
 * in both (cel-go's ext strings library and the standard one).
 */
function celEnvironment(withVariables: boolean): Environment {
  const env = new Environment({ unlistedVariablesAreDyn: false })
    .registerVariable('object', 'dyn')
    .registerVariable('oldObject', 'dyn')
    .registerVariable('request', 'map')
    .registerVariable('params', 'dyn')
    .registerVariable('namespaceObject', 'dyn');
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

function ruleMatches(rule: Rule, r: Resource, w: Write): boolean {
  const resource = w.subResource ? `${r.resource}/${w.subResource}` : r.resource;
  const any = (list: string[], v: string) => list.includes('*') || list.includes(v);
  // "*" is every resource but no subresource, "*/*" everything, "pods/*" every subresource of pods.
  const resourceMatches = rule.resources.some(
    (x) =>
      x === resource ||
      x === '*/*' ||
      (x === '*' && !w.subResource) ||
      (x === `${r.resource}/*` && Boolean(w.subResource)),
  );
  const scope = r.namespaced ? 'Namespaced' : 'Cluster';
  return (
    any(rule.apiGroups, r.group) &&
    any(rule.apiVersions, r.version) &&
    any(rule.operations, w.operation ?? 'UPDATE') &&
    resourceMatches &&
    (rule.scope === undefined || rule.scope === '*' || rule.scope === scope)
  );
}

/** A label selector (metav1.LabelSelector); an absent one selects everything. */
function selects(selector: Selector | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector) return true;
  const l = labels ?? {};
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => l[k] === v);
  return (
    byLabels &&
    (selector.matchExpressions ?? []).every((q) => {
      const has = Object.hasOwn(l, q.key);
      switch (q.operator) {
        case 'In':
          return has && q.values!.includes(l[q.key]!);
        case 'NotIn':
          return !has || !q.values!.includes(l[q.key]!);
        case 'Exists':
          return has;
        case 'DoesNotExist':
          return !has;
        default:
          throw new Error(`selector operator ${String(q.operator)}: not taught to policy-eval.ts`);
      }
    })
  );
}

/**
 * Whether a MatchResources selects the write; the objectSelector matches the
 * new or the old object. A namespaceSelector never skips a cluster-scoped
 * object other than a Namespace (MatchResources.namespaceSelector's doc).
 */
export function resourcesMatch(m: MatchResources | undefined, r: Resource, w: Write): boolean {
  if (!m) return true;
  const rules = m.resourceRules ?? [];
  const namespace = r.namespaced
    ? selects(m.namespaceSelector, { 'kubernetes.io/metadata.name': w.oldObject.metadata.namespace ?? '' })
    : true;
  return (
    (rules.length === 0 || rules.some((x) => ruleMatches(x, r, w))) &&
    !(m.excludeResourceRules ?? []).some((x) => ruleMatches(x, r, w)) &&
    namespace &&
    (selects(m.objectSelector, w.object.metadata.labels) || selects(m.objectSelector, w.oldObject.metadata.labels))
  );
}

/** messageProblems: messageExpressions that gave no usable message, which the apiserver replaces silently. */
export interface Verdict {
  matched: boolean;
  allowed: boolean;
  denials: string[];
  messageProblems: string[];
}

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

/** The apiserver's verdict on a write of resource r under the policy and its binding. */
export function admit({ policy, binding }: Manifests, r: Resource, w: Write): Verdict {
  const skipped = { matched: false, allowed: true, denials: [], messageProblems: [] };
  if (!resourcesMatch(policy.spec.matchConstraints, r, w) || !resourcesMatch(binding.spec.matchResources, r, w))
    return skipped;
  const fails = policy.spec.failurePolicy !== 'Ignore';
  const base = {
    object: unstructured(w.object, r.mapFields),
    oldObject: unstructured(w.oldObject, r.mapFields),
    request: admissionRequest(r, w),
    params: null,
    namespaceObject: null,
  };
  const conditions = (policy.spec.matchConditions ?? []).map((m) => run(MATCH_ENV, m.expression, base));
  if (conditions.some((c) => 'value' in c && c.value === false)) return skipped;
  const conditionErrors = conditions
    .filter((c): c is { error: string } => 'error' in c)
    .map((c) => `match condition error: ${c.error}`);
  if (conditionErrors.length)
    return fails ? { ...skipped, matched: true, allowed: false, denials: conditionErrors } : skipped;
  const context = { ...base, variables: variablesOf(policy, base) };
  const denials: string[] = [];
  const messageProblems: string[] = [];
  for (const v of policy.spec.validations) {
    const out = run(VALIDATION_ENV, v.expression, context);
    if ('error' in out) {
      if (fails) denials.push(`expression '${v.expression}' resulted in error: ${out.error}`);
    } else if (out.value !== true) denials.push(denialMessage(v, context, messageProblems));
  }
  return {
    matched: true,
    allowed: denials.length === 0 || !binding.spec.validationActions.includes('Deny'),
    denials,
    messageProblems,
  };
}

// ------------------------------------------------------ checks both tests make

/**
 * Every expression compiles with the variables the apiserver binds and only cel-js built-ins, and reads variables
 * defined before it.
 */
export function assertCompiles(policy: Policy): void {
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
    assert.ok(
      VALIDATION_ENV.check(v.expression).valid,
      `variable ${v.name}: ${VALIDATION_ENV.check(v.expression).error?.message}`,
    );
    for (const [, used] of v.expression.matchAll(/\bvariables\.(\w+)/gu))
      assert.ok(before.has(used!), `variable ${v.name} reads ${used}, not defined before it`);
    before.add(v.name!);
  }
  for (const [, used] of policy.spec.validations
    .flatMap((v) => [v.expression, v.messageExpression ?? ''])
    .join('\n')
    .matchAll(/\bvariables\.(\w+)/gu)) {
    assert.ok(before.has(used!), `variables.${used} is not defined`);
  }
  for (const v of policy.spec.validations) {
    check(VALIDATION_ENV, v.expression, ['bool', 'dyn']);
    if (v.messageExpression) check(VALIDATION_ENV, v.messageExpression, ['string', 'dyn']);
    // ValidatingAdmissionPolicy validation: "message must not contain line breaks".
    assert.ok(!v.message?.includes('\n'), `${v.expression}: the message has a line break`);
  }
}

/** What a case expects: the verdict, whether the policy applies at all, and a denial that says why. */
export interface Expected {
  allowed: boolean;
  matched?: boolean;
  says?: RegExp;
}

export function assertVerdict(verdict: Verdict, c: Expected): void {
  assert.equal(verdict.matched, c.matched ?? true, `matched: ${JSON.stringify(verdict)}`);
  assert.equal(verdict.allowed, c.allowed, `allowed: ${JSON.stringify(verdict)}`);
  // A denial is the policy's own answer, never a CEL error left to failurePolicy.
  for (const d of verdict.denials) assert.doesNotMatch(d, /resulted in error|match condition error/u, d);
  assert.deepEqual(verdict.messageProblems, [], 'a messageExpression gave no message');
  if (c.says)
    assert.ok(
      verdict.denials.some((d) => c.says!.test(d)),
      `${c.says}: ${verdict.denials.join('; ')}`,
    );
}

/** Whether a case's verdict, and the denial it expects, hold under a policy. */
export function holds(c: Expected, verdict: Verdict): boolean {
  return verdict.allowed === c.allowed && (!c.says || verdict.denials.some((d) => c.says!.test(d)));
}

/**
 * Every validation is needed: without any one of them, some case fails (a
 * write gets through, or is refused without saying why). `failsWithout`
 * tells whether any case fails under the policy given.
 */
export function assertEveryValidationNeeded(full: Manifests, failsWithout: (m: Manifests) => boolean): void {
  full.policy.spec.validations.forEach((dropped, i) => {
    const policy = structuredClone(full.policy);
    policy.spec.validations.splice(i, 1);
    assert.ok(failsWithout({ policy, binding: full.binding }), `no case needs validation ${dropped.expression}`);
  });
}
