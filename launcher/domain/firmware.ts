/**
 * OVMF, the UEFI firmware, as Debian's ovmf package installs it
 * (/usr/share/qemu/firmware/*.json describes the same files). Secure Boot
 * takes the build with SMM and the variable store with Microsoft's keys
 * enrolled (40-edk2-x86_64-secure-enrolled.json), which Debian's and most
 * distros' shims are signed with; without it, the plain build and an empty
 * store. Named explicitly in the domain XML rather than by libvirt's
 * firmware auto-selection, so that what a VM runs is what the probe found.
 */
import { existsSync } from 'node:fs';

const OVMF_DIR = '/usr/share/OVMF';

export interface OvmfFiles {
  /** The firmware code, mapped read-only. */
  code: string;
  /** The template each VM's own variable store is copied from. */
  varsTemplate: string;
}

export function ovmfPaths(secureBoot: boolean): OvmfFiles {
  return secureBoot
    ? { code: `${OVMF_DIR}/OVMF_CODE_4M.ms.fd`, varsTemplate: `${OVMF_DIR}/OVMF_VARS_4M.ms.fd` }
    : { code: `${OVMF_DIR}/OVMF_CODE_4M.fd`, varsTemplate: `${OVMF_DIR}/OVMF_VARS_4M.fd` };
}

/** The files for this mode, and the first one missing, if any. */
export function ovmfFiles(secureBoot: boolean): OvmfFiles & { missing?: string } {
  const files = ovmfPaths(secureBoot);
  const missing = [files.code, files.varsTemplate].find((f) => !existsSync(f));
  return { ...files, ...(missing && { missing }) };
}
