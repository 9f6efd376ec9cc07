import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  NadError,
  readConfDir,
  resolveNetwork,
  validateNad,
  type NetworkAttachmentDefinition,
  type ResolvedNetwork,
} from '../../../netattach/nad.ts';
import { defaultPolicy, parsePolicy, type NodePolicy } from '../../../cni/policy.ts';

function nad(
  name: string,
  config?: string,
  extra: { namespace?: string; annotations?: Record<string, string> } = {},
): NetworkAttachmentDefinition {
  return {
    apiVersion: 'k8s.cni.cncf.io/v1',
    kind: 'NetworkAttachmentDefinition',
    metadata: { name, ...extra },
    ...(config === undefined ? {} : { spec: { config } }),
  };
}

type Files = Array<{ file: string; text: string }>;
const DIR = '/etc/cni/multus/net.d';
const j = (o: unknown): string => JSON.stringify(o);

const BRIDGE = {
  cniVersion: '1.0.0',
  type: 'bridge',
  bridge: 'br1',
  ipam: { type: 'host-local', subnet: '10.1.0.0/24' },
};
const LIST = {
  cniVersion: '1.0.0',
  name: 'net-a',
  plugins: [
    { type: 'macvlan', master: 'eth0' },
    { type: 'tuning', capabilities: { mac: true } },
  ],
};

const FILES: Files = [
  { file: '20-other.conflist', text: j({ cniVersion: '1.0.0', name: 'other', plugins: [{ type: 'bridge' }] }) },
  { file: '10-a.conf', text: j({ cniVersion: '0.4.0', name: 'net-a', type: 'ptp' }) },
  {
    file: '30-a.conflist',
    text: j({
      cniVersion: '1.1.0',
      cniVersions: ['1.0.0', '1.1.0'],
      name: 'net-a',
      disableCheck: 'true',
      plugins: [{ type: 'bridge' }],
    }),
  },
  { file: '15-a.conflist', text: j({ cniVersion: '1.0.0', name: 'net-a', plugins: [{ type: 'ipvlan' }] }) },
  { file: '05-broken.conflist', text: '{ not json' },
  { file: 'README', text: j({ cniVersion: '1.0.0', name: 'net-b', plugins: [{ type: 'readme' }] }) },
  { file: '40-b.conf', text: j({ cniVersion: '1.0.0', name: 'net-b', type: 'vlan', master: 'eth0', vlanId: 5 }) },
  { file: '50-c.conf', text: j({ cniVersion: '1.0.0', name: 'net-c', type: '../../bin/sh' }) },
  { file: '60-d.conf', text: j({ name: 'net-d', type: 'bridge' }) },
];
const fakeDir =
  (files: Files) =>
  (dir: string): Files => {
    assert.equal(dir, DIR);
    return files;
  };

const VALID: Array<[string, NetworkAttachmentDefinition, string | undefined, Files, ResolvedNetwork]> = [
  [
    'spec.config as a single-plugin conf is wrapped like ConfListFromConf',
    nad('br', j({ ...BRIDGE, name: 'br-net' }), { namespace: 'vms' }),
    undefined,
    [],
    {
      name: 'br',
      namespace: 'vms',
      conflist: { cniVersion: '1.0.0', name: 'br-net', plugins: [{ ...BRIDGE, name: 'br-net' }] },
    },
  ],
  [
    'spec.config conf without name gets the NAD name (also inside the plugin)',
    nad('br', j(BRIDGE)),
    undefined,
    [],
    {
      name: 'br',
      namespace: 'default',
      conflist: { cniVersion: '1.0.0', name: 'br', plugins: [{ ...BRIDGE, name: 'br' }] },
    },
  ],
  [
    'spec.config as a conflist',
    nad('net-a', j(LIST), { namespace: 'ns1' }),
    DIR,
    FILES,
    {
      name: 'net-a',
      namespace: 'ns1',
      conflist: LIST,
    },
  ],
  [
    'spec.config conflist without name gets the NAD name; string booleans read',
    nad(
      'x',
      j({
        cniVersion: '1.1.0',
        cniVersions: ['1.0.0'],
        disableGC: 'false',
        disableCheck: true,
        plugins: [{ type: 'bridge' }],
      }),
    ),
    undefined,
    [],
    {
      name: 'x',
      namespace: 'default',
      conflist: {
        cniVersion: '1.1.0',
        cniVersions: ['1.0.0'],
        name: 'x',
        disableCheck: true,
        disableGC: false,
        plugins: [{ type: 'bridge' }],
      },
    },
  ],
  [
    'spec.config wins over the directory',
    nad('net-b', j({ cniVersion: '1.0.0', type: 'bridge' })),
    DIR,
    FILES,
    {
      name: 'net-b',
      namespace: 'default',
      conflist: {
        cniVersion: '1.0.0',
        name: 'net-b',
        plugins: [{ cniVersion: '1.0.0', type: 'bridge', name: 'net-b' }],
      },
    },
  ],
  [
    'directory: .conflist before .conf, first by file name (15- before 30-), broken files skipped',
    nad('net-a'),
    DIR,
    FILES,
    {
      name: 'net-a',
      namespace: 'default',
      conflist: { cniVersion: '1.0.0', name: 'net-a', plugins: [{ type: 'ipvlan' }] },
    },
  ],
  [
    'directory: a .conf when no .conflist matches; README ignored',
    nad('net-b'),
    DIR,
    FILES,
    {
      name: 'net-b',
      namespace: 'default',
      conflist: {
        cniVersion: '1.0.0',
        name: 'net-b',
        plugins: [{ cniVersion: '1.0.0', name: 'net-b', type: 'vlan', master: 'eth0', vlanId: 5 }],
      },
    },
  ],
  [
    'directory: a .conflist file that holds a conf is read as a conf',
    nad('solo'),
    DIR,
    [{ file: 'a.conflist', text: j({ cniVersion: '1.0.0', name: 'solo', type: 'bridge' }) }],
    {
      name: 'solo',
      namespace: 'default',
      conflist: { cniVersion: '1.0.0', name: 'solo', plugins: [{ cniVersion: '1.0.0', name: 'solo', type: 'bridge' }] },
    },
  ],
  [
    'empty spec.config falls back to the directory',
    nad('net-a', ''),
    DIR,
    FILES.filter((f) => f.file === '10-a.conf'),
    {
      name: 'net-a',
      namespace: 'default',
      conflist: { cniVersion: '0.4.0', name: 'net-a', plugins: [{ cniVersion: '0.4.0', name: 'net-a', type: 'ptp' }] },
    },
  ],
  [
    'resourceName annotation',
    nad('sriov', j({ cniVersion: '1.0.0', type: 'sriov' }), {
      annotations: { 'k8s.v1.cni.cncf.io/resourceName': 'intel.com/sriov_netdevice', other: 'x' },
    }),
    undefined,
    [],
    {
      name: 'sriov',
      namespace: 'default',
      resourceName: 'intel.com/sriov_netdevice',
      conflist: {
        cniVersion: '1.0.0',
        name: 'sriov',
        plugins: [{ cniVersion: '1.0.0', type: 'sriov', name: 'sriov' }],
      },
    },
  ],
  [
    'empty ipam.type is allowed (no IPAM)',
    nad('l2', j({ cniVersion: '1.0.0', type: 'bridge', ipam: {} })),
    undefined,
    [],
    {
      name: 'l2',
      namespace: 'default',
      conflist: {
        cniVersion: '1.0.0',
        name: 'l2',
        plugins: [{ cniVersion: '1.0.0', type: 'bridge', ipam: {}, name: 'l2' }],
      },
    },
  ],
];

for (const [desc, n, dir, files, expected] of VALID) {
  test(`resolveNetwork: ${desc}`, () => {
    assert.deepEqual(resolveNetwork(n, dir, fakeDir(files)), expected);
  });
}

const BAD_RESOLVE: Array<[string, NetworkAttachmentDefinition, string | undefined, Files, string, string]> = [
  ['spec.config is not JSON', nad('a', '{"cniVersion": "1.0.0",'), DIR, [], 'spec.config', 'invalid JSON'],
  ['spec.config is a JSON array', nad('a', '[]'), DIR, [], 'spec.config', 'must be a JSON object'],
  ['conf without cniVersion', nad('a', j({ type: 'bridge' })), undefined, [], 'spec.config.cniVersion', 'is required'],
  [
    'conflist without cniVersion',
    nad('a', j({ plugins: [{ type: 'bridge' }] })),
    undefined,
    [],
    'spec.config.cniVersion',
    'is required',
  ],
  [
    'cniVersion not a version',
    nad('a', j({ cniVersion: 1, type: 'bridge' })),
    undefined,
    [],
    'spec.config.cniVersion',
    'version string',
  ],
  ['conf without type', nad('a', j({ cniVersion: '1.0.0' })), undefined, [], 'spec.config.type', 'is required'],
  [
    'type with a slash',
    nad('a', j({ cniVersion: '1.0.0', type: '/usr/bin/bridge' })),
    undefined,
    [],
    'spec.config.type',
    'no slashes',
  ],
  [
    'type "..": a path, not a name',
    nad('a', j({ cniVersion: '1.0.0', type: '..' })),
    undefined,
    [],
    'spec.config.type',
    'plain binary name',
  ],
  [
    'type not a string',
    nad('a', j({ cniVersion: '1.0.0', type: ['bridge'] })),
    undefined,
    [],
    'spec.config.type',
    'must be a string',
  ],
  [
    'second plugin with a bad type',
    nad('a', j({ cniVersion: '1.0.0', plugins: [{ type: 'bridge' }, { type: 'a b' }] })),
    undefined,
    [],
    'spec.config.plugins[1].type',
    'plain binary name',
  ],
  [
    'ipam.type with a slash',
    nad('a', j({ cniVersion: '1.0.0', type: 'bridge', ipam: { type: '../host-local' } })),
    undefined,
    [],
    'spec.config.ipam.type',
    'no slashes',
  ],
  [
    'plugin not an object',
    nad('a', j({ cniVersion: '1.0.0', plugins: ['bridge'] })),
    undefined,
    [],
    'spec.config.plugins[0]',
    'must be an object',
  ],
  [
    'empty plugins',
    nad('a', j({ cniVersion: '1.0.0', plugins: [] })),
    undefined,
    [],
    'spec.config.plugins',
    'must not be empty',
  ],
  [
    'plugins not an array',
    nad('a', j({ cniVersion: '1.0.0', plugins: { type: 'bridge' } })),
    undefined,
    [],
    'spec.config.plugins',
    'must be an array',
  ],
  [
    'name not a CNI network name',
    nad('a', j({ cniVersion: '1.0.0', name: 'bad/name', type: 'bridge' })),
    undefined,
    [],
    'spec.config.name',
    'must match',
  ],
  [
    'disableCheck not a boolean',
    nad('a', j({ cniVersion: '1.0.0', disableCheck: 'yes', plugins: [{ type: 'bridge' }] })),
    undefined,
    [],
    'spec.config.disableCheck',
    'must be a boolean',
  ],
  [
    'cniVersions not version strings',
    nad('a', j({ cniVersion: '1.0.0', cniVersions: [1], plugins: [{ type: 'bridge' }] })),
    undefined,
    [],
    'spec.config.cniVersions',
    'array of version strings',
  ],
  [
    'directory: matching file with a bad type names the file',
    nad('net-c'),
    DIR,
    FILES,
    `${DIR}/50-c.conf:type`,
    'no slashes',
  ],
  [
    'directory: matching file without cniVersion',
    nad('net-d'),
    DIR,
    FILES,
    `${DIR}/60-d.conf:cniVersion`,
    'is required',
  ],
  [
    'directory: no match names the NAD, the directory and the skipped files',
    nad('net-z', undefined, { namespace: 'vms' }),
    DIR,
    FILES,
    'spec.config',
    `vms/net-z has no spec.config and no .conflist or .conf file in ${DIR}`,
  ],
  ['no spec.config and no directory', nad('net-a'), undefined, FILES, 'spec.config', 'no configuration directory'],
  ['resolveNetwork validates its NAD too', nad('Bad'), DIR, FILES, 'metadata.name', 'DNS-1123'],
];

for (const [desc, n, dir, files, field, phrase] of BAD_RESOLVE) {
  test(`resolveNetwork rejects: ${desc}`, () => {
    assert.throws(
      () => resolveNetwork(n, dir, fakeDir(files)),
      (err: unknown) => {
        assert.ok(err instanceof NadError, String(err));
        assert.equal(err.field, field);
        assert.ok(err.rule.includes(phrase), `rule "${err.rule}" lacks "${phrase}"`);
        assert.equal(err.message, `${field}: ${err.rule}`);
        assert.equal(err.code, 7);
        return true;
      },
    );
  });
}

test('resolveNetwork: the not-found error lists unparseable files', () => {
  assert.throws(() => resolveNetwork(nad('net-z'), DIR, fakeDir(FILES)), /skipped: 05-broken\.conflist/u);
});

const okNad = { apiVersion: 'k8s.cni.cncf.io/v1', kind: 'NetworkAttachmentDefinition', metadata: { name: 'net-a' } };

const MACVLAN = '{"cniVersion":"1.0.0","type":"macvlan"}';

test('validateNad: keeps the known fields only', () => {
  assert.deepEqual(
    validateNad({
      ...okNad,
      metadata: { name: 'net-a', namespace: 'ns', annotations: { a: 'b' }, uid: 'u', resourceVersion: '1' },
      spec: { config: MACVLAN },
      status: {},
    }),
    { ...okNad, metadata: { name: 'net-a', namespace: 'ns', annotations: { a: 'b' } }, spec: { config: MACVLAN } },
  );
  assert.deepEqual(validateNad(okNad), okNad);
  assert.deepEqual(validateNad({ ...okNad, spec: {} }), { ...okNad, spec: {} });
});

const BAD_NAD: Array<[string, unknown, string, string]> = [
  ['not an object', 'net-a', '(root)', 'must be an object'],
  [
    'wrong apiVersion',
    { ...okNad, apiVersion: 'k8s.cni.cncf.io/v1beta1' },
    'apiVersion',
    'must be "k8s.cni.cncf.io/v1"',
  ],
  ['wrong kind', { ...okNad, kind: 'Pod' }, 'kind', 'must be "NetworkAttachmentDefinition"'],
  ['no metadata', { apiVersion: okNad.apiVersion, kind: okNad.kind }, 'metadata', 'must be an object'],
  ['no name', { ...okNad, metadata: {} }, 'metadata.name', 'is required'],
  ['upper-case name', { ...okNad, metadata: { name: 'Net-A' } }, 'metadata.name', 'DNS-1123 label'],
  [
    'dotted name (a subdomain, not a label)',
    { ...okNad, metadata: { name: 'net.a' } },
    'metadata.name',
    'DNS-1123 label',
  ],
  ['64-character name', { ...okNad, metadata: { name: 'a'.repeat(64) } }, 'metadata.name', 'at most 63'],
  ['bad namespace', { ...okNad, metadata: { name: 'a', namespace: '-ns' } }, 'metadata.namespace', 'DNS-1123 label'],
  [
    'annotation value not a string',
    { ...okNad, metadata: { name: 'a', annotations: { 'k8s.v1.cni.cncf.io/resourceName': 5 } } },
    'metadata.annotations["k8s.v1.cni.cncf.io/resourceName"]',
    'must be a string',
  ],
  [
    'spec.config not a string',
    { ...okNad, spec: { config: { cniVersion: '1.0.0' } } },
    'spec.config',
    'must be a string',
  ],
  ['spec not an object', { ...okNad, spec: 'x' }, 'spec', 'must be an object'],
];

for (const [desc, obj, field, phrase] of BAD_NAD) {
  test(`validateNad rejects: ${desc}`, () => {
    assert.throws(
      () => validateNad(obj),
      (err: unknown) => {
        assert.ok(err instanceof NadError, String(err));
        assert.equal(err.field, field);
        assert.ok(err.rule.includes(phrase), `rule "${err.rule}" lacks "${phrase}"`);
        return true;
      },
    );
  });
}

test('readConfDir (the default readDir): only .conf/.conflist files; a missing directory is empty', () => {
  const dir = mkdtempSync(join(tmpdir(), 'virtnet-nad-'));
  try {
    writeFileSync(join(dir, 'b.conflist'), j({ cniVersion: '1.0.0', name: 'net-a', plugins: [{ type: 'bridge' }] }));
    writeFileSync(join(dir, 'a.conf'), j({ cniVersion: '1.0.0', name: 'net-a', type: 'ptp' }));
    writeFileSync(join(dir, 'notes.txt'), 'x');
    mkdirSync(join(dir, 'sub.conf'));
    assert.deepEqual(
      readConfDir(dir)
        .map((f) => f.file)
        .sort(),
      ['a.conf', 'b.conflist'],
    );
    assert.deepEqual(readConfDir(join(dir, 'absent')), []);
    assert.equal(resolveNetwork(nad('net-a'), dir).conflist.plugins[0]?.type, 'bridge');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const RESOURCE = 'k8s.v1.cni.cncf.io/resourceName';
const RESOURCE_FIELD = `metadata.annotations["${RESOURCE}"]`;

test('resourceName: a device plugin resource "<vendor domain>/<name>" is kept', () => {
  const out = resolveNetwork(
    nad('net-a', j(BRIDGE), { annotations: { [RESOURCE]: 'intel.com/intel_sriov_netdevice' } }),
    undefined,
  );
  assert.equal(out.resourceName, 'intel.com/intel_sriov_netdevice');
  assert.equal(
    resolveNetwork(nad('net-a', j(BRIDGE), { annotations: { [RESOURCE]: '' } }), undefined).resourceName,
    undefined,
  );
});

const BAD_RESOURCE: Array<[string, string, string]> = [
  ['path traversal', '../../dev/mem', 'is not a resource name'],
  ['a newline in the name', 'intel.com/sriov\nx', 'the name after "/" must match'],
  ['no domain', 'sriov', 'is not a resource name'],
  ['an empty domain', '/sriov', 'the domain must not be empty'],
  ['an upper-case domain', 'Intel.com/sriov', 'the domain "Intel.com" must be a DNS-1123 subdomain'],
  ['the kubernetes.io domain', 'kubernetes.io/sriov', 'reserved for native resources'],
  ['a kubernetes.io subdomain', 'node.kubernetes.io/sriov', 'reserved for native resources'],
  ['a 64-character name', `intel.com/${'x'.repeat(64)}`, 'is 64 characters; it must be at most 63'],
  ['an empty name', 'intel.com/', 'the name after "/" must match'],
];

for (const [desc, value, phrase] of BAD_RESOURCE) {
  test(`resourceName refused by validate and resolve alike: ${desc}`, () => {
    const obj = nad('net-a', j(BRIDGE), { annotations: { [RESOURCE]: value } });
    for (const run of [() => validateNad(obj), () => resolveNetwork(obj, undefined)]) {
      assert.throws(run, (err: unknown) => {
        assert.ok(err instanceof NadError, String(err));
        assert.equal(err.field, RESOURCE_FIELD);
        assert.ok(err.rule.includes(phrase), `rule "${err.rule}" lacks "${phrase}"`);
        return true;
      });
    }
  });
}

test("validateNad runs the attach path's checks on spec.config: the same error as resolveNetwork", () => {
  const configs = [
    { cniVersion: '1.0.0' },
    { cniVersion: '1.0.0', type: '/bin/sh' },
    { cniVersion: '1.0.0', name: 'net-a', plugins: [] },
    { cniVersion: '1.0.0', name: 'net-a', plugins: { type: 'bridge' } },
    { cniVersion: '1.0.0', name: 'net-a', plugins: ['bridge'] },
    { cniVersion: '1.0.0', name: 'net-a', disableCheck: 'yes', plugins: [{ type: 'bridge' }] },
    { cniVersion: '1.0.0', name: 'net-a', cniVersions: [1], plugins: [{ type: 'bridge' }] },
    { cniVersion: '1.0.0', name: 'n'.repeat(99), type: 'bridge' },
  ];
  for (const config of configs) {
    const obj = nad('net-a', j(config));
    const viaResolve = (() => {
      try {
        resolveNetwork(obj, undefined);
      } catch (e) {
        return e;
      }
    })();
    assert.ok(viaResolve instanceof NadError, j(config));
    assert.throws(
      () => validateNad(obj),
      (e: unknown) => e instanceof NadError && e.field === viaResolve.field && e.rule === viaResolve.rule,
      j(config),
    );
  }
});

test(
  'validateNad: a network named ' +
    'delegate-versions.json is ' +
    'valid (nothing of the ' +
    "plugin's can collide with it)",
  () => {
    assert.equal(
      validateNad(
        nad('net-a', j({ cniVersion: '1.0.0', name: 'delegate-versions.json', type: 'virtnet-bridge' })),
      ).spec?.config?.includes('delegate-versions.json'),
      true,
    );
  },
);

const VB = { cniVersion: '1.1.0', name: 'net-a', type: 'virtnet-bridge' };

function policyRefusal(obj: unknown, policy?: NodePolicy): NadError {
  try {
    validateNad(obj, policy ? { policy } : {});
  } catch (e) {
    assert.ok(e instanceof NadError, String(e));
    return e;
  }
  assert.fail('accepted');
}

test('validateNad holds a virtnet-bridge logFile and dataDir to the node policy, as the plugin does', () => {
  const defaults = defaultPolicy();
  const log = policyRefusal(nad('net-a', j({ ...VB, logFile: '/etc/cron.d/x' })), defaults);
  assert.equal(log.field, 'spec.config');
  assert.match(
    log.rule,
    /^virtnet-bridge config: logFile: "\/etc\/cron\.d\/x" is refused: the node admin set no logRoot \(node policy: defaults\)/u,
  );
  const data = policyRefusal(
    nad(
      'net-a',
      j({
        cniVersion: '1.1.0',
        name: 'net-a',
        plugins: [{ type: 'tuning' }, { type: 'virtnet-bridge', dataDir: '/var/lib/kubelet' }],
      }),
    ),
    defaults,
  );
  assert.equal(data.field, 'spec.config.plugins[1]');
  assert.match(
    data.rule,
    /dataDir: "\/var\/lib\/kubelet" is outside the data roots the node admin allows: \["\/var\/lib\/cni\/virtnet"\] \(node policy: defaults\)/u,
  );
  const ipamDir = policyRefusal(nad('net-a', j({ ...VB, ipam: { type: 'host-local', dataDir: '/etc' } })), defaults);
  assert.match(ipamDir.rule, /ipam\.dataDir: "\/etc" is outside the data roots/u);
  // What the admin allows is allowed; other plugins' paths are theirs.
  const admin = parsePolicy(
    j({ logRoot: '/var/log/virtnet', dataRoots: ['/srv/cni'] }),
    '/etc/virtnet/cni-policy.json',
  );
  validateNad(nad('net-a', j({ ...VB, logFile: '/var/log/virtnet/net-a.log', dataDir: '/srv/cni/a' })), {
    policy: admin,
  });
  validateNad(nad('net-a', j({ cniVersion: '1.0.0', type: 'bridge', logFile: '/etc/cron.d/x' })), { policy: defaults });
  assert.match(
    policyRefusal(nad('net-a', j({ ...VB, logFile: '/var/log/other.log', dataDir: '/srv/cni/a' })), admin).rule,
    /outside the log root the node admin allows/u,
  );
});

test('validateNad reads the policy this process would hand the plugin ($VIRTNET_CNI_POLICY) unless given one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'virtnet-nad-policy-'));
  const saved = process.env.VIRTNET_CNI_POLICY;
  try {
    const file = join(dir, 'cni-policy.json');
    writeFileSync(file, j({ logRoot: join(dir, 'log') }));
    process.env.VIRTNET_CNI_POLICY = file;
    validateNad(nad('net-a', j({ ...VB, logFile: join(dir, 'log', 'a.log') })));
    assert.match(
      policyRefusal(nad('net-a', j({ ...VB, logFile: '/etc/cron.d/x' }))).rule,
      new RegExp(`node policy: ${file}`, 'u'),
    );
    writeFileSync(file, '{"logRot": "/var/log"}');
    const broken = policyRefusal(nad('net-a', j(VB)));
    assert.match(
      broken.rule,
      /cannot be checked against the node policy: node policy .*logRot: unknown key \(did you mean "logRoot"\?\)/u,
    );
    // The attach path leaves the policy to the plugin, which runs with the runtime's own (netattach/invoke.ts env).
    assert.equal(
      resolveNetwork(nad('net-a', j({ ...VB, logFile: '/etc/cron.d/x' })), undefined).conflist.plugins[0]?.logFile,
      '/etc/cron.d/x',
    );
  } finally {
    if (saved === undefined) delete process.env.VIRTNET_CNI_POLICY;
    else process.env.VIRTNET_CNI_POLICY = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});
