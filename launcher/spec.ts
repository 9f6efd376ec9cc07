/**
 * What a launcher is asked to run: the parts of a VirtualMachineInstance that
 * matter inside its pod, with KubeVirt's field names
 * (spec.domain.devices.interfaces, spec.networks). The controller validates
 * the full VMI; the launcher and the kubelet role check the whole spec again
 * at their process boundary (parseLauncherSpec: every field's type, range
 * and enum, each error naming the field, the value and the rule), and the
 * plan re-checks what reaches a command line or a path.
 */
import { ErrorCode, VirtnetError } from '../lib/errors.ts';
import { hostPathProblem } from '../lib/host-paths.ts';
import { showValue } from '../lib/show.ts';
import { isObj } from '../lib/json.ts';
import type { NicModel } from './nic.ts';

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
  model?: NicModel;
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

// ---------------------------------------------------------------- NICs

/** The highest TCP/UDP port; 0 is no port. */
const PORT_MAX = 65535;
/** Forwarded ports of one interface: the VMI schema's bound (controller/api/schema-network.ts BOUNDS.ports). */
const MAX_PORTS = 1024;
/** RFC 791's minimum IPv4 MTU and the kernel's ETH_MAX_MTU (as controller/api/rules-interfaces.ts). */
const MTU_RANGE = [68, 65535] as const;
/** The private-use DHCP options (RFC 3942), the only codes privateOptions may carry. */
const PRIVATE_OPTIONS = [224, 254] as const;
const NIC_MODELS: ReadonlyArray<NonNullable<InterfaceSpec['model']>> = [
  'virtio',
  'e1000',
  'e1000e',
  'igb',
  'ne2k_pci',
  'pcnet',
  'rtl8139',
];
const NIC_STATES: ReadonlyArray<NonNullable<InterfaceSpec['state']>> = ['up', 'down', 'absent'];
const PROTOCOLS: ReadonlyArray<NonNullable<PortSpec['protocol']>> = ['TCP', 'UDP'];

function objectAt(v: unknown, field: string): Obj {
  if (!isObj(v)) throw new VirtnetError(ErrorCode.invalidConfig, `spec ${field}: ${showValue(v)} must be an object`);
  return v;
}

function optString(v: unknown, field: string): string | undefined {
  need(v === undefined || typeof v === 'string', field, `${showValue(v)} must be a string`);
  return typeof v === 'string' ? v : undefined;
}

/** An integer in [min, max], or undefined when absent and not required. */
function optInteger(v: unknown, field: string, [min, max]: readonly [number, number]): number | undefined {
  if (v === undefined) return undefined;
  const ok = typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
  need(ok, field, `${showValue(v)} must be an integer from ${min} to ${max}`);
  return v as number;
}

function integer(v: unknown, field: string, range: readonly [number, number]): number {
  need(v !== undefined, field, `is required (an integer from ${range[0]} to ${range[1]})`);
  return optInteger(v, field, range)!;
}

/** One of `values`, typed as they are, or undefined when absent. */
function optOneOf<T extends string>(v: unknown, values: readonly T[], field: string): T | undefined {
  if (v === undefined) return undefined;
  const found = values.find((x) => x === v);
  need(found !== undefined, field, `${showValue(v)} must be one of ${values.join(', ')}`);
  return found;
}

function optList(v: unknown, field: string, max: number): unknown[] {
  if (v === undefined) return [];
  need(Array.isArray(v), field, `${showValue(v)} must be a list`);
  const items = v as unknown[];
  need(items.length <= max, field, `must have at most ${max} items (has ${items.length})`);
  return items;
}

/** bridge: {} and masquerade: {}: KubeVirt's empty binding structs. */
function emptyBinding(v: unknown, field: string): Record<string, never> | undefined {
  if (v === undefined) return undefined;
  need(isObj(v) && Object.keys(v).length === 0, field, `${showValue(v)} must be {}`);
  return {};
}

function portOf(v: unknown, at: string): PortSpec {
  const p = objectAt(v, at);
  const name = optString(p.name, `${at}.name`);
  const protocol = optOneOf(p.protocol, PROTOCOLS, `${at}.protocol`);
  return {
    ...(name !== undefined && { name }),
    port: integer(p.port, `${at}.port`, [1, PORT_MAX]),
    ...(protocol && { protocol }),
  };
}

function portRangeOf(v: unknown, at: string): PortRangeSpec {
  const r = objectAt(v, at);
  const protocol = optOneOf(r.protocol, PROTOCOLS, `${at}.protocol`);
  const start = integer(r.start, `${at}.start`, [1, PORT_MAX]);
  const end = integer(r.end, `${at}.end`, [1, PORT_MAX]);
  need(start <= end, `${at}.end`, `${end} must not be below start ${start}`);
  return { ...(protocol && { protocol }), start, end };
}

function dhcpOptionsOf(v: unknown, at: string): DhcpOptionsSpec {
  const d = objectAt(v, at);
  const bootFileName = optString(d.bootFileName, `${at}.bootFileName`);
  const tftpServerName = optString(d.tftpServerName, `${at}.tftpServerName`);
  const ntp = optList(d.ntpServers, `${at}.ntpServers`, MAX_DEVICES);
  const ntpServers = ntp.map((x, i) => optString(x, `${at}.ntpServers[${i}]`) ?? '');
  const privateOptions = optList(d.privateOptions, `${at}.privateOptions`, MAX_DEVICES).map((x, i) => {
    const o = objectAt(x, `${at}.privateOptions[${i}]`);
    const option = integer(o.option, `${at}.privateOptions[${i}].option`, PRIVATE_OPTIONS);
    need(typeof o.value === 'string', `${at}.privateOptions[${i}].value`, `${showValue(o.value)} must be a string`);
    return { option, value: String(o.value) };
  });
  return {
    ...(bootFileName !== undefined && { bootFileName }),
    ...(tftpServerName !== undefined && { tftpServerName }),
    ...(d.ntpServers !== undefined && { ntpServers }),
    ...(d.privateOptions !== undefined && { privateOptions }),
  };
}

/** The binding and the fields the plan reads; keys it does not read (acpiIndex, tag) are left out. */
function interfaceOf(v: unknown, at: string): InterfaceSpec {
  const i = objectAt(v, at);
  const bridge = emptyBinding(i.bridge, `${at}.bridge`);
  const masquerade = emptyBinding(i.masquerade, `${at}.masquerade`);
  need(
    (bridge === undefined) !== (masquerade === undefined),
    at,
    'must have exactly one binding: bridge or masquerade',
  );
  const macAddress = optString(i.macAddress, `${at}.macAddress`);
  const model = optOneOf(i.model, NIC_MODELS, `${at}.model`);
  const pciAddress = optString(i.pciAddress, `${at}.pciAddress`);
  const bootOrder = optInteger(i.bootOrder, `${at}.bootOrder`, [1, MAX_BOOT_ORDER]);
  const state = optOneOf(i.state, NIC_STATES, `${at}.state`);
  const mtu = optInteger(i.mtu, `${at}.mtu`, MTU_RANGE);
  const ports = optList(i.ports, `${at}.ports`, MAX_PORTS).map((p, k) => portOf(p, `${at}.ports[${k}]`));
  const ranges = optList(i.portRanges, `${at}.portRanges`, MAX_DEVICES).map((r, k) =>
    portRangeOf(r, `${at}.portRanges[${k}]`),
  );
  return {
    name: String(i.name),
    ...(bridge && { bridge }),
    ...(masquerade && { masquerade }),
    ...(macAddress !== undefined && { macAddress }),
    ...(model && { model }),
    ...(pciAddress !== undefined && { pciAddress }),
    ...(bootOrder !== undefined && { bootOrder }),
    ...(i.ports !== undefined && { ports }),
    ...(i.portRanges !== undefined && { portRanges: ranges }),
    ...(i.dhcpOptions !== undefined && { dhcpOptions: dhcpOptionsOf(i.dhcpOptions, `${at}.dhcpOptions`) }),
    ...(state && { state }),
    ...(mtu !== undefined && { mtu }),
  };
}

/** Every interface checked, and each backed by a network of its name (KubeVirt pairs them by name). */
function interfacesOf(items: unknown[], networks: NetworkSpec[]): InterfaceSpec[] {
  const names = new Set(networks.map((n) => n.name));
  return items.map((v, k) => {
    const iface = interfaceOf(v, `interfaces[${k}]`);
    need(names.has(iface.name), `interfaces[${k}].name`, `${showValue(iface.name)} has no network of that name`);
    return iface;
  });
}

function podSourceOf(v: unknown, at: string): NonNullable<NetworkSpec['pod']> {
  const p = objectAt(v, at);
  const v4 = optString(p.vmNetworkCIDR, `${at}.vmNetworkCIDR`);
  const v6 = optString(p.vmIPv6NetworkCIDR, `${at}.vmIPv6NetworkCIDR`);
  return { ...(v4 !== undefined && { vmNetworkCIDR: v4 }), ...(v6 !== undefined && { vmIPv6NetworkCIDR: v6 }) };
}

function multusSourceOf(v: unknown, at: string): NonNullable<NetworkSpec['multus']> {
  const m = objectAt(v, at);
  const networkName = optString(m.networkName, `${at}.networkName`) ?? '';
  need(networkName !== '', `${at}.networkName`, 'must be a non-empty string ("name" or "namespace/name")');
  need(m.default === undefined || typeof m.default === 'boolean', `${at}.default`, 'must be a boolean');
  const ips = optList(m.ips, `${at}.ips`, MAX_DEVICES).map((x, i) => optString(x, `${at}.ips[${i}]`) ?? '');
  return {
    networkName,
    ...(m.default === true && { default: true }),
    ...(m.ips !== undefined && { ips }),
  };
}

function networkOf(v: unknown, at: string): NetworkSpec {
  const n = objectAt(v, at);
  need((n.pod === undefined) !== (n.multus === undefined), at, 'must have exactly one source: pod or multus');
  return {
    name: String(n.name),
    ...(n.pod !== undefined && { pod: podSourceOf(n.pod, `${at}.pod`) }),
    ...(n.multus !== undefined && { multus: multusSourceOf(n.multus, `${at}.multus`) }),
  };
}

function networksOf(items: unknown[]): NetworkSpec[] {
  return items.map((v, k) => networkOf(v, `networks[${k}]`));
}

/**
 * The spec file checked at the process boundary: the node runtime or a pod
 * annotation wrote it, and a launcher must not run on a shape it does not
 * know. The NICs are rebuilt from their checked fields (interfacesOf,
 * networksOf), so what comes back is typed by what was checked.
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
  const networks = networksOf(v.networks as unknown[]);
  const interfaces = interfacesOf(v.interfaces as unknown[], networks);
  checkBoot(v.boot);
  checkDisks(v.disks);
  checkCloudInit(v.cloudInit);
  need(
    v.serviceCIDRs === undefined ||
      (Array.isArray(v.serviceCIDRs) && v.serviceCIDRs.every((c) => typeof c === 'string')),
    'serviceCIDRs',
    'must be a list of strings',
  );
  return { ...(v as unknown as LauncherSpec), interfaces, networks };
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
