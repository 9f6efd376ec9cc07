/**
 * cloud-init seeds (issue 12): networkData rendered for every NIC, matched
 * by MAC, in network config v2 and OpenStack network_data.json, and the
 * files of NoCloud and ConfigDrive volumes. The YAML is read back the way
 * cloud-init's PyYAML reads it: YAML 1.1, where an unquoted
 * 52:54:00:12:34:56 is a base-60 integer and `on` a boolean.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { parse, parseDocument, type Scalar, type YAMLMap } from 'yaml';
import {
  renderNetworkConfigV2,
  renderOpenStackNetworkData,
  type GuestNicFacts,
} from '../../../launcher/cloudinit/network-data.ts';
import { planSeed, type SeedInput, type SeedPlan } from '../../../launcher/cloudinit/seed.ts';

const bridgeNic: GuestNicFacts = {
  name: 'default',
  mac: '52:54:00:12:34:56',
  mtu: 1450,
  dhcp4: true,
  dhcp6: true,
  staticAddresses: [],
};
const l2Nic: GuestNicFacts = {
  name: 'vnf-l2',
  mac: '02:00:00:00:00:02',
  mtu: 9000,
  dhcp4: false,
  dhcp6: false,
  staticAddresses: [],
};
const staticNic: GuestNicFacts = {
  name: 'storage',
  mac: '12:34:56:00:00:03',
  mtu: 1500,
  dhcp4: false,
  dhcp6: false,
  staticAddresses: ['10.1.2.3/24', 'FD00:0:0::5/128', 'fd00:1::7/64'],
};

function readV2(text: string): { version: unknown; ethernets: Record<string, Record<string, unknown>> } {
  return parse(text, { version: '1.1' }) as { version: unknown; ethernets: Record<string, Record<string, unknown>> };
}

interface OpenStackDoc {
  links: Array<Record<string, unknown>>;
  networks: Array<Record<string, unknown>>;
  services: unknown[];
}

function fileOf(plan: SeedPlan, path: string): Buffer {
  const file = plan.files.find((f) => f.path === path);
  assert.ok(file, `the plan has ${path}: ${plan.files.map((f) => f.path).join(', ')}`);
  return file.content;
}

test('v2: a bridge NIC with DHCPv4 and DHCPv6 is matched by MAC, with its MTU, accepting router advertisements', () => {
  const doc = readV2(renderNetworkConfigV2([bridgeNic]));
  assert.equal(doc.version, 2);
  assert.deepEqual(doc.ethernets, {
    default: { match: { macaddress: '52:54:00:12:34:56' }, mtu: 1450, dhcp4: true, dhcp6: true, 'accept-ra': true },
  });
});

test('v2: an L2-only NIC is a link with no address: no DHCP, no router advertisements, no link-local address', () => {
  const doc = readV2(renderNetworkConfigV2([l2Nic]));
  assert.deepEqual(doc.ethernets['vnf-l2'], {
    match: { macaddress: '02:00:00:00:00:02' },
    mtu: 9000,
    dhcp4: false,
    dhcp6: false,
    'accept-ra': false,
    'link-local': [],
  });
});

test('v2: static IPv4 and IPv6 addresses are listed in canonical form, with no DHCP', () => {
  const doc = readV2(renderNetworkConfigV2([staticNic]));
  assert.deepEqual(doc.ethernets.storage, {
    match: { macaddress: '12:34:56:00:00:03' },
    mtu: 1500,
    dhcp4: false,
    dhcp6: false,
    addresses: ['10.1.2.3/24', 'fd00::5/128', 'fd00:1::7/64'],
  });
});

test('v2: a NIC with DHCPv4 and a static address keeps both; only DHCPv6 NICs get accept-ra', () => {
  const nic = { ...bridgeNic, dhcp6: false, staticAddresses: ['192.168.9.9/32'] };
  assert.deepEqual(readV2(renderNetworkConfigV2([nic])).ethernets.default, {
    match: { macaddress: '52:54:00:12:34:56' },
    mtu: 1450,
    dhcp4: true,
    dhcp6: false,
    addresses: ['192.168.9.9/32'],
  });
});

test(
  'v2: every NIC appears, in VMI order, keyed by its VMI name; no set-name, and names YAML 1.1 misreads stay ' +
    'strings',
  () => {
    const nics = [
      bridgeNic,
      l2Nic,
      staticNic,
      { ...l2Nic, name: 'on', mac: '02:00:00:00:00:04' },
      { ...l2Nic, name: '123', mac: '02:00:00:00:00:05' },
    ];
    const text = renderNetworkConfigV2(nics);
    const doc = readV2(text);
    // In file order (a parsed plain object would put "123" first): each key a string, "on" never the boolean.
    const ethernets = parseDocument(text, { version: '1.1' }).get('ethernets') as YAMLMap<Scalar, unknown>;
    assert.deepEqual(
      ethernets.items.map((pair) => pair.key.value),
      ['default', 'vnf-l2', 'storage', 'on', '123'],
    );
    assert.deepEqual(
      nics.map((n) => doc.ethernets[n.name]?.match),
      nics.map((n) => ({ macaddress: n.mac })),
    );
    assert.ok(!text.includes('set-name'), text);
  },
);

test('v2: no NICs is an empty ethernets map', () => {
  assert.deepEqual(readV2(renderNetworkConfigV2([])), { version: 2, ethernets: {} });
});

test(
  'OpenStack: one phy link per NIC by MAC with its MTU; DHCP networks, a static network per address, none for ' +
    'L2-only',
  () => {
    const doc = JSON.parse(renderOpenStackNetworkData([bridgeNic, l2Nic, staticNic])) as OpenStackDoc;
    assert.deepEqual(doc.links, [
      { id: 'default', type: 'phy', ethernet_mac_address: '52:54:00:12:34:56', mtu: 1450 },
      { id: 'vnf-l2', type: 'phy', ethernet_mac_address: '02:00:00:00:00:02', mtu: 9000 },
      { id: 'storage', type: 'phy', ethernet_mac_address: '12:34:56:00:00:03', mtu: 1500 },
    ]);
    assert.deepEqual(doc.networks, [
      { id: 'network0', type: 'ipv4_dhcp', link: 'default' },
      { id: 'network1', type: 'ipv6_dhcp', link: 'default' },
      { id: 'network2', type: 'ipv4', link: 'storage', ip_address: '10.1.2.3', netmask: '255.255.255.0' },
      {
        id: 'network3',
        type: 'ipv6',
        link: 'storage',
        ip_address: 'fd00::5',
        netmask: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
      },
      { id: 'network4', type: 'ipv6', link: 'storage', ip_address: 'fd00:1::7', netmask: 'ffff:ffff:ffff:ffff::' },
    ]);
    assert.deepEqual(doc.services, []);
    assert.ok(
      doc.links.every((l) => !('name' in l)),
      'no link names the guest device',
    );
  },
);

test(
  'OpenStack: a NIC with a static IPv6 address and DHCPv6 lists the static network first, so DHCPv6 turns accept-ra ' +
    'back on',
  () => {
    const doc = JSON.parse(
      renderOpenStackNetworkData([{ ...bridgeNic, staticAddresses: ['fd00::9/64'] }]),
    ) as OpenStackDoc;
    assert.deepEqual(
      doc.networks.map((n) => n.type),
      ['ipv6', 'ipv4_dhcp', 'ipv6_dhcp'],
    );
  },
);

function refused(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TypeError, `a TypeError: ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

test('bad NICs are refused with the field, the value and the rule, by both renderers', () => {
  const cases: Array<[GuestNicFacts, RegExp]> = [
    [
      { ...bridgeNic, mac: '52:54:00:12:34' },
      /^nics\[0\]\.mac: "52:54:00:12:34" must be a lower-case MAC address aa:bb:cc:dd:ee:ff$/,
    ],
    [{ ...bridgeNic, mac: '52:54:00:12:34:5G' }, /^nics\[0\]\.mac: "52:54:00:12:34:5G" must be a lower-case MAC/],
    [{ ...bridgeNic, mac: '52:54:00:AB:34:56' }, /^nics\[0\]\.mac: "52:54:00:AB:34:56" must be a lower-case MAC/],
    [{ ...bridgeNic, mac: '01:00:5e:00:00:01' }, /^nics\[0\]\.mac: "01:00:5e:00:00:01" is a multicast address/],
    [{ ...bridgeNic, mtu: 0 }, /^nics\[0\]\.mtu: 0 must be an integer from 68 to 65535$/],
    [{ ...bridgeNic, mtu: 65536 }, /^nics\[0\]\.mtu: 65536 must be an integer from 68 to 65535$/],
    [{ ...bridgeNic, mtu: 1500.5 }, /^nics\[0\]\.mtu: 1500\.5 must be an integer/],
    [{ ...bridgeNic, mtu: 1000 }, /^nics\[0\]\.mtu: 1000 is below 1280, the least MTU of a link that carries IPv6/],
    [{ ...l2Nic, mtu: 1000, staticAddresses: ['fd00::1/64'] }, /^nics\[0\]\.mtu: 1000 is below 1280/],
    [
      { ...staticNic, staticAddresses: ['10.1.2.3/24', '10.1.2.300/24'] },
      /^nics\[0\]\.staticAddresses\[1\]: "10\.1\.2\.300\/24" must be a CIDR/,
    ],
    [{ ...staticNic, staticAddresses: ['10.1.2.3'] }, /^nics\[0\]\.staticAddresses\[0\]: "10\.1\.2\.3" must be a CIDR/],
    [{ ...staticNic, staticAddresses: ['fd00::1/129'] }, /staticAddresses\[0\]: "fd00::1\/129" must be a CIDR/],
    [{ ...staticNic, staticAddresses: ['fe80::1%eth0/64'] }, /staticAddresses\[0\]: "fe80::1%eth0\/64" must be a CIDR/],
    [{ ...staticNic, staticAddresses: ['10.0.0.1/0'] }, /staticAddresses\[0\]: "10\.0\.0\.1\/0" has prefix length 0/],
    [
      { ...staticNic, staticAddresses: ['fd00::5/64', 'fd00:0::5/128'] },
      /staticAddresses\[1\]: "fd00:0::5\/128" repeats the address of nics\[0\]\.staticAddresses\[0\]/,
    ],
    [{ ...bridgeNic, name: 'Eth0' }, /^nics\[0\]\.name: "Eth0" must be a DNS-1123 label/],
    [{ ...bridgeNic, dhcp4: 'yes' as unknown as boolean }, /^nics\[0\]\.dhcp4: "yes" must be true or false$/],
  ];
  for (const [nic, pattern] of cases) {
    refused(() => renderNetworkConfigV2([nic]), pattern);
    refused(() => renderOpenStackNetworkData([nic]), pattern);
  }
});

test('two NICs with one name or one MAC are refused: each NIC is one key and is found by its MAC', () => {
  refused(
    () => renderNetworkConfigV2([bridgeNic, { ...l2Nic, name: 'default' }]),
    /^nics\[1\]\.name: "default" is also nics\[0\]'s/,
  );
  refused(
    () => renderNetworkConfigV2([bridgeNic, { ...l2Nic, mac: bridgeNic.mac }]),
    /^nics\[1\]\.mac: "52:54:00:12:34:56" is also nics\[0\]'s; NICs are matched by MAC/,
  );
});

const uid = '6a1c8a2e-3b0f-4f55-9a9e-0d6f2b7c1e42';
const noCloud: SeedInput = { kind: 'noCloud', instanceId: uid, hostname: 'debian', nics: [bridgeNic, l2Nic] };

test('NoCloud: cidata with user-data, meta-data (instance-id, local-hostname) and a rendered network-config', () => {
  const userData = Buffer.from('#cloud-config\npassword: s3cret\nchpasswd: { expire: false }\n');
  const plan = planSeed({ ...noCloud, userData });
  assert.equal(plan.label, 'cidata');
  assert.deepEqual(
    plan.files.map((f) => f.path),
    ['user-data', 'meta-data', 'network-config'],
  );
  assert.ok(fileOf(plan, 'user-data').equals(userData));
  assert.deepEqual(parse(fileOf(plan, 'meta-data').toString(), { version: '1.1' }), {
    'instance-id': uid,
    'local-hostname': 'debian',
  });
  assert.equal(fileOf(plan, 'network-config').toString(), renderNetworkConfigV2([bridgeNic, l2Nic]));
});

test('NoCloud: an instance id of digits stays a string in YAML 1.1', () => {
  const plan = planSeed({ ...noCloud, instanceId: '0123', hostname: 'vm.example.org' });
  assert.deepEqual(parse(fileOf(plan, 'meta-data').toString(), { version: '1.1' }), {
    'instance-id': '0123',
    'local-hostname': 'vm.example.org',
  });
});

test('NoCloud: without userData there is still a user-data file, empty, as KubeVirt writes it', () => {
  const plan = planSeed(noCloud);
  assert.deepEqual(
    plan.files.map((f) => f.path),
    ['user-data', 'meta-data', 'network-config'],
  );
  assert.equal(fileOf(plan, 'user-data').length, 0);
});

test('userData bytes are kept verbatim, a gzip payload and invalid UTF-8 included', () => {
  const gzipped = gzipSync(Buffer.from('#cloud-config\nruncmd: [echo marker]\n'));
  const binary = Buffer.from([0x00, 0xff, 0xfe, 0x0a, 0x0d, 0xc3, 0x28, 0x80]);
  for (const userData of [gzipped, binary]) {
    assert.ok(fileOf(planSeed({ ...noCloud, userData }), 'user-data').equals(userData));
    assert.ok(
      fileOf(planSeed({ ...noCloud, kind: 'configDrive', userData }), 'openstack/latest/user_data').equals(userData),
    );
  }
});

test("the user's own networkData is kept byte for byte, never rendered over", () => {
  // Odd spacing, a comment, CRLF and no trailing newline: any re-serialisation would change it.
  const networkData = Buffer.from(
    'network:\r\n  version: 1  # mine\r\n  config:\r\n   - type: physical\r\n     name: eth1\r\n     subnets: ' +
      '[{type: dhcp}]',
  );
  const nocloud = planSeed({ ...noCloud, networkData });
  assert.ok(fileOf(nocloud, 'network-config').equals(networkData));
  const json = Buffer.from('{"links":[],  "networks":[] ,"services":[]}');
  const drive = planSeed({ ...noCloud, kind: 'configDrive', networkData: json });
  assert.ok(fileOf(drive, 'openstack/latest/network_data.json').equals(json));
});

test("the plan holds its own copies: changing the caller's buffer afterwards changes nothing", () => {
  const userData = Buffer.from('#cloud-config\n');
  const plan = planSeed({ ...noCloud, userData });
  userData.fill(0x41);
  assert.equal(fileOf(plan, 'user-data').toString(), '#cloud-config\n');
});

test('ConfigDrive: config-2 with openstack/latest meta_data.json (uuid, hostname), user_data and network_data.json', () => {
  const userData = Buffer.from('#!/bin/sh\necho hi\n');
  const plan = planSeed({ ...noCloud, kind: 'configDrive', userData });
  assert.equal(plan.label, 'config-2');
  assert.deepEqual(
    plan.files.map((f) => f.path),
    ['openstack/latest/meta_data.json', 'openstack/latest/user_data', 'openstack/latest/network_data.json'],
  );
  assert.deepEqual(JSON.parse(fileOf(plan, 'openstack/latest/meta_data.json').toString()), {
    uuid: uid,
    hostname: 'debian',
  });
  assert.ok(fileOf(plan, 'openstack/latest/user_data').equals(userData));
  assert.equal(
    fileOf(plan, 'openstack/latest/network_data.json').toString(),
    renderOpenStackNetworkData([bridgeNic, l2Nic]),
  );
});

test('ConfigDrive: without userData there is no user_data file (it is optional there)', () => {
  const plan = planSeed({ ...noCloud, kind: 'configDrive' });
  assert.deepEqual(
    plan.files.map((f) => f.path),
    ['openstack/latest/meta_data.json', 'openstack/latest/network_data.json'],
  );
});

test('bad seed inputs are refused with the field, the value and the rule', () => {
  const cases: Array<[Partial<SeedInput> & Record<string, unknown>, RegExp]> = [
    [{ hostname: 'debian\nroot: x' }, /^hostname: "debian\\nroot: x" must be a host name of dot-separated labels: /],
    [{ hostname: '' }, /^hostname: "" must be a non-empty string$/],
    [{ hostname: 'a..b' }, /^hostname: "a\.\.b" must be a host name/],
    [{ hostname: '-vm' }, /^hostname: "-vm" must be a host name/],
    [{ hostname: `${'a'.repeat(64)}.example` }, /^hostname: .* must be a host name/],
    [{ hostname: 'x.'.repeat(127) + 'x' }, /^hostname: .* must be at most 253 characters \(is 255\)$/],
    [{ instanceId: 'abc\u0007def' }, /^instanceId: "abc\\u0007def" may hold only ASCII letters, digits and "\._:-"/],
    [{ instanceId: 'abc\tdef' }, /^instanceId: "abc\\tdef" may hold only ASCII/],
    [{ instanceId: '..' }, /^instanceId: "\.\." may hold only ASCII/],
    [{ instanceId: 'a/b' }, /^instanceId: "a\/b" may hold only ASCII/],
    [{ instanceId: 'é' }, /^instanceId: "é" may hold only ASCII/],
    [{ instanceId: '' }, /^instanceId: "" must be a non-empty string$/],
    [{ instanceId: 'a'.repeat(129) }, /^instanceId: .* must be at most 128 characters \(is 129\)$/],
    [{ kind: 'nocloud' as SeedInput['kind'] }, /^kind: "nocloud" must be "noCloud" or "configDrive"$/],
    [{ userData: '#cloud-config' as unknown as Buffer }, /^userData: "#cloud-config" must be a Buffer/],
    [{ nics: [{ ...bridgeNic, mac: 'zz' }] }, /^nics\[0\]\.mac: "zz" must be a lower-case MAC/],
  ];
  for (const [change, pattern] of cases) {
    refused(() => planSeed({ ...noCloud, ...change } as SeedInput), pattern);
    refused(() => planSeed({ ...noCloud, kind: 'configDrive', ...change } as SeedInput), pattern);
  }
});
