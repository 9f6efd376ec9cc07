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
import { cidrsOverlap, familyOf, parseCidr, sameAddress, type Family, type ParsedCidr } from '../../lib/cidr.ts';
import ipaddr from 'ipaddr.js';
import { VTEP_MAC_ANNOTATION, type PeerNode } from './node-peer.ts';

export { peerNode, peerNodes, VTEP_MAC_ANNOTATION, VXLAN_VNIS_ANNOTATION, type PeerNode } from './node-peer.ts';

/** auto: direct routes where the peer is on a local subnet, the overlay elsewhere (flannel vxlan with DirectRouting). */
export type Backend = 'auto' | 'host-gw' | 'vxlan';
export const BACKENDS: readonly Backend[] = ['auto', 'host-gw', 'vxlan'];

export interface PodRoute { dst: string; via: string; dev: string; onlink?: boolean }
export interface OverlayNeighbor { dev: string; ip: string; mac: string }
export interface FdbEntry { dev: string; mac: string; dst: string }

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
}

export const ALL_ZEROS_MAC = '00:00:00:00:00:00';

const ipOf = (node: PeerNode, family: Family) => node.internalIPs.find((ip) => familyOf(ip) === family);
const within = (ip: string, c: ParsedCidr) => familyOf(ip) === c.family && ipaddr.parse(ip).match(ipaddr.parse(c.network), c.prefix);

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
  const pods = ctx.own.find((c) => within(ip, c));
  if (pods) return `its InternalIP ${ip} is inside this node's podCIDR ${pods.network}/${pods.prefix}`;
  return undefined;
}

type Reach = { route: PodRoute; neighbor?: OverlayNeighbor; fdb?: FdbEntry } | { problem: string };

function directRoute(peer: PeerNode, cidr: ParsedCidr, dst: string, ctx: Context): Reach {
  const ip = ipOf(peer, cidr.family);
  if (!ip) return { problem: `it has no IPv${cidr.family} InternalIP` };
  const bad = hostileIp(ip, ctx);
  if (bad) return { problem: bad };
  const on = ctx.prefixes.find((p) => within(ip, p.cidr));
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
  return { route: { dst, via: cidr.network, dev, onlink: true }, neighbor: { dev, ip: cidr.network, mac: peer.vtepMac }, fdb: { dev, mac: peer.vtepMac, dst: ip } };
}

function reach(peer: PeerNode, cidr: ParsedCidr, ctx: Context): Reach {
  const dst = `${cidr.network}/${cidr.prefix}`;
  const direct: Reach = ctx.backend === 'vxlan' ? { problem: 'backend vxlan routes only through the overlay' } : directRoute(peer, cidr, dst, ctx);
  if ('route' in direct) return direct;
  const overlay = overlayRoute(peer, cidr, dst, ctx);
  if ('route' in overlay) return overlay;
  const why = new Set(ctx.backend === 'vxlan' ? [overlay.problem] : [direct.problem, overlay.problem]);
  return { problem: `node ${peer.name}: ${dst} unreachable: ${[...why].join(' and ')}` };
}

function context(self: string, peers: readonly PeerNode[], local: LocalNetwork, backend: Backend): Context {
  const me = peers.find((p) => p.name === self);
  const own = (me?.podCIDRs ?? []).map((c) => parseCidr(c)!);
  const underlayIp = overlayLocalIp(me);
  const noOverlay = backend === 'host-gw' ? 'backend host-gw'
    : !me ? `no Node ${self} is listed` : own.length === 0 ? `Node ${self} has no podCIDR for its VTEP address` : !underlayIp ? `Node ${self} has no InternalIP to send from` : undefined;
  const prefixes = local.prefixes.filter((p) => p.dev !== local.overlayDev).flatMap((p) => {
    const cidr = parseCidr(p.cidr);
    return cidr ? [{ cidr, dev: p.dev }] : [];
  });
  return { me, own, prefixes, overlayDev: local.overlayDev, noOverlay, underlay: underlayIp ? familyOf(underlayIp) : undefined, backend };
}

export function planPodNetwork(self: string, peers: readonly PeerNode[], local: LocalNetwork, backend: Backend): PodNetworkPlan {
  const ctx = context(self, peers, local, backend);
  const plan: PodNetworkPlan = { routes: [], neighbors: [], fdb: [], overlay: ctx.noOverlay === undefined, problems: [] };
  if (backend !== 'host-gw' && ctx.noOverlay) plan.problems.push(`no overlay on this node: ${ctx.noOverlay}`);
  const taken: { cidr: ParsedCidr; node: string }[] = [];
  const sorted = [...peers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const peer of sorted.filter((p) => p.name !== self)) {
    for (const text of peer.podCIDRs) {
      const cidr = parseCidr(text);
      if (!cidr) continue;
      const mine = ctx.own.find((c) => cidrsOverlap(c, cidr));
      if (mine) {
        plan.problems.push(`node ${peer.name}: its podCIDR ${text} overlaps this node's own podCIDR ${mine.network}/${mine.prefix}: no route (a Node must not take over local pods)`);
        continue;
      }
      const other = taken.find((t) => cidrsOverlap(t.cidr, cidr));
      if (other) {
        plan.problems.push(`node ${peer.name}: its podCIDR ${text} overlaps node ${other.node}'s ${other.cidr.network}/${other.cidr.prefix}: no route (the first node by name keeps it)`);
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
export function planNadFdb(self: string, peers: readonly PeerNode[], localVnis: readonly { vni: number; dev: string; family?: Family }[]): FdbEntry[] {
  const me = peers.find((p) => p.name === self);
  const entries: FdbEntry[] = [];
  for (const { vni, dev, family } of localVnis) {
    for (const peer of peers) {
      if (peer.name === self || !peer.vxlanVnis.includes(vni)) continue;
      const dst = family ? ipOf(peer, family) : ipOf(peer, 4) ?? ipOf(peer, 6);
      // A peer claiming this node's address would make every flood loop back here.
      if (!dst || me?.internalIPs.some((mine) => sameAddress(mine, dst))) continue;
      if (!entries.some((e) => e.dev === dev && e.dst === dst)) entries.push({ dev, mac: ALL_ZEROS_MAC, dst });
    }
  }
  return entries;
}
