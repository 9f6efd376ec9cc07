/**
 * The node-to-node pod network as a plan, flannel's model: for each other
 * node's pod subnet, a direct route via that node's InternalIP when the IP
 * is on one of this node's connected subnets (host-gw), else a route through
 * a VXLAN overlay: via the peer's VTEP address (its subnet's network
 * address) onlink, with a permanent neighbor entry for that address and an
 * FDB entry sending the peer's VTEP MAC to its InternalIP (flannel's vxlan
 * backend with DirectRouting). Pure: no I/O.
 *
 * A Node is anyone's to write, so nothing from one may take over this
 * node's own pods (a subnet overlapping ours gets no route) nor another
 * node's (of overlapping subnets the first node by name keeps it).
 */
import {
  addressIn,
  cidrContains,
  cidrsOverlap,
  familyOf,
  parseCidr,
  sameAddress,
  type Family,
  type ParsedCidr,
} from '../../lib/cidr.ts';
import { VTEP_MAC_ANNOTATION, type PeerNode } from './node-peer.ts';

export { peerNode, peerNodes, VTEP_MAC_ANNOTATION, VXLAN_VNIS_ANNOTATION, type PeerNode } from './node-peer.ts';

/**
 * auto: direct routes where the peer is on a local subnet, the overlay elsewhere (flannel vxlan with DirectRouting).
 */
export type Backend = 'auto' | 'host-gw' | 'vxlan';
export const BACKENDS: readonly Backend[] = ['auto', 'host-gw', 'vxlan'];

export interface PodRoute {
  dst: string;
  via: string;
  dev: string;
  onlink?: boolean;
}
export interface OverlayNeighbor {
  dev: string;
  ip: string;
  mac: string;
}
export interface FdbEntry {
  dev: string;
  mac: string;
  dst: string;
}

export interface PodNetworkPlan {
  routes: PodRoute[];
  neighbors: OverlayNeighbor[];
  fdb: FdbEntry[];
  /** Whether this node needs its overlay device (the backend allows VXLAN and the node can have one). */
  overlay: boolean;
  problems: string[];
}

export interface LocalNetwork {
  /** This node's connected underlay subnets (global-scope addresses' networks). */
  prefixes: { cidr: string; dev: string }[];
  overlayDev: string;
  /** The pod subnets this node serves, whatever its Node object says now (the agent's, from the Node or --pod-cidr). */
  ownPodCidrs?: string[];
  /** --cluster-cidr: when given, a peer's pod subnet must lie inside one of them. */
  clusterCidrs?: string[];
}

export const ALL_ZEROS_MAC = '00:00:00:00:00:00';

const ipOf = (node: PeerNode, family: Family) => node.internalIPs.find((ip) => familyOf(ip) === family);

/**
 * The overlay's underlay address: this node's IPv4 InternalIP, else its
 * IPv6 one. A VXLAN device sends over one family only (its local/remote
 * address family, ip-link(8) "type vxlan"), and carries both inner families.
 */
export function overlayLocalIp(self: PeerNode | undefined): string | undefined {
  return self && (ipOf(self, 4) ?? ipOf(self, 6));
}

interface Context {
  me: PeerNode | undefined;
  own: ParsedCidr[];
  prefixes: { cidr: ParsedCidr; dev: string }[];
  overlayDev: string;
  /** Why there is no overlay, when there is none. */
  noOverlay: string | undefined;
  underlay: Family | undefined;
  backend: Backend;
}

/** Why an IP a peer gives must not be used: it would send to this node itself or into its pods. */
function hostileIp(ip: string, ctx: Context): string | undefined {
  if (ctx.me?.internalIPs.some((mine) => sameAddress(mine, ip))) return `its InternalIP ${ip} is this node's own`;
  const pods = ctx.own.find((c) => addressIn(ip, c));
  if (pods) return `its InternalIP ${ip} is inside this node's podCIDR ${pods.network}/${pods.prefix}`;
  return undefined;
}

type Reach = { route: PodRoute; neighbor?: OverlayNeighbor; fdb?: FdbEntry } | { problem: string };

function directRoute(peer: PeerNode, cidr: ParsedCidr, dst: string, ctx: Context): Reach {
  const ip = ipOf(peer, cidr.family);
  if (!ip) return { problem: `it has no IPv${cidr.family} InternalIP` };
  const bad = hostileIp(ip, ctx);
  if (bad) return { problem: bad };
  const on = ctx.prefixes.find((p) => addressIn(ip, p.cidr));
  return on ? { route: { dst, via: ip, dev: on.dev } } : { problem: `its InternalIP ${ip} is on no local subnet` };
}

function overlayRoute(peer: PeerNode, cidr: ParsedCidr, dst: string, ctx: Context): Reach {
  if (ctx.backend === 'host-gw') return { problem: 'backend host-gw has no overlay' };
  if (ctx.noOverlay) return { problem: `this node has no overlay (${ctx.noOverlay})` };
  if (!peer.vtepMac) return { problem: `it publishes no ${VTEP_MAC_ANNOTATION} annotation (no overlay yet)` };
  const ip = ipOf(peer, ctx.underlay!);
  if (!ip) return { problem: `it has no IPv${ctx.underlay} InternalIP to reach its overlay` };
  const bad = hostileIp(ip, ctx);
  if (bad) return { problem: bad };
  const dev = ctx.overlayDev;
  return {
    route: { dst, via: cidr.network, dev, onlink: true },
    neighbor: { dev, ip: cidr.network, mac: peer.vtepMac },
    fdb: { dev, mac: peer.vtepMac, dst: ip },
  };
}

function reach(peer: PeerNode, cidr: ParsedCidr, ctx: Context): Reach {
  const dst = `${cidr.network}/${cidr.prefix}`;
  const direct: Reach =
    ctx.backend === 'vxlan'
      ? { problem: 'backend vxlan routes only through the overlay' }
      : directRoute(peer, cidr, dst, ctx);
  if ('route' in direct) return direct;
  const overlay = overlayRoute(peer, cidr, dst, ctx);
  if ('route' in overlay) return overlay;
  const why = new Set(ctx.backend === 'vxlan' ? [overlay.problem] : [direct.problem, overlay.problem]);
  return { problem: `node ${peer.name}: ${dst} unreachable: ${[...why].join(' and ')}` };
}

function context(self: string, peers: readonly PeerNode[], local: LocalNetwork, backend: Backend): Context {
  const me = peers.find((p) => p.name === self);
  const own = [...(me?.podCIDRs ?? []), ...(local.ownPodCidrs ?? [])].flatMap((c) => parseCidr(c) ?? []);
  const underlayIp = overlayLocalIp(me);
  const noOverlay =
    backend === 'host-gw'
      ? 'backend host-gw'
      : !me
        ? `no Node ${self} is listed`
        : own.length === 0
          ? `Node ${self} has no podCIDR for its VTEP address`
          : !underlayIp
            ? `Node ${self} has no InternalIP to send from`
            : undefined;
  const prefixes = local.prefixes
    .filter((p) => p.dev !== local.overlayDev)
    .flatMap((p) => {
      const cidr = parseCidr(p.cidr);
      return cidr ? [{ cidr, dev: p.dev }] : [];
    });
  return {
    me,
    own,
    prefixes,
    overlayDev: local.overlayDev,
    noOverlay,
    underlay: underlayIp ? familyOf(underlayIp) : undefined,
    backend,
  };
}

/**
 * Why a peer's pod subnet must get no route: a Node is anyone's to write,
 * and a route to a subnet is a claim on all its traffic. Not this node's own
 * pods, not a subnet it is connected to (its underlay, its pod bridge), not
 * one holding any node's InternalIP (the underlay itself), and, with
 * --cluster-cidr, nothing outside the cluster's pod networks.
 */
function subnetProblem(
  text: string,
  cidr: ParsedCidr,
  ctx: Context,
  local: LocalNetwork,
  ips: readonly string[],
): string | undefined {
  const mine = ctx.own.find((c) => cidrsOverlap(c, cidr));
  if (mine)
    return (
      `its podCIDR ${text} overlaps this node's own podCIDR ${mine.network}/${mine.prefix}: no route (a Node must ` +
      `not take over local pods)`
    );
  const connected = ctx.prefixes.find((p) => cidrsOverlap(p.cidr, cidr));
  if (connected)
    return (
      `its podCIDR ${text} overlaps ${connected.cidr.network}/${connected.cidr.prefix}, connected on ` +
      `${connected.dev}: no route`
    );
  const node = ips.find((ip) => addressIn(ip, cidr));
  if (node) return `its podCIDR ${text} holds the InternalIP ${node}: no route (it would take the underlay's traffic)`;
  // Per family: --cluster-cidr is given once per family, and a family without one is not narrowed.
  const cluster = (local.clusterCidrs ?? []).flatMap((c) => parseCidr(c) ?? []).filter((c) => c.family === cidr.family);
  if (cluster.length && !cluster.some((c) => cidrContains(c, cidr))) {
    return `its podCIDR ${text} is outside --cluster-cidr ${local.clusterCidrs!.join(', ')}: no route`;
  }
  return undefined;
}

/**
 * VTEP MACs published by more than one node: FDB entries are by MAC, so one
 * node publishing another's would take its overlay traffic. Neither gets an
 * overlay route; this node's own MAC counts as published.
 */
function sharedMacs(peers: readonly PeerNode[], ownMac: string | undefined): Map<string, string[]> {
  const by = new Map<string, string[]>();
  for (const p of peers) if (p.vtepMac) by.set(p.vtepMac, [...(by.get(p.vtepMac) ?? []), p.name]);
  if (ownMac) by.set(ownMac, [...(by.get(ownMac) ?? []), 'this node']);
  return new Map([...by].filter(([, names]) => new Set(names).size > 1));
}

export function planPodNetwork(
  self: string,
  peers: readonly PeerNode[],
  local: LocalNetwork & { ownVtepMac?: string },
  backend: Backend,
): PodNetworkPlan {
  const ctx = context(self, peers, local, backend);
  const plan: PodNetworkPlan = {
    routes: [],
    neighbors: [],
    fdb: [],
    overlay: ctx.noOverlay === undefined,
    problems: [],
  };
  if (backend !== 'host-gw' && ctx.noOverlay) plan.problems.push(`no overlay on this node: ${ctx.noOverlay}`);
  const taken: { cidr: ParsedCidr; node: string }[] = [];
  const ips = peers.flatMap((p) => p.internalIPs);
  const shared = sharedMacs(
    peers.filter((p) => p.name !== self),
    local.ownVtepMac,
  );
  for (const [mac, names] of shared)
    plan.problems.push(`VTEP MAC ${mac} is published by ${names.join(' and ')}: no overlay route to any of them`);
  const sorted = [...peers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const listed of sorted.filter((p) => p.name !== self)) {
    const { vtepMac, ...rest } = listed;
    const peer: PeerNode = vtepMac && !shared.has(vtepMac) ? listed : rest;
    for (const text of peer.podCIDRs) {
      const cidr = parseCidr(text);
      if (!cidr) continue;
      const bad = subnetProblem(text, cidr, ctx, local, ips);
      if (bad) {
        plan.problems.push(`node ${peer.name}: ${bad}`);
        continue;
      }
      const other = taken.find((t) => cidrsOverlap(t.cidr, cidr));
      if (other) {
        plan.problems.push(
          `node ${peer.name}: its podCIDR ${text} overlaps node ${other.node}'s ` +
            `${other.cidr.network}/${other.cidr.prefix}: no route (the first node by name keeps it)`,
        );
        continue;
      }
      taken.push({ cidr, node: peer.name });
      const r = reach(peer, cidr, ctx);
      if ('problem' in r) {
        plan.problems.push(r.problem);
        continue;
      }
      plan.routes.push(r.route);
      if (r.neighbor) plan.neighbors.push(r.neighbor);
      // One FDB entry per peer VTEP: its IPv4 and IPv6 subnets share the MAC (one dst, or frames would go twice).
      if (r.fdb && !plan.fdb.some((f) => f.mac === r.fdb!.mac)) plan.fdb.push(r.fdb);
    }
  }
  return plan;
}

/**
 * Head-end replication for the NADs' L2 VXLAN devices (created with neither
 * remote nor group): each all-zeros FDB entry is one more destination for
 * broadcast, unknown-unicast and multicast frames (bridge(8) "fdb append",
 * ip-link(8) vxlan: "the default destination"). One per peer node that
 * advertises the same VNI, to its InternalIP of the device's family
 * (`family`, from its local address; unset: IPv4 first, else IPv6).
 */
/** A peer's VNIs as a set, made once per peer: a node may list thousands, and every local device asks. */
const vniSets = new WeakMap<PeerNode, Set<number>>();
function vnisOf(peer: PeerNode): Set<number> {
  let set = vniSets.get(peer);
  if (!set) vniSets.set(peer, (set = new Set(peer.vxlanVnis)));
  return set;
}

export function planNadFdb(
  self: string,
  peers: readonly PeerNode[],
  localVnis: readonly { vni: number; dev: string; family?: Family }[],
): FdbEntry[] {
  const me = peers.find((p) => p.name === self);
  const entries: FdbEntry[] = [];
  for (const { vni, dev, family } of localVnis) {
    for (const peer of peers) {
      if (peer.name === self || !vnisOf(peer).has(vni)) continue;
      const dst = family ? ipOf(peer, family) : (ipOf(peer, 4) ?? ipOf(peer, 6));
      // A peer claiming this node's address would make every flood loop back here.
      if (!dst || me?.internalIPs.some((mine) => sameAddress(mine, dst))) continue;
      if (!entries.some((e) => e.dev === dev && e.dst === dst)) entries.push({ dev, mac: ALL_ZEROS_MAC, dst });
    }
  }
  return entries;
}
