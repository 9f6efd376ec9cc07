// URL layout of the API and the discovery documents that describe it.
// https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-uris
// https://kubernetes.io/docs/concepts/overview/kubernetes-api/#discovery-api
import { apiVersionOf, type ResourceDef } from './resources.ts';
import { badRequest, pathNotFound } from './status.ts';

export interface ResourceRoute {
  def: ResourceDef;
  namespace?: string; // absent: a cluster-scoped resource, or a namespaced one listed across all namespaces
  name?: string;
  subresource?: 'status';
  watchPrefix: boolean; // the deprecated /watch/ form of a watch
}

export type Target = { doc: unknown } | { route: ResourceRoute };

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/**
 * shortNames, as the real server's discovery lists them (kubectl resolves
 * `kubectl describe vmi` through them): the built-in types' and those of
 * virtnet's CRDs (controller/api/crds.ts) and Multus'. KubeVirt's CRDs
 * claim the same vmi and vm; here only virtnet's do, so that they name one
 * resource whatever order kubectl tries the groups in.
 */
const SHORT_NAMES: Record<string, string[]> = {
  '/pods': ['po'],
  '/events': ['ev'],
  '/namespaces': ['ns'],
  '/nodes': ['no'],
  'virtnet.io/virtualmachineinstances': ['vmi', 'vmis'],
  'virtnet.io/virtualmachines': ['vm', 'vms'],
  'k8s.cni.cncf.io/network-attachment-definitions': ['net-attach-def'],
};

/**
 * Categories, which `kubectl get all` (and `get virtnet`) expand through:
 * pods are in "all" as on a real cluster, virtnet's CRDs as their manifests
 * (controller/api/crds.ts) put them.
 */
const CATEGORIES: Record<string, string[]> = {
  '/pods': ['all'],
  'virtnet.io/virtualmachineinstances': ['all', 'virtnet'],
  'virtnet.io/virtualmachines': ['all', 'virtnet'],
};

function resourceList(groupVersion: string, defs: ResourceDef[]) {
  // The main resource precedes its subresource: KubernetesObjectApi takes the first entry of a kind.
  const resources = defs.flatMap((d) => [
    {
      name: d.plural,
      singularName: d.kind.toLowerCase(),
      namespaced: d.namespaced,
      kind: d.kind,
      verbs: VERBS,
      ...(SHORT_NAMES[`${d.group}/${d.plural}`] && { shortNames: SHORT_NAMES[`${d.group}/${d.plural}`] }),
      ...(CATEGORIES[`${d.group}/${d.plural}`] && { categories: CATEGORIES[`${d.group}/${d.plural}`] }),
    },
    ...(d.statusSubresource
      ? [
          {
            name: `${d.plural}/status`,
            singularName: '',
            namespaced: d.namespaced,
            kind: d.kind,
            verbs: ['get', 'patch', 'update'],
          },
        ]
      : []),
  ]);
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources };
}

function apiGroup(name: string, defs: ResourceDef[]) {
  const versions = [...new Set(defs.filter((d) => d.group === name).map((d) => d.version))].map((version) => ({
    groupVersion: `${name}/${version}`,
    version,
  }));
  return { kind: 'APIGroup', apiVersion: 'v1', name, versions, preferredVersion: versions[0] };
}

function discovery(segs: string[], resources: ResourceDef[], serverAddress: string): unknown {
  if (segs[0] === 'api') {
    return {
      kind: 'APIVersions',
      versions: ['v1'],
      serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
    };
  }
  if (segs.length === 1) {
    const names = [...new Set(resources.filter((d) => d.group !== '').map((d) => d.group))];
    return { kind: 'APIGroupList', apiVersion: 'v1', groups: names.map((n) => apiGroup(n, resources)) };
  }
  if (!resources.some((d) => d.group === segs[1])) throw pathNotFound();
  return apiGroup(segs[1]!, resources);
}

/** Maps a request path onto a discovery document or a resource route; unknown paths are 404. */
export function resolvePath(pathname: string, resources: ResourceDef[], serverAddress: string): Target {
  let segs: string[];
  try {
    segs = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    throw badRequest(`malformed path ${pathname}`);
  }
  const core = segs[0] === 'api';
  if (!core && segs[0] !== 'apis') throw pathNotFound();
  if (segs.length === 1 || (!core && segs.length === 2)) return { doc: discovery(segs, resources, serverAddress) };
  const group = core ? '' : segs[1]!;
  const version = segs[core ? 1 : 2]!;
  const defs = resources.filter((d) => d.group === group && d.version === version);
  if (defs.length === 0) throw pathNotFound();
  let rest = segs.slice(core ? 2 : 3);
  if (rest.length === 0) return { doc: resourceList(apiVersionOf(defs[0]!), defs) };
  const watchPrefix = rest[0] === 'watch';
  if (watchPrefix) rest = rest.slice(1);

  // /namespaces/<ns>/<plural>... is a namespaced path unless <plural> is not a namespaced resource,
  // in which case it is the cluster-scoped "namespaces" resource itself (/namespaces/<name>/status).
  const inNamespace =
    rest[0] === 'namespaces' && rest.length >= 3 ? defs.find((d) => d.namespaced && d.plural === rest[2]) : undefined;
  let route: ResourceRoute;
  let extra: string[];
  if (inNamespace) {
    route = { def: inNamespace, namespace: rest[1]!, watchPrefix };
    extra = rest.slice(3);
  } else {
    const def = defs.find((d) => d.plural === rest[0]);
    if (!def || (def.namespaced && rest.length > 1)) throw pathNotFound();
    route = { def, watchPrefix };
    extra = rest.slice(1);
  }
  const [name, sub, ...more] = extra;
  if (name !== undefined) route.name = name;
  if (sub !== undefined) {
    if (sub !== 'status' || !route.def.statusSubresource || more.length > 0 || watchPrefix) throw pathNotFound();
    route.subresource = 'status';
  }
  return { route };
}
