/**
 * The image cache on disk, content-addressed:
 *
 *   ROOT/sha256-<manifest hex>-<12 hex of sha256(disk path)>/
 *       disk.qcow2 | disk.raw   0444, the base every VM overlays (never written)
 *       meta.json               0444, references, digest, format, size, pulledAt
 *   ROOT/tmp/pull.<pid>.<start>.<nonce>/   a pull in progress (0700)
 *   ROOT/pins/<entry>.<pid>.<start>.<nonce>  a live process still needs <entry>
 *   ROOT/locks/cache.lock                 lib/lockfile.ts: every change to the above
 *
 * One image can hold several disks, so an entry is a manifest digest and
 * the disk path chosen in it. An entry appears by one rename(2) of a
 * complete, fsync'd directory, so a crash never leaves half an image under
 * a digest's name; what a crash does leave (temp directories, pins) names
 * its dead process and is swept. Entries are directories 0755 and files
 * 0444 so that QEMU, whichever user it runs as, can read its backing file
 * and nobody but root can change one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDir, mkdirPrivate, writeFileDurable } from '../../../lib/durable.ts';
import { withLock } from '../../../lib/lockfile.ts';
import { isSameProcess, startTime } from '../../../lib/process.ts';
import type { DiskFormat } from './disk.ts';

export const ENTRY_DIR_MODE = 0o755;
export const IMAGE_FILE_MODE = 0o444;

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

/** meta.json, checked field by field; undefined (junk) when anything is off. */
function parseMeta(text: string, hex: string): Meta | undefined {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const ok = m.digest === `sha256:${hex}` && isStringArray(m.references) && isStringArray(m.indexDigests) &&
    typeof m.diskPath === 'string' && typeof m.onlyDisk === 'boolean' && (m.format === 'qcow2' || m.format === 'raw') &&
    typeof m.size === 'number' && typeof m.virtualSize === 'number' && typeof m.pulledAt === 'string';
  return ok ? (m as unknown as Meta) : undefined;
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
}

export class ImageStore {
  readonly root: string;
  private readonly lockWaitMs: number;

  constructor(root: string, lockWaitMs = 120_000) {
    this.root = root;
    this.lockWaitMs = lockWaitMs;
  }

  /** The root (0755: entries are shared with QEMU) and its private parts. */
  private prepare(): void {
    mkdirSync(this.root, { recursive: true, mode: ENTRY_DIR_MODE });
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
        junk.push({ name, why: 'not a cache entry name' });
        continue;
      }
      const got = this.readEntry(name, m[1]!);
      if (typeof got === 'string') junk.push({ name, why: got });
      else images.push(got);
    }
    return { images, junk };
  }

  /** An entry, or why it is not one. Nothing is followed: symlinks are junk. */
  private readEntry(name: string, hex: string): CachedImage | string {
    const dir = join(this.root, name);
    if (!lstatSync(dir).isDirectory()) return 'not a directory';
    const metaFile = join(dir, 'meta.json');
    const metaStat = lstatSync(metaFile, { throwIfNoEntry: false });
    if (!metaStat?.isFile()) return 'meta.json is missing or not a regular file';
    const meta = parseMeta(readFileSync(metaFile, 'utf8'), hex);
    if (meta === undefined || entryName(meta.digest, meta.diskPath) !== name) return 'meta.json is damaged or does not match the entry name';
    const file = join(dir, `disk.${meta.format}`);
    const st = lstatSync(file, { throwIfNoEntry: false });
    if (!st?.isFile()) return `disk.${meta.format} is missing or not a regular file`;
    return { ...meta, entry: name, file };
  }

  list(): CachedImage[] {
    return this.scan().images;
  }

  /** Entries of the root that are not cache entries (reported, never touched). */
  junk(): Junk[] {
    return this.scan().junk;
  }

  /** A fresh private directory for one pull; the caller removes it. */
  tempDir(): string {
    this.prepare();
    const dir = join(this.root, 'tmp', `pull.${holderSuffix()}`);
    mkdirSync(dir, { mode: 0o700 });
    return dir;
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

  /** Temp directories of pulls (or removals) whose process is gone. Under the lock. */
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
    const indexDigests = indexDigest === undefined || image.indexDigests.includes(indexDigest) ? image.indexDigests : [...image.indexDigests, indexDigest];
    const updated = { ...image, references, indexDigests };
    if (references.join('\n') !== image.references.join('\n') || indexDigests !== image.indexDigests) this.writeMeta(updated);
    return updated;
  }

  /**
   * Move a prepared disk into the cache as `meta`'s entry, unless another
   * process got there first (then the prepared copy is dropped). The disk
   * and meta are fsync'd, made read-only, and appear with one rename. Under the lock.
   */
  commit(staging: string, diskFile: string, meta: Meta): CachedImage {
    const name = entryName(meta.digest, meta.diskPath);
    const existing = this.list().find((i) => i.entry === name);
    if (existing) return existing;
    const dir = join(staging, 'entry');
    mkdirSync(dir, { mode: 0o700 });
    const file = join(dir, `disk.${meta.format}`);
    renameSync(diskFile, file);
    chmodSync(file, IMAGE_FILE_MODE);
    fsyncFile(file);
    writeFileDurable(join(dir, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`, IMAGE_FILE_MODE);
    chmodSync(dir, ENTRY_DIR_MODE);
    renameSync(dir, join(this.root, name));
    fsyncDir(this.root);
    return { ...meta, entry: name, file: join(this.root, name, file.slice(dir.length + 1)) };
  }

  /**
   * Remove every entry whose digest is not in `inUse` and that no live
   * process pins; sweep dead pulls' temp directories. Returns what was
   * removed. An entry is first renamed into tmp/ (one atomic step out of
   * sight), then deleted.
   */
  async gc(inUse: ReadonlySet<string>): Promise<CachedImage[]> {
    return this.locked(() => {
      this.sweepTemps();
      const pinned = this.livePins();
      const removed: CachedImage[] = [];
      for (const image of this.list()) {
        if (inUse.has(image.digest) || pinned.has(image.entry)) continue;
        const doomed = join(this.root, 'tmp', `gc.${holderSuffix()}`);
        renameSync(join(this.root, image.entry), doomed);
        fsyncDir(this.root);
        rmSync(doomed, { recursive: true, force: true });
        removed.push(image);
      }
      return removed;
    });
  }
}
