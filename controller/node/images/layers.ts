/**
 * The disk inside a containerDisk's layers. The image's file system is the
 * layers applied in order (OCI image-spec layer.md): a later layer's entry
 * replaces an earlier one at the same path, `.wh.NAME` removes NAME from the
 * layers below, `.wh..wh..opq` empties its directory of what the layers
 * below put there. KubeVirt reads the disk from /disk (the one file there,
 * or containerDisk.path).
 *
 * Member names come from the image, so they are never trusted: listed with
 * GNU tar's C quoting (so a name with a newline cannot forge a line),
 * normalized, and only a plain regular file with no ".." and no namesake
 * in its layer is ever extracted, to tar's stdout (so tar creates nothing
 * on the host) and from there into a file of a fixed name.
 *
 * A layer is the attacker's to shape, so the work is bounded: at most
 * MAX_LAYER_ENTRIES entries per layer and MAX_IMAGE_ENTRIES in all, the
 * listing parsed as it streams, and the file system a tree, so that each
 * entry and each whiteout costs the depth of its path, not the size of
 * the image.
 */
import { join } from 'node:path';
import { ErrorCode, VirtnetError } from '../../../lib/errors.ts';
import { ExecError, execStreaming } from '../../../lib/exec.ts';
import type { Progress } from '../../../lib/progress.ts';
import { DiskTooLargeError, SparseWriter, ensureSpace, type SpaceLimits } from './space.ts';

export const MAX_LAYER_ENTRIES = 100_000;
export const MAX_IMAGE_ENTRIES = 200_000;
/** Longest listing line accepted: a C-quoted PATH_MAX name (4096 bytes, 4 characters each) and the fields around it. */
const MAX_LINE = 4 * 4096 + 256;

export type EntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

export interface LayerEntry {
  /** Normalized: no leading "/" or "./", no trailing "/". */
  path: string;
  /** The name as the archive stores it, which tar must be given to extract it. */
  stored: string;
  type: EntryType;
  size: number;
  /** Index in the layer list. */
  layer: number;
}

export interface DiskMember {
  /** "/disk/NAME": the path in the image. */
  path: string;
  entry: LayerEntry;
  /** Whether it is the image's only disk (what containerDisk.path defaults to). */
  only: boolean;
}

export class DiskError extends VirtnetError {
  constructor(image: string, why: string) {
    super(ErrorCode.invalidConfig, `image ${image}: ${why}`);
  }
}

Object.defineProperty(DiskError.prototype, 'name', { value: 'DiskError' });

const TYPES: Readonly<Record<string, EntryType>> = { '-': 'file', d: 'directory', l: 'symlink', h: 'hardlink' };

/** Decode one GNU tar --quoting-style=c string body (C escapes and \ooo octal bytes) to its bytes, as UTF-8. */
export function unquoteC(body: string): string {
  const bytes: number[] = [];
  const simple: Readonly<Record<string, number>> = {
    n: 10,
    t: 9,
    r: 13,
    a: 7,
    b: 8,
    f: 12,
    v: 11,
    '\\': 92,
    '"': 34,
    '?': 63,
    "'": 39,
  };
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      bytes.push(...Buffer.from(c, 'utf8'));
      continue;
    }
    const octal = body.slice(i + 1, i + 4).match(/^[0-7]{1,3}/u)?.[0];
    if (octal !== undefined) {
      bytes.push(parseInt(octal, 8));
      i += octal.length;
    } else {
      bytes.push(simple[body[i + 1] ?? ''] ?? 92);
      i += 1;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** "./disk//a" → "disk/a"; undefined for names with "." or ".." parts after the prefix, or none at all. */
export function normalizeMember(name: string): string | undefined {
  const parts = name.split('/').filter((p, i) => p !== '' && !(p === '.' && i === 0));
  while (parts[0] === '.') parts.shift();
  if (parts.length === 0 || parts.some((p) => p === '.' || p === '..')) return undefined;
  return parts.join('/');
}

/**
 * One line of `tar -tv --numeric-owner --quoting-style=c` under LC_ALL=C,
 * e.g. `-rw-r--r-- 107/107 4194304 1970-01-01 00:00 "disk/a"`: the type
 * letter, the size, and the name, which starts at the first `"` (the
 * fields before it are numbers and dates; the date is free-form: an mtime
 * beyond what tar can show as a date is printed as one number).
 */
const LINE = /^(\S)\S*\s+\S+\s+(\S+)\s[^"]*"((?:[^"\\]|\\.)*)"/u;

/**
 * Parse one listing line: the entry, undefined for names never applied (".." or the root), or an error for a line that
 * is not an entry.
 */
export function parseLine(image: string, line: string, layer: number): LayerEntry | undefined {
  const m = line.match(LINE);
  if (!m)
    throw new DiskError(
      image,
      `layer ${layer + 1}: tar listed a line that is not an entry: ${JSON.stringify(line.slice(0, 200))}`,
    );
  const stored = unquoteC(m[3]!);
  const path = normalizeMember(stored);
  if (path === undefined) return undefined; // "..", or the root itself: never a disk, and not for us to apply
  return { path, stored, type: TYPES[m[1]!] ?? 'other', size: /^\d+$/u.test(m[2]!) ? Number(m[2]) : 0, layer };
}

export function parseListing(image: string, listing: string, layer: number): LayerEntry[] {
  const entries: LayerEntry[] = [];
  for (const line of listing.split('\n')) {
    if (line === '') continue;
    const e = parseLine(image, line, layer);
    if (e !== undefined) entries.push(e);
  }
  return entries;
}

/**
 * The entries of layer `layer`, listed by tar and parsed as they stream;
 * more than MAX_LAYER_ENTRIES, or MAX_IMAGE_ENTRIES with the `before`
 * entries of the layers below, or a line longer than any name, stops tar
 * and is an error naming the limit.
 */
export async function listLayer(image: string, file: string, layer: number, before = 0): Promise<LayerEntry[]> {
  const entries: LayerEntry[] = [];
  let pending = '';
  let lines = 0;
  const take = (line: string) => {
    if (line === '') return;
    if (++lines > MAX_LAYER_ENTRIES)
      throw new DiskError(image, `layer ${layer + 1} has more than ${MAX_LAYER_ENTRIES} entries, the limit per layer`);
    if (before + lines > MAX_IMAGE_ENTRIES)
      throw new DiskError(
        image,
        `the layers up to layer ${layer + 1} have more than ${MAX_IMAGE_ENTRIES} entries, the limit per image`,
      );
    const e = parseLine(image, line, layer);
    if (e !== undefined) entries.push(e);
  };
  // GNU tar recognizes gzip, xz and zstd archives itself when reading a file ("--auto-compress" is for writing).
  await runTar(image, layer, ['tar', '--list', '--verbose', '--numeric-owner', '--quoting-style=c', '--file', file], {
    env: { ...process.env, LC_ALL: 'C' },
    timeoutMs: 30 * 60_000,
    // C quoting under LC_ALL=C escapes every byte that is not printable ASCII, so latin1 never splits a character.
    onStdout: (chunk) => {
      const parts = (pending + chunk.toString('latin1')).split('\n');
      pending = parts.pop()!;
      if (pending.length > MAX_LINE)
        throw new DiskError(image, `layer ${layer + 1}: tar listed a line of more than ${MAX_LINE} characters`);
      for (const line of parts) take(line);
    },
  });
  take(pending);
  return entries;
}

/** Run tar on a layer; its failure (a damaged or truncated archive) is a DiskError naming the layer. */
async function runTar(
  image: string,
  layer: number,
  argv: string[],
  options: Parameters<typeof execStreaming>[1],
): Promise<void> {
  try {
    await execStreaming(argv, options);
  } catch (err) {
    if (err instanceof ExecError)
      throw new DiskError(
        image,
        `layer ${layer + 1} does not read as a tar archive: ${err.stderr.trim() || err.message}`,
      );
    throw err;
  }
}

const OPAQUE = '.wh..wh..opq';

interface Node {
  entry?: LayerEntry;
  children: Map<string, Node>;
}

/**
 * The image's file system as the layers build it: a tree of path
 * components, so that replacing a directory or whiting one out drops its
 * subtree at once. Iteration is in the order entries first appeared, as
 * a Map's.
 */
export class ImageFs {
  private readonly root: Node = { children: new Map() };
  private count = 0;

  /** Entries ever applied, all layers together (what MAX_IMAGE_ENTRIES bounds). */
  get applied(): number {
    return this.count;
  }

  private find(path: string): Node | undefined {
    let node: Node | undefined = this.root;
    for (const part of path.split('/')) {
      node = node.children.get(part);
      if (node === undefined) return undefined;
    }
    return node;
  }

  get(path: string): LayerEntry | undefined {
    return this.find(path)?.entry;
  }

  /** Remove `path` and everything under it. */
  private remove(path: string): void {
    const slash = path.lastIndexOf('/');
    const parent = slash < 0 ? this.root : this.find(path.slice(0, slash));
    parent?.children.delete(path.slice(slash + 1));
  }

  private set(e: LayerEntry): void {
    let node = this.root;
    for (const part of e.path.split('/')) {
      let next = node.children.get(part);
      if (next === undefined) {
        next = { children: new Map() };
        node.children.set(part, next);
      }
      node = next;
    }
    // A file, link or device replaces a directory and all that was under it.
    if (e.type !== 'directory') node.children = new Map();
    node.entry = e;
  }

  /**
   * Apply one layer's entries: first its whiteouts, over the layers below
   * only (so an opaque whiteout empties its directory of what they put
   * there, not of this layer's own files), then its entries.
   */
  apply(entries: readonly LayerEntry[]): void {
    this.count += entries.length;
    for (const e of entries) {
      const slash = e.path.lastIndexOf('/');
      const dir = slash < 0 ? '' : e.path.slice(0, slash);
      const base = e.path.slice(slash + 1);
      if (base === OPAQUE) {
        const node = dir === '' ? this.root : this.find(dir);
        if (node !== undefined) node.children = new Map();
      } else if (base.startsWith('.wh.')) {
        this.remove(`${dir === '' ? '' : `${dir}/`}${base.slice('.wh.'.length)}`);
      }
    }
    for (const e of entries) {
      if (!e.path.slice(e.path.lastIndexOf('/') + 1).startsWith('.wh.')) this.set(e);
    }
  }

  /** Every entry, depth first, each directory's children in the order they appeared. */
  *values(): Generator<LayerEntry> {
    const stack: Node[] = [this.root];
    while (stack.length) {
      const node = stack.pop()!;
      if (node.entry !== undefined) yield node.entry;
      const children = [...node.children.values()];
      for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
    }
  }

  *keys(): Generator<string> {
    for (const e of this.values()) yield e.path;
  }
}

/** Apply one layer's entries over the file system of the layers below it. */
export function applyLayer(fs: ImageFs, entries: readonly LayerEntry[]): void {
  fs.apply(entries);
}

function describe(e: LayerEntry): string {
  return {
    file: 'a regular file',
    directory: 'a directory',
    symlink: 'a symbolic link',
    hardlink: 'a hard link',
    other: 'a special file',
  }[e.type];
}

/** Pick the disk: `path` when given, else the one regular file under /disk. */
export function chooseDisk(image: string, fs: ImageFs, path: string | undefined): DiskMember {
  const underDisk = [...fs.values()].filter((e) => e.path.startsWith('disk/') && e.type !== 'directory');
  const disks = underDisk.filter((e) => e.type === 'file');
  if (path !== undefined) {
    const entry = fs.get(path.slice(1));
    if (entry === undefined)
      throw new DiskError(
        image,
        `containerDisk.path ${path} is not in the ` +
          `image${disks.length ? ` ` + `(disks: ${disks.map((d) => `/${d.path}`).join(', ')})` : ''}`,
      );
    if (entry.type !== 'file')
      throw new DiskError(image, `containerDisk.path ${path} is ${describe(entry)}, not a regular file`);
    return { path, entry, only: disks.length === 1 && disks[0] === entry };
  }
  if (disks.length === 0) {
    const refused = underDisk.map((e) => `/${e.path} is ${describe(e)}`);
    throw new DiskError(
      image,
      `no disk: no regular file under /disk${refused.length ? ` (${refused.join('; ')})` : ''}`,
    );
  }
  if (disks.length > 1) {
    throw new DiskError(
      image,
      `several disks under /disk (${disks
        .map((d) => `/${d.path}`)
        .sort()
        .join(', ')}): set containerDisk.path to one of them`,
    );
  }
  return { path: `/${disks[0]!.path}`, entry: disks[0]!, only: true };
}

/**
 * A disk must be the only member of its name in its layer: tar extracts
 * every member of a name, in order, so a namesake (a hard link, a
 * symlink, an earlier file) would be extracted too.
 */
function checkUnique(image: string, member: DiskMember, layer: readonly LayerEntry[]): void {
  const namesakes = layer.filter((e) => e.path === member.entry.path);
  if (namesakes.length > 1) {
    throw new DiskError(
      image,
      `layer ${member.entry.layer + 1} has ${namesakes.length} members named ${member.path} ` +
        `(${namesakes.map(describe).join(', ')}); a disk must be the only one of its name`,
    );
  }
}

/** The image's file system from its layers (files in order of the manifest), and the chosen disk. */
export async function findDisk(
  image: string,
  layerFiles: readonly string[],
  path: string | undefined,
): Promise<DiskMember> {
  const fs = new ImageFs();
  const layers: LayerEntry[][] = [];
  for (const [i, file] of layerFiles.entries()) {
    const entries = await listLayer(image, file, i, fs.applied);
    fs.apply(entries);
    layers.push(entries);
  }
  const member = chooseDisk(image, fs, path);
  checkUnique(image, member, layers[member.entry.layer]!);
  return member;
}

/**
 * Extract `member` alone from `layerFile` to tar's stdout, into `into`/disk
 * (a fresh private directory): tar creates nothing itself, so no name,
 * link or mode of the archive reaches the host. --no-wildcards and
 * --no-unquote: the name is matched literally; --occurrence: tar stops at
 * the first member of that name (the only one: checkUnique).
 */
export async function extractMember(
  image: string,
  layerFile: string,
  member: DiskMember,
  into: string,
  limits: SpaceLimits,
  progress: Progress,
): Promise<string> {
  if (member.entry.size > limits.maxDiskBytes)
    throw new DiskTooLargeError(image, `the disk ${member.path} is ${member.entry.size} bytes,`, limits.maxDiskBytes);
  ensureSpace(image, limits, member.entry.size, `extracting ${member.path}`);
  const target = join(into, 'disk');
  progress.step(`extracting ${member.path} from ${image}`);
  const bar = progress.bytes(`extract ${member.path}`, member.entry.size);
  const writer = new SparseWriter(image, target, limits, `the disk ${member.path} is`, { bar });
  try {
    await runTar(
      image,
      member.entry.layer,
      [
        'tar',
        '--extract',
        '--to-stdout',
        '--file',
        layerFile,
        '--no-wildcards',
        '--no-unquote',
        '--no-recursion',
        '--occurrence=1',
        '--',
        member.entry.stored,
      ],
      { timeoutMs: 60 * 60_000, onStdout: (c) => writer.write(c) },
    );
    const length = writer.finish();
    if (length !== member.entry.size)
      throw new DiskError(image, `${member.path} extracted as ${length} bytes, the layer lists ${member.entry.size}`);
  } catch (err) {
    writer.abandon();
    throw err;
  } finally {
    bar.done();
  }
  return target;
}
