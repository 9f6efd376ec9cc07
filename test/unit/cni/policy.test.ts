/**
 * Issue 11, defect 2: the node policy (what only the node admin sets) and
 * the checks it puts on every host path a config names, the log file's
 * rotation and safe open, and the version cache that no network name can
 * reach. Files only, in a scratch directory; no kernel state.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  linkSync,
  readdirSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkPaths,
  defaultPolicy,
  loadPolicy,
  parsePolicy,
  writePolicy,
  DEFAULT_MAX_LOG_BYTES,
  type NodePolicy,
} from '../../../cni/policy.ts';
import { parseConfig } from '../../../cni/config.ts';
import { createLog } from '../../../cni/log.ts';
import { delegateVersions, versionCacheFile } from '../../../cni/ipam.ts';
import { writeRecord, listRecords, hostVethName } from '../../../cni/state.ts';
import { refusal } from './refusal.ts';

const SCRATCH = mkdtempSync(join(tmpdir(), 'virtnet-test-policy-'));
after(() => rmSync(SCRATCH, { recursive: true, force: true }));

const conf = (extra: Record<string, unknown>) =>
  parseConfig(JSON.stringify({ cniVersion: '1.1.0', name: 'pnet', type: 'virtnet-bridge', ...extra }));

test('policy: defaults are the strictest (one data root, no log root, no foreign bridges)', () => {
  assert.deepEqual(defaultPolicy(), {
    source: 'defaults',
    dataRoots: ['/var/lib/cni/virtnet'],
    allowedBridges: [],
    allowedIpam: ['host-local', 'static', 'dhcp', 'whereabouts'],
    maxLogBytes: DEFAULT_MAX_LOG_BYTES,
  });
  assert.equal(DEFAULT_MAX_LOG_BYTES, 10 * 1024 * 1024);
  const dir = join(SCRATCH, 'empty-env');
  assert.deepEqual(loadPolicy({ VIRTNET_CNI_POLICY: writeAt(dir, '{}') }).dataRoots, ['/var/lib/cni/virtnet']);
});

function writeAt(dir: string, text: string): string {
  mkdirSync(dir, { recursive: true });
  const f = join(dir, 'cni-policy.json');
  writeFileSync(f, text);
  return f;
}

test('policy: a full file is read and normalised', () => {
  const p = parsePolicy(
    JSON.stringify({
      dataRoots: ['/srv/cni//data/', '/var/lib/cni/virtnet'],
      logRoot: '/var/log/virtnet/',
      allowedBridges: ['br-uplink'],
      allowedIpam: ['host-local', 'my-ipam'],
      maxLogBytes: 65536,
    }),
    'f.json',
  );
  assert.deepEqual(p, {
    source: 'f.json',
    dataRoots: ['/srv/cni/data', '/var/lib/cni/virtnet'],
    logRoot: '/var/log/virtnet',
    allowedBridges: ['br-uplink'],
    allowedIpam: ['host-local', 'my-ipam'],
    maxLogBytes: 65536,
  });
});

const BAD_POLICIES: Array<[string, string, string]> = [
  ['not JSON', '{', 'node policy p: (root): not valid JSON'],
  ['a list', '[]', 'node policy p: (root): must be a JSON object'],
  [
    'misspelt key',
    '{"allowedBridge": []}',
    'node policy p: allowedBridge: unknown key (did you mean "allowedBridges"?)',
  ],
  ['dataRoots empty', '{"dataRoots": []}', 'node policy p: dataRoots: must be a non-empty list of absolute paths'],
  [
    'dataRoots relative',
    '{"dataRoots": ["var/lib"]}',
    'node policy p: dataRoots[0]: "var/lib" must be an absolute path',
  ],
  [
    'dataRoots with ..',
    '{"dataRoots": ["/var/../etc"]}',
    'node policy p: dataRoots[0]: "/var/../etc" must not contain ".."',
  ],
  ['logRoot a number', '{"logRoot": 5}', 'node policy p: logRoot: must be a string (an absolute path)'],
  [
    'bridge name too long',
    '{"allowedBridges": ["a-very-long-bridge-name"]}',
    'node policy p: allowedBridges[0]: "a-very-long-bridge-name" is not a valid link name: must be at most 15 bytes',
  ],
  [
    'maxLogBytes tiny',
    '{"maxLogBytes": 10}',
    'node policy p: maxLogBytes: 10 must be an integer from 4096 to 1099511627776',
  ],
  ['maxLogBytes a string', '{"maxLogBytes": "1M"}', 'node policy p: maxLogBytes: "1M" must be an integer'],
  [
    'allowedIpam not a list',
    '{"allowedIpam": "host-local"}',
    'node policy p: allowedIpam: must be a list of IPAM plugin names',
  ],
  [
    'allowedIpam entry a number',
    '{"allowedIpam": [1]}',
    'node policy p: allowedIpam[0]: must be a string (a plugin name)',
  ],
  [
    'allowedIpam entry a path',
    '{"allowedIpam": ["../bin/sh"]}',
    'node policy p: allowedIpam[0]: "../bin/sh" must match',
  ],
  [
    'allowedIpam entry this plugin',
    '{"allowedIpam": ["host-local", "virtnet-bridge"]}',
    'node policy p: allowedIpam[1]: "virtnet-bridge" is this plugin itself',
  ],
  [
    'allowedIpam misspelt',
    '{"allowedIPAM": []}',
    'node policy p: allowedIPAM: unknown key (did you mean "allowedIpam"?)',
  ],
];
for (const [desc, text, msg] of BAD_POLICIES) {
  test(`policy rejects: ${desc}`, () => {
    assert.ok(refusal(() => parsePolicy(text, 'p')).startsWith(msg));
  });
}

test('policy: writePolicy writes what loadPolicy reads, 0600, and refuses what the plugin would', () => {
  const file = join(SCRATCH, 'written', 'cni-policy.json');
  writePolicy(file, { dataRoots: ['/var/lib/virtnet/cni'], logRoot: '/var/log/virtnet' });
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(loadPolicy({ VIRTNET_CNI_POLICY: file }).dataRoots, ['/var/lib/virtnet/cni']);
  assert.throws(() => writePolicy(join(SCRATCH, 'bad.json'), { dataRoots: ['relative'] }), /dataRoots\[0\]/);
  assert.equal(existsSync(join(SCRATCH, 'bad.json')), false);
});

const root = join(SCRATCH, 'roots');
const logRoot = join(SCRATCH, 'logs');
mkdirSync(join(root, 'real'), { recursive: true });
mkdirSync(logRoot, { recursive: true });
const POLICY: NodePolicy = {
  source: 'test',
  dataRoots: [root],
  logRoot,
  allowedBridges: [],
  allowedIpam: ['host-local'],
  maxLogBytes: 4096,
};

test('paths: dataDir, ipam.dataDir and logFile under their roots pass, also when not made yet', () => {
  checkPaths(conf({ dataDir: root }), POLICY);
  checkPaths(
    conf({
      dataDir: join(root, 'not', 'yet'),
      ipam: { type: 'host-local', dataDir: join(root, 'real', 'ipam') },
      logFile: join(logRoot, 'cni.log'),
    }),
    POLICY,
  );
  checkPaths(conf({ dataDir: `${root}//real/` }), POLICY);
});

test('paths: outside the roots is refused, naming field, value and rule', () => {
  assert.equal(
    refusal(() => checkPaths(conf({ dataDir: '/etc' }), POLICY)),
    `dataDir: "/etc" is outside the data roots the node admin allows: ${JSON.stringify([root])} (node policy: test)`,
  );
  assert.match(
    refusal(() => checkPaths(conf({ dataDir: `${root}-x` }), POLICY)),
    /^dataDir: .* is outside the data roots/,
  );
  assert.match(
    refusal(() =>
      checkPaths(conf({ dataDir: root, ipam: { type: 'host-local', dataDir: '/var/lib/kubelet' } }), POLICY),
    ),
    /^ipam\.dataDir: "\/var\/lib\/kubelet" is outside the data roots/,
  );
  assert.match(
    refusal(() => checkPaths(conf({ dataDir: root, logFile: '/etc/cron.d/x' }), POLICY)),
    /^logFile: "\/etc\/cron.d\/x" is outside the log root the node admin allows/,
  );
  assert.match(
    refusal(() =>
      checkPaths(conf({ dataDir: root, logFile: join(logRoot, 'x') }), {
        source: 'test',
        dataRoots: [root],
        allowedBridges: [],
        allowedIpam: [],
        maxLogBytes: 4096,
      }),
    ),
    /^logFile: .* is refused: the node admin set no logRoot/,
  );
});

test('paths: a symlink below a root is refused, for data and for the log', () => {
  symlinkSync('/etc', join(root, 'to-etc'));
  symlinkSync('/etc', join(logRoot, 'to-etc'));
  assert.match(
    refusal(() => checkPaths(conf({ dataDir: join(root, 'to-etc') }), POLICY)),
    /^dataDir: .* passes through a symbolic link \(.*to-etc resolves to \/etc\); symlinks below .* are refused/,
  );
  assert.match(
    refusal(() => checkPaths(conf({ dataDir: join(root, 'to-etc', 'cron.d', 'new') }), POLICY)),
    /^dataDir: .*passes through a symbolic link/,
  );
  assert.match(
    refusal(() => checkPaths(conf({ dataDir: root, logFile: join(logRoot, 'to-etc', 'cron.d', 'x') }), POLICY)),
    /^logFile: .*passes through a symbolic link/,
  );
  symlinkSync('/etc/virtnet-test-nowhere', join(root, 'dangling'));
  assert.match(
    refusal(() => checkPaths(conf({ dataDir: join(root, 'dangling', 'x') }), POLICY)),
    /^dataDir: .*passes through a symbolic link \(.*dangling is a symbolic link to nowhere\)/,
  );
});

test('log: created 0600, appended, never through a symlink or into a hard link', () => {
  const file = join(logRoot, 'plain.log');
  createLog({ t: 1 }, { logFile: file }).info('one');
  createLog({ t: 2 }, { logFile: file }).info('two');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(
    readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { msg: string }).msg),
    ['one', 'two'],
  );
  const target = join(SCRATCH, 'victim');
  writeFileSync(target, 'untouched');
  symlinkSync(target, join(logRoot, 'link.log'));
  createLog({}, { logFile: join(logRoot, 'link.log') }).error('must not land');
  linkSync(target, join(logRoot, 'hard.log'));
  createLog({}, { logFile: join(logRoot, 'hard.log') }).error('must not land');
  assert.equal(readFileSync(target, 'utf8'), 'untouched');
});

test('log: rotates by size to one old generation before appending', () => {
  const file = join(logRoot, 'rotating.log');
  writeFileSync(file, 'x'.repeat(5000));
  createLog({}, { logFile: file, maxBytes: 4096 }).info('fresh');
  assert.equal(readFileSync(`${file}.1`, 'utf8'), 'x'.repeat(5000));
  const now = readFileSync(file, 'utf8').trim().split('\n');
  assert.equal(now.length, 1);
  assert.equal((JSON.parse(now[0]!) as { msg: string }).msg, 'fresh');
  // Under the limit: no rotation, the old generation stays as it is.
  const log = createLog({}, { logFile: file, maxBytes: 4096 });
  log.info('second');
  log.info('third');
  assert.equal(readFileSync(file, 'utf8').trim().split('\n').length, 3);
  assert.equal(readFileSync(`${file}.1`, 'utf8'), 'x'.repeat(5000));
  // Full again: the previous .1 is replaced, so there is only ever one.
  writeFileSync(file, 'y'.repeat(4096));
  createLog({}, { logFile: file, maxBytes: 4096 }).info('again');
  assert.equal(readFileSync(`${file}.1`, 'utf8'), 'y'.repeat(4096));
  assert.deepEqual(
    readdirSync(logRoot)
      .filter((n) => n.startsWith('rotating'))
      .sort(),
    ['rotating.log', 'rotating.log.1'],
  );
});

test('dataDir: a network named delegate-versions.json cannot break the version cache', async () => {
  const dataDir = join(root, 'shared');
  const fake = join(SCRATCH, 'fake-ipam');
  writeFileSync(fake, '#!/bin/sh\necho \'{"cniVersion":"1.1.0","supportedVersions":["1.0.0","1.1.0"]}\'\n', {
    mode: 0o755,
  });
  // The attack: a network whose record directory takes the cache's old file name.
  await writeRecord(dataDir, 'delegate-versions.json', {
    containerID: 'c1',
    ifname: 'eth0',
    netns: '/var/run/netns/x',
    hostVeth: hostVethName('c1', 'eth0'),
    bridge: 'b',
  });
  assert.deepEqual(await delegateVersions(fake, dataDir), ['1.0.0', '1.1.0']);
  assert.deepEqual(await delegateVersions(fake, dataDir), ['1.0.0', '1.1.0'], 'and again, from the cache');
  assert.equal(versionCacheFile(dataDir), join(dataDir, '.cache', 'delegate-versions.json'));
  assert.ok(statSync(versionCacheFile(dataDir)).isFile());
  assert.equal(listRecords(dataDir, 'delegate-versions.json').length, 1, 'the network keeps its record');
  // And no network name can reach the cache's directory: names start with a letter or digit.
  assert.match(
    refusal(() => conf({ name: '.cache' })),
    /^name: "\.cache" must match/,
  );
});

test('records: durable 0600 files in 0700 directories; foreign or damaged ones are skipped', async () => {
  const dataDir = join(root, 'records');
  await writeRecord(dataDir, 'net', {
    containerID: 'c2',
    ifname: 'eth0',
    netns: '/var/run/netns/y',
    hostVeth: hostVethName('c2', 'eth0'),
    bridge: 'b',
  });
  const [file] = readdirSync(join(dataDir, 'net'));
  assert.equal(statSync(join(dataDir, 'net', file!)).mode & 0o777, 0o600);
  assert.equal(statSync(join(dataDir, 'net')).mode & 0o777, 0o700);
  writeFileSync(join(dataDir, 'net', 'empty.json'), '');
  writeFileSync(
    join(dataDir, 'net', 'foreign.json'),
    JSON.stringify({ containerID: 'c3', ifname: 'eth0', netns: '', hostVeth: 'eth0', bridge: 'b' }),
  );
  assert.deepEqual(
    listRecords(dataDir, 'net').map((r) => r.containerID),
    ['c2'],
  );
});
