/**
 * The node agent (a DaemonSet on every node):
 *   - installs virtnet-bridge into the CNI bin directory and the pod
 *     network's conflist into the CNI config directory, atomically;
 *   - copies each local launcher's report (its status.json under the
 *     launchers' state root, one directory per pod uid) onto its pod, for
 *     the controller;
 *   - runs CNI GC: an attachment whose network namespace is gone belongs to
 *     a pod that is gone, and is released (IPAM included);
 *   - serves /healthz, /readyz and /metrics.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { listRecords } from '../../cni/state.ts';
import { execPlugin, type ConfList } from '../../netattach/invoke.ts';
import type { LauncherStatus } from '../../launcher/status.ts';
import { LAUNCHER_STATUS_ANNOTATION, VMI_LABEL } from '../render/pod.ts';
import { installCni } from './cni-install.ts';
import type { KubeApi, Watched } from './kube.ts';
import { launcherReport } from './launcher-report.ts';
import { NodeMetrics } from './node-metrics.ts';

/** Named network namespaces, the only ones whose absence the agent can trust (it mounts this directory). */
const NAMED_NETNS = /^\/(var\/)?run\/netns\/[^/]+$/u;

export interface NodeAgentOptions {
  node: string;
  /** The plugin executable shipped in the image. */
  plugin: string;
  cniBinDir: string;
  cniConfDir: string;
  conflist: ConfList & { plugins: Array<Record<string, any> & { type: string }> };
  stateRoot: string;
  log: Logger;
  reportIntervalMs?: number;
  gcIntervalMs?: number;
  /** argv prefix for the plugin's exec, e.g. nsenter into a simulated node's netns (as --cni-netns for the kubelet role). */
  cniWrap?: string[];
}

export class NodeAgent {
  readonly metrics = new NodeMetrics();
  private pods: Watched | undefined;
  private timers: NodeJS.Timeout[] = [];
  private readonly written = new Map<string, string>();
  installed = false;
  synced = false;

  constructor(private readonly api: KubeApi | undefined, private readonly o: NodeAgentOptions) {}

  private get plugin(): Record<string, any> {
    return this.o.conflist.plugins[0]!;
  }

  install(): void {
    if (typeof this.plugin.logFile === 'string') mkdirSync(dirname(this.plugin.logFile), { recursive: true });
    const changed = installCni({ plugin: this.o.plugin, binDir: this.o.cniBinDir, confDir: this.o.cniConfDir, conflist: this.o.conflist });
    this.installed = true;
    this.o.log.info({ ...changed, binDir: this.o.cniBinDir, confDir: this.o.cniConfDir }, 'CNI plugin and config installed');
  }

  async start(): Promise<void> {
    this.install();
    if (this.api) {
      // Only this node's launcher pods: the apiserver filters, so a big cluster costs each agent nothing.
      this.pods = this.api.watch('pods', VMI_LABEL, `spec.nodeName=${this.o.node}`);
      await this.pods.start();
    }
    this.synced = true;
    const report = () => void this.reportOnce().catch((e: Error) => this.o.log.warn({ err: e.message }, 'report'));
    const gc = () => void this.gcOnce().catch((e: Error) => this.o.log.warn({ err: e.message }, 'CNI GC'));
    this.timers.push(setInterval(report, this.o.reportIntervalMs ?? 1000), setInterval(gc, this.o.gcIntervalMs ?? 60_000));
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await this.pods?.stop();
  }

  /** Launcher reports → pod annotations and metrics; the plugin's log → metrics. */
  async reportOnce(): Promise<void> {
    if (typeof this.plugin.logFile === 'string') this.metrics.readCniLog(this.plugin.logFile);
    for (const pod of this.pods?.list() ?? []) {
      if (pod.spec?.nodeName !== this.o.node) continue;
      const file = join(this.o.stateRoot, pod.metadata.uid, 'status.json');
      if (!existsSync(file)) continue;
      let st: LauncherStatus;
      try {
        st = JSON.parse(readFileSync(file, 'utf8')) as LauncherStatus;
      } catch {
        continue; // being replaced: the launcher writes by rename, so this is rare
      }
      this.metrics.observeLauncher(pod.metadata.uid, st);
      const report = launcherReport(st, pod.status?.phase === 'Running');
      if (this.written.get(pod.metadata.uid) === report || pod.metadata.annotations?.[LAUNCHER_STATUS_ANNOTATION] === report) continue;
      await this.api!.updatePod(pod.metadata.namespace, pod.metadata.name, (p) => (p.metadata.annotations = { ...p.metadata.annotations, [LAUNCHER_STATUS_ANNOTATION]: report }));
      this.written.set(pod.metadata.uid, report);
    }
  }

  /**
   * CNI GC (SPEC.md "GC"): an attachment is stale only when its netns is a
   * named one (/run/netns, which this agent mounts from the host) that no
   * longer exists; any other path (/proc/<pid>/ns/net, a runtime's own
   * directory) may exist where the agent cannot see it, so it stays valid.
   * The records are read again just before the plugin runs, so an ADD that
   * lands meanwhile is valid too. Returns how many were stale.
   */
  async gcOnce(): Promise<number> {
    const dataDir = (this.plugin.dataDir as string | undefined) ?? '/var/lib/virtnet/cni';
    const key = (r: { containerID: string; ifname: string }) => `${r.containerID}\0${r.ifname}`;
    const staleKeys = new Set(listRecords(dataDir, this.o.conflist.name).filter((r) => NAMED_NETNS.test(r.netns) && !existsSync(r.netns)).map(key));
    const stale = staleKeys.size;
    if (!stale) return 0;
    const valid = listRecords(dataDir, this.o.conflist.name).filter((r) => !staleKeys.has(key(r))).map((r) => ({ containerID: r.containerID, ifname: r.ifname }));
    const plugin = { ...this.plugin, 'cni.dev/valid-attachments': valid } as unknown as ConfList['plugins'][number];
    await execPlugin('GC', this.o.conflist, plugin, { containerID: '', netns: '', ifname: '' }, { cniPath: [this.o.cniBinDir, '/usr/lib/cni'], dataDir: join(dataDir, '.versions'), ...(this.o.cniWrap && { wrap: this.o.cniWrap }) });
    this.o.log.info({ stale }, 'CNI GC released attachments of pods that are gone');
    return stale;
  }

  ready(): boolean {
    return this.installed && this.synced;
  }
}
