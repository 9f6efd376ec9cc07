/**
 * What `kubectl virtnet` asks of the cluster, through @kubernetes/client-node
 * (kube.ts is the controller's narrow API; the plugin needs other calls:
 * paged lists, label-selected pods, exec). Failures come back as kubectl
 * reports them: the server's Status (reason and message), a refused
 * connection, or a kubeconfig problem.
 */
import * as k8s from '@kubernetes/client-node';

type Obj = Record<string, any>;

export type PluginResource = 'virtualmachineinstances' | 'virtualmachines' | 'network-attachment-definitions';

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
        const body = err.body as unknown;
        let status: Obj | undefined;
        try {
          status = typeof body === 'string' ? (JSON.parse(body) as Obj) : (body as Obj | undefined);
        } catch {
          status = undefined;
        }
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

  /** Every object of a resource in a namespace (or all namespaces), page by page. */
  async list(r: PluginResource, namespace: string | undefined): Promise<Obj[]> {
    const { group, version } = GROUPS[r];
    const items: Obj[] = [];
    let token: string | undefined;
    do {
      const page = { group, version, plural: r, limit: PAGE, ...(token && { _continue: token }) };
      const list = (await this.call(() =>
        namespace
          ? this.custom.listNamespacedCustomObject({ ...page, namespace })
          : this.custom.listClusterCustomObject(page),
      )) as Obj;
      // A list's items may omit apiVersion and kind; kubectl fills them in from the list, so -o json shows whole objects.
      const kind = String(list.kind ?? '').replace(/List$/u, '');
      for (const item of (list.items ?? []) as Obj[]) items.push({ apiVersion: list.apiVersion, kind, ...item });
      token = list.metadata?.continue || undefined;
    } while (token);
    return items;
  }

  get(r: PluginResource, namespace: string, name: string): Promise<Obj> {
    const { group, version } = GROUPS[r];
    return this.call(
      () => this.custom.getNamespacedCustomObject({ group, version, namespace, plural: r, name }) as Promise<Obj>,
    );
  }

  /**
   * The Events about one object, as kubectl describe finds them: by a field
   * selector on involvedObject's name, namespace, kind and uid.
   */
  async eventsAbout(o: { kind: string; name: string; namespace: string; uid?: string }): Promise<Obj[]> {
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
    return list.items as unknown as Obj[];
  }

  async pods(namespace: string, labelSelector: string): Promise<Obj[]> {
    const list = await this.call(() => this.core.listNamespacedPod({ namespace, labelSelector }));
    return list.items as unknown as Obj[];
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

/** The exit code an exec's final Status carries (reason ExitCode), as kubectl exec returns it. */
export function exitCodeOf(s: k8s.V1Status): number {
  if (s.status === 'Success') return 0;
  const cause = s.details?.causes?.find((c) => c.reason === 'ExitCode');
  const n = Number(cause?.message);
  return Number.isInteger(n) && n > 0 ? n : 1;
}
