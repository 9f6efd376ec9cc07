// The patch formats of PATCH requests.
// https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/
//
// client-node 1.4.0 picks the Content-Type as follows. The generated APIs
// (CoreV1Api.patchNamespacedPod, CustomObjectsApi.patchNamespacedCustomObject,
// ...) take the first JSON-like entry of the operation's `consumes` list, which
// is always application/json-patch+json: a plain object body is therefore sent
// as a JSON *Patch* and the server rejects it (400, not an array of operations).
// To send a merge patch, pass per-call options that set the header in a
// middleware, which runs after the generated code set it:
//   api.patchNamespacedPod({ name, namespace, body }, k8s.setHeaderOptions('Content-Type',
// k8s.PatchStrategy.MergePatch))
// KubernetesObjectApi.patch(spec, ..., patchStrategy) takes it as an argument
// and defaults to strategic merge patch, which custom resources refuse (415).
import { badRequest, patchRejected, unsupportedMediaType } from './status.ts';
import { clone, deepEqual, isPlainObject, type Obj } from './util.ts';

export const JSON_PATCH = 'application/json-patch+json';
export const MERGE_PATCH = 'application/merge-patch+json';
export const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';
export const APPLY_PATCH = 'application/apply-patch+yaml';

/** The patch types a resource accepts; strategic merge needs Go struct tags, which custom resources lack. */
export function acceptedPatchTypes(builtin: boolean): string[] {
  return builtin
    ? [JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH]
    : [JSON_PATCH, MERGE_PATCH, APPLY_PATCH];
}

export function checkPatchType(contentType: string, builtin: boolean): string {
  const accepted = acceptedPatchTypes(builtin);
  if (!accepted.includes(contentType)) throw unsupportedMediaType(accepted);
  return contentType;
}

/** RFC 7386 JSON Merge Patch: objects merge key by key, null deletes, anything else (lists too) replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return clone(patch);
  const out: Obj = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

interface Operation {
  op: string;
  path: string;
  value?: unknown;
  from?: string;
}

/** Decoding errors are 400 (jsonpatch.DecodePatch); failures while applying are 422. */
export function decodeJsonPatch(body: unknown): Operation[] {
  if (!Array.isArray(body)) throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  for (const op of body) {
    if (!isPlainObject(op) || typeof op.op !== 'string' || typeof op.path !== 'string') {
      throw badRequest('json patch operations must be objects with string "op" and "path"');
    }
  }
  return body as Operation[];
}

const pointer = (path: string): string[] => {
  if (path === '') return [];
  if (!path.startsWith('/')) throw patchRejected(`invalid JSON pointer: ${JSON.stringify(path)}`);
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
};

/** RFC 6902 JSON Patch, applied to a copy of doc. */
export function jsonPatch(doc: unknown, ops: Operation[]): unknown {
  // The document sits in a box so that the root ('' pointer) is an ordinary member.
  const box: Obj = { root: clone(doc) };
  const parentOf = (path: string, op: string): [any, string] => {
    const segs = ['root', ...pointer(path)];
    let node: any = box;
    for (const seg of segs.slice(0, -1)) {
      node = Array.isArray(node) ? node[Number(seg)] : isPlainObject(node) ? node[seg] : undefined;
      if (node === undefined)
        throw patchRejected(`${op} operation does not apply: doc is missing path: ${JSON.stringify(path)}`);
    }
    return [node, segs[segs.length - 1]!];
  };
  const index = (arr: unknown[], key: string, op: string, path: string, forInsert: boolean): number => {
    const i = key === '-' && forInsert ? arr.length : /^(0|[1-9]\d*)$/.test(key) ? Number(key) : NaN;
    if (!(i >= 0 && i <= arr.length - (forInsert ? 0 : 1)))
      throw patchRejected(`${op} operation does not apply: index out of range: ${JSON.stringify(path)}`);
    return i;
  };
  const get = (path: string, op: string): unknown => {
    const [parent, key] = parentOf(path, op);
    const v = Array.isArray(parent)
      ? parent[index(parent, key, op, path, false)]
      : isPlainObject(parent)
        ? parent[key]
        : undefined;
    if (v === undefined) throw patchRejected(`${op} operation does not apply: doc is missing key: ${path}`);
    return v;
  };
  const add = (path: string, value: unknown, op: string) => {
    const [parent, key] = parentOf(path, op);
    if (Array.isArray(parent)) parent.splice(index(parent, key, op, path, true), 0, value);
    else if (isPlainObject(parent)) parent[key] = value;
    else throw patchRejected(`${op} operation does not apply: doc is missing path: ${JSON.stringify(path)}`);
  };
  const remove = (path: string, op: string) => {
    get(path, op);
    const [parent, key] = parentOf(path, op);
    if (Array.isArray(parent)) parent.splice(index(parent, key, op, path, false), 1);
    else delete parent[key];
  };
  for (const o of ops) {
    const needValue = () => {
      if (!('value' in o)) throw patchRejected(`${o.op} operation missing value`);
      return clone(o.value);
    };
    switch (o.op) {
      case 'add':
        add(o.path, needValue(), 'add');
        break;
      case 'remove':
        remove(o.path, 'remove');
        break;
      case 'replace': {
        const v = needValue();
        remove(o.path, 'replace');
        add(o.path, v, 'replace');
        break;
      }
      case 'move': {
        const v = get(String(o.from), 'move');
        remove(String(o.from), 'move');
        add(o.path, v, 'move');
        break;
      }
      case 'copy':
        add(o.path, clone(get(String(o.from), 'copy')), 'copy');
        break;
      case 'test':
        if (!deepEqual(get(o.path, 'test'), o.value))
          throw patchRejected(`testing value ${o.path} failed: test failed`);
        break;
      default:
        throw patchRejected(`Unexpected kind: ${o.op}`);
    }
  }
  return box.root;
}
