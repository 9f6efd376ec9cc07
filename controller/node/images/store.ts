/**
 * The image cache on disk, content-addressed:
 *
 *   ROOT/                                 0700
 *   ROOT/sha256-<manifest hex>-<12 hex of sha256(disk path)>/   0700
 *       disk.qcow2 | disk.raw   0400, the base every VM overlays (never written)
 *       meta.json               0400, references, digest, format, size, pulledAt
 *   ROOT/tmp/pull.<pid>.<start>.<nonce>/   a pull in progress (0700)
 *   ROOT/tmp/gc.<pid>.<start>.<nonce>/     an entry being removed
 *   ROOT/pins/<entry>.<pid>.<start>.<nonce>  a live process still needs <entry>
 *   ROOT/locks/cache.lock                 lib/lockfile.ts: every change to the above
 *
 * One image can hold several disks, so an entry is a manifest digest and
 * the disk path chosen in it. An entry appears by one rename(2) of a
 * complete, fsync'd directory, so a crash never leaves half an image under
 * a digest's name; what a crash does leave (temp directories, pins) names
 * its dead process and is swept. Everything is root's alone (directories
 * 0700, files 0400): QEMU runs as root in the pod's libvirtd, and an image
 * from a private registry must not be readable by the node's other users.
 * An entry whose name is valid but whose content is not (a crash of an
 * older version, a hand edit) is moved aside when its image is pulled
 * again, and removed by gc; nothing in the root is ever followed.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { join } from 'node:path';
import { fsyncDir, mkdirPrivate, writeFileDurable } from '../../../lib/durable.ts';
import { isObj } from '../../../lib/json.ts';
import { withLock } from '../../../lib/lockfile.ts';
import { isSameProcess, startTime } from '../../../lib/process.ts';
import type { DiskFormat } from './disk.ts';

export const ENTRY_DIR_MODE = 0o700;
export const IMAGE_FILE_MODE = 0o400;

export interface CachedImage {
  /** The entry's directory name under the root. */
  entry: string;
  /** The manifest digest of the platform instance: "sha256:<hex>". */
  digest: string;
  /** Digests of manifest lists that resolved to this instance. */
  indexDigests: string[];
  /** The references (as users wrote them) that resolved to it, most recent last. */
  references: string[];
  /** The disk's path inside the image, e.g. "/disk/debian.qcow2". */
  diskPath: string;
  /** Whether it is the image's only disk: what a containerDisk without `path` gets. */
  onlyDisk: boolean;
  format: DiskFormat;
  /** Bytes of the disk file. */
  size: number;
  virtualSize: number;
  /** Absolute path of the disk file. */
  file: string;
  pulledAt: string;
}

type Meta = Omit<CachedImage, 'entry' | 'file'>;

const ENTRY = /^sha256-([0-9a-f]{64})-([0-9a-f]{12})$/u;
const HOLDER = /^(\d+)\.(\d+)\.[0-9a-f]{16}$/u;
const OWN_DIRS = new Set(['tmp', 'pins', 'locks']);

/** Whether `image` is the disk a request for `path` gets: the named one, or with no path the image's only disk. */
export function servesPath(image: CachedImage, path: string | undefined): boolean {
  return path === undefined ? image.onlyDisk : image.diskPath === path;
}

/** Why `holder` cannot hold a pin: it must name a process by pid and start time (lib/process.ts startTime). */
export function pinHolderProblem(holder: { pid: number; start: string }): string | undefined {
  if (Number.isSafeInteger(holder.pid) && holder.pid > 0 && /^\d+$/u.test(holder.start)) return undefined;
  return `a pin holder must be a pid and a start time (lib/process.ts startTime), not ${JSON.stringify(holder)}`;
}

export function entryName(digest: string, diskPath: string): string {
  return `sha256-${digest.slice('sha256:'.length)}-${createHash('sha256').update(diskPath).digest('hex').slice(0, 12)}`;
}

function holderSuffix(): string {
  return `${process.pid}.${startTime(process.pid) ?? '0'}.${randomBytes(8).toString('hex')}`;
}

function holderAlive(suffix: string): boolean {
  const m = suffix.match(HOLDER);
  return m !== null && isSameProcess(Number(m[1]), m[2]);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

/** meta.json, rebuilt from its fields checked one by one; undefined (junk) when anything is off. */
function parseMeta(text: string, hex: string): Meta | undefined {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObj(m)) return undefined;
  const { digest, references, indexDigests, diskPath, onlyDisk, format, size, virtualSize, pulledAt } = m;
  if (digest !== `sha256:${hex}` || !isStringArray(references) || !isStringArray(indexDigests)) return undefined;
  if (typeof diskPath !== 'string' || typeof onlyDisk !== 'boolean' || typeof pulledAt !== 'string') return undefined;
  if ((format !== 'qcow2' && format !== 'raw') || typeof size !== 'number' || typeof virtualSize !== 'number')
    return undefined;
  return { digest, references, indexDigests, diskPath, onlyDisk, format, size, virtualSize, pulledAt };
}

function fsyncFile(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export interface Junk {
  name: string;
  why: string;
  /**
   * Whether it has a cache entry's name (a damaged entry, which gc removes) rather than being a stranger (reported,
   * never touched).
   */
  damagedEntry: boolean;
}

/** A file's text, or undefined when it is gone. */
function readIfThere(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** An entry prepared in a pull's staging directory, durable and read-only, ready for its one rename. */
export interface StagedEntry {
  dir: string;
  meta: Meta;
}

export class ImageStore {
  readonly root: string;
  private readonly lockWaitMs: number;

  constructor(root: string, lockWaitMs = 120_000) {
    this.root = root;
    this.lockWaitMs = lockWaitMs;
  }

  /** The root and its own parts, all 0700 (a root an older version made 0755 is narrowed). */
  private prepare(): void {
    mkdirPrivate(this.root);
    for (const d of OWN_DIRS) mkdirPrivate(join(this.root, d));
  }

  /** Run `fn` holding the cache lock: every change to entries and pins goes through here. */
  async locked<T>(fn: () => Promise<T> | T): Promise<T> {
    this.prepare();
    return withLock(join(this.root, 'locks', 'cache.lock'), async () => fn(), this.lockWaitMs);
  }

  private scan(): { images: CachedImage[]; junk: Junk[] } {
    const images: CachedImage[] = [];
    const junk: Junk[] = [];
    let names: string[];
    try {
      names = readdirSync(this.root).sort();
    } catch {
      return { images, junk };
    }
    for (const name of names) {
      if (OWN_DIRS.has(name)) continue;
      const m = name.match(ENTRY);
      if (!m) {
        junk.push({ name, why: 'not a cache entry name', damagedEntry: false });
        continue;
      }
      const got = this.readEntry(name, m[1]!);
      if (typeof got === 'string') junk.push({ name, why: got, damagedEntry: true });
      else if (got !== undefined) images.push(got);
    }
    return { images, junk };
  }

  /**
   * An entry, or why it is not one, or undefined when it is gone (a
   * concurrent gc renamed it away between readdir and here: lists are read
   * without the lock). Nothing is followed: symlinks are junk.
   */
  private readEntry(name: string, hex: string): CachedImage | string | undefined {
    const dir = join(this.root, name);
    const dirStat = lstatSync(dir, { throwIfNoEntry: false });
    if (dirStat === undefined) return undefined;
    if (!dirStat.isDirectory()) return 'not a directory';
    const metaFile = join(dir, 'meta.json');
    const metaStat = lstatSync(metaFile, { throwIfNoEntry: false });
    if (!metaStat?.isFile())
      return lstatSync(dir, { throwIfNoEntry: false }) === undefined
        ? undefined
        : 'meta.json is missing or not a regular file';
    const text = readIfThere(metaFile);
    if (text === undefined) return undefined;
    const meta = parseMeta(text, hex);
    if (meta === undefined || entryName(meta.digest, meta.diskPath) !== name)
      return 'meta.json is damaged or does not match the entry name';
    const file = join(dir, `disk.${meta.format}`);
    const st = lstatSync(file, { throwIfNoEntry: false });
    if (!st?.isFile())
      return lstatSync(dir, { throwIfNoEntry: false }) === undefined
        ? undefined
        : `disk.${meta.format} is missing or not a regular file`;
    return { ...meta, entry: name, file };
  }

  list(): CachedImage[] {
    return this.scan().images;
  }

  /**
   * Entries of the root that are not cache entries: strangers (reported, never touched) and damaged entries (removed by
   * gc).
   */
  junk(): Junk[] {
    return this.scan().junk;
  }

  /**
   * A fresh private directory for one pull; the caller removes it. Under
   * the lock, what pulls that died (SIGKILL, a crash) left in tmp/ goes
   * first, so an interrupted pull's gigabytes do not wait for `virtnet gc`.
   */
  tempDir(): Promise<string> {
    return this.locked(() => {
      this.sweepTemps();
      const dir = join(this.root, 'tmp', `pull.${holderSuffix()}`);
      mkdirSync(dir, { mode: 0o700 });
      return dir;
    });
  }

  /** Pin `entry` for the process `holder` until release(). Call under the lock, so gc sees it. */
  pin(entry: string, holder: { pid: number; start: string }): () => void {
    const problem = pinHolderProblem(holder);
    if (problem !== undefined) throw new TypeError(problem);
    const file = join(this.root, 'pins', `${entry}.${holder.pid}.${holder.start}.${randomBytes(8).toString('hex')}`);
    closeSync(openSync(file, 'wx', 0o600));
    return () => rmSync(file, { force: true });
  }

  /** Entries pinned by live processes; dead processes' pins are removed. Under the lock. */
  private livePins(): Set<string> {
    const live = new Set<string>();
    const dir = join(this.root, 'pins');
    for (const name of readdirSync(dir)) {
      const m = name.match(/^(sha256-[0-9a-f]{64}-[0-9a-f]{12})\.(.+)$/u);
      if (m && holderAlive(m[2]!)) live.add(m[1]!);
      else rmSync(join(dir, name), { force: true });
    }
    return live;
  }

  /** Temp directories of pulls (or removals) whose process is gone, and strangers in tmp/. Under the lock. */
  private sweepTemps(): void {
    const dir = join(this.root, 'tmp');
    for (const name of readdirSync(dir)) {
      const m = name.match(/^(?:pull|gc)\.(.+)$/u);
      if (!m || !holderAlive(m[1]!)) rmSync(join(dir, name), { recursive: true, force: true });
    }
  }

  /** Rewrite an entry's meta.json (0444, atomically and durably). Under the lock. */
  private writeMeta(image: CachedImage): void {
    const { entry: _entry, file: _file, ...meta } = image;
    writeFileDurable(join(this.root, image.entry, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`, IMAGE_FILE_MODE);
  }

  /**
   * Record that `reference` (asked with containerDisk.path `path`) now
   * resolves to `image`: the entry gains it (and the index digest it came
   * through), and the other entries that would serve the same request lose
   * it, as a moved tag leaves the old image. Under the lock.
   */
  addReference(image: CachedImage, reference: string, path: string | undefined, indexDigest?: string): CachedImage {
    for (const other of this.list()) {
      if (other.entry !== image.entry && servesPath(other, path) && other.references.includes(reference)) {
        this.writeMeta({ ...other, references: other.references.filter((r) => r !== reference) });
      }
    }
    const references = [...image.references.filter((r) => r !== reference), reference];
    const indexDigests =
      indexDigest === undefined || image.indexDigests.includes(indexDigest)
        ? image.indexDigests
        : [...image.indexDigests, indexDigest];
    const updated = { ...image, references, indexDigests };
    if (references.join('\n') !== image.references.join('\n') || indexDigests !== image.indexDigests)
      this.writeMeta(updated);
    return updated;
  }

  /**
   * Prepare `meta`'s entry in the pull's `staging` directory: the disk
   * moved in, both files read-only and fsync'd. Outside the lock: fsync of
   * a disk of gigabytes takes seconds, which no other pull or gc should wait for.
   */
  stage(staging: string, diskFile: string, meta: Meta): StagedEntry {
    const dir = join(staging, 'entry');
    mkdirSync(dir, { mode: ENTRY_DIR_MODE });
    const file = join(dir, `disk.${meta.format}`);
    renameSync(diskFile, file);
    chmodSync(file, IMAGE_FILE_MODE);
    fsyncFile(file);
    writeFileDurable(join(dir, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`, IMAGE_FILE_MODE);
    chmodSync(dir, ENTRY_DIR_MODE);
    return { dir, meta };
  }

  /**
   * Move a staged entry into the cache with one rename, unless another
   * process got there first (then the staged copy is dropped with the
   * staging directory). A damaged entry of the same name is moved aside
   * first: it would make the rename fail for good. Under the lock.
   */
  commit(staged: StagedEntry): CachedImage {
    const { dir, meta } = staged;
    const name = entryName(meta.digest, meta.diskPath);
    const target = join(this.root, name);
    const got = this.readEntry(name, meta.digest.slice('sha256:'.length));
    if (typeof got === 'object') return got;
    if (typeof got === 'string') this.removeEntry(name);
    renameSync(dir, target);
    fsyncDir(this.root);
    return { ...meta, entry: name, file: join(target, `disk.${meta.format}`) };
  }

  /**
   * Rename an entry (or what has its name) into tmp/, one atomic step out of sight, then delete it; rm never follows a
   * symlink. Under the lock.
   */
  private removeEntry(name: string): void {
    const doomed = join(this.root, 'tmp', `gc.${holderSuffix()}`);
    renameSync(join(this.root, name), doomed);
    fsyncDir(this.root);
    rmSync(doomed, { recursive: true, force: true });
  }

  /**
   * Remove every entry whose digest is not in use and that no live process
   * pins, and every damaged entry (junk with an entry's name) likewise;
   * sweep dead pulls' temp directories. Returns the images removed.
   *
   * `inUse` is the digests the node's VMIs use. Given as a function, it is
   * called under the lock after the live pins are read: a VMI recorded and
   * its pin released meanwhile is then seen by one or the other, never by
   * neither (a set computed before the lock can miss it).
   */
  async gc(inUse: (() => ReadonlySet<string>) | ReadonlySet<string>): Promise<CachedImage[]> {
    return this.locked(() => {
      this.sweepTemps();
      const pinned = this.livePins();
      const used = typeof inUse === 'function' ? inUse() : inUse;
      const { images, junk } = this.scan();
      const removed: CachedImage[] = [];
      for (const image of images) {
        if (used.has(image.digest) || pinned.has(image.entry)) continue;
        this.removeEntry(image.entry);
        removed.push(image);
      }
      for (const j of junk) {
        const hex = j.name.match(ENTRY)?.[1];
        if (!j.damagedEntry || hex === undefined || used.has(`sha256:${hex}`) || pinned.has(j.name)) continue;
        this.removeEntry(j.name);
      }
      return removed;
    });
  }
}
