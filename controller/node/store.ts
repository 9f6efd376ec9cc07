/**
 * The node's records, one directory each, written atomically:
 *   vmis/<ns>/<name>/record.json   the VMI, its sandbox and where `up` got to
 *   launchers/<netns>/             the launcher's own state directory (a short
 *                                  path: libvirtd's socket lives in it, and a
 *                                  socket path may not exceed 107 bytes, unix(7))
 *   vms/<ns>/<name>.json           VirtualMachines
 *   nads/<ns>/<name>.json          NetworkAttachmentDefinitions
 * Namespaces and names reach these paths only after validation as DNS-1123
 * names (controller/api); `segment` re-checks, since a path is at stake.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AttachmentRequest } from '../../netattach/attach.ts';
import type { NetworkStatus } from '../../netattach/status.ts';

export interface VmiRecord {
  /** The VMI as applied (normalised), with metadata.uid and creationTimestamp set. */
  object: Record<string, any>;
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
}

const SEGMENT = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/u;

function segment(s: string): string {
  if (!SEGMENT.test(s) || s.length > 253) throw new TypeError(`${JSON.stringify(s)} is not a valid name`);
  return s;
}

function writeJson(file: string, value: unknown): void {
  // A temporary name of this writer's own: two writers never rename each other's.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 2));
  renameSync(tmp, file);
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function subdirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return [];
  }
}

export class Store {
  constructor(readonly stateDir: string) {}

  vmiDir(namespace: string, name: string): string {
    return join(this.stateDir, 'vmis', segment(namespace), segment(name));
  }

  /** The lock that serialises `up`, `down` and `gc` of one VMI (outside its directory, which they remove). */
  lockFile(namespace: string, name: string): string {
    return join(this.stateDir, 'locks', `${segment(namespace)}_${segment(name)}.lock`);
  }

  launcherDir(netns: string): string {
    if (!/^vn-[0-9a-f]{10}$/u.test(netns)) throw new TypeError(`${JSON.stringify(netns)} is not a sandbox name`);
    return join(this.stateDir, 'launchers', netns);
  }

  readVmi(namespace: string, name: string): VmiRecord | undefined {
    return readJson<VmiRecord>(join(this.vmiDir(namespace, name), 'record.json'));
  }

  writeVmi(rec: VmiRecord): void {
    const dir = this.vmiDir(rec.object.metadata.namespace, rec.object.metadata.name);
    mkdirSync(dir, { recursive: true });
    writeJson(join(dir, 'record.json'), rec);
  }

  removeVmi(namespace: string, name: string, netns?: string): void {
    if (netns) rmSync(this.launcherDir(netns), { recursive: true, force: true });
    rmSync(this.vmiDir(namespace, name), { recursive: true, force: true });
  }

  /** Every VMI directory, also those whose record was never written (a crash). */
  vmiKeys(): Array<{ namespace: string; name: string }> {
    const root = join(this.stateDir, 'vmis');
    return subdirs(root).flatMap((namespace) => subdirs(join(root, namespace)).map((name) => ({ namespace, name })));
  }

  listVmis(): VmiRecord[] {
    return this.vmiKeys().flatMap((k) => this.readVmi(k.namespace, k.name) ?? []);
  }

  private objectFile(kind: 'vms' | 'nads', namespace: string, name: string): string {
    return join(this.stateDir, kind, segment(namespace), `${segment(name)}.json`);
  }

  saveObject(kind: 'vms' | 'nads', object: Record<string, any>): void {
    const file = this.objectFile(kind, object.metadata.namespace ?? 'default', object.metadata.name);
    mkdirSync(join(file, '..'), { recursive: true });
    writeJson(file, object);
  }

  readObject<T>(kind: 'vms' | 'nads', namespace: string, name: string): T | undefined {
    return readJson<T>(this.objectFile(kind, namespace, name));
  }

  removeObject(kind: 'vms' | 'nads', namespace: string, name: string): void {
    rmSync(this.objectFile(kind, namespace, name), { force: true });
  }

  listObjects<T>(kind: 'vms' | 'nads'): T[] {
    const root = join(this.stateDir, kind);
    return subdirs(root).flatMap((ns) => {
      try {
        return readdirSync(join(root, ns)).filter((f) => f.endsWith('.json')).flatMap((f) => readJson<T>(join(root, ns, f)) ?? []);
      } catch {
        return [];
      }
    });
  }
}
