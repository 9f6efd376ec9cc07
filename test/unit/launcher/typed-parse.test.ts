/**
 * The launcher's spec, status.json and the pod's report are rebuilt from their checked fields (launcher/spec.ts
 * parseLauncherSpec, launcher/status.ts parseLauncherStatus / parseLauncherReport): what comes back holds every field
 * its type names, as given, and nothing else, so a key no check has seen never reaches a reader. Pure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, VirtnetError } from '../../../lib/errors.ts';
import { MAX_GENERATION, MAX_HOTPLUG_PORTS, parseLauncherSpec, type LauncherSpec } from '../../../launcher/spec.ts';
import { parseLauncherReport, parseLauncherStatus, type LauncherStatus } from '../../../launcher/status.ts';

const SPEC: LauncherSpec = {
  name: 'web',
  namespace: 'apps',
  hostname: 'web-0',
  subdomain: 'web.apps',
  memoryMiB: 256,
  cpus: 2,
  interfaces: [
    { name: 'default', masquerade: {}, macAddress: '02:00:00:00:00:01', ports: [{ port: 80, protocol: 'TCP' }] },
    { name: 'blue', bridge: {}, pciAddress: '0000:81:00.1', model: 'e1000e', mtu: 9000 },
  ],
  networks: [
    { name: 'default', pod: { vmNetworkCIDR: '10.0.2.0/24' } },
    { name: 'blue', multus: { networkName: 'apps/blue' } },
  ],
  boot: { firmware: 'efi', secureBoot: false },
  disks: [{ name: 'root', file: '/var/lib/virtnet/images/w.qcow2', format: 'qcow2', device: 'disk', bus: 'virtio' }],
  cloudInit: {
    kind: 'noCloud',
    disk: { name: 'ci', device: 'cdrom', bus: 'sata', bootOrder: 2 },
    instanceId: 'uid-1',
    hostname: 'web-0',
    userDataBase64: 'I2Nsb3VkLWNvbmZpZwo=',
  },
  serviceCIDRs: ['10.96.0.0/12'],
};

test('the launcher spec: every field back as given, an unknown key (at any depth) left out', () => {
  assert.deepEqual(parseLauncherSpec(structuredClone(SPEC)), SPEC);
  const extra = {
    ...structuredClone(SPEC),
    qemuArgs: ['-monitor', 'tcp::4444'],
    boot: { ...SPEC.boot, loader: '/tmp/x.fd' },
    disks: [{ ...SPEC.disks![0], cache: 'unsafe' }],
    cloudInit: { ...SPEC.cloudInit, vendorData: 'x' },
  };
  assert.deepEqual(parseLauncherSpec(extra), SPEC);
});

const STATUS: LauncherStatus = {
  phase: 'Running',
  pid: 42,
  domain: 'apps_web',
  accel: 'kvm',
  nics: [
    {
      name: 'default',
      binding: 'masquerade',
      podInterface: 'eth0',
      bridge: 'k6t-eth0',
      tap: 'tap0',
      mac: '02:00:00:00:00:01',
      mtu: 1500,
      ips: ['10.244.1.5'],
      dhcp: true,
      leased4: true,
      leased6: false,
      leasedAtMs: 1200,
    },
  ],
  steps: [{ name: 'network', ms: 12.5 }],
  tapReadyAtMs: 300,
  warnings: ['w'],
  dnsmasqRestarts: 0,
  pids: { dnsmasq: 7, qemu: 9 },
  pidStarts: { qemu: '123456' },
};

test('status.json: every field back as given, an unknown key left out', () => {
  assert.deepEqual(parseLauncherStatus(JSON.stringify(STATUS), 'status.json'), STATUS);
  const extra = {
    ...STATUS,
    debug: { token: 'x' },
    nics: [{ ...STATUS.nics[0], hostPath: '/etc' }],
    pids: { ...STATUS.pids, sshd: 1 },
  };
  assert.deepEqual(parseLauncherStatus(JSON.stringify(extra), 'status.json'), STATUS);
});

test("the pod's report: only the report's fields, even from a whole status", () => {
  const { phase, nics, steps, accel } = STATUS;
  assert.deepEqual(parseLauncherReport(JSON.stringify(STATUS), 'report'), { phase, nics, steps, accel });
});

// ---------------------------------------------------------------- live fields (NIC hotplug)

/** `fn` throws a VirtnetError of `code` whose message starts with `prefix` and matches `rule`. */
function refused(fn: () => unknown, code: number, prefix: string, rule: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof VirtnetError, `not a VirtnetError: ${String(e)}`);
    assert.equal(e.code, code);
    assert.ok(e.message.startsWith(prefix), `${JSON.stringify(e.message)} does not start with ${prefix}`);
    assert.match(e.message, rule);
    return true;
  });
}

test('the launcher spec keeps generation from 0 to 2^31 - 1 and hotplugPorts from 0 to 16', () => {
  for (const generation of [0, 1, 41, MAX_GENERATION]) {
    assert.equal(parseLauncherSpec({ ...structuredClone(SPEC), generation }).generation, generation);
  }
  for (const hotplugPorts of [0, 1, 4, MAX_HOTPLUG_PORTS]) {
    assert.equal(parseLauncherSpec({ ...structuredClone(SPEC), hotplugPorts }).hotplugPorts, hotplugPorts);
  }
  assert.equal(MAX_GENERATION, 2 ** 31 - 1);
  assert.equal(MAX_HOTPLUG_PORTS, 16);
  // Both at once, back as given; absent, no key at all (SPEC has neither).
  const live = { ...structuredClone(SPEC), generation: 7, hotplugPorts: 0 };
  assert.deepEqual(parseLauncherSpec(structuredClone(live)), live);
  assert.ok(!('generation' in parseLauncherSpec(structuredClone(SPEC))));
  assert.ok(!('hotplugPorts' in parseLauncherSpec(structuredClone(SPEC))));
  // From the text spec.json is, too.
  const text = JSON.stringify({ ...SPEC, generation: MAX_GENERATION, hotplugPorts: 16 });
  const parsed = parseLauncherSpec(JSON.parse(text));
  assert.equal(parsed.generation, MAX_GENERATION);
  assert.equal(parsed.hotplugPorts, 16);
});

/** Values no integer field takes, each with how its message shows it (undefined: not asserted). */
const NOT_INTEGERS: Array<[unknown, string | undefined]> = [
  [-1, '-1'],
  [1.5, '1.5'],
  ['3', '"3"'],
  [null, 'null'],
  [true, 'true'],
  [false, 'false'],
  [[3], '[3]'],
  [{ n: 3 }, '{"n":3}'],
  ['NaN', '"NaN"'],
  ['Infinity', '"Infinity"'],
  [Number.NaN, undefined],
  [Number.POSITIVE_INFINITY, undefined],
  [Number.NEGATIVE_INFINITY, undefined],
  [1e21, '1e+21'],
  [-0.5, '-0.5'],
];

for (const [field, max, over] of [
  ['generation', MAX_GENERATION, [2 ** 31, 2 ** 53, Number.MAX_SAFE_INTEGER + 2]],
  ['hotplugPorts', MAX_HOTPLUG_PORTS, [17, 32, 256]],
] as const) {
  test(`the launcher spec refuses a bad ${field}, naming the field, the value and the range`, () => {
    const values: Array<[unknown, string | undefined]> = [
      ...NOT_INTEGERS,
      ...over.map((v) => [v, String(v)] as [number, string]),
    ];
    for (const [value, shown] of values) {
      refused(
        () => parseLauncherSpec({ ...structuredClone(SPEC), [field]: value }),
        ErrorCode.invalidConfig,
        `spec ${field}: `,
        new RegExp(`must be an integer from 0 to ${max}$`, 'u'),
      );
      if (shown === undefined) continue;
      assert.throws(
        () => parseLauncherSpec({ ...structuredClone(SPEC), [field]: value }),
        { message: `spec ${field}: ${shown} must be an integer from 0 to ${max}` },
        `${field} ${shown}`,
      );
    }
  });
}

test('the launcher spec text with a number JSON reads as Infinity is refused, not taken as a large count', () => {
  for (const field of ['generation', 'hotplugPorts']) {
    const text = JSON.stringify({ ...SPEC, [field]: 0 }).replace(`"${field}":0`, `"${field}":1e400`);
    refused(() => parseLauncherSpec(JSON.parse(text)), ErrorCode.invalidConfig, `spec ${field}: `, /integer from 0/u);
  }
});

const LIVE_NIC: LauncherStatus['nics'][number] = {
  ...STATUS.nics[0]!,
  name: 'blue',
  binding: 'bridge',
  podInterface: 'pod16477688c0e',
  bridge: 'k6t-16477688c0e',
  tap: 'tap16477688c0e',
  mac: '02:00:00:00:00:0b',
  ips: [],
  dhcp: false,
  leased4: false,
  linkState: 'down',
  hotplugged: true,
  removing: false,
};

const LIVE_STATUS: LauncherStatus = {
  ...STATUS,
  nics: [{ ...STATUS.nics[0]!, linkState: 'up' }, LIVE_NIC],
  observedGeneration: 3,
  liveError: 'interface red: the guest did not release the NIC within 30 s',
};

test('status.json keeps observedGeneration, liveError and each NIC linkState, hotplugged and removing', () => {
  const parsed = parseLauncherStatus(JSON.stringify(LIVE_STATUS), 'status.json');
  assert.deepEqual(parsed, LIVE_STATUS);
  assert.equal(parsed.observedGeneration, 3);
  assert.equal(parsed.liveError, LIVE_STATUS.liveError);
  assert.deepEqual(
    parsed.nics.map((n) => [n.name, n.linkState, n.hotplugged, n.removing]),
    [
      ['default', 'up', undefined, undefined],
      ['blue', 'down', true, false],
    ],
  );
  for (const observedGeneration of [0, MAX_GENERATION]) {
    const text = JSON.stringify({ ...LIVE_STATUS, observedGeneration });
    assert.equal(parseLauncherStatus(text, 'status.json').observedGeneration, observedGeneration);
  }
  // An empty live error is a string: kept as given.
  assert.equal(parseLauncherStatus(JSON.stringify({ ...LIVE_STATUS, liveError: '' }), 's').liveError, '');
  // removing: true and hotplugged: false, the other values.
  const other = { ...LIVE_NIC, hotplugged: false, removing: true, linkState: 'up' as const };
  assert.deepEqual(parseLauncherStatus(JSON.stringify({ ...STATUS, nics: [other] }), 's').nics, [other]);
});

test("the pod's report keeps the NICs' live fields and the live error (the VMI's condition), not the generation", () => {
  const report = parseLauncherReport(JSON.stringify(LIVE_STATUS), 'report');
  assert.deepEqual(report.nics, LIVE_STATUS.nics);
  assert.ok(!('observedGeneration' in report));
  assert.equal(report.liveError, LIVE_STATUS.liveError);
  assert.ok(LIVE_STATUS.liveError);
});

/** status.json with `edit` applied to a copy of LIVE_STATUS. */
function statusWith(edit: (s: Record<string, any>) => void): string {
  const s: Record<string, any> = structuredClone(LIVE_STATUS);
  edit(s);
  return JSON.stringify(s);
}

const BAD_STATUS: Array<[string, (s: Record<string, any>) => void, string, RegExp]> = [
  [
    'observedGeneration -1',
    (s) => (s.observedGeneration = -1),
    'status.json.observedGeneration',
    /from 0 to 2147483647 \(is -1\)$/u,
  ],
  [
    'observedGeneration 2^31',
    (s) => (s.observedGeneration = 2 ** 31),
    'status.json.observedGeneration',
    /\(is 2147483648\)$/u,
  ],
  [
    'observedGeneration 1.5',
    (s) => (s.observedGeneration = 1.5),
    'status.json.observedGeneration',
    /integer .*\(is 1\.5\)$/u,
  ],
  [
    'observedGeneration "3"',
    (s) => (s.observedGeneration = '3'),
    'status.json.observedGeneration',
    /integer .*\(is "3"\)$/u,
  ],
  [
    'observedGeneration null',
    (s) => (s.observedGeneration = null),
    'status.json.observedGeneration',
    /integer .*\(is null\)$/u,
  ],
  [
    'observedGeneration true',
    (s) => (s.observedGeneration = true),
    'status.json.observedGeneration',
    /integer .*\(is true\)$/u,
  ],
  ['liveError a number', (s) => (s.liveError = 5), 'status.json.liveError', /must be a string \(is 5\)$/u],
  ['liveError null', (s) => (s.liveError = null), 'status.json.liveError', /must be a string \(is null\)$/u],
  ['liveError a list', (s) => (s.liveError = ['x']), 'status.json.liveError', /must be a string \(is \["x"\]\)$/u],
  [
    'linkState sideways',
    (s) => (s.nics[1].linkState = 'sideways'),
    'status.json.nics[1].linkState',
    /must be one of up, down \(is "sideways"\)$/u,
  ],
  [
    'linkState upper case',
    (s) => (s.nics[0].linkState = 'UP'),
    'status.json.nics[0].linkState',
    /must be one of up, down \(is "UP"\)$/u,
  ],
  [
    'linkState absent',
    (s) => (s.nics[1].linkState = 'absent'),
    'status.json.nics[1].linkState',
    /must be one of up, down/u,
  ],
  [
    'linkState true',
    (s) => (s.nics[1].linkState = true),
    'status.json.nics[1].linkState',
    /must be one of up, down \(is true\)$/u,
  ],
  [
    'linkState null',
    (s) => (s.nics[1].linkState = null),
    'status.json.nics[1].linkState',
    /must be one of up, down \(is null\)$/u,
  ],
  [
    'hotplugged "yes"',
    (s) => (s.nics[1].hotplugged = 'yes'),
    'status.json.nics[1].hotplugged',
    /must be true or false \(is "yes"\)$/u,
  ],
  [
    'hotplugged 1',
    (s) => (s.nics[1].hotplugged = 1),
    'status.json.nics[1].hotplugged',
    /must be true or false \(is 1\)$/u,
  ],
  [
    'hotplugged null',
    (s) => (s.nics[1].hotplugged = null),
    'status.json.nics[1].hotplugged',
    /must be true or false \(is null\)$/u,
  ],
  [
    'removing "false"',
    (s) => (s.nics[1].removing = 'false'),
    'status.json.nics[1].removing',
    /must be true or false \(is "false"\)$/u,
  ],
  ['removing 0', (s) => (s.nics[0].removing = 0), 'status.json.nics[0].removing', /must be true or false \(is 0\)$/u],
];

for (const [what, edit, field, rule] of BAD_STATUS) {
  test(`status.json refuses ${what}, naming ${field}`, () => {
    refused(() => parseLauncherStatus(statusWith(edit), 'status.json'), ErrorCode.decodeFailure, `${field}: `, rule);
  });
}

test("the pod's report refuses the NICs' bad live fields as status.json does", () => {
  const text = statusWith((s) => (s.nics[1].linkState = 'sideways'));
  refused(
    () => parseLauncherReport(text, 'report'),
    ErrorCode.decodeFailure,
    'report.nics[1].linkState: ',
    /up, down/u,
  );
  const yes = statusWith((s) => (s.nics[1].hotplugged = 'yes'));
  refused(
    () => parseLauncherReport(yes, 'report'),
    ErrorCode.decodeFailure,
    'report.nics[1].hotplugged: ',
    /true or false/u,
  );
});
