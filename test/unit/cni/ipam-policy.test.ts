/**
 * Attacker review of the NAD author's reach (issue 11): the IPAM delegate
 * is held to the node admin's allowedIpam, the delegate never sees the
 * device a device plugin allotted, no host path reaches the plugin's own
 * "." directories, the log stays out of the data roots, and a path through
 * a regular file is a typed refusal. Files only, in a scratch directory.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkPaths,
  checkPolicy,
  defaultPolicy,
  ipamTypeProblem,
  parsePolicy,
  policyProblems,
  type NodePolicy,
} from '../../../cni/policy.ts';
import { configProblems, parseConfig } from '../../../cni/config.ts';
import { ipamStdin, requireIpamPlugin } from '../../../cni/ipam.ts';
import { validateNad } from '../../../netattach/nad.ts';
import type { CniEnv } from '../../../cni/env.ts';
import { refusal } from './refusal.ts';

const SCRATCH = mkdtempSync(join(tmpdir(), 'virtnet-test-ipam-policy-'));
after(() => rmSync(SCRATCH, { recursive: true, force: true }));

const BASE = { cniVersion: '1.1.0', name: 'pnet', type: 'virtnet-bridge' };
const conf = (extra: Record<string, unknown>) => parseConfig(JSON.stringify({ ...BASE, ...extra }));

const ENV: CniEnv = {
  verb: 'ADD',
  containerID: 'c1',
  netns: '/var/run/netns/x',
  ifname: 'eth0',
  path: ['/usr/lib/cni', '/opt/cni/bin'],
  args: new Map(),
  callerEnv: {},
};

test('allowedIpam: the default admits the address-only IPAM plugins and nothing else', () => {
  const policy = defaultPolicy();
  for (const type of ['host-local', 'static', 'dhcp', 'whereabouts'])
    assert.equal(ipamTypeProblem(type, policy), undefined, type);
  for (const type of ['host-device', 'bridge', 'macvlan', 'portmap', 'tuning']) {
    assert.equal(
      refusal(() => checkPolicy(conf({ ipam: { type } }), policy)),
      `ipam.type: "${type}" is not an IPAM plugin the node admin allows: ` +
        `["host-local","static","dhcp","whereabouts"] (node policy: defaults); the node admin may list it in ` +
        `allowedIpam`,
    );
  }
});

test('allowedIpam: the admin may widen or narrow it; a config without IPAM needs none', () => {
  const mine = parsePolicy(JSON.stringify({ allowedIpam: ['my-ipam'] }), 'mine.json');
  checkPolicy(conf({ ipam: { type: 'my-ipam' } }), mine);
  assert.match(
    refusal(() => checkPolicy(conf({ ipam: { type: 'host-local' } }), mine)),
    /^ipam\.type: "host-local" is not an IPAM plugin the node admin allows: \["my-ipam"\] \(node policy: mine\.json\)/,
  );
  checkPolicy(conf({}), parsePolicy('{"allowedIpam": []}', 'none.json'));
});

test('allowedIpam: policyProblems and NAD validation report it, as the plugin would refuse it', () => {
  const policy = defaultPolicy();
  assert.deepEqual(policyProblems(conf({ ipam: { type: 'host-device' } }), policy), [
    ipamTypeProblem('host-device', policy),
  ]);
  const nad = {
    apiVersion: 'k8s.cni.cncf.io/v1',
    kind: 'NetworkAttachmentDefinition',
    metadata: { name: 'steal', namespace: 'tenant' },
    spec: {
      config: JSON.stringify({
        cniVersion: '1.0.0',
        type: 'virtnet-bridge',
        bridge: 'br-t',
        runtimeConfig: { deviceID: 'eth0' },
        ipam: { type: 'host-device' },
      }),
    },
  };
  assert.throws(
    () => validateNad(nad, { policy }),
    (e: Error) => /ipam\.type: "host-device" is not an IPAM plugin the node admin allows/u.test(e.message),
  );
  const fine = {
    ...nad,
    spec: {
      config: JSON.stringify({
        cniVersion: '1.0.0',
        type: 'virtnet-bridge',
        bridge: 'br-t',
        ipam: { type: 'host-local', subnet: '10.1.0.0/24' },
      }),
    },
  };
  validateNad(fine, { policy });
});

test('allowedIpam: requireIpamPlugin refuses a plugin the policy does not allow before looking for it', () => {
  assert.match(
    refusal(() => requireIpamPlugin('host-device', ENV, defaultPolicy())),
    /^ipam\.type: "host-device" is not an IPAM plugin the node admin allows/,
  );
  assert.match(
    refusal(() => requireIpamPlugin('host-local', { ...ENV, path: [join(SCRATCH, 'no-bin')] }, defaultPolicy())),
    /^ipam\.type: plugin "host-local" not found in CNI_PATH/,
  );
});

test('ipam stdin: the allotted device (deviceID, pciBusID, runtimeConfig.deviceID) never reaches the delegate', () => {
  const raw = {
    ...BASE,
    deviceID: 'eth0',
    pciBusID: '0000:03:00.1',
    runtimeConfig: { deviceID: 'eth0', mac: '02:00:00:00:00:01' },
    ipam: { type: 'host-local' },
  };
  assert.deepEqual(ipamStdin(raw, '1.0.0'), {
    ...BASE,
    cniVersion: '1.0.0',
    runtimeConfig: { mac: '02:00:00:00:00:01' },
    ipam: { type: 'host-local' },
  });
  assert.deepEqual(
    raw.runtimeConfig,
    { deviceID: 'eth0', mac: '02:00:00:00:00:01' },
    'the config itself is left as it was',
  );
  assert.deepEqual(ipamStdin({ ...BASE }, '1.1.0'), { ...BASE }, 'nothing is added to a config without them');
});

const DOT_PATHS: Array<[string, Record<string, unknown>, string]> = [
  [
    'dataDir .cache',
    { dataDir: '/var/lib/cni/virtnet/.cache', name: 'delegate-versions.json' },
    'dataDir: "/var/lib/cni/virtnet/.cache" has the part ".cache"; no part of a host path may start with "."',
  ],
  [
    'ipam.dataDir in .cache',
    { ipam: { type: 'host-local', dataDir: '/var/lib/cni/virtnet/.cache/delegate-versions.json' } },
    'ipam.dataDir: "/var/lib/cni/virtnet/.cache/delegate-versions.json" has the part ".cache"',
  ],
  [
    'logFile into .cache',
    { logFile: '/var/log/virtnet/.cache/delegate-versions.json' },
    'logFile: "/var/log/virtnet/.cache/delegate-versions.json" has the part ".cache"',
  ],
  [
    'logFile a hidden file',
    { logFile: '/var/log/virtnet/.x.log' },
    'logFile: "/var/log/virtnet/.x.log" has the part ".x.log"',
  ],
];
for (const [desc, extra, msg] of DOT_PATHS) {
  test(`host paths: a part starting with "." is refused: ${desc}`, () => {
    assert.ok(
      refusal(() => conf(extra)).startsWith(msg),
      refusal(() => conf(extra)),
    );
    assert.ok(
      configProblems({ ...BASE, ...extra }).some((p) => p.startsWith(msg)),
      'virtnet validate reports it too',
    );
  });
}

const root = join(SCRATCH, 'data');
const logRoot = join(SCRATCH, 'log');
mkdirSync(root, { recursive: true });
mkdirSync(logRoot, { recursive: true });
writeFileSync(join(root, 'afile'), 'not a directory');

test('logFile: under a data root is refused, even when the log root covers it', () => {
  const overlapping: NodePolicy = { ...defaultPolicy(), source: 'overlap', dataRoots: [root], logRoot: SCRATCH };
  assert.equal(
    refusal(() => checkPaths(conf({ dataDir: root, logFile: join(root, 'pnet', 'c1_657468.json') }), overlapping)),
    `logFile: "${join(root, 'pnet', 'c1_657468.json')}" lies under the data root ${root}; a log must not share a ` +
      `directory tree with plugin state (node policy: overlap)`,
  );
  checkPaths(conf({ dataDir: root, logFile: join(logRoot, 'cni.log') }), overlapping);
});

test('paths: a part that is a regular file is a typed refusal naming the field, not a raw ENOTDIR', () => {
  const policy: NodePolicy = { ...defaultPolicy(), source: 'test', dataRoots: [root], logRoot };
  assert.equal(
    refusal(() => checkPaths(conf({ dataDir: join(root, 'afile', 'x') }), policy)),
    `dataDir: "${join(root, 'afile', 'x')}" is refused: a part of it below the root is not a directory; it must be ` +
      `a directory path below ${root} (ENOTDIR)`,
  );
  assert.match(
    refusal(() =>
      checkPaths(conf({ dataDir: root, ipam: { type: 'host-local', dataDir: join(root, 'afile', 'y', 'z') } }), policy),
    ),
    /^ipam\.dataDir: .* is refused: a part of it below the root is not a directory/,
  );
  assert.deepEqual(
    policyProblems(conf({ dataDir: join(root, 'afile', 'x') }), policy).length,
    1,
    'NAD admission reports it rather than failing',
  );
});
