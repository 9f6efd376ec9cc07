// Create, update and patch, with the rules the API server's registry applies
// before anything reaches storage: server-owned metadata, optimistic
// concurrency, the status subresource split, generation, and admission.
// https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions
// https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#status-subresource
import { randomUUID } from 'node:crypto';
import { removeAndCollect } from './deletes.ts';
import { apiVersionOf, isBuiltin, type ResourceDef } from './resources.ts';
import { admissionDenied, alreadyExists, badRequest, conflict, invalid, KubeError, statusOf } from './status.ts';
import type { Store } from './store.ts';
import { clone, deepEqual, isPlainObject, randomSuffix, rfc3339Now, type Obj } from './util.ts';

export interface Review {
  operation: 'CREATE' | 'UPDATE';
  object: any;
  oldObject?: any;
  resource: ResourceDef;
}
export type Validator = (review: Review) => Promise<{ allowed: boolean; message?: string; code?: number }>;

export interface WriteContext {
  store: Store;
  validator: Validator | undefined;
  /** Consumes one injected conflict for the resource, if any is pending. */
  takeConflict(def: ResourceDef): boolean;
  /** Runs after the current write, in the write queue (the garbage collector's work). */
  background(task: () => Promise<void>): void;
  dryRun: boolean;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const NS_MISMATCH = 'the namespace of the provided object does not match the namespace sent on the request';

/** Rejects a body of another type; custom resources must name their type (the unstructured decoder needs it). */
function checkTypeMeta(def: ResourceDef, body: Obj): void {
  const where = JSON.stringify(body).slice(0, 200);
  if (!isBuiltin(def) && !body.kind) throw badRequest(`Object 'Kind' is missing in '${where}'`);
  if (!isBuiltin(def) && !body.apiVersion) throw badRequest(`Object 'apiVersion' is missing in '${where}'`);
  if ((body.kind && body.kind !== def.kind) || (body.apiVersion && body.apiVersion !== apiVersionOf(def))) {
    throw badRequest(
      `the API version in the data (${body.apiVersion}) and kind (${body.kind}) do not match the expected ` +
        `${apiVersionOf(def)} ${def.kind}`,
    );
  }
  if (body.metadata !== undefined && !isPlainObject(body.metadata)) throw badRequest('metadata must be an object');
}

async function admit(ctx: WriteContext, review: Review): Promise<void> {
  // virtnet's webhooks are registered for its custom resources only, not their /status.
  if (!ctx.validator || isBuiltin(review.resource)) return;
  const answer = await ctx.validator(clone(review));
  if (!answer.allowed) throw admissionDenied(answer.message, answer.code);
}

/**
 * Status as a type's PrepareForCreate leaves it: custom resources drop it, pods start Pending, a Node keeps what its
 * kubelet registers.
 */
function initialStatus(def: ResourceDef, obj: Obj): void {
  if (!def.statusSubresource || (def.plural === 'nodes' && isBuiltin(def))) return;
  if (def.plural === 'pods' && isBuiltin(def)) obj.status = { phase: 'Pending' };
  else if (def.plural === 'namespaces' && isBuiltin(def)) obj.status = { phase: 'Active' };
  else delete obj.status;
}

export async function createObject(
  ctx: WriteContext,
  def: ResourceDef,
  namespace: string | undefined,
  body: unknown,
): Promise<Obj> {
  if (!isPlainObject(body)) throw badRequest('the request body must be a JSON object');
  checkTypeMeta(def, body);
  const obj = clone(body);
  obj.apiVersion = apiVersionOf(def);
  obj.kind = def.kind;
  const meta: Obj = (obj.metadata ??= {});
  if (def.namespaced) {
    if (meta.namespace && meta.namespace !== namespace) throw badRequest(NS_MISMATCH);
    meta.namespace = namespace;
  } else delete meta.namespace;
  if (meta.resourceVersion) {
    throw new KubeError(statusOf(500, '', 'resourceVersion should not be set on objects to be created'));
  }
  if (!meta.name && meta.generateName) {
    do meta.name = `${meta.generateName}${randomSuffix()}`;
    while (ctx.store.get(def, meta.namespace, meta.name));
  }
  if (!meta.name) throw invalid(def, '', 'metadata.name', 'Required value: name or generateName is required');
  if (typeof meta.name !== 'string' || meta.name.length > 253 || !DNS_SUBDOMAIN.test(meta.name)) {
    throw invalid(
      def,
      String(meta.name),
      'metadata.name',
      `Invalid value: ${JSON.stringify(meta.name)}: a lowercase RFC 1123 subdomain must consist of lower case ` +
        `alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
    );
  }
  if (def.plural === 'namespaces' && isBuiltin(def))
    meta.labels = { ...meta.labels, 'kubernetes.io/metadata.name': meta.name };
  Object.assign(meta, { uid: randomUUID(), creationTimestamp: rfc3339Now(), generation: 1 });
  delete meta.deletionTimestamp;
  delete meta.deletionGracePeriodSeconds;
  initialStatus(def, obj);
  await admit(ctx, { operation: 'CREATE', object: obj, resource: def });
  if (ctx.store.get(def, meta.namespace, meta.name)) throw alreadyExists(def, meta.name);
  return ctx.dryRun ? obj : ctx.store.write(def, obj);
}

/** Everything but metadata, and but status where status has its own endpoint: what generation counts. */
function specOf(def: ResourceDef, obj: Obj): Obj {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = obj;
  return def.statusSubresource ? rest : { ...rest, status: _s };
}

const SERVER_OWNED = [
  'uid',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'generation',
  'namespace',
];

export interface UpdateOptions {
  subresource: 'status' | undefined;
  requireResourceVersion: boolean; // PUT of a custom resource: unconditional updates are refused
}

/**
 * Turns a candidate (a PUT body, or the old object with a patch applied) into
 * the next stored state and stores it. A write that changes nothing stores
 * nothing: no new resourceVersion and no watch event, as the real server does.
 */
export async function updateObject(
  ctx: WriteContext,
  def: ResourceDef,
  old: Obj,
  candidate: unknown,
  opts: UpdateOptions,
): Promise<Obj> {
  if (!isPlainObject(candidate)) throw badRequest('the request body must be a JSON object');
  checkTypeMeta(def, candidate);
  const name: string = old.metadata.name;
  const meta: Obj = candidate.metadata ?? {};
  if (meta.name !== undefined && meta.name !== name)
    throw badRequest(`the name of the object (${meta.name}) does not match the name on the URL (${name})`);
  if (def.namespaced && meta.namespace && meta.namespace !== old.metadata.namespace) throw badRequest(NS_MISMATCH);
  if (ctx.takeConflict(def)) throw conflict(def, name);
  if (meta.resourceVersion === undefined || meta.resourceVersion === '') {
    if (opts.requireResourceVersion)
      throw invalid(def, name, 'metadata.resourceVersion', 'Invalid value: 0x0: must be specified for an update');
  } else if (String(meta.resourceVersion) !== old.metadata.resourceVersion) throw conflict(def, name);

  let next: Obj;
  if (opts.subresource === 'status') {
    next = clone(old); // the status endpoint changes status only
    if (candidate.status === undefined) delete next.status;
    else next.status = clone(candidate.status);
  } else {
    next = clone(candidate);
    next.metadata = { ...clone(meta), name };
    for (const key of SERVER_OWNED) {
      if (old.metadata[key] === undefined) delete next.metadata[key];
      else next.metadata[key] = old.metadata[key];
    }
    if (def.statusSubresource) {
      if (old.status === undefined) delete next.status;
      else next.status = clone(old.status);
    }
    if (!deepEqual(specOf(def, old), specOf(def, next))) next.metadata.generation = (old.metadata.generation ?? 0) + 1;
  }
  next.apiVersion = apiVersionOf(def);
  next.kind = def.kind;
  next.metadata.resourceVersion = old.metadata.resourceVersion;
  if (deepEqual(old, next)) return clone(old);
  if (opts.subresource === undefined)
    await admit(ctx, { operation: 'UPDATE', object: next, oldObject: old, resource: def });
  if (ctx.dryRun) return next;
  // An object being deleted goes once its last finalizer is removed.
  if (next.metadata.deletionTimestamp && !(next.metadata.finalizers?.length > 0)) {
    return removeAndCollect(ctx, def, ctx.store.write(def, next), 'Background');
  }
  return ctx.store.write(def, next);
}
