/**
 * The node agent (a DaemonSet on every node):
 *   - installs virtnet-bridge into the CNI bin directory and the pod
 *     network's conflist into the CNI config directory, atomically;
 *   - copies each local launcher's report (its status.json under the
 *     launchers' state root, one directory per pod uid) onto its pod, for
 *     the controller;
 *   - collects garbage: an attachment whose network namespace is gone
 *     belongs to a pod that is gone, and gets a CNI DEL (IPAM included);
 *   - serves /healthz, /readyz and /metrics.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { listRecords, type AttachmentRecord } from '../../cni/state.ts';
import { execPlugin, type ConfList } from '../../netattach/invoke.ts';
import { parseLauncherStatus, type LauncherStatus } from '../../launcher/status.ts';
import { writePolicy, type PolicyFile } from '../../cni/policy.ts';
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
  /**
   * The node policy the plugin runs under (cni/policy.ts: where configs may
   * keep data and logs), written before the conflist so that the runtime's
   * first call already finds it. Without it the node's own file, if any, stands.
   */
  cniPolicy?: { file: string; policy: PolicyFile };
}

export class NodeAgent {
  readonly metrics = new NodeMetrics();
  private pods: Watched | undefined;
  private timers: NodeJS.Timeout[] = [];
  private readonly written = new Map<string, string>();
  /** The last status.json text refused per pod, so that one bad file is logged once. */
  private readonly rejected = new Map<string, string>();
  installed = false;
  synced = false;

  constructor(private readonly api: KubeApi | undefined, private readonly o: NodeAgentOptions) {}

  private get plugin(): Record<string, any> {
    return this.o.conflist.plugins[0]!;
  }

  install(): void {
    if (this.o.cniPolicy) writePolicy(this.o.cniPolicy.file, this.o.cniPolicy.policy);
    if (typeof this.plugin.logFile === 'string') {
      mkdirSync(dirname(this.plugin.logFile), { recursive: true });
      this.metrics.followCniLog(this.plugin.logFile);
    }
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
    this.metrics.stopCniLog();
    await this.pods?.stop();
  }

  /** Launcher reports → pod annotations and metrics; the plugin's log → metrics. */
  async reportOnce(): Promise<void> {
    this.metrics.readCniLog();
    for (const pod of this.pods?.list() ?? []) {
      if (pod.spec?.nodeName !== this.o.node) continue;
      const st = this.launcherStatus(pod.metadata.uid);
      if (!st) continue;
      this.metrics.observeLauncher(pod.metadata.uid, st);
      const report = launcherReport(st, pod.status?.phase === 'Running');
      if (this.written.get(pod.metadata.uid) === report || pod.metadata.annotations?.[LAUNCHER_STATUS_ANNOTATION] === report) continue;
      try {
        // A merge patch of the one annotation: what the admission policy (deploy/base/policy-node-agent.yaml) lets this agent write.
        await this.api!.patchPodAnnotations(pod.metadata.namespace, pod.metadata.name, { [LAUNCHER_STATUS_ANNOTATION]: report });
        this.written.set(pod.metadata.uid, report);
      } catch (err) {
        // One pod's refusal (gone meanwhile, or denied) must not hold back the others' reports; the next round retries.
        this.o.log.warn({ pod: `${pod.metadata.namespace}/${pod.metadata.name}`, err: (err as Error).message }, 'launcher report not written');
      }
    }
  }

  /** A launcher's status.json, shape-checked: a malformed one is logged once per content and skipped, never a crash of the loop. */
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
      if (this.rejected.get(podUid) !== text) this.o.log.warn({ podUid, err: (err as Error).message }, 'launcher status ignored');
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
    const stale = listRecords(this.dataDir, this.o.conflist.name).filter((r) => NAMED_NETNS.test(r.netns) && !existsSync(r.netns));
    const failed: string[] = [];
    for (const rec of stale) {
      await this.delAttachment(rec).catch((e: Error) => failed.push(`${rec.containerID}/${rec.ifname}: ${e.message}`));
    }
    if (stale.length) this.o.log.info({ stale: stale.length, failed: failed.length }, 'CNI DEL of attachments whose pods are gone');
    if (failed.length) throw new Error(`CNI DEL failed for ${failed.length} of ${stale.length} stale attachments (the next GC retries): ${failed.join('; ')}`);
    return stale.length;
  }

  private get dataDir(): string {
    return typeof this.plugin.dataDir === 'string' ? this.plugin.dataDir : '/var/lib/virtnet/cni';
  }

  private async delAttachment(rec: AttachmentRecord): Promise<void> {
    const plugin = this.o.conflist.plugins[0]!;
    const rt = { containerID: rec.containerID, ifname: rec.ifname, netns: rec.netns };
    await execPlugin('DEL', this.o.conflist, plugin, rt, { cniPath: [this.o.cniBinDir, '/usr/lib/cni'], dataDir: join(this.dataDir, '.versions'), ...(this.o.cniWrap && { wrap: this.o.cniWrap }) });
  }

  ready(): boolean {
    return this.installed && this.synced;
  }
}
