/**
 * The cluster, through @kubernetes/client-node: with events-api.ts (Events)
 * and plugin-api.ts (the kubectl plugin), the only files of controller/kube/,
 * the only room that imports it (its load costs ~100 ms bundled, ~350 ms not; the CNI plugin, the
 * launcher and the standalone CLI never pay it). Everything else talks to
 * the narrow KubeApi below, whose errors carry the HTTP code.
 */
import * as k8s from '@kubernetes/client-node';
import {
  isKubeObject,
  isNodeObject,
  isPod,
  type NodeObject,
  type Pod,
  type PodManifest,
  type StoredObject,
} from '../api/kube-objects.ts';
import { isObj } from '../../lib/json.ts';

export const GROUP = 'virtnet.io';
export const VERSION = 'v1alpha1';
export const NAD_GROUP = 'k8s.cni.cncf.io';

export class KubeError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export type Resource =
  | 'virtualmachineinstances'
  | 'virtualmachines'
  | 'network-attachment-definitions'
  | 'pods'
  | 'nodes';
/** The custom resources, served by CustomObjectsApi. */
type Custom = Exclude<Resource, 'pods' | 'nodes'>;

export interface Cache<T extends StoredObject = StoredObject> {
  list(namespace?: string): T[];
  get(name: string, namespace?: string): T | undefined;
}

export interface Watched<T extends StoredObject = StoredObject> extends Cache<T> {
  on(event: 'add' | 'update' | 'delete', cb: (o: T) => void): void;
  /** A watch that failed: the informer stops until started again (restarting() below does). */
  onError(cb: (err: unknown) => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Empty until a list has succeeded (and again after a 410, until the re-list). */
  latestResourceVersion(): string;
}

/**
 * Wait until a cache holds a successful list. client-node's start() resolves
 * even when the list fails (it only emits an error), and a controller that
 * acted on an empty cache would fail every running VMI as "pod gone".
 */
export async function waitSynced(w: Watched, isStopped: () => boolean = () => false): Promise<void> {
  while (!w.latestResourceVersion()) {
    if (isStopped()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The server's message in an ApiException's body (JSON text or already parsed), if it has one. */
function serverMessage(body: unknown): string | undefined {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  return isObj(parsed) && typeof parsed.message === 'string' ? parsed.message : undefined;
}

async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof k8s.ApiException)
      throw new KubeError(err.code, `${what}: ${serverMessage(err.body) ?? err.message}`);
    throw err;
  }
}

/** An answer of the server as the object it must be: a named object (kube-objects.ts). */
function answer<T extends StoredObject>(what: string, is: (o: unknown) => o is T): (o: unknown) => T {
  return (o) => {
    if (!is(o)) throw new KubeError(0, `${what}: the server's answer is not a named object`);
    return o;
  };
}

/** client-node's informer (ListWatch), as the adapter below reads it. */
type Informer = k8s.Informer<k8s.KubernetesObject> &
  k8s.ObjectCache<k8s.KubernetesObject> & { latestResourceVersion(): string };

/**
 * client-node's informer as a Watched<T>: every object it hands out passes
 * `is` (one that does not is skipped, never dereferenced).
 */
function typedCache<T extends StoredObject>(inf: Informer, is: (o: unknown) => o is T): Watched<T> {
  return {
    on: (event, cb) => inf.on(event, (o) => void (is(o) && cb(o))),
    onError: (cb) => inf.on('error', cb),
    list: (namespace) => {
      const out: T[] = [];
      for (const o of inf.list(namespace)) if (is(o)) out.push(o);
      return out;
    },
    get: (name, namespace) => {
      const o = inf.get(name, namespace);
      return is(o) ? o : undefined;
    },
    start: () => inf.start(),
    stop: () => inf.stop(),
    latestResourceVersion: () => inf.latestResourceVersion(),
  };
}

/**
 * client-node's informer re-lists after a 410 by itself, but stops for good
 * on any other watch error (a dropped connection, an apiserver restart):
 * start it again, with backoff, until stop().
 */
function restarting<T extends StoredObject>(inf: Watched<T>): Watched<T> {
  let stopped = false;
  let delay = 250;
  inf.onError(() => {
    if (stopped) return;
    // unref: a pending restart must not keep a stopping process alive.
    setTimeout(() => {
      if (!stopped)
        inf.start().then(
          () => (delay = 250),
          () => undefined,
        );
    }, delay).unref();
    delay = Math.min(delay * 2, 10_000);
  });
  const stop = inf.stop.bind(inf);
  inf.stop = () => {
    stopped = true;
    return stop();
  };
  return inf;
}

export function loadKubeConfig(file?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault(); // $KUBECONFIG, ~/.kube/config, else in-cluster
  return kc;
}

export class KubeApi {
  private readonly core: k8s.CoreV1Api;
  private readonly custom: k8s.CustomObjectsApi;

  constructor(
    readonly kc: k8s.KubeConfig,
    readonly namespace?: string,
  ) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
  }

  private groupOf(r: Custom): { group: string; version: string } {
    return r === 'network-attachment-definitions'
      ? { group: NAD_GROUP, version: 'v1' }
      : { group: GROUP, version: VERSION };
  }

  /**
   * A list-watch cache of one resource (all namespaces, or the API's namespace; nodes are cluster-scoped), re-listing
   * after a 410.
   */
  watch(r: 'pods', labelSelector?: string, fieldSelector?: string): Watched<Pod>;
  watch(r: 'nodes', labelSelector?: string, fieldSelector?: string): Watched<NodeObject>;
  watch(r: Custom, labelSelector?: string, fieldSelector?: string): Watched<StoredObject>;
  watch(r: Resource, labelSelector?: string, fieldSelector?: string): Watched<Pod> | Watched<StoredObject> {
    const ns = this.namespace;
    const sel = { ...(labelSelector && { labelSelector }), ...(fieldSelector && { fieldSelector }) };
    // What client-node's makeInformer makes, with the field selector it does not take.
    const listWatch = (path: string, list: k8s.ListPromise<k8s.KubernetesObject>) =>
      new k8s.ListWatch(path, new k8s.Watch(this.kc), list, false, labelSelector, fieldSelector);
    if (r === 'nodes')
      return restarting(
        typedCache(
          listWatch('/api/v1/nodes', () => this.core.listNode(sel)),
          isNodeObject,
        ),
      );
    if (r === 'pods') {
      const path = ns ? `/api/v1/namespaces/${encodeURIComponent(ns)}/pods` : '/api/v1/pods';
      const list = () =>
        ns ? this.core.listNamespacedPod({ namespace: ns, ...sel }) : this.core.listPodForAllNamespaces(sel);
      return restarting(typedCache(listWatch(path, list), isPod));
    }
    const { group, version } = this.groupOf(r);
    const path = ns
      ? `/apis/${group}/${version}/namespaces/${encodeURIComponent(ns)}/${r}`
      : `/apis/${group}/${version}/${r}`;
    // CustomObjectsApi's lists are untyped JSON: the adapter's check is what types them.
    const list = (): Promise<k8s.KubernetesListObject<k8s.KubernetesObject>> =>
      ns
        ? this.custom.listNamespacedCustomObject({ group, version, namespace: ns, plural: r, ...sel })
        : this.custom.listClusterCustomObject({ group, version, plural: r, ...sel });
    return restarting(typedCache(listWatch(path, list), isKubeObject));
  }

  get(r: Custom, namespace: string, name: string): Promise<StoredObject> {
    const { group, version } = this.groupOf(r);
    const what = `get ${r} ${namespace}/${name}`;
    return call(what, () => this.custom.getNamespacedCustomObject({ group, version, namespace, plural: r, name })).then(
      answer(what, isKubeObject),
    );
  }

  create(r: Custom, namespace: string, body: object): Promise<StoredObject> {
    const { group, version } = this.groupOf(r);
    const what = `create ${r} in ${namespace}`;
    return call(what, () =>
      this.custom.createNamespacedCustomObject({ group, version, namespace, plural: r, body }),
    ).then(answer(what, isKubeObject));
  }

  async delete(r: Exclude<Resource, 'nodes'>, namespace: string, name: string): Promise<void> {
    try {
      if (r === 'pods')
        await call(`delete pod ${namespace}/${name}`, () => this.core.deleteNamespacedPod({ name, namespace }));
      else {
        const { group, version } = this.groupOf(r);
        await call(`delete ${r} ${namespace}/${name}`, () =>
          this.custom.deleteNamespacedCustomObject({ group, version, namespace, plural: r, name }),
        );
      }
    } catch (err) {
      if (!(err instanceof KubeError && err.code === 404)) throw err; // already gone is done
    }
  }

  /** PUT a custom object (its spec: a VM's live update of its VMI); a stale resourceVersion answers 409. */
  replace(r: 'virtualmachineinstances', obj: StoredObject): Promise<StoredObject> {
    const { group, version } = this.groupOf(r);
    const { namespace = 'default', name } = obj.metadata;
    const what = `update ${r} ${namespace}/${name}`;
    return call(what, () =>
      this.custom.replaceNamespacedCustomObject({ group, version, namespace, plural: r, name, body: obj }),
    ).then(answer(what, isKubeObject));
  }

  /** PUT the status subresource; a stale metadata.resourceVersion answers 409 (KubeError). */
  replaceStatus(r: 'virtualmachineinstances' | 'virtualmachines', obj: StoredObject): Promise<StoredObject> {
    const { group, version } = this.groupOf(r);
    const { namespace = 'default', name } = obj.metadata;
    const what = `update ${r} ${namespace}/${name} status`;
    return call(what, () =>
      this.custom.replaceNamespacedCustomObjectStatus({ group, version, namespace, plural: r, name, body: obj }),
    ).then(answer(what, isKubeObject));
  }

  /**
   * client-node's V1Pod types timestamps as Dates; its serializer passes the
   * strings of a watched pod through as they are, so a Pod is sent as read.
   */
  private static body(pod: Pod | PodManifest): k8s.V1Pod {
    return pod as k8s.V1Pod;
  }

  createPod(namespace: string, pod: PodManifest): Promise<Pod> {
    const what = `create pod in ${namespace}`;
    return call(what, () => this.core.createNamespacedPod({ namespace, body: KubeApi.body(pod) })).then(
      answer(what, isPod),
    );
  }

  getPod(namespace: string, name: string): Promise<Pod> {
    const what = `get pod ${namespace}/${name}`;
    return call(what, () => this.core.readNamespacedPod({ namespace, name })).then(answer(what, isPod));
  }

  replacePod(pod: Pod): Promise<Pod> {
    const { namespace = 'default', name } = pod.metadata;
    const what = `update pod ${namespace}/${name}`;
    return call(what, () => this.core.replaceNamespacedPod({ namespace, name, body: KubeApi.body(pod) })).then(
      answer(what, isPod),
    );
  }

  /** Read-modify-write of a pod (or its status) with retries on 409: the optimistic-concurrency loop. */
  async updatePod(
    namespace: string,
    name: string,
    change: (p: Pod) => void,
    o: { status?: boolean } = {},
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const fresh = await this.getPod(namespace, name);
      change(fresh);
      try {
        await (o.status ? this.replacePodStatus(fresh) : this.replacePod(fresh));
        return;
      } catch (err) {
        if (!(err instanceof KubeError && err.code === 409) || attempt >= 5) throw err;
      }
    }
  }

  /**
   * Sets (or, with null, removes) annotations of a pod with one JSON merge
   * patch (RFC 7386) and nothing else: no read first, no resourceVersion, so
   * no conflict to retry, and only `patch` on pods is needed. client-node
   * sends JSON Patch unless told the content type (harness/kube/patch.ts).
   */
  patchPodAnnotations(namespace: string, name: string, annotations: Record<string, string | null>): Promise<Pod> {
    const body = { metadata: { annotations } };
    const asMergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    const what = `patch pod ${namespace}/${name}`;
    return call(what, () => this.core.patchNamespacedPod({ namespace, name, body }, asMergePatch)).then(
      answer(what, isPod),
    );
  }

  /**
   * The node agent's own Node annotations (the VTEP MAC and the VXLAN VNIs
   * its peers read, as flannel publishes its backend data), by merge patch:
   * a null value removes one. RBAC: patch on nodes.
   */
  patchNodeAnnotations(name: string, annotations: Record<string, string | null>): Promise<NodeObject> {
    const body = { metadata: { annotations } };
    const asMergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    const what = `patch node ${name}`;
    return call(what, () => this.core.patchNode({ name, body }, asMergePatch)).then(answer(what, isNodeObject));
  }

  replacePodStatus(pod: Pod): Promise<Pod> {
    const { namespace = 'default', name } = pod.metadata;
    const what = `update pod ${namespace}/${name} status`;
    return call(what, () => this.core.replaceNamespacedPodStatus({ namespace, name, body: KubeApi.body(pod) })).then(
      answer(what, isPod),
    );
  }
}
