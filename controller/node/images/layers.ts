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
 * normalized, and only a plain regular file with no ".." is ever extracted,
 * alone, into a fresh private directory, without the archive's owners.
 */
import { lstatSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, VirtnetError } from '../../../lib/errors.ts';
import { exec } from '../../../lib/exec.ts';
import type { Progress } from '../../../lib/progress.ts';
import { whileGrowing } from './growth.ts';

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
  const simple: Readonly<Record<string, number>> = { n: 10, t: 9, r: 13, a: 7, b: 8, f: 12, v: 11, '\\': 92, '"': 34, '?': 63, "'": 39 };
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

/** One line of `tar -tv --numeric-owner --quoting-style=c` under LC_ALL=C, e.g. `-rw-r--r-- 107/107 4194304 1970-01-01 00:00 "disk/a"`. */
const LINE = /^(\S)\S*\s+\S+\s+(\S+)\s+\S+\s+\S+\s+"((?:[^"\\]|\\.)*)"/u;

export function parseListing(listing: string, layer: number): LayerEntry[] {
  const entries: LayerEntry[] = [];
  for (const line of listing.split('\n')) {
    const m = line.match(LINE);
    if (!m) continue;
    const stored = unquoteC(m[3]!);
    const path = normalizeMember(stored);
    if (path === undefined) continue; // "..", or the root itself: never a disk, and not for us to apply
    entries.push({ path, stored, type: TYPES[m[1]!] ?? 'other', size: /^\d+$/u.test(m[2]!) ? Number(m[2]) : 0, layer });
  }
  return entries;
}

export async function listLayer(file: string, layer: number): Promise<LayerEntry[]> {
  // GNU tar recognizes gzip, xz and zstd archives itself when reading a file ("--auto-compress" is for writing).
  const { stdout } = await exec(['tar', '--list', '--verbose', '--numeric-owner', '--quoting-style=c', '--file', file], {
    env: { ...process.env, LC_ALL: 'C' },
    timeoutMs: 30 * 60_000,
  });
  return parseListing(stdout, layer);
}

const OPAQUE = '.wh..wh..opq';

function removeUnder(fs: Map<string, LayerEntry>, dir: string): void {
  for (const path of fs.keys()) if (path.startsWith(`${dir}/`)) fs.delete(path);
}

/** Apply one layer's entries over the file system of the layers below it. */
export function applyLayer(fs: Map<string, LayerEntry>, entries: readonly LayerEntry[]): void {
  for (const e of entries) {
    const slash = e.path.lastIndexOf('/');
    const dir = slash < 0 ? '' : e.path.slice(0, slash);
    const base = e.path.slice(slash + 1);
    if (base === OPAQUE) {
      for (const [path, below] of fs) if (below.layer < e.layer && (dir === '' || path.startsWith(`${dir}/`))) fs.delete(path);
    } else if (base.startsWith('.wh.')) {
      const hidden = `${dir === '' ? '' : `${dir}/`}${base.slice('.wh.'.length)}`;
      fs.delete(hidden);
      removeUnder(fs, hidden);
    }
  }
  for (const e of entries) {
    if (e.path.slice(e.path.lastIndexOf('/') + 1).startsWith('.wh.')) continue;
    if (e.type !== 'directory') removeUnder(fs, e.path);
    fs.set(e.path, e);
  }
}

function describe(e: LayerEntry): string {
  return { file: 'a regular file', directory: 'a directory', symlink: 'a symbolic link', hardlink: 'a hard link', other: 'a special file' }[e.type];
}

/** Pick the disk: `path` when given, else the one regular file under /disk. */
export function chooseDisk(image: string, fs: ReadonlyMap<string, LayerEntry>, path: string | undefined): DiskMember {
  const underDisk = [...fs.values()].filter((e) => e.path.startsWith('disk/') && e.type !== 'directory');
  const disks = underDisk.filter((e) => e.type === 'file');
  if (path !== undefined) {
    const entry = fs.get(path.slice(1));
    if (entry === undefined) throw new DiskError(image, `containerDisk.path ${path} is not in the image${disks.length ? ` (disks: ${disks.map((d) => `/${d.path}`).join(', ')})` : ''}`);
    if (entry.type !== 'file') throw new DiskError(image, `containerDisk.path ${path} is ${describe(entry)}, not a regular file`);
    return { path, entry, only: disks.length === 1 && disks[0] === entry };
  }
  if (disks.length === 0) {
    const refused = underDisk.map((e) => `/${e.path} is ${describe(e)}`);
    throw new DiskError(image, `no disk: no regular file under /disk${refused.length ? ` (${refused.join('; ')})` : ''}`);
  }
  if (disks.length > 1) {
    throw new DiskError(image, `several disks under /disk (${disks.map((d) => `/${d.path}`).sort().join(', ')}): set containerDisk.path to one of them`);
  }
  return { path: `/${disks[0]!.path}`, entry: disks[0]!, only: true };
}

/** The image's file system from its layers (files in order of the manifest), and the chosen disk. */
export async function findDisk(image: string, layerFiles: readonly string[], path: string | undefined): Promise<DiskMember> {
  const fs = new Map<string, LayerEntry>();
  for (const [i, file] of layerFiles.entries()) applyLayer(fs, await listLayer(file, i));
  return chooseDisk(image, fs, path);
}

/**
 * Extract `member` alone from `layerFile` into `into` (a fresh private
 * directory) and return the extracted file's path, checked to be a regular
 * file inside `into`. --no-wildcards and --no-unquote: the name is matched
 * literally; --no-same-owner/--no-same-permissions: root's tar would
 * otherwise keep the archive's owners and modes (tar(1)).
 */
export async function extractMember(image: string, layerFile: string, member: DiskMember, into: string, progress: Progress): Promise<string> {
  const target = join(into, member.entry.path);
  progress.step(`extracting ${member.path} from ${image}`);
  await whileGrowing(target, progress.bytes(`extract ${member.path}`, member.entry.size), () =>
    exec(['tar', '--extract', '--file', layerFile, '--directory', into, '--no-same-owner', '--no-same-permissions',
      '--no-wildcards', '--no-unquote', '--no-recursion', '--', member.entry.stored], { timeoutMs: 60 * 60_000 }));
  const st = lstatSync(target, { throwIfNoEntry: false });
  if (st === undefined || !st.isFile()) throw new DiskError(image, `${member.path} did not extract as a regular file`);
  if (realpathSync(target) !== join(realpathSync(into), member.entry.path)) throw new DiskError(image, `${member.path} extracted outside its directory`);
  return target;
}
