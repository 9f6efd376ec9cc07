// An in-process stand-in for kube-apiserver, for tests of code written against
// @kubernetes/client-node, and for the real kubectl. It speaks the real REST
// and watch protocol over HTTP
// (https://kubernetes.io/docs/reference/using-api/api-concepts/), so the client
// library runs unchanged: CoreV1Api, CustomObjectsApi, KubernetesObjectApi
// (through discovery), Watch and makeInformer/ListWatch; and kubectl get,
// describe, create, apply, patch, delete and wait work as on a cluster
// (test/integration/kube/kubectl-real.test.ts).
//
// Semantics kept from the real server: one global resourceVersion, optimistic
// concurrency (409), the status subresource split, generation, generateName,
// no-op writes that store nothing, selectors on lists and watches, watch
// resumption with 410 Expired after compaction, bookmarks, finalizers,
// ownerReference garbage collection after the delete answers, admission by a
// validating webhook (onValidate) for custom resources, errors as v1 Status,
// Table answers with the server's columns (table.ts), strategic merge patch
// for built-in kinds (strategic.ts), /openapi/v3 (openapi.ts) and strict field
// validation of custom resources against their CRD schema (fieldcheck.ts).
// Not kept: authn/authz, field management (server-side apply is a merge patch
// that may create), defaulting, pruning, validation of built-in kinds' fields
// and of pod spec immutability, /openapi/v2 (kubectl wants protobuf there and
// does without it), Tables in watches (`kubectl get -w`), pod graceful
// deletion (pods go at once), namespace existence checks and the Terminating
// phase.
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify as toYaml } from 'yaml';
import { isWatch, read, write, type ResourceRequest } from './handlers.ts';
import { DEFAULT_RESOURCES, groupResource, isBuiltin, type ResourceDef } from './resources.ts';
import { buildOpenApiV3, openApiDocument } from './openapi.ts';
import { resolvePath } from './routes.ts';
import { KubeError, methodNotAllowed, statusOf } from './status.ts';
import { Store } from './store.ts';
import { clone, type Obj } from './util.ts';
import { WatchHub } from './watch.ts';
import { createObject, type Validator, type WriteContext } from './writes.ts';

export { DEFAULT_RESOURCES, type ResourceDef } from './resources.ts';
export type { Review, Validator } from './writes.ts';

export interface RequestRecord {
  method: string;
  path: string;
  query: string;
  status: number;
  contentType: string;
}

export interface KubeTestServer {
  url: string; // http://HOST:PORT (an IPv6 host in brackets)
  kubeConfig(): KubeConfig; // no auth, current namespace "default"
  kubeconfigFile(dir: string): string; // writes <dir>/kubeconfig for CLIs, returns its path
  close(): Promise<void>; // ends open watches, then the server
  /**
   * The next `times` update, patch or status writes to the resource ("plural" or "plural.group") answer 409 Conflict.
   */
  conflictNext(plural: string, times?: number): void;
  /** Compacts the history to now and ends every open watch with an ERROR 410 Expired event. */
  expireWatches(): void;
  /** Deep copies of the stored objects of a resource ("plural" or "plural.group"). */
  objects(plural: string, namespace?: string): Array<Record<string, any>>;
  /** Every request answered, in order; `status` is 200 for watches, logged when the stream starts. */
  requests: RequestRecord[];
  /** A validating webhook for custom resources (create, update, patch; not /status). */
  onValidate?: Validator | undefined;
}

export interface KubeTestServerOptions {
  resources?: ResourceDef[];
  bookmarkIntervalMs?: number;
  historyLimit?: number;
  /**
   * The address to listen on, and the one kubeConfig() and kubeconfigFile() name: 127.0.0.1 unless told (a lab's node
   * reaches it on its bridge address).
   */
  host?: string;
}

const named = (defs: ResourceDef[], plural: string) =>
  defs.filter((d) => d.plural === plural || groupResource(d) === plural);

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startKubeTestServer(opts: KubeTestServerOptions = {}): Promise<KubeTestServer> {
  const resources = opts.resources ?? DEFAULT_RESOURCES;
  const store = new Store(resources, opts.historyLimit ?? 1000);
  const hub = new WatchHub(store, opts.bookmarkIntervalMs ?? 1000);
  const conflicts = new Map<string, number>();
  const openapi = buildOpenApiV3(resources);
  const host = opts.host ?? '127.0.0.1';

  // Writes run one at a time, so admission (which awaits) cannot interleave with another write.
  let queue: Promise<unknown> = Promise.resolve();
  const serialize = <T>(task: () => Promise<T>): Promise<T> => {
    const run = queue.then(task);
    queue = run.catch(() => undefined);
    return run;
  };
  const context = (dryRun: boolean): WriteContext => ({
    store,
    dryRun,
    validator: api.onValidate,
    takeConflict: (def) =>
      [groupResource(def), def.plural].some((key) => {
        const left = conflicts.get(key) ?? 0;
        if (left > 0) conflicts.set(key, left - 1);
        return left > 0;
      }),
    background: (task) => void serialize(task).catch(() => undefined),
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = req.method ?? 'GET';
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const record = (status: number) =>
      api.requests.push({ method, path: url.pathname, query: url.search.slice(1), status, contentType });
    const reply = (code: number, body: unknown) => {
      record(code);
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      res.writeHead(code, {
        'Content-Type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
      });
      res.end(text);
    };
    try {
      const raw = await readBody(req);
      if (['/healthz', '/livez', '/readyz'].includes(url.pathname)) return reply(200, 'ok');
      if (url.pathname === '/openapi/v3' || url.pathname.startsWith('/openapi/v3/'))
        return reply(200, openApiDocument(openapi, url.pathname));
      if (url.pathname === '/version')
        return reply(200, { major: '1', minor: '31', gitVersion: 'v1.31.0-virtnet-test', platform: 'linux/amd64' });
      const target = resolvePath(url.pathname, resources, api.url.replace(/^http:\/\//, ''));
      if ('doc' in target) {
        if (method !== 'GET') throw methodNotAllowed();
        return reply(200, target.doc);
      }
      const r: ResourceRequest = {
        method,
        route: target.route,
        query: url.searchParams,
        contentType,
        raw,
        accept: req.headers.accept ?? '',
      };
      if (isWatch(r)) {
        if (r.route.subresource) throw methodNotAllowed();
        return hub.serve(res, { ...r.route, query: r.query }, () => record(200));
      }
      if (method === 'GET') {
        const { code, body } = read(store, r);
        return reply(code, body);
      }
      if (!['POST', 'PUT', 'PATCH', 'DELETE'].includes(method)) throw methodNotAllowed();
      const { code, body } = await serialize(() =>
        write(context(url.searchParams.getAll('dryRun').includes('All')), r),
      );
      return reply(code, body);
    } catch (e) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const status =
        e instanceof KubeError
          ? e.status
          : statusOf(500, 'InternalError', `Internal error occurred: ${(e as Error)?.message ?? e}`);
      reply(status.code, status);
    }
  }

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;

  const api: KubeTestServer = {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    requests: [],
    kubeConfig() {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        // client-node refuses plain http unless skipTLSVerify is set (KubeConfig.createAgent).
        clusters: [{ name: 'virtnet-test', server: api.url, skipTLSVerify: true }],
        users: [{ name: 'virtnet-test' }],
        contexts: [{ name: 'virtnet-test', cluster: 'virtnet-test', user: 'virtnet-test', namespace: 'default' }],
        currentContext: 'virtnet-test',
      });
      return kc;
    },
    kubeconfigFile(dir) {
      const path = join(dir, 'kubeconfig');
      writeFileSync(
        path,
        toYaml({
          apiVersion: 'v1',
          kind: 'Config',
          preferences: {},
          clusters: [{ name: 'virtnet-test', cluster: { server: api.url, 'insecure-skip-tls-verify': true } }],
          users: [{ name: 'virtnet-test', user: {} }],
          contexts: [
            { name: 'virtnet-test', context: { cluster: 'virtnet-test', user: 'virtnet-test', namespace: 'default' } },
          ],
          'current-context': 'virtnet-test',
        }),
      );
      return path;
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        hub.closeAll();
        server.close(() => resolve());
        server.closeAllConnections(); // keep-alive sockets of client-node's agent would hold close() open
      });
      return closed;
    },
    conflictNext(plural, times = 1) {
      if (named(resources, plural).length === 0) throw new Error(`unknown resource ${plural}`);
      conflicts.set(plural, (conflicts.get(plural) ?? 0) + times);
    },
    expireWatches() {
      store.compact();
      hub.expireAll();
    },
    objects(plural, namespace) {
      const defs = named(resources, plural);
      if (defs.length === 0) throw new Error(`unknown resource ${plural}`);
      return defs.flatMap((d) => store.list(d, namespace).map((o: Obj) => clone(o)));
    },
  };

  // A new cluster has these namespaces.
  for (const def of resources.filter((d) => isBuiltin(d) && d.plural === 'namespaces')) {
    for (const name of ['default', 'kube-system'])
      await createObject(context(false), def, undefined, { metadata: { name } });
  }
  return api;
}
