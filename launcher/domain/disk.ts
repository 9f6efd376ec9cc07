/**
 * A VM never writes to the image it boots from: that image is the node
 * admin's, shared by every VM that names it. The launcher checks what the
 * file really is, then gives the VM its own qcow2 overlay in the pod's state
 * directory, whose backing file QEMU opens read-only (qemu-img(1), "create
 * -b"; docs/interop/qcow2.txt, "backing file").
 *
 * The check matters as much as the overlay. The format in the spec comes
 * from the VMI author, so a guest booted from a "raw" image could write a
 * qcow2 header into it naming /dev/sda as its backing file; booted later as
 * qcow2, QEMU would open that file, which no allowed-path check ever saw.
 * So the probed format must be the declared one, and a disk may have
 * neither a backing file nor an external data file (lib/qemu-img.ts).
 */
import { join } from 'node:path';
import { exec } from '../../lib/exec.ts';
import { externalReference, qemuImgInfo } from '../../lib/qemu-img.ts';
import { ErrorCode, VirtnetError } from '../../lib/errors.ts';

/** The overlay of the spec's disk number `index`, in the launcher's state directory. */
export function overlayFile(stateDir: string, index: number): string {
  return join(stateDir, `disk-${index}-overlay.qcow2`);
}

/** Check a disk image and make the VM's overlay over it at `overlay`; returns the overlay's path. */
export async function prepareDiskOverlay(path: string, format: 'qcow2' | 'raw', overlay: string): Promise<string> {
  const info = await qemuImgInfo(path);
  if (info.format !== format) {
    throw new VirtnetError(
      ErrorCode.invalidConfig,
      `disk: "${path}" is a ${info.format || 'unknown'} image, not ${format} as the spec says; ` +
        'a disk is opened only as what it is',
    );
  }
  const external = externalReference(info);
  if (external)
    throw new VirtnetError(ErrorCode.invalidConfig, `disk: "${path}" ${external}; a disk image must be self-contained`);
  await exec(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', format, '-b', path, '--', overlay]);
  return overlay;
}
