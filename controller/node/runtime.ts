/**
 * The standalone node runtime: a VMI's life on one machine, as a kubelet,
 * Multus and virt-handler would give it on a cluster. create() journals the
 * record before touching anything, then makes the sandbox, attaches the
 * pod's networks and starts the launcher; any failure rolls back what was
 * made. destroy() walks the same path backwards, and gc() destroys every
 * VMI whose `up` or launcher died (a kill -9, a crash, a reboot).
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { shortHash } from '../../lib/names.ts';
import { crashPoint } from '../../lib/crash-point.ts';
import { isAlive, startTime } from '../../lib/process.ts';
import { LockBusyError, withLock } from '../../lib/lockfile.ts';
import { readStatus, type LauncherStatus } from '../../launcher/status.ts';
import { parseLauncherSpec, type LauncherSpec } from '../../launcher/spec.ts';
import { launcherPodNetworkAnnotations } from '../render/networks.ts';
import { ipamSubnets, nodeCniPolicyFor, type NodeConfig } from './config.ts';
import type { ValidationContext } from '../api/manifests.ts';
import {
  attachSandbox,
  clusterDefault,
  createSandbox,
  destroySandbox,
  hostResolvConf,
  planAttachments,
  sandboxResolvConf,
  startLauncher,
} from './sandbox.ts';
import { findRemains, type Remains } from './remains.ts';
import { Store, type ImageUse, type RecordedVmi, type VmiEntry, type VmiKey, type VmiRecord } from './store.ts';
import { DEFAULT_NAMESPACE, normalizedInterfaces } from '../api/normalize.ts';
import { vmiStatus } from '../status/vmi.ts';
import { ImageCache } from './images/cache.ts';
import type { VmiStatus } from '../api/status.ts';
import type { VmiSpec } from '../api/schema.ts';
import { liveChange } from '../api/live-update.ts';
import type { NetworkAttachmentDefinition } from '../../netattach/nad.ts';

/** What create() takes: a VMI as `up` applies it (its namespace defaulted here), or the kubelet role's. */
export type VmiToCreate = Omit<RecordedVmi, 'metadata'> & {
  metadata: Omit<RecordedVmi['metadata'], 'namespace'> & { namespace?: string };
  status?: unknown;
};

/** A VMI of this node with its status, as `get` and `describe` show it. */
export type RuntimeVmi = VmiRecord['object'] & { status: VmiStatus };

export type StepReporter = (step: string, ms: number, detail?: string) => void;

export function specHash(spec: unknown): string {
  return createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 16);
}

/** Where gc reports what it skipped (a name no VMI can have under vmis/): stderr unless the caller says. */
export type Warn = (line: string) => void;
const toStderr: Warn = (line) => process.stderr.write(`${line}\n`);

/**
 * The journal of a sandbox found without its record (controller/node/remains.ts):
 * enough for destroySandbox, and for gc to retry a DEL that failed.
 */
function rebuiltRecord(key: VmiKey, r: Remains, problems: string[]): VmiRecord {
  return {
    object: {
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachineInstance',
      metadata: { namespace: key.namespace, name: key.name, uid: r.uid },
      spec: { domain: { devices: {} } },
    },
    specHash: '',
    state: 'Deleting',
    teardownProblems: problems,
    creator: { pid: 0, start: '' },
    netns: r.netns,
    containerID: r.containerID,
    attachments: r.attachments,
    steps: [],
  };
}

function describeRemains(r: Remains): string {
  const n = r.attachments.length;
  return `netns ${r.netns} (${n} cached attachment${n === 1 ? '' : 's'})`;
}

export class StepError extends Error {
  constructor(
    readonly step: string,
    readonly reason: string,
  ) {
    super(`${step}: ${reason}`);
  }
}

export class NodeRuntime {
  readonly store: Store;

  private imageCache: ImageCache | undefined;

  constructor(readonly cfg: NodeConfig) {
    this.store = new Store(cfg.stateDir);
  }

  /** The node's containerDisk cache, made on first use (most commands never pull). */
  images(): ImageCache {
    return (this.imageCache ??= new ImageCache({
      root: this.cfg.imageCacheDir,
      ...(this.cfg.registriesConf && { skopeo: { registriesConf: this.cfg.registriesConf } }),
    }));
  }

  private async step<T>(
    rec: VmiRecord,
    name: string,
    report: StepReporter,
    fn: () => Promise<T> | T,
    detail?: (v: T) => string,
  ): Promise<T> {
    const t = performance.now();
    let value: T;
    crashPoint(`up.${name}.start`);
    try {
      value = await fn();
    } catch (err) {
      throw new StepError(name, (err as Error).message);
    }
    crashPoint(`up.${name}.done`);
    const ms = +(performance.now() - t).toFixed(1);
    rec.steps.push({ name, ms });
    this.store.writeVmi(rec);
    crashPoint(`up.${name}.journaled`);
    report(name, ms, detail?.(value));
    return value;
  }

  /**
   * What admission needs to know of this node: its NADs, and the subnets a
   * masquerade VM subnet must stay clear of (the service CIDRs, and the
   * cluster-default network's IPAM subnets, read from its config).
   */
  validationContext(): ValidationContext {
    let podSubnets: string[] = [];
    try {
      podSubnets = ipamSubnets(clusterDefault(this.cfg).plugins);
    } catch {
      // A broken config directory is reported when a pod is attached.
    }
    return {
      nadExists: (ns, name) => this.store.readObject('nads', ns, name) !== undefined,
      reservedCidrs: [
        ...podSubnets.map((cidr) => ({ cidr, what: 'the pod network' })),
        ...this.cfg.serviceCIDRs.map((cidr) => ({ cidr, what: 'the service CIDR' })),
      ],
      nadPolicy: nodeCniPolicyFor(this.cfg),
    };
  }

  /** Create a VMI's sandbox and start its launcher; the record is Created on return. */
  async create(
    object: VmiToCreate,
    launcherSpec: (rec: VmiRecord) => LauncherSpec,
    report: StepReporter,
    podAnnotations?: Record<string, string>,
    lookupNad?: (ns: string, name: string) => NetworkAttachmentDefinition | undefined,
    images?: ImageUse[],
  ): Promise<VmiRecord> {
    const { namespace = DEFAULT_NAMESPACE, name } = object.metadata;
    this.refuseRecorded(namespace, name);
    const rec = this.newRecord(object, namespace, podAnnotations, lookupNad, images);
    this.store.writeVmi(rec);
    crashPoint('up.record.journaled');
    try {
      await this.bringUp(rec, launcherSpec, report);
      return rec;
    } catch (err) {
      throw await this.rollBack(rec, err);
    }
  }

  /** A VMI that has a record, whole or corrupt, is its owner's to remove first. */
  private refuseRecorded(namespace: string, name: string): void {
    const existing = this.store.readVmiEntry(namespace, name);
    if (existing.kind === 'valid')
      throw new StepError('validate', `${namespace}/${name} already has a record; its owner must remove it first`);
    if (existing.kind === 'corrupt')
      throw new StepError(
        'validate',
        `${namespace}/${name}: its record.json ${existing.why}; \`virtnet gc\` or \`virtnet down\` reconciles it ` +
          `with what exists`,
      );
  }

  /** The journal entry of a VMI about to be created: its identity, netns and the attachments it will get. */
  private newRecord(
    object: VmiToCreate,
    namespace: string,
    podAnnotations: Record<string, string> | undefined,
    lookupNad: ((ns: string, name: string) => NetworkAttachmentDefinition | undefined) | undefined,
    images: ImageUse[] | undefined,
  ): VmiRecord {
    const uid = randomUUID();
    const { status: _status, ...applied } = object;
    const creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/u, 'Z');
    const obj: VmiRecord['object'] = {
      ...applied,
      metadata: { ...object.metadata, namespace, uid, creationTimestamp },
    };
    // A VMI's pod annotations are rendered as on a cluster; a pod (the kubelet role) brings its own.
    const annotations =
      podAnnotations ??
      launcherPodNetworkAnnotations({
        namespace,
        interfaces: normalizedInterfaces(obj.spec),
        networks: obj.spec.networks ?? [],
      });
    return {
      object: obj,
      specHash: specHash(object.spec),
      state: 'Creating',
      creator: { pid: process.pid, start: startTime(process.pid) ?? '' },
      netns: `vn-${shortHash(`${namespace}/${obj.metadata.name}/${uid}`, 10)}`,
      containerID: uid.replaceAll('-', ''),
      attachments: planAttachments(this.cfg, this.store, namespace, annotations, lookupNad),
      steps: [],
      ...(images?.length && { images }),
    };
  }

  /** The sandbox, its pod networks and the launcher, each a step journaled as it completes. */
  private async bringUp(rec: VmiRecord, launcherSpec: (rec: VmiRecord) => LauncherSpec, report: StepReporter) {
    const { namespace, name } = rec.object.metadata;
    const vmiDir = this.store.vmiDir(namespace, name);
    const launcherDir = this.store.launcherDir(rec.netns);
    // The launcher will refuse a spec it cannot run: find out before any network is made.
    let spec: LauncherSpec;
    try {
      spec = parseLauncherSpec(launcherSpec(rec));
    } catch (err) {
      throw new StepError('validate', (err as Error).message);
    }
    const { dnsPolicy, dnsConfig } = rec.object.spec;
    const resolv = sandboxResolvConf(hostResolvConf(), dnsPolicy, dnsConfig);
    await this.step(
      rec,
      'sandbox',
      report,
      () => createSandbox(rec, resolv, vmiDir),
      () => `netns ${rec.netns}`,
    );
    rec.networkStatus = await this.step(
      rec,
      'pod networks',
      report,
      () => attachSandbox(this.cfg, rec),
      (st) => st.map((s) => `${s.interface}=${(s.ips ?? []).join(',') || 'L2'}`).join(' '),
    );
    this.store.writeVmi(rec);
    this.store.privateDir(launcherDir);
    const start = () => startLauncher(this.cfg, rec, vmiDir, launcherDir, spec);
    rec.launcherPid = await this.step(rec, 'launcher', report, start, (pid) => `pid ${pid}`);
    rec.launcherStart = startTime(rec.launcherPid);
    rec.state = 'Created';
    this.store.writeVmi(rec);
  }

  /** Undo a failed create; the error to throw says whether the rollback was whole. */
  private async rollBack(rec: VmiRecord, err: unknown): Promise<unknown> {
    // Not forced: a DEL that fails keeps the journal (state Deleting), or the IP it holds would leak.
    const { problems, kept } = await this.destroyRecord(rec);
    if (!kept) return err;
    const e = err instanceof StepError ? err : new StepError('create', (err as Error).message);
    return new StepError(
      e.step,
      `${e.reason}; rolling back was incomplete too (${problems.join('; ')}): ` +
        'the record is kept as Deleting (`virtnet gc` retries it, `virtnet down --force` drops it)',
    );
  }

  /** Tear down; a failed CNI DEL keeps the record as Deleting for a retry, unless `force`. */
  private async destroyRecord(rec: VmiRecord, force = false): Promise<{ problems: string[]; kept: boolean }> {
    const { namespace, name } = rec.object.metadata;
    const { problems, incomplete } = await destroySandbox(this.cfg, rec, this.store.launcherDir(rec.netns));
    if (incomplete && !force) {
      this.store.writeVmi({ ...rec, state: 'Deleting', teardownProblems: problems });
      return { problems, kept: true };
    }
    this.store.removeVmi(namespace, name, rec.netns);
    return { problems, kept: false };
  }

  /** Run `fn` holding this VMI's lock (see Store.lockFile); waits for another holder up to `waitMs`. */
  withVmiLock<T>(namespace: string, name: string, fn: () => Promise<T>, waitMs?: number): Promise<T> {
    return withLock(this.store.lockFile(namespace, name), fn, waitMs);
  }

  /** Tear a VMI down; false when there was none. Problems met on the way are returned (it goes on past them). */
  destroy(
    namespace: string,
    name: string,
    force = false,
  ): Promise<{ found: boolean; problems: string[]; kept: boolean }> {
    return this.withVmiLock(namespace, name, () => this.destroyLocked(namespace, name, force));
  }

  /** destroy(), for a caller that holds the VMI's lock already. */
  async destroyLocked(
    namespace: string,
    name: string,
    force = false,
  ): Promise<{ found: boolean; problems: string[]; kept: boolean }> {
    const entry = this.store.readVmiEntry(namespace, name);
    if (entry.kind === 'valid') return { found: true, ...(await this.destroyRecord(entry.rec, force)) };
    if (!existsSync(this.store.vmiDir(namespace, name))) return { found: false, problems: [], kept: false };
    return { found: true, ...(await this.reconcile({ namespace, name }, entry, force)) };
  }

  /** Netns names that valid records hold: no other VMI's remains. */
  private claimedNetnses(): Set<string> {
    return new Set(this.store.listVmis().map((r) => r.netns));
  }

  /**
   * A VMI directory without a valid record: tear down every sandbox the
   * evidence shows (remains.ts), then remove the directory. A corrupt record
   * is "unknown", not "nothing was made". A DEL that fails keeps a rebuilt
   * record as Deleting, as for a valid record, so that gc retries it.
   */
  private async reconcile(
    key: VmiKey,
    entry: Exclude<VmiEntry, { kind: 'valid' }>,
    force: boolean,
  ): Promise<{ problems: string[]; kept: boolean }> {
    const remains = findRemains(this.store, key, this.claimedNetnses());
    const found = remains.length ? remains.map(describeRemains).join(', ') : 'nothing';
    // An absent record with nothing found is the common crash (`up` died before its first write): nothing to say.
    const problems =
      entry.kind === 'corrupt' || remains.length
        ? [
            `${entry.kind === 'corrupt' ? `record.json ${entry.why}` : 'no record.json'}; ` +
              `reconciled with what exists: ${found}`,
          ]
        : [];
    let failed: Remains | undefined;
    for (const r of remains) {
      const rec = rebuiltRecord(key, r, []);
      const res = await destroySandbox(this.cfg, rec, this.store.launcherDir(r.netns));
      problems.push(...res.problems);
      if (res.incomplete && !force) failed ??= r;
      else rmSync(this.store.launcherDir(r.netns), { recursive: true, force: true });
    }
    if (failed) {
      this.store.writeVmi(rebuiltRecord(key, failed, problems));
      return { problems, kept: true };
    }
    this.store.removeVmi(key.namespace, key.name);
    return { problems, kept: false };
  }

  launcherStatus(rec: VmiRecord): LauncherStatus | undefined {
    return readStatus(this.store.launcherDir(rec.netns));
  }

  /**
   * Whether the launcher runs: its pid with the start time recorded at the
   * spawn (exact from the first moment, before its exec, and never fooled by
   * a reused pid); records without one fall back to the command line.
   */
  launcherAlive(rec: VmiRecord): boolean {
    if (rec.launcherPid && rec.launcherStart) return startTime(rec.launcherPid) === rec.launcherStart;
    return isAlive(rec.launcherPid, this.store.launcherDir(rec.netns));
  }

  /** Whether a record belongs to a VMI that still exists: its launcher runs, or its `up` is still at work. */
  live(rec: VmiRecord): boolean {
    if (rec.state === 'Deleting') return false;
    return rec.state === 'Created' ? this.launcherAlive(rec) : startTime(rec.creator.pid) === rec.creator.start;
  }

  /**
   * What `up` of this VMI would do now: leave a live one with the same spec
   * alone, refuse a live one with another spec (a VMI's spec is immutable),
   * remake a dead one, or make a new one.
   */
  plan(namespace: string, name: string, spec: VmiSpec): 'unchanged' | 'clash' | 'live' | 'recreate' | 'create' {
    const entry = this.store.readVmiEntry(namespace, name);
    // A corrupt record is unknown: what it stood for is reconciled (destroyLocked) before anything is made.
    if (entry.kind !== 'valid') return entry.kind === 'corrupt' ? 'recreate' : 'create';
    const rec = entry.rec;
    if (!this.live(rec)) return 'recreate';
    if (rec.specHash === specHash(spec)) return 'unchanged';
    const change = liveChange(rec.object.spec, spec).kind;
    return change === 'none' ? 'unchanged' : change;
  }

  /** Why `spec` cannot be applied to the running VMI: the fields that cannot change live (empty when it can). */
  clashFields(namespace: string, name: string, spec: VmiSpec): string[] {
    const rec = this.store.readVmi(namespace, name);
    const change = rec ? liveChange(rec.object.spec, spec) : undefined;
    return change?.kind === 'clash' ? change.fields : [];
  }

  status(rec: VmiRecord): VmiStatus {
    return vmiStatus(rec, this.launcherStatus(rec), this.launcherAlive(rec));
  }

  /** The VMI objects with their status, sorted by namespace and name. */
  list(): RuntimeVmi[] {
    return this.store
      .listVmis()
      .sort((a, b) =>
        `${a.object.metadata.namespace}/${a.object.metadata.name}`.localeCompare(
          `${b.object.metadata.namespace}/${b.object.metadata.name}`,
        ),
      )
      .map((rec) => ({ ...rec.object, status: this.status(rec) }));
  }

  /** One VMI object with its status, or undefined. */
  get(namespace: string, name: string): RuntimeVmi | undefined {
    const rec = this.store.readVmi(namespace, name);
    return rec && { ...rec.object, status: this.status(rec) };
  }

  /**
   * Whether gc must leave this VMI alone: a valid record that lives, or an
   * unreadable one whose launcher still runs (only `down` may judge that one).
   */
  private spare(key: VmiKey, entry: VmiEntry): boolean {
    if (entry.kind === 'valid') return this.live(entry.rec);
    return findRemains(this.store, key, this.claimedNetnses()).some((r) => r.launcherRuns);
  }

  /**
   * Remove the cached images no VMI uses. Run after the VMIs' gc, so that a
   * dead VMI's image goes in the same pass. A record that cannot be read may
   * name an image: then nothing is removed, since an image taken from under
   * a VM breaks it at its next start.
   */
  async gcImages(warn: Warn = toStderr): Promise<string[]> {
    if (!existsSync(this.cfg.imageCacheDir)) return [];
    // Read under the cache lock, after the pins: an `up` that records its VMI and then drops its pin is seen either
    // way.
    const inUse = (): ReadonlySet<string> => {
      const { keys } = this.store.scanVmis();
      const unreadable = keys.filter((k) => this.store.readVmiEntry(k.namespace, k.name).kind === 'corrupt');
      if (unreadable.length)
        throw new Error(
          `the record of ${unreadable.map((k) => `${k.namespace}/${k.name}`).join(', ')} cannot be read, and may ` +
            `name one`,
        );
      return new Set(this.store.listVmis().flatMap((r) => (r.images ?? []).map((i) => i.digest)));
    };
    try {
      const removed = await this.images().gc(inUse);
      return removed.map((i) => `image ${i.references.join(', ') || i.digest} (${i.digest})`);
    } catch (err) {
      warn(`warning: images not collected: ${(err as Error).message}`);
      return [];
    }
  }

  /**
   * Destroy whatever belongs to VMIs that no longer exist; returns one line
   * per VMI removed. What under vmis/ no VMI can have made (a file, a name
   * that is not valid) is skipped and reported through `warn`: it must not
   * stop the collection of every other VMI.
   */
  async gc(warn: Warn = toStderr): Promise<string[]> {
    const removed: string[] = [];
    const { keys, skipped } = this.store.scanVmis();
    for (const s of skipped) warn(`warning: skipped ${s.path}: it ${s.why}`);
    for (const key of keys) {
      try {
        // An `up` or `down` at work holds the lock: not ours to judge; decide only under it.
        await this.withVmiLock(
          key.namespace,
          key.name,
          async () => {
            const entry = this.store.readVmiEntry(key.namespace, key.name);
            if (this.spare(key, entry)) {
              if (entry.kind === 'corrupt')
                warn(
                  `warning: ${key.namespace}/${key.name}: its record.json ${entry.why}, but its launcher runs: ` +
                    `\`virtnet down ${key.name}\` removes it`,
                );
              return;
            }
            const { problems, kept } = await this.destroyLocked(key.namespace, key.name);
            const netns = entry.kind === 'valid' ? ` (netns ${entry.rec.netns})` : '';
            const what = `${key.namespace}/${key.name}${netns}${problems.length ? `: ${problems.join('; ')}` : ''}`;
            if (kept) removed.push(`kept for another try: ${what}`);
            else removed.push(what);
          },
          0,
        );
      } catch (err) {
        // One VMI's failure is reported, and stops neither the others nor the kubelet role's start-up.
        if (!(err instanceof LockBusyError))
          warn(`warning: ${key.namespace}/${key.name}: not collected: ${(err as Error).message}`);
      }
    }
    return removed;
  }
}
