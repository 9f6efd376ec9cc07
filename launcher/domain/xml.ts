/**
 * The libvirt domain XML (https://libvirt.org/formatdomain.html), built with
 * fast-xml-parser's builder so that every value is escaped, never spliced.
 * NICs are `<interface type='ethernet'>` on taps the launcher made
 * (`managed='no'`): libvirt opens them and touches nothing else.
 */
import { XMLBuilder } from 'fast-xml-parser';
import type { NicPlan } from '../plan/types.ts';
import { INTERFACE_NAME, type DiskSpec, type KernelBootSpec } from '../spec.ts';

/** A disk as the domain attaches it: a file QEMU opens (an overlay, or the cloud-init seed). */
export interface DomainDisk {
  file: string;
  format: 'qcow2' | 'raw';
  device: 'disk' | 'cdrom';
  bus: DiskSpec['bus'];
  bootOrder?: number;
  readonly?: boolean;
}

/** UEFI: OVMF's code, and this VM's own variable store, made from the template on first start. */
export interface EfiFirmware {
  code: string;
  varsTemplate: string;
  nvram: string;
  secureBoot: boolean;
}

export interface DomainSpec {
  name: string;
  accel: 'kvm' | 'tcg';
  memoryMiB: number;
  cpus: number;
  /** A kernel booted directly; without one, the firmware boots the disks. */
  kernel?: KernelBootSpec;
  efi?: EfiFirmware;
  disks: DomainDisk[];
  nics: NicPlan[];
  consoleLog: string;
  emulator: string;
  /** Empty PCIe root ports for hot-plugged NICs; undefined: defaultHotplugPorts. */
  hotplugPorts?: number;
}

/**
 * KubeVirt keeps room for 4 NICs in all on q35 (its "placeholder" root ports): a VM booted with fewer gets
 * the difference as empty ports, since q35's pcie.0 takes no hotplug and a root port cannot be added live.
 */
export function defaultHotplugPorts(coldNics: number): number {
  return Math.max(0, 4 - coldNics);
}

/**
 * libvirt's alias of a NIC (formatdomain "Device aliases": a user alias is "ua-" and then letters, digits, "-"
 * and "_"), so that the NIC can be found and detached by its VMI interface name without its PCI address. Interface
 * names are made of exactly those characters (KubeVirt's rule; launcher/spec.ts checks it).
 */
export function nicAlias(name: string): string {
  if (!INTERFACE_NAME.test(name)) throw new TypeError(`nic alias: ${JSON.stringify(name)} is not an interface name`);
  return `ua-nic-${name}`;
}

/** "0000:81:00.1" → libvirt's PCI address attributes. */
export function pciAddressAttrs(text: string): Record<string, string> {
  const m = /^([0-9a-f]{4}):([0-9a-f]{2}):([0-1][0-9a-f])\.([0-7])$/iu.exec(text);
  if (!m) throw new TypeError(`pciAddress: "${text}" is not DDDD:BB:SS.F`);
  return {
    '@_type': 'pci',
    '@_domain': `0x${m[1]}`,
    '@_bus': `0x${m[2]}`,
    '@_slot': `0x${m[3]}`,
    '@_function': `0x${m[4]}`,
  };
}

/** One NIC's <interface>, at boot and as `virsh attach-device` and `update-device` take it. */
export function interfaceXml(nic: NicPlan): Record<string, unknown> {
  return {
    '@_type': 'ethernet',
    alias: { '@_name': nicAlias(nic.name) },
    mac: { '@_address': nic.mac },
    target: { '@_dev': nic.names.tap, '@_managed': 'no' },
    model: { '@_type': nic.model },
    mtu: { '@_size': String(nic.mtu) },
    ...(nic.linkState === 'down' && { link: { '@_state': 'down' } }),
    ...(nic.bootOrder !== undefined ? { boot: { '@_order': String(nic.bootOrder) } } : { rom: { '@_enabled': 'no' } }),
    ...(nic.pciAddress && { address: pciAddressAttrs(nic.pciAddress) }),
  };
}

function osXml(spec: DomainSpec): Record<string, unknown> {
  const os: Record<string, unknown> = { type: { '@_arch': 'x86_64', '@_machine': 'q35', '#text': 'hvm' } };
  if (spec.efi) {
    // formatdomain.html#bios-bootloader: pflash code read-only, the VM's own NVRAM from the template.
    os.loader = {
      '@_readonly': 'yes',
      '@_secure': spec.efi.secureBoot ? 'yes' : 'no',
      '@_type': 'pflash',
      '#text': spec.efi.code,
    };
    os.nvram = { '@_template': spec.efi.varsTemplate, '#text': spec.efi.nvram };
  }
  if (spec.kernel) {
    os.kernel = spec.kernel.kernel;
    if (spec.kernel.initrd) os.initrd = spec.kernel.initrd;
    os.cmdline = spec.kernel.cmdline ?? 'console=ttyS0';
  }
  return os;
}

/** Linux-style target names: vda..vdz, vdaa..; sda.. for the buses QEMU puts behind a SCSI-like host. */
export function targetName(prefix: 'vd' | 'sd', n: number): string {
  let name = '';
  for (let i = n + 1; i > 0; i = Math.floor((i - 1) / 26)) name = String.fromCharCode(97 + ((i - 1) % 26)) + name;
  return prefix + name;
}

/**
 * Boot order: what the VMI gives (KubeVirt: devices without one are not
 * tried when any has one). With none given, the firmware boots the first
 * disk; libvirt refuses per-device order mixed with <os><boot dev>, so the
 * disk gets order 1 rather than <boot dev='hd'/>, which could pick the seed.
 */
export function bootOrders(spec: Pick<DomainSpec, 'kernel' | 'disks' | 'nics'>): Array<number | undefined> {
  const given = spec.disks.some((d) => d.bootOrder !== undefined) || spec.nics.some((n) => n.bootOrder !== undefined);
  if (given || spec.kernel) return spec.disks.map((d) => d.bootOrder);
  const first = spec.disks.findIndex((d) => d.device === 'disk' && !d.readonly);
  return spec.disks.map((_, i) => (i === first ? 1 : undefined));
}

function diskXml(spec: DomainSpec): Record<string, unknown>[] {
  const orders = bootOrders(spec);
  let virtio = 0;
  let scsiLike = 0;
  return spec.disks.map((d, i) => ({
    '@_type': 'file',
    '@_device': d.device,
    driver: { '@_name': 'qemu', '@_type': d.format },
    source: { '@_file': d.file },
    target: { '@_dev': d.bus === 'virtio' ? targetName('vd', virtio++) : targetName('sd', scsiLike++), '@_bus': d.bus },
    ...(orders[i] !== undefined && { boot: { '@_order': String(orders[i]) } }),
    ...((d.readonly || d.device === 'cdrom') && { readonly: '' }),
  }));
}

/**
 * Controllers the disks need: virtio-scsi for scsi, xHCI for usb (q35 has AHCI built in for sata). Without a usb
 * disk, model "none": libvirt otherwise adds a qemu-xhci controller to every q35 domain (formatdomain "USB
 * controllers"), which the guest then probes at boot, slowly under TCG.
 */
function controllerXml(spec: DomainSpec): Record<string, unknown>[] {
  const buses = new Set(spec.disks.map((d) => d.bus));
  return [
    ...(buses.has('scsi') ? [{ '@_type': 'scsi', '@_index': '0', '@_model': 'virtio-scsi' }] : []),
    buses.has('usb')
      ? { '@_type': 'usb', '@_index': '0', '@_model': 'qemu-xhci' }
      : { '@_type': 'usb', '@_index': '0', '@_model': 'none' },
    ...pciControllers(rootPorts(spec, buses)),
  ];
}

/** q35's root complex is PCI controller 0 (libvirt refuses another model there); root ports are 1 to n. */
function pciControllers(ports: number): Record<string, unknown>[] {
  if (ports === 0) return [];
  return [
    { '@_type': 'pci', '@_index': '0', '@_model': 'pcie-root' },
    ...Array.from({ length: ports }, (_, i) => ({
      '@_type': 'pci',
      '@_index': String(i + 1),
      '@_model': 'pcie-root-port',
    })),
  ];
}

/**
 * The root ports to declare: libvirt puts each cold PCIe device without an address on a declared port that is
 * free (and adds ports only when none is), so the ports left empty are those beyond the cold devices: NICs, virtio
 * disks, and the SCSI and xHCI controllers. Counting a device that needs none only leaves one more port free.
 */
function rootPorts(spec: DomainSpec, buses: Set<DomainDisk['bus']>): number {
  const nics = spec.nics.filter((n) => !n.pciAddress).length;
  const disks = spec.disks.filter((d) => d.bus === 'virtio').length;
  const controllers = Number(buses.has('scsi')) + Number(buses.has('usb'));
  return nics + disks + controllers + (spec.hotplugPorts ?? defaultHotplugPorts(spec.nics.length));
}

/** The XML of one device element, for `virsh attach-device` and the like. */
export function renderDeviceXml(tag: string, device: Record<string, unknown>): string {
  return xmlBuilder().build({ [tag]: device }) as string;
}

function xmlBuilder(): XMLBuilder {
  return new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', format: true, suppressEmptyNode: true });
}

export function renderDomainXml(spec: DomainSpec): string {
  const doc = {
    domain: {
      '@_type': spec.accel === 'kvm' ? 'kvm' : 'qemu',
      name: spec.name,
      memory: { '@_unit': 'MiB', '#text': String(spec.memoryMiB) },
      vcpu: String(spec.cpus),
      os: osXml(spec),
      // Secure Boot's variable store is guarded by SMM; OVMF's secure build needs it on.
      features: { acpi: '', ...(spec.efi?.secureBoot && { smm: { '@_state': 'on' } }) },
      on_poweroff: 'destroy',
      on_reboot: 'restart',
      on_crash: 'destroy',
      devices: {
        emulator: spec.emulator,
        disk: diskXml(spec),
        controller: controllerXml(spec),
        interface: spec.nics.map(interfaceXml),
        serial: { '@_type': 'pty', log: { '@_file': spec.consoleLog, '@_append': 'on' }, target: { '@_port': '0' } },
        console: { '@_type': 'pty', target: { '@_type': 'serial', '@_port': '0' } },
        memballoon: { '@_model': 'none' },
      },
    },
  };
  return xmlBuilder().build(doc) as string;
}
