// The verbs on a resource route: get, list, create, update, patch, delete and
// deletecollection. Watches are served by watch.ts.
// https://kubernetes.io/docs/reference/using-api/api-concepts/#api-verbs
import { parse as parseYaml } from 'yaml';
import { deleteObject, deleteOptionsFrom } from './deletes.ts';
import {
  APPLY_PATCH,
  JSON_PATCH,
  STRATEGIC_MERGE_PATCH,
  checkPatchType,
  decodeJsonPatch,
  jsonPatch,
  mergePatch,
} from './patch.ts';
import { apiVersionOf, isBuiltin, type ResourceDef } from './resources.ts';
import type { ResourceRoute } from './routes.ts';
import { checkFields } from './fieldcheck.ts';
import { fieldSelector, labelSelector } from './selectors.ts';
import { strategicMergePatch } from './strategic.ts';
import {
  badRequest,
  expired,
  KubeError,
  methodNotAllowed,
  notFound,
  statusOf,
  unsupportedMediaType,
} from './status.ts';
import type { Store } from './store.ts';
import { tableVersion, toTable } from './table.ts';
import { isPlainObject, type Obj } from './util.ts';
import { createObject, updateObject, type WriteContext } from './writes.ts';

export interface ResourceRequest {
  method: string;
  route: ResourceRoute;
  query: URLSearchParams;
  contentType: string;
  raw: string;
  accept: string;
}
export interface Reply {
  code: number;
  body: unknown;
}

export const isWatch = (r: ResourceRequest): boolean =>
  r.method === 'GET' && (r.route.watchPrefix || r.query.get('watch') === 'true' || r.query.get('watch') === '1');

function decode(raw: string, yaml: boolean): unknown {
  if (raw.trim() === '') return undefined;
  try {
    return yaml ? parseYaml(raw) : JSON.parse(raw);
  } catch (e) {
    throw badRequest(`error decoding request body: ${(e as Error).message}`);
  }
}

/** Bodies of POST and PUT: JSON, or YAML as kubectl may send; checked for unknown fields if the request asks. */
function objectBody(r: ResourceRequest): unknown {
  const ct = r.contentType;
  let body: unknown;
  if (ct === 'application/yaml') body = decode(r.raw, true);
  else if (ct === '' || ct === 'application/json' || ct.endsWith('+json')) body = decode(r.raw, false);
  else throw unsupportedMediaType(['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf']);
  checkFields(r.route.def, r.query, body);
  return body;
}

// A continue token names the list's resourceVersion and the last key served (etcd keys sort by namespace, then name).
const keyOf = (o: Obj) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const CONTINUE_EXPIRED =
  'The provided continue parameter is too old to display a consistent list result. You can start a new list without ' +
  'the continue parameter.';

function list(store: Store, def: ResourceDef, namespace: string | undefined, query: URLSearchParams): Obj {
  const labels = labelSelector(query.get('labelSelector'));
  const fields = fieldSelector(query.get('fieldSelector'), def);
  let items = store.list(def, namespace).filter((o) => labels(o) && fields(o));
  let rv = store.currentRV;
  const token = query.get('continue');
  if (token) {
    let c: { rv?: unknown; start?: unknown };
    try {
      c = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    } catch {
      throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
    }
    if (typeof c.rv !== 'number' || typeof c.start !== 'string') throw badRequest('continue key is not valid');
    if (c.rv < store.compactedAt) throw expired(CONTINUE_EXPIRED);
    const start = c.start;
    items = items.filter((o) => keyOf(o) > start);
    rv = c.rv; // later pages report the first page's resourceVersion
  }
  const metadata: Obj = { resourceVersion: String(rv) };
  const limit = Number(query.get('limit') ?? '0');
  if (limit > 0 && items.length > limit) {
    const rest = items.length - limit;
    items = items.slice(0, limit);
    metadata.continue = Buffer.from(
      JSON.stringify({ v: 'meta.k8s.io/v1', rv, start: keyOf(items[items.length - 1]!) }),
    ).toString('base64url');
    if (!query.get('labelSelector') && !query.get('fieldSelector')) metadata.remainingItemCount = rest;
  }
  return { apiVersion: apiVersionOf(def), kind: `${def.kind}List`, metadata, items };
}

/** A get or list; as a Table when the Accept header asks for one (kubectl get). */
export function read(store: Store, r: ResourceRequest): Reply {
  const { def, namespace, name } = r.route;
  const table = tableVersion(r.accept);
  if (name === undefined) {
    const l = list(store, def, namespace, r.query);
    return { code: 200, body: table ? toTable(def, l.items, l.metadata, r.query, table) : l };
  }
  const obj = store.get(def, namespace, name);
  if (!obj) throw notFound(def, name);
  return {
    code: 200,
    body: table ? toTable(def, [obj], { resourceVersion: obj.metadata.resourceVersion }, r.query, table) : obj,
  };
}

/** Pods, namespaces and custom resources answer a delete with the object; other built-ins with a Status. */
function deleteReply(def: ResourceDef, obj: Obj): unknown {
  if (!isBuiltin(def) || def.plural === 'pods' || def.plural === 'namespaces') return obj;
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    details: {
      name: obj.metadata.name,
      ...(def.group ? { group: def.group } : {}),
      kind: def.plural,
      uid: obj.metadata.uid,
    },
  };
}

async function patch(ctx: WriteContext, r: ResourceRequest, name: string): Promise<Reply> {
  const { def, namespace, subresource } = r.route;
  const type = checkPatchType(r.contentType, isBuiltin(def));
  const body = decode(r.raw, type === APPLY_PATCH);
  if (type === APPLY_PATCH && !r.query.get('fieldManager')) {
    throw new KubeError(
      statusOf(
        422,
        'Invalid',
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
      ),
    );
  }
  const old = ctx.store.get(def, namespace, name);
  if (!old) {
    // Server-side apply creates what is missing. Without managed fields it is a merge patch otherwise.
    if (type !== APPLY_PATCH || subresource) throw notFound(def, name);
    checkFields(def, r.query, body);
    const created = isPlainObject(body) ? { ...body, metadata: { ...body.metadata, name } } : body;
    return { code: 201, body: await createObject(ctx, def, namespace, created) };
  }
  let patched: unknown;
  // Strict field validation looks at what the client wrote: the patch, or for a JSON Patch the object it yields.
  if (type === JSON_PATCH) {
    patched = jsonPatch(old, decodeJsonPatch(body));
    checkFields(def, r.query, patched);
  } else if (!isPlainObject(body)) throw badRequest('the patch must be a JSON object');
  else {
    checkFields(def, r.query, body);
    // Server-side apply without field management is a merge patch too.
    patched = type === STRATEGIC_MERGE_PATCH ? strategicMergePatch(def.kind, old, body) : mergePatch(old, body);
  }
  return {
    code: 200,
    body: await updateObject(ctx, def, old, patched, { subresource, requireResourceVersion: false }),
  };
}

export async function write(ctx: WriteContext, r: ResourceRequest): Promise<Reply> {
  const { def, namespace, name, subresource } = r.route;
  const allNamespaces = def.namespaced && namespace === undefined;
  if (r.method === 'POST' && name === undefined && !allNamespaces) {
    return { code: 201, body: await createObject(ctx, def, namespace, objectBody(r)) };
  }
  if (r.method === 'DELETE' && name === undefined && !allNamespaces) {
    const opts = deleteOptionsFrom(r.query, decode(r.raw, false));
    const { items } = list(ctx.store, def, namespace, r.query);
    const gone = [];
    for (const o of items) gone.push(await deleteObject(ctx, def, namespace, o.metadata.name, opts));
    return {
      code: 200,
      body: {
        apiVersion: apiVersionOf(def),
        kind: `${def.kind}List`,
        metadata: { resourceVersion: String(ctx.store.currentRV) },
        items: gone,
      },
    };
  }
  if (name === undefined) throw methodNotAllowed();
  if (r.method === 'PATCH') return patch(ctx, r, name);
  if (r.method === 'PUT') {
    const old = ctx.store.get(def, namespace, name);
    if (!old) throw notFound(def, name);
    const body = await updateObject(ctx, def, old, objectBody(r), {
      subresource,
      requireResourceVersion: !isBuiltin(def),
    });
    return { code: 200, body };
  }
  if (r.method === 'DELETE' && !subresource) {
    const gone = await deleteObject(ctx, def, namespace, name, deleteOptionsFrom(r.query, decode(r.raw, false)));
    return { code: 200, body: deleteReply(def, gone) };
  }
  throw methodNotAllowed();
}
