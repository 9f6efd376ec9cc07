/**
 * What a VMI boots from on a standalone node. virtnet up runs local files:
 * a kernel (spec.domain.firmware.kernelBoot.host, virtnet's extension) or a
 * disk image (a hostDisk volume). Sources that need a cluster or a registry
 * (containerDisk, cloud-init, PVCs, DataVolumes) are valid spec but cannot
 * run here, and say so. A VMI with no boot source at all gets the project's
 * test guest, built on first use.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { exec } from '../../lib/exec.ts';
import type { BootSpec } from '../../launcher/spec.ts';
import type { Problem } from '../api/manifests.ts';

export const TEST_GUEST_CMDLINE = 'console=ttyS0 quiet panic=-1';

interface BootFields {
  domain: { firmware?: { kernelBoot?: { kernelArgs?: string; host?: { kernelPath: string; initrdPath?: string } } }; devices: { disks?: Array<{ name: string; bootOrder?: number }> } };
  volumes?: Array<Record<string, any> & { name: string }>;
}

export type BootChoice = { boot: BootSpec; testGuest: false } | { testGuest: true; cmdline: string };

/** QEMU's qcow2 magic, "QFI\xfb" (docs/interop/qcow2.txt); anything else boots as raw. */
function imageFormat(path: string): 'qcow2' | 'raw' {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(4);
    readSync(fd, head, 0, 4, 0);
    return head.equals(Buffer.from([0x51, 0x46, 0x49, 0xfb])) ? 'qcow2' : 'raw';
  } finally {
    closeSync(fd);
  }
}

function pathProblem(path: string, field: string): Problem | undefined {
  return path.startsWith('/') ? undefined : { path: field, rule: `${path} must be an absolute path` };
}

function localFileProblem(path: string, field: string): Problem | undefined {
  const relative = pathProblem(path, field);
  if (relative) return relative;
  if (!existsSync(path)) return { path: field, rule: `${path} does not exist` };
  if (!statSync(path).isFile()) return { path: field, rule: `${path} is not a regular file` };
  return undefined;
}

const UNUSABLE = ['containerDisk', 'cloudInitNoCloud', 'cloudInitConfigDrive', 'persistentVolumeClaim', 'dataVolume', 'ephemeral', 'emptyDisk', 'secret', 'configMap', 'serviceAccount', 'sysprep', 'downwardAPI', 'downwardMetrics', 'memoryDump'];

/**
 * The boot source of one VMI spec; `base` is its field path ("spec" or
 * "spec.template.spec"). The cluster controller passes checkFiles: false:
 * the files live on the nodes, not beside it.
 */
export function chooseBoot(spec: BootFields, base: string, o: { checkFiles?: boolean } = {}): { choice?: BootChoice; problems: Problem[] } {
  const fileProblem = o.checkFiles === false ? pathProblem : localFileProblem;
  const problems: Problem[] = [];
  (spec.volumes ?? []).forEach((v, i) => {
    const source = UNUSABLE.find((k) => k in v);
    if (source) problems.push({ path: `${base}.volumes[${i}].${source}`, rule: `virtnet up runs local files only and cannot provide ${source} volume "${v.name}"; use a hostDisk volume or kernelBoot.host` });
  });
  const kernelBoot = spec.domain.firmware?.kernelBoot;
  if (kernelBoot?.host) {
    const field = `${base}.domain.firmware.kernelBoot.host`;
    const k = fileProblem(kernelBoot.host.kernelPath, `${field}.kernelPath`);
    const r = kernelBoot.host.initrdPath === undefined ? undefined : fileProblem(kernelBoot.host.initrdPath, `${field}.initrdPath`);
    problems.push(...[k, r].flatMap((p) => p ?? []));
    if (problems.length) return { problems };
    return { problems, choice: { testGuest: false, boot: { kernel: kernelBoot.host.kernelPath, ...(kernelBoot.host.initrdPath && { initrd: kernelBoot.host.initrdPath }), cmdline: kernelBoot.kernelArgs ?? TEST_GUEST_CMDLINE } } };
  }
  if (kernelBoot) problems.push({ path: `${base}.domain.firmware.kernelBoot`, rule: 'virtnet up needs kernelBoot.host (a kernel on this machine); kernelBoot.container needs a registry' });
  const disks = [...(spec.domain.devices.disks ?? [])].sort((a, b) => (a.bootOrder ?? 1e9) - (b.bootOrder ?? 1e9));
  for (const disk of disks) {
    const i = (spec.volumes ?? []).findIndex((v) => v.name === disk.name);
    const host = spec.volumes?.[i]?.hostDisk as { path?: string } | undefined;
    if (!host?.path) continue;
    const p = fileProblem(host.path, `${base}.volumes[${i}].hostDisk.path`);
    if (p) problems.push(p);
    if (problems.length) return { problems };
    return { problems, choice: { testGuest: false, boot: { disk: host.path, format: o.checkFiles === false ? (host.path.endsWith('.qcow2') ? 'qcow2' : 'raw') : imageFormat(host.path) } } };
  }
  if (problems.length) return { problems };
  return { problems, choice: { testGuest: true, cmdline: kernelBoot?.kernelArgs ?? TEST_GUEST_CMDLINE } };
}

/** Build (or reuse, cached by its recipe hash) the test guest; returns its files. */
export async function testGuest(projectDir: string): Promise<{ kernel: string; initrd: string }> {
  const r = await exec(['bash', join(projectDir, 'scripts', 'build-guest.sh')], { timeoutMs: 900_000 });
  const dir = r.stdout.trim().split('\n').at(-1)!;
  return { kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.img') };
}
