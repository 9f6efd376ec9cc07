/**
 * What an image may take of the cache's file system: a disk is at most
 * `maxDiskBytes` (extracted, and again decompressed: a few KiB of xz can
 * expand to any size), the download and the extraction must fit in the
 * free space with a reserve left over (the node's other users of that file
 * system, and the VMs' own overlays, must not find it full), and disks are
 * written sparsely: all-zero blocks are skipped, as `cp --sparse=always`
 * does, so that a mostly empty raw disk takes the space of its data.
 */
import { closeSync, fstatSync, ftruncateSync, openSync, statfsSync, writeSync } from 'node:fs';
import { ErrorCode, VirtnetError } from '../../../lib/errors.ts';
import type { ByteProgress } from '../../../lib/progress.ts';

export const DEFAULT_MAX_DISK_BYTES = 256 * 1024 ** 3;
const RESERVE_CAP = 1024 ** 3;
const RESERVE_SHARE = 0.05;

export interface SpaceLimits {
  /** The cache root: the file system whose space is checked. */
  root: string;
  maxDiskBytes: number;
  /** Bytes to leave free; default the smaller of 1 GiB and 5% of the file system. */
  reserveBytes?: number;
}

export class NoSpaceError extends VirtnetError {
  constructor(image: string, root: string, why: string) {
    super(ErrorCode.execFailed, `image ${image}: no space left in the image cache (${root}): ${why}`);
  }
}

Object.defineProperty(NoSpaceError.prototype, 'name', { value: 'NoSpaceError' });

export class DiskTooLargeError extends VirtnetError {
  constructor(image: string, what: string, maxDiskBytes: number) {
    super(
      ErrorCode.invalidConfig,
      `image ${image}: ${what} more than ${maxDiskBytes} bytes, the image cache's maximum disk size (maxDiskBytes)`,
    );
  }
}

Object.defineProperty(DiskTooLargeError.prototype, 'name', { value: 'DiskTooLargeError' });

/** statfs(2): bytes an unprivileged writer may still use, and the file system's size. */
function space(root: string): { free: number; total: number } {
  const s = statfsSync(root);
  return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
}

function reserveOf(limits: SpaceLimits, total: number): number {
  return limits.reserveBytes ?? Math.min(RESERVE_CAP, Math.floor(total * RESERVE_SHARE));
}

/** Throw NoSpaceError unless `need` more bytes fit in the cache's file system with the reserve left free. */
export function ensureSpace(image: string, limits: SpaceLimits, need: number, what: string): void {
  const { free, total } = space(limits.root);
  const reserve = reserveOf(limits, total);
  if (free - need < reserve) {
    throw new NoSpaceError(
      image,
      limits.root,
      `${what} needs ${need} bytes and ${reserve} must stay free, but only ${free} are free`,
    );
  }
}

export function isNoSpace(err: unknown): boolean {
  return (
    (err as NodeJS.ErrnoException | undefined)?.code === 'ENOSPC' ||
    (err as NodeJS.ErrnoException | undefined)?.code === 'EDQUOT'
  );
}

const BLOCK = 4096;
/** How often (in bytes written) the free space is looked at again while a disk is written. */
const RECHECK_EVERY = 64 * 1024 * 1024;

/**
 * A disk file written front to back from chunks of any size: at most
 * `limits.maxDiskBytes` long, its all-zero 4 KiB blocks left as holes
 * (lseek(2) "holes": they read back as zeros and take no space), and
 * refused once the file system is down to its reserve. `what` says what is
 * written, for the too-large error ("the disk /disk/a.raw is").
 */
export class SparseWriter {
  private readonly fd: number;
  private length = 0;
  private sinceCheck = 0;
  /** A partial block carried to the next chunk, so that blocks stay aligned to the file. */
  private carry: Buffer = Buffer.alloc(0);

  private readonly bar: ByteProgress | undefined;

  /**
   * `options.open` opens the file (tests give a device); by default 'wx':
   * the file is this pull's own, new in its private directory, so nothing
   * there is followed or reused.
   */
  constructor(
    private readonly image: string,
    private readonly file: string,
    private readonly limits: SpaceLimits,
    private readonly what: string,
    options: { bar?: ByteProgress; open?: (file: string) => number } = {},
  ) {
    this.bar = options.bar;
    this.fd = (options.open ?? ((f) => openSync(f, 'wx', 0o600)))(file);
  }

  write(chunk: Buffer): void {
    if (this.length + chunk.length > this.limits.maxDiskBytes)
      throw new DiskTooLargeError(this.image, this.what, this.limits.maxDiskBytes);
    const buf = this.carry.length === 0 ? chunk : Buffer.concat([this.carry, chunk]);
    const whole = buf.length - (buf.length % BLOCK);
    this.writeBlocks(buf, whole, this.length - this.carry.length);
    this.carry = Buffer.from(buf.subarray(whole));
    this.length += chunk.length;
    this.bar?.advance(chunk.length);
  }

  /** Write what is left, give the file its full length (the trailing holes too), close it; returns the length. */
  finish(): number {
    try {
      this.writeBlocks(this.carry, this.carry.length, this.length - this.carry.length);
      if (fstatSync(this.fd).size !== this.length) ftruncateSync(this.fd, this.length);
    } catch (err) {
      throw this.translate(err);
    } finally {
      closeSync(this.fd);
    }
    return this.length;
  }

  /** Close after a failure; the caller removes the file with its directory. */
  abandon(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed by finish()
    }
  }

  /** Write the non-zero runs of blocks of `buf[0, end)`, which starts at file offset `at`. */
  private writeBlocks(buf: Buffer, end: number, at: number): void {
    let run = -1;
    for (let off = 0; off < end; off += BLOCK) {
      const zero = isZero(buf, off, Math.min(off + BLOCK, end));
      if (!zero && run < 0) run = off;
      else if (zero && run >= 0) {
        this.writeAt(buf, run, off, at + run);
        run = -1;
      }
    }
    if (run >= 0) this.writeAt(buf, run, end, at + run);
  }

  private writeAt(buf: Buffer, start: number, end: number, position: number): void {
    this.sinceCheck += end - start;
    if (this.sinceCheck >= RECHECK_EVERY) {
      this.sinceCheck = 0;
      ensureSpace(this.image, this.limits, RECHECK_EVERY, 'writing the disk');
    }
    try {
      for (let off = start; off < end; ) off += writeSync(this.fd, buf, off, end - off, position + off - start);
    } catch (err) {
      throw this.translate(err);
    }
  }

  private translate(err: unknown): unknown {
    if (!isNoSpace(err)) return err;
    return new NoSpaceError(this.image, this.limits.root, `${(err as Error).message} (writing ${this.file})`);
  }
}

const ZERO = Buffer.alloc(BLOCK);

function isZero(buf: Buffer, start: number, end: number): boolean {
  return buf.compare(ZERO, 0, end - start, start, end) === 0;
}
