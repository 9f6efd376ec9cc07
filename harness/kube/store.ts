// The object store: what etcd is to the real API server. One global counter
// stands for etcd's revision, so every write gets a resourceVersion larger than
// all before it, across all resources, and a bounded history of change events
// lets watches resume from a resourceVersion until that history is compacted.
// https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions
import { apiVersionOf, resourceKey, type ResourceDef } from './resources.ts';
import { clone, deepFreeze, type Obj } from './util.ts';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoredEvent {
  type: EventType;
  rv: number;
  def: ResourceDef;
  object: Obj; // the object after the change (for DELETED: its last state, at the deletion's resourceVersion)
  prev?: Obj; // the object before the change, which watches with selectors need
}

const keyOf = (namespace: string | undefined, name: string) => `${namespace ?? ''}/${name}`;

export class Store {
  private rv = 0;
  /** Watches may start from any resourceVersion >= this; older ones get 410 Expired. */
  compactedAt = 0;
  history: StoredEvent[] = [];
  private readonly tables = new Map<string, Map<string, Obj>>();
  private readonly uids = new Set<string>();
  private readonly listeners = new Set<(e: StoredEvent) => void>();

  constructor(
    readonly resources: ResourceDef[],
    private readonly historyLimit: number,
  ) {
    for (const def of resources) this.tables.set(resourceKey(def), new Map());
  }

  get currentRV(): number {
    return this.rv;
  }

  private table(def: ResourceDef): Map<string, Obj> {
    const t = this.tables.get(resourceKey(def));
    if (!t) throw new Error(`unknown resource ${resourceKey(def)}`);
    return t;
  }

  /** The stored object itself: callers must not modify it. */
  get(def: ResourceDef, namespace: string | undefined, name: string): Obj | undefined {
    return this.table(def).get(keyOf(namespace, name));
  }

  /** In etcd key order (namespace, then name), as lists come back from the real server. */
  list(def: ResourceDef, namespace?: string): Obj[] {
    const entries = [...this.table(def).entries()].filter(
      ([, o]) => namespace === undefined || o.metadata.namespace === namespace,
    );
    return entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, o]) => o);
  }

  /** Every stored object of every resource, for the garbage collector. */
  *all(): Generator<[ResourceDef, Obj]> {
    for (const def of this.resources) for (const o of this.table(def).values()) yield [def, o];
  }

  hasUid(uid: string): boolean {
    return this.uids.has(uid);
  }

  /** Stores a created or updated object at a new resourceVersion and returns a copy of what was stored. */
  write(def: ResourceDef, obj: Obj): Obj {
    const key = keyOf(obj.metadata.namespace, obj.metadata.name);
    const prev = this.table(def).get(key);
    // apiVersion and kind lead, as in what the real server returns.
    const stored: Obj = { apiVersion: '', kind: '', ...clone(obj) };
    stored.apiVersion = apiVersionOf(def);
    stored.kind = def.kind;
    stored.metadata.resourceVersion = String(++this.rv);
    this.table(def).set(key, deepFreeze(stored));
    this.uids.add(stored.metadata.uid);
    this.record({ type: prev ? 'MODIFIED' : 'ADDED', rv: this.rv, def, object: stored, ...(prev ? { prev } : {}) });
    return clone(stored);
  }

  /** Removes an object; the DELETED event carries its last state at the deletion's resourceVersion. */
  remove(def: ResourceDef, namespace: string | undefined, name: string): Obj | undefined {
    const key = keyOf(namespace, name);
    const prev = this.table(def).get(key);
    if (!prev) return undefined;
    this.table(def).delete(key);
    this.uids.delete(prev.metadata.uid);
    const gone = clone(prev);
    gone.metadata.resourceVersion = String(++this.rv);
    deepFreeze(gone);
    this.record({ type: 'DELETED', rv: this.rv, def, object: gone, prev });
    return clone(gone);
  }

  private record(e: StoredEvent): void {
    this.history.push(e);
    while (this.history.length > this.historyLimit) this.compactedAt = this.history.shift()!.rv;
    for (const fn of [...this.listeners]) fn(e);
  }

  /** Forgets all history, as an etcd compaction at the current revision does. */
  compact(): void {
    this.compactedAt = this.rv;
    this.history = [];
  }

  subscribe(fn: (e: StoredEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
