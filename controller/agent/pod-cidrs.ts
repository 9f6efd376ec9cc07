/**
 * A node's pod subnets: where they come from (its Node object, else the
 * node agent's --pod-cidr flags) and the rules they must meet before they
 * reach the node's CNI config. Kubernetes' own rules (core/v1 NodeSpec):
 * podCIDRs holds at most one subnet per family, and podCIDR, the older
 * single field, equals podCIDRs[0] when both are set.
 */
import { parseCidr } from '../../lib/cidr.ts';
import type { NodeObject } from '../api/kube-objects.ts';

/**
 * host-local needs a gateway (isGateway) and at least one address to hand out, so a subnet must have two usable hosts.
 */
const LONGEST_PREFIX = { 4: 30, 6: 126 } as const;

/**
 * Canonical, validated pod subnets: each a CIDR whose host bits are zero,
 * no more than one per family. `field` names where they came from, for
 * the error: "--pod-cidr" or "Node node-a spec.podCIDRs".
 */
export function parsePodCidrs(values: readonly unknown[], field: string): string[] {
  const seen = new Map<number, string>();
  return values.map((value, i) => {
    const at = values.length > 1 ? `${field}[${i}]` : field;
    const cidr = typeof value === 'string' ? parseCidr(value) : undefined;
    if (!cidr)
      throw new Error(
        `${at}: ${JSON.stringify(value)} is not a CIDR (expected e.g. 10.244.1.0/24 or fd00:10:244:1::/64)`,
      );
    if (cidr.address !== cidr.network)
      throw new Error(`${at}: ${value} has host bits set: the subnet is ${cidr.network}/${cidr.prefix}`);
    if (cidr.prefix > LONGEST_PREFIX[cidr.family])
      throw new Error(
        `${at}: ${value} is too small: an IPv${cidr.family} pod subnet needs a prefix of ` +
          `/${LONGEST_PREFIX[cidr.family]} or shorter`,
      );
    const other = seen.get(cidr.family);
    if (other)
      throw new Error(`${at}: ${value} is a second IPv${cidr.family} subnet after ${other}: one subnet per family`);
    seen.set(cidr.family, String(value));
    return `${cidr.network}/${cidr.prefix}`;
  });
}

/**
 * The pod subnets a Node object assigns: spec.podCIDRs, or spec.podCIDR
 * when only the older field is set; [] when it has none yet (the
 * controller-manager's node IPAM fills them in after the Node registers).
 * Throws, naming the field, when they break the rules above.
 */
export function nodePodCidrs(node: NodeObject): string[] {
  const name = node.metadata.name;
  const spec = node.spec ?? {};
  if (spec.podCIDRs !== undefined && spec.podCIDRs !== null) {
    if (!Array.isArray(spec.podCIDRs))
      throw new Error(`Node ${name} spec.podCIDRs: must be a list of CIDRs, not ${JSON.stringify(spec.podCIDRs)}`);
    if (spec.podCIDRs.length > 0) return parsePodCidrs(spec.podCIDRs, `Node ${name} spec.podCIDRs`);
  }
  if (spec.podCIDR === undefined || spec.podCIDR === null || spec.podCIDR === '') return [];
  return parsePodCidrs([spec.podCIDR], `Node ${name} spec.podCIDR`);
}

/**
 * host-local's `ranges`: one range set per subnet, so each family gets its own address (plugins/ipam/host-local README,
 * "ranges").
 */
export function hostLocalRanges(cidrs: readonly string[]): Array<Array<{ subnet: string }>> {
  return cidrs.map((subnet) => [{ subnet }]);
}
