/**
 * The extracted disk made ready to serve as a VM's backing file: gzip or xz
 * compression undone (CDI's formats; told by magic bytes, not by the file
 * name), then probed by qemu-img. Only qcow2 and raw are accepted, with no
 * backing file and no external data file (either would make a VM read a
 * host file the image names), and a qcow2 must pass `qemu-img check`.
 */
import { closeSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ErrorCode, VirtnetError } from '../../../lib/errors.ts';
import { exec, ExecError, execStreaming } from '../../../lib/exec.ts';
import type { Progress } from '../../../lib/progress.ts';
import { externalReference, qemuImgInfo, type ImageFileInfo } from '../../../lib/qemu-img.ts';
import { SparseWriter, type SpaceLimits } from './space.ts';

export type DiskFormat = 'qcow2' | 'raw';

export class CorruptImageError extends VirtnetError {
  constructor(image: string, why: string) {
    super(ErrorCode.invalidConfig, `image ${image}: corrupt image: ${why}`);
  }
}

Object.defineProperty(CorruptImageError.prototype, 'name', { value: 'CorruptImageError' });

type Compression = 'gzip' | 'xz';

function head(file: string, n: number): Buffer {
  const buf = Buffer.alloc(n);
  const fd = openSync(file, 'r');
  try {
    return buf.subarray(0, readSync(fd, buf, 0, n, 0));
  } finally {
    closeSync(fd);
  }
}

/** gzip: 1f 8b (RFC 1952 §2.3.1); xz: fd 37 7a 58 5a 00 (the .xz file format, §2.1.1.1). */
export function compressionOf(file: string): Compression | undefined {
  const magic = head(file, 6);
  if (magic.length >= 2 && magic[0] === 0x1f && magic[1] === 0x8b) return 'gzip';
  if (magic.equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  return undefined;
}

/**
 * Undo gzip/xz compression: the tool's output (`--stdout`) is written next
 * to `file` by a SparseWriter, so it is capped at the maximum disk size,
 * checked against the free space, and sparse; `file` is then removed.
 * Returns the path of the plain disk, `file` itself when it was not compressed.
 */
export async function decompress(
  image: string,
  file: string,
  limits: SpaceLimits,
  progress: Progress,
): Promise<string> {
  const kind = compressionOf(file);
  if (kind === undefined) return file;
  const out = join(dirname(file), 'decompressed');
  progress.step(`decompressing the ${kind} disk of ${image}`);
  const bar = progress.bytes(`decompress (${kind})`);
  const writer = new SparseWriter(image, out, limits, `the ${kind}-compressed disk decompresses to`, { bar });
  try {
    await execStreaming([kind, '--decompress', '--stdout', '--quiet', '--', file], {
      timeoutMs: 60 * 60_000,
      onStdout: (c) => writer.write(c),
    });
    writer.finish();
  } catch (err) {
    writer.abandon();
    if (err instanceof ExecError)
      throw new CorruptImageError(
        image,
        `the ${kind}-compressed disk does not decompress: ${err.stderr.trim() || `exit code ${err.exitCode}`}`,
      );
    throw err;
  } finally {
    bar.done();
  }
  rmSync(file);
  return out;
}

export interface DiskInfo {
  format: DiskFormat;
  virtualSize: number;
}

const QCOW2_MAGIC = Buffer.from('QFI\xfb', 'latin1');

/**
 * qemu-img info (lib/qemu-img.ts: the image alone, never its backing chain)
 * and, for qcow2, qemu-img check: exit 0 clean, 3 only leaked clusters
 * (wasted space, not damage), 2 corruption, 1 not checkable (qemu-img(1) "check").
 */
export async function probeDisk(image: string, file: string): Promise<DiskInfo> {
  const looksQcow2 = head(file, 4).equals(QCOW2_MAGIC);
  let info: ImageFileInfo;
  try {
    info = await qemuImgInfo(file);
  } catch (err) {
    if (err instanceof ExecError) {
      const why = err.stderr.trim() || `exit code ${err.exitCode}`;
      throw looksQcow2
        ? new CorruptImageError(image, `the qcow2 disk does not open: ${why}`)
        : new UnusableDiskError(image, `the disk is not an image qemu can read: ${why}`);
    }
    throw err;
  }
  const format = info.format;
  if (looksQcow2 && format !== 'qcow2')
    throw new CorruptImageError(image, `the disk has the qcow2 magic but qemu-img reads it as ${format}`);
  if (format !== 'qcow2' && format !== 'raw') {
    throw new UnusableDiskError(
      image,
      `the disk's format is ${format}; containerDisks must be qcow2 or raw (optionally gzip- or xz-compressed)`,
    );
  }
  const external = externalReference(info);
  if (external !== undefined)
    throw new UnusableDiskError(image, `the ${format} disk ${external}; a containerDisk must stand alone`);
  if (format === 'qcow2') await checkQcow2(image, file);
  return { format, virtualSize: info.virtualSize ?? statSync(file).size };
}

async function checkQcow2(image: string, file: string): Promise<void> {
  const res = await exec(['qemu-img', 'check', '--output=json', '-f', 'qcow2', '--', file], {
    allowFailure: true,
    timeoutMs: 30 * 60_000,
  });
  if (res.exitCode === 0 || res.exitCode === 3) return;
  // One ERROR line per bad cluster: the first says enough.
  const lines = res.stderr
    .trim()
    .split('\n')
    .filter((l) => l !== '');
  const first = lines.length > 1 ? `${lines[0]} (and ${lines.length - 1} more)` : (lines[0] ?? '');
  let why = first;
  try {
    const report = JSON.parse(res.stdout) as { corruptions?: number; 'check-errors'?: number };
    why =
      `qemu-img check found ${report.corruptions ?? 0} corruptions and ${report['check-errors'] ?? 0} check ` +
      `errors${first ? `: ${first}` : ''}`;
  } catch {
    // no report: the image did not even open for checking; stderr says why
  }
  throw new CorruptImageError(image, why || `qemu-img check exited ${res.exitCode}`);
}

/** A disk that is whole but not acceptable (format, backing file). */
export class UnusableDiskError extends VirtnetError {
  constructor(image: string, why: string) {
    super(ErrorCode.invalidConfig, `image ${image}: ${why}`);
  }
}

Object.defineProperty(UnusableDiskError.prototype, 'name', { value: 'UnusableDiskError' });
