/**
 * The node agent's view of the other nodes, kept in sync as flannel's
 * kube subnet manager keeps its leases: one watch of every Node object, and
 * on each event (and on a timer, since someone may remove a route or a
 * pod's VXLAN device may appear without any Node event) a whole sync:
 *   - the pod network between nodes, when virtnet is the default network:
 *     host-gw routes or the VXLAN overlay (node-network.ts PodNetworkSync);
 *   - head-end replication for the NADs' VXLAN devices (NadFdbSync).
 * What the others need of this node is published on its own Node object:
 * its overlay's VTEP MAC and the VNIs of its head-end devices (flannel puts
 * its VtepMAC in the Node's backend-data annotation the same way). A node
 * that goes is withdrawn at the next sync: the plan no longer has it.
 */
import type { Logger } from 'pino';
import type { NodeObject } from '../api/kube-objects.ts';
import { waitSynced, type KubeApi, type Watched } from '../kube/kube.ts';
import { NadFdbSync, PodNetworkSync, vnisAnnotation } from './node-network.ts';
import { VTEP_MAC_ANNOTATION, VXLAN_VNIS_ANNOTATION, type Backend } from './node-routes.ts';
import { MAX_VNIS, peerNodes } from './node-peer.ts';

/** The most VNIs a Node publishes: what its peers read (node-peer.ts) and the admission policy allows. */
const MAX_PUBLISHED_VNIS = MAX_VNIS;

export interface NodePeersOptions {
  node: string;
  /**
   * The pod network's backend, when virtnet is the default network; unset: no routes between nodes (the cluster's CNI
   * has them).
   */
  backend?: Backend;
  log: Logger;
  /** How often the whole state is re-checked besides Node events. */
  resyncIntervalMs?: number;
  /** argv prefix that enters the node's network namespace; none: this process's. */
  wrap?: string[];
  /** Told the overlay's MTU when it is first known or changes: the pod network's MTU must fit in it. */
  onOverlayMtu?: (mtu: number) => void;
  /** The pod subnets this node serves now: no peer may take them. */
  ownPodCidrs?: () => string[];
  /** --cluster-cidr: peers' pod subnets must lie inside them. */
  clusterCidrs?: string[];
}

/** What of the Node objects a sync depends on: heartbeats change none of it, so they cost no sync. */
function peerDigest(nodes: readonly NodeObject[]): string {
  return JSON.stringify(
    nodes.map((n) => [
      n.metadata?.name,
      n.metadata?.annotations?.[VTEP_MAC_ANNOTATION],
      n.metadata?.annotations?.[VXLAN_VNIS_ANNOTATION],
      n.spec?.podCIDR,
      n.spec?.podCIDRs,
      n.status?.addresses,
    ]),
  );
}

export class NodePeers {
  private readonly nodes: Watched<NodeObject>;
  private readonly pods: PodNetworkSync;
  private readonly nads: NadFdbSync;
  private timer: NodeJS.Timeout | undefined;
  /** Syncs run one at a time; a request during one runs once after it. */
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private overlayMtu: number | undefined;
  /** The Node facts the last sync saw (peerDigest). */
  private digest = '';
  syncs = 0;

  constructor(
    private readonly api: KubeApi,
    private readonly o: NodePeersOptions,
  ) {
    this.nodes = api.watch('nodes');
    const wrap = o.wrap ? { wrap: o.wrap } : {};
    const subnets = {
      ...(o.ownPodCidrs && { ownPodCidrs: o.ownPodCidrs }),
      ...(o.clusterCidrs && { clusterCidrs: o.clusterCidrs }),
    };
    this.pods = new PodNetworkSync({ node: o.node, backend: o.backend ?? 'host-gw', log: o.log, ...wrap, ...subnets });
    this.nads = new NadFdbSync({ node: o.node, log: o.log, ...wrap });
  }

  async start(): Promise<void> {
    const onEvent = () => {
      if (peerDigest(this.nodes.list()) !== this.digest) void this.request();
    };
    for (const ev of ['add', 'update', 'delete'] as const) this.nodes.on(ev, onEvent);
    if (!this.o.backend) {
      // Not the default network: what an earlier run as the default network made goes (routes, overlay).
      const withdrawn = await this.pods
        .withdraw()
        .catch((err: Error) => void this.o.log.error({ err }, 'pod routes of an earlier run not withdrawn'));
      if (withdrawn)
        this.o.log.info({ withdrawn }, 'withdrew the pod network between nodes: virtnet is not the default network');
    }
    await this.nodes.start();
    await waitSynced(this.nodes, () => this.stopped);
    await this.request();
    // The timer always syncs: it repairs what someone changed in the kernel, which no Node event tells.
    if (!this.stopped) this.timer = setInterval(() => void this.request(), this.o.resyncIntervalMs ?? 5000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.nodes.stop();
    await this.running;
  }

  /** Run a sync now, or once more after the one that runs. */
  request(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.syncOnce().catch((err: Error) =>
          this.o.log.error({ err }, 'sync with the other nodes failed; the next one retries'),
        );
      } while (this.again && !this.stopped);
      this.running = undefined;
    })();
    return this.running;
  }

  /** One whole sync; the pod network and the NADs are independent, so one's failure does not hold back the other. */
  private async syncOnce(): Promise<void> {
    const nodes = this.nodes.list();
    this.digest = peerDigest(nodes);
    // Read once for both syncs: a big cluster's Nodes cost their parse once per sync, not twice.
    const parsed = peerNodes(nodes);
    const failed = (what: string) => (err: Error) =>
      void this.o.log.error({ err }, `${what} not synced with the other nodes; the next sync retries`);
    const pod = this.o.backend ? await this.pods.syncParsed(parsed).catch(failed('pod network')) : undefined;
    // A transient failure keeps the MTU known so far: lowering it again later is safe, raising it is not.
    if (pod?.overlayMtu !== undefined && pod.overlayMtu !== this.overlayMtu) {
      this.overlayMtu = pod.overlayMtu;
      this.o.onOverlayMtu?.(pod.overlayMtu);
    }
    const vnis = await this.nads.syncParsed(parsed).catch(failed('NAD VXLAN peers'));
    const want: Record<string, string | null> = {};
    if (pod !== undefined || !this.o.backend) want[VTEP_MAC_ANNOTATION] = pod?.vtepMac ?? null;
    if (vnis !== undefined)
      want[VXLAN_VNIS_ANNOTATION] = vnis.length ? vnisAnnotation(vnis.slice(0, MAX_PUBLISHED_VNIS)) : null;
    if (vnis && vnis.length > MAX_PUBLISHED_VNIS)
      this.o.log.error(
        { vnis: vnis.length },
        `more head-end VXLAN VNIs on this node than the ${MAX_PUBLISHED_VNIS} a Node may publish: the rest reach ` +
          `no other node`,
      );
    await this.publish(want).catch(failed("this node's annotations"));
    this.syncs++;
  }

  /** Write this node's annotations when they differ from what its Node object holds (a null removes one). */
  private async publish(want: Record<string, string | null>): Promise<void> {
    const self = this.nodes.get(this.o.node);
    if (!self) return; // not registered yet (or deleted): nothing to write on, and no peer to tell
    const have = (self.metadata?.annotations ?? {}) as Record<string, string>;
    const changes = Object.fromEntries(Object.entries(want).filter(([k, v]) => (have[k] ?? null) !== v));
    if (Object.keys(changes).length === 0) return;
    await this.api.patchNodeAnnotations(this.o.node, changes);
    this.o.log.info({ annotations: changes }, "published this node's overlay and VXLAN facts on its Node");
  }
}
