/**
 * The node agent's side of the pod network between nodes: from every Node
 * object (each node's InternalIP, pod subnets and published VTEP MAC) and
 * what this node's links are connected to, plan the routes
 * (controller/agent/node-routes.ts), keep the overlay device when the
 * backend may need it, and apply the plan (lib/route-sync.ts). Also the
 * head-end replication lists of the NADs' VXLAN devices.
 *
 * Each sync is whole: it is run on every Node event and on a timer, and
 * brings the kernel back to the plan (host-gw in flannel re-checks its
 * routes periodically for the same reason: someone may have removed them).
 */
import type { Logger } from 'pino';
import { familyOf, sameAddress } from '../../lib/cidr.ts';
import type { IpLink } from '../../lib/iproute.ts';
import { linkNameProblem, dns1123SubdomainProblem } from '../../lib/names.ts';
import { RouteSync } from '../../lib/route-sync.ts';
import { LINK_MARK } from '../../cni/plan.ts';
import { MAX_VNI } from './node-peer.ts';
import {
  ALL_ZEROS_MAC,
  BACKENDS,
  overlayLocalIp,
  peerNodes,
  planNadFdb,
  planPodNetwork,
  VXLAN_VNIS_ANNOTATION,
  type Backend,
  type PeerNode,
  type PodNetworkPlan,
} from './node-routes.ts';

export const DEFAULT_OVERLAY_DEV = 'virtnet-ovl';
export const DEFAULT_OVERLAY_VNI = 1;
/** The Linux VXLAN driver's default port (not IANA's 4789), which flannel's vxlan backend uses too. */
export const DEFAULT_OVERLAY_PORT = 8472;

export interface PodNetworkOptions {
  node: string;
  backend: Backend;
  overlayDev?: string;
  overlayVni?: number;
  overlayPort?: number;
  log: Logger;
  /** argv prefix that enters the node's network namespace (as the agent's cniWrap); none: this process's. */
  wrap?: string[];
  /** The pod subnets this node serves now (the agent's, from its Node or --pod-cidr): no peer may take them. */
  ownPodCidrs?: () => string[];
  /** --cluster-cidr: peers' pod subnets must lie inside them (per family). */
  clusterCidrs?: string[];
}

function checkOptions(o: PodNetworkOptions): void {
  const nameProblem = dns1123SubdomainProblem(o.node);
  if (nameProblem) throw new Error(`pod network: node ${JSON.stringify(o.node)} is not a node name: ${nameProblem}`);
  if (!BACKENDS.includes(o.backend))
    throw new Error(`pod network: backend ${JSON.stringify(o.backend)} must be one of ${BACKENDS.join(', ')}`);
  const devProblem = o.overlayDev === undefined ? undefined : linkNameProblem(o.overlayDev);
  if (devProblem) throw new Error(`pod network: overlayDev ${JSON.stringify(o.overlayDev)} ${devProblem}`);
  const vni = o.overlayVni ?? DEFAULT_OVERLAY_VNI;
  if (!Number.isInteger(vni) || vni < 0 || vni > MAX_VNI)
    throw new Error(`pod network: overlayVni ${vni} must be an integer 0..${MAX_VNI}`);
  const port = o.overlayPort ?? DEFAULT_OVERLAY_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`pod network: overlayPort ${port} must be an integer 1..65535`);
}

/** Logs each problem once, when it first appears; one that goes away and comes back is logged again. */
class ProblemLog {
  private said = new Set<string>();
  constructor(
    private readonly log: Logger,
    private readonly what: string,
  ) {}

  report(problems: readonly string[]): void {
    const now = new Set(problems);
    for (const p of now) if (!this.said.has(p)) this.log.warn({ problem: p }, this.what);
    for (const p of this.said) if (!now.has(p)) this.log.info({ problem: p }, `${this.what}: resolved`);
    this.said = now;
  }
}

export class PodNetworkSync {
  private readonly kernel: RouteSync;
  private readonly problems: ProblemLog;
  readonly overlayDev: string;

  constructor(private readonly o: PodNetworkOptions) {
    checkOptions(o);
    this.kernel = new RouteSync(o.wrap ?? []);
    this.problems = new ProblemLog(o.log, 'pod network between nodes');
    this.overlayDev = o.overlayDev ?? DEFAULT_OVERLAY_DEV;
  }

  /**
   * Bring routes, the overlay and its entries to what `nodes` (Node objects,
   * this node's among them) ask for. Returns the plan, with every problem
   * met (also the kernel's), and the overlay's MAC, which the agent
   * publishes in its Node's VTEP_MAC_ANNOTATION; none when there is no overlay.
   */
  sync(nodes: unknown[]): Promise<{ plan: PodNetworkPlan; vtepMac?: string; overlayMtu?: number }> {
    return this.syncParsed(peerNodes(nodes));
  }

  /** sync() from Node objects already read (node-peers.ts reads them once for both syncs). */
  async syncParsed({
    peers,
    problems,
  }: ParsedPeers): Promise<{ plan: PodNetworkPlan; vtepMac?: string; overlayMtu?: number }> {
    const self = peers.find((p) => p.name === this.o.node);
    const prefixes = await this.kernel.connectedPrefixes();
    // This node's own VTEP MAC, when its overlay exists: a peer publishing it must not get its traffic.
    const ownVtepMac = (await this.kernel.link(this.overlayDev))?.address;
    const local = {
      prefixes,
      overlayDev: this.overlayDev,
      ...(ownVtepMac && { ownVtepMac }),
      ownPodCidrs: this.o.ownPodCidrs?.() ?? [],
      clusterCidrs: this.o.clusterCidrs ?? [],
    };
    const plan = planPodNetwork(this.o.node, peers, local, this.o.backend);
    plan.problems.unshift(...problems);
    let overlay: IpLink | undefined;
    if (plan.overlay) {
      overlay = await this.ensureOverlay(self!, prefixes).catch(
        (e: Error) => void plan.problems.push(`overlay ${this.overlayDev}: ${e.message}`),
      );
    } else {
      await this.kernel
        .removeOverlay(this.overlayDev)
        .catch((e: Error) => plan.problems.push(`overlay ${this.overlayDev}: ${e.message}`));
    }
    const vtepMac = overlay?.address;
    const viaOverlay = (r: { dev: string }) => r.dev === this.overlayDev;
    const routes = vtepMac ? plan.routes : plan.routes.filter((r) => !viaOverlay(r));
    const changed = [await this.kernel.syncRoutes(routes)];
    if (vtepMac)
      changed.push(
        await this.kernel.syncNeighbors(this.overlayDev, plan.neighbors),
        await this.kernel.syncFdb(this.overlayDev, plan.fdb),
      );
    plan.problems.push(...changed.flatMap((c) => c.problems));
    const count = changed.reduce((n, c) => n + c.changed, 0);
    if (count > 0)
      this.o.log.info(
        { changes: count, routes: routes.length, overlay: !!vtepMac },
        'pod network between nodes synced',
      );
    this.problems.report(plan.problems);
    // The kernel sizes the overlay from its lower device less VXLAN's headers (50 bytes over IPv4, 70 over IPv6).
    const overlayMtu = overlay?.mtu;
    return { plan, ...(vtepMac && { vtepMac }), ...(overlayMtu && { overlayMtu }) };
  }

  /**
   * Not the default network (any more): withdraw every route of virtnet's
   * and the overlay, so that a mode change leaves nothing behind. Succeeds
   * when there is nothing to withdraw.
   */
  async withdraw(): Promise<number> {
    const routes = await this.kernel.syncRoutes([]);
    const removed = await this.kernel
      .removeOverlay(this.overlayDev)
      .catch((e: Error) => void routes.problems.push(`overlay ${this.overlayDev}: ${e.message}`));
    this.problems.report(routes.problems);
    return routes.changed + (removed ? 1 : 0);
  }

  /**
   * The overlay device from this node's own facts: it sends from its InternalIP, and holds its subnets' VTEP addresses.
   */
  private async ensureOverlay(
    self: PeerNode,
    prefixes: ReadonlyArray<{ dev: string; address: string }>,
  ): Promise<IpLink> {
    const localIp = overlayLocalIp(self)!;
    const lowerDev = prefixes.find((p) => sameAddress(p.address, localIp))?.dev;
    if (!lowerDev) throw new Error(`this node's InternalIP ${localIp} is on none of its links: no overlay`);
    const addresses = self.podCIDRs.map((c) => c.split('/')[0]!);
    await this.kernel.ensureOverlay({
      dev: this.overlayDev,
      vni: this.o.overlayVni ?? DEFAULT_OVERLAY_VNI,
      port: this.o.overlayPort ?? DEFAULT_OVERLAY_PORT,
      localIp,
      lowerDev,
      addresses,
    });
    const link = await this.kernel.link(this.overlayDev);
    if (!link?.address) throw new Error('created, but it has no MAC');
    return link;
  }
}

/**
 * Head-end replication for the NADs' L2 VXLAN devices: the ones the CNI
 * plugin made (its LINK_MARK alias) with neither remote nor group get one
 * all-zeros FDB entry per other node that advertises the same VNI.
 */
export class NadFdbSync {
  private readonly kernel: RouteSync;
  private readonly problems: ProblemLog;

  constructor(private readonly o: { node: string; log: Logger; wrap?: string[] }) {
    const nameProblem = dns1123SubdomainProblem(o.node);
    if (nameProblem) throw new Error(`NAD FDB: node ${JSON.stringify(o.node)} is not a node name: ${nameProblem}`);
    this.kernel = new RouteSync(o.wrap ?? []);
    this.problems = new ProblemLog(o.log, 'NAD VXLAN head-end replication');
  }

  /** Sync every head-end device's list; returns this node's head-end VNIs, for its Node's VXLAN_VNIS_ANNOTATION. */
  sync(nodes: unknown[]): Promise<number[]> {
    return this.syncParsed(peerNodes(nodes));
  }

  async syncParsed({ peers, problems }: ParsedPeers): Promise<number[]> {
    const headEnd = (await this.kernel.vxlanLinks()).filter(
      (l) => l.alias === LINK_MARK && !l.remote && !l.group && Number.isInteger(l.vni),
    );
    // Without a local address a VXLAN device is IPv4 (the kernel sets its IPv6 flag from a v6 local, remote or group).
    const local = headEnd.map((l) => ({ vni: l.vni, dev: l.name, family: (l.local ? familyOf(l.local) : 4) ?? 4 }));
    const fdb = planNadFdb(this.o.node, peers, local);
    const kernelProblems: string[] = [];
    for (const l of headEnd) {
      const r = await this.kernel.syncFdb(
        l.name,
        fdb.filter((e) => e.dev === l.name),
        { onlyMac: ALL_ZEROS_MAC },
      );
      kernelProblems.push(...r.problems);
    }
    this.problems.report([...problems.filter((p) => p.includes(VXLAN_VNIS_ANNOTATION)), ...kernelProblems]);
    return [...new Set(headEnd.map((l) => l.vni))].sort((a, b) => a - b);
  }
}

/** Node objects as peerNodes reads them. */
type ParsedPeers = ReturnType<typeof peerNodes>;

/** The VXLAN_VNIS_ANNOTATION value for a list of VNIs. */
export function vnisAnnotation(vnis: readonly number[]): string {
  return [...new Set(vnis)].sort((a, b) => a - b).join(',');
}
