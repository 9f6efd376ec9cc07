/**
 * The controller's loop: list-watch caches of VMIs, VMs, NADs and launcher
 * pods feed a work queue of keys; each key is reconciled from the caches
 * (reconcile.ts, reconcile-vm.ts decide; this file only applies). A 409 is
 * resolved by re-reading the object and deciding again; other failures are
 * retried with backoff. After a create, the pod is "expected" until the
 * cache shows it, so a lagging cache never makes a duplicate (client-go's
 * expectations); after a restart, pods are found by their VMI's uid label.
 * Events tell the VMI's history (vmi-events.ts derives them from the status
 * replaced and the status written, so only changes make one); they are
 * written in order, one at a time, off the reconcile's path.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { EventRecorder, type EventApi, type EventSubject } from './events.ts';
import { KubeEventApi } from '../kube/events-api.ts';
import { NodeSubnets } from './node-subnets.ts';
import { GROUP, type KubeApi, KubeError, VERSION, waitSynced, type Watched } from '../kube/kube.ts';
import { ControllerMetrics } from './metrics.ts';
import { WorkQueue } from './queue.ts';
import { DEFAULT_ALLOWED_HOST_PATHS, reconcileVmi, type VmiAction } from './reconcile.ts';
import { timeOf, type NodeObject, type Pod, type StoredObject } from '../api/kube-objects.ts';
import { DEFAULT_NAMESPACE } from '../api/normalize.ts';
import { objectKey, parseObjectKey } from '../api/object-key.ts';
import { formatProblems } from '../api/manifests.ts';
import { VirtualMachineSchema } from '../api/schema.ts';
import { isStoredVm, vmiStatusOf } from '../api/stored-vmi.ts';
import { structureProblems } from '../api/structure.ts';
import { reconcileVm } from './reconcile-vm.ts';
import { vmiEvents, type VmiEvent } from './vmi-events.ts';
import { VMI_LABEL, VMI_UID_LABEL } from '../render/pod.ts';

/** What the queue holds: a VMI's or a VM's "kind/namespace/name". */
type QueueKind = 'vmi' | 'vm';

export interface ControllerOptions {
  image: string;
  serviceCIDRs: string[];
  testGuest: { kernel: string; initrd: string; cmdline: string };
  /** Node directories VMIs may boot from (default: DEFAULT_ALLOWED_HOST_PATHS). */
  allowedHostPaths?: string[];
  log: Logger;
  metrics?: ControllerMetrics;
  resyncMs?: number;
  /** Where Events go (default: the cluster's core/v1 events, through the API's kubeconfig). */
  events?: EventApi;
}

/** How long stop() waits for events still being written. */
const EVENTS_DRAIN_MS = 5000;

const queueKey = (kind: QueueKind, namespace: string | undefined, name: string) =>
  `${kind}/${objectKey({ namespace: namespace ?? DEFAULT_NAMESPACE, name })}`;
const key = (kind: QueueKind, o: StoredObject) => queueKey(kind, o.metadata.namespace, o.metadata.name);

function parseQueueKey(k: string): { kind: QueueKind; namespace: string; name: string } {
  const slash = k.indexOf('/');
  const kind = k.slice(0, slash) === 'vm' ? 'vm' : 'vmi';
  return { kind, ...parseObjectKey(k.slice(slash + 1), DEFAULT_NAMESPACE) };
}

export class Controller {
  readonly metrics: ControllerMetrics;
  private readonly queue: WorkQueue;
  private readonly caches: {
    vmis: Watched;
    vms: Watched;
    nads: Watched;
    pods: Watched<Pod>;
    nodes: Watched<NodeObject>;
  };
  /** Every node's pod subnets, which a masquerade VM subnet must not overlap. */
  private readonly nodeSubnets: NodeSubnets;
  private readonly expected = new Map<string, number>();
  private resync: NodeJS.Timeout | undefined;
  private stopping = false;
  private running: Promise<void> | undefined;
  private readonly recorder: EventRecorder;
  /** The events not yet written, in order: each waits for the one before. */
  private eventsWritten: Promise<void> = Promise.resolve();
  synced = false;

  constructor(
    private readonly api: KubeApi,
    private readonly o: ControllerOptions,
  ) {
    this.metrics = o.metrics ?? new ControllerMetrics();
    this.recorder = new EventRecorder(o.events ?? new KubeEventApi(api.kc), o.log, {
      instance: hostname(),
      defaultApiVersion: `${GROUP}/${VERSION}`,
      defaultKind: 'VirtualMachineInstance',
    });
    this.queue = new WorkQueue({
      onDrop: (k, err) =>
        o.log.error({ key: k, err }, 'reconcile dropped after retries; the next resync brings it back'),
    });
    this.caches = {
      vmis: api.watch('virtualmachineinstances'),
      vms: api.watch('virtualmachines'),
      nads: api.watch('network-attachment-definitions'),
      pods: api.watch('pods', `${VMI_LABEL}`),
      nodes: api.watch('nodes'),
    };
    this.nodeSubnets = new NodeSubnets(this.caches.nodes);
  }

  async start(): Promise<void> {
    const { vmis, vms, nads, pods, nodes } = this.caches;
    for (const ev of ['add', 'update', 'delete'] as const) {
      vmis.on(ev, (o) => {
        this.queue.add(key('vmi', o));
        const owner = o.metadata.ownerReferences?.find((r) => r.kind === 'VirtualMachine');
        if (owner) this.queue.add(queueKey('vm', o.metadata.namespace, owner.name));
      });
      vms.on(ev, (o) => this.queue.add(key('vm', o)));
      pods.on(ev, (o) => {
        const uid = o.metadata.labels?.[VMI_UID_LABEL];
        const vmi = o.metadata.labels?.[VMI_LABEL];
        if (uid !== undefined) this.expected.delete(uid);
        if (vmi !== undefined) this.queue.add(queueKey('vmi', o.metadata.namespace, vmi));
      });
      // A NAD that appears (or goes) may unblock (or concern) any VMI of its namespace.
      nads.on(ev, (o) => {
        for (const v of vmis.list(o.metadata.namespace)) this.queue.add(key('vmi', v));
      });
    }
    for (const c of [nodes, nads, pods, vms, vmis]) {
      c.onError((err) => this.o.log.warn({ err }, 'watch error; the informer re-lists'));
      await c.start();
    }
    // Act only on caches that hold a real list: an empty pod cache would fail every running VMI.
    for (const c of [nodes, nads, pods, vms, vmis]) await waitSynced(c, () => this.stopping);
    if (this.stopping) return;
    this.synced = true;
    this.enqueueAll();
    this.resync = setInterval(() => this.enqueueAll(), this.o.resyncMs ?? 30_000);
    this.running = this.queue.run((k) => this.handle(k));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.resync) clearInterval(this.resync);
    this.queue.stop();
    await Promise.all(Object.values(this.caches).map((c) => c.stop()));
    await this.running;
    // Pending events are written before stopping, but an API that does not answer must not hold the exit.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.eventsWritten,
      new Promise<void>((r) => {
        timer = setTimeout(r, EVENTS_DRAIN_MS);
      }),
    ]);
    clearTimeout(timer);
  }

  /** Queues an event about a VMI; record() never rejects (a failed write is logged). */
  private emit(vmi: StoredObject, e: VmiEvent): void {
    const { apiVersion, kind } = vmi;
    const { name, namespace, uid, resourceVersion } = vmi.metadata;
    const subject: EventSubject = {
      ...(apiVersion !== undefined && { apiVersion }),
      ...(kind !== undefined && { kind }),
      metadata: {
        name,
        ...(namespace !== undefined && { namespace }),
        ...(uid !== undefined && { uid }),
        ...(resourceVersion !== undefined && { resourceVersion }),
      },
    };
    this.eventsWritten = this.eventsWritten.then(() => this.recorder.record(subject, e));
  }

  /** One resync pass now, as the resync timer makes: every cached VMI and VM queued once. */
  resyncNow(): void {
    this.enqueueAll();
  }

  private enqueueAll(): void {
    for (const v of this.caches.vmis.list()) this.queue.add(key('vmi', v));
    for (const v of this.caches.vms.list()) this.queue.add(key('vm', v));
  }

  private async handle(k: string): Promise<void> {
    const { kind, namespace, name } = parseQueueKey(k);
    const t = performance.now();
    try {
      if (kind === 'vmi') await this.syncVmi(namespace, name);
      else await this.syncVm(namespace, name);
    } catch (err) {
      this.metrics.reconcileErrors.inc({ kind });
      this.o.log.warn({ key: k, err }, 'reconcile failed; retrying with backoff');
      throw err;
    } finally {
      this.metrics.reconcileDuration.observe({ kind }, (performance.now() - t) / 1000);
    }
  }

  private podsOf(vmi: StoredObject): Pod[] {
    return this.caches.pods
      .list(vmi.metadata.namespace)
      .filter((p) => p.metadata.labels?.[VMI_UID_LABEL] === vmi.metadata.uid);
  }

  private async syncVmi(namespace: string, name: string, fresh?: StoredObject, attempt = 0): Promise<void> {
    const vmi = fresh ?? this.caches.vmis.get(name, namespace);
    if (!vmi) {
      // Deleted: its pods go too (the garbage collector would also take them, later).
      for (const p of this.caches.pods.list(namespace).filter((x) => x.metadata.labels?.[VMI_LABEL] === name))
        await this.api.delete('pods', namespace, p.metadata.name);
      return;
    }
    const until = vmi.metadata.uid === undefined ? undefined : this.expected.get(vmi.metadata.uid);
    const pods = this.podsOf(vmi);
    if (!pods.length && until && until > Date.now()) return; // the pod it created is not in the cache yet
    const actions = reconcileVmi({
      vmi,
      pods,
      image: this.o.image,
      serviceCIDRs: this.o.serviceCIDRs,
      testGuest: this.o.testGuest,
      allowedHostPaths: this.o.allowedHostPaths ?? DEFAULT_ALLOWED_HOST_PATHS,
      nadExists: (ns, n) => this.caches.nads.get(n, ns) !== undefined,
      reservedCidrs: this.nodeSubnets.reservedCidrs(this.o.serviceCIDRs),
    });
    for (const a of actions) {
      try {
        await this.apply(vmi, a);
      } catch (err) {
        if (!(err instanceof KubeError && err.code === 409) || attempt >= 3) throw err;
        // Someone wrote the VMI since the cache saw it: decide again on the latest.
        return this.syncVmi(
          namespace,
          name,
          await this.api.get('virtualmachineinstances', namespace, name),
          attempt + 1,
        );
      }
    }
  }

  private async apply(vmi: StoredObject, a: VmiAction): Promise<void> {
    const { namespace = DEFAULT_NAMESPACE, name, uid = '' } = vmi.metadata;
    if (a.type === 'createPod') {
      this.expected.set(uid, Date.now() + 30_000);
      const pod = await this.api.createPod(namespace, a.pod).catch((err: unknown) => {
        this.expected.delete(uid); // nothing was made: the retry must try again
        this.emit(vmi, {
          type: 'Warning',
          reason: 'FailedCreate',
          message: `Error creating launcher pod: ${(err as Error).message}`,
        });
        throw err;
      });
      this.o.log.info({ vmi: `${namespace}/${name}`, pod: pod.metadata.name }, 'launcher pod created');
      this.emit(vmi, {
        type: 'Normal',
        reason: 'SuccessfulCreate',
        message: `Created launcher pod ${pod.metadata.name}`,
      });
    } else if (a.type === 'deletePod') {
      await this.api.delete('pods', namespace, a.name);
    } else if (a.type === 'updatePod') {
      await this.api.patchPodAnnotations(namespace, a.name, a.annotations);
      this.o.log.info({ vmi: `${namespace}/${name}`, pod: a.name }, 'launcher pod given the new interfaces');
    } else {
      const replaced = vmiStatusOf(vmi);
      const before = replaced?.phase;
      await this.api.replaceStatus('virtualmachineinstances', { ...vmi, status: a.status });
      // The write succeeded against vmi's resourceVersion: vmi.status is exactly what it replaced.
      for (const e of vmiEvents(replaced, a.status)) this.emit(vmi, e);
      const ignored = a.status.conditions?.find((c) => c.reason === 'InvalidPodAnnotation');
      if (ignored)
        this.o.log.warn({ vmi: `${namespace}/${name}`, problem: ignored.message }, 'launcher pod annotation ignored');
      if (a.status.phase !== before) {
        const age = (Date.now() - timeOf(vmi.metadata.creationTimestamp)) / 1000;
        this.metrics.phaseTransition.observe({ phase: a.status.phase }, Math.max(0, age));
        this.o.log.info(
          { vmi: `${namespace}/${name}`, from: before ?? '', to: a.status.phase, reason: a.status.reason },
          'phase',
        );
      }
    }
  }

  private async syncVm(namespace: string, name: string, fresh?: StoredObject, attempt = 0): Promise<void> {
    const vm = fresh ?? this.caches.vms.get(name, namespace);
    if (!vm) return; // its VMI goes with it through the owner reference
    if (!isStoredVm(vm)) {
      // Admitted without the webhook: nothing is made from a VM the schema refuses (the webhook names why).
      const problems = formatProblems(structureProblems(VirtualMachineSchema, vm));
      this.o.log.warn({ vm: `${namespace}/${name}`, problems }, 'VirtualMachine does not match the schema; ignored');
      return;
    }
    const vmi = this.caches.vmis.get(name, namespace);
    for (const a of reconcileVm(vm, vmi)) {
      try {
        if (a.type === 'createVmi')
          await this.api.create('virtualmachineinstances', namespace, a.vmi).catch((e: unknown) => {
            if (!(e instanceof KubeError && e.code === 409 && e.message.includes('exists'))) throw e;
          });
        else if (a.type === 'deleteVmi') await this.api.delete('virtualmachineinstances', namespace, a.name);
        else if (a.type === 'updateVmiSpec') {
          // KubeVirt's LiveUpdate: the template's interfaces reach the running VMI, and from there its pod.
          if (vmi) await this.api.replace('virtualmachineinstances', { ...vmi, spec: a.spec });
        } else await this.api.replaceStatus('virtualmachines', { ...vm, status: a.status });
      } catch (err) {
        if (!(err instanceof KubeError && err.code === 409) || attempt >= 3) throw err;
        return this.syncVm(namespace, name, await this.api.get('virtualmachines', namespace, name), attempt + 1);
      }
    }
  }
}
