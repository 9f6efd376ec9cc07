/**
 * The node's records, one directory each, written atomically and durably
 * (lib/durable.ts: fsync'd before the rename, the directory after it):
 *   vmis/<ns>/<name>/record.json   the VMI, its sandbox and where `up` got to
 *   launchers/<netns>/             the launcher's own state directory (a short
 *                                  path: libvirtd's socket lives in it, and a
 *                                  socket path may not exceed 107 bytes, unix(7))
 *   vms/<ns>/<name>.json           VirtualMachines
 *   nads/<ns>/<name>.json          NetworkAttachmentDefinitions
 *   locks/<ns>_<name>.lock         lib/lockfile.ts
 *   cni-cache/                     netattach's result cache (libcni's format)
 * All of it is root's alone: directories 0700, files 0600 (a record holds the
 * VMI's spec, cloud-init user data included).
 * Namespaces and names reach these paths only after validation as DNS-1123
 * names (controller/api); `segment` re-checks, since a path is at stake, and
 * a listing skips (and reports) what fails it instead of failing for all.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { mkdirPrivate, writeFileDurable } from '../../lib/durable.ts';
import { CNI_ID_PATTERN } from '../../lib/names.ts';
import type { AttachmentRequest } from '../../netattach/attach.ts';
import type { NetworkStatus } from '../../netattach/status.ts';
import { isObj } from '../../lib/json.ts';
import type { OwnerReference } from '../api/kube-objects.ts';
import type { VirtualMachineInstance, VmiSpec } from '../api/schema.ts';
import { dns1123SubdomainProblem } from '../../lib/names.ts';

/**
 * The VMI a record holds: what `up` applied (normalised), or what the
 * kubelet role makes of a pod's launcher spec (no apiVersion, no kind).
 */
export interface RecordedVmi {
  apiVersion?: string;
  kind?: string;
  metadata: VirtualMachineInstance['metadata'] & {
    namespace: string;
    uid?: string;
    creationTimestamp?: string;
    ownerReferences?: OwnerReference[];
  };
  spec: VmiSpec;
}

export interface VmiRecord {
  /** The VMI as applied (normalised), with metadata.uid and creationTimestamp set. */
  object: RecordedVmi & { metadata: { uid: string } };
  /** Hash of the applied spec: `up` again with the same spec is a no-op. */
  specHash: string;
  /**
   * Creating until the launcher runs; gc removes a Creating record whose
   * creator died. Deleting: a teardown whose CNI DEL failed, kept so that an
   * IP is never leaked: gc and down retry it (down --force drops it).
   */
  state: 'Creating' | 'Created' | 'Deleting';
  /** Why the last teardown was incomplete (state Deleting). */
  teardownProblems?: string[];
  /** The `virtnet up` that makes it: its pid and start time name that one process for good. */
  creator: { pid: number; start: string };
  netns: string;
  containerID: string;
  /** Written before the first ADD, so a crash cannot leak an attachment. */
  attachments: AttachmentRequest[];
  networkStatus?: NetworkStatus[];
  launcherPid?: number;
  /** The launcher's start time (lib/process.ts startTime): with the pid, it names that process for good. */
  launcherStart?: string | undefined;
  steps: Array<{ name: string; ms: number }>;
  /** The cached images its containerDisks run from (images/cache.ts): `virtnet gc` keeps them. */
  images?: ImageUse[];
}

/** A containerDisk volume and the cached image (by manifest digest) it was resolved to. */
export interface ImageUse {
  volume: string;
  reference: string;
  digest: string;
}

export interface VmiKey {
  namespace: string;
  name: string;
}

/**
 * A record as read: absent (nothing was journaled, so nothing was made),
 * valid, or corrupt. Corrupt is "unknown", never "nothing": a record cut
 * short (a power loss before this journal was fsync'd) may stand for a
 * sandbox and IPs that exist.
 */
export type VmiEntry = { kind: 'absent' } | { kind: 'valid'; rec: VmiRecord } | { kind: 'corrupt'; why: string };

/** An entry under vmis/ that no VMI can have made; listings skip it, and say why. */
export interface SkippedEntry {
  path: string;
  why: string;
}

/** netattach's result cache, under the state directory. */
export const CNI_CACHE_DIR = 'cni-cache';
/** Sandbox (netns) names: `vn-` and 10 hex digits of a hash (NodeRuntime.create). */
export const SANDBOX_NAME = /^vn-[0-9a-f]{10}$/u;
const STATES: ReadonlyArray<VmiRecord['state']> = ['Creating', 'Created', 'Deleting'];

/** Namespaces and names reach paths only as DNS-1123 names (lib/names.ts, the API's own rule). */
const segmentProblem = (s: string): string | undefined => dns1123SubdomainProblem(s);

function segment(s: string): string {
  const problem = segmentProblem(s);
  if (problem) throw new TypeError(problem);
  return s;
}

function writeJson(file: string, value: unknown): void {
  writeFileDurable(file, JSON.stringify(value, null, 2));
}

type Read = { kind: 'absent' } | { kind: 'read'; value: unknown } | { kind: 'corrupt'; why: string };

function readJsonFile(file: string): Read {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    return { kind: 'corrupt', why: `cannot be read: ${(err as Error).message}` };
  }
  if (text.trim() === '') return { kind: 'corrupt', why: 'is empty (a write cut short)' };
  try {
    return { kind: 'read', value: JSON.parse(text) };
  } catch (err) {
    return { kind: 'corrupt', why: `is not JSON: ${(err as Error).message}` };
  }
}

function readJson<T>(file: string): T | undefined {
  const r = readJsonFile(file);
  return r.kind === 'read' ? (r.value as T) : undefined;
}

/** Why `value` is not the record of `key`, or undefined: the fields teardown and gc rely on. */
function recordProblem(value: unknown, key: VmiKey): string | undefined {
  if (!isObj(value)) return 'is not an object';
  const meta = isObj(value.object) && isObj(value.object.metadata) ? value.object.metadata : undefined;
  if (meta?.namespace !== key.namespace || meta?.name !== key.name) {
    return (
      `object.metadata names ${JSON.stringify(`${meta?.namespace}/${meta?.name}`)}, not ` +
      `${key.namespace}/${key.name}`
    );
  }
  if (!(STATES as readonly unknown[]).includes(value.state))
    return `state ${JSON.stringify(value.state)} is not one of ${STATES.join(', ')}`;
  if (typeof value.netns !== 'string' || !SANDBOX_NAME.test(value.netns))
    return `netns ${JSON.stringify(value.netns)} is not a sandbox name (${SANDBOX_NAME})`;
  if (typeof value.containerID !== 'string' || !CNI_ID_PATTERN.test(value.containerID))
    return `containerID ${JSON.stringify(value.containerID)} is not a CNI container id`;
  if (!Array.isArray(value.attachments) || !value.attachments.every(isObj))
    return 'attachments is not a list of objects';
  if (!isObj(value.creator) || typeof value.creator.pid !== 'number' || typeof value.creator.start !== 'string')
    return 'creator is not {pid, start}';
  if (!Array.isArray(value.steps)) return 'steps is not a list';
  if (
    value.images !== undefined &&
    !(Array.isArray(value.images) && value.images.every((u) => isObj(u) && typeof u.digest === 'string'))
  )
    return 'images is not a list of {volume, reference, digest}';
  return undefined;
}

/** Directory entries, with lstat's view (a symlink is not a directory here). */
function entries(dir: string): Array<{ name: string; isDir: boolean }> {
  try {
    // Dirent types come from readdir itself and never follow a symlink.
    return readdirSync(dir, { withFileTypes: true }).map((d) => ({ name: d.name, isDir: d.isDirectory() }));
  } catch {
    return [];
  }
}

export class Store {
  constructor(readonly stateDir: string) {}

  /** Where netattach keeps its result cache (the sandbox's attach options use the same). */
  get cniCacheDir(): string {
    return join(this.stateDir, CNI_CACHE_DIR);
  }

  vmiDir(namespace: string, name: string): string {
    return join(this.stateDir, 'vmis', segment(namespace), segment(name));
  }

  /** The lock that serialises `up`, `down` and `gc` of one VMI (outside its directory, which they remove). */
  lockFile(namespace: string, name: string): string {
    return join(this.stateDir, 'locks', `${segment(namespace)}_${segment(name)}.lock`);
  }

  launcherDir(netns: string): string {
    if (!SANDBOX_NAME.test(netns)) throw new TypeError(`${JSON.stringify(netns)} is not a sandbox name`);
    return join(this.stateDir, 'launchers', netns);
  }

  /** mkdir -p of a directory under the state directory, 0700 all the way down from it. */
  privateDir(dir: string): void {
    mkdirPrivate(dir, this.stateDir);
  }

  /** The record of one VMI: absent, valid or corrupt (see VmiEntry; `why` completes "record.json …"). */
  readVmiEntry(namespace: string, name: string): VmiEntry {
    const r = readJsonFile(join(this.vmiDir(namespace, name), 'record.json'));
    if (r.kind !== 'read') return r;
    const problem = recordProblem(r.value, { namespace, name });
    return problem
      ? { kind: 'corrupt', why: `is not a valid record: ${problem}` }
      : { kind: 'valid', rec: r.value as VmiRecord };
  }

  /** The record when it is valid; undefined when absent, and when corrupt (readVmiEntry tells those apart). */
  readVmi(namespace: string, name: string): VmiRecord | undefined {
    const e = this.readVmiEntry(namespace, name);
    return e.kind === 'valid' ? e.rec : undefined;
  }

  writeVmi(rec: VmiRecord): void {
    const dir = this.vmiDir(rec.object.metadata.namespace, rec.object.metadata.name);
    this.privateDir(dir);
    writeJson(join(dir, 'record.json'), rec);
  }

  removeVmi(namespace: string, name: string, netns?: string): void {
    if (netns) rmSync(this.launcherDir(netns), { recursive: true, force: true });
    rmSync(this.vmiDir(namespace, name), { recursive: true, force: true });
  }

  /**
   * Every VMI directory, also those whose record was never written (a crash),
   * and what under vmis/ is not one: a file, or a name no VMI can have.
   */
  scanVmis(): { keys: VmiKey[]; skipped: SkippedEntry[] } {
    const root = join(this.stateDir, 'vmis');
    const keys: VmiKey[] = [];
    const skipped: SkippedEntry[] = [];
    const check = (path: string, e: { name: string; isDir: boolean }, what: string): boolean => {
      const problem = e.isDir ? segmentProblem(e.name) : undefined;
      const why = !e.isDir ? 'is not a directory' : problem && `is not a valid ${what} name: ${problem}`;
      if (why) skipped.push({ path, why });
      return !why;
    };
    for (const ns of entries(root)) {
      if (!check(join(root, ns.name), ns, 'namespace')) continue;
      for (const vmi of entries(join(root, ns.name))) {
        if (check(join(root, ns.name, vmi.name), vmi, 'VMI')) keys.push({ namespace: ns.name, name: vmi.name });
      }
    }
    return { keys, skipped };
  }

  /** Every valid VMI directory (scanVmis says what was skipped). */
  vmiKeys(): VmiKey[] {
    return this.scanVmis().keys;
  }

  /** Every valid record. */
  listVmis(): VmiRecord[] {
    return this.vmiKeys().flatMap((k) => this.readVmi(k.namespace, k.name) ?? []);
  }

  /** The launcher directories (one per sandbox made), by sandbox name. */
  launcherNetnses(): string[] {
    return entries(join(this.stateDir, 'launchers'))
      .filter((e) => e.isDir && SANDBOX_NAME.test(e.name))
      .map((e) => e.name);
  }

  private objectFile(kind: 'vms' | 'nads', namespace: string, name: string): string {
    return join(this.stateDir, kind, segment(namespace), `${segment(name)}.json`);
  }

  /**
   * Store a VM or NAD as the API server would: stamped with its creation
   * time (RFC 3339, seconds), which an update keeps; `get` shows its AGE.
   */
  saveObject(
    kind: 'vms' | 'nads',
    object: { metadata: { name: string; namespace?: string; creationTimestamp?: string }; spec?: unknown },
  ): void {
    const namespace = object.metadata.namespace ?? 'default';
    const file = this.objectFile(kind, namespace, object.metadata.name);
    const before = this.readObject<{ metadata?: { creationTimestamp?: unknown } }>(
      kind,
      namespace,
      object.metadata.name,
    );
    const kept = before?.metadata?.creationTimestamp;
    const creationTimestamp = typeof kept === 'string' ? kept : new Date().toISOString().replace(/\.\d+Z$/u, 'Z');
    this.privateDir(join(file, '..'));
    writeJson(file, { ...object, metadata: { ...object.metadata, creationTimestamp } });
  }

  readObject<T>(kind: 'vms' | 'nads', namespace: string, name: string): T | undefined {
    return readJson<T>(this.objectFile(kind, namespace, name));
  }

  removeObject(kind: 'vms' | 'nads', namespace: string, name: string): void {
    rmSync(this.objectFile(kind, namespace, name), { force: true });
  }

  listObjects<T>(kind: 'vms' | 'nads'): T[] {
    const root = join(this.stateDir, kind);
    return entries(root)
      .filter((ns) => ns.isDir && !segmentProblem(ns.name))
      .flatMap((ns) =>
        entries(join(root, ns.name))
          .filter((f) => !f.isDir && f.name.endsWith('.json'))
          .flatMap((f) => readJson<T>(join(root, ns.name, f.name)) ?? []),
      );
  }
}
