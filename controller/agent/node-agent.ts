/**
 * The node agent (a DaemonSet on every node):
 *   - installs virtnet-bridge into the CNI bin directory, atomically, for
 *     NADs and the VM bindings;
 *   - only when the admin opts in (defaultNetwork, --default-network), makes
 *     virtnet the node's default network: a conflist that sorts first in the
 *     CNI config directory, with host-local ranges from this node's pod
 *     subnets (its Node object's spec.podCIDRs, else --pod-cidr), rewritten
 *     when they change. Off, it writes none and removes the one it wrote
 *     before, leaving the node's existing default network alone;
 *   - copies each local launcher's report (its status.json under the
 *     launchers' state root, one directory per pod uid) onto its pod, for
 *     the controller;
 *   - collects garbage: an attachment whose network namespace is gone
 *     belongs to a pod that is gone, and gets a CNI DEL (IPAM included);
 *   - serves /healthz, /readyz and /metrics.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import { listRecords, type AttachmentRecord } from '../../cni/state.ts';
import { execPlugin, type ConfList, type PluginConf } from '../../netattach/invoke.ts';
import { parseLauncherStatus, type LauncherStatus } from '../../launcher/status.ts';
import { writePolicy, type PolicyFile } from '../../cni/policy.ts';
import { LAUNCHER_STATUS_ANNOTATION, VMI_LABEL } from '../render/pod.ts';
import { confText, installFile, installPlugin, networkConfigFiles, removeOwnFile } from './cni-install.ts';
import type { NodeObject, Pod } from '../api/kube-objects.ts';
import { DEFAULT_NAMESPACE } from '../api/normalize.ts';
import { objectKey } from '../api/object-key.ts';
import type { KubeApi, Watched } from '../kube/kube.ts';
import { hostLocalRanges, nodePodCidrs, parsePodCidrs } from './pod-cidrs.ts';
import { launcherReport } from './launcher-report.ts';
import { NodeMetrics } from './node-metrics.ts';
import { isObj } from '../../lib/json.ts';
import { dns1123SubdomainProblem } from '../../lib/names.ts';
import { NodePeers } from './node-peers.ts';
import type { Backend } from './node-routes.ts';

/** Named network namespaces, the only ones whose absence the agent can trust (it mounts this directory). */
const NAMED_NETNS = /^\/(var\/)?run\/netns\/[^/]+$/u;

/**
 * The default network's file. containerd, CRI-O and Multus' automatic
 * clusterNetwork take the first config by name in the directory (libcni
 * ConfFiles, sorted): "00-" sorts before the "05-"/"10-" names CNIs use.
 */
export const DEFAULT_NETWORK_FILE = '00-virtnet.conflist';
/** Names earlier agents wrote the default network under: removed when their content is virtnet's own. */
export const EARLIER_NETWORK_FILES = ['10-virtnet.conflist'];
/**
 * A top-level key that marks a conflist as this agent's to rewrite and
 * remove. Runtimes ignore unknown top-level keys (libcni reads the list's
 * known fields, and builds each plugin's stdin from its plugin object), so
 * the plugin, which refuses unknown keys of its own, never sees it.
 */
export const WRITER_KEY = 'virtnet.io/written-by';
export const WRITER = 'virtnet-node-agent';

type PodNetwork =
  | { conflist: Record<string, unknown>; podCIDRs: string[]; source: string }
  | { reason: string; level: 'info' | 'error' };

export interface NodeAgentOptions {
  node: string;
  /** The plugin executable shipped in the image. */
  plugin: string;
  cniBinDir: string;
  cniConfDir: string;
  /**
   * The pod network's conflist; as the default network, its first plugin's host-local ranges are this node's pod
   * subnets.
   */
  conflist: ConfList;
  /** --default-network: virtnet is the node's default network (off: only the plugin is installed). */
  defaultNetwork?: boolean;
  /** --pod-cidr, once per family: the pod subnets when the Node object has none. */
  podCIDRs?: string[];
  /**
   * --cluster-cidr, once per family: every node's pod subnets together. As
   * the default network, traffic to them is not masqueraded (the plugin's
   * ipMasqExclude): pods on other nodes see a pod's own address.
   */
  clusterCIDRs?: string[];
  /** --backend: how pods reach other nodes' pods when virtnet is the default network (node-routes.ts; default auto). */
  backend?: Backend;
  /**
   * Keep this node's routes and VXLAN FDBs in sync with the other nodes
   * (node-peers.ts). It changes the kernel of the agent's network namespace
   * (cniWrap's, else its own), so only the agent itself turns it on, never a
   * test that runs an agent beside the host's own network.
   */
  syncPeers?: boolean;
  /**
   * How often the default network is checked against the node's subnets and the config directory (besides Node events).
   */
  resyncIntervalMs?: number;
  /** How long start() waits for the Node object before it goes on without it (the watch keeps trying). */
  nodeSyncTimeoutMs?: number;
  stateRoot: string;
  log: Logger;
  reportIntervalMs?: number;
  gcIntervalMs?: number;
  /**
   * argv prefix for the plugin's exec, e.g. nsenter into a simulated node's netns (as --cni-netns for the kubelet
   * role).
   */
  cniWrap?: string[];
  /**
   * The node policy the plugin runs under (cni/policy.ts: where configs may
   * keep data and logs), written before the conflist so that the runtime's
   * first call already finds it. Without it the node's own file, if any, stands.
   */
  cniPolicy?: { file: string; policy: PolicyFile };
}

export class NodeAgent {
  readonly metrics = new NodeMetrics();
  private pods: Watched<Pod> | undefined;
  private peers: NodePeers | undefined;
  /**
   * The pod overlay's MTU once it exists: the default network's pods get it (flannel writes it to subnet.env for the
   * same reason).
   */
  private overlayMtu: number | undefined;
  private readonly clusterCidrs: string[];
  private nodeObject: Watched<NodeObject> | undefined;
  /** This node's pod subnets as its Node object last gave them (valid ones only). */
  private nodeCidrs: string[] = [];
  private readonly fallbackCidrs: string[];
  /** What was last logged about the default network and the files sorting before it: each state is logged once. */
  private networkSaid = '';
  private shadowSaid = '';
  private timers: NodeJS.Timeout[] = [];
  private readonly written = new Map<string, string>();
  /** The last status.json text refused per pod, so that one bad file is logged once. */
  private readonly rejected = new Map<string, string>();
  installed = false;
  synced = false;

  constructor(
    private readonly api: KubeApi | undefined,
    private readonly o: NodeAgentOptions,
  ) {
    // A Node's name is an RFC 1123 subdomain; it goes into a field selector, where "," would add a term.
    const nameProblem = dns1123SubdomainProblem(o.node);
    if (nameProblem) throw new Error(`node-agent --node: ${JSON.stringify(o.node)} is not a node name: ${nameProblem}`);
    this.fallbackCidrs = parsePodCidrs(o.podCIDRs ?? [], '--pod-cidr');
    this.clusterCidrs = parsePodCidrs(o.clusterCIDRs ?? [], '--cluster-cidr');
  }

  private get plugin(): PluginConf {
    return this.o.conflist.plugins[0]!;
  }

  install(): void {
    if (this.o.cniPolicy) writePolicy(this.o.cniPolicy.file, this.o.cniPolicy.policy);
    if (typeof this.plugin.logFile === 'string') {
      mkdirSync(dirname(this.plugin.logFile), { recursive: true });
      this.metrics.followCniLog(this.plugin.logFile);
    }
    const changed = installPlugin(this.o.plugin, this.o.cniBinDir);
    this.installed = true;
    this.o.log.info({ changed, binDir: this.o.cniBinDir }, 'CNI plugin installed');
    this.syncNetwork();
  }

  async start(): Promise<void> {
    if (this.api) await this.followNode(this.api);
    this.install();
    if (this.api) {
      // Only this node's launcher pods: the apiserver filters, so a big cluster costs each agent nothing.
      this.pods = this.api.watch('pods', VMI_LABEL, `spec.nodeName=${this.o.node}`);
      await this.pods.start();
    }
    if (this.api && this.o.syncPeers) {
      // The other nodes: routes between pod subnets (only as the default network) and the NADs' VXLAN peers (always).
      const onOverlayMtu = (mtu: number) => {
        this.overlayMtu = mtu;
        this.syncNetworkLogged();
      };
      this.peers = new NodePeers(this.api, {
        node: this.o.node,
        log: this.o.log,
        onOverlayMtu,
        ...(this.o.defaultNetwork && { backend: this.o.backend ?? 'auto' }),
        ...(this.o.cniWrap && { wrap: this.o.cniWrap }),
        ownPodCidrs: () => (this.nodeCidrs.length ? this.nodeCidrs : this.fallbackCidrs),
        clusterCidrs: this.clusterCidrs,
      });
      await this.peers.start();
    }
    this.synced = true;
    const report = () => void this.reportOnce().catch((e: Error) => this.o.log.warn({ err: e }, 'report'));
    const gc = () => void this.gcOnce().catch((e: Error) => this.o.log.warn({ err: e }, 'CNI GC'));
    const resync = () => this.syncNetworkLogged();
    this.timers.push(
      setInterval(report, this.o.reportIntervalMs ?? 1000),
      setInterval(gc, this.o.gcIntervalMs ?? 60_000),
      setInterval(resync, this.o.resyncIntervalMs ?? 30_000),
    );
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.metrics.stopCniLog();
    await this.peers?.stop();
    await this.pods?.stop();
    await this.nodeObject?.stop();
  }

  /**
   * Watch this node's Node object (the apiserver filters by name) for its
   * pod subnets, and wait, bounded, for the first list: the conflist is
   * written from the Node's subnets, not first from the fallback. On the
   * real apiserver podCIDRs only go from unset to set (or come with a new
   * Node object); each change rewrites the conflist all the same.
   */
  private async followNode(api: KubeApi): Promise<void> {
    const watch = api.watch('nodes', undefined, `metadata.name=${this.o.node}`);
    this.nodeObject = watch;
    watch.on('add', (n) => this.onNode(n));
    watch.on('update', (n) => this.onNode(n));
    watch.on('delete', () => {
      // Its subnets go back to the controller-manager's pool, and may be another node's soon.
      this.nodeCidrs = [];
      this.o.log.warn({ node: this.o.node }, "Node object deleted: its pod subnets are no longer this node's");
      if (this.installed) this.syncNetworkLogged();
    });
    await watch.start();
    const deadline = Date.now() + (this.o.nodeSyncTimeoutMs ?? 10_000);
    while (!watch.latestResourceVersion() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (!watch.latestResourceVersion())
      this.o.log.warn(
        { node: this.o.node },
        'Node object not read yet (is get/list/watch on nodes granted?): going on without it, the default network ' +
          'follows once it is read',
      );
  }

  private onNode(node: NodeObject): void {
    try {
      this.nodeCidrs = nodePodCidrs(node);
    } catch (err) {
      // A bad value never reaches the config; the last good subnets stand.
      this.o.log.error({ node: this.o.node, err }, 'Node pod subnets refused');
      return;
    }
    if (this.installed) this.syncNetworkLogged();
  }

  private syncNetworkLogged(): void {
    try {
      this.syncNetwork();
    } catch (err) {
      this.o.log.error({ err, confDir: this.o.cniConfDir }, 'default network not synced');
    }
  }

  /**
   * Bring the CNI config directory to what it should hold now: virtnet's
   * default network with this node's subnets, or (off, or no subnet known)
   * none of virtnet's. Only files whose content is virtnet's own are
   * rewritten or removed; an admin's file of the same name stays.
   */
  syncNetwork(): void {
    const dir = this.o.cniConfDir;
    for (const name of EARLIER_NETWORK_FILES) {
      if (removeOwnFile(join(dir, name), (t) => this.isOwnConf(t)))
        this.o.log.info({ file: join(dir, name) }, 'removed the conflist an earlier virtnet node agent wrote');
    }
    const file = join(dir, DEFAULT_NETWORK_FILE);
    const want = this.podNetwork();
    if ('reason' in want) {
      if (removeOwnFile(file, (t) => this.isOwnConf(t))) this.o.log.info({ file }, "removed virtnet's default network");
      this.sayOnce(want.level, want.reason, { confDir: dir });
      return;
    }
    if (existsSync(file) && !this.isOwnConf(readFileSync(file, 'utf8'))) {
      this.sayOnce(
        'error',
        `${file} exists and is not virtnet's (no "${WRITER_KEY}": "${WRITER}"): left alone, and virtnet is not the ` +
          `default network`,
        {},
      );
      return;
    }
    const changed = installFile(file, confText(want.conflist), 0o644);
    this.sayOnce('info', 'virtnet is the default network', {
      file,
      podCIDRs: want.podCIDRs,
      source: want.source,
      changed,
    });
    this.warnIfShadowed();
  }

  /** The default network this node should have now, or why it has none. */
  private podNetwork(): PodNetwork {
    if (!this.o.defaultNetwork) {
      return {
        level: 'info',
        reason:
          'virtnet is not the default network ' +
          '(--default-network is off): the plugin is ' +
          'installed for NADs and the VM bindings, the ' +
          "node's own default network is left alone",
      };
    }
    if (this.nodeCidrs.length > 0)
      return {
        conflist: this.render(hostLocalRanges(this.nodeCidrs), true),
        podCIDRs: this.nodeCidrs,
        source: `Node ${this.o.node}`,
      };
    if (this.fallbackCidrs.length > 0)
      return {
        conflist: this.render(hostLocalRanges(this.fallbackCidrs), true),
        podCIDRs: this.fallbackCidrs,
        source: '--pod-cidr',
      };
    const where = this.api
      ? `Node ${this.o.node} has no spec.podCIDRs (nor spec.podCIDR)`
      : 'no Node object is read (no API)';
    return {
      level: 'error',
      reason:
        `no pod subnet for this node: ${where} and no --pod-cidr is given, so no default network is written (pods ` +
        `on this node get no network until one is)`,
    };
  }

  /** The pod network's conflist with these host-local ranges; `marked`: with the key that makes it this agent's own. */
  private render(ranges: unknown, marked: boolean): Record<string, unknown> {
    const [first, ...rest] = structuredClone(this.o.conflist.plugins);
    const { subnet: _single, ...ipam } = isObj(first!.ipam) ? first!.ipam : { type: 'host-local' };
    // Only in what this agent writes now: the unmarked form is what earlier agents wrote, which had neither.
    const exclude = this.clusterCidrs.length && marked ? { ipMasqExclude: this.clusterCidrs } : {};
    // An MTU the admin's conflist sets stands, unless the overlay cannot carry it.
    const mtu =
      this.overlayMtu !== undefined && marked
        ? { mtu: Math.min(this.overlayMtu, typeof first!.mtu === 'number' ? first!.mtu : this.overlayMtu) }
        : {};
    const plugins = [{ ...first, ...exclude, ...mtu, ipam: { ...ipam, ranges } }, ...rest];
    return { ...structuredClone(this.o.conflist), ...(marked && { [WRITER_KEY]: WRITER }), plugins };
  }

  /**
   * Whether a conflist is virtnet's own: it carries the writer key, or it is
   * exactly what agents before that key wrote (this conflist with its ranges
   * and nothing else). Anything else is someone else's.
   */
  private isOwnConf(text: string): boolean {
    let conf: unknown;
    try {
      conf = JSON.parse(text);
    } catch {
      return false;
    }
    if (!isObj(conf)) return false;
    if (conf[WRITER_KEY] === WRITER) return true;
    const plugin = Array.isArray(conf.plugins) && isObj(conf.plugins[0]) ? conf.plugins[0] : undefined;
    const ranges = plugin && isObj(plugin.ipam) ? plugin.ipam.ranges : undefined;
    return Array.isArray(ranges) && isDeepStrictEqual(conf, this.render(ranges, false));
  }

  /** A config that sorts before virtnet's is the one the runtime takes: say so (once per set of such files). */
  private warnIfShadowed(): void {
    const files = networkConfigFiles(this.o.cniConfDir);
    const before = files.slice(0, Math.max(0, files.indexOf(DEFAULT_NETWORK_FILE)));
    const said = before.join('\n');
    if (before.length > 0 && said !== this.shadowSaid) {
      this.o.log.warn(
        { confDir: this.o.cniConfDir, before },
        `${before[0]} sorts before ${DEFAULT_NETWORK_FILE}: the runtime takes it as the default network, not virtnet`,
      );
    }
    this.shadowSaid = said;
  }

  private sayOnce(level: 'info' | 'error', msg: string, fields: Record<string, unknown>): void {
    const { changed, ...state } = fields;
    const said = JSON.stringify([msg, state]);
    if (said === this.networkSaid && !changed) return;
    this.networkSaid = said;
    this.o.log[level](fields, msg);
  }

  /** Launcher reports → pod annotations and metrics; the plugin's log → metrics. */
  async reportOnce(): Promise<void> {
    this.metrics.readCniLog();
    for (const pod of this.pods?.list() ?? []) {
      const { uid, namespace = DEFAULT_NAMESPACE, name } = pod.metadata;
      if (pod.spec?.nodeName !== this.o.node || uid === undefined) continue;
      const st = this.launcherStatus(uid);
      if (!st) continue;
      this.metrics.observeLauncher(uid, st);
      const report = launcherReport(st, pod.status?.phase === 'Running');
      if (this.written.get(uid) === report || pod.metadata.annotations?.[LAUNCHER_STATUS_ANNOTATION] === report)
        continue;
      try {
        // A merge patch of the one annotation: what the admission policy (deploy/base/policy-node-agent.yaml) lets this
        // agent write.
        await this.api!.patchPodAnnotations(namespace, name, {
          [LAUNCHER_STATUS_ANNOTATION]: report,
        });
        this.written.set(uid, report);
      } catch (err) {
        // One pod's refusal (gone meanwhile, or denied) must not hold back the others' reports; the next round retries.
        this.o.log.warn({ pod: objectKey({ namespace, name }), err }, 'launcher report not written');
      }
    }
  }

  /**
   * A launcher's status.json, shape-checked: a malformed one is logged once per content and skipped, never a crash of
   * the loop.
   */
  private launcherStatus(podUid: string): LauncherStatus | undefined {
    const file = join(this.o.stateRoot, podUid, 'status.json');
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return undefined; // being replaced: the launcher writes by rename, so this is rare
    }
    try {
      return parseLauncherStatus(text, `${file}`);
    } catch (err) {
      if (this.rejected.get(podUid) !== text) this.o.log.warn({ podUid, err }, 'launcher status ignored');
      this.rejected.set(podUid, text);
      return undefined;
    }
  }

  /**
   * Garbage collection of attachments. One is stale only when its netns is
   * a named one (/run/netns, which this agent mounts from the host) that no
   * longer exists; any other path (/proc/<pid>/ns/net, a runtime's own
   * directory) may exist where the agent cannot see it, so it stays.
   *
   * Each stale attachment gets a CNI DEL of its own (containerID, ifname
   * and netns from its record; SPEC.md "DEL": idempotent, and fine when the
   * netns is gone). A CNI GC with a valid list would make the plugin list
   * the records again, and collect an ADD that landed after this agent's
   * list while that ADD reports success. Returns how many were stale.
   */
  async gcOnce(): Promise<number> {
    const stale = listRecords(this.dataDir, this.o.conflist.name).filter(
      (r) => NAMED_NETNS.test(r.netns) && !existsSync(r.netns),
    );
    const failed: string[] = [];
    for (const rec of stale) {
      await this.delAttachment(rec).catch((e: Error) => failed.push(`${rec.containerID}/${rec.ifname}: ${e.message}`));
    }
    if (stale.length)
      this.o.log.info({ stale: stale.length, failed: failed.length }, 'CNI DEL of attachments whose pods are gone');
    if (failed.length)
      throw new Error(
        `CNI DEL failed for ${failed.length} of ${stale.length} stale attachments (the next GC retries): ` +
          `${failed.join('; ')}`,
      );
    return stale.length;
  }

  private get dataDir(): string {
    return typeof this.plugin.dataDir === 'string' ? this.plugin.dataDir : '/var/lib/virtnet/cni';
  }

  private async delAttachment(rec: AttachmentRecord): Promise<void> {
    const plugin = this.o.conflist.plugins[0]!;
    const rt = { containerID: rec.containerID, ifname: rec.ifname, netns: rec.netns };
    await execPlugin('DEL', this.o.conflist, plugin, rt, {
      cniPath: [this.o.cniBinDir, '/usr/lib/cni'],
      dataDir: join(this.dataDir, '.versions'),
      ...(this.o.cniWrap && { wrap: this.o.cniWrap }),
    });
  }

  ready(): boolean {
    return this.installed && this.synced;
  }
}
