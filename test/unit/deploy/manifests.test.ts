/**
 * deploy/, checked statically: no cluster, no kustomize binary, no Docker.
 *  - every YAML file parses, and means the same in YAML 1.1 (what kubectl's
 *    parser follows) and 1.2 (the `yaml` package's default);
 *  - every kustomization names paths that exist and that kustomize may load;
 *  - the base and the overlays are built here, with the subset of kustomize
 *    they use (resources, namespace, labels, images, replicas, JSON 6902
 *    patches; anything else fails the build so that it gets taught), and the
 *    result is checked: names and namespaces, RBAC against the API calls the
 *    code makes, the webhook's Service, the certificate chain, Service
 *    selectors and ports, container flags against the option list of
 *    controller/cluster/main.ts, the node agent's host mounts;
 *  - deploy/Dockerfile, read instruction by instruction.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';
import { clusterProgram } from '../../../controller/cluster/roles.ts';
import { examplesOf } from '../../../controller/view/command.ts';

type Obj = Record<string, any>;

const ROOT = resolve(import.meta.dirname, '../../..');
const DEPLOY = join(ROOT, 'deploy');
const NAMESPACE = 'virtnet-system';
const IMAGE = 'ghcr.io/virtnet/virtnet';
const rel = (p: string) => relative(ROOT, p);
const source = (p: string) => readFileSync(join(ROOT, p), 'utf8');

// ---------------------------------------------------------------- YAML files

function files(dir: string, keep: (name: string) => boolean): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) return files(p, keep);
      return keep(name) ? [p] : [];
    });
}

const isYaml = (name: string) => /\.ya?ml$/u.test(name) || name === 'Kustomization';
const docCache = new Map<string, Obj[]>();

/** The non-empty documents of a YAML file; throws on any parse error. */
function docs(file: string): Obj[] {
  let cached = docCache.get(file);
  if (!cached) {
    const all = parseAllDocuments(readFileSync(file, 'utf8'));
    for (const d of all) if (d.errors.length) throw new Error(`${rel(file)}: ${d.errors[0]!.message}`);
    cached = all.map((d) => d.toJS() as Obj).filter((d) => d !== null && d !== undefined);
    docCache.set(file, cached);
  }
  return structuredClone(cached);
}

test('every YAML file under deploy/ parses, and means the same in YAML 1.1 and 1.2', () => {
  const all = files(DEPLOY, isYaml);
  assert.ok(all.length >= 10, `only ${all.length} YAML files under deploy/`);
  for (const f of all) {
    const v12 = docs(f);
    const v11 = parseAllDocuments(readFileSync(f, 'utf8'), { version: '1.1' })
      .map((d) => d.toJS())
      .filter((d) => d !== null && d !== undefined);
    // e.g. `0440` is 288 for kubectl and 440 for YAML 1.2; `on` is true or "on".
    assert.deepEqual(v11, v12, `${rel(f)} reads differently in YAML 1.1 (kubectl) and 1.2`);
    for (const d of v12) {
      if (Array.isArray(d)) continue; // a JSON 6902 patch
      assert.equal(typeof d.apiVersion, 'string', `${rel(f)}: a document without apiVersion`);
      assert.equal(typeof d.kind, 'string', `${rel(f)}: a document without kind`);
    }
  }
});

// ------------------------------------------------------- kustomize, the subset

const KUSTOMIZATION_NAMES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];
const kustomizationOf = (dir: string) => KUSTOMIZATION_NAMES.map((n) => join(dir, n)).find((p) => existsSync(p));
const kustomizations = () => files(DEPLOY, (n) => KUSTOMIZATION_NAMES.includes(n));

const CLUSTER_SCOPED = new Set([
  'Namespace',
  'CustomResourceDefinition',
  'ClusterRole',
  'ClusterRoleBinding',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
  'PriorityClass',
  'ClusterIssuer',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
]);
const NAMESPACED = new Set([
  'ServiceAccount',
  'Service',
  'Deployment',
  'DaemonSet',
  'StatefulSet',
  'ConfigMap',
  'Secret',
  'Role',
  'RoleBinding',
  'Certificate',
  'Issuer',
  'PodDisruptionBudget',
  'ServiceMonitor',
  'NetworkPolicy',
]);

function namespaced(o: Obj): boolean {
  if (CLUSTER_SCOPED.has(o.kind)) return false;
  if (NAMESPACED.has(o.kind)) return true;
  throw new Error(`kind ${o.kind} (${o.metadata?.name}): say in this test whether it is namespaced`);
}

/** Problems kustomize itself would stop at, collected so that one test reports them and the others still run. */
const loadProblems = new Set<string>();

const isInside = (p: string, dir: string) => p === dir || p.startsWith(dir + sep);

function loadResource(dir: string, ref: string): Obj[] {
  const p = resolve(dir, ref);
  if (!existsSync(p)) throw new Error(`${rel(dir)}: resource ${ref} does not exist`);
  if (statSync(p).isDirectory()) {
    if (kustomizationOf(p)) return build(p);
    loadProblems.add(
      `${rel(dir)}: resource ${ref} is a directory without a kustomization.yaml (kustomize stops here); ` +
        `it should list ${files(p, (n) => /\.ya?ml$/u.test(n))
          .map((f) => relative(p, f))
          .join(', ')}`,
    );
    return files(p, (n) => /\.ya?ml$/u.test(n)).flatMap(docs); // read on, to check the rest
  }
  if (!isInside(p, dir))
    loadProblems.add(`${rel(dir)}: resource ${ref} is a file outside the kustomization's root (kustomize refuses it)`);
  return docs(p);
}

function podSpecs(o: Obj): Obj[] {
  if (o.kind === 'Pod') return [o.spec];
  if (['Deployment', 'DaemonSet', 'StatefulSet', 'ReplicaSet', 'Job'].includes(o.kind)) return [o.spec.template.spec];
  if (o.kind === 'CronJob') return [o.spec.jobTemplate.spec.template.spec];
  return [];
}

function containersOf(o: Obj): Obj[] {
  return podSpecs(o).flatMap((s) => [...(s.initContainers ?? []), ...(s.containers ?? [])]);
}

function splitImage(image: string): { name: string; tag?: string; digest?: string } {
  const [rest, digest] = image.split('@') as [string, string | undefined];
  const colon = rest.lastIndexOf(':');
  const named =
    colon > rest.lastIndexOf('/') ? { name: rest.slice(0, colon), tag: rest.slice(colon + 1) } : { name: rest };
  return digest ? { ...named, digest } : named;
}

function pointer(path: string): string[] {
  assert.ok(path.startsWith('/'), `JSON pointer ${path} must start with /`);
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/gu, '/').replace(/~0/gu, '~'));
}

/** RFC 6902, the operations the overlays use. */
function applyOp(doc: Obj, op: Obj): void {
  const parts = pointer(op.path);
  const last = parts.pop()!;
  let parent: any = doc;
  for (const p of parts) {
    parent = Array.isArray(parent) ? parent[Number(p)] : parent?.[p];
    if (parent === undefined) throw new Error(`${op.op} ${op.path}: ${p} does not exist`);
  }
  const index = Array.isArray(parent) ? (last === '-' ? parent.length : Number(last)) : -1;
  const exists = Array.isArray(parent) ? index < parent.length : last in parent;
  switch (op.op) {
    case 'test':
      if (!exists || !isDeepStrictEqual(Array.isArray(parent) ? parent[index] : parent[last], op.value)) {
        throw new Error(
          `test ${op.path}: expected ${JSON.stringify(op.value)}, found ` +
            `${JSON.stringify(Array.isArray(parent) ? parent[index] : parent[last])}`,
        );
      }
      return;
    case 'add':
      if (Array.isArray(parent)) {
        if (index > parent.length) throw new Error(`add ${op.path}: index out of range`);
        parent.splice(index, 0, structuredClone(op.value));
      } else parent[last] = structuredClone(op.value);
      return;
    case 'replace':
    case 'remove':
      if (!exists) throw new Error(`${op.op} ${op.path}: nothing there`);
      if (op.op === 'remove') {
        if (Array.isArray(parent)) parent.splice(index, 1);
        else delete parent[last];
      } else if (Array.isArray(parent)) parent[index] = structuredClone(op.value);
      else parent[last] = structuredClone(op.value);
      return;
    default:
      throw new Error(`JSON 6902 op ${op.op}: not taught to this test`);
  }
}

function matchesTarget(o: Obj, t: Obj): boolean {
  for (const k of Object.keys(t))
    if (!['group', 'version', 'kind', 'name', 'namespace'].includes(k))
      throw new Error(`patch target ${k}: not taught to this test`);
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  return (
    (t.kind === undefined || t.kind === o.kind) &&
    (t.name === undefined || t.name === o.metadata.name) &&
    (t.namespace === undefined || t.namespace === o.metadata.namespace) &&
    (t.group === undefined || t.group === group) &&
    (t.version === undefined || t.version === version)
  );
}

const KNOWN_FIELDS = new Set([
  'apiVersion',
  'kind',
  'namespace',
  'labels',
  'resources',
  'patches',
  'images',
  'replicas',
]);

/** `kustomize build DIR` for the fields deploy/ uses; fails on any other field. */
function build(dir: string): Obj[] {
  const file = kustomizationOf(dir);
  if (!file) throw new Error(`${rel(dir)}: no kustomization`);
  const k = parse(readFileSync(file, 'utf8')) as Obj;
  for (const field of Object.keys(k))
    if (!KNOWN_FIELDS.has(field)) throw new Error(`${rel(file)}: ${field} is not taught to this test's kustomize`);
  const objs = (k.resources ?? []).flatMap((r: string) => loadResource(dir, r)) as Obj[];
  for (const p of k.patches ?? []) {
    const body = p.path !== undefined ? docs(resolve(dir, p.path)) : [parse(p.patch)];
    const ops = body.length === 1 && Array.isArray(body[0]) ? (body[0] as Obj[]) : undefined;
    if (!ops || !p.target)
      throw new Error(`${rel(file)}: only JSON 6902 patches with a target are taught to this test`);
    const targets = objs.filter((o) => matchesTarget(o, p.target));
    if (!targets.length) throw new Error(`${rel(file)}: patch ${p.path ?? '(inline)'} matches no object`);
    for (const o of targets)
      for (const op of ops) {
        try {
          applyOp(o, op);
        } catch (err) {
          throw new Error(
            `${rel(file)}: patch ${p.path ?? '(inline)'} on ${o.kind}/${o.metadata.name}: ${(err as Error).message}`,
          );
        }
      }
  }
  if (k.namespace) for (const o of objs) if (namespaced(o)) o.metadata.namespace = k.namespace;
  for (const l of k.labels ?? []) {
    if (l.includeSelectors || l.includeTemplates)
      throw new Error(`${rel(file)}: labels into selectors or templates are not taught to this test`);
    for (const o of objs) o.metadata.labels = { ...o.metadata.labels, ...l.pairs };
  }
  for (const r of k.replicas ?? []) {
    const hits = objs.filter(
      (o) => ['Deployment', 'StatefulSet', 'ReplicaSet'].includes(o.kind) && o.metadata.name === r.name,
    );
    if (!hits.length) throw new Error(`${rel(file)}: replicas for ${r.name} match nothing`);
    for (const o of hits) o.spec.replicas = r.count;
  }
  for (const img of k.images ?? []) {
    let hits = 0;
    for (const c of objs.flatMap(containersOf)) {
      const cur = splitImage(c.image);
      if (cur.name !== img.name) continue;
      hits++;
      const tag = img.newTag ?? cur.tag;
      const digest = img.digest ?? (img.newTag ? undefined : cur.digest);
      c.image = `${img.newName ?? cur.name}${tag ? `:${tag}` : ''}${digest ? `@${digest}` : ''}`;
    }
    if (!hits) throw new Error(`${rel(file)}: image ${img.name} matches no container`);
  }
  return objs;
}

const BUILDS = { base: 'deploy/base', dev: 'deploy/overlays/dev', production: 'deploy/overlays/production' } as const;
type BuildName = keyof typeof BUILDS;
const built = new Map<BuildName, Obj[]>();
function output(name: BuildName): Obj[] {
  if (!built.has(name)) built.set(name, build(join(ROOT, BUILDS[name])));
  return structuredClone(built.get(name)!);
}

function find(objs: Obj[], kind: string, name: string, namespace?: string): Obj | undefined {
  return objs.find(
    (o) =>
      o.kind === kind && o.metadata.name === name && (namespace === undefined || o.metadata.namespace === namespace),
  );
}
function the(objs: Obj[], kind: string, name: string, namespace?: string): Obj {
  const o = find(objs, kind, name, namespace);
  assert.ok(o, `no ${kind} ${namespace ? `${namespace}/` : ''}${name}`);
  return o;
}
const workloads = (objs: Obj[]) => objs.filter((o) => podSpecs(o).length > 0);
const controllerOf = (objs: Obj[]) => the(objs, 'Deployment', 'virtnet-controller', NAMESPACE);
const agentOf = (objs: Obj[]) => the(objs, 'DaemonSet', 'virtnet-node-agent', NAMESPACE);

test('every kustomization names resources and patches that exist', () => {
  const ks = kustomizations();
  assert.deepEqual(
    ks.map(rel).filter((p) => !p.startsWith('deploy/crds/')),
    [
      'deploy/base/kustomization.yaml',
      'deploy/overlays/dev/kustomization.yaml',
      'deploy/overlays/production/kustomization.yaml',
    ],
  );
  for (const file of ks) {
    const k = parse(readFileSync(file, 'utf8')) as Obj;
    assert.equal(k.apiVersion, 'kustomize.config.k8s.io/v1beta1', rel(file));
    assert.equal(k.kind, 'Kustomization', rel(file));
    for (const r of k.resources ?? [])
      assert.ok(existsSync(resolve(dirname(file), r)), `${rel(file)}: resource ${r} does not exist`);
    for (const p of k.patches ?? [])
      if (p.path !== undefined)
        assert.ok(existsSync(resolve(dirname(file), p.path)), `${rel(file)}: patch ${p.path} does not exist`);
  }
});

test('kustomize can load every resource: files inside the root, directories with a kustomization', () => {
  for (const name of Object.keys(BUILDS) as BuildName[]) output(name);
  // The base names ../crds: kustomize refuses a file outside a kustomization's
  // root, so deploy/crds needs a kustomization.yaml of its own, which
  // `npm run manifests` (controller/api/crds.ts) should generate beside the CRDs.
  assert.deepEqual([...loadProblems], []);
});

// ------------------------------------------------------------------ the base

test('the base: every object named and kinded, namespaced ones in virtnet-system, the CRDs included', () => {
  const objs = output('base');
  const keys = new Set<string>();
  for (const o of objs) {
    assert.ok(
      o.apiVersion && o.kind && o.metadata?.name,
      `an object without apiVersion, kind or metadata.name: ${JSON.stringify(o).slice(0, 120)}`,
    );
    const key = `${o.apiVersion.split('/')[0]}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    assert.ok(!keys.has(key), `${key} twice`);
    keys.add(key);
    if (namespaced(o)) assert.equal(o.metadata.namespace, NAMESPACE, `${o.kind}/${o.metadata.name}`);
    else assert.equal(o.metadata.namespace, undefined, `${o.kind}/${o.metadata.name} is cluster-scoped`);
    assert.equal(o.metadata.labels?.['app.kubernetes.io/part-of'], 'virtnet', `${o.kind}/${o.metadata.name}`);
  }
  assert.ok(find(objs, 'Namespace', NAMESPACE), 'the Namespace object');
  const crds = files(join(DEPLOY, 'crds'), (n) => /\.ya?ml$/u.test(n) && !KUSTOMIZATION_NAMES.includes(n)).flatMap(
    docs,
  );
  assert.ok(crds.length >= 2);
  for (const crd of crds)
    assert.ok(find(objs, 'CustomResourceDefinition', crd.metadata.name), `CRD ${crd.metadata.name} is not in the base`);
  for (const kind of [
    'ServiceAccount',
    'ClusterRole',
    'ClusterRoleBinding',
    'Deployment',
    'DaemonSet',
    'Service',
    'ValidatingWebhookConfiguration',
    'Certificate',
    'Issuer',
  ]) {
    assert.ok(
      objs.some((o) => o.kind === kind),
      `no ${kind}`,
    );
  }
});

// -------------------------------------------------------------------- RBAC

type Perm = string; // "<group or core> <resource> <verb>"
const perm = (group: string, resource: string, verb: string): Perm => `${group || 'core'} ${resource} ${verb}`;
const perms = (group: string, resource: string, verbs: string) => verbs.split(' ').map((v) => perm(group, resource, v));

/**
 * Written from controller/control/controller.ts, node-subnets.ts (its webhook's node watch) and kube.ts; the next test
 * derives the same from the code.
 */
const CONTROLLER_PERMS: Perm[] = [
  // update: a VM's LiveUpdate of its running VMI's interfaces (reconcile-vm.ts updateVmiSpec)
  ...perms('virtnet.io', 'virtualmachineinstances', 'get list watch create update delete'),
  ...perms('virtnet.io', 'virtualmachines', 'get list watch'),
  ...perms('virtnet.io', 'virtualmachineinstances/status', 'update'),
  ...perms('virtnet.io', 'virtualmachines/status', 'update'),
  // blockOwnerDeletion on the owner references it writes (launcher pods → VMI, VMI → VM)
  ...perms('virtnet.io', 'virtualmachineinstances/finalizers', 'update'),
  ...perms('virtnet.io', 'virtualmachines/finalizers', 'update'),
  ...perms('k8s.cni.cncf.io', 'network-attachment-definitions', 'get list watch'),
  // patch: a running VMI's new interfaces onto its launcher pod (reconcile-live.ts)
  ...perms('', 'pods', 'get list watch create patch delete'),
  ...perms('', 'nodes', 'list watch'),
  // Events about VMIs (events.ts): made, and counted again when one repeats.
  ...perms('', 'events', 'create patch'),
];
/**
 * Written from controller/agent/node-agent.ts: it watches pods and merge-patches one annotation (never update: it would
 * replace whole pods); and from node-peers.ts: it watches the Nodes and merge-patches its own Node's two peer
 * annotations.
 */
const NODE_AGENT_PERMS: Perm[] = [
  ...perms('', 'pods', 'get list watch patch'),
  ...perms('', 'nodes', 'get list watch patch'),
];

function roleOf(objs: Obj[], name: string): Set<Perm> {
  const role = the(objs, 'ClusterRole', name);
  const out = new Set<Perm>();
  for (const r of role.rules ?? []) {
    assert.equal(r.resourceNames, undefined, `${name}: resourceNames are not expected`);
    assert.equal(r.nonResourceURLs, undefined, `${name}: nonResourceURLs are not expected`);
    for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) out.add(perm(g, res, v));
  }
  return out;
}

test('RBAC: no wildcard, no secrets, and each ClusterRole grants exactly what its component uses', () => {
  const objs = output('base');
  for (const o of objs.filter((x) => ['ClusterRole', 'Role'].includes(x.kind))) {
    for (const r of o.rules ?? []) {
      for (const field of ['apiGroups', 'resources', 'verbs', 'resourceNames', 'nonResourceURLs']) {
        for (const v of r[field] ?? [])
          assert.ok(!String(v).includes('*'), `${o.kind}/${o.metadata.name} ${field}: ${v}`);
      }
      assert.ok(
        !(r.resources ?? []).some((x: string) => x.startsWith('secrets')),
        `${o.metadata.name} may read secrets`,
      );
    }
    assert.equal(o.aggregationRule, undefined, `${o.metadata.name}: aggregated roles grant what others say`);
  }
  assert.deepEqual([...roleOf(objs, 'virtnet-controller')].sort(), [...CONTROLLER_PERMS].sort());
  assert.deepEqual([...roleOf(objs, 'virtnet-node-agent')].sort(), [...NODE_AGENT_PERMS].sort());
  assert.deepEqual(
    objs
      .filter((o) => o.kind === 'ClusterRole')
      .map((o) => o.metadata.name)
      .sort(),
    ['virtnet-controller', 'virtnet-node-agent'],
  );
  assert.ok(!objs.some((o) => o.kind === 'Role' || o.kind === 'RoleBinding'), 'no namespaced roles are expected');
});

const GROUP_OF: Record<string, string> = {
  virtualmachineinstances: 'virtnet.io',
  virtualmachines: 'virtnet.io',
  'network-attachment-definitions': 'k8s.cni.cncf.io',
  pods: '',
  nodes: '',
  events: '',
};

/**
 * What a file's calls on KubeApi (controller/kube/kube.ts) need: each
 * method and the verbs its client-node calls use. An unknown method fails:
 * teach it here, and grant it in deploy/base.
 */
function neededBy(file: string): { needed: Set<Perm>; watched: Set<string> } {
  const text = source(file);
  const needed = new Set<Perm>();
  const watched = new Set<string>();
  const calls = [...text.matchAll(/\bapi!?\.(\w+)\((?=([^\n]*))/gu)]; // the lookahead leaves a second call on the line to match
  assert.ok(calls.length > 0, `${file}: no KubeApi call found`);
  for (const [, method, rest] of calls) {
    const r = /^\s*'([\w-]+)'/u.exec(rest!)?.[1];
    const need = (resource: string | undefined, ...verbs: string[]) => {
      assert.ok(resource, `${file}: api.${method}(${rest!.slice(0, 40)}…) without a literal resource: teach this test`);
      const group = GROUP_OF[resource.split('/')[0]!];
      assert.ok(group !== undefined, `${file}: unknown resource ${resource}`);
      for (const v of verbs) needed.add(perm(group, resource, v));
    };
    switch (method) {
      case 'watch':
        need(r, 'list', 'watch');
        watched.add(r!);
        break;
      case 'get':
        need(r, 'get');
        break;
      case 'create':
        need(r, 'create');
        break;
      case 'delete':
        need(r, 'delete');
        break;
      case 'replaceStatus':
        need(`${r}/status`, 'update');
        break;
      case 'replace':
        need(r, 'update');
        break;
      case 'createPod':
        need('pods', 'create');
        break;
      case 'getPod':
        need('pods', 'get');
        break;
      case 'replacePod':
        need('pods', 'update');
        break;
      case 'replacePodStatus':
        need('pods/status', 'update');
        break;
      case 'patchPodAnnotations':
        need('pods', 'patch');
        break;
      case 'patchNodeAnnotations':
        need('nodes', 'patch');
        break;
      case 'createEvent':
        need('events', 'create');
        break; // EventApi (events.ts)
      case 'patchEvent':
        need('events', 'patch');
        break;
      case 'updatePod':
        need('pods', 'get');
        need(/status:\s*true/u.test(rest!) ? 'pods/status' : 'pods', 'update');
        break;
      default:
        assert.fail(
          `${file}: api.${method}: which verbs does it need? Teach this test (and grant them in deploy/base)`,
        );
    }
  }
  return { needed, watched };
}

/** The role may add to what the calls need only a `get` on what is watched, and finalizers for blockOwnerDeletion. */
function checkDerived(role: Set<Perm>, files: string[], allowFinalizers: Set<string>): void {
  const uses = files.map(neededBy);
  const needed = new Set(uses.flatMap((u) => [...u.needed]));
  const watched = new Set(uses.flatMap((u) => [...u.watched]));
  const file = files.join(' + ');
  for (const p of needed) assert.ok(role.has(p), `${file} needs ${p}, which its ClusterRole lacks`);
  for (const p of role) {
    if (needed.has(p)) continue;
    const [, resource, verb] = p.split(' ') as [string, string, string];
    const ok =
      (verb === 'get' && watched.has(resource)) ||
      (verb === 'update' && resource.endsWith('/finalizers') && allowFinalizers.has(resource.split('/')[0]!));
    assert.ok(ok, `the ClusterRole grants ${p}, which ${file} does not use`);
  }
}

test('RBAC: the ClusterRoles follow from the API calls in the code', () => {
  const objs = output('base');
  // Owner references with blockOwnerDeletion: true, whose owners' finalizers may then need update.
  const blocking = new Set<string>();
  if (/kind: 'VirtualMachineInstance'[^}]*blockOwnerDeletion: true/u.test(source('controller/render/pod.ts')))
    blocking.add('virtualmachineinstances');
  if (/kind: 'VirtualMachine'[^}]*blockOwnerDeletion: true/u.test(source('controller/render/vmi.ts')))
    blocking.add('virtualmachines');
  // The controller's process also serves the webhook, whose node watch is node-subnets.ts's.
  checkDerived(
    roleOf(objs, 'virtnet-controller'),
    ['controller/control/controller.ts', 'controller/control/events.ts', 'controller/control/node-subnets.ts'],
    blocking,
  );
  checkDerived(
    roleOf(objs, 'virtnet-node-agent'),
    ['controller/agent/node-agent.ts', 'controller/agent/node-peers.ts'],
    new Set(),
  );
  // Cluster-wide roles are right only while the components watch every namespace (no -n).
  for (const w of [controllerOf(objs), agentOf(objs)]) {
    const args: string[] = w.spec.template.spec.containers[0].args;
    assert.ok(
      !args.includes('-n') && !args.some((a) => a.startsWith('--namespace')),
      `${w.metadata.name} is namespace-scoped: a ClusterRole is too much`,
    );
  }
});

test('RBAC: bindings name roles and ServiceAccounts that exist, and every workload has its own ServiceAccount', () => {
  const objs = output('base');
  const bindings = objs.filter((o) => o.kind === 'ClusterRoleBinding');
  assert.equal(bindings.length, 2);
  for (const b of bindings) {
    assert.equal(b.roleRef.apiGroup, 'rbac.authorization.k8s.io');
    assert.equal(b.roleRef.kind, 'ClusterRole');
    the(objs, 'ClusterRole', b.roleRef.name);
    for (const s of b.subjects) {
      assert.equal(s.kind, 'ServiceAccount');
      the(objs, 'ServiceAccount', s.name, s.namespace);
    }
  }
  for (const w of workloads(objs)) {
    const sa = w.spec.template.spec.serviceAccountName;
    assert.ok(sa, `${w.kind}/${w.metadata.name}: no serviceAccountName (the namespace's default has no rights)`);
    the(objs, 'ServiceAccount', sa, w.metadata.namespace);
    const bound = bindings.find((b) =>
      b.subjects.some((s: Obj) => s.name === sa && s.namespace === w.metadata.namespace),
    );
    assert.ok(bound, `${sa} is bound to nothing`);
  }
  assert.equal(controllerOf(objs).spec.template.spec.serviceAccountName, 'virtnet-controller');
  assert.equal(agentOf(objs).spec.template.spec.serviceAccountName, 'virtnet-node-agent');
});

// ------------------------------------------- the node agent's admission policy

const policyOf = (objs: Obj[]) => the(objs, 'ValidatingAdmissionPolicy', 'virtnet-node-agent');
const celOf = (policy: Obj) =>
  [
    ...policy.spec.matchConditions.map((m: Obj) => m.expression),
    ...policy.spec.variables.map((v: Obj) => v.expression),
    ...policy.spec.validations.map((v: Obj) => v.expression),
  ].join('\n');

test(
  'node agent: patch of pods only, narrowed ' +
    'by a ValidatingAdmissionPolicy ' +
    "to its own node's pods, as " +
    'NodeRestriction does for kubelets',
  () => {
    const objs = output('base');
    const role = roleOf(objs, 'virtnet-node-agent');
    assert.ok(role.has(perm('', 'pods', 'patch')) && !role.has(perm('', 'pods', 'update')), 'patch, never update');
    const policy = policyOf(objs);
    assert.equal(policy.apiVersion, 'admissionregistration.k8s.io/v1');
    assert.equal(policy.spec.failurePolicy, 'Fail', 'a policy that cannot be evaluated refuses');
    // It sees every write the agent may make: a patch is an UPDATE to admission.
    assert.deepEqual(policy.spec.matchConstraints.resourceRules, [
      { apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['pods'] },
    ]);
    // It applies to the agent's ServiceAccount, as the DaemonSet names it.
    const sa = the(objs, 'ServiceAccount', agentOf(objs).spec.template.spec.serviceAccountName, NAMESPACE);
    const username = `system:serviceaccount:${sa.metadata.namespace}:${sa.metadata.name}`;
    assert.deepEqual(
      policy.spec.matchConditions.map((m: Obj) => m.expression),
      [`request.userInfo.username == '${username}'`],
    );
    const cel = celOf(policy);
    // The node comes from the request's user info (a pod-bound token's node-name extra), and is compared with the pod's
    // node.
    assert.ok(
      cel.includes("request.userInfo.extra['authentication.kubernetes.io/node-name']"),
      'the node name comes from the token',
    );
    assert.ok(cel.includes('oldObject.spec.nodeName == variables.nodeName'), 'only pods bound to that node');
    assert.ok(cel.includes('object.spec == oldObject.spec'), 'no spec change');
    assert.match(cel, /object\.metadata\.labels == oldObject\.metadata\.labels/u, 'no label change');
    assert.ok(
      policy.spec.validations.some((v: Obj) => v.expression === "variables.nodeName != ''"),
      'a request without a node name is refused',
    );
    for (const v of policy.spec.validations)
      assert.ok(v.message || v.messageExpression, `${v.expression}: a denial says why`);
    // The writable annotations are exactly those the agent patches.
    const writable = JSON.parse(
      policy.spec.variables.find((v: Obj) => v.name === 'writable').expression.replaceAll("'", '"'),
    ) as string[];
    const agentTs = source('controller/agent/node-agent.ts');
    const patched = [...agentTs.matchAll(/patchPodAnnotations\([^)]*\{\s*\[(\w+)\]:/gu)].map((m) => m[1]!);
    assert.deepEqual(
      patched,
      ['LAUNCHER_STATUS_ANNOTATION'],
      'node-agent.ts patches the launcher status annotation, by patchPodAnnotations only',
    );
    assert.ok(!/\bapi!?\.(updatePod|replacePod)\(/u.test(agentTs), 'no read-modify-write of whole pods');
    const key = /LAUNCHER_STATUS_ANNOTATION = '([^']+)'/u.exec(source('controller/render/pod.ts'))?.[1];
    assert.deepEqual(writable, [key]);
    assert.ok(
      !writable.includes(/LAUNCHER_SPEC_ANNOTATION = '([^']+)'/u.exec(source('controller/render/pod.ts'))?.[1] ?? ''),
      'never the launcher spec',
    );
    // The binding enforces it.
    const bindings = objs.filter(
      (o) => o.kind === 'ValidatingAdmissionPolicyBinding' && o.spec.policyName === policy.metadata.name,
    );
    assert.equal(bindings.length, 1);
    assert.equal(bindings[0]!.apiVersion, 'admissionregistration.k8s.io/v1');
    assert.equal(bindings[0]!.spec.policyName, policy.metadata.name);
    assert.deepEqual(bindings[0]!.spec.validationActions, ['Deny']);
    assert.equal(bindings[0]!.spec.matchResources, undefined, 'every namespace');
  },
);

test(
  'node agent: patch of nodes, narrowed by a ' +
    'ValidatingAdmissionPolicy to its ' +
    "own Node's two peer annotations",
  () => {
    const objs = output('base');
    const role = roleOf(objs, 'virtnet-node-agent');
    assert.ok(role.has(perm('', 'nodes', 'patch')) && !role.has(perm('', 'nodes', 'update')), 'patch, never update');
    assert.ok(
      ![...role].some((p) => p.includes(' nodes/')),
      'no Node subresource: nodes/status is not matched by the policy',
    );
    const policy = the(objs, 'ValidatingAdmissionPolicy', 'virtnet-node-agent-nodes');
    assert.equal(policy.apiVersion, 'admissionregistration.k8s.io/v1');
    assert.equal(policy.spec.failurePolicy, 'Fail', 'a policy that cannot be evaluated refuses');
    assert.deepEqual(policy.spec.matchConstraints.resourceRules, [
      { apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['nodes'] },
    ]);
    const sa = the(objs, 'ServiceAccount', agentOf(objs).spec.template.spec.serviceAccountName, NAMESPACE);
    assert.deepEqual(
      policy.spec.matchConditions.map((m: Obj) => m.expression),
      [`request.userInfo.username == 'system:serviceaccount:${sa.metadata.namespace}:${sa.metadata.name}'`],
    );
    const cel = celOf(policy);
    assert.ok(
      cel.includes("request.userInfo.extra['authentication.kubernetes.io/node-name']"),
      'the node name comes from the token',
    );
    assert.ok(cel.includes('object.metadata.name == variables.nodeName'), 'only its own Node');
    // The writable annotations are exactly those node-peers.ts patches, by patchNodeAnnotations only.
    const writable = JSON.parse(
      policy.spec.variables.find((v: Obj) => v.name === 'writable').expression.replaceAll("'", '"'),
    ) as string[];
    const peerTs = source('controller/agent/node-peer.ts');
    const keys = ['VTEP_MAC_ANNOTATION', 'VXLAN_VNIS_ANNOTATION'].map(
      (k) => new RegExp(`export const ${k} = '([^']+)'`, 'u').exec(peerTs)?.[1],
    );
    assert.deepEqual(writable, keys);
    const peersTs = source('controller/agent/node-peers.ts');
    assert.match(peersTs, /want\[VTEP_MAC_ANNOTATION\] = /u, 'node-peers.ts publishes the VTEP MAC');
    assert.match(peersTs, /want\[VXLAN_VNIS_ANNOTATION\] = /u, 'node-peers.ts publishes the VNIs');
    assert.match(peersTs, /this\.publish\(want\)/u, 'and only those, in one patch');
    assert.deepEqual(
      [...peersTs.matchAll(/\bapi!?\.(\w+)\(/gu)].map((m) => m[1]).filter((m) => m !== 'watch'),
      ['patchNodeAnnotations'],
      'no read-modify-write of whole Nodes',
    );
    const bindings = objs.filter(
      (o) => o.kind === 'ValidatingAdmissionPolicyBinding' && o.spec.policyName === policy.metadata.name,
    );
    assert.equal(bindings.length, 1);
    assert.deepEqual(bindings[0]!.spec.validationActions, ['Deny']);
    assert.equal(bindings[0]!.spec.matchResources, undefined, 'every Node');
  },
);

// -------------------------------------------------- Services, webhook, TLS

function selects(selector: Obj, labels: Obj | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** The container port a Service port reaches in a workload, or undefined. */
function targetPort(w: Obj, port: Obj): { container: Obj; port: number } | undefined {
  const target = port.targetPort ?? port.port;
  for (const c of w.spec.template.spec.containers) {
    const p = (c.ports ?? []).find((x: Obj) =>
      typeof target === 'string' ? x.name === target : x.containerPort === target,
    );
    if (p) return { container: c, port: p.containerPort };
  }
  return undefined;
}

test('every Service selects a workload, and each of its ports reaches a container port', () => {
  const objs = output('base');
  for (const s of objs.filter((o) => o.kind === 'Service')) {
    const ws = workloads(objs).filter(
      (w) => w.metadata.namespace === s.metadata.namespace && selects(s.spec.selector, w.spec.template.metadata.labels),
    );
    assert.equal(ws.length, 1, `Service ${s.metadata.name} selects ${ws.length} workloads`);
    for (const p of s.spec.ports)
      assert.ok(targetPort(ws[0]!, p), `Service ${s.metadata.name} port ${p.port}: no such container port`);
  }
  // Workload selectors match their own templates.
  for (const w of workloads(objs))
    assert.ok(selects(w.spec.selector.matchLabels, w.spec.template.metadata.labels), `${w.metadata.name}: selector`);
});

test('the webhook configuration calls POST /validate on the controller through a Service that exists', () => {
  const objs = output('base');
  const vwcs = objs.filter((o) => o.kind === 'ValidatingWebhookConfiguration');
  assert.equal(vwcs.length, 1);
  const vwc = vwcs[0]!;
  const crds = objs.filter((o) => o.kind === 'CustomResourceDefinition');
  const webhookTs = source('controller/control/webhook.ts');
  for (const wh of vwc.webhooks) {
    assert.match(wh.name, /^[a-z0-9-]+(\.[a-z0-9-]+){2,}$/u, 'a webhook name is a domain of three labels or more');
    assert.deepEqual(wh.admissionReviewVersions, ['v1']);
    assert.equal(wh.sideEffects, 'None');
    assert.equal(wh.failurePolicy, 'Fail');
    const svc = wh.clientConfig.service;
    assert.equal(wh.clientConfig.url, undefined);
    const service = the(objs, 'Service', svc.name, svc.namespace);
    const port = service.spec.ports.find((p: Obj) => p.port === (svc.port ?? 443));
    assert.ok(port, `Service ${svc.name} has no port ${svc.port}`);
    assert.equal(svc.path, '/validate');
    assert.ok(webhookTs.includes(`startsWith('${svc.path}')`), `webhook.ts does not serve ${svc.path}`);
    // The port leads to the controller's --webhook-port, which serves TLS.
    const controller = controllerOf(objs);
    const reached = targetPort(controller, port);
    assert.ok(
      reached && selects(service.spec.selector, controller.spec.template.metadata.labels),
      'the webhook Service does not reach the controller',
    );
    const args = parseFlags(reached.container.args);
    assert.equal(Number(args.get('webhook-port')), reached.port);
    assert.ok(args.get('tls-cert') && args.get('tls-key'), 'the apiserver calls webhooks over TLS only');
    // Rules: CREATE and UPDATE of both kinds, in the CRDs' group and versions.
    assert.equal(wh.rules.length, 1);
    const [rule] = wh.rules;
    assert.deepEqual([...rule.operations].sort(), ['CREATE', 'UPDATE']);
    assert.deepEqual(rule.apiGroups, ['virtnet.io']);
    assert.deepEqual([...rule.resources].sort(), crds.map((c) => c.spec.names.plural).sort());
    for (const c of crds)
      assert.deepEqual(
        rule.apiVersions,
        c.spec.versions.map((v: Obj) => v.name),
        `${c.metadata.name} versions`,
      );
    assert.equal(rule.scope, 'Namespaced');
  }
});

test(
  'cert-manager: the injected ' +
    "CA and the controller's TLS " +
    'secret come from one Certificate ' +
    "for the Service's name",
  () => {
    const objs = output('base');
    const vwc = objs.find((o) => o.kind === 'ValidatingWebhookConfiguration')!;
    const from = vwc.metadata.annotations?.['cert-manager.io/inject-ca-from'];
    assert.ok(from, 'no cert-manager.io/inject-ca-from annotation');
    const [ns, name] = from.split('/');
    const cert = the(objs, 'Certificate', name, ns);
    const svc = vwc.webhooks[0].clientConfig.service;
    assert.ok(
      cert.spec.dnsNames.includes(`${svc.name}.${svc.namespace}.svc`),
      `the certificate lacks ${svc.name}.${svc.namespace}.svc`,
    );
    // The controller mounts that secret where its --tls-cert/--tls-key point.
    const controller = controllerOf(objs);
    const spec = controller.spec.template.spec;
    const vol = spec.volumes.find((v: Obj) => v.secret?.secretName === cert.spec.secretName);
    assert.ok(vol, `the controller does not mount ${cert.spec.secretName}`);
    const c = spec.containers[0];
    const mount = c.volumeMounts.find((m: Obj) => m.name === vol.name);
    assert.ok(mount?.readOnly);
    const args = parseFlags(c.args);
    assert.equal(args.get('tls-cert'), `${mount.mountPath}/tls.crt`);
    assert.equal(args.get('tls-key'), `${mount.mountPath}/tls.key`);
    // Every Certificate's issuer exists, and the chain ends at a self-signed Issuer.
    for (const crt of objs.filter((o) => o.kind === 'Certificate')) {
      assert.equal(crt.spec.issuerRef.kind, 'Issuer');
      const issuer = the(objs, 'Issuer', crt.spec.issuerRef.name, crt.metadata.namespace);
      if (issuer.spec.ca) {
        const ca = objs.find((o) => o.kind === 'Certificate' && o.spec.secretName === issuer.spec.ca.secretName);
        assert.ok(ca?.spec.isCA, `Issuer ${issuer.metadata.name}: its CA secret comes from no CA Certificate`);
      } else assert.deepEqual(issuer.spec, { selfSigned: {} });
    }
  },
);

// ------------------------------------------------------------ container flags

interface CliOption {
  type: 'string' | 'boolean';
  short?: string;
}

/** The cluster binary's roles, and each role's own flags, from its parser (controller/cluster/roles.ts). */
function mainOptions(): { options: Map<string, Map<string, CliOption>>; subcommands: Set<string> } {
  const program = clusterProgram();
  const subcommands = new Set(program.commands.map((c) => c.name()));
  const options = new Map<string, Map<string, CliOption>>();
  for (const sub of subcommands) {
    const role = program.commands.find((c) => c.name() === sub)!;
    const own = new Map<string, CliOption>();
    for (const o of role.options) {
      const type = o.required || o.optional ? 'string' : 'boolean';
      own.set(o.long!.slice(2), { type, ...(o.short && { short: o.short.slice(1) }) });
    }
    options.set(sub, own);
  }
  assert.ok(options.get('controller')?.has('metrics-port'), 'roles.ts: could not read its options');
  return { options, subcommands };
}

/** The flags of a virtnet-cluster command line (the role, then its flags), checked against that role's parser. */
function parseFlags(args: readonly string[]): Map<string, string | true> {
  const [sub, ...rest] = args;
  const options = mainOptions().options.get(sub!);
  assert.ok(options, `${sub} is not a role of controller/cluster/roles.ts`);
  const out = new Map<string, string | true>();
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    let name: string;
    let inline: string | undefined;
    if (a.startsWith('--')) [name, inline] = a.slice(2).split(/=(.*)/su) as [string, string | undefined];
    else if (/^-\w$/u.test(a)) name = [...options].find(([, o]) => o.short === a[1])?.[0] ?? a;
    else assert.fail(`unexpected positional argument ${a}`);
    const o = options.get(name);
    assert.ok(o, `--${name} is not an option of virtnet-cluster ${sub} (controller/cluster/roles.ts)`);
    if (o.type === 'boolean') {
      assert.equal(inline, undefined, `--${name} takes no value`);
      out.set(name, true);
    } else {
      const value = inline ?? rest[++i];
      assert.ok(value !== undefined && !value.startsWith('-'), `--${name} needs a value`);
      out.set(name, value);
    }
  }
  return out;
}

test("container flags are checked against their own role's parser, not every role's", () => {
  assert.equal(parseFlags(['node-agent', '--node', 'n1']).get('node'), 'n1');
  assert.throws(
    () => parseFlags(['controller', '--node', 'n1']),
    /--node is not an option of virtnet-cluster controller/u,
  );
  assert.throws(() => parseFlags(['node-agent', '--webhook-port', '8443']), /--webhook-port is not an option/u);
  assert.throws(() => parseFlags(['no-role']), /no-role is not a role/u);
});

test("the node agent's example in its --help is the DaemonSet's command line", () => {
  const agent = clusterProgram().commands.find((c) => c.name() === 'node-agent')!;
  const example = examplesOf(agent).find((e) => e.what.includes('DaemonSet'));
  assert.ok(example, 'roles.ts: the node agent has no example of the DaemonSet');
  const c = agentOf(output('base')).spec.template.spec.containers[0];
  const words = example.line.split(' ').map((w) => w.replace(/^"\$(\w+)"$/u, '$($1)'));
  assert.deepEqual(words, [...c.command, ...c.args]);
});

function envRefs(c: Obj, s: string): void {
  for (const [, v] of s.matchAll(/\$\((\w+)\)/gu))
    assert.ok(
      (c.env ?? []).some((e: Obj) => e.name === v),
      `$(${v}) in ${c.name}'s args is not in its env`,
    );
}

test('container commands: virtnet-cluster with a subcommand and flags that controller/cluster/main.ts parses', () => {
  const { subcommands } = mainOptions();
  for (const name of Object.keys(BUILDS) as BuildName[]) {
    const objs = output(name);
    const seen: string[] = [];
    for (const w of workloads(objs)) {
      for (const c of containersOf(w)) {
        assert.deepEqual(c.command, ['virtnet-cluster'], `${name}: ${w.metadata.name}/${c.name}`);
        const [sub] = c.args as string[];
        assert.ok(
          subcommands.has(sub!),
          `${name}: ${w.metadata.name}: subcommand ${sub} is not one of main.ts's (${[...subcommands].join(', ')})`,
        );
        seen.push(sub!);
        const flags = parseFlags(c.args);
        for (const a of c.args) envRefs(c, a);
        // Probes go to the port --metrics-port opens.
        const metrics = Number(flags.get('metrics-port'));
        for (const probe of [c.readinessProbe, c.livenessProbe]) {
          assert.ok(probe?.httpGet, `${name}: ${c.name} needs HTTP probes`);
          const port =
            typeof probe.httpGet.port === 'string'
              ? c.ports.find((p: Obj) => p.name === probe.httpGet.port)?.containerPort
              : probe.httpGet.port;
          assert.equal(port, metrics, `${name}: ${c.name}'s probes are not on --metrics-port`);
        }
        assert.equal(c.readinessProbe.httpGet.path, '/readyz');
        assert.equal(c.livenessProbe.httpGet.path, '/healthz');
      }
    }
    assert.deepEqual(seen.sort(), ['controller', 'node-agent'], name);
  }
  const metricsTs = source('controller/control/metrics.ts');
  for (const path of ['/healthz', '/readyz', '/metrics'])
    assert.ok(metricsTs.includes(`'${path}'`), `metrics.ts does not serve ${path}`);
});

test('metrics Services carry the prometheus.io annotations for the ports the components open', () => {
  const objs = output('base');
  for (const [service, workload] of [
    ['virtnet-controller-metrics', controllerOf(objs)],
    ['virtnet-node-agent-metrics', agentOf(objs)],
  ] as const) {
    const s = the(objs, 'Service', service, NAMESPACE);
    const a = s.metadata.annotations ?? {};
    assert.equal(a['prometheus.io/scrape'], 'true');
    assert.equal(a['prometheus.io/path'], '/metrics');
    const c = workload.spec.template.spec.containers[0];
    const port = parseFlags(c.args).get('metrics-port');
    assert.equal(a['prometheus.io/port'], port, `${service}: prometheus.io/port`);
    assert.ok(
      s.spec.ports.some((p: Obj) => targetPort(workload, p)?.port === Number(port)),
      `${service} does not expose ${port}`,
    );
  }
});

// ------------------------------------------------------------ the workloads

test('the controller: one replica replaced stop-then-start, non-root, read-only, unprivileged, with resources', () => {
  const d = controllerOf(output('base'));
  assert.equal(d.spec.replicas, 1, 'no leader election yet: exactly one controller');
  assert.equal(d.spec.strategy.type, 'Recreate', 'a RollingUpdate surge would run two controllers');
  const spec = d.spec.template.spec;
  assert.equal(spec.securityContext.runAsNonRoot, true);
  assert.equal(spec.securityContext.runAsUser, 65532);
  assert.equal(spec.securityContext.seccompProfile?.type, 'RuntimeDefault');
  assert.ok(!spec.hostNetwork && !spec.hostPID && !spec.hostIPC);
  assert.ok(!spec.volumes.some((v: Obj) => v.hostPath), 'no host paths');
  const [c, ...others] = spec.containers;
  assert.equal(others.length, 0);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.notEqual(c.securityContext.privileged, true);
  assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
  assert.equal(c.securityContext.capabilities.add, undefined);
  assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory);
  const flags = parseFlags(c.args);
  assert.deepEqual(
    ['metrics-port', 'webhook-port', 'tls-cert', 'tls-key'].map((f) => flags.get(f)),
    ['9090', '8443', '/etc/virtnet/tls/tls.crt', '/etc/virtnet/tls/tls.key'],
  );
  // The controller's ports are above 1024: a non-root process may bind them.
  for (const p of c.ports) assert.ok(p.containerPort > 1024);
});

const hostMount = (spec: Obj, c: Obj, path: string) => {
  const m = c.volumeMounts.find((x: Obj) => path === x.mountPath || path.startsWith(`${x.mountPath}/`));
  const v = m && spec.volumes.find((x: Obj) => x.name === m.name);
  return m && v?.hostPath ? { mount: m, hostPath: v.hostPath.path as string } : undefined;
};

test('the node agent: on every node, in the host network, privileged, with the host directories it works on', () => {
  const ds = agentOf(output('base'));
  const spec = ds.spec.template.spec;
  assert.equal(spec.hostNetwork, true);
  assert.equal(
    spec.dnsPolicy,
    'ClusterFirstWithHostNet',
    "in the host network, ClusterFirst would fall back to the node's resolver",
  );
  assert.ok(
    spec.tolerations.some((t: Obj) => t.operator === 'Exists' && t.key === undefined && t.effect === undefined),
    'it must tolerate every taint',
  );
  const [c, ...others] = spec.containers;
  assert.equal(others.length, 0);
  assert.equal(c.securityContext.privileged, true);
  const env = c.env.find((e: Obj) => e.name === 'NODE_NAME');
  assert.equal(env?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName');
  const flags = parseFlags(c.args);
  assert.equal(flags.get('node'), '$(NODE_NAME)');
  assert.ok(
    c.ports.every((p: Obj) => p.hostPort === p.containerPort),
    'in the host network, hostPort equals containerPort',
  );
  // Each host directory is mounted at its own path: the conflist names host
  // paths, which the agent reads and GC uses at the same paths.
  const mainTs = source('controller/cluster/main.ts');
  const conflist = /function podNetworkConfList[\s\S]*?\n\}\n/u.exec(mainTs)?.[0];
  assert.ok(conflist, 'main.ts: podNetworkConfList not found');
  const confPaths = [...conflist.matchAll(/(dataDir|logFile): '([^']+)'/gu)].map(([, k, p]) =>
    k === 'logFile' ? dirname(p!) : p!,
  );
  assert.ok(confPaths.length >= 3, `conflist paths: ${confPaths.join(', ')}`);
  const stateRoot = /LAUNCHER_STATE_ROOT = '([^']+)'/u.exec(source('controller/render/pod.ts'))?.[1];
  assert.ok(stateRoot, 'render/pod.ts: LAUNCHER_STATE_ROOT not found');
  assert.equal(flags.get('launcher-state-root'), stateRoot, 'the agent reads where the launcher pods write');
  const needed = [
    flags.get('cni-bin-dir'),
    flags.get('cni-conf-dir'),
    stateRoot,
    '/run/netns',
    ...confPaths,
  ] as string[];
  for (const path of needed) {
    assert.equal(typeof path, 'string');
    const m = hostMount(spec, c, path);
    assert.ok(m, `${path} is not on a hostPath mount`);
    assert.equal(m.hostPath, m.mount.mountPath, `${path}: mounted at a different path than on the host`);
    assert.ok(!m.mount.readOnly, `${path} is written to`);
  }
  assert.deepEqual([flags.get('cni-bin-dir'), flags.get('cni-conf-dir')], ['/opt/cni/bin', '/etc/cni/net.d']);
  // The node policy the agent writes for the plugin lets the conflist keep its data and log where it says, and lands on
  // the host.
  const policyFile = /DEFAULT_POLICY_FILE = '([^']+)'/u.exec(source('cni/policy.ts'))?.[1];
  assert.ok(
    policyFile && /cniPolicy: [^\n]*POD_NETWORK_POLICY/u.test(mainTs),
    "the node agent writes the plugin's node policy",
  );
  const policyMount = hostMount(spec, c, policyFile);
  assert.ok(
    policyMount && policyMount.hostPath === policyMount.mount.mountPath && !policyMount.mount.readOnly,
    `${policyFile} is not written to the host`,
  );
  const roots = /POD_NETWORK_POLICY = \{[\s\S]*?dataRoots: \[([^\]]*)\], logRoot: '([^']+)'/u.exec(mainTs);
  assert.ok(roots, 'main.ts: POD_NETWORK_POLICY not found');
  const dataRoots = [...roots[1]!.matchAll(/'([^']+)'/gu)].map((m) => m[1]!);
  for (const [, key, path] of conflist.matchAll(/(dataDir|logFile): '([^']+)'/gu)) {
    const under = key === 'logFile' ? [roots[2]!] : dataRoots;
    assert.ok(
      under.some((r) => path!.startsWith(`${r}/`)),
      `${key} ${path} is outside the node policy's ${under.join(', ')}`,
    );
  }
  // Network namespaces: the runtime's unmounts must reach the container, or it pins dead pods' namespaces.
  assert.ok(['HostToContainer', 'Bidirectional'].includes(hostMount(spec, c, '/run/netns')!.mount.mountPropagation));
  assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory);
});

// ---------------------------------------------------------------- overlays

test('every image is pinned: a tag that is not latest, or a digest', () => {
  for (const name of Object.keys(BUILDS) as BuildName[]) {
    for (const c of output(name).flatMap(containersOf)) {
      const img = splitImage(c.image);
      assert.ok(img.digest || (img.tag && img.tag !== 'latest'), `${name}: ${c.name} runs ${c.image}`);
      assert.equal(img.name, IMAGE, `${name}: ${c.name}: one image for everything`);
    }
  }
});

function controllerImages(objs: Obj[]): { container: string; launcher: string | true | undefined } {
  const c = controllerOf(objs).spec.template.spec.containers[0];
  return { container: c.image, launcher: parseFlags(c.args).get('image') };
}

test('overlays: dev runs the dev tag, pulled every time, with debug logs', () => {
  const objs = output('dev');
  for (const w of [controllerOf(objs), agentOf(objs)]) {
    const c = w.spec.template.spec.containers[0];
    assert.equal(c.image, `${IMAGE}:dev`);
    assert.equal(c.imagePullPolicy, 'Always');
    assert.equal(parseFlags(c.args).get('log-level'), 'debug', `${w.metadata.name}`);
  }
  const { container, launcher } = controllerImages(objs);
  assert.equal(launcher, container, "launcher pods must run the controller's own image");
});

test('overlays: production pins 0.1.0, keeps one controller, and limits every container', () => {
  const objs = output('production');
  assert.equal(controllerOf(objs).spec.replicas, 1);
  for (const w of [controllerOf(objs), agentOf(objs)]) {
    const c = w.spec.template.spec.containers[0];
    assert.equal(c.image, `${IMAGE}:0.1.0`);
    assert.notEqual(c.imagePullPolicy, 'Always');
    assert.ok(c.resources.limits.cpu && c.resources.limits.memory, `${w.metadata.name}: limits`);
    assert.ok(c.resources.requests.cpu && c.resources.requests.memory, `${w.metadata.name}: requests`);
    assert.equal(parseFlags(c.args).get('log-level'), undefined);
  }
  const { container, launcher } = controllerImages(objs);
  assert.equal(launcher, container, "launcher pods must run the controller's own image");
  // The release the image is tagged with is the package's version, and main.ts's default.
  const pkg = JSON.parse(source('package.json')) as { version: string };
  assert.equal(container, `${IMAGE}:${pkg.version}`);
  assert.ok(source('controller/cluster/main.ts').includes(`DEFAULT_IMAGE = '${container}'`));
  // The base is production without the limits: same image.
  assert.deepEqual(controllerImages(output('base')), controllerImages(objs));
});

// -------------------------------------------------------------- Dockerfile

interface Instruction {
  cmd: string;
  args: string;
  line: number;
}

function dockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let current: Instruction | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    if (!current && (/^\s*#/u.test(line) || !line.trim())) return;
    if (current && /^\s*#/u.test(line)) return; // comments inside a continued instruction
    const body = line.endsWith('\\') ? line.slice(0, -1) : line;
    if (current) current.args += ` ${body.trim()}`;
    else {
      const m = /^\s*(\w+)\s+(.*)$/u.exec(body);
      assert.ok(m, `Dockerfile line ${i + 1}: ${line}`);
      current = { cmd: m[1]!.toUpperCase(), args: m[2]!, line: i + 1 };
    }
    if (!line.endsWith('\\')) {
      out.push(current!);
      current = undefined;
    }
  });
  assert.equal(current, undefined, 'the Dockerfile ends inside a continued line');
  return out;
}

interface Stage {
  image: string;
  name?: string;
  body: Instruction[];
}

function stages(ins: Instruction[]): Stage[] {
  const globals = new Map<string, string>();
  const out: Stage[] = [];
  for (const i of ins) {
    if (i.cmd === 'ARG' && !out.length) {
      const [k, v] = i.args.split('=') as [string, string | undefined];
      if (v !== undefined) globals.set(k.trim(), v.trim());
    } else if (i.cmd === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/iu.exec(i.args.trim());
      assert.ok(m, `FROM ${i.args}`);
      const image = m[1]!.replace(/\$\{(\w+)\}|\$(\w+)/gu, (_, a: string | undefined, b: string | undefined) => {
        const v = globals.get((a ?? b)!);
        assert.ok(v !== undefined, `FROM ${i.args}: ${a ?? b} has no default`);
        return v;
      });
      out.push({ image, ...(m[2] && { name: m[2] }), body: [] });
    } else {
      assert.ok(out.length, `${i.cmd} before FROM (line ${i.line})`);
      out.at(-1)!.body.push(i);
    }
  }
  return out;
}

/** The project directories a bundle's sources import, following relative imports from each entry. */
function sourceDirs(entries: string[]): Set<string> {
  const seen = new Set<string>();
  const todo = [...entries];
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    for (const [, spec] of source(f).matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/gu)) {
      const target = relative(ROOT, resolve(ROOT, dirname(f), spec!));
      if (existsSync(join(ROOT, target)) && statSync(join(ROOT, target)).isFile()) todo.push(target);
    }
  }
  return new Set([...seen].map((f) => f.split('/')[0]!));
}

test(
  'the Dockerfile: pinned bases, Node 20 from the node image, the Debian packages, the four executables on PATH, ' +
    'root',
  () => {
    const text = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
    const st = stages(dockerfile(text));
    const names = new Set<string>();
    for (const s of st) {
      if (!names.has(s.image)) {
        const img = splitImage(s.image);
        assert.ok(
          img.digest || (img.tag && img.tag !== 'latest'),
          `FROM ${s.image}: pin a tag (not latest) or a digest`,
        );
      }
      if (s.name) names.add(s.name);
    }
    assert.ok(
      !/\blatest\b/u.test(
        text
          .split('\n')
          .filter((l) => /^\s*(FROM|ARG)\b/iu.test(l))
          .join('\n'),
      ),
      'no latest tag',
    );
    const final = st.at(-1)!;
    assert.equal(final.image, 'debian:12-slim');
    const nodeStages = st.filter((s) => /^node:20(\.\d+)*-bookworm-slim$/u.test(s.image));
    assert.ok(nodeStages.length > 0, 'Node 20 comes from the official node:20…-bookworm-slim image');
    const isNodeStage = (ref: string) => nodeStages.some((s) => s.name === ref) || /^node:20/u.test(ref);
    const run = (s: Stage) =>
      s.body
        .filter((i) => i.cmd === 'RUN')
        .map((i) => i.args)
        .join('\n');
    const copies = (s: Stage) =>
      s.body
        .filter((i) => i.cmd === 'COPY')
        .map((i) => {
          const words = i.args.trim().split(/\s+/u);
          const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
          const rest = words.filter((w) => !w.startsWith('--'));
          return { from, srcs: rest.slice(0, -1), dest: rest.at(-1)! };
        });

    // The build stage: npm ci and the bundles, from sources that exist and are all there.
    const buildStage = st.find((s) => /\bnpm ci\b/u.test(run(s)));
    assert.ok(buildStage?.name, 'a named build stage runs npm ci');
    assert.match(run(buildStage), /\bnpm run build\b/u);
    const buildMjs = source('scripts/build.mjs');
    const executables = [...buildMjs.matchAll(/entry: '([^']+)', out: '([^']+)'/gu)].map(([, entry, out]) => ({
      entry: entry!,
      out: out!,
    }));
    assert.ok(executables.length >= 4, 'scripts/build.mjs: could not read the executables');
    const copied = new Set(
      copies(buildStage)
        .filter((c) => !c.from)
        .flatMap((c) => c.srcs)
        .map((s) => s.replace(/\/$/u, '')),
    );
    for (const src of copied) assert.ok(existsSync(join(ROOT, src)), `COPY ${src}: not in the repository`);
    for (const needed of [
      'package.json',
      'package-lock.json',
      'scripts/build.mjs',
      'scripts/build-shim.mjs',
      ...sourceDirs(executables.map((e) => e.entry)),
    ]) {
      assert.ok(copied.has(needed), `the build stage does not copy ${needed}`);
    }
    // .dockerignore for this Dockerfile lets every source through.
    const ignore = readFileSync(join(DEPLOY, 'Dockerfile.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const src of copied)
      assert.ok(ignore.includes(`!${src}`) || ignore.includes(`!${src}/`), `Dockerfile.dockerignore excludes ${src}`);

    // The final stage: packages, the libvirt-qemu user, node, the bundles, the links.
    const finalRun = run(final);
    const install = /apt-get install([^\n&;]*)/u.exec(finalRun)?.[1] ?? '';
    assert.match(install, /--no-install-recommends/u);
    const packages = new Set(install.split(/\s+/u).filter((w) => w && !w.startsWith('-')));
    for (const p of [
      'iproute2',
      'nftables',
      'dnsmasq-base',
      'qemu-system-x86',
      'libvirt-daemon-driver-qemu',
      'libvirt-daemon',
      'libvirt-clients',
      'containernetworking-plugins',
    ]) {
      assert.ok(packages.has(p), `the image lacks ${p}`);
    }
    assert.ok(!packages.has('nodejs') && !packages.has('npm'), "Debian's nodejs is 18");
    assert.match(finalRun, /rm -rf \/var\/lib\/apt\/lists/u);
    assert.match(finalRun, /groupadd[^\n&]*\blibvirt-qemu\b/u);
    assert.match(finalRun, /useradd[^\n&]*-g libvirt-qemu[^\n&]*\blibvirt-qemu\b/u);
    const finalCopies = copies(final);
    const node = finalCopies.find((c) => c.from && isNodeStage(c.from) && c.srcs.includes('/usr/local/bin/node'));
    assert.ok(
      node && ['/usr/local/bin/node', '/usr/local/bin/', '/usr/local/bin'].includes(node.dest),
      'node from the node image into /usr/local/bin',
    );
    const dist = finalCopies.find((c) => c.from === buildStage.name && c.srcs.some((s) => /\/dist\/?$/u.test(s)));
    assert.ok(dist, 'the whole dist/ (bundles and dist/package.json) from the build stage');
    assert.match(
      buildMjs,
      /writeFileSync\('dist\/package\.json'/u,
      'build.mjs writes dist/package.json, which the copy carries',
    );
    const distDir = dist.dest.replace(/\/$/u, '');
    // Debian's default PATH; /usr/local/bin comes first.
    const PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
    assert.ok(!final.body.some((i) => i.cmd === 'ENV' && /\bPATH\b/u.test(i.args)), "PATH is Debian's default");
    // The CNI shim is compiled (scripts/build-shim.mjs), not bundled.
    const shim = /buildShim\('(dist\/[^']+)'\)/u.exec(buildMjs)?.[1];
    assert.equal(shim, 'dist/cni/virtnet-bridge', 'scripts/build.mjs compiles the shim as dist/cni/virtnet-bridge');
    for (const exe of ['virtnet-cluster', 'virtnet-launcher', 'virtnet', 'virtnet-bridge']) {
      const built = exe === 'virtnet-bridge' ? { out: shim } : executables.find((e) => e.out.endsWith(`/${exe}`));
      assert.ok(built, `scripts/build.mjs builds no ${exe}`);
      const target = `${distDir}/${built.out.slice('dist/'.length)}`;
      const link = new RegExp(`ln -s ${target.replace(/[.*+?^${}()|[\]\\/]/gu, '\\$&')} (\\S+)`, 'u').exec(finalRun);
      assert.ok(link, `${exe}: no link to ${target}`);
      assert.ok(
        PATH.includes(dirname(link[1]!)) && link[1]!.endsWith(`/${exe}`),
        `${exe} is linked as ${link[1]}, not on PATH under its name`,
      );
    }
    // Root: launcher pods and the node agent are privileged; the controller's
    // Deployment runs it as 65532 (checked above).
    const users = final.body.filter((i) => i.cmd === 'USER').map((i) => i.args.trim());
    assert.ok(
      users.every((u) => u === 'root' || u === '0'),
      `USER ${users.join(', ')}: the launcher needs root`,
    );
    assert.match(finalRun, /useradd[^\n&]*--uid 65532/u, 'uid 65532 has a name in the image');
    assert.ok(!final.body.some((i) => i.cmd === 'ENTRYPOINT'), "an ENTRYPOINT would prefix the launcher pods' command");
    assert.ok(
      !/\b(curl|wget)\b/u.test(
        text
          .split('\n')
          .filter((l) => !/^\s*#/u.test(l))
          .join('\n'),
      ),
      'nothing downloaded outside the package managers',
    );
  },
);
