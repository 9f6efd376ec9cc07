/**
 * What one Node object tells the other nodes about reaching its pods, read
 * defensively: any node agent (or anyone allowed to write Nodes) may put
 * anything there, so every field is checked and a bad one is left out with a
 * problem that names the field, the value and the rule. Never throws.
 *
 * Sources: status.addresses of type InternalIP (core/v1 NodeAddress),
 * spec.podCIDRs else spec.podCIDR (core/v1 NodeSpec), and two annotations
 * this project's node agents publish, the way flannel's kube subnet manager
 * publishes its backend data (flannel.alpha.coreos.com/backend-data).
 */
import ipaddr from 'ipaddr.js';
import { familyOf, isMac, parseCidr, type Family } from '../../lib/cidr.ts';
import { isObj } from '../../lib/json.ts';
import { dns1123SubdomainProblem } from '../../lib/names.ts';
import { showValue } from '../../lib/show.ts';

/** The MAC of the node's overlay VXLAN device (its VTEP), for the others' neighbor and FDB entries. */
export const VTEP_MAC_ANNOTATION = 'virtnet.io/vtep-mac';
/** The VNIs of the node's head-end-replicated NAD VXLAN devices, "1,42,100": who must get a copy of their floods. */
export const VXLAN_VNIS_ANNOTATION = 'virtnet.io/vxlan-vnis';

export interface PeerNode {
  name: string;
  /** status.addresses of type InternalIP: valid unicast IPs, the first of each family only. */
  internalIPs: string[];
  /** spec.podCIDRs, else spec.podCIDR: canonical, host bits zero, one per family. */
  podCIDRs: string[];
  vtepMac?: string;
  /** Sorted, distinct, each 0..16777215 (the 24-bit VNI, RFC 7348 section 5). */
  vxlanVnis: number[];
}

export const MAX_VNI = 16777215;
/** Bounds on what is looked at: a real Node has a handful of addresses and two subnets. */
const MAX_ADDRESSES = 64;
export const MAX_VNIS = 4096;
const MAX_ANNOTATION_CHARS = 64 * 1024;
/**
 * virtnet's rule, not Kubernetes': a node's pod subnet shorter than this
 * would route a large share of the address space to that one node.
 */
const SHORTEST_PREFIX: Record<Family, number> = { 4: 8, 6: 32 };
/** The longest: as in pod-cidrs.ts, the subnet needs a gateway and one pod address. */
const LONGEST_PREFIX: Record<Family, number> = { 4: 30, 6: 126 };
/** Address ranges (ipaddr.js range names) that are never a node's address nor a pod subnet. */
const NOT_UNICAST = new Set(['unspecified', 'loopback', 'multicast', 'broadcast', 'linkLocal', 'ipv4Mapped']);

function internalIPs(node: Record<string, unknown>, at: string, problems: string[]): string[] {
  const status = isObj(node.status) ? node.status : {};
  const addresses = Array.isArray(status.addresses) ? status.addresses : [];
  if (addresses.length > MAX_ADDRESSES)
    problems.push(`${at} status.addresses: ${addresses.length} entries, only the first ${MAX_ADDRESSES} are read`);
  const byFamily = new Map<Family, string>();
  addresses.slice(0, MAX_ADDRESSES).forEach((a, i) => {
    if (!isObj(a) || a.type !== 'InternalIP') return;
    const text = a.address;
    const family = typeof text === 'string' ? familyOf(text) : undefined;
    if (!family || typeof text !== 'string')
      return void problems.push(`${at} status.addresses[${i}].address: ${showValue(text)} is not an IP address`);
    const ip = ipaddr.parse(text);
    if (NOT_UNICAST.has(ip.range()))
      return void problems.push(
        `${at} status.addresses[${i}].address: ${text} is a ${ip.range()} address, not a node's unicast address`,
      );
    // Kubernetes lists the primary address of each family first (kubelet --node-ip); the rest are not used.
    if (!byFamily.has(family)) byFamily.set(family, ip.toString());
  });
  return [...byFamily.values()];
}

function cidrProblem(text: unknown): string | undefined {
  const cidr = typeof text === 'string' ? parseCidr(text) : undefined;
  if (!cidr || typeof text !== 'string') return 'is not a CIDR';
  if (cidr.address !== cidr.network) return `has host bits set (the subnet is ${cidr.network}/${cidr.prefix})`;
  if (cidr.prefix < SHORTEST_PREFIX[cidr.family] || cidr.prefix > LONGEST_PREFIX[cidr.family]) {
    return (
      `must have a prefix of /${SHORTEST_PREFIX[cidr.family]} to /${LONGEST_PREFIX[cidr.family]} for ` +
      `IPv${cidr.family}`
    );
  }
  const range = ipaddr.parse(cidr.network).range();
  if (NOT_UNICAST.has(range)) return `is in the ${range} range`;
  return undefined;
}

function podCIDRs(node: Record<string, unknown>, at: string, problems: string[]): string[] {
  const spec = isObj(node.spec) ? node.spec : {};
  const listed = Array.isArray(spec.podCIDRs) && spec.podCIDRs.length > 0;
  const values: unknown[] = listed
    ? (spec.podCIDRs as unknown[])
    : spec.podCIDR === undefined || spec.podCIDR === null || spec.podCIDR === ''
      ? []
      : [spec.podCIDR];
  const field = listed ? 'spec.podCIDRs' : 'spec.podCIDR';
  const byFamily = new Map<Family, string>();
  values.slice(0, 2).forEach((value, i) => {
    const where = `${at} ${field}${listed ? `[${i}]` : ''}`;
    const problem = cidrProblem(value);
    if (problem) return void problems.push(`${where}: ${showValue(value)} ${problem}`);
    const cidr = parseCidr(value as string)!;
    const other = byFamily.get(cidr.family);
    if (other)
      return void problems.push(
        `${where}: ${value} is a second IPv${cidr.family} subnet after ${other} (one per family, core/v1 NodeSpec)`,
      );
    byFamily.set(cidr.family, `${cidr.network}/${cidr.prefix}`);
  });
  if (values.length > 2)
    problems.push(
      `${at} ${field}: ${values.length} entries; a node has at most one per family, only the first 2 are read`,
    );
  return [...byFamily.values()];
}

function vtepMac(annotations: Record<string, unknown>, at: string, problems: string[]): string | undefined {
  const value = annotations[VTEP_MAC_ANNOTATION];
  if (value === undefined) return undefined;
  const where = `${at} annotation ${VTEP_MAC_ANNOTATION}`;
  if (typeof value !== 'string' || !isMac(value))
    return void problems.push(`${where}: ${showValue(value)} is not a MAC address (aa:bb:cc:dd:ee:ff)`);
  const mac = value.toLowerCase();
  // A group MAC (IEEE 802 I/G bit) or zeros would make the FDB flood or mean "default destination".
  if (parseInt(mac.slice(0, 2), 16) & 1 || mac === '00:00:00:00:00:00')
    return void problems.push(`${where}: ${mac} is not a unicast MAC`);
  return mac;
}

function vxlanVnis(annotations: Record<string, unknown>, at: string, problems: string[]): number[] {
  const value = annotations[VXLAN_VNIS_ANNOTATION];
  if (value === undefined || value === '') return [];
  const where = `${at} annotation ${VXLAN_VNIS_ANNOTATION}`;
  if (typeof value !== 'string' || value.length > MAX_ANNOTATION_CHARS) {
    problems.push(
      `${where}: ${showValue(value)} is not a comma-separated list of VNIs of at most ${MAX_ANNOTATION_CHARS} ` +
        `characters`,
    );
    return [];
  }
  const parts = value.split(',');
  if (parts.length > MAX_VNIS) problems.push(`${where}: ${parts.length} VNIs, only the first ${MAX_VNIS} are read`);
  const vnis = new Set<number>();
  for (const part of parts.slice(0, MAX_VNIS)) {
    const vni = /^\d{1,8}$/u.test(part) ? Number(part) : NaN;
    if (!(vni <= MAX_VNI)) problems.push(`${where}: ${showValue(part)} is not a VNI (an integer 0..${MAX_VNI})`);
    else vnis.add(vni);
  }
  return [...vnis].sort((a, b) => a - b);
}

/** One Node object as a peer, or only problems when it has no usable name. */
export function peerNode(node: unknown): { node?: PeerNode; problems: string[] } {
  const meta = isObj(node) && isObj(node.metadata) ? node.metadata : undefined;
  const name = meta?.name;
  const nameProblem = typeof name === 'string' ? dns1123SubdomainProblem(name) : 'must be a string';
  if (!isObj(node) || !meta || typeof name !== 'string' || nameProblem) {
    const why = nameProblem ?? 'is missing';
    // dns1123SubdomainProblem names the value itself, except when it is empty.
    return {
      problems: [
        `Node metadata.name: ${why.includes(showValue(name)) ? why : `${showValue(name)} ${why}`}: the Node is ignored`,
      ],
    };
  }
  const at = `Node ${name}`;
  const problems: string[] = [];
  const annotations = isObj(meta.annotations) ? meta.annotations : {};
  const ips = internalIPs(node, at, problems);
  const cidrs = podCIDRs(node, at, problems);
  const mac = vtepMac(annotations, at, problems);
  const peer: PeerNode = {
    name,
    internalIPs: ips,
    podCIDRs: cidrs,
    ...(mac && { vtepMac: mac }),
    vxlanVnis: vxlanVnis(annotations, at, problems),
  };
  return { node: peer, problems };
}

/**
 * Every Node as a peer, sorted by name (so that "first wins" and messages do not depend on list order); a repeated name
 * keeps the first.
 */
export function peerNodes(nodes: readonly unknown[]): { peers: PeerNode[]; problems: string[] } {
  const problems: string[] = [];
  const byName = new Map<string, PeerNode>();
  for (const n of nodes) {
    const r = peerNode(n);
    problems.push(...r.problems);
    if (!r.node) continue;
    if (byName.has(r.node.name)) problems.push(`Node ${r.node.name}: listed twice, the first is used`);
    else byName.set(r.node.name, r.node);
  }
  const peers = [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { peers, problems };
}
