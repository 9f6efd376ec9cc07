/**
 * What admission knows of the cluster: every node's pod subnets (from Node
 * objects, list-watched) and the service CIDRs (the --service-cidr flags).
 * A masquerade VM routes between its VM subnet and the pod's network, so
 * its vmNetworkCIDR / vmIPv6NetworkCIDR must stay clear of both: standalone
 * checks the one node's pod network (controller/node/runtime.ts
 * validationContext), a cluster checks every node's, since the VMI may be
 * scheduled on any of them and reaches the others' pods through its gateway.
 *
 * Node.spec.podCIDRs holds one subnet per family; spec.podCIDR is its first
 * entry, kept for older clients (k8s.io/api core/v1 NodeSpec). Both are read:
 * a node written by an older tool may have podCIDR only.
 */
import { parseCidr } from '../../lib/cidr.ts';
import { showValue } from '../../lib/show.ts';
import type { ReservedCidr } from '../api/rules-networks.ts';
import type { KubeApi, Watched } from '../kube/kube.ts';
import type { ClusterFacts } from './webhook.ts';
import { isObj } from '../../lib/json.ts';

/** kubeadm's and kube-apiserver's default --service-cluster-ip-range. */
export const DEFAULT_SERVICE_CIDRS = ['10.96.0.0/12'];

export interface NodeSubnet {
  node: string;
  cidr: string;
}

/**
 * The --service-cidr values (repeated for dual stack), each a CIDR, at most
 * one per family as kube-apiserver's --service-cluster-ip-range allows;
 * none given: DEFAULT_SERVICE_CIDRS. Throws naming the flag, the value and the rule.
 */
export function parseServiceCidrs(values: string[] | undefined): string[] {
  if (!values || values.length === 0) return DEFAULT_SERVICE_CIDRS;
  const families = new Map<number, string>();
  for (const text of values) {
    const cidr = parseCidr(text);
    if (!cidr)
      throw new Error(`--service-cidr ${showValue(text)} is not a CIDR (e.g. 10.96.0.0/12 or fd00:10:96::/112)`);
    const other = families.get(cidr.family);
    if (other !== undefined)
      throw new Error(
        `--service-cidr ${showValue(text)}: IPv${cidr.family} is already given by ${showValue(other)}; a cluster ` +
          `has at most one service CIDR per family`,
      );
    families.set(cidr.family, text);
  }
  return values;
}

/**
 * A Node object's pod subnets: spec.podCIDRs, plus spec.podCIDR if podCIDRs lacks it; values that are not CIDRs are
 * left out.
 */
export function podSubnetsOf(node: unknown): NodeSubnet[] {
  if (!isObj(node) || !isObj(node.metadata) || typeof node.metadata.name !== 'string' || !isObj(node.spec)) return [];
  const { podCIDRs, podCIDR } = node.spec;
  const listed = Array.isArray(podCIDRs) ? podCIDRs : [];
  const texts = new Set(
    [...listed, podCIDR].filter((c): c is string => typeof c === 'string' && parseCidr(c) !== undefined),
  );
  const name = node.metadata.name;
  return [...texts].map((cidr) => ({ node: name, cidr }));
}

/** Reserved subnets as the masquerade rule names them: `node "b"'s pod subnet`, `the service CIDR`. */
export function clusterReservedCidrs(nodes: NodeSubnet[], serviceCidrs: string[]): ReservedCidr[] {
  return [
    ...nodes.map(({ node, cidr }) => ({ cidr, what: `node ${showValue(node)}'s pod subnet` })),
    ...serviceCidrs.map((cidr) => ({ cidr, what: 'the service CIDR' })),
  ];
}

/**
 * The pod subnets of every node, read from a list-watch cache of Node
 * objects at each call: a node added, changed or deleted counts from the
 * moment the cache sees it, with no copy of its own to keep in step.
 */
export class NodeSubnets {
  constructor(private readonly nodes: Watched) {}

  start(): Promise<void> {
    return this.nodes.start();
  }

  stop(): Promise<void> {
    return this.nodes.stop();
  }

  /**
   * Whether the cache holds a list: until then no node's subnet is known, and admission must not judge without them.
   */
  get synced(): boolean {
    return this.nodes.latestResourceVersion() !== '';
  }

  /** Every node's pod subnets, in node-name order (so messages do not depend on the watch's order). */
  subnets(): NodeSubnet[] {
    const nodes = [...this.nodes.list()].sort((a, b) =>
      String(a.metadata?.name).localeCompare(String(b.metadata?.name)),
    );
    return nodes.flatMap(podSubnetsOf);
  }

  /** What a masquerade VM subnet must not overlap: every node's pod subnets and the service CIDRs. */
  reservedCidrs(serviceCidrs: string[]): ReservedCidr[] {
    return clusterReservedCidrs(this.subnets(), serviceCidrs);
  }
}

/**
 * Node subnets from a list-watch of every Node (cluster-scoped: list and watch on nodes,
 * deploy/base/rbac-controller.yaml).
 */
export function watchNodeSubnets(api: KubeApi): NodeSubnets {
  return new NodeSubnets(api.watch('nodes'));
}

/** The webhook's facts: unknown until the node list is read, then every node's pod subnets and the service CIDRs. */
export function clusterFacts(nodes: NodeSubnets, serviceCidrs: string[]): ClusterFacts {
  return () => (nodes.synced ? { reservedCidrs: nodes.reservedCidrs(serviceCidrs) } : undefined);
}
