/**
 * The cluster, through @kubernetes/client-node: with events.ts (Events) and
 * kubectl-api.ts (the kubectl plugin), the only file that imports
 * it (its load costs ~100 ms bundled, ~350 ms not; the CNI plugin, the
 * launcher and the standalone CLI never pay it). Everything else talks to
 * the narrow KubeApi below, whose errors carry the HTTP code.
 */
import * as k8s from '@kubernetes/client-node';

export const GROUP = 'virtnet.io';
export const VERSION = 'v1alpha1';
export const NAD_GROUP = 'k8s.cni.cncf.io';

type Obj = Record<string, any>;

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

export interface Cache {
  list(namespace?: string): Obj[];
  get(name: string, namespace?: string): Obj | undefined;
}

export interface Watched extends Cache {
  on(event: 'add' | 'update' | 'delete', cb: (o: Obj) => void): void;
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

async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof k8s.ApiException) {
      const body =
        typeof err.body === 'string'
          ? (() => {
              try {
                return JSON.parse(err.body as string) as Obj;
              } catch {
                return undefined;
              }
            })()
          : (err.body as Obj | undefined);
      throw new KubeError(err.code, `${what}: ${body?.message ?? err.message}`);
    }
    throw err;
  }
}

/**
 * client-node's informer re-lists after a 410 by itself, but stops for good
 * on any other watch error (a dropped connection, an apiserver restart):
 * start it again, with backoff, until stop().
 */
function restarting(inf: Watched): Watched {
  let stopped = false;
  let delay = 250;
  inf.on(
    'error' as never,
    (() => {
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
    }) as never,
  );
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

  /** A list-watch cache of one resource (all namespaces, or the API's namespace; nodes are cluster-scoped), re-listing after a 410. */
  watch(r: Resource, labelSelector?: string, fieldSelector?: string): Watched {
    const ns = this.namespace;
    if (r === 'nodes') {
      const sel = { ...(labelSelector && { labelSelector }), ...(fieldSelector && { fieldSelector }) };
      const list = () => this.core.listNode(sel);
      return restarting(
        new k8s.ListWatch(
          '/api/v1/nodes',
          new k8s.Watch(this.kc),
          list as never,
          false,
          labelSelector,
          fieldSelector,
        ) as unknown as Watched,
      );
    }
    if (r === 'pods') {
      const path = ns ? `/api/v1/namespaces/${ns}/pods` : '/api/v1/pods';
      const sel = { ...(labelSelector && { labelSelector }), ...(fieldSelector && { fieldSelector }) };
      const list = () =>
        ns ? this.core.listNamespacedPod({ namespace: ns, ...sel }) : this.core.listPodForAllNamespaces(sel);
      return restarting(
        new k8s.ListWatch(
          path,
          new k8s.Watch(this.kc),
          list as never,
          false,
          labelSelector,
          fieldSelector,
        ) as unknown as Watched,
      );
    }
    const { group, version } = this.groupOf(r);
    const path = ns ? `/apis/${group}/${version}/namespaces/${ns}/${r}` : `/apis/${group}/${version}/${r}`;
    const list = () =>
      ns
        ? this.custom.listNamespacedCustomObject({ group, version, namespace: ns, plural: r })
        : this.custom.listClusterCustomObject({ group, version, plural: r });
    return restarting(k8s.makeInformer(this.kc, path, list as never) as unknown as Watched);
  }

  get(r: Custom, namespace: string, name: string): Promise<Obj> {
    const { group, version } = this.groupOf(r);
    return call(
      `get ${r} ${namespace}/${name}`,
      () => this.custom.getNamespacedCustomObject({ group, version, namespace, plural: r, name }) as Promise<Obj>,
    );
  }

  create(r: Custom, namespace: string, body: Obj): Promise<Obj> {
    const { group, version } = this.groupOf(r);
    return call(
      `create ${r} in ${namespace}`,
      () => this.custom.createNamespacedCustomObject({ group, version, namespace, plural: r, body }) as Promise<Obj>,
    );
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

  /** PUT the status subresource; a stale metadata.resourceVersion answers 409 (KubeError). */
  replaceStatus(r: 'virtualmachineinstances' | 'virtualmachines', obj: Obj): Promise<Obj> {
    const { group, version } = this.groupOf(r);
    const { namespace, name } = obj.metadata;
    return call(
      `update ${r} ${namespace}/${name} status`,
      () =>
        this.custom.replaceNamespacedCustomObjectStatus({
          group,
          version,
          namespace,
          plural: r,
          name,
          body: obj,
        }) as Promise<Obj>,
    );
  }

  createPod(namespace: string, pod: Obj): Promise<Obj> {
    return call(
      `create pod in ${namespace}`,
      () => this.core.createNamespacedPod({ namespace, body: pod as k8s.V1Pod }) as unknown as Promise<Obj>,
    );
  }

  getPod(namespace: string, name: string): Promise<Obj> {
    return call(
      `get pod ${namespace}/${name}`,
      () => this.core.readNamespacedPod({ namespace, name }) as unknown as Promise<Obj>,
    );
  }

  replacePod(pod: Obj): Promise<Obj> {
    const { namespace, name } = pod.metadata;
    return call(
      `update pod ${namespace}/${name}`,
      () => this.core.replaceNamespacedPod({ namespace, name, body: pod as k8s.V1Pod }) as unknown as Promise<Obj>,
    );
  }

  /** Read-modify-write of a pod (or its status) with retries on 409: the optimistic-concurrency loop. */
  async updatePod(
    namespace: string,
    name: string,
    change: (p: Obj) => void,
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
  patchPodAnnotations(namespace: string, name: string, annotations: Record<string, string | null>): Promise<Obj> {
    const body = { metadata: { annotations } };
    const asMergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    return call(
      `patch pod ${namespace}/${name}`,
      () => this.core.patchNamespacedPod({ namespace, name, body }, asMergePatch) as unknown as Promise<Obj>,
    );
  }

  /**
   * The node agent's own Node annotations (the VTEP MAC and the VXLAN VNIs
   * its peers read, as flannel publishes its backend data), by merge patch:
   * a null value removes one. RBAC: patch on nodes.
   */
  patchNodeAnnotations(name: string, annotations: Record<string, string | null>): Promise<Obj> {
    const body = { metadata: { annotations } };
    const asMergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    return call(
      `patch node ${name}`,
      () => this.core.patchNode({ name, body }, asMergePatch) as unknown as Promise<Obj>,
    );
  }

  replacePodStatus(pod: Obj): Promise<Obj> {
    const { namespace, name } = pod.metadata;
    return call(
      `update pod ${namespace}/${name} status`,
      () =>
        this.core.replaceNamespacedPodStatus({ namespace, name, body: pod as k8s.V1Pod }) as unknown as Promise<Obj>,
    );
  }
}
