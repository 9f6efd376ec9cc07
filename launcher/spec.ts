/**
 * What a launcher is asked to run: the parts of a VirtualMachineInstance that
 * matter inside its pod, with KubeVirt's field names
 * (spec.domain.devices.interfaces, spec.networks). The controller validates
 * the full VMI; the launcher trusts this shape but re-checks what reaches a
 * command line or a path.
 */
import { ErrorCode, VirtnetError } from '../lib/errors.ts';
import { hostPathProblem } from '../lib/host-paths.ts';
import { showValue } from '../lib/show.ts';
import { isObj } from '../lib/json.ts';

export interface PortSpec {
  name?: string;
  port: number;
  protocol?: 'TCP' | 'UDP';
}

/** KubeVirt's portRanges (masquerade only): start..end inclusive. */
export interface PortRangeSpec {
  protocol?: 'TCP' | 'UDP';
  start: number;
  end: number;
}

export interface DhcpOptionsSpec {
  bootFileName?: string;
  tftpServerName?: string;
  ntpServers?: string[];
  privateOptions?: Array<{ option: number; value: string }>;
}

export interface InterfaceSpec {
  name: string;
  bridge?: Record<string, never>;
  masquerade?: Record<string, never>;
  macAddress?: string;
  /** libvirt's model names; KubeVirt's allowed set (pkg/network/admitter). */
  model?: 'virtio' | 'e1000' | 'e1000e' | 'igb' | 'ne2k_pci' | 'pcnet' | 'rtl8139';
  pciAddress?: string;
  bootOrder?: number;
  ports?: PortSpec[];
  portRanges?: PortRangeSpec[];
  dhcpOptions?: DhcpOptionsSpec;
  state?: 'up' | 'down' | 'absent';
  /** virtnet's own: lowers the NIC's MTU below the pod NIC's; never raises it. */
  mtu?: number;
}

export interface NetworkSpec {
  name: string;
  pod?: { vmNetworkCIDR?: string; vmIPv6NetworkCIDR?: string };
  multus?: { networkName: string; default?: boolean; ips?: string[] };
}

/** A kernel the VM boots directly (the test guest, kernelBoot.host). */
export interface KernelBootSpec {
  kernel: string;
  initrd?: string;
  cmdline?: string;
}

/**
 * Firmware that boots the VM's disks by their boot order: SeaBIOS, or OVMF
 * for UEFI (KubeVirt's firmware.bootloader.bios / .efi; secureBoot as there).
 */
export interface FirmwareBootSpec {
  firmware: 'bios' | 'efi';
  secureBoot?: boolean;
}

export type BootSpec = KernelBootSpec | FirmwareBootSpec;

export const DISK_BUSES = ['virtio', 'sata', 'scsi', 'usb'] as const;

/**
 * One VM disk backed by a node file: a hostDisk, or a containerDisk from the
 * node's image cache. The VM writes to an overlay of its own, never to the
 * file (domain/disk.ts).
 */
export interface DiskSpec {
  /** The VMI disk (and volume) name. */
  name: string;
  file: string;
  format: 'qcow2' | 'raw';
  device: 'disk' | 'cdrom';
  bus: (typeof DISK_BUSES)[number];
  bootOrder?: number;
}

/**
 * A cloud-init volume: the launcher builds its seed, because the
 * network-config it renders for the user needs the NICs' plan (MACs, MTUs,
 * what DHCP hands out). User data travels as base64: its bytes are the
 * user's, verbatim (gzip'd user-data is valid).
 */
export interface CloudInitSpec {
  kind: 'noCloud' | 'configDrive';
  disk: Omit<DiskSpec, 'file' | 'format'>;
  /** The VMI's uid: cloud-init runs per-instance modules once per instance-id. */
  instanceId: string;
  hostname: string;
  userDataBase64?: string;
  /** The user's own networkData, left as it is; when absent virtnet renders one from the NICs. */
  networkDataBase64?: string;
}

export interface LauncherSpec {
  name: string;
  namespace: string;
  hostname?: string;
  subdomain?: string;
  memoryMiB: number;
  cpus: number;
  interfaces: InterfaceSpec[];
  networks: NetworkSpec[];
  boot: BootSpec;
  disks?: DiskSpec[];
  cloudInit?: CloudInitSpec;
  /** The cluster's service CIDRs, which a masquerade vmNetworkCIDR must not overlap (node configuration). */
  serviceCIDRs?: string[];
}

/**
 * The largest VM a launcher starts. Neither KubeVirt nor the launcher's XML
 * bounds these, but QEMU does: q35's max_cpus was 288 up to pc-q35-8.0 and
 * is 1024 since 8.1 (hw/i386/pc_q35.c), and more than 255 vCPUs need x2APIC
 * with interrupt remapping. 512 stays inside what current machine types take,
 * far above any VM on one node, and keeps the count a small integer wherever
 * it is printed (<vcpu>1e+21</vcpu> is not a number libvirt reads).
 */
export const MAX_VCPUS = 512;
/**
 * 16 TiB of guest memory: beyond the RAM of any node virtnet targets, and
 * far below what a double holds exactly, so MiB counts stay safe integers.
 */
export const MAX_MEMORY_MIB = 16 * 2 ** 20;
/** Interfaces and networks: the VMI schema's bound (controller/api/schema-network.ts BOUNDS.devices). */
export const MAX_DEVICES = 256;
/** libvirt's boot order is an unsigned int; KubeVirt's a uint: far above any VM's device count. */
export const MAX_BOOT_ORDER = 65535;

type Obj = Record<string, unknown>;
function need(ok: boolean, field: string, rule: string): void {
  if (!ok) throw new VirtnetError(ErrorCode.invalidConfig, `spec ${field}: ${rule}`);
}

function checkNamedList(v: unknown, field: string): void {
  need(Array.isArray(v), field, 'must be a list');
  const length = (v as unknown[]).length;
  need(length <= MAX_DEVICES, field, `must have at most ${MAX_DEVICES} items (has ${length})`);
  (v as unknown[]).forEach((e, i) =>
    need(isObj(e) && typeof e.name === 'string', `${field}[${i}]`, 'must be an object with a string name'),
  );
}

/** A positive integer up to `max`: it reaches the domain XML and QEMU's command line as written. */
function checkCount(v: unknown, field: string, max: number, what: string): void {
  need(
    Number.isInteger(v) && (v as number) > 0,
    field,
    `must be a positive integer (is ${v === undefined ? 'missing' : showValue(v)})`,
  );
  need((v as number) <= max, field, `must be at most ${max}, ${what} (is ${showValue(v)})`);
}

function checkBoot(v: unknown): void {
  need(isObj(v), 'boot', 'must be an object');
  const b = v as Obj;
  const str = (k: string, required: boolean) =>
    need(
      required ? typeof b[k] === 'string' : b[k] === undefined || typeof b[k] === 'string',
      `boot.${k}`,
      'must be a string',
    );
  if ('kernel' in b) {
    str('kernel', true);
    str('initrd', false);
    str('cmdline', false);
  } else {
    need(
      b.firmware === 'bios' || b.firmware === 'efi',
      'boot.firmware',
      `${showValue(b.firmware)} must be bios or efi (or give boot.kernel)`,
    );
    need(b.secureBoot === undefined || typeof b.secureBoot === 'boolean', 'boot.secureBoot', 'must be a boolean');
  }
}

/** A disk's device fields: they choose libvirt elements and attributes. */
function checkDiskDevice(d: Obj, field: string): void {
  need(typeof d.name === 'string' && d.name !== '', `${field}.name`, 'must be a non-empty string');
  need(d.device === 'disk' || d.device === 'cdrom', `${field}.device`, `${showValue(d.device)} must be disk or cdrom`);
  need(
    (DISK_BUSES as readonly unknown[]).includes(d.bus),
    `${field}.bus`,
    `${showValue(d.bus)} must be one of ${DISK_BUSES.join(', ')}`,
  );
  need(
    d.bootOrder === undefined ||
      (Number.isInteger(d.bootOrder) && (d.bootOrder as number) > 0 && (d.bootOrder as number) <= MAX_BOOT_ORDER),
    `${field}.bootOrder`,
    `${showValue(d.bootOrder)} must be an integer from 1 to ${MAX_BOOT_ORDER}`,
  );
}

function checkDisks(v: unknown): void {
  if (v === undefined) return;
  need(Array.isArray(v) && v.length <= MAX_DEVICES, 'disks', `must be a list of at most ${MAX_DEVICES} disks`);
  (v as unknown[]).forEach((d, i) => {
    need(isObj(d), `disks[${i}]`, 'must be an object');
    const disk = d as Obj;
    checkDiskDevice(disk, `disks[${i}]`);
    need(typeof disk.file === 'string', `disks[${i}].file`, 'must be a string');
    need(
      disk.format === 'qcow2' || disk.format === 'raw',
      `disks[${i}].format`,
      `${showValue(disk.format)} must be qcow2 or raw`,
    );
  });
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/u;

function checkCloudInit(v: unknown): void {
  if (v === undefined) return;
  need(isObj(v), 'cloudInit', 'must be an object');
  const c = v as Obj;
  need(
    c.kind === 'noCloud' || c.kind === 'configDrive',
    'cloudInit.kind',
    `${showValue(c.kind)} must be noCloud or configDrive`,
  );
  need(isObj(c.disk), 'cloudInit.disk', 'must be an object');
  checkDiskDevice(c.disk as Obj, 'cloudInit.disk');
  for (const k of ['instanceId', 'hostname'])
    need(typeof c[k] === 'string' && c[k] !== '', `cloudInit.${k}`, 'must be a non-empty string');
  for (const k of ['userDataBase64', 'networkDataBase64'])
    need(
      c[k] === undefined || (typeof c[k] === 'string' && BASE64.test(c[k] as string)),
      `cloudInit.${k}`,
      'must be base64',
    );
}

/**
 * The spec file checked at the process boundary: the node runtime or a pod
 * annotation wrote it, and a launcher must not run on a shape it does not
 * know. Fields deeper than the NICs' names are re-checked where they reach
 * a command line or a config file (the plan and the renderers).
 */
export function parseLauncherSpec(value: unknown): LauncherSpec {
  need(isObj(value), '', 'must be a JSON object');
  const v = value as Obj;
  for (const k of ['name', 'namespace']) need(typeof v[k] === 'string' && v[k] !== '', k, 'must be a non-empty string');
  for (const k of ['hostname', 'subdomain'])
    need(v[k] === undefined || typeof v[k] === 'string', k, 'must be a string');
  checkCount(v.memoryMiB, 'memoryMiB', MAX_MEMORY_MIB, '16 TiB');
  checkCount(v.cpus, 'cpus', MAX_VCPUS, 'the most vCPUs a VM gets');
  checkNamedList(v.interfaces, 'interfaces');
  checkNamedList(v.networks, 'networks');
  checkBoot(v.boot);
  checkDisks(v.disks);
  checkCloudInit(v.cloudInit);
  need(
    v.serviceCIDRs === undefined ||
      (Array.isArray(v.serviceCIDRs) && v.serviceCIDRs.every((c) => typeof c === 'string')),
    'serviceCIDRs',
    'must be a list of strings',
  );
  return v as unknown as LauncherSpec;
}

/** The node files a spec's VM opens, with their fields: what the allowed host paths guard. */
export function bootFiles(spec: LauncherSpec): Array<[field: string, path: string]> {
  const b = spec.boot;
  const files: Array<[string, string | undefined]> =
    'kernel' in b
      ? [
          ['boot.kernel', b.kernel],
          ['boot.initrd', b.initrd],
        ]
      : [];
  (spec.disks ?? []).forEach((d, i) => files.push([`disks[${i}].file`, d.file]));
  return files.flatMap(([f, p]) => (p === undefined ? [] : [[f, p] as [string, string]]));
}

/**
 * A launcher spec from its text (a pod annotation, spec.json), held to the
 * node's allowed boot directories: what the kubelet role and the launcher
 * both check, the launcher last, right before QEMU opens the files.
 */
export function launcherSpecFrom(text: string, allowedDirs: readonly string[], source: string): LauncherSpec {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new VirtnetError(ErrorCode.decodeFailure, `${source}: not JSON (${(e as Error).message})`);
  }
  const spec = parseLauncherSpec(json);
  if (allowedDirs.length === 0)
    throw new VirtnetError(
      ErrorCode.invalidConfig,
      '--allowed-host-path: at least one directory is required (/ allows every file)',
    );
  for (const [field, path] of bootFiles(spec)) {
    const problem = hostPathProblem(path, allowedDirs);
    if (problem) throw new VirtnetError(ErrorCode.invalidConfig, `spec ${field}: ${problem}`);
  }
  return spec;
}
