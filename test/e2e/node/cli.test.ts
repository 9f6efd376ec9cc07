/**
 * `virtnet` end to end, as a user runs it on one machine (here a test node
 * namespace with its own state directory): up, get, describe, topology,
 * console-free checks of the guest, up again, down; and a kill -9 in the
 * middle of `up` that `virtnet gc` then cleans after.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { XMLValidator } from 'fast-xml-parser';
import { parse } from 'yaml';
import { ping } from '../../support/netns.ts';
import { TestNode } from '../../support/node-driver.ts';
import { waitFor } from '../../../harness/guest-console.ts';

let node: TestNode;

before(() => {
  node = new TestNode();
});
after(() => node.destroy());

function links(): string[] {
  return (JSON.parse(node.netns.run(['ip', '-j', 'link', 'show'])) as Array<{ ifname: string }>).map((l) => l.ifname);
}

test('bad input gives clear errors and creates nothing', () => {
  const write = (name: string, text: string) => {
    const f = join(node.stateDir, name);
    writeFileSync(f, text);
    return f;
  };
  const nad =
    'apiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata: { name: blue }\nspec: { config: ' +
    '\'{"cniVersion":"1.0.0","name":"blue","type":"bridge"}\' }\n';
  const vmi = (name: string, extra = '') =>
    `apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstance\nmetadata: { name: ${name} }\nspec:\n  domain: { ` +
    `devices: {}${extra} }\n`;
  const cases: Array<[string, string, RegExp]> = [
    ['malformed.yaml', `${nad}---\nkind: [unclosed\n`, /malformed\.yaml.*line \d+/u],
    ['unknown-kind.yaml', `${nad}---\napiVersion: v1\nkind: Pod\nmetadata: { name: p }\n`, /kind.*(Pod|supported)/u],
    [
      'missing-kernel.yaml',
      `${nad}---\n${vmi('k', ', firmware: { kernelBoot: { host: { kernelPath: /nonexistent/vmlinuz } } }')}`,
      /kernelBoot\.host\.kernelPath: \/nonexistent\/vmlinuz does not exist/u,
    ],
    [
      'pvc.yaml',
      `${nad}---\n${vmi('c')}  volumes: [{ name: root, persistentVolumeClaim: { claimName: data } }]\n`,
      /cannot provide persistentVolumeClaim volume "root"/u,
    ],
    [
      'container-disk-option.yaml',
      `${nad}---\n${vmi('o')}  volumes: [{ name: root, containerDisk: { image: "--src-creds=a:b" } }]\n`,
      /volumes\[0\]\.containerDisk\.image: .*must not start with "-"/u,
    ],
    ['clash.yaml', `${nad}---\n${vmi('same')}---\n${vmi('same')}`, /same/u],
  ];
  for (const [name, text, why] of cases) {
    const r = node.run(['up', write(name, text)]);
    assert.equal(r.status, 1, `${name}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, why, name);
    assert.match(r.stderr, /nothing was created/u, name);
  }
  assert.equal(node.run(['up', join(node.stateDir, 'no-such-file.yaml')]).status, 1);
  assert.deepEqual(node.sandboxes(), []);
  // kubectl's words, on stderr: stdout stays empty for a script that reads it.
  const nads = node.run(['get', 'nads']);
  assert.deepEqual(
    [nads.status, nads.stdout, nads.stderr],
    [0, '', 'No resources found in default namespace.\n'],
    'not even the valid NAD of a failed batch is applied',
  );
  assert.deepEqual(node.run(['get', 'vmis']).stderr, 'No resources found in default namespace.\n');
});

test('up brings a bridge-bound VM to its lease, step by step, and get/describe/topology show it', () => {
  const out = node.must(['up', 'examples/vm-bridge.yaml']);
  for (const step of [
    'validate',
    'sandbox',
    'pod networks',
    'launcher network',
    'dhcp server',
    'libvirt',
    'boot',
    'lease default',
  ]) {
    assert.match(out, new RegExp(`default/vm-bridge\\s+${step}\\s+[\\d.]+ m?s`, 'u'), `step ${step} in:\n${out}`);
  }
  assert.match(out, /default\/vm-bridge: Running; default=10\.244\.\d+\.\d+/u);

  const table = node.must(['get', 'vmis']);
  assert.match(table, /^NAMESPACE\s+NAME\s+PHASE\s+IPS\s+AGE$/mu);
  assert.match(table, /^default\s+vm-bridge\s+Running\s+default=10\.244\.\d+\.\d+\s+\d+s$/mu);

  const list = JSON.parse(node.must(['get', 'vmis', '-o', 'json'])) as {
    kind: string;
    items: Array<Record<string, any>>;
  };
  assert.equal(list.kind, 'List');
  const vmi = list.items[0]!;
  assert.equal(vmi.status.phase, 'Running');
  const nic = vmi.status.interfaces[0];
  assert.equal(nic.name, 'default');
  assert.equal(nic.podInterfaceName, 'eth0');
  assert.equal(nic.leased, true);
  assert.match(nic.mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/u);
  // KubeVirt's sources, in its order: the domain (the launcher's NIC) and network-status.
  assert.equal(nic.infoSource, 'domain, multus-status');
  assert.deepEqual(vmi.status.conditions, [{ type: 'Ready', status: 'True', reason: 'GuestReady' }]);
  const ip = nic.ipAddress as string;
  assert.deepEqual(nic.ipAddresses, [ip]);

  const one = parse(node.must(['get', 'vmis', 'vm-bridge', '-o', 'yaml'])) as Record<string, any>;
  assert.equal(one.kind, 'VirtualMachineInstance');
  assert.equal(one.status.interfaces[0].ipAddress, ip);

  const described = node.must(['describe', 'vmi', 'vm-bridge']);
  for (const s of ['k6t-eth0', 'tap0', 'eth0', nic.mac, ip, 'bridge', 'leased'])
    assert.ok(described.includes(s), `${s} in:\n${described}`);
  assert.match(
    described,
    /^Conditions:\n {2}Type +Status +Reason +Since +Message\n.*\n {2}Ready +True +GuestReady +-$/mu,
  );

  const svg = join(node.stateDir, 'topology.svg');
  const text = node.must(['topology', 'vm-bridge', '--svg', svg]);
  const hops = ['eth0', 'k6t-eth0', 'tap0', 'default'].map((h) => text.indexOf(h));
  assert.ok(
    hops.every((i) => i >= 0),
    text,
  );
  assert.equal(XMLValidator.validate(readFileSync(svg, 'utf8')), true);

  // The guest answers on the pod's IP from the node, as a pod would.
  assert.ok(ping(node.netns, ip, 3), `no reply from the guest at ${ip}`);
});

test('up again changes nothing; a changed spec is a clash that creates nothing', () => {
  const before = node.sandboxes();
  const again = node.must(['up', 'examples/vm-bridge.yaml']);
  assert.match(again, /default\/vm-bridge\s+unchanged/u);
  assert.deepEqual(node.sandboxes(), before);

  const changed = readFileSync('examples/vm-bridge.yaml', 'utf8').replace('memory: 256Mi', 'memory: 300Mi');
  const file = join(node.stateDir, 'changed.yaml');
  writeFileSync(file, changed);
  const r = node.run(['up', file]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /already runs with a different spec/u);
  assert.match(r.stderr, /spec\.domain\.resources cannot change on a running VMI/u);
  assert.match(r.stderr, /nothing was created/u);
  assert.deepEqual(node.sandboxes(), before);
});

test('down leaves nothing behind: netns, links, nft tables, processes, IPAM', () => {
  const netns = node.sandboxes();
  assert.equal(netns.length, 1);
  node.must(['down', 'vm-bridge']);
  assert.ok(!existsSync(`/run/netns/${netns[0]}`), 'sandbox netns gone');
  assert.deepEqual(
    links().filter((l) => /^vn[0-9a-f]{11}$/u.test(l)),
    [],
    'host veths gone',
  );
  assert.deepEqual(
    node.netns
      .run(['nft', 'list', 'tables'])
      .split('\n')
      .filter((l) => /virtnet-vn/u.test(l)),
    [],
    'per-attachment tables gone',
  );
  assert.deepEqual(node.ipamAllocations(), [], 'IPAM released');
  assert.equal(spawnedFrom(node.stateDir).length, 0, 'no process of this node is left');
  assert.deepEqual(readdirSync(join(node.stateDir, 'vmis', 'default')), []);
  const r = node.run(['down', 'vm-bridge']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /NotFound/u);
});

function spawnedFrom(stateDir: string): string[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/u.test(d))
    .flatMap((pid) => {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        return cmd.includes(stateDir) ? [`${pid} ${cmd.replaceAll('\0', ' ')}`] : [];
      } catch {
        return [];
      }
    });
}

test('kill -9 during up, then gc leaves nothing behind', async () => {
  const child = node.start(['up', 'examples/vm-bridge.yaml']);
  const record = join(node.stateDir, 'vmis', 'default', 'vm-bridge', 'record.json');
  // Kill it as soon as its sandbox exists: the pod's CNI ADDs are then under way.
  await waitFor('the sandbox', () => node.sandboxes().length === 1, 60_000, 5);
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  // Should `up` have got as far as starting the launcher, crash that too.
  const rec = JSON.parse(readFileSync(record, 'utf8')) as { launcherPid?: number };
  if (rec.launcherPid) for (const p of spawnedFrom(node.stateDir)) process.kill(Number(p.split(' ')[0]), 'SIGKILL');
  assert.equal(node.sandboxes().length, 1, 'the crash left a sandbox');
  const gc = node.must(['gc']);
  assert.match(gc, /removed default\/vm-bridge/u);
  assert.deepEqual(node.sandboxes(), []);
  assert.deepEqual(
    links().filter((l) => /^vn[0-9a-f]{11}$/u.test(l)),
    [],
  );
  assert.deepEqual(node.ipamAllocations(), []);
  assert.equal(spawnedFrom(node.stateDir).length, 0);
  assert.match(node.must(['gc']), /nothing to remove/u);
});
