// Deletion: finalizers, and the garbage collector that removes dependents
// whose owners are gone.
// https://kubernetes.io/docs/concepts/overview/working-with-objects/finalizers/
// https://kubernetes.io/docs/concepts/architecture/garbage-collection/#cascading-deletion
import { isBuiltin, type ResourceDef } from './resources.ts';
import { conflict, notFound } from './status.ts';
import { clone, isPlainObject, rfc3339Now, type Obj } from './util.ts';
import type { WriteContext } from './writes.ts';

export type Propagation = 'Orphan' | 'Background' | 'Foreground';

export interface DeleteOptions {
  propagation: Propagation;
  preconditions: { uid?: string; resourceVersion?: string };
}

/** DeleteOptions come as query parameters or as a body; the body wins, as in the real server. */
export function deleteOptionsFrom(query: URLSearchParams, body: unknown): DeleteOptions {
  const b: Obj = isPlainObject(body) ? body : {};
  const orphan =
    (b.orphanDependents ?? query.get('orphanDependents')) === true || query.get('orphanDependents') === 'true';
  const policy = b.propagationPolicy ?? query.get('propagationPolicy') ?? (orphan ? 'Orphan' : 'Background');
  return { propagation: policy as Propagation, preconditions: isPlainObject(b.preconditions) ? b.preconditions : {} };
}

/**
 * Deletes at once, or, while finalizers remain, only marks the object with a
 * deletionTimestamp; it goes when an update removes the last finalizer.
 */
export async function deleteObject(
  ctx: WriteContext,
  def: ResourceDef,
  namespace: string | undefined,
  name: string,
  opts: DeleteOptions,
): Promise<Obj> {
  const old = ctx.store.get(def, namespace, name);
  if (!old) throw notFound(def, name);
  const { uid, resourceVersion } = opts.preconditions;
  if (uid && uid !== old.metadata.uid) {
    throw conflict(
      def,
      name,
      `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${old.metadata.uid}`,
    );
  }
  if (resourceVersion && resourceVersion !== old.metadata.resourceVersion) {
    throw conflict(
      def,
      name,
      `Precondition failed: ResourceVersion in precondition: ${resourceVersion}, ResourceVersion in object meta: ` +
        `${old.metadata.resourceVersion}`,
    );
  }
  if (ctx.dryRun) return clone(old);
  if (old.metadata.finalizers?.length > 0) {
    if (old.metadata.deletionTimestamp) return clone(old);
    const next = clone(old);
    next.metadata.deletionTimestamp = rfc3339Now();
    next.metadata.deletionGracePeriodSeconds = 0;
    return ctx.store.write(def, next);
  }
  return removeAndCollect(ctx, def, old, opts.propagation);
}

/**
 * Removes an object from the store, then hands its dependents to the garbage
 * collector, which, like the real one, runs after the delete has answered.
 * Foreground is treated as Background: nothing here waits for dependents.
 * Deleting a namespace removes its contents at once (no Terminating phase).
 */
export function removeAndCollect(ctx: WriteContext, def: ResourceDef, obj: Obj, propagation: Propagation): Obj {
  if (isBuiltin(def) && def.plural === 'namespaces') {
    for (const d of ctx.store.resources.filter((r) => r.namespaced)) {
      for (const o of ctx.store.list(d, obj.metadata.name)) removeAndCollect(ctx, d, o, 'Background');
    }
  }
  const gone = ctx.store.remove(def, obj.metadata.namespace, obj.metadata.name)!;
  ctx.background(() => collectDependents(ctx, gone.metadata.uid, propagation));
  return gone;
}

async function collectDependents(ctx: WriteContext, ownerUid: string, propagation: Propagation): Promise<void> {
  const gc: WriteContext = { ...ctx, dryRun: false };
  const dependents = [...ctx.store.all()].filter(([, o]) =>
    (o.metadata.ownerReferences ?? []).some((r: Obj) => r.uid === ownerUid),
  );
  for (const [def, o] of dependents) {
    const current = ctx.store.get(def, o.metadata.namespace, o.metadata.name);
    if (!current || current.metadata.uid !== o.metadata.uid) continue; // already gone with another owner
    const refs: Obj[] = current.metadata.ownerReferences;
    if (propagation === 'Orphan') {
      const next = clone(current);
      next.metadata.ownerReferences = refs.filter((r) => r.uid !== ownerUid);
      if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
      ctx.store.write(def, next);
      continue;
    }
    // A dependent with another owner still present stays (the real GC also drops the dangling reference).
    if (refs.some((r) => r.uid !== ownerUid && ctx.store.hasUid(r.uid))) continue;
    await deleteObject(gc, def, o.metadata.namespace, o.metadata.name, {
      propagation: 'Background',
      preconditions: { uid: o.metadata.uid },
    });
  }
}
