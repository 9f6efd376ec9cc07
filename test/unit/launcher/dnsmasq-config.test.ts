/**
 * The dnsmasq configuration renderer: golden files, dnsmasq's own syntax
 * check, bad input, search-domain clean-up, and one real DHCP exchange
 * between network namespaces (busybox udhcpc against dnsmasq 2.90).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  renderDnsmasqConfig,
  validSearchDomain,
  type DhcpNic,
  type DnsmasqSpec,
} from '../../../launcher/dhcp/dnsmasq-config.ts';
import { makeNetns, deleteAllNetns } from '../../support/netns.ts';

const GOLDEN_DIR = join(dirname(fileURLToPath(import.meta.url)), 'golden');

/** Compares with the golden file, or rewrites it when UPDATE_GOLDEN=1. */
function golden(name: string, actual: string): void {
  const path = join(GOLDEN_DIR, name);
  if (process.env.UPDATE_GOLDEN === '1') {
    writeFileSync(path, actual);
    return;
  }
  assert.ok(existsSync(path), `golden file ${path} is missing; run with UPDATE_GOLDEN=1`);
  assert.equal(
    actual,
    readFileSync(path, 'utf8'),
    `${name} differs from the golden file (UPDATE_GOLDEN=1 rewrites it)`,
  );
}

function withTmp<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'virtnet-dnsmasq-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `dnsmasq --test`: parses the whole file without binding anything. */
function dnsmasqTest(text: string): { status: number; output: string } {
  return withTmp((dir) => {
    const file = join(dir, 'dnsmasq.conf');
    writeFileSync(file, text);
    const r = spawnSync('dnsmasq', ['--test', `--conf-file=${file}`], { encoding: 'utf8' });
    return { status: r.status ?? 128, output: `${r.stdout}${r.stderr}` };
  });
}

const FILES = {
  leaseFile: '/var/run/kubevirt-private/dnsmasq.leases',
  pidFile: '/var/run/kubevirt-private/dnsmasq.pid',
};

const BRIDGE_NIC: DhcpNic = {
  bridge: 'k6t-eth0',
  serverAddress: '169.254.75.10',
  mac: '02:5E:11:22:33:44',
  ipv4: { address: '10.244.0.5', prefix: 24 },
  sharedNetwork: true,
  hostname: 'vm1',
  router: '10.244.0.1',
  classlessRoutes: [
    { dst: '0.0.0.0/0', gateway: '10.244.0.1' },
    { dst: '10.96.0.0/12', gateway: '10.244.0.1' },
    { dst: '192.168.10.0/24', gateway: '10.244.0.254' },
  ],
  dnsServers: ['10.96.0.10', '10.96.0.11'],
  searchDomains: ['Default.svc.cluster.local', 'svc.cluster.local', 'cluster.local.'],
  domainName: 'default.svc.cluster.local',
  mtu: 1450,
  ntpServers: ['10.0.0.123', '10.0.0.124'],
  tftpServerName: '10.0.0.69',
  bootFileName: 'pxelinux/"boot",0',
  privateOptions: [
    { code: 252, value: 'http://wpad.example/wpad.dat' },
    { code: 240, value: 'back\\slash # and, comma' },
  ],
};

const MASQUERADE_NIC: DhcpNic = {
  bridge: 'k6t-eth0',
  serverAddress: '10.0.2.1',
  mac: '02:00:00:12:34:56',
  ipv4: { address: '10.0.2.2', prefix: 24 },
  ipv6: { address: 'fd10:0:2::2', prefix: 120 },
  sharedNetwork: false,
  routerAdvertisement: { routerLifetime: 1800 },
  hostname: 'vm-masq',
  router: '10.0.2.1',
  dnsServers: ['10.96.0.10', 'fd00:10:96::a'],
  searchDomains: ['default.svc.cluster.local', 'cluster.local'],
  mtu: 1400,
};

const SECONDARY_NIC: DhcpNic = {
  bridge: 'k6t-b1f25a43da3',
  serverAddress: '169.254.75.11',
  mac: '02:00:00:ab:cd:ef',
  ipv4: { address: '192.168.50.7', prefix: 24 },
  sharedNetwork: true,
  leaseSeconds: 86400,
};

test('golden: bridge binding with every option', () => {
  const r = renderDnsmasqConfig({ nics: [BRIDGE_NIC], ...FILES, logFacility: '/var/run/kubevirt-private/dnsmasq.log' });
  assert.deepEqual(r.warnings, []);
  golden('dnsmasq-bridge.conf', r.text);
  // RFC 3442: the default route is in option 121 too, and last.
  assert.match(
    r.text,
    /classless-static-route,10\.96\.0\.0\/12,10\.244\.0\.1,192\.168\.10\.0\/24,10\.244\.0\.254,0\.0\.0\.0\/0,10\.244\.0\.1\n/u,
  );
  assert.match(r.text, /^dhcp-host=02:5e:11:22:33:44,set:nic0,10\.244\.0\.5,vm1\.,infinite$/mu);
  assert.match(r.text, /^shared-network=169\.254\.75\.10,10\.244\.0\.5$/mu);
  assert.match(r.text, /option:bootfile-name,"pxelinux\/\\"boot\\",0"$/mu);
  assert.match(r.text, /^dhcp-option-force=tag:nic0,240,"back\\\\slash # and, comma"$/mu);
});

test('golden: masquerade, dual-stack, with router advertisements', () => {
  const r = renderDnsmasqConfig({ nics: [MASQUERADE_NIC], ...FILES });
  assert.deepEqual(r.warnings, []);
  golden('dnsmasq-masquerade.conf', r.text);
  assert.doesNotMatch(r.text, /shared-network/u);
  assert.match(r.text, /^enable-ra$/mu);
  assert.match(r.text, /^ra-param=k6t-eth0,mtu:1400,10,1800$/mu);
  assert.match(r.text, /^dhcp-range=set:nic0,fd10:0:2::2,static,120,infinite$/mu);
  assert.match(r.text, /^dhcp-host=02:00:00:12:34:56,set:nic0,10\.0\.2\.2,\[fd10:0:2::2\],vm-masq\.,infinite$/mu);
  assert.match(r.text, /^dhcp-option=tag:nic0,option6:dns-server,\[fd00:10:96::a\]$/mu);
});

test('golden: two NICs, each with its own tag', () => {
  const r = renderDnsmasqConfig({ nics: [MASQUERADE_NIC, SECONDARY_NIC], ...FILES });
  assert.deepEqual(r.warnings, []);
  golden('dnsmasq-two-nics.conf', r.text);
  assert.match(r.text, /^interface=k6t-eth0$/mu);
  assert.match(r.text, /^interface=k6t-b1f25a43da3$/mu);
  assert.match(r.text, /^dhcp-range=set:nic1,192\.168\.50\.7,static,255\.255\.255\.0,86400$/mu);
  // No router given: an empty router option stops dnsmasq offering itself.
  assert.match(r.text, /^dhcp-option=tag:nic1,option:router$/mu);
  for (const line of r.text.split('\n').filter((l) => l.startsWith('dhcp-option'))) {
    assert.match(line, /^dhcp-option(?:-force)?=tag:nic[01],/u, line);
  }
});

test('the output is deterministic', () => {
  const spec: DnsmasqSpec = {
    nics: [MASQUERADE_NIC, BRIDGE_NIC, SECONDARY_NIC].map((n, i) => ({
      ...n,
      bridge: `k6t-net${i}`,
      mac: `02:00:00:00:00:0${i + 1}`,
    })),
    ...FILES,
  };
  assert.equal(renderDnsmasqConfig(spec).text, renderDnsmasqConfig(structuredClone(spec)).text);
});

test('dnsmasq --test accepts every golden configuration', {
  skip: spawnSync('dnsmasq', ['--version']).status !== 0 && 'dnsmasq is not installed',
}, () => {
  for (const spec of [
    { nics: [BRIDGE_NIC], ...FILES, logFacility: '/var/run/kubevirt-private/dnsmasq.log' },
    { nics: [MASQUERADE_NIC], ...FILES },
    { nics: [MASQUERADE_NIC, SECONDARY_NIC], ...FILES },
  ]) {
    const r = dnsmasqTest(renderDnsmasqConfig(spec).text);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /syntax check OK/u);
  }
});

function nic(over: Record<string, unknown>): DhcpNic {
  return { ...BRIDGE_NIC, ...over } as DhcpNic;
}

const BAD: Array<[string, unknown, RegExp]> = [
  ['MAC', { nics: [nic({ mac: 'zz' })] }, /^nics\[0\]\.mac: "zz" is not a MAC address$/u],
  [
    'MAC with a newline',
    { nics: [nic({ mac: '02:00:00:00:00:01\ndhcp-range=0.0.0.0' })] },
    /^nics\[0\]\.mac: .* is not a MAC address/u,
  ],
  ['multicast MAC', { nics: [nic({ mac: '01:00:5e:00:00:01' })] }, /^nics\[0\]\.mac: .*multicast/u],
  [
    'all-zero MAC',
    { nics: [nic({ mac: '00:00:00:00:00:00' })] },
    /^nics\[0\]\.mac: "00:00:00:00:00:00" is the all-zero MAC address$/u,
  ],
  ['bridge name too long', { nics: [nic({ bridge: 'k6t-0123456789abc' })] }, /^nics\[0\]\.bridge: .*at most 15 bytes/u],
  ['bridge name with a comma', { nics: [nic({ bridge: 'k6t,eth0' })] }, /^nics\[0\]\.bridge: /u],
  ['bridge wildcard', { nics: [nic({ bridge: 'k6t-*' })] }, /^nics\[0\]\.bridge: /u],
  [
    'server address',
    { nics: [nic({ serverAddress: '169.254.75.300' })] },
    /^nics\[0\]\.serverAddress: "169\.254\.75\.300" is not an IPv4 address$/u,
  ],
  ['guest IPv4', { nics: [nic({ ipv4: { address: '10.244.0', prefix: 24 } })] }, /^nics\[0\]\.ipv4\.address: /u],
  [
    'guest IPv4 prefix',
    { nics: [nic({ ipv4: { address: '10.244.0.5', prefix: 33 } })] },
    /^nics\[0\]\.ipv4\.prefix: /u,
  ],
  ['guest IPv6', { nics: [nic({ ipv6: { address: 'fd00::g', prefix: 64 } })] }, /^nics\[0\]\.ipv6\.address: /u],
  [
    'guest IPv6 prefix under 64',
    { nics: [nic({ ipv6: { address: 'fd00::5', prefix: 48 } })] },
    /^nics\[0\]\.ipv6\.prefix: /u,
  ],
  ['router', { nics: [nic({ router: 'fd00::1' })] }, /^nics\[0\]\.router: /u],
  [
    'DNS server',
    { nics: [nic({ dnsServers: ['10.96.0.10', 'dns.example'] })] },
    /^nics\[0\]\.dnsServers\[1\]: "dns\.example" is not an IP address$/u,
  ],
  ['IPv6 NTP server', { nics: [nic({ ntpServers: ['fd00::123'] })] }, /^nics\[0\]\.ntpServers\[0\]: .*IPv6/u],
  [
    'route with host bits',
    { nics: [nic({ classlessRoutes: [{ dst: '10.96.0.1/12', gateway: '10.244.0.1' }] })] },
    /^nics\[0\]\.classlessRoutes\[0\]\.dst: .*host bits/u,
  ],
  [
    'route gateway',
    { nics: [nic({ classlessRoutes: [{ dst: '10.96.0.0/12', gateway: 'x' }] })] },
    /^nics\[0\]\.classlessRoutes\[0\]\.gateway: /u,
  ],
  ['MTU too small', { nics: [nic({ mtu: 67 })] }, /^nics\[0\]\.mtu: 67 is not an integer in 68–65535$/u],
  ['MTU too large', { nics: [nic({ mtu: 65536 })] }, /^nics\[0\]\.mtu: /u],
  [
    'private option code 223',
    { nics: [nic({ privateOptions: [{ code: 223, value: 'x' }] })] },
    /^nics\[0\]\.privateOptions\[0\]\.code: 223 is not an integer in 224–254$/u,
  ],
  [
    'private option code 255',
    { nics: [nic({ privateOptions: [{ code: 255, value: 'x' }] })] },
    /^nics\[0\]\.privateOptions\[0\]\.code: /u,
  ],
  [
    'duplicate private option',
    {
      nics: [
        nic({
          privateOptions: [
            { code: 240, value: 'a' },
            { code: 240, value: 'b' },
          ],
        }),
      ],
    },
    /^nics\[0\]\.privateOptions\[1\]\.code: 240 is given twice$/u,
  ],
  ['hostname with a dot', { nics: [nic({ hostname: 'vm1.example' })] }, /^nics\[0\]\.hostname: /u],
  ['hostname of 64 characters', { nics: [nic({ hostname: 'a'.repeat(64) })] }, /^nics\[0\]\.hostname: /u],
  ['lease under two minutes', { nics: [nic({ leaseSeconds: 60 })] }, /^nics\[0\]\.leaseSeconds: /u],
  [
    'router lifetime under the interval',
    { nics: [nic({ ipv6: { address: 'fd00::5', prefix: 64 }, routerAdvertisement: { routerLifetime: 5 } })] },
    /^nics\[0\]\.routerAdvertisement\.routerLifetime: /u,
  ],
  [
    'RA without IPv6',
    { nics: [nic({ routerAdvertisement: { routerLifetime: 1800 } })] },
    /^nics\[0\]\.routerAdvertisement: /u,
  ],
  ['relative lease file', { nics: [BRIDGE_NIC], leaseFile: 'dnsmasq.leases', pidFile: '/run/d.pid' }, /^leaseFile: /u],
  [
    'pid file with ..',
    { nics: [BRIDGE_NIC], leaseFile: '/run/d.leases', pidFile: '/run/../etc/passwd' },
    /^pidFile: .*"\.\."/u,
  ],
  [
    'pid file with a newline',
    { nics: [BRIDGE_NIC], leaseFile: '/run/d.leases', pidFile: '/run/d.pid\ndhcp-range=0.0.0.0' },
    /^pidFile: .*control characters/u,
  ],
  ['log file with a space', { nics: [BRIDGE_NIC], ...FILES, logFacility: '/run/my log' }, /^logFacility: /u],
  ['no NICs', { nics: [], ...FILES }, /^nics: /u],
  ['no addresses', { nics: [nic({ ipv4: undefined })] }, /^nics\[0\]: has neither ipv4 nor ipv6/u],
  [
    'masquerade without shared network, server outside',
    { nics: [nic({ sharedNetwork: false })] },
    /^nics\[0\]\.sharedNetwork: /u,
  ],
  [
    'duplicate bridge',
    { nics: [BRIDGE_NIC, { ...SECONDARY_NIC, bridge: 'k6t-eth0' }] },
    /^nics\[1\]\.bridge: "k6t-eth0" is also nics\[0\]\.bridge$/u,
  ],
  ['duplicate MAC', { nics: [BRIDGE_NIC, { ...SECONDARY_NIC, mac: '02:5e:11:22:33:44' }] }, /^nics\[1\]\.mac: /u],
];

test(`${BAD.length} invalid inputs throw a TypeError naming the field`, () => {
  for (const [name, over, re] of BAD) {
    const spec = { nics: [BRIDGE_NIC], ...FILES, ...(over as object) } as DnsmasqSpec;
    assert.throws(
      () => renderDnsmasqConfig(spec),
      (e: unknown) => {
        assert.ok(e instanceof TypeError, `${name}: not a TypeError: ${String(e)}`);
        assert.match(e.message, re, name);
        return true;
      },
      name,
    );
  }
});

test('injection: newlines are refused, commas and quotes are quoted', () => {
  const inject = '\ndhcp-range=0.0.0.0,255.255.255.255';
  for (const over of [
    { hostname: `vm1${inject}` },
    { privateOptions: [{ code: 240, value: `x${inject}` }] },
    { bootFileName: `boot${inject}` },
    { tftpServerName: `tftp\r${inject}` },
    { privateOptions: [{ code: 241, value: 'tab\there' }] },
    { bootFileName: 'nul\u0000' },
    { bootFileName: 'line\u2028separator' },
    { tftpServerName: ' leading-blank' },
  ]) {
    assert.throws(() => renderDnsmasqConfig({ nics: [nic(over)], ...FILES }), TypeError, JSON.stringify(over));
  }
  const r = renderDnsmasqConfig({
    nics: [nic({ bootFileName: 'a,b,"c"\\d#e', privateOptions: [{ code: 250, value: '10.0.0.1' }] })],
    ...FILES,
  });
  const lines = r.text.split('\n');
  assert.ok(lines.includes('dhcp-option-force=tag:nic0,option:bootfile-name,"a,b,\\"c\\"\\\\d#e"'), r.text);
  // A value that looks like an address stays a string.
  assert.ok(lines.includes('dhcp-option-force=tag:nic0,250,"10.0.0.1"'), r.text);
  // Every line is a comment, blank, or one key=value that dnsmasq knows.
  for (const line of lines) assert.match(line, /^(?:$|# |[a-z-]+(?:=\S.*)?$)/u, line);
  assert.equal(dnsmasqTest(r.text).status, 0);
});

test('validSearchDomain: RFC 1035 labels, 253 bytes in all', () => {
  for (const good of [
    'cluster.local',
    'default.svc.cluster.local',
    '123ns.svc.cluster.local',
    'a',
    `${'a'.repeat(63)}.example`,
    'x-y.example',
  ]) {
    assert.ok(validSearchDomain(good), good);
  }
  const long = Array.from({ length: 4 }, () => 'a'.repeat(63)).join('.'); // 255
  for (const bad of [
    '',
    '-bad.example',
    'bad-.example',
    'a..b',
    '.a',
    'a.',
    `${'a'.repeat(64)}.example`,
    'under_score.example',
    'with space.example',
    'tab\t.example',
    'ünï.example',
    long,
    'a.b\n',
  ]) {
    assert.ok(!validSearchDomain(bad), JSON.stringify(bad));
  }
});

test('search domains: invalid ones are dropped with warnings, never thrown', () => {
  const r = renderDnsmasqConfig({
    nics: [
      nic({
        searchDomains: [
          '-bad.example',
          'a..b',
          `${'a'.repeat(64)}.example`,
          'under_score.example',
          'with space.example',
          'Good.Example',
          'good.example',
          'ok.example',
          42,
        ],
      }),
    ],
    ...FILES,
  });
  assert.match(r.text, /^dhcp-option-force=tag:nic0,option:domain-search,good\.example,ok\.example$/mu);
  assert.equal(r.warnings.length, 7, r.warnings.join('\n'));
  assert.match(
    r.warnings[0] ?? '',
    /^nics\[0\]\.searchDomains\[0\]: "-bad\.example" is not a valid search domain; dropped$/u,
  );
  assert.ok(r.warnings.some((w) => w.includes('"with space.example"')));
  assert.ok(r.warnings.some((w) => w.includes('duplicate')));

  const none = renderDnsmasqConfig({ nics: [nic({ searchDomains: ['a..b'], domainName: 'bad_domain' })], ...FILES });
  assert.doesNotMatch(none.text, /domain-search|domain-name/u);
  assert.equal(none.warnings.length, 2);
});

test('search domains: a list over 255 encoded bytes is cut with a warning', () => {
  // Each name is 61 characters, 63 bytes on the wire: four fit (252), the fifth does not.
  const names = Array.from({ length: 6 }, (_, i) => `${String(i).repeat(20)}.${'b'.repeat(20)}.${'c'.repeat(19)}`);
  assert.equal(names[0]?.length, 61);
  const r = renderDnsmasqConfig({ nics: [nic({ searchDomains: names })], ...FILES });
  const line = r.text.split('\n').find((l) => l.includes('domain-search')) ?? '';
  assert.equal(line, `dhcp-option-force=tag:nic0,option:domain-search,${names.slice(0, 4).join(',')}`);
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0] ?? '', /passes 255 bytes; dropped 2 domain\(s\) from index 4/u);
  assert.equal(dnsmasqTest(r.text).status, 0);
});

test('IPv6 over a shared network warns: dnsmasq 2.90 does not serve it', () => {
  const r = renderDnsmasqConfig({ nics: [nic({ ipv6: { address: 'fd00:10:244::5', prefix: 64 } })], ...FILES });
  assert.equal(r.warnings.length, 1);
  assert.match(
    r.warnings[0] ?? '',
    /^nics\[0\]\.ipv6: dnsmasq 2\.90 applies shared-network to DHCPv6 only for relayed requests/u,
  );
  assert.doesNotMatch(r.text, /shared-network=\S*,fd00/u);
});

test('enable-ra is global: a NIC without routerAdvertisement gets router lifetime 0', () => {
  const other: DhcpNic = {
    ...SECONDARY_NIC,
    ipv6: { address: 'fd20::7', prefix: 64 },
    sharedNetwork: false,
    serverAddress: '192.168.50.1',
  };
  const r = renderDnsmasqConfig({ nics: [MASQUERADE_NIC, other], ...FILES });
  assert.match(r.text, /^ra-param=k6t-b1f25a43da3,0,0$/mu);
  assert.equal(r.warnings.length, 1);
  assert.equal(dnsmasqTest(r.text).status, 0);
});

// ---------------------------------------------------------------------------
// A real exchange: dnsmasq in a "pod" netns serving a bridge, udhcpc in a
// "guest" netns on the other end of a veth that is a port of the bridge.

after(() => deleteAllNetns());

const isRoot = process.getuid?.() === 0;
const haveTools = spawnSync('dnsmasq', ['--version']).status === 0 && spawnSync('busybox', ['true']).status === 0;

/**
 * A pod namespace with KubeVirt's k6t-eth0 bridge and tap0, and a "guest" namespace whose eth0 (MAC `vmMac`) is the
 * tap's peer.
 */
function podAndGuest(prefix: string, vmMac: string) {
  const pod = makeNetns(`${prefix}-pod`);
  const guest = makeNetns(`${prefix}-vm`);
  pod.run(['ip', 'link', 'add', 'k6t-eth0', 'type', 'bridge']);
  pod.run(['ip', 'addr', 'add', '169.254.75.10/32', 'dev', 'k6t-eth0']);
  pod.run(['ip', 'link', 'set', 'k6t-eth0', 'up']);
  pod.run(['ip', 'link', 'add', 'tap0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', guest.name]);
  pod.run(['ip', 'link', 'set', 'tap0', 'master', 'k6t-eth0', 'up']);
  guest.run(['ip', 'link', 'set', 'eth0', 'address', vmMac, 'up']);
  return { pod, guest };
}

test('bridge binding: the VM MAC gets the pod IP with every option, fast; another MAC gets nothing', {
  skip: (!isRoot && 'needs root') || (!haveTools && 'needs dnsmasq and busybox'),
  timeout: 30_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'virtnet-dnsmasq-'));
  let dnsmasq: ReturnType<typeof spawn> | undefined;
  try {
    const vmMac = '02:5e:00:00:00:05';
    const { pod, guest } = podAndGuest('vn-dq', vmMac);

    const log = join(dir, 'dnsmasq.log');
    const { text, warnings } = renderDnsmasqConfig({
      nics: [
        {
          bridge: 'k6t-eth0',
          serverAddress: '169.254.75.10',
          mac: vmMac,
          ipv4: { address: '10.244.0.5', prefix: 24 },
          sharedNetwork: true,
          router: '10.244.0.1',
          dnsServers: ['10.96.0.10'],
          searchDomains: ['cluster.local'],
          mtu: 1450,
          hostname: 'vm1',
        },
      ],
      leaseFile: join(dir, 'dnsmasq.leases'),
      pidFile: join(dir, 'dnsmasq.pid'),
      logFacility: log,
    });
    assert.deepEqual(warnings, []);
    const conf = join(dir, 'dnsmasq.conf');
    writeFileSync(conf, text);
    const script = join(dir, 'udhcpc.sh');
    writeFileSync(
      script,
      '#!/bin/sh\n[ "$1" = bound ] && echo "ip=$ip mask=$mask router=$router dns=$dns search=$search mtu=$mtu ' +
        'hostname=$hostname"\nexit 0\n',
      { mode: 0o755 },
    );

    let stderr = '';
    dnsmasq = spawn('ip', ['netns', 'exec', pod.name, 'dnsmasq', '--keep-in-foreground', `--conf-file=${conf}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    dnsmasq.stderr?.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    // Wait until dnsmasq holds UDP port 67 in the pod.
    const deadline = Date.now() + 5000;
    while (!/:67\b/u.test(pod.try(['ss', '-H', '-lun']).stdout)) {
      assert.equal(dnsmasq.exitCode, null, `dnsmasq exited: ${stderr}`);
      assert.ok(Date.now() < deadline, `dnsmasq did not bind port 67: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }

    const udhcpc = ['busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-t', '5', '-T', '1', '-s', script];
    const t0 = process.hrtime.bigint();
    const got = guest.try(udhcpc);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.equal(got.status, 0, `udhcpc: ${got.stderr}\n${readFileSync(log, 'utf8')}`);
    assert.equal(
      got.stdout.trim(),
      'ip=10.244.0.5 mask=24 router=10.244.0.1 dns=10.96.0.10 search=cluster.local mtu=1450 hostname=vm1',
    );
    // No ping check (about 3 s otherwise): the whole exchange is quick.
    assert.ok(ms < 700, `the lease took ${ms.toFixed(0)} ms`);
    assert.match(readFileSync(join(dir, 'dnsmasq.leases'), 'utf8'), /02:5e:00:00:00:05 10\.244\.0\.5 vm1/u);

    // Any other MAC: no answer at all.
    guest.run(['ip', 'link', 'set', 'eth0', 'address', '02:5e:00:00:00:99']);
    const stranger = guest.try(['busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-t', '2', '-T', '1', '-s', script]);
    assert.notEqual(stranger.status, 0, stranger.stdout);
    assert.equal(stranger.stdout.trim(), '');
    assert.match(readFileSync(log, 'utf8'), /DHCPDISCOVER\(k6t-eth0\) 02:5e:00:00:00:99 ignored/u);
  } finally {
    if (dnsmasq && dnsmasq.exitCode === null) {
      const exited = new Promise((r) => dnsmasq?.once('exit', r));
      dnsmasq.kill('SIGTERM');
      await exited;
    }
    deleteAllNetns();
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------
// Hostnames that dnsmasq's dhcp-host parser would read as something else
// (option.c, case 'G'): "ignore" (never answer), "infinite" and digits with
// an optional s/m/h/d/w suffix (a lease time). Each is written as `<name>.`.

const KEYWORD_NAMES = ['ignore', 'infinite', '600', '5m', '12h', '1w', '7', '30s', '2d'];

test('dhcp-host: every hostname is written as `<name>.`, so dnsmasq never reads it as a keyword or a lease time', () => {
  for (const name of [...KEYWORD_NAMES, 'vm1', 'm', 's5', 'my-vm', '0x1']) {
    const r = renderDnsmasqConfig({ nics: [nic({ hostname: name })], ...FILES });
    const lines = r.text.split('\n');
    assert.ok(
      lines.includes(`dhcp-host=02:5e:11:22:33:44,set:nic0,10.244.0.5,${name}.,infinite`),
      `${name}:\n${r.text}`,
    );
    // Option 12 is typed as a name (dhcp-common.c opttab: OT_NAME), so "600" stays the string "600".
    assert.ok(lines.includes(`dhcp-option-force=tag:nic0,12,${name}`), `${name}:\n${r.text}`);
  }
});

test('no rendered line passes the 1023 bytes dnsmasq reads as one line', () => {
  const routes = Array.from({ length: 40 }, (_, i) => ({ dst: `10.${i}.0.0/16`, gateway: '10.244.0.1' }));
  assert.throws(
    () => renderDnsmasqConfig({ nics: [nic({ classlessRoutes: routes })], ...FILES }),
    /^TypeError: nics\[0\]: renders a line of \d+ bytes; dnsmasq reads at most 1023/u,
  );
  const longPath = `/run/${'a'.repeat(1100)}/d.leases`;
  assert.throws(
    () => renderDnsmasqConfig({ nics: [BRIDGE_NIC], leaseFile: longPath, pidFile: '/run/d.pid' }),
    /^TypeError: leaseFile: renders a line of/u,
  );
});

test('dnsmasq --test accepts the keyword-like hostnames', {
  skip: spawnSync('dnsmasq', ['--version']).status !== 0 && 'dnsmasq is not installed',
}, () => {
  for (const name of KEYWORD_NAMES) {
    const r = dnsmasqTest(renderDnsmasqConfig({ nics: [nic({ hostname: name })], ...FILES }).text);
    assert.equal(r.status, 0, `${name}: ${r.output}`);
  }
});

test('real DHCP: a VM named ignore, infinite, 600, 5m, 1w gets its lease and its hostname', {
  skip: (!isRoot && 'needs root') || (!haveTools && 'needs dnsmasq and busybox'),
  timeout: 60_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'virtnet-dnsmasq-'));
  try {
    const vmMac = '02:5e:00:00:00:07';
    const { pod, guest } = podAndGuest('vn-dqk', vmMac);
    const script = join(dir, 'udhcpc.sh');
    writeFileSync(script, '#!/bin/sh\n[ "$1" = bound ] && echo "ip=$ip hostname=$hostname"\nexit 0\n', { mode: 0o755 });
    for (const name of ['ignore', 'infinite', '600', '5m', '1w']) {
      const leaseFile = join(dir, `${name}.leases`);
      const { text } = renderDnsmasqConfig({
        nics: [
          {
            bridge: 'k6t-eth0',
            serverAddress: '169.254.75.10',
            mac: vmMac,
            ipv4: { address: '10.244.0.5', prefix: 24 },
            sharedNetwork: true,
            hostname: name,
          },
        ],
        leaseFile,
        pidFile: join(dir, `${name}.pid`),
      });
      const conf = join(dir, `${name}.conf`);
      writeFileSync(conf, text);
      const got = await withDnsmasq(pod, conf, () =>
        guest.try(['busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-t', '4', '-T', '1', '-s', script]),
      );
      assert.equal(got.status, 0, `${name}: udhcpc got no lease: ${got.stderr}`);
      assert.equal(got.stdout.trim(), `ip=10.244.0.5 hostname=${name}`, name);
      // The lease is infinite (expiry 0) and carries the name: dnsmasq read it as the hostname.
      assert.match(
        readFileSync(leaseFile, 'utf8'),
        new RegExp(`^0 02:5e:00:00:00:07 10\\.244\\.0\\.5 ${name} `, 'mu'),
        name,
      );
    }
  } finally {
    deleteAllNetns();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Runs dnsmasq in `pod` with `conf` until `fn` returns; waits for UDP port 67 first. */
async function withDnsmasq<T>(pod: ReturnType<typeof makeNetns>, conf: string, fn: () => T): Promise<T> {
  let stderr = '';
  const dnsmasq = spawn('ip', ['netns', 'exec', pod.name, 'dnsmasq', '--keep-in-foreground', `--conf-file=${conf}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  dnsmasq.stderr?.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  const exited = new Promise((r) => dnsmasq.once('exit', r));
  try {
    const deadline = Date.now() + 5000;
    while (!/:67\b/u.test(pod.try(['ss', '-H', '-lun']).stdout)) {
      assert.equal(dnsmasq.exitCode, null, `dnsmasq exited: ${stderr}`);
      assert.ok(Date.now() < deadline, `dnsmasq did not bind port 67: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return fn();
  } finally {
    if (dnsmasq.exitCode === null) dnsmasq.kill('SIGTERM');
    await exited;
  }
}
