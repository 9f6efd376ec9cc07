/**
 * What qemu-img finds in an image file (qemu-img(1) "info"; it opens the
 * image alone, never its backing chain). Both the image cache and the
 * launcher hold a disk to the same rule: QEMU may open only the file it is
 * given, so neither a backing file nor an external data file (qcow2's
 * data-file, docs/interop/qcow2.txt "External data file") is accepted: either
 * would make a VM read a host file that no allowed-path check ever saw.
 */
import { exec } from './exec.ts';

export interface ImageFileInfo {
  /** qemu-img's own probe, never a declared format. */
  format: string;
  virtualSize?: number;
  backingFile?: string;
  dataFile?: string;
}

interface QemuImgJson {
  format?: unknown;
  'virtual-size'?: unknown;
  'backing-filename'?: unknown;
  'full-backing-filename'?: unknown;
  'format-specific'?: { data?: { 'data-file'?: unknown } };
}

/** qemu-img info of `path`; an ExecError (argv, exit code, stderr) when it does not open. */
export async function qemuImgInfo(path: string, timeoutMs = 120_000): Promise<ImageFileInfo> {
  const { stdout } = await exec(['qemu-img', 'info', '--output=json', '--', path], { timeoutMs });
  const j = JSON.parse(stdout) as QemuImgJson;
  const backing = j['backing-filename'] ?? j['full-backing-filename'];
  const dataFile = j['format-specific']?.data?.['data-file'];
  return {
    format: typeof j.format === 'string' ? j.format : '',
    ...(typeof j['virtual-size'] === 'number' && { virtualSize: j['virtual-size'] }),
    ...(backing !== undefined && { backingFile: String(backing) }),
    ...(dataFile !== undefined && { dataFile: String(dataFile) }),
  };
}

/** Why the image is not self-contained (a backing file, an external data file), or undefined. */
export function externalReference(info: ImageFileInfo): string | undefined {
  if (info.backingFile !== undefined) return `has a backing file (${info.backingFile})`;
  if (info.dataFile !== undefined) return `has an external data file (${info.dataFile})`;
  return undefined;
}
