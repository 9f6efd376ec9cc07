/**
 * The standalone node runtime in the kubelet's seat, for launcher pods on a
 * cluster with no kubelet of ours (and the end-to-end test): it binds
 * unscheduled launcher pods to this node, makes each pod's sandbox with its
 * networks from the pod's own annotations and the cluster's NADs (as Multus
 * would), writes network-status and the pod's Running status, starts the
 * launcher with the spec the pod carries, and copies the launcher's report
 * onto the pod until the pod is deleted; then it tears down. On start it
 * adopts the sandboxes of pods that still run and removes the rest, so a
 * restart leaks nothing.
 */
import type { Logger } from 'pino';
import { ErrorCode, VirtnetError } from '../../lib/errors.ts';
import { showValue } from '../../lib/show.ts';
import { NETWORKS_ANNOTATION } from '../../netattach/annotation.ts';
import { validateNad, type NetworkAttachmentDefinition } from '../../netattach/nad.ts';
import { DEFAULT_NETWORK_ANNOTATION } from '../../netattach/pod.ts';
import { launcherSpecFrom, type LauncherSpec } from '../../launcher/spec.ts';
import { DEFAULT_ALLOWED_HOST_PATHS } from '../control/reconcile.ts';
import { ensureDefaultNetwork, nodeCniPolicyFor } from '../node/config.ts';
import type { NodeRuntime } from '../node/runtime.ts';
import type { VmiRecord } from '../node/store.ts';
import { LAUNCHER_SPEC_ANNOTATION, LAUNCHER_STATUS_ANNOTATION, VMI_LABEL } from '../render/pod.ts';
import { waitSynced, type KubeApi, type Watched } from '../kube/kube.ts';
import { launcherReport } from './launcher-report.ts';
import { NETWORK_STATUS_ANNOTATION } from '../status/pod.ts';

import type { Pod } from '../api/kube-objects.ts';
import { DEFAULT_NAMESPACE } from '../api/normalize.ts';
import { objectKey } from '../api/object-key.ts';

const namespaceOf = (pod: Pod) => pod.metadata.namespace ?? DEFAULT_NAMESPACE;
const idOf = (pod: Pod) => objectKey({ namespace: namespaceOf(pod), name: pod.metadata.name });

/**
 * The pod's launcher spec, checked here as well as by the controller: anyone
 * who may create a pod labelled as a VMI's reaches this role, so its boot
 * files must lie in the node's allowed directories (--allowed-host-path),
 * and it must be the VM of the pod's own VMI (its virtnet.io/vmi label, in
 * its namespace): the spec's name and namespace make the libvirt domain's
 * name, and a pod must not run a VM under another VMI's.
 */
export function podLauncherSpec(pod: Pod, allowedDirs: readonly string[]): LauncherSpec {
  const source = `annotation ${LAUNCHER_SPEC_ANNOTATION}`;
  const annotation = pod.metadata.annotations?.[LAUNCHER_SPEC_ANNOTATION];
  if (annotation === undefined) throw new Error(`no ${LAUNCHER_SPEC_ANNOTATION} annotation`);
  const spec = launcherSpecFrom(annotation, allowedDirs, source);
  const vmi = { name: pod.metadata.labels?.[VMI_LABEL], namespace: namespaceOf(pod) };
  for (const k of ['name', 'namespace'] as const) {
    if (spec[k] !== vmi[k]) {
      const whose = k === 'name' ? `the name of the pod's VMI (label ${VMI_LABEL})` : "the pod's namespace";
      throw new VirtnetError(
        ErrorCode.invalidConfig,
        `${source}: spec ${k} ${showValue(spec[k])} must be ${whose}, ${showValue(vmi[k] ?? '')}: a pod runs only ` +
          `its own VMI's VM`,
      );
    }
  }
  return spec;
}

export class PodRunner {
  private readonly pods: Watched<Pod>;
  private readonly nads: Watched;
  private readonly running = new Map<string, { rec?: VmiRecord; timer?: NodeJS.Timeout; last?: string | undefined }>();
  /** Pods deleted while their sandbox was still being made: torn down as soon as it is. */
  private readonly removed = new Set<string>();
  private stopped = false;

  /**
   * boundOnly: run only pods a scheduler bound here, as a real kubelet does;
   * otherwise an unbound pod is bound to this node first (a one-node cluster with no scheduler).
   */
  constructor(
    private readonly api: KubeApi,
    private readonly rt: NodeRuntime,
    private readonly node: string,
    private readonly log: Logger,
    private readonly o: { boundOnly?: boolean } = {},
  ) {
    this.pods = api.watch('pods', VMI_LABEL);
    this.nads = api.watch('network-attachment-definitions');
  }

  async start(): Promise<void> {
    ensureDefaultNetwork(this.rt.cfg);
    await Promise.all([this.pods.start(), this.nads.start()]);
    await Promise.all([waitSynced(this.pods), waitSynced(this.nads)]);
    await this.adopt();
    this.pods.on('add', (p) => void this.sync(p));
    this.pods.on('update', (p) => void this.sync(p));
    this.pods.on('delete', (p) => void this.remove(p));
    for (const p of this.pods.list()) void this.sync(p);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([this.pods.stop(), this.nads.stop()]);
    for (const r of this.running.values()) if (r.timer) clearInterval(r.timer);
  }

  /** After a restart: follow the sandboxes of pods that still run here; remove every other one. */
  private async adopt(): Promise<void> {
    await this.rt.gc((line) => this.log.warn(line));
    for (const rec of this.rt.store.listVmis()) {
      const { namespace, name } = rec.object.metadata;
      const pod = this.pods.get(name, namespace);
      if (pod && pod.spec?.nodeName === this.node && !pod.metadata.deletionTimestamp) {
        this.running.set(idOf(pod), { rec });
        this.follow(idOf(pod), pod, rec);
      } else {
        await this.rt.destroy(namespace, name);
      }
    }
  }

  private update(pod: Pod, change: (p: Pod) => void, status = false): Promise<void> {
    return this.api.updatePod(namespaceOf(pod), pod.metadata.name, change, { status });
  }

  private async sync(pod: Pod): Promise<void> {
    const id = idOf(pod);
    if (pod.metadata.deletionTimestamp) return this.remove(pod);
    if (this.running.has(id) || this.stopped) return;
    try {
      if (!pod.spec?.nodeName && !this.o.boundOnly) {
        // Bind only an unbound pod: with several nodes, the first to bind wins and the others see it bound.
        await this.update(pod, (p) => (p.spec = { ...p.spec, nodeName: p.spec?.nodeName ?? this.node }));
        return; // the update comes back as an event
      }
      if (
        !pod.spec?.nodeName ||
        pod.spec.nodeName !== this.node ||
        pod.status?.phase === 'Running' ||
        pod.status?.phase === 'Failed'
      )
        return;
      this.running.set(id, {});
      await this.run(id, pod);
    } catch (err) {
      this.log.error({ pod: id, err }, 'pod failed to start');
      const entry = this.running.get(id);
      this.running.delete(id);
      if (entry?.timer) clearInterval(entry.timer);
      // What was made for it goes: nothing may outlive a pod that failed.
      await this.rt.destroy(namespaceOf(pod), pod.metadata.name).catch(() => undefined);
      await this.update(
        pod,
        (p) => (p.status = { ...p.status, phase: 'Failed', reason: 'SandboxFailed', message: (err as Error).message }),
        true,
      ).catch(() => undefined);
    }
  }

  /** A NAD of the cache, checked as `virtnet up` checks one (netattach/nad.ts); a malformed one is not found. */
  private lookupNad = (namespace: string, name: string): NetworkAttachmentDefinition | undefined => {
    const nad = this.nads.get(name, namespace);
    if (!nad) return undefined;
    try {
      return validateNad(nad, { policy: nodeCniPolicyFor(this.rt.cfg) });
    } catch (err) {
      this.log.warn({ nad: objectKey({ namespace, name }), err: (err as Error).message }, 'NAD ignored');
      return undefined;
    }
  };

  private async run(id: string, pod: Pod): Promise<void> {
    const a = pod.metadata.annotations ?? {};
    const namespace = namespaceOf(pod);
    const spec = podLauncherSpec(pod, this.rt.cfg.allowedHostPaths ?? DEFAULT_ALLOWED_HOST_PATHS);
    const networkAnnotations = Object.fromEntries(
      Object.entries(a).filter(([k]) => k === NETWORKS_ANNOTATION || k === DEFAULT_NETWORK_ANNOTATION),
    );
    const object = {
      metadata: { name: pod.metadata.name, namespace },
      spec: { domain: { devices: { interfaces: spec.interfaces } }, networks: spec.networks },
    };
    const rec = await this.rt.withVmiLock(namespace, pod.metadata.name, () =>
      this.rt.create(
        object,
        () => spec,
        (step, ms) => this.log.debug({ pod: id, step, ms }, 'step'),
        networkAnnotations,
        this.lookupNad,
      ),
    );
    if (this.removed.delete(id) || this.stopped) {
      await this.rt.destroy(namespace, pod.metadata.name);
      this.running.delete(id);
      return;
    }
    this.running.set(id, { rec });
    const status = rec.networkStatus ?? [];
    const primary = status.find((s) => s.default)?.ips ?? [];
    await this.update(
      pod,
      (p) =>
        (p.metadata.annotations = { ...p.metadata.annotations, [NETWORK_STATUS_ANNOTATION]: JSON.stringify(status) }),
    );
    const startTime = new Date().toISOString().replace(/\.\d+Z$/u, 'Z');
    await this.update(
      pod,
      (p) =>
        (p.status = {
          ...p.status,
          phase: 'Running',
          ...(primary[0] && { podIP: primary[0], podIPs: primary.map((ip) => ({ ip })) }),
          conditions: [
            { type: 'PodScheduled', status: 'True' },
            { type: 'Ready', status: 'True' },
          ],
          startTime,
          // One running container per container of the pod, as a kubelet reports them (kubectl's READY column counts
          // them).
          containerStatuses: (p.spec?.containers ?? []).map((c) => ({
            name: c.name,
            image: c.image,
            ready: true,
            started: true,
            restartCount: 0,
            state: { running: { startedAt: startTime } },
          })),
        }),
      true,
    );
    this.follow(id, pod, rec);
  }

  /** Copy the launcher's report onto the pod whenever it changes (the node agent's job on a real node). */
  private follow(id: string, pod: Pod, rec: VmiRecord): void {
    const entry = this.running.get(id);
    if (!entry || this.stopped) return;
    entry.timer = setInterval(() => {
      const report = launcherReport(this.rt.launcherStatus(rec), this.rt.launcherAlive(rec));
      if (report === entry.last) return;
      entry.last = report;
      void this.update(
        pod,
        (p) => (p.metadata.annotations = { ...p.metadata.annotations, [LAUNCHER_STATUS_ANNOTATION]: report }),
      ).catch((err: Error) => {
        entry.last = undefined;
        this.log.warn({ pod: id, err }, 'launcher report not written; retrying');
      });
    }, 250);
  }

  private async remove(pod: Pod): Promise<void> {
    const id = idOf(pod);
    const entry = this.running.get(id);
    if (!entry) return;
    if (!entry.rec) {
      this.removed.add(id); // still being made: run() tears it down when it returns
      return;
    }
    this.running.delete(id);
    if (entry.timer) clearInterval(entry.timer);
    const { problems } = await this.rt.destroy(namespaceOf(pod), pod.metadata.name);
    this.log.info({ pod: id, problems }, 'pod torn down');
  }
}
