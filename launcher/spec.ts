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
  multus?: { networkName: string; default?: boolean };
}

export type BootSpec =
  | { kernel: string; initrd?: string; cmdline?: string }
  | { disk: string; format: 'qcow2' | 'raw' };

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

type Obj = Record<string, unknown>;
function need(ok: boolean, field: string, rule: string): void {
  if (!ok) throw new VirtnetError(ErrorCode.invalidConfig, `spec ${field}: ${rule}`);
}

function checkNamedList(v: unknown, field: string): void {
  need(Array.isArray(v), field, 'must be a list');
  const length = (v as unknown[]).length;
  need(length <= MAX_DEVICES, field, `must have at most ${MAX_DEVICES} items (has ${length})`);
  (v as unknown[]).forEach((e, i) => need(isObj(e) && typeof e.name === 'string', `${field}[${i}]`, 'must be an object with a string name'));
}

/** A positive integer up to `max`: it reaches the domain XML and QEMU's command line as written. */
function checkCount(v: unknown, field: string, max: number, what: string): void {
  need(Number.isInteger(v) && (v as number) > 0, field, `must be a positive integer (is ${v === undefined ? 'missing' : showValue(v)})`);
  need((v as number) <= max, field, `must be at most ${max}, ${what} (is ${showValue(v)})`);
}

function checkBoot(v: unknown): void {
  need(isObj(v), 'boot', 'must be an object');
  const b = v as Obj;
  const str = (k: string, required: boolean) => need(required ? typeof b[k] === 'string' : b[k] === undefined || typeof b[k] === 'string', `boot.${k}`, 'must be a string');
  if ('kernel' in b) {
    str('kernel', true);
    str('initrd', false);
    str('cmdline', false);
  } else {
    str('disk', true);
    need(b.format === 'qcow2' || b.format === 'raw', 'boot.format', `${JSON.stringify(b.format)} must be qcow2 or raw`);
  }
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
  for (const k of ['hostname', 'subdomain']) need(v[k] === undefined || typeof v[k] === 'string', k, 'must be a string');
  checkCount(v.memoryMiB, 'memoryMiB', MAX_MEMORY_MIB, '16 TiB');
  checkCount(v.cpus, 'cpus', MAX_VCPUS, 'the most vCPUs a VM gets');
  checkNamedList(v.interfaces, 'interfaces');
  checkNamedList(v.networks, 'networks');
  checkBoot(v.boot);
  need(v.serviceCIDRs === undefined || (Array.isArray(v.serviceCIDRs) && v.serviceCIDRs.every((c) => typeof c === 'string')), 'serviceCIDRs', 'must be a list of strings');
  return v as unknown as LauncherSpec;
}

/** The node files a spec's VM opens, with their fields: what the allowed host paths guard. */
function bootFiles(spec: LauncherSpec): Array<[field: string, path: string]> {
  const b = spec.boot;
  const files: Array<[string, string | undefined]> = 'kernel' in b ? [['boot.kernel', b.kernel], ['boot.initrd', b.initrd]] : [['boot.disk', b.disk]];
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
  if (allowedDirs.length === 0) throw new VirtnetError(ErrorCode.invalidConfig, '--allowed-host-path: at least one directory is required (/ allows every file)');
  for (const [field, path] of bootFiles(spec)) {
    const problem = hostPathProblem(path, allowedDirs);
    if (problem) throw new VirtnetError(ErrorCode.invalidConfig, `spec ${field}: ${problem}`);
  }
  return spec;
}
