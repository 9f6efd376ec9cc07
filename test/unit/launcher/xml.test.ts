/**
 * The libvirt domain XML: golden files, escaping checked by parsing it back,
 * PCI address parsing, and libvirt's own schema (virt-xml-validate).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import {
  defaultHotplugPorts,
  nicAlias,
  renderDomainXml,
  renderDeviceXml,
  interfaceXml,
  pciAddressAttrs,
  targetName,
  type DomainDisk,
  type DomainSpec,
} from '../../../launcher/domain/xml.ts';
import type { NicPlan } from '../../../launcher/plan/types.ts';
import { golden } from './golden-helper.ts';

const NIC0: NicPlan = {
  name: 'default',
  index: 0,
  binding: 'bridge',
  names: { podIf: 'eth0', bridge: 'k6t-eth0', podNic: 'eth0-nic', tap: 'tap0' },
  mac: '02:5e:00:00:00:05',
  mtu: 1450,
  model: 'virtio',
  linkState: 'up',
  ips: ['10.244.0.5'],
  staticAddresses: [],
};
const NIC1: NicPlan = {
  name: 'blue',
  index: 1,
  binding: 'bridge',
  names: { podIf: 'pod16477688c0e', bridge: 'k6t-16477688c0e', podNic: '16477688c0e-nic', tap: 'tap16477688c0e' },
  mac: '02:00:00:ab:cd:ef',
  mtu: 1400,
  model: 'e1000',
  linkState: 'down',
  bootOrder: 2,
  pciAddress: '0000:00:05.0',
  ips: [],
  staticAddresses: [],
};

const BASE: DomainSpec = {
  name: 'default_vm1',
  accel: 'kvm',
  memoryMiB: 512,
  cpus: 2,
  kernel: { kernel: '/var/lib/virtnet/vmlinuz', initrd: '/var/lib/virtnet/initrd.img', cmdline: 'console=ttyS0 quiet' },
  disks: [],
  nics: [NIC0, NIC1],
  consoleLog: '/var/run/virtnet/console.log',
  emulator: '/usr/bin/qemu-system-x86_64',
};

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
});
type Obj = Record<string, unknown>;
const parse = (xml: string): Obj => (parser.parse(xml) as { domain: Obj }).domain;

const which = (cmd: string): string => spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).stdout.trim();
const validator = which('virt-xml-validate');
const xmllint = which('xmllint');

/**
 * libvirt's RELAX NG schema check of a golden file. Never skipped: a machine
 * without the tools fails here with what to install.
 */
function validate(path: string): void {
  assert.ok(
    validator,
    'virt-xml-validate is not installed (Debian package libvirt-clients): the domain XML cannot be schema-checked',
  );
  // virt-xml-validate is a shell script around xmllint, which libvirt-clients does not pull in.
  assert.ok(
    xmllint,
    'xmllint is not installed (Debian package libxml2-utils): virt-xml-validate cannot run without it',
  );
  const r = spawnSync(validator, [path, 'domain'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `virt-xml-validate ${path} domain:\n${r.stdout}${r.stderr}`);
}

test('golden: kernel boot, two NICs (boot order, PCI address, e1000, link down, MTU)', () => {
  const xml = renderDomainXml(BASE);
  const path = golden('domain-kernel-two-nics.xml', xml);
  validate(path);
  const d = parse(xml);
  assert.equal(d['@_type'], 'kvm');
  const os = d.os as Obj;
  assert.equal(os.kernel, '/var/lib/virtnet/vmlinuz');
  assert.equal(os.initrd, '/var/lib/virtnet/initrd.img');
  assert.equal(os.cmdline, 'console=ttyS0 quiet');
  assert.equal(os.boot, undefined);
  const ifs = (d.devices as Obj).interface as Obj[];
  assert.equal(ifs.length, 2);
  assert.deepEqual(ifs[0], {
    '@_type': 'ethernet',
    alias: { '@_name': 'ua-nic-default' },
    mac: { '@_address': '02:5e:00:00:00:05' },
    target: { '@_dev': 'tap0', '@_managed': 'no' },
    model: { '@_type': 'virtio' },
    mtu: { '@_size': '1450' },
    rom: { '@_enabled': 'no' },
  });
  assert.deepEqual(ifs[1], {
    '@_type': 'ethernet',
    alias: { '@_name': 'ua-nic-blue' },
    mac: { '@_address': '02:00:00:ab:cd:ef' },
    target: { '@_dev': 'tap16477688c0e', '@_managed': 'no' },
    model: { '@_type': 'e1000' },
    mtu: { '@_size': '1400' },
    link: { '@_state': 'down' },
    boot: { '@_order': '2' },
    address: { '@_type': 'pci', '@_domain': '0x0000', '@_bus': '0x00', '@_slot': '0x05', '@_function': '0x0' },
  });
});

test('golden: kernel boot under TCG, default cmdline, no initrd', () => {
  const xml = renderDomainXml({ ...BASE, accel: 'tcg', kernel: { kernel: '/k' }, nics: [NIC0] });
  validate(golden('domain-kernel-tcg.xml', xml));
  const d = parse(xml);
  assert.equal(d['@_type'], 'qemu');
  assert.equal((d.os as Obj).cmdline, 'console=ttyS0');
  assert.equal((d.os as Obj).initrd, undefined);
});

const ROOT: DomainDisk = {
  file: '/var/lib/virtnet/pods/x/disk-0-overlay.qcow2',
  format: 'qcow2',
  device: 'disk',
  bus: 'virtio',
};
const SEED: DomainDisk = {
  file: '/var/lib/virtnet/pods/x/cloud-init.iso',
  format: 'raw',
  device: 'disk',
  bus: 'virtio',
  readonly: true,
};
const { kernel: _kernel, ...FIRMWARE } = BASE;

test('golden: disk boot without any boot order: the first writable disk gets order 1, never the seed', () => {
  const { bootOrder: _unused, ...nic1NoBoot } = NIC1;
  const xml = renderDomainXml({ ...FIRMWARE, disks: [SEED, ROOT], nics: [NIC0, nic1NoBoot] });
  validate(golden('domain-disk.xml', xml));
  const d = parse(xml);
  assert.equal((d.os as Obj).boot, undefined);
  const disks = (d.devices as Obj).disk as Obj[];
  assert.deepEqual(disks[0], {
    '@_type': 'file',
    '@_device': 'disk',
    driver: { '@_name': 'qemu', '@_type': 'raw' },
    source: { '@_file': SEED.file },
    target: { '@_dev': 'vda', '@_bus': 'virtio' },
    readonly: '',
  });
  assert.deepEqual(disks[1], {
    '@_type': 'file',
    '@_device': 'disk',
    driver: { '@_name': 'qemu', '@_type': 'qcow2' },
    source: { '@_file': ROOT.file },
    target: { '@_dev': 'vdb', '@_bus': 'virtio' },
    boot: { '@_order': '1' },
  });
  for (const i of (d.devices as Obj).interface as Obj[]) assert.deepEqual(i.rom, { '@_enabled': 'no' });
});

test(
  "golden: the VMI's boot orders as " +
    'given (KubeVirt: devices without ' +
    'one are not tried); sata, scsi, ' +
    'cdrom and their controllers',
  () => {
    const disks: DomainDisk[] = [
      { ...ROOT, bus: 'sata', bootOrder: 1 },
      { ...ROOT, file: '/d/data.qcow2', bus: 'scsi' },
      { file: '/d/cd.qcow2', format: 'qcow2', device: 'cdrom', bus: 'sata', bootOrder: 3 },
    ];
    const xml = renderDomainXml({ ...FIRMWARE, disks });
    validate(golden('domain-disk-nic-boot.xml', xml));
    const d = parse(xml);
    const got = ((d.devices as Obj).disk as Obj[]).map((x) => [
      x['@_device'],
      (x.target as Obj)['@_dev'],
      (x.target as Obj)['@_bus'],
      (x.boot as Obj | undefined)?.['@_order'],
      'readonly' in x,
    ]);
    assert.deepEqual(got, [
      ['disk', 'sda', 'sata', '1', false],
      ['disk', 'sdb', 'scsi', undefined, false],
      ['cdrom', 'sdc', 'sata', '3', true],
    ]);
    // No usb disk: model none, so libvirt adds no xHCI controller of its own.
    const controllers = (d.devices as Obj).controller as Obj[];
    assert.deepEqual(
      controllers.filter((c) => c['@_type'] !== 'pci'),
      [
        { '@_type': 'scsi', '@_index': '0', '@_model': 'virtio-scsi' },
        { '@_type': 'usb', '@_index': '0', '@_model': 'none' },
      ],
    );
    assert.deepEqual(((d.devices as Obj).interface as Obj[])[1]!.boot, { '@_order': '2' });
  },
);

test("golden: UEFI with Secure Boot: pflash loader, the VM's own NVRAM from the template, SMM on", () => {
  const efi = {
    code: '/usr/share/OVMF/OVMF_CODE_4M.ms.fd',
    varsTemplate: '/usr/share/OVMF/OVMF_VARS_4M.ms.fd',
    nvram: '/var/lib/virtnet/pods/x/nvram.fd',
    secureBoot: true,
  };
  const xml = renderDomainXml({ ...FIRMWARE, disks: [ROOT], efi });
  validate(golden('domain-efi.xml', xml));
  const d = parse(xml);
  assert.deepEqual((d.os as Obj).loader, {
    '@_readonly': 'yes',
    '@_secure': 'yes',
    '@_type': 'pflash',
    '#text': efi.code,
  });
  assert.deepEqual((d.os as Obj).nvram, { '@_template': efi.varsTemplate, '#text': efi.nvram });
  assert.deepEqual((d.features as Obj).smm, { '@_state': 'on' });
  const plain = parse(renderDomainXml({ ...FIRMWARE, disks: [ROOT], efi: { ...efi, secureBoot: false } }));
  assert.equal(((plain.os as Obj).loader as Obj)['@_secure'], 'no');
  assert.equal((plain.features as Obj).smm, undefined);
});

test('target names past vdz, as Linux names them', () => {
  assert.deepEqual(
    [0, 1, 25, 26, 27, 51, 52, 701, 702].map((n) => targetName('vd', n)),
    ['vda', 'vdb', 'vdz', 'vdaa', 'vdab', 'vdaz', 'vdba', 'vdzz', 'vdaaa'],
  );
});

test('values are escaped: a console log path with & and < round-trips', () => {
  const consoleLog = `/var/run/a&b<c>"d'/console.log`;
  const name = 'ns_vm<&>';
  const emulator = '/usr/bin/qemu&<';
  const xml = renderDomainXml({
    ...BASE,
    name,
    consoleLog,
    emulator,
    kernel: { kernel: '/k&<', cmdline: 'a=<b>&c="d"' },
  });
  assert.doesNotMatch(xml, /a&b<c/u);
  const d = parse(xml);
  assert.equal(d.name, name);
  const devices = d.devices as Obj;
  assert.equal(((devices.serial as Obj).log as Obj)['@_file'], consoleLog);
  assert.equal(devices.emulator, emulator);
  assert.equal((d.os as Obj).kernel, '/k&<');
  assert.equal((d.os as Obj).cmdline, 'a=<b>&c="d"');
  // Well-formed for a strict parser too.
  assert.equal(XMLValidator.validate(xml), true);
});

test('pciAddressAttrs: DDDD:BB:SS.F only', () => {
  assert.deepEqual(pciAddressAttrs('0000:81:1f.7'), {
    '@_type': 'pci',
    '@_domain': '0x0000',
    '@_bus': '0x81',
    '@_slot': '0x1f',
    '@_function': '0x7',
  });
  assert.deepEqual(pciAddressAttrs('0000:00:05.0'), {
    '@_type': 'pci',
    '@_domain': '0x0000',
    '@_bus': '0x00',
    '@_slot': '0x05',
    '@_function': '0x0',
  });
  for (const bad of [
    '',
    '00:05.0',
    '0000:00:05',
    '0000:00:20.0',
    '0000:00:05.8',
    '0000:000:05.0',
    '0000:00:05.0 ',
    ' 0000:00:05.0',
    'g000:00:05.0',
    '0000:00:05.0\n',
    "0000:00:05.0'/><x a='",
    '0000-00-05.0',
  ]) {
    assert.throws(() => pciAddressAttrs(bad), TypeError, JSON.stringify(bad));
  }
  assert.throws(() => renderDomainXml({ ...BASE, nics: [{ ...NIC0, pciAddress: '0000:00:05.0"/>' }] }), TypeError);
});

test('root ports: one per cold PCIe device, plus the free ones for hotplug (KubeVirt keeps room for 4 NICs)', () => {
  const ports = (spec: DomainSpec) =>
    (((parse(renderDomainXml(spec)).devices as Obj).controller as Obj[]) ?? []).filter(
      (c) => c['@_model'] === 'pcie-root-port',
    ).length;
  assert.deepEqual([0, 1, 3, 4, 7].map(defaultHotplugPorts), [4, 3, 1, 0, 0]);
  // NIC1 has an explicit PCI address: it takes no declared port.
  assert.equal(ports(BASE), 1 + defaultHotplugPorts(2));
  assert.equal(ports({ ...BASE, nics: [NIC0], hotplugPorts: 0 }), 1);
  assert.equal(ports({ ...BASE, nics: [NIC0], hotplugPorts: 16 }), 17);
  const virtioDisk: DomainDisk = { file: '/d.qcow2', format: 'qcow2', device: 'disk', bus: 'virtio' };
  assert.equal(ports({ ...BASE, nics: [], disks: [virtioDisk], hotplugPorts: 2 }), 3);
});

test('NIC aliases: ua- names from the interface name, refused for anything but an interface name', () => {
  assert.equal(nicAlias('net-1'), 'ua-nic-net-1');
  assert.equal(nicAlias('Net_1'), 'ua-nic-Net_1', "KubeVirt's names: letters, digits, - and _");
  for (const bad of ['', 'a b', 'a"/>', 'ä', '../x', 'a\nb', 'x'.repeat(254)])
    assert.throws(() => nicAlias(bad), /not an interface name/u);
  const xml = renderDeviceXml('interface', interfaceXml(NIC0));
  assert.match(xml, /^<interface type="ethernet">/u);
  assert.match(xml, /<alias name="ua-nic-default"\/>/u);
});
