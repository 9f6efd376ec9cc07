/**
 * The node agent's choice of default network, on a real CNI config
 * directory: off (the default) it installs the plugin and writes no
 * conflist, leaves another network's file alone and removes only its own
 * earlier files; on, its conflist carries the node's pod subnets and sorts
 * first, and it warns when another config would still win. The pod subnet
 * rules (pod-cidrs.ts) are checked with the errors they give.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import {
  DEFAULT_NETWORK_FILE,
  NodeAgent,
  WRITER,
  WRITER_KEY,
  type NodeAgentOptions,
} from '../../../controller/agent/node-agent.ts';
import { podNetworkConfList } from '../../../controller/cluster/main.ts';
import { networkConfigFiles } from '../../../controller/agent/cni-install.ts';
import { nodePodCidrs, parsePodCidrs } from '../../../controller/agent/pod-cidrs.ts';

const root = mkdtempSync(join(tmpdir(), 'virtnet-test-default-net-'));
after(() => rmSync(root, { recursive: true, force: true }));
let count = 0;

const OTHER = `${JSON.stringify({ cniVersion: '1.0.0', name: 'other', plugins: [{ type: 'bridge', bridge: 'cni0' }] })}\n`;

/** A node's directories, and an agent on them whose log lines are kept. */
function node(o: Partial<NodeAgentOptions> = {}) {
  const dir = join(root, `n${count++}`);
  mkdirSync(join(dir, 'image'), { recursive: true });
  writeFileSync(join(dir, 'image', 'virtnet-bridge'), '#!/bin/sh\n');
  const lines: Array<Record<string, any>> = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const confDir = join(dir, 'net.d');
  mkdirSync(confDir);
  const agent = new NodeAgent(undefined, {
    node: 'node-a',
    log: pino({ level: 'info' }, sink),
    plugin: join(dir, 'image', 'virtnet-bridge'),
    cniBinDir: join(dir, 'bin'),
    cniConfDir: confDir,
    conflist: podNetworkConfList(),
    stateRoot: join(dir, 'pods'),
    ...o,
  });
  const conf = (name: string) => join(confDir, name);
  return { agent, lines, confDir, conf, dir };
}

/**
 * What the node agent wrote before the writer key: podNetworkConfList with one subnet, as the earlier main.ts made it.
 */
const earlierText = (subnet: string) => `${JSON.stringify(podNetworkConfList([subnet]), null, 2)}\n`;

test("off (the default): the plugin is installed, no conflist is written, another network's file is left alone", () => {
  const n = node();
  writeFileSync(n.conf('05-other.conflist'), OTHER);
  n.agent.install();
  assert.ok(existsSync(join(n.dir, 'bin', 'virtnet-bridge')), 'the plugin is installed, for NADs and the VM bindings');
  assert.deepEqual(readdirSync(n.confDir), ['05-other.conflist']);
  assert.equal(readFileSync(n.conf('05-other.conflist'), 'utf8'), OTHER, 'byte for byte');
  assert.ok(
    n.lines.some((l) => /not the default network \(--default-network is off\)/u.test(l.msg)),
    'the log says why no conflist is written',
  );
});

test("off: virtnet's own earlier conflists are removed, an admin's file of the same name stays", () => {
  const mine = node();
  writeFileSync(mine.conf('05-other.conflist'), OTHER);
  writeFileSync(mine.conf('10-virtnet.conflist'), earlierText('10.244.0.0/24'));
  writeFileSync(
    mine.conf(DEFAULT_NETWORK_FILE),
    `${JSON.stringify({ ...podNetworkConfList(['10.244.3.0/24']), [WRITER_KEY]: WRITER })}\n`,
  );
  mine.agent.install();
  assert.deepEqual(
    readdirSync(mine.confDir),
    ['05-other.conflist'],
    "the earlier agent's file (exact content) and the marked one are gone",
  );

  const admins = node();
  // Same name, same shape, but the admin's own bridge: not what virtnet ever wrote.
  const edited = podNetworkConfList(['10.244.0.0/24']);
  edited.plugins[0]!.bridge = 'br-admin';
  const adminText = `${JSON.stringify(edited, null, 2)}\n`;
  writeFileSync(admins.conf('10-virtnet.conflist'), adminText);
  writeFileSync(admins.conf(DEFAULT_NETWORK_FILE), OTHER);
  admins.agent.install();
  assert.equal(readFileSync(admins.conf('10-virtnet.conflist'), 'utf8'), adminText);
  assert.equal(readFileSync(admins.conf(DEFAULT_NETWORK_FILE), 'utf8'), OTHER);
});

test("on: the conflist has the node's subnets, one host-local range set per family, and sorts first", () => {
  const n = node({ defaultNetwork: true, podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'] });
  writeFileSync(n.conf('05-other.conflist'), OTHER);
  writeFileSync(n.conf('10-virtnet.conflist'), earlierText('10.244.0.0/24'));
  n.agent.install();
  assert.deepEqual(
    networkConfigFiles(n.confDir),
    [DEFAULT_NETWORK_FILE, '05-other.conflist'],
    "virtnet's is the first config, the earlier one is gone",
  );
  const written = JSON.parse(readFileSync(n.conf(DEFAULT_NETWORK_FILE), 'utf8'));
  assert.deepEqual(written.plugins[0].ipam.ranges, [[{ subnet: '10.244.1.0/24' }], [{ subnet: 'fd00:10:244:1::/64' }]]);
  assert.equal(written.plugins[0].ipam.type, 'host-local');
  assert.equal(written[WRITER_KEY], WRITER);
  // Everything but the ranges (and the writer key) is the pod network as main.ts defines it.
  const { [WRITER_KEY]: _marker, ...rest } = written;
  assert.deepEqual(rest, podNetworkConfList(['10.244.1.0/24', 'fd00:10:244:1::/64']));
  assert.equal(readFileSync(n.conf('05-other.conflist'), 'utf8'), OTHER);
  assert.ok(!n.lines.some((l) => l.level === 40), 'nothing sorts before it: no warning');
  assert.ok(n.lines.some((l) => l.msg === 'virtnet is the default network' && l.source === '--pod-cidr'));
});

test("on: a config that sorts before virtnet's is warned about, once; turning it off removes virtnet's", () => {
  const n = node({ defaultNetwork: true, podCIDRs: ['10.244.1.0/24'] });
  writeFileSync(n.conf('0-early.conf'), OTHER);
  n.agent.install();
  n.agent.syncNetwork();
  const warnings = n.lines.filter((l) => l.level === 40);
  assert.equal(warnings.length, 1, JSON.stringify(warnings));
  assert.deepEqual(warnings[0]!.before, ['0-early.conf']);
  assert.match(
    warnings[0]!.msg,
    /0-early\.conf sorts before 00-virtnet\.conflist: the runtime takes it as the default network/u,
  );

  const off = new NodeAgent(undefined, {
    node: 'node-a',
    log: pino({ level: 'silent' }),
    plugin: join(n.dir, 'image', 'virtnet-bridge'),
    cniBinDir: join(n.dir, 'bin'),
    cniConfDir: n.confDir,
    conflist: podNetworkConfList(),
    stateRoot: join(n.dir, 'pods'),
  });
  off.install();
  assert.deepEqual(
    readdirSync(n.confDir),
    ['0-early.conf'],
    'the agent restarted without --default-network removes its conflist',
  );
});

test("on: an admin's file under virtnet's name is not overwritten", () => {
  const n = node({ defaultNetwork: true, podCIDRs: ['10.244.1.0/24'] });
  writeFileSync(n.conf(DEFAULT_NETWORK_FILE), OTHER);
  n.agent.install();
  assert.equal(readFileSync(n.conf(DEFAULT_NETWORK_FILE), 'utf8'), OTHER);
  assert.ok(n.lines.some((l) => l.level === 50 && /exists and is not virtnet's/u.test(l.msg)));
});

test('on, with no pod subnet (no Node, no --pod-cidr): a clear error, and no conflist', () => {
  const n = node({ defaultNetwork: true });
  n.agent.install();
  assert.deepEqual(readdirSync(n.confDir), []);
  const errors = n.lines.filter((l) => l.level === 50);
  assert.equal(errors.length, 1);
  assert.match(
    errors[0]!.msg,
    /no pod subnet for this node: .* no --pod-cidr is given, so no default network is written/u,
  );
  n.agent.syncNetwork();
  assert.equal(n.lines.filter((l) => l.level === 50).length, 1, 'said once, not on every resync');
});

test(
  'pod subnets: CIDRs with no host bits, one per family, room for a gateway and a pod; errors name the field and ' +
    'the value',
  () => {
    assert.deepEqual(parsePodCidrs(['10.244.1.0/24', 'FD00:10:244:1:0::/64'], '--pod-cidr'), [
      '10.244.1.0/24',
      'fd00:10:244:1::/64',
    ]);
    assert.throws(
      () => parsePodCidrs(['10.244.1.7/24'], '--pod-cidr'),
      /^Error: --pod-cidr: 10\.244\.1\.7\/24 has host bits set: the subnet is 10\.244\.1\.0\/24$/u,
    );
    assert.throws(
      () => parsePodCidrs(['10.244.1.0/24', '10.244.2.0/24'], '--pod-cidr'),
      /--pod-cidr\[1\]: 10\.244\.2\.0\/24 is a second IPv4 subnet after 10\.244\.1\.0\/24: one subnet per family/u,
    );
    assert.throws(() => parsePodCidrs(['10.244.1.0'], '--pod-cidr'), /--pod-cidr: "10\.244\.1\.0" is not a CIDR/u);
    assert.throws(
      () => parsePodCidrs(['10.244.1.0/31'], '--pod-cidr'),
      /too small: an IPv4 pod subnet needs a prefix of \/30 or shorter/u,
    );
    assert.throws(() => parsePodCidrs([7], 'Node a spec.podCIDRs'), /Node a spec\.podCIDRs: 7 is not a CIDR/u);
    assert.throws(
      () =>
        new NodeAgent(undefined, {
          node: 'a,b',
          log: pino({ level: 'silent' }),
          plugin: 'x',
          cniBinDir: 'b',
          cniConfDir: 'c',
          conflist: podNetworkConfList(),
          stateRoot: 's',
        }),
      /--node: "a,b" is not a node name/u,
    );
    assert.throws(
      () =>
        new NodeAgent(undefined, {
          node: 'a',
          log: pino({ level: 'silent' }),
          plugin: 'x',
          cniBinDir: 'b',
          cniConfDir: 'c',
          conflist: podNetworkConfList(),
          stateRoot: 's',
          podCIDRs: ['10.0.0.1/8'],
        }),
      /--pod-cidr: 10\.0\.0\.1\/8 has host bits set/u,
    );
  },
);

test("a Node's subnets: spec.podCIDRs, else the older spec.podCIDR, else none", () => {
  assert.deepEqual(
    nodePodCidrs({
      metadata: { name: 'a' },
      spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24', 'fd00::/64'] },
    }),
    ['10.244.1.0/24', 'fd00::/64'],
  );
  assert.deepEqual(nodePodCidrs({ metadata: { name: 'a' }, spec: { podCIDR: '10.244.2.0/24' } }), ['10.244.2.0/24']);
  assert.deepEqual(nodePodCidrs({ metadata: { name: 'a' }, spec: {} }), []);
  assert.deepEqual(nodePodCidrs({ metadata: { name: 'a' } }), []);
  assert.throws(
    () => nodePodCidrs({ metadata: { name: 'a' }, spec: { podCIDRs: '10.244.1.0/24' } }),
    /Node a spec\.podCIDRs: must be a list of CIDRs/u,
  );
  assert.throws(
    () => nodePodCidrs({ metadata: { name: 'a' }, spec: { podCIDRs: ['10.244.1.0/24', '10.244.9.0/24'] } }),
    /Node a spec\.podCIDRs\[1\]: .* second IPv4 subnet/u,
  );
});

test('the config files a runtime reads, in its order: .conf, .conflist and .json, byte order, no directories', () => {
  const n = node();
  for (const f of ['b.json', '10-a.conflist', 'Z.conf', 'notes.txt', '00-virtnet.conflist.bak', '.hidden.conf'])
    writeFileSync(n.conf(f), '{}');
  mkdirSync(n.conf('00-dir.conf'));
  assert.deepEqual(networkConfigFiles(n.confDir), ['.hidden.conf', '10-a.conflist', 'Z.conf', 'b.json']);
  assert.deepEqual(networkConfigFiles(join(n.dir, 'absent')), []);
});
