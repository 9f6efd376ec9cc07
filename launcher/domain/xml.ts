/**
 * The libvirt domain XML (https://libvirt.org/formatdomain.html), built with
 * fast-xml-parser's builder so that every value is escaped, never spliced.
 * NICs are `<interface type='ethernet'>` on taps the launcher made
 * (`managed='no'`): libvirt opens them and touches nothing else.
 */
import { XMLBuilder } from 'fast-xml-parser';
import type { NicPlan } from '../plan/types.ts';
import type { BootSpec } from '../spec.ts';

export interface DomainSpec {
  name: string;
  accel: 'kvm' | 'tcg';
  memoryMiB: number;
  cpus: number;
  boot: BootSpec;
  nics: NicPlan[];
  consoleLog: string;
  emulator: string;
}

/** "0000:81:00.1" → libvirt's PCI address attributes. */
export function pciAddressAttrs(text: string): Record<string, string> {
  const m = /^([0-9a-f]{4}):([0-9a-f]{2}):([0-1][0-9a-f])\.([0-7])$/iu.exec(text);
  if (!m) throw new TypeError(`pciAddress: "${text}" is not DDDD:BB:SS.F`);
  return { '@_type': 'pci', '@_domain': `0x${m[1]}`, '@_bus': `0x${m[2]}`, '@_slot': `0x${m[3]}`, '@_function': `0x${m[4]}` };
}

function interfaceXml(nic: NicPlan): Record<string, unknown> {
  return {
    '@_type': 'ethernet',
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
  if ('kernel' in spec.boot) {
    os.kernel = spec.boot.kernel;
    if (spec.boot.initrd) os.initrd = spec.boot.initrd;
    os.cmdline = spec.boot.cmdline ?? 'console=ttyS0';
  } else if (!spec.nics.some((n) => n.bootOrder !== undefined)) {
    os.boot = { '@_dev': 'hd' };
  }
  return os;
}

function diskXml(spec: DomainSpec): Record<string, unknown>[] {
  if (!('disk' in spec.boot)) return [];
  const usesBootOrder = spec.nics.some((n) => n.bootOrder !== undefined);
  return [{
    '@_type': 'file', '@_device': 'disk',
    driver: { '@_name': 'qemu', '@_type': spec.boot.format },
    source: { '@_file': spec.boot.disk },
    target: { '@_dev': 'vda', '@_bus': 'virtio' },
    // With per-device boot order on a NIC, the disk needs one too (libvirt refuses a mix).
    ...(usesBootOrder && { boot: { '@_order': String(Math.max(...spec.nics.map((n) => n.bootOrder ?? 0)) + 1) } }),
  }];
}

export function renderDomainXml(spec: DomainSpec): string {
  const doc = {
    domain: {
      '@_type': spec.accel === 'kvm' ? 'kvm' : 'qemu',
      name: spec.name,
      memory: { '@_unit': 'MiB', '#text': String(spec.memoryMiB) },
      vcpu: String(spec.cpus),
      os: osXml(spec),
      features: { acpi: '' },
      on_poweroff: 'destroy',
      on_reboot: 'restart',
      on_crash: 'destroy',
      devices: {
        emulator: spec.emulator,
        disk: diskXml(spec),
        interface: spec.nics.map(interfaceXml),
        serial: { '@_type': 'pty', log: { '@_file': spec.consoleLog, '@_append': 'on' }, target: { '@_port': '0' } },
        console: { '@_type': 'pty', target: { '@_type': 'serial', '@_port': '0' } },
        memballoon: { '@_model': 'none' },
      },
    },
  };
  const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', format: true, suppressEmptyNode: true });
  return builder.build(doc) as string;
}
