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
import { applyLiveChange } from '../node/live.ts';
import type { VmiSpec } from '../api/schema.ts';
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
/** A launcher spec's NICs as a VMI spec (the record of a pod's VMI holds only these). */
function nicSpecOf(spec: LauncherSpec): VmiSpec {
  return { domain: { devices: { interfaces: spec.interfaces } }, networks: spec.networks };
}

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

interface RunningPod {
  rec?: VmiRecord;
  timer?: NodeJS.Timeout;
  last?: string | undefined;
  /** The launcher-spec generation this pod's VM has been given (launcher/spec.ts generation). */
  generation?: number;
  /** A live change under way; a pod update seen meanwhile waits in `pending`, the latest one only. */
  live?: Promise<void> | undefined;
  pending?: Pod | undefined;
}

/** The pod's annotations that say which networks it is attached to (Multus' selection and default). */
function networkAnnotationsOf(pod: Pod): Record<string, string> {
  const a = pod.metadata.annotations ?? {};
  return Object.fromEntries(
    Object.entries(a).filter(([k]) => k === NETWORKS_ANNOTATION || k === DEFAULT_NETWORK_ANNOTATION),
  );
}

export class PodRunner {
  private readonly pods: Watched<Pod>;
  private readonly nads: Watched;
  private readonly running = new Map<string, RunningPod>();
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
    if (this.stopped) return;
    if (this.running.has(id)) return this.liveSync(id, pod);
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
    const namespace = namespaceOf(pod);
    const spec = podLauncherSpec(pod, this.rt.cfg.allowedHostPaths ?? DEFAULT_ALLOWED_HOST_PATHS);
    const networkAnnotations = networkAnnotationsOf(pod);
    const object = { metadata: { name: pod.metadata.name, namespace }, spec: nicSpecOf(spec) };
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
    this.running.set(id, { rec, generation: spec.generation ?? 0 });
    const status = rec.networkStatus ?? [];
    const primary = status.find((s) => s.default)?.ips ?? [];
    await this.writeNetworkStatus(pod, rec);
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

  private writeNetworkStatus(pod: Pod, rec: VmiRecord): Promise<void> {
    const status = JSON.stringify(rec.networkStatus ?? []);
    return this.update(
      pod,
      (p) => (p.metadata.annotations = { ...p.metadata.annotations, [NETWORK_STATUS_ANNOTATION]: status }),
    );
  }

  /**
   * A running pod whose launcher spec came back with a higher generation (the controller's live change:
   * reconcile-live.ts): its in-place CNI ADDs and DELs, and the launcher's part (node/live.ts), one change at a
   * time; network-status follows.
   */
  private liveSync(id: string, pod: Pod): void {
    const entry = this.running.get(id);
    if (!entry?.rec) return;
    let spec: LauncherSpec;
    try {
      spec = podLauncherSpec(pod, this.rt.cfg.allowedHostPaths ?? DEFAULT_ALLOWED_HOST_PATHS);
    } catch (err) {
      // A spec the launcher would refuse changes nothing; the VM runs on as it is.
      this.log.warn({ pod: id, err: (err as Error).message }, 'launcher spec annotation ignored');
      return;
    }
    const generation = spec.generation ?? 0;
    if (generation <= (entry.generation ?? 0)) return;
    if (entry.live) {
      entry.pending = pod;
      return;
    }
    entry.live = this.applyLive(id, pod, spec).finally(() => {
      entry.generation = generation;
      entry.live = undefined;
      const next = entry.pending;
      entry.pending = undefined;
      if (next) this.liveSync(id, next);
    });
  }

  private async applyLive(id: string, pod: Pod, spec: LauncherSpec): Promise<void> {
    const namespace = namespaceOf(pod);
    const { name } = pod.metadata;
    const report = (step: string, ms: number, detail?: string) => this.log.info({ pod: id, step, ms, detail }, 'live');
    await this.rt
      .withVmiLock(namespace, name, async () => {
        const rec = this.rt.store.readVmi(namespace, name);
        if (!rec) return;
        try {
          await applyLiveChange(this.rt, rec, nicSpecOf(spec), report, 120_000, {
            annotations: networkAnnotationsOf(pod),
            lookupNad: this.lookupNad,
          });
        } finally {
          await this.writeNetworkStatus(pod, rec);
        }
      })
      // The launcher's report says what failed (liveError), and the VMI's status with it.
      .catch((err: Error) => this.log.warn({ pod: id, err: err.message }, 'live change failed'));
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
