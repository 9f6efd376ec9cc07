import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, DEFAULT_BRIDGE, DEFAULT_DATA_DIR, DEFAULT_VXLAN_PORT } from '../../../cni/config.ts';
import { ErrorCode, VirtnetError } from '../../../lib/errors.ts';

const conf = (extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ cniVersion: '1.1.0', name: 'testnet', type: 'virtnet-bridge', ...extra });

test('config: defaults for bridge, dataDir, booleans and optional sections', () => {
  const c = parseConfig(conf());
  assert.equal(DEFAULT_BRIDGE, 'virtnet0');
  assert.equal(DEFAULT_DATA_DIR, '/var/lib/cni/virtnet');
  assert.equal(c.bridge, 'virtnet0');
  assert.equal(c.dataDir, '/var/lib/cni/virtnet');
  assert.equal(c.cniVersion, '1.1.0');
  assert.equal(c.name, 'testnet');
  assert.equal(c.type, 'virtnet-bridge');
  assert.equal(c.isGateway, false);
  assert.equal(c.isDefaultGateway, false);
  assert.equal(c.hairpinMode, false);
  assert.equal(c.promiscMode, false);
  assert.equal(c.ipMasq, false);
  assert.equal(c.macspoofchk, false);
  for (const key of [
    'mtu',
    'vxlan',
    'vlanTrunk',
    'ipam',
    'dns',
    'mac',
    'logFile',
    'prevResult',
    'validAttachments',
  ] as const) {
    assert.equal(key in c, false, `${key} should be absent`);
  }
  assert.deepEqual(c.raw, JSON.parse(conf()));
});

test('config: type defaults to virtnet-bridge when absent', () => {
  const c = parseConfig(JSON.stringify({ cniVersion: '1.0.0', name: 'n' }));
  assert.equal(c.type, 'virtnet-bridge');
});

test('config: explicit bridge, dataDir, mtu and logFile are kept', () => {
  const c = parseConfig(
    conf({ bridge: 'br-vm', dataDir: '/tmp/virtnet-data', mtu: 9000, logFile: '/var/log/virtnet.log' }),
  );
  assert.equal(c.bridge, 'br-vm');
  assert.equal(c.dataDir, '/tmp/virtnet-data');
  assert.equal(c.mtu, 9000);
  assert.equal(c.logFile, '/var/log/virtnet.log');
});

test('config: mtu bounds 68 and 65535 are accepted', () => {
  assert.equal(parseConfig(conf({ mtu: 68 })).mtu, 68);
  assert.equal(parseConfig(conf({ mtu: 65535 })).mtu, 65535);
});

test('config: isDefaultGateway implies isGateway', () => {
  const c = parseConfig(conf({ isDefaultGateway: true }));
  assert.equal(c.isDefaultGateway, true);
  assert.equal(c.isGateway, true);
  const d = parseConfig(conf({ isDefaultGateway: true, isGateway: false }));
  assert.equal(d.isGateway, true);
  const e = parseConfig(conf({ isGateway: true }));
  assert.equal(e.isGateway, true);
  assert.equal(e.isDefaultGateway, false);
});

test('config: "true"/"false" strings are booleans', () => {
  const c = parseConfig(
    conf({
      isGateway: 'false',
      isDefaultGateway: 'false',
      hairpinMode: 'true',
      promiscMode: 'true',
      ipMasq: 'true',
      macspoofchk: 'false',
    }),
  );
  assert.equal(c.isGateway, false);
  assert.equal(c.isDefaultGateway, false);
  assert.equal(c.hairpinMode, true);
  assert.equal(c.promiscMode, true);
  assert.equal(c.ipMasq, true);
  assert.equal(c.macspoofchk, false);
  const d = parseConfig(conf({ isDefaultGateway: 'true' }));
  assert.equal(d.isDefaultGateway, true);
  assert.equal(d.isGateway, true);
});

test('config: other boolean spellings are rejected with code 7', () => {
  for (const v of ['yes', 'TRUE', 1, 0, null]) {
    assert.throws(
      () => parseConfig(conf({ hairpinMode: v })),
      (e: unknown) => {
        assert.ok(e instanceof VirtnetError);
        assert.equal(e.code, ErrorCode.invalidConfig);
        assert.equal(e.message, 'hairpinMode: must be a boolean');
        return true;
      },
      `hairpinMode ${JSON.stringify(v)}`,
    );
  }
});

test('config: MAC precedence runtimeConfig.mac > args.cni.mac > CNI_ARGS MAC', () => {
  const args = new Map([['MAC', '02:00:00:00:00:03']]);
  const all = conf({ runtimeConfig: { mac: '02:00:00:00:00:01' }, args: { cni: { mac: '02:00:00:00:00:02' } } });
  assert.equal(parseConfig(all, args).mac, '02:00:00:00:00:01');
  const noRc = conf({ args: { cni: { mac: '02:00:00:00:00:02' } } });
  assert.equal(parseConfig(noRc, args).mac, '02:00:00:00:00:02');
  assert.equal(parseConfig(conf(), args).mac, '02:00:00:00:00:03');
  assert.equal('mac' in parseConfig(conf(), new Map()), false);
});

test('config: requested MAC is lower-cased', () => {
  assert.equal(parseConfig(conf({ runtimeConfig: { mac: '0A:BC:DE:F0:12:34' } })).mac, '0a:bc:de:f0:12:34');
  assert.equal(parseConfig(conf(), new Map([['MAC', 'AE:00:00:00:00:01']])).mac, 'ae:00:00:00:00:01');
});

test('config: a bad CNI_ARGS MAC names CNI_ARGS MAC', () => {
  assert.throws(
    () => parseConfig(conf(), new Map([['MAC', 'nope']])),
    (e: unknown) => {
      assert.ok(e instanceof VirtnetError);
      assert.equal(e.code, 7);
      assert.match(e.message, /^CNI_ARGS MAC: "nope" is not a MAC address/);
      return true;
    },
  );
  assert.throws(
    () => parseConfig(conf(), new Map([['MAC', '01:00:5e:00:00:01']])),
    /CNI_ARGS MAC: "01:00:5e:00:00:01" is a multicast MAC/,
  );
});

test('config: vlanTrunk entries with id and with minID/maxID', () => {
  const c = parseConfig(
    conf({ vlanTrunk: [{ id: 1 }, { minID: 100, maxID: 200 }, { id: 4094 }, { minID: 7, maxID: 7 }] }),
  );
  assert.deepEqual(c.vlanTrunk, [{ id: 1 }, { minID: 100, maxID: 200 }, { id: 4094 }, { minID: 7, maxID: 7 }]);
});

test('config: vlanTrunk entry mixing id and range, or half a range, is rejected', () => {
  assert.throws(
    () => parseConfig(conf({ vlanTrunk: [{ id: 5, minID: 1, maxID: 9 }] })),
    /^VirtnetError: vlanTrunk\[0\]: set id, or minID and maxID, not both$/,
  );
  assert.throws(
    () => parseConfig(conf({ vlanTrunk: [{ id: 5 }, { minID: 1 }] })),
    /vlanTrunk\[1\]: needs id, or both minID and maxID/,
  );
});

test('config: vxlan with a unicast remote gets the default port', () => {
  const c = parseConfig(conf({ vxlan: { id: 42, remote: '192.0.2.10' } }));
  assert.equal(DEFAULT_VXLAN_PORT, 4789);
  assert.deepEqual(c.vxlan, { id: 42, port: 4789, remote: '192.0.2.10' });
});

test('config: vxlan with a multicast group, dev, local and port', () => {
  const c = parseConfig(conf({ vxlan: { id: 0, group: '239.1.1.1', dev: 'eth1', local: '192.0.2.1', port: 8472 } }));
  assert.deepEqual(c.vxlan, { id: 0, port: 8472, group: '239.1.1.1', local: '192.0.2.1', dev: 'eth1' });
  const v6 = parseConfig(conf({ vxlan: { id: 16777215, group: 'ff05::100', dev: 'eth1' } }));
  assert.deepEqual(v6.vxlan, { id: 16777215, port: 4789, group: 'ff05::100', dev: 'eth1' });
});

test('config: vxlan multicast group needs the underlay dev', () => {
  assert.throws(
    () => parseConfig(conf({ vxlan: { id: 1, group: '239.1.1.1' } })),
    /vxlan\.dev: is required with a multicast group/,
  );
});

test('config: ipam section kept as given; empty ipam means L2 only', () => {
  const ipam = { type: 'host-local', ranges: [[{ subnet: '10.10.0.0/24' }]] };
  const c = parseConfig(conf({ ipam }));
  assert.deepEqual(c.ipam, ipam);
  assert.equal('ipam' in parseConfig(conf({ ipam: {} })), false);
});

test('config: dns section', () => {
  const dns = {
    nameservers: ['10.0.0.53', 'fd00::53'],
    domain: 'example.test',
    search: ['a.test'],
    options: ['ndots:2'],
  };
  assert.deepEqual(parseConfig(conf({ dns })).dns, dns);
});

test('config: runtimeConfig.ips and args.cni.ips accept IPs and CIDRs', () => {
  assert.doesNotThrow(() =>
    parseConfig(conf({ runtimeConfig: { ips: ['10.0.0.5/24', 'fd00::5'] }, args: { cni: { ips: ['10.0.0.6'] } } })),
  );
});

test('config: prevResult at 0.4.0 (ips[].version) is read into the 1.1 shape', () => {
  const prevResult = {
    cniVersion: '0.4.0',
    interfaces: [
      { name: 'virtnet0', mac: '02:00:00:00:00:aa' },
      { name: 'veth1', mac: '02:00:00:00:00:bb' },
      { name: 'eth0', mac: '02:00:00:00:00:cc', sandbox: '/var/run/netns/x' },
    ],
    ips: [
      { version: '4', address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 2 },
      { version: '6', address: 'fd00::5/64', gateway: 'fd00::1', interface: 2 },
    ],
    routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }],
    dns: { nameservers: ['10.1.0.53'] },
  };
  const c = parseConfig(JSON.stringify({ cniVersion: '0.4.0', name: 'testnet', prevResult }));
  assert.deepEqual(c.prevResult, {
    cniVersion: '1.1.0',
    interfaces: prevResult.interfaces,
    ips: [
      { address: '10.1.0.5/24', gateway: '10.1.0.1', interface: 2 },
      { address: 'fd00::5/64', gateway: 'fd00::1', interface: 2 },
    ],
    routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }],
    dns: { nameservers: ['10.1.0.53'] },
  });
});

test('config: prevResult without cniVersion takes the config version', () => {
  const c = parseConfig(
    JSON.stringify({ cniVersion: '0.3.1', name: 'n', prevResult: { ips: [{ version: '4', address: '10.0.0.2/24' }] } }),
  );
  assert.deepEqual(c.prevResult, { cniVersion: '1.1.0', ips: [{ address: '10.0.0.2/24' }] });
});

test('config: prevResult older than 0.3.0 is refused with code 1', () => {
  assert.throws(
    () => parseConfig(conf({ prevResult: { cniVersion: '0.2.0', ip4: { ip: '10.0.0.2/24' } } })),
    (e: unknown) => {
      assert.ok(e instanceof VirtnetError);
      assert.equal(e.code, ErrorCode.incompatibleVersion);
      assert.match(e.message, /prevResult: cniVersion "0\.2\.0" is older than 0\.3\.0/);
      return true;
    },
  );
});

test('config: cni.dev/valid-attachments and legacy cni.dev/attachments are merged', () => {
  const c = parseConfig(
    conf({
      'cni.dev/valid-attachments': [
        { containerID: 'c1', ifname: 'eth0' },
        { containerID: 'c2', ifname: 'net1' },
      ],
      'cni.dev/attachments': [{ containerID: 'c3', ifname: 'eth0', extra: 'ignored' }],
    }),
  );
  assert.deepEqual(c.validAttachments, [
    { containerID: 'c1', ifname: 'eth0' },
    { containerID: 'c2', ifname: 'net1' },
    { containerID: 'c3', ifname: 'eth0' },
  ]);
  const legacyOnly = parseConfig(conf({ 'cni.dev/attachments': [{ containerID: 'c9', ifname: 'eth1' }] }));
  assert.deepEqual(legacyOnly.validAttachments, [{ containerID: 'c9', ifname: 'eth1' }]);
  assert.equal('validAttachments' in parseConfig(conf({ 'cni.dev/valid-attachments': [] })), false);
});

test('config: malformed attachments are rejected with the field name', () => {
  assert.throws(
    () => parseConfig(conf({ 'cni.dev/valid-attachments': {} })),
    /cni\.dev\/valid-attachments: must be a list of \{containerID, ifname\}/,
  );
  assert.throws(
    () => parseConfig(conf({ 'cni.dev/attachments': [{ containerID: 'c1' }] })),
    /cni\.dev\/attachments\[0\]: must have string containerID and ifname/,
  );
});

test('config: a network name of 98 bytes is accepted (the longest whose cache file name fits NAME_MAX)', () => {
  assert.equal(parseConfig(conf({ name: 'n'.repeat(98) })).name.length, 98);
  assert.throws(
    () => parseConfig(conf({ name: 'n'.repeat(99) })),
    /name: "n{99}… \(99 characters\) is 99 bytes; it must be at most 98/u,
  );
});

test(
  'config: a network named delegate-versions.json is an ordinary network (the version cache lives in ' +
    '<dataDir>/.cache)',
  () => {
    // Issue 11 defect 2: such a name once turned the cache into a directory. No name can start with ".".
    assert.equal(parseConfig(conf({ name: 'delegate-versions.json' })).name, 'delegate-versions.json');
    assert.throws(() => parseConfig(conf({ name: '.cache' })), /name: "\.cache" must match/u);
  },
);

test('config: dns domain and search take domain names; options take one word each', () => {
  const dns = {
    domain: 'svc.cluster.local',
    search: ['default.svc.cluster.local', '1a.example'],
    options: ['ndots:5', 'edns0'],
  };
  assert.deepEqual(parseConfig(conf({ dns })).dns, dns);
  assert.throws(() => parseConfig(conf({ dns: { search: ['a.test '] } })), /dns\.search\[0\]: is not a domain name/u);
  assert.throws(
    () => parseConfig(conf({ dns: { domain: '' } })),
    /dns\.domain: is not a domain name: must not be empty/u,
  );
  assert.throws(
    () => parseConfig(conf({ dns: { options: [''] } })),
    /dns\.options\[0\]: "" must be one resolv\.conf option word/u,
  );
});

test('config: the all-zero MAC is refused from each source, before a lower-priority one is read', () => {
  for (const [extra, args, field] of [
    [{ runtimeConfig: { mac: '00:00:00:00:00:00' } }, 'MAC=02:00:00:00:00:01', 'runtimeConfig.mac'],
    [{ args: { cni: { mac: '00:00:00:00:00:00' } } }, 'MAC=02:00:00:00:00:01', 'args.cni.mac'],
    [{}, 'MAC=00:00:00:00:00:00', 'CNI_ARGS MAC'],
  ] as const) {
    assert.throws(
      () => parseConfig(conf(extra), new Map([['MAC', args.slice(4)]])),
      (e: unknown) => {
        assert.ok(e instanceof VirtnetError);
        assert.equal(e.code, ErrorCode.invalidConfig);
        assert.equal(e.message, `${field}: "00:00:00:00:00:00" is the all-zero MAC, which no NIC may have`);
        return true;
      },
    );
  }
  assert.equal(parseConfig(conf({ runtimeConfig: { mac: '02:00:00:00:00:00' } })).mac, '02:00:00:00:00:00');
});
