/**
 * What `kubectl virtnet` asks of the cluster, through @kubernetes/client-node
 * (kube.ts is the controller's narrow API; the plugin needs other calls:
 * paged lists, label-selected pods, exec). Failures come back as kubectl
 * reports them: the server's Status (reason and message), a refused
 * connection, or a kubeconfig problem.
 */
import * as k8s from '@kubernetes/client-node';
import type { NetworkAttachmentDefinition } from '../../netattach/nad.ts';
import type { VirtualMachine, VirtualMachineInstance } from '../api/schema.ts';
import type { VmiStatus } from '../api/status.ts';
import type { ObjectMeta } from '../api/kube-objects.ts';

export type PluginResource = 'virtualmachineinstances' | 'virtualmachines' | 'network-attachment-definitions';

/** What the API server sets on every object it stores, beyond what a manifest gives. */
export type StoredMeta = Pick<ObjectMeta, 'name' | 'uid' | 'resourceVersion' | 'labels' | 'annotations'> & {
  namespace: string;
  /** As JSON carries them: RFC 3339 text (the controller's watch may hand it Dates). */
  creationTimestamp?: string;
  deletionTimestamp?: string;
};

/** A manifest's type as the server returns it: its metadata completed, and the status its controller writes. */
type Stored<T extends { metadata: object }, S> = Omit<T, 'metadata' | 'status'> & {
  metadata: T['metadata'] & StoredMeta;
  status?: S;
};

/** VM status in KubeVirt's names, as controller/control/reconcile-vm.ts writes it. */
export interface VmStatus {
  printableStatus?: string;
  ready?: boolean;
  created?: boolean;
  runStrategy?: string;
  reason?: string;
}

export type StoredVmi = Stored<VirtualMachineInstance, VmiStatus>;
export type StoredVm = Stored<VirtualMachine, VmStatus>;
export type StoredNad = Stored<NetworkAttachmentDefinition, never>;

/** The object type of each resource the plugin reads. */
export interface StoredObjects {
  virtualmachineinstances: StoredVmi;
  virtualmachines: StoredVm;
  'network-attachment-definitions': StoredNad;
}

/** What `console` reads of a pod; client-node's V1Pod is one. */
export interface PodView {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; deletionTimestamp?: Date | string };
  status?: { phase?: string };
}

/** The parts of a list response the pager reads (the server's JSON, whatever the resource). */
interface ListPage {
  apiVersion?: string;
  kind?: string;
  items?: object[];
  metadata?: { continue?: string };
}

/** The fields of a Status body that kubectl prints. */
interface StatusBody {
  reason?: string;
  message?: string;
}

const GROUPS: Record<PluginResource, { group: string; version: string }> = {
  virtualmachineinstances: { group: 'virtnet.io', version: 'v1alpha1' },
  virtualmachines: { group: 'virtnet.io', version: 'v1alpha1' },
  'network-attachment-definitions': { group: 'k8s.cni.cncf.io', version: 'v1' },
};

/** kubectl's page size (--chunk-size): a large namespace is listed in pages, not one huge response. */
const PAGE = 500;

/** The server answered with a Status: kubectl prints `Error from server (Reason): message`. */
export class ServerError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** No answer at all (refused, unresolvable, TLS): kubectl prints its own line for these. */
export class ConnectError extends Error {}

/** The kubeconfig cannot be read or lacks the asked-for context. */
export class ConfigError extends Error {}

export interface ConsoleTarget {
  namespace: string;
  pod: string;
  container: string;
  command: string[];
}

export interface ConnectOptions {
  kubeconfig?: string | undefined;
  context?: string | undefined;
}

function loadConfig(o: ConnectOptions): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  try {
    if (o.kubeconfig) kc.loadFromFile(o.kubeconfig);
    else kc.loadFromDefault(); // $KUBECONFIG, ~/.kube/config, in-cluster, else localhost:8080 (as kubectl)
  } catch (err) {
    throw new ConfigError(`cannot load kubeconfig: ${(err as Error).message}`);
  }
  if (o.context) {
    if (!kc.getContextObject(o.context)) throw new ConfigError(`context "${o.context}" does not exist`);
    kc.setCurrentContext(o.context);
  }
  return kc;
}

export class PluginClient {
  private readonly custom: k8s.CustomObjectsApi;
  private readonly core: k8s.CoreV1Api;

  private constructor(private readonly kc: k8s.KubeConfig) {
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
  }

  /** Loads the kubeconfig; no request is made until a call. */
  static connect(o: ConnectOptions): PluginClient {
    return new PluginClient(loadConfig(o));
  }

  /** The current context's namespace, which `-n` overrides (kubectl's rule). */
  get contextNamespace(): string | undefined {
    return this.kc.getContextObject(this.kc.getCurrentContext())?.namespace || undefined;
  }

  private get server(): string {
    return this.kc.getCurrentCluster()?.server ?? 'the server';
  }

  /** Runs a request, turning client-node's failures into the three errors above. */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof k8s.ApiException) {
        const status = statusOf(err.body);
        throw new ServerError(
          err.code,
          status?.reason || undefined,
          status?.message ?? `the server answered ${err.code}`,
        );
      }
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ECONNREFUSED') {
        const host = this.server.replace(/^\w+:\/\//u, '');
        throw new ConnectError(
          `The connection to the server ${host} was refused - did you specify the right host or port?`,
        );
      }
      throw new ConnectError(`Unable to connect to the server: ${(err as Error).message}`);
    }
  }

  /**
   * Every object of a resource in a namespace (or all namespaces), page by page.
   * The objects are the server's JSON, typed by the CRD whose schema the server enforced.
   */
  async list<R extends PluginResource>(r: R, namespace: string | undefined): Promise<StoredObjects[R][]> {
    const { group, version } = GROUPS[r];
    const items: StoredObjects[R][] = [];
    let token: string | undefined;
    do {
      const page = { group, version, plural: r, limit: PAGE, ...(token && { _continue: token }) };
      // Only undefined means every namespace: an empty name is not "all" (kubectl's -n "" is; -n refuses it).
      const list = (await this.call(() =>
        namespace !== undefined
          ? this.custom.listNamespacedCustomObject({ ...page, namespace })
          : this.custom.listClusterCustomObject(page),
      )) as ListPage;
      // A list's items may omit apiVersion and kind; kubectl fills them in from the list,
      // so that -o json shows whole objects.
      const kind = String(list.kind ?? '').replace(/List$/u, '');
      for (const item of list.items ?? [])
        items.push({ apiVersion: list.apiVersion, kind, ...item } as StoredObjects[R]);
      token = list.metadata?.continue || undefined;
    } while (token);
    return items;
  }

  async get<R extends PluginResource>(r: R, namespace: string, name: string): Promise<StoredObjects[R]> {
    const { group, version } = GROUPS[r];
    const object = await this.call(() =>
      this.custom.getNamespacedCustomObject({ group, version, namespace, plural: r, name }),
    );
    return object as StoredObjects[R];
  }

  /**
   * The Events about one object, as kubectl describe finds them: by a field
   * selector on involvedObject's name, namespace, kind and uid.
   */
  async eventsAbout(o: { kind: string; name: string; namespace: string; uid?: string }): Promise<k8s.CoreV1Event[]> {
    // fields.ParseSelector escapes: a backslash, a comma and an equals sign inside a value.
    const value = (v: string) => v.replace(/[\\,=]/gu, (c) => `\\${c}`);
    const terms = [
      ['involvedObject.name', o.name],
      ['involvedObject.namespace', o.namespace],
      ['involvedObject.kind', o.kind],
      ...(o.uid ? [['involvedObject.uid', o.uid]] : []),
    ];
    const fieldSelector = terms.map(([k, v]) => `${k}=${value(v!)}`).join(',');
    const list = await this.call(() =>
      this.core.listNamespacedEvent({ namespace: o.namespace, fieldSelector, limit: PAGE }),
    );
    return list.items;
  }

  async pods(namespace: string, labelSelector: string): Promise<PodView[]> {
    const list = await this.call(() => this.core.listNamespacedPod({ namespace, labelSelector }));
    return list.items;
  }

  /**
   * `kubectl exec -it`: the command in the container with a TTY over the exec
   * subresource's websocket; this terminal goes raw so that every key (the
   * console's Ctrl-] too) reaches the remote side. Resolves to its exit code.
   */
  async execInteractive(t: ConsoleTarget): Promise<number> {
    const stdin = process.stdin;
    const raw = stdin.isTTY === true;
    if (raw) stdin.setRawMode(true);
    try {
      return await new Promise<number>((resolve, reject) => {
        let code = 0;
        // With a TTY the remote side merges stderr into stdout, so no stderr stream is asked for (as kubectl).
        new k8s.Exec(this.kc)
          .exec(
            t.namespace,
            t.pod,
            t.container,
            t.command,
            process.stdout,
            null,
            stdin,
            true,
            (s) => (code = exitCodeOf(s)),
          )
          .then(
            (ws) => {
              ws.on('close', () => resolve(code));
              ws.on('error', reject);
            },
            (err: Error) => reject(new ConnectError(`cannot exec in pod ${t.namespace}/${t.pod}: ${err.message}`)),
          );
      });
    } finally {
      if (raw) stdin.setRawMode(false);
      stdin.pause(); // a paused stdin lets the process end
    }
  }
}

/** A Status body, as JSON text or parsed; undefined when it is neither. */
function statusOf(body: unknown): StatusBody | undefined {
  try {
    const parsed: unknown = typeof body === 'string' ? JSON.parse(body) : body;
    return typeof parsed === 'object' && parsed !== null ? (parsed as StatusBody) : undefined;
  } catch {
    return undefined;
  }
}

/** The exit code an exec's final Status carries (reason ExitCode), as kubectl exec returns it. */
export function exitCodeOf(s: k8s.V1Status): number {
  if (s.status === 'Success') return 0;
  const cause = s.details?.causes?.find((c) => c.reason === 'ExitCode');
  const n = Number(cause?.message);
  return Number.isInteger(n) && n > 0 ? n : 1;
}
