/**
 * Small disks for the containerDisk tests (a few MiB, made in
 * milliseconds) and a look at an image cache's directory, to check that a
 * failed pull left nothing behind.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

/** A raw disk of `mib` MiB whose bytes depend on `seed` (so two disks differ). */
export function rawDisk(dir: string, name: string, mib: number, seed: string): string {
  const file = join(dir, name);
  const block = createHash('sha512').update(seed).digest();
  const buf = Buffer.alloc(mib * 1024 * 1024);
  for (let off = 0; off < buf.length; off += block.length)
    block.copy(buf, off, 0, Math.min(block.length, buf.length - off));
  buf.write(`virtnet-test-disk ${seed}\n`, 0);
  writeFileSync(file, buf);
  return file;
}

/** `raw` converted to qcow2 (so the qcow2 holds data clusters, not just a header). */
export function qcow2Disk(dir: string, name: string, raw: string): string {
  const file = join(dir, name);
  execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, file]);
  return file;
}

/** `file` compressed with gzip or xz into `dir/name` (the name need not say so: formats are told by magic). */
export function compressed(dir: string, name: string, file: string, tool: 'gzip' | 'xz'): string {
  const out = join(dir, name);
  writeFileSync(out, execFileSync(tool, ['-c', '-1', file], { maxBuffer: 1 << 30 }));
  return out;
}

export function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/**
 * The guest-visible bytes of a disk image (converted to raw in `scratch`), hashed: equal for a raw disk and its qcow2.
 */
export function contentHash(file: string, format: 'qcow2' | 'raw', scratch: string): string {
  const out = join(scratch, `content-${process.pid}.raw`);
  execFileSync('qemu-img', ['convert', '-q', '-f', format, '-O', 'raw', file, out]);
  try {
    return sha256(out);
  } finally {
    rmSync(out, { force: true });
  }
}

/** What a cache root holds besides its lock: entries, pull temp dirs, pins. */
export function cacheState(root: string): { entries: string[]; tmp: string[]; pins: string[] } {
  const list = (d: string) => {
    try {
      return readdirSync(d).sort();
    } catch {
      return [];
    }
  };
  return {
    entries: list(root).filter((n) => !['tmp', 'pins', 'locks'].includes(n)),
    tmp: list(join(root, 'tmp')),
    pins: list(join(root, 'pins')),
  };
}

/**
 * A raw disk of `bytes` bytes, every byte `fill`, written in 1 MiB pieces (never held whole); with fill 0, no byte
 * written: a hole.
 */
export function filledDisk(dir: string, name: string, bytes: number, fill: number): string {
  const file = join(dir, name);
  const fd = openSync(file, 'w');
  try {
    const piece = Buffer.alloc(1024 * 1024, fill);
    for (let off = 0; fill !== 0 && off < bytes; off += piece.length)
      writeSync(fd, piece, 0, Math.min(piece.length, bytes - off), off);
    ftruncateSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
  return file;
}

/** Bytes a file takes on disk (st_blocks is in 512-byte units, stat(2)). */
export function allocated(file: string): number {
  return statSync(file).blocks * 512;
}

/**
 * One member of a hand-made tar (tarOf): a regular file, a hard link or a
 * symlink; `mtime` as given: octal digits, or the 12 raw bytes of GNU's
 * base-256 form (first byte 0x80) for times no octal field holds.
 */
export interface TarMember {
  name: string;
  data?: Buffer | string;
  hardlinkTo?: string;
  symlinkTo?: string;
  mtime?: string | Buffer;
}

/** A ustar header block (POSIX pax(1) "ustar Interchange Format"); fields are NUL-padded, numbers octal. */
function tarHeader(m: TarMember, size: number): Buffer {
  const h = Buffer.alloc(512);
  const field = (text: string, off: number, len: number) => h.write(text.slice(0, len), off, len, 'latin1');
  field(m.name, 0, 100);
  field('0000644\0', 100, 8);
  field('0000000\0', 108, 8);
  field('0000000\0', 116, 8);
  field(`${size.toString(8).padStart(11, '0')}\0`, 124, 12);
  if (Buffer.isBuffer(m.mtime)) m.mtime.copy(h, 136, 0, 12);
  else field(`${(m.mtime ?? '0').padStart(11, '0')}\0`, 136, 12);
  field('        ', 148, 8);
  h[156] = (m.hardlinkTo !== undefined ? '1' : m.symlinkTo !== undefined ? '2' : '0').charCodeAt(0);
  field(m.hardlinkTo ?? m.symlinkTo ?? '', 157, 100);
  field('ustar\0', 257, 6);
  field('00', 263, 2);
  let sum = 0;
  for (const b of h) sum += b;
  field(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return h;
}

/**
 * A tar of `members` written directly (in milliseconds, for any count: the
 * limits tests need 150 000 members, and odd headers tar itself would not
 * write, such as an mtime beyond any date).
 */
export function tarOf(dir: string, name: string, members: Iterable<TarMember>): string {
  const file = join(dir, name);
  const fd = openSync(file, 'w');
  const pending: Buffer[] = [];
  let size = 0;
  const flush = () => {
    writeSync(fd, Buffer.concat(pending));
    pending.length = 0;
    size = 0;
  };
  try {
    for (const m of members) {
      const data =
        m.hardlinkTo !== undefined || m.symlinkTo !== undefined ? Buffer.alloc(0) : Buffer.from(m.data ?? '');
      pending.push(tarHeader(m, data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512));
      size += 512 + data.length;
      if (size > 1 << 20) flush();
    }
    pending.push(Buffer.alloc(1024));
    flush();
  } finally {
    closeSync(fd);
  }
  return file;
}
