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
import { waitSynced, type KubeApi, type Watched } from './kube.ts';
import { NadFdbSync, PodNetworkSync, vnisAnnotation } from './node-network.ts';
import { VTEP_MAC_ANNOTATION, VXLAN_VNIS_ANNOTATION, type Backend } from './node-routes.ts';

export interface NodePeersOptions {
  node: string;
  /** The pod network's backend, when virtnet is the default network; unset: no routes between nodes (the cluster's CNI has them). */
  backend?: Backend;
  log: Logger;
  /** How often the whole state is re-checked besides Node events. */
  resyncIntervalMs?: number;
  /** argv prefix that enters the node's network namespace; none: this process's. */
  wrap?: string[];
}

export class NodePeers {
  private readonly nodes: Watched;
  private readonly pods: PodNetworkSync | undefined;
  private readonly nads: NadFdbSync;
  private timer: NodeJS.Timeout | undefined;
  /** Syncs run one at a time; a request during one runs once after it. */
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  syncs = 0;

  constructor(private readonly api: KubeApi, private readonly o: NodePeersOptions) {
    this.nodes = api.watch('nodes');
    const wrap = o.wrap ? { wrap: o.wrap } : {};
    this.pods = o.backend ? new PodNetworkSync({ node: o.node, backend: o.backend, log: o.log, ...wrap }) : undefined;
    this.nads = new NadFdbSync({ node: o.node, log: o.log, ...wrap });
  }

  async start(): Promise<void> {
    const later = () => this.request();
    for (const ev of ['add', 'update', 'delete'] as const) this.nodes.on(ev, later);
    await this.nodes.start();
    await waitSynced(this.nodes, () => this.stopped);
    await this.request();
    this.timer = setInterval(later, this.o.resyncIntervalMs ?? 5000);
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
        await this.syncOnce().catch((err: Error) => this.o.log.error({ err: err.message }, 'sync with the other nodes failed; the next one retries'));
      } while (this.again && !this.stopped);
      this.running = undefined;
    })();
    return this.running;
  }

  private async syncOnce(): Promise<void> {
    const nodes = this.nodes.list();
    const vtepMac = this.pods ? (await this.pods.sync(nodes)).vtepMac : undefined;
    const vnis = await this.nads.sync(nodes);
    await this.publish({ [VTEP_MAC_ANNOTATION]: vtepMac ?? null, [VXLAN_VNIS_ANNOTATION]: vnis.length ? vnisAnnotation(vnis) : null });
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
    this.o.log.info({ annotations: changes }, 'published this node\'s overlay and VXLAN facts on its Node');
  }
}
