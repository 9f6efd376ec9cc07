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
import {
  dns1123LabelProblem,
  dns1123SubdomainProblem,
  MAX_VMI_NAME,
  macAddressProblem,
  pciAddressProblem,
} from '../lib/names.ts';
import { showValue } from '../lib/show.ts';
import { isObj } from '../lib/json.ts';
import type { NicModel } from './nic.ts';
import { instanceIdProblem, seedHostnameProblem } from './cloudinit/seed.ts';

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
  /**
   * Bumped by whoever rewrites spec.json for a running launcher (NIC hotplug, unplug, link state): the
   * launcher applies a spec whose generation is above the one it has applied, and reports it in its status
   * as observedGeneration. Absent means 0.
   */
  generation?: number;
  /** Empty PCIe root ports reserved at boot for hot-plugged NICs (launcher/domain/xml.ts); absent: the default. */
  hotplugPorts?: number;
}

/**
 * An interface's name, as the VMI API admits it (KubeVirt's netiface rule; controller/api/rules-interfaces.ts):
 * it names the NIC's libvirt alias and its device file in the state directory, so it is checked here too.
 */
export const INTERFACE_NAME = /^[A-Za-z0-9_-]{1,253}$/u;

/** Generations count spec rewrites of one running VM: 2^31 − 1 leaves room for any real number of them. */
export const MAX_GENERATION = 2 ** 31 - 1;

/** q35 has 32 slots on pcie.0, one root port each, and every cold device takes one; 16 spare leaves room. */
export const MAX_HOTPLUG_PORTS = 16;

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
/** Refuses the spec unless `ok`; an assertion, so that the value checked is typed by the check after it. */
function need(ok: unknown, field: string, rule: string): asserts ok {
  if (!ok) throw new VirtnetError(ErrorCode.invalidConfig, `spec ${field}: ${rule}`);
}

function checkNamedList(v: unknown, field: string): unknown[] {
  need(Array.isArray(v), field, 'must be a list');
  need(v.length <= MAX_DEVICES, field, `must have at most ${MAX_DEVICES} items (has ${v.length})`);
  v.forEach((e, i) =>
    need(isObj(e) && typeof e.name === 'string', `${field}[${i}]`, 'must be an object with a string name'),
  );
  return v;
}

/** A positive integer up to `max`: it reaches the domain XML and QEMU's command line as written. */
function count(v: unknown, field: string, max: number, what: string): number {
  need(
    typeof v === 'number' && Number.isInteger(v) && v > 0,
    field,
    `must be a positive integer (is ${v === undefined ? 'missing' : showValue(v)})`,
  );
  need(v <= max, field, `must be at most ${max}, ${what} (is ${showValue(v)})`);
  return v;
}

/** One of `values`, typed as they are; `rule` says which, after the value given. */
function oneOf<T extends string>(v: unknown, values: readonly T[], field: string, rule: string): T {
  const found = values.find((x) => x === v);
  need(found !== undefined, field, `${showValue(v)} ${rule}`);
  return found;
}

function bootOf(v: unknown): BootSpec {
  need(isObj(v), 'boot', 'must be an object');
  const str = (k: string) => {
    const x = v[k];
    need(typeof x === 'string', `boot.${k}`, 'must be a string');
    return x;
  };
  const opt = (k: string) => (v[k] === undefined ? undefined : str(k));
  if ('kernel' in v) {
    const [kernel, initrd, cmdline] = [str('kernel'), opt('initrd'), opt('cmdline')];
    return { kernel, ...(initrd !== undefined && { initrd }), ...(cmdline !== undefined && { cmdline }) };
  }
  const firmware = oneOf(v.firmware, ['bios', 'efi'], 'boot.firmware', 'must be bios or efi (or give boot.kernel)');
  const secureBoot = v.secureBoot;
  need(secureBoot === undefined || typeof secureBoot === 'boolean', 'boot.secureBoot', 'must be a boolean');
  return { firmware, ...(secureBoot !== undefined && { secureBoot }) };
}

/** A disk's device fields: they choose libvirt elements and attributes. */
function diskDeviceOf(v: unknown, field: string): Omit<DiskSpec, 'file' | 'format'> {
  need(isObj(v), field, 'must be an object');
  need(typeof v.name === 'string' && v.name !== '', `${field}.name`, 'must be a non-empty string');
  const device = oneOf(v.device, ['disk', 'cdrom'], `${field}.device`, 'must be disk or cdrom');
  const bus = oneOf(v.bus, DISK_BUSES, `${field}.bus`, `must be one of ${DISK_BUSES.join(', ')}`);
  const bootOrder = optInteger(v.bootOrder, `${field}.bootOrder`, [1, MAX_BOOT_ORDER]);
  return { name: v.name, device, bus, ...(bootOrder !== undefined && { bootOrder }) };
}

function disksOf(v: unknown): DiskSpec[] | undefined {
  if (v === undefined) return undefined;
  need(Array.isArray(v) && v.length <= MAX_DEVICES, 'disks', `must be a list of at most ${MAX_DEVICES} disks`);
  return v.map((d: unknown, i) => {
    const device = diskDeviceOf(d, `disks[${i}]`);
    const disk = objectAt(d, `disks[${i}]`);
    need(typeof disk.file === 'string', `disks[${i}].file`, 'must be a string');
    const format = oneOf(disk.format, ['qcow2', 'raw'], `disks[${i}].format`, 'must be qcow2 or raw');
    return { ...device, file: disk.file, format };
  });
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/u;

function cloudInitOf(v: unknown): CloudInitSpec | undefined {
  if (v === undefined) return undefined;
  need(isObj(v), 'cloudInit', 'must be an object');
  const kind = oneOf(v.kind, ['noCloud', 'configDrive'], 'cloudInit.kind', 'must be noCloud or configDrive');
  need(isObj(v.disk), 'cloudInit.disk', 'must be an object');
  const disk = diskDeviceOf(v.disk, 'cloudInit.disk');
  const text = (k: string) => {
    const x = v[k];
    need(typeof x === 'string' && x !== '', `cloudInit.${k}`, 'must be a non-empty string');
    return x;
  };
  const base64 = (k: string) => {
    const b = v[k];
    need(b === undefined || (typeof b === 'string' && BASE64.test(b)), `cloudInit.${k}`, 'must be base64');
    return b;
  };
  const [instanceId, hostname] = [text('instanceId'), text('hostname')];
  // Checked here too, so a spec the seed would refuse is refused before any network is made.
  for (const [k, problem] of [
    ['instanceId', instanceIdProblem(instanceId)],
    ['hostname', seedHostnameProblem(hostname)],
  ] as const) {
    need(problem === undefined, `cloudInit.${k}`, problem ?? '');
  }
  const [userDataBase64, networkDataBase64] = [base64('userDataBase64'), base64('networkDataBase64')];
  return {
    kind,
    disk,
    instanceId,
    hostname,
    ...(userDataBase64 !== undefined && { userDataBase64 }),
    ...(networkDataBase64 !== undefined && { networkDataBase64 }),
  };
}

function serviceCidrsOf(v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  const strings = Array.isArray(v) ? v.filter((c): c is string => typeof c === 'string') : [];
  need(Array.isArray(v) && strings.length === v.length, 'serviceCIDRs', 'must be a list of strings');
  return strings;
}

/**
 * The VM's names: the libvirt domain is <namespace>_<name> (names.ts
 * domainName) and is passed to virsh as an argument, the hostname and
 * subdomain reach the guest's DHCP and cloud-init. A pod annotation any pod
 * author writes carries them, so each is held to the rule the VMI admission
 * applies (controller/api/rules-names.ts): a name is a DNS-1123 subdomain
 * of at most 63 characters, a namespace and a hostname DNS-1123 labels.
 */
function nameOf(v: unknown, field: string, problem: (s: string) => string | undefined): string {
  need(typeof v === 'string' && v !== '', field, 'must be a non-empty string');
  const rule = problem(v);
  need(rule === undefined, field, rule ?? '');
  return v;
}

function optNameOf(v: unknown, field: string, problem: (s: string) => string | undefined): string | undefined {
  if (v === undefined) return undefined;
  need(typeof v === 'string', field, `${showValue(v)} must be a string`);
  return nameOf(v, field, problem);
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
  return v;
}

/** A string `problem` finds nothing wrong with, or undefined when absent. */
function optChecked(v: unknown, field: string, problem: (s: string) => string | undefined): string | undefined {
  const text = optString(v, field);
  const rule = text === undefined ? undefined : problem(text);
  need(rule === undefined, field, rule ?? '');
  return text;
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
  return v === undefined ? undefined : oneOf(v, values, field, `must be one of ${values.join(', ')}`);
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
  // Both reach the domain XML; the MAC also ip(8)'s argv (the pod NIC's address under the bridge binding).
  const macAddress = optChecked(i.macAddress, `${at}.macAddress`, macAddressProblem);
  const model = optOneOf(i.model, NIC_MODELS, `${at}.model`);
  const pciAddress = optChecked(i.pciAddress, `${at}.pciAddress`, pciAddressProblem);
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
    need(
      INTERFACE_NAME.test(iface.name),
      `interfaces[${k}].name`,
      `${showValue(iface.name)} may contain only letters, digits, "-" and "_"`,
    );
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
 * know. The spec is rebuilt from its checked fields (nameOf, interfacesOf,
 * bootOf...), so what comes back is typed by what was checked, and a key
 * the launcher does not read is left out.
 */
export function parseLauncherSpec(value: unknown): LauncherSpec {
  need(isObj(value), '', 'must be a JSON object');
  const v = value;
  const name = nameOf(v.name, 'name', (n) => dns1123SubdomainProblem(n, MAX_VMI_NAME));
  const namespace = nameOf(v.namespace, 'namespace', dns1123LabelProblem);
  const hostname = optNameOf(v.hostname, 'hostname', dns1123LabelProblem);
  const subdomain = optNameOf(v.subdomain, 'subdomain', (n) => dns1123SubdomainProblem(n));
  const memoryMiB = count(v.memoryMiB, 'memoryMiB', MAX_MEMORY_MIB, '16 TiB');
  const cpus = count(v.cpus, 'cpus', MAX_VCPUS, 'the most vCPUs a VM gets');
  const interfaceItems = checkNamedList(v.interfaces, 'interfaces');
  const networks = networksOf(checkNamedList(v.networks, 'networks'));
  const interfaces = interfacesOf(interfaceItems, networks);
  const boot = bootOf(v.boot);
  const disks = disksOf(v.disks);
  const cloudInit = cloudInitOf(v.cloudInit);
  const serviceCIDRs = serviceCidrsOf(v.serviceCIDRs);
  const generation = optInteger(v.generation, 'generation', [0, MAX_GENERATION]);
  const hotplugPorts = optInteger(v.hotplugPorts, 'hotplugPorts', [0, MAX_HOTPLUG_PORTS]);
  return {
    name,
    namespace,
    ...(hostname !== undefined && { hostname }),
    ...(subdomain !== undefined && { subdomain }),
    memoryMiB,
    cpus,
    interfaces,
    networks,
    boot,
    ...(disks && { disks }),
    ...(cloudInit && { cloudInit }),
    ...(serviceCIDRs && { serviceCIDRs }),
    ...(generation !== undefined && { generation }),
    ...(hotplugPorts !== undefined && { hotplugPorts }),
  };
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
