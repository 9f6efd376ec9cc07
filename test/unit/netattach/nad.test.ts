import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  NadError, readConfDir, resolveNetwork, validateNad,
  type NetworkAttachmentDefinition, type ResolvedNetwork,
} from '../../../netattach/nad.ts';

function nad(name: string, config?: string, extra: { namespace?: string; annotations?: Record<string, string> } = {}): NetworkAttachmentDefinition {
  return {
    apiVersion: 'k8s.cni.cncf.io/v1', kind: 'NetworkAttachmentDefinition',
    metadata: { name, ...extra }, ...(config === undefined ? {} : { spec: { config } }),
  };
}

type Files = Array<{ file: string; text: string }>;
const DIR = '/etc/cni/multus/net.d';
const j = (o: unknown): string => JSON.stringify(o);

const BRIDGE = { cniVersion: '1.0.0', type: 'bridge', bridge: 'br1', ipam: { type: 'host-local', subnet: '10.1.0.0/24' } };
const LIST = { cniVersion: '1.0.0', name: 'net-a', plugins: [{ type: 'macvlan', master: 'eth0' }, { type: 'tuning', capabilities: { mac: true } }] };

const FILES: Files = [
  { file: '20-other.conflist', text: j({ cniVersion: '1.0.0', name: 'other', plugins: [{ type: 'bridge' }] }) },
  { file: '10-a.conf', text: j({ cniVersion: '0.4.0', name: 'net-a', type: 'ptp' }) },
  { file: '30-a.conflist', text: j({ cniVersion: '1.1.0', cniVersions: ['1.0.0', '1.1.0'], name: 'net-a', disableCheck: 'true', plugins: [{ type: 'bridge' }] }) },
  { file: '15-a.conflist', text: j({ cniVersion: '1.0.0', name: 'net-a', plugins: [{ type: 'ipvlan' }] }) },
  { file: '05-broken.conflist', text: '{ not json' },
  { file: 'README', text: j({ cniVersion: '1.0.0', name: 'net-b', plugins: [{ type: 'readme' }] }) },
  { file: '40-b.conf', text: j({ cniVersion: '1.0.0', name: 'net-b', type: 'vlan', master: 'eth0', vlanId: 5 }) },
  { file: '50-c.conf', text: j({ cniVersion: '1.0.0', name: 'net-c', type: '../../bin/sh' }) },
  { file: '60-d.conf', text: j({ name: 'net-d', type: 'bridge' }) },
];
const fakeDir = (files: Files) => (dir: string): Files => {
  assert.equal(dir, DIR);
  return files;
};

const VALID: Array<[string, NetworkAttachmentDefinition, string | undefined, Files, ResolvedNetwork]> = [
  ['spec.config as a single-plugin conf is wrapped like ConfListFromConf', nad('br', j({ ...BRIDGE, name: 'br-net' }), { namespace: 'vms' }), undefined, [], {
    name: 'br', namespace: 'vms',
    conflist: { cniVersion: '1.0.0', name: 'br-net', plugins: [{ ...BRIDGE, name: 'br-net' }] },
  }],
  ['spec.config conf without name gets the NAD name (also inside the plugin)', nad('br', j(BRIDGE)), undefined, [], {
    name: 'br', namespace: 'default',
    conflist: { cniVersion: '1.0.0', name: 'br', plugins: [{ ...BRIDGE, name: 'br' }] },
  }],
  ['spec.config as a conflist', nad('net-a', j(LIST), { namespace: 'ns1' }), DIR, FILES, {
    name: 'net-a', namespace: 'ns1', conflist: LIST,
  }],
  ['spec.config conflist without name gets the NAD name; string booleans read', nad('x', j({ cniVersion: '1.1.0', cniVersions: ['1.0.0'], disableGC: 'false', disableCheck: true, plugins: [{ type: 'bridge' }] })), undefined, [], {
    name: 'x', namespace: 'default',
    conflist: { cniVersion: '1.1.0', cniVersions: ['1.0.0'], name: 'x', disableCheck: true, disableGC: false, plugins: [{ type: 'bridge' }] },
  }],
  ['spec.config wins over the directory', nad('net-b', j({ cniVersion: '1.0.0', type: 'bridge' })), DIR, FILES, {
    name: 'net-b', namespace: 'default', conflist: { cniVersion: '1.0.0', name: 'net-b', plugins: [{ cniVersion: '1.0.0', type: 'bridge', name: 'net-b' }] },
  }],
  ['directory: .conflist before .conf, first by file name (15- before 30-), broken files skipped', nad('net-a'), DIR, FILES, {
    name: 'net-a', namespace: 'default', conflist: { cniVersion: '1.0.0', name: 'net-a', plugins: [{ type: 'ipvlan' }] },
  }],
  ['directory: a .conf when no .conflist matches; README ignored', nad('net-b'), DIR, FILES, {
    name: 'net-b', namespace: 'default',
    conflist: { cniVersion: '1.0.0', name: 'net-b', plugins: [{ cniVersion: '1.0.0', name: 'net-b', type: 'vlan', master: 'eth0', vlanId: 5 }] },
  }],
  ['directory: a .conflist file that holds a conf is read as a conf', nad('solo'), DIR, [{ file: 'a.conflist', text: j({ cniVersion: '1.0.0', name: 'solo', type: 'bridge' }) }], {
    name: 'solo', namespace: 'default', conflist: { cniVersion: '1.0.0', name: 'solo', plugins: [{ cniVersion: '1.0.0', name: 'solo', type: 'bridge' }] },
  }],
  ['empty spec.config falls back to the directory', nad('net-a', ''), DIR, FILES.filter((f) => f.file === '10-a.conf'), {
    name: 'net-a', namespace: 'default', conflist: { cniVersion: '0.4.0', name: 'net-a', plugins: [{ cniVersion: '0.4.0', name: 'net-a', type: 'ptp' }] },
  }],
  ['resourceName annotation', nad('sriov', j({ cniVersion: '1.0.0', type: 'sriov' }), { annotations: { 'k8s.v1.cni.cncf.io/resourceName': 'intel.com/sriov_netdevice', other: 'x' } }), undefined, [], {
    name: 'sriov', namespace: 'default', resourceName: 'intel.com/sriov_netdevice',
    conflist: { cniVersion: '1.0.0', name: 'sriov', plugins: [{ cniVersion: '1.0.0', type: 'sriov', name: 'sriov' }] },
  }],
  ['empty ipam.type is allowed (no IPAM)', nad('l2', j({ cniVersion: '1.0.0', type: 'bridge', ipam: {} })), undefined, [], {
    name: 'l2', namespace: 'default', conflist: { cniVersion: '1.0.0', name: 'l2', plugins: [{ cniVersion: '1.0.0', type: 'bridge', ipam: {}, name: 'l2' }] },
  }],
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
  ['conflist without cniVersion', nad('a', j({ plugins: [{ type: 'bridge' }] })), undefined, [], 'spec.config.cniVersion', 'is required'],
  ['cniVersion not a version', nad('a', j({ cniVersion: 1, type: 'bridge' })), undefined, [], 'spec.config.cniVersion', 'version string'],
  ['conf without type', nad('a', j({ cniVersion: '1.0.0' })), undefined, [], 'spec.config.type', 'is required'],
  ['type with a slash', nad('a', j({ cniVersion: '1.0.0', type: '/usr/bin/bridge' })), undefined, [], 'spec.config.type', 'no slashes'],
  ['type "..": a path, not a name', nad('a', j({ cniVersion: '1.0.0', type: '..' })), undefined, [], 'spec.config.type', 'plain binary name'],
  ['type not a string', nad('a', j({ cniVersion: '1.0.0', type: ['bridge'] })), undefined, [], 'spec.config.type', 'must be a string'],
  ['second plugin with a bad type', nad('a', j({ cniVersion: '1.0.0', plugins: [{ type: 'bridge' }, { type: 'a b' }] })), undefined, [], 'spec.config.plugins[1].type', 'plain binary name'],
  ['ipam.type with a slash', nad('a', j({ cniVersion: '1.0.0', type: 'bridge', ipam: { type: '../host-local' } })), undefined, [], 'spec.config.ipam.type', 'no slashes'],
  ['plugin not an object', nad('a', j({ cniVersion: '1.0.0', plugins: ['bridge'] })), undefined, [], 'spec.config.plugins[0]', 'must be an object'],
  ['empty plugins', nad('a', j({ cniVersion: '1.0.0', plugins: [] })), undefined, [], 'spec.config.plugins', 'must not be empty'],
  ['plugins not an array', nad('a', j({ cniVersion: '1.0.0', plugins: { type: 'bridge' } })), undefined, [], 'spec.config.plugins', 'must be an array'],
  ['name not a CNI network name', nad('a', j({ cniVersion: '1.0.0', name: 'bad/name', type: 'bridge' })), undefined, [], 'spec.config.name', 'must match'],
  ['disableCheck not a boolean', nad('a', j({ cniVersion: '1.0.0', disableCheck: 'yes', plugins: [{ type: 'bridge' }] })), undefined, [], 'spec.config.disableCheck', 'must be a boolean'],
  ['cniVersions not version strings', nad('a', j({ cniVersion: '1.0.0', cniVersions: [1], plugins: [{ type: 'bridge' }] })), undefined, [], 'spec.config.cniVersions', 'array of version strings'],
  ['directory: matching file with a bad type names the file', nad('net-c'), DIR, FILES, `${DIR}/50-c.conf:type`, 'no slashes'],
  ['directory: matching file without cniVersion', nad('net-d'), DIR, FILES, `${DIR}/60-d.conf:cniVersion`, 'is required'],
  ['directory: no match names the NAD, the directory and the skipped files', nad('net-z', undefined, { namespace: 'vms' }), DIR, FILES, 'spec.config', `vms/net-z has no spec.config and no .conflist or .conf file in ${DIR}`],
  ['no spec.config and no directory', nad('net-a'), undefined, FILES, 'spec.config', 'no configuration directory'],
  ['resolveNetwork validates its NAD too', nad('Bad'), DIR, FILES, 'metadata.name', 'DNS-1123'],
];

for (const [desc, n, dir, files, field, phrase] of BAD_RESOLVE) {
  test(`resolveNetwork rejects: ${desc}`, () => {
    assert.throws(() => resolveNetwork(n, dir, fakeDir(files)), (err: unknown) => {
      assert.ok(err instanceof NadError, String(err));
      assert.equal(err.field, field);
      assert.ok(err.rule.includes(phrase), `rule "${err.rule}" lacks "${phrase}"`);
      assert.equal(err.message, `${field}: ${err.rule}`);
      assert.equal(err.code, 7);
      return true;
    });
  });
}

test('resolveNetwork: the not-found error lists unparseable files', () => {
  assert.throws(() => resolveNetwork(nad('net-z'), DIR, fakeDir(FILES)), /skipped: 05-broken\.conflist/u);
});

const okNad = { apiVersion: 'k8s.cni.cncf.io/v1', kind: 'NetworkAttachmentDefinition', metadata: { name: 'net-a' } };

test('validateNad: keeps the known fields only', () => {
  assert.deepEqual(validateNad({
    ...okNad, metadata: { name: 'net-a', namespace: 'ns', annotations: { a: 'b' }, uid: 'u', resourceVersion: '1' }, spec: { config: '{}' }, status: {},
  }), { ...okNad, metadata: { name: 'net-a', namespace: 'ns', annotations: { a: 'b' } }, spec: { config: '{}' } });
  assert.deepEqual(validateNad(okNad), okNad);
  assert.deepEqual(validateNad({ ...okNad, spec: {} }), { ...okNad, spec: {} });
});

const BAD_NAD: Array<[string, unknown, string, string]> = [
  ['not an object', 'net-a', '(root)', 'must be an object'],
  ['wrong apiVersion', { ...okNad, apiVersion: 'k8s.cni.cncf.io/v1beta1' }, 'apiVersion', 'must be "k8s.cni.cncf.io/v1"'],
  ['wrong kind', { ...okNad, kind: 'Pod' }, 'kind', 'must be "NetworkAttachmentDefinition"'],
  ['no metadata', { apiVersion: okNad.apiVersion, kind: okNad.kind }, 'metadata', 'must be an object'],
  ['no name', { ...okNad, metadata: {} }, 'metadata.name', 'is required'],
  ['upper-case name', { ...okNad, metadata: { name: 'Net-A' } }, 'metadata.name', 'DNS-1123 label'],
  ['dotted name (a subdomain, not a label)', { ...okNad, metadata: { name: 'net.a' } }, 'metadata.name', 'DNS-1123 label'],
  ['64-character name', { ...okNad, metadata: { name: 'a'.repeat(64) } }, 'metadata.name', 'at most 63'],
  ['bad namespace', { ...okNad, metadata: { name: 'a', namespace: '-ns' } }, 'metadata.namespace', 'DNS-1123 label'],
  ['annotation value not a string', { ...okNad, metadata: { name: 'a', annotations: { 'k8s.v1.cni.cncf.io/resourceName': 5 } } }, 'metadata.annotations["k8s.v1.cni.cncf.io/resourceName"]', 'must be a string'],
  ['spec.config not a string', { ...okNad, spec: { config: { cniVersion: '1.0.0' } } }, 'spec.config', 'must be a string'],
  ['spec not an object', { ...okNad, spec: 'x' }, 'spec', 'must be an object'],
];

for (const [desc, obj, field, phrase] of BAD_NAD) {
  test(`validateNad rejects: ${desc}`, () => {
    assert.throws(() => validateNad(obj), (err: unknown) => {
      assert.ok(err instanceof NadError, String(err));
      assert.equal(err.field, field);
      assert.ok(err.rule.includes(phrase), `rule "${err.rule}" lacks "${phrase}"`);
      return true;
    });
  });
}

test('readConfDir (the default readDir): only .conf/.conflist files; a missing directory is empty', () => {
  const dir = mkdtempSync(join(tmpdir(), 'virtnet-nad-'));
  try {
    writeFileSync(join(dir, 'b.conflist'), j({ cniVersion: '1.0.0', name: 'net-a', plugins: [{ type: 'bridge' }] }));
    writeFileSync(join(dir, 'a.conf'), j({ cniVersion: '1.0.0', name: 'net-a', type: 'ptp' }));
    writeFileSync(join(dir, 'notes.txt'), 'x');
    mkdirSync(join(dir, 'sub.conf'));
    assert.deepEqual(readConfDir(dir).map((f) => f.file).sort(), ['a.conf', 'b.conflist']);
    assert.deepEqual(readConfDir(join(dir, 'absent')), []);
    assert.equal(resolveNetwork(nad('net-a'), dir).conflist.plugins[0]?.type, 'bridge');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
