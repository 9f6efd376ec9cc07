// Strategic merge patch, which kubectl apply sends for built-in kinds.
// https://github.com/kubernetes/community/blob/master/contributors/devel/sig-api-machinery/strategic-merge-patch.md
//
// A merge patch (RFC 7386) in which some lists merge instead of being
// replaced: lists of objects by a merge key named in the Go types' patch
// tags (containers by name), lists of strings as sets (finalizers). The
// directives kubectl writes are honoured: $patch (replace, delete) in maps
// and list elements, $retainKeys, $setElementOrder/<list> and
// $deleteFromPrimitiveList/<list>. The merge keys are those of the built-in
// kinds this server serves (Pod, Node, Namespace, Event), from their types.go.
import { badRequest } from './status.ts';
import { clone, deepEqual, isPlainObject, type Obj } from './util.ts';

/** A list's strategy: merge its objects by this field, or merge it as a set of scalars. */
type ListStrategy = { key: string } | 'set';

const CONTAINER: Record<string, ListStrategy> = {
  env: { key: 'name' },
  ports: { key: 'containerPort' },
  volumeMounts: { key: 'mountPath' },
  volumeDevices: { key: 'devicePath' },
};
const containerLists = (prefix: string) =>
  Object.fromEntries(Object.entries(CONTAINER).map(([k, v]) => [`${prefix}[].${k}`, v]));

/** Paths (list elements as []) of the lists that merge, keyed by kind; metadata's apply to every kind. */
const METADATA: Record<string, ListStrategy> = {
  'metadata.finalizers': 'set',
  'metadata.ownerReferences': { key: 'uid' },
};
const LISTS: Record<string, Record<string, ListStrategy>> = {
  Pod: {
    'spec.containers': { key: 'name' },
    'spec.initContainers': { key: 'name' },
    'spec.ephemeralContainers': { key: 'name' },
    ...containerLists('spec.containers'),
    ...containerLists('spec.initContainers'),
    ...containerLists('spec.ephemeralContainers'),
    'spec.volumes': { key: 'name' },
    'spec.imagePullSecrets': { key: 'name' },
    'spec.hostAliases': { key: 'ip' },
    'spec.topologySpreadConstraints': { key: 'topologyKey' },
    'spec.resourceClaims': { key: 'name' },
    'spec.schedulingGates': { key: 'name' },
    'status.conditions': { key: 'type' },
    'status.podIPs': { key: 'ip' },
    'status.hostIPs': { key: 'ip' },
  },
  Node: { 'spec.podCIDRs': 'set', 'status.conditions': { key: 'type' }, 'status.addresses': { key: 'type' } },
  Namespace: { 'status.conditions': { key: 'type' } },
  Event: {},
};

const DELETE = Symbol('delete');
const ORDER = '$setElementOrder/';
const DELETE_FROM = '$deleteFromPrimitiveList/';

export function strategicMergePatch(kind: string, target: Obj, patch: Obj): Obj {
  const lists = { ...METADATA, ...(LISTS[kind] ?? {}) };
  const merged = mergeMap(target, patch, '', (path) => lists[path]);
  if (merged === DELETE) throw badRequest('a strategic merge patch cannot delete the whole object');
  return merged;
}

type Strategies = (path: string) => ListStrategy | undefined;
const join = (path: string, key: string) => (path ? `${path}.${key}` : key);

/** A patch value with its directives taken out, for where it lands as it is (a new element, a replaced list). */
function literal(v: unknown, path: string, at: Strategies): unknown {
  if (Array.isArray(v)) return mergeList([], v, path, at, undefined);
  if (!isPlainObject(v)) return clone(v);
  const out = mergeMap({}, v, path, at);
  return out === DELETE ? undefined : out;
}

function mergeMap(target: Obj, patch: Obj, path: string, at: Strategies): Obj | typeof DELETE {
  const directive = patch.$patch;
  if (directive === 'delete') return DELETE;
  if (directive === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return literal(rest, path, at) as Obj;
  }
  if (directive !== undefined && directive !== 'merge')
    throw badRequest(`Unknown patch type: ${directive} in map at ${path || '<root>'}`);
  const out: Obj = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch' || key === '$retainKeys' || key.startsWith(ORDER) || key.startsWith(DELETE_FROM)) continue;
    const child = join(path, key);
    if (value === null) delete out[key];
    else if (Array.isArray(value))
      out[key] = mergeList(Array.isArray(out[key]) ? out[key] : [], value, child, at, patch[ORDER + key]);
    else if (isPlainObject(value)) {
      const next = mergeMap(isPlainObject(out[key]) ? out[key] : {}, value, child, at);
      if (next === DELETE) delete out[key];
      else out[key] = next;
    } else out[key] = value;
  }
  for (const [key, value] of Object.entries(patch)) {
    const field = key.slice(DELETE_FROM.length);
    if (key.startsWith(DELETE_FROM) && Array.isArray(value) && Array.isArray(out[field])) {
      out[field] = out[field].filter((v: unknown) => !value.some((d) => deepEqual(d, v)));
    }
    // An order for a list the patch leaves alone still reorders it.
    const listed = key.slice(ORDER.length);
    if (key.startsWith(ORDER) && Array.isArray(value) && !(listed in patch) && Array.isArray(out[listed])) {
      out[listed] = reorder(out[listed], value, at(join(path, listed)));
    }
  }
  if (Array.isArray(patch.$retainKeys)) {
    const keep = new Set(patch.$retainKeys.map(String));
    for (const key of Object.keys(out)) if (!keep.has(key)) delete out[key];
  }
  return out;
}

function mergeList(target: unknown[], patch: unknown[], path: string, at: Strategies, order: unknown): unknown[] {
  const strategy = at(path);
  const replace = patch.some((e) => isPlainObject(e) && e.$patch === 'replace');
  const items = patch.filter((e) => !(isPlainObject(e) && e.$patch === 'replace'));
  let out: unknown[];
  if (strategy === undefined || replace) {
    out = items.map((e) => literal(e, `${path}[]`, at)).filter((e) => e !== undefined);
  } else if (strategy === 'set') {
    out = [
      ...target,
      ...items.filter((e, i) => !target.some((t) => deepEqual(t, e)) && items.findIndex((x) => deepEqual(x, e)) === i),
    ];
  } else {
    const key = strategy.key;
    out = [...target];
    for (const e of items) {
      if (!isPlainObject(e) || !(key in e))
        throw badRequest(`map: ${JSON.stringify(e)} does not contain declared merge key: ${key}`);
      const found = out.findIndex((t) => isPlainObject(t) && deepEqual(t[key], e[key]));
      const merged = mergeMap(found >= 0 ? (out[found] as Obj) : {}, e, `${path}[]`, at);
      if (merged === DELETE) {
        if (found >= 0) out.splice(found, 1);
      } else if (found >= 0) out[found] = merged;
      else out.push(merged);
    }
  }
  return Array.isArray(order) ? reorder(out, order, strategy) : out;
}

/** $setElementOrder: the named elements in the given order, then any the order leaves out, as they were. */
function reorder(list: unknown[], order: unknown[], strategy: ListStrategy | undefined): unknown[] {
  const idOf = (e: unknown) => (strategy && strategy !== 'set' && isPlainObject(e) ? e[strategy.key] : e);
  const ids = order.map(idOf);
  const rank = (e: unknown) => {
    const i = ids.findIndex((id) => deepEqual(id, idOf(e)));
    return i < 0 ? ids.length : i;
  };
  return list
    .map((e, i) => ({ e, i, r: rank(e) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map(({ e }) => e);
}
