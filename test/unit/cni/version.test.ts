import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compareVersions,
  convertResult,
  isSupported,
  LATEST_VERSION,
  parseResult,
  requireSupported,
  requireVerbAllowed,
  SUPPORTED_VERSIONS,
} from '../../../cni/version.ts';
import { ErrorCode, VirtnetError } from '../../../lib/errors.ts';
import type { CniResult } from '../../../cni/types.ts';

/** A 1.1.0 result using every field 1.1.0 added. */
function full(): CniResult {
  return {
    cniVersion: '1.1.0',
    interfaces: [
      { name: 'virtnet0', mac: '02:00:00:00:00:01' },
      { name: 'veth0a1b2c3d', mac: '02:00:00:00:00:02', mtu: 9000 },
      {
        name: 'eth0',
        mac: '02:00:00:00:00:03',
        mtu: 9000,
        sandbox: '/var/run/netns/pod',
        socketPath: '/run/vhost/sock0',
        pciID: '0000:00:1f.6',
      },
    ],
    ips: [
      { address: '10.22.0.5/24', gateway: '10.22.0.1', interface: 2 },
      { address: 'fd00:22::5/64', gateway: 'fd00:22::1', interface: 2 },
    ],
    routes: [
      { dst: '0.0.0.0/0', gw: '10.22.0.1', mtu: 1400, advmss: 1360, priority: 100, table: 1000, scope: 0 },
      { dst: '192.168.0.0/16' },
      { dst: '::/0', gw: 'fd00:22::1', priority: 5 },
    ],
    dns: { nameservers: ['10.22.0.53'], domain: 'cluster.test', search: ['ns.cluster.test'], options: ['ndots:5'] },
  };
}

const BASE_INTERFACES = [
  { name: 'virtnet0', mac: '02:00:00:00:00:01' },
  { name: 'veth0a1b2c3d', mac: '02:00:00:00:00:02' },
  { name: 'eth0', mac: '02:00:00:00:00:03', sandbox: '/var/run/netns/pod' },
];
const BASE_ROUTES = [
  { dst: '0.0.0.0/0', gw: '10.22.0.1' },
  { dst: '192.168.0.0/16' },
  { dst: '::/0', gw: 'fd00:22::1' },
];

test('version: supported list and latest', () => {
  assert.deepEqual([...SUPPORTED_VERSIONS], ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']);
  assert.equal(LATEST_VERSION, '1.1.0');
  assert.equal(isSupported('1.1.0'), true);
  assert.equal(isSupported('0.2.0'), false);
  assert.equal(isSupported('1.1'), false);
});

test('version: compareVersions is numeric, not lexical', () => {
  assert.equal(compareVersions('0.10.0', '0.9.0'), 1);
  assert.equal(compareVersions('0.3.1', '0.4.0'), -1);
  assert.equal(compareVersions('1.0.0', '1.0.0'), 0);
  assert.equal(compareVersions('1.0', '1.0.0'), 0);
  assert.equal(compareVersions('1.1.0', '1.0.9'), 1);
});

test('version: convertResult to 1.1.0 keeps the 1.1 fields', () => {
  const out = convertResult(full(), '1.1.0');
  assert.deepEqual(out, { ...full(), cniVersion: '1.1.0' });
});

test('version: convertResult to 1.0.0 drops interface mtu/socketPath/pciID and route extras, no ips[].version', () => {
  const out = convertResult(full(), '1.0.0');
  assert.deepEqual(out, {
    cniVersion: '1.0.0',
    interfaces: BASE_INTERFACES,
    ips: full().ips,
    routes: BASE_ROUTES,
    dns: full().dns,
  });
});

for (const v of ['0.4.0', '0.3.1', '0.3.0']) {
  test(`version: convertResult to ${v} drops 1.1 fields and adds ips[].version`, () => {
    const out = convertResult(full(), v);
    assert.deepEqual(out, {
      cniVersion: v,
      interfaces: BASE_INTERFACES,
      ips: [
        { version: '4', address: '10.22.0.5/24', gateway: '10.22.0.1', interface: 2 },
        { version: '6', address: 'fd00:22::5/64', gateway: 'fd00:22::1', interface: 2 },
      ],
      routes: BASE_ROUTES,
      dns: full().dns,
    });
  });
}

test('version: convertResult does not mutate its input', () => {
  const r = full();
  convertResult(r, '0.3.0');
  convertResult(r, '1.0.0');
  assert.deepEqual(r, full());
});

test('version: convertResult emits an empty dns object when the result has none', () => {
  assert.deepEqual(convertResult({ cniVersion: '1.1.0' }, '1.0.0'), { cniVersion: '1.0.0', dns: {} });
});

test('version: convertResult to an unsupported version fails with code 1', () => {
  for (const v of ['0.2.0', '9.9.9', '1.1']) {
    assert.throws(
      () => convertResult(full(), v),
      (e: unknown) => {
        assert.ok(e instanceof VirtnetError);
        assert.equal(e.code, ErrorCode.incompatibleVersion);
        assert.match(e.message, /is not supported \(incompatible CNI versions\)/);
        assert.ok(e.details.includes(`"${v}"`), e.details);
        return true;
      },
    );
  }
});

test('version: 1.1.0 round trip is lossless', () => {
  const back = parseResult(JSON.parse(JSON.stringify(convertResult(full(), '1.1.0'))), '1.1.0');
  assert.deepEqual(back, full());
});

for (const v of ['1.0.0', '0.4.0', '0.3.1', '0.3.0']) {
  test(`version: round trip through ${v} keeps everything that version can carry`, () => {
    const wire = JSON.parse(JSON.stringify(convertResult(full(), v))) as Record<string, unknown>;
    assert.equal(wire.cniVersion, v);
    const back = parseResult(wire, '1.1.0');
    assert.deepEqual(back, {
      cniVersion: '1.1.0',
      interfaces: BASE_INTERFACES,
      ips: full().ips,
      routes: BASE_ROUTES,
      dns: full().dns,
    });
    // And converting back to the same version is a fixed point.
    assert.deepEqual(convertResult(back, v), wire);
  });
}

test('version: parseResult strips ips[].version and uses the fallback version when cniVersion is absent', () => {
  const r = parseResult({ ips: [{ version: '4', address: '10.0.0.2/24' }] }, '0.3.1');
  assert.deepEqual(r, { cniVersion: '1.1.0', ips: [{ address: '10.0.0.2/24' }] });
  assert.throws(() => parseResult({ ips: [] }, '0.2.0'), /older than 0\.3\.0/);
});

test('version: parseResult rejects non-objects with code 6', () => {
  for (const v of [null, 'x', 3]) {
    assert.throws(
      () => parseResult(v, '1.1.0'),
      (e: unknown) => {
        assert.ok(e instanceof VirtnetError);
        assert.equal(e.code, ErrorCode.decodeFailure);
        assert.equal(e.message, 'result: must be a JSON object');
        return true;
      },
    );
  }
});

test('version: parseResult deep-copies interfaces and routes', () => {
  const input = { cniVersion: '1.1.0', interfaces: [{ name: 'eth0' }], routes: [{ dst: '0.0.0.0/0' }] };
  const r = parseResult(input, '1.1.0');
  input.interfaces[0]!.name = 'changed';
  input.routes[0]!.dst = '1.1.1.1/32';
  assert.deepEqual(r.interfaces, [{ name: 'eth0' }]);
  assert.deepEqual(r.routes, [{ dst: '0.0.0.0/0' }]);
});

test('version: parseResult rebuilds each entry from its typed fields, as libcni decodes one', () => {
  const r = parseResult(
    {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:03', mtu: 9000, sandbox: '/run/netns/p', vendorKey: { x: 1 } }],
      ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0, extra: true }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1', table: 100, note: 'x' }],
    },
    '1.0.0',
  );
  assert.deepEqual(r, {
    cniVersion: '1.1.0',
    interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:03', mtu: 9000, sandbox: '/run/netns/p' }],
    ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0 }],
    routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1', table: 100 }],
  });
  // A field of the wrong type is refused by name, with its value, where it used to pass on as it was.
  for (const [result, message] of [
    [{ interfaces: [{ name: 'eth0', mtu: '9000' }] }, 'result.interfaces[0].mtu: must be an integer (is "9000")'],
    [{ ips: [{ address: '10.0.0.2/24', interface: 0.5 }] }, 'result.ips[0].interface: must be an integer (is 0.5)'],
    [{ routes: [{ dst: '::/0', gw: 6 }] }, 'result.routes[0].gw: must be a string (is 6)'],
  ] as const) {
    assert.throws(
      () => parseResult({ cniVersion: '1.1.0', ...result }, '1.1.0'),
      (e: unknown) => e instanceof VirtnetError && e.code === ErrorCode.decodeFailure && e.message === message,
    );
  }
});

test('version: requireSupported', () => {
  assert.doesNotThrow(() => requireSupported('0.3.0'));
  assert.throws(
    () => requireSupported('0.2.0'),
    (e: unknown) => e instanceof VirtnetError && e.code === 1 && e.details.includes('"0.2.0"'),
  );
});

test('version: CHECK needs 0.4.0, GC and STATUS need 1.1.0', () => {
  assert.doesNotThrow(() => requireVerbAllowed('CHECK', '0.4.0'));
  assert.doesNotThrow(() => requireVerbAllowed('CHECK', '1.0.0'));
  assert.doesNotThrow(() => requireVerbAllowed('GC', '1.1.0'));
  assert.doesNotThrow(() => requireVerbAllowed('STATUS', '1.1.0'));
  const cases: Array<['CHECK' | 'GC' | 'STATUS', string, string]> = [
    ['CHECK', '0.3.1', '0.4.0'],
    ['CHECK', '0.3.0', '0.4.0'],
    ['GC', '1.0.0', '1.1.0'],
    ['STATUS', '0.4.0', '1.1.0'],
  ];
  for (const [verb, version, since] of cases) {
    assert.throws(
      () => requireVerbAllowed(verb, version),
      (e: unknown) => {
        assert.ok(e instanceof VirtnetError);
        assert.equal(e.code, ErrorCode.incompatibleVersion);
        assert.equal(e.message, `config version does not allow ${verb}`);
        assert.equal(e.details, `${verb} needs cniVersion ${since} or later; the config says "${version}"`);
        return true;
      },
    );
  }
});
