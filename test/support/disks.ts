/**
 * Small disks for the containerDisk tests (a few MiB, made in
 * milliseconds) and a look at an image cache's directory, to check that a
 * failed pull left nothing behind.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A raw disk of `mib` MiB whose bytes depend on `seed` (so two disks differ). */
export function rawDisk(dir: string, name: string, mib: number, seed: string): string {
  const file = join(dir, name);
  const block = createHash('sha512').update(seed).digest();
  const buf = Buffer.alloc(mib * 1024 * 1024);
  for (let off = 0; off < buf.length; off += block.length) block.copy(buf, off, 0, Math.min(block.length, buf.length - off));
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

/** The guest-visible bytes of a disk image (converted to raw in `scratch`), hashed: equal for a raw disk and its qcow2. */
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
