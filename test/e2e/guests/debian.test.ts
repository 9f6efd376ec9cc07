/**
 * Real guests end to end (issue 12): the Debian 12 cloud image built from
 * Debian's packages (scripts/guest/debian.sh), pushed as a containerDisk to
 * a real registry (Debian's docker-registry, in the node's namespace), pulled
 * by `virtnet up` through registries.conf, configured by cloud-init, and its
 * network checked from inside the guest with the distro's own tools
 * (probe.ts). Each Debian boot takes about a minute under TCG: the VMs of a
 * test come up together, and the tests run the project's examples as they
 * are, with only a probe added to their user data.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { TestNode } from '../../support/node-driver.ts';
import { waitFor } from '../../../harness/guest-console.ts';
import { debianGuest } from '../../support/guests.ts';
import { startRegistry, stopNodeWithRegistry, type TestRegistry } from '../../../harness/registry.ts';
import { addresses, mtuOf, probeReport, withProbe } from './probe.ts';

type Obj = Record<string, any>;

const BOOT_MS = 360_000;
let node: TestNode;
let registry: TestRegistry;
let dir: string;
let cache: string;
let conf: string;

/** A dual-stack default pod network, so that masquerade and bridge guests get IPv6 too. */
function dualStackConfDir(stateDir: string): string {
  const confDir = join(dir, 'net.d');
  mkdirSync(confDir);
  writeFileSync(
    join(confDir, '10-virtnet.conflist'),
    JSON.stringify({
      cniVersion: '1.1.0',
      name: 'virtnet',
      plugins: [
        {
          type: 'virtnet-bridge',
          bridge: 'virtnet0',
          isGateway: true,
          isDefaultGateway: true,
          ipMasq: true,
          dataDir: join(stateDir, 'cni'),
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: '10.244.0.0/24' }], [{ subnet: 'fd00:10:244::/64' }]],
            dataDir: join(stateDir, 'ipam'),
          },
        },
      ],
    }),
  );
  return confDir;
}

before(async () => {
  const disk = debianGuest();
  dir = mkdtempSync(join(tmpdir(), 'virtnet-test-guests-'));
  cache = join(dir, 'cache');
  node = new TestNode({ VIRTNET_IMAGE_CACHE_DIR: cache });
  registry = await startRegistry({ netns: node.netns.name });
  // One image under several names: KubeVirt's example names, and one only a mirror serves.
  for (const name of [
    'virtnet/debian-cloud:12',
    'kubevirt/fedora-cloud-container-disk-demo:devel',
    'kubevirt/fedora-with-test-tooling-container-disk:devel',
  ])
    registry.push(disk, name);
  conf = join(dir, 'registries.conf');
  writeFileSync(
    conf,
    [
      '[[registry]]',
      'prefix = "registry:5000"',
      `location = "${registry.address}"`,
      'insecure = true',
      '',
      // mirror.invalid never resolves (RFC 6761): only its mirror can serve it.
      '[[registry]]',
      'location = "mirror.invalid"',
      '[[registry.mirror]]',
      `location = "${registry.address}"`,
      'insecure = true',
      '',
    ].join('\n'),
  );
});

after(() => stopNodeWithRegistry(registry, node, dir));

function up(file: string, extra: string[] = []): string {
  return node.must(
    ['--registries-conf', conf, '--cni-conf-dir', join(dir, 'net.d'), 'up', '--timeout', '300', ...extra, file],
    600_000,
  );
}

/** An example's documents, each VMI changed by `edit`, written to a file of the test's. */
function example(file: string, edit: (doc: Obj) => Obj = (d) => d): string {
  const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as Obj);
  const out = join(dir, `${Math.random().toString(36).slice(2, 8)}-${file.split('/').at(-1)}`);
  writeFileSync(out, docs.map((d) => stringify(d.kind === 'VirtualMachineInstance' ? edit(d) : d)).join('---\n'));
  return out;
}

function logs(name: string): string {
  return node.must(['logs', name]);
}

async function report(name: string): Promise<string[]> {
  return waitFor(`${name}'s probe on its console`, () => probeReport(logs(name), name), BOOT_MS, 2000);
}

function vmi(name: string): Obj {
  return JSON.parse(node.must(['get', 'vmis', name, '-o', 'json'])) as Obj;
}

/** The seed's files, read back from the ISO the launcher attached. */
function seedFile(name: string, path: string): string {
  const out = mkdtempSync(join(dir, 'seed-'));
  execFileSync(
    'xorriso',
    ['-osirrox', 'on', '-indev', join(node.launcherDir(name), 'cloud-init.iso'), '-extract', '/', out],
    { stdio: 'ignore' },
  );
  return readFileSync(join(out, path), 'utf8');
}

test('setup: a dual-stack pod network for this node', () => {
  dualStackConfDir(node.stateDir);
  assert.deepEqual(readdirSync(join(dir, 'net.d')), ['10-virtnet.conflist']);
});

test(
  'examples/debian-containerdisk.yaml through a registries.conf mirror: cloud-init runs, masquerade dual stack with ' +
    'no network config written, port 80 served',
  async (t) => {
    t.after(() => node.run(['down', 'debian-web']));
    const file = example('examples/debian-containerdisk.yaml', (d) => {
      d.spec.volumes[0].containerDisk.image = 'mirror.invalid/virtnet/debian-cloud:12';
      return withProbe(
        d,
        'ip -6 route show default | grep -q . && ip -6 -o addr show dev eth0 scope global | grep -q fd10',
      );
    });
    const out = up(file);
    assert.match(
      out,
      /image containerdisk .*mirror\.invalid\/virtnet\/debian-cloud:12 sha256:[0-9a-f]{12} \(pulled\)/u,
    );
    const r = await report('debian-web');
    assert.match(logs('debian-web'), /virtnet-example: cloud-init user data ran on debian-web/u);
    assert.ok(r.includes('hostname debian-web'), r.join('\n'));
    assert.ok(addresses(r, 'eth0').includes('inet 10.0.2.2/24 global'), r.join('\n'));
    assert.ok(
      addresses(r, 'eth0').some((a) => a.startsWith('inet6 fd10:0:2::2/')),
      r.join('\n'),
    );
    assert.ok(
      r.some((l) => /^default via 10\.0\.2\.1 dev eth0/u.test(l)),
      r.join('\n'),
    );
    assert.ok(
      r.some((l) => /^default via fe80::\S+ dev eth0 proto ra/u.test(l)),
      r.join('\n'),
    );
    await waitFor('cloud-init to finish', () => /Cloud-init v\. \S+ finished/u.test(logs('debian-web')), BOOT_MS, 2000);
    // No networkData in the spec: virtnet rendered it, DHCPv4 and DHCPv6 for the NIC's MAC.
    const mac = vmi('debian-web').status.interfaces[0].mac as string;
    assert.match(
      seedFile('debian-web', 'network-config'),
      new RegExp(`macaddress: "?${mac}"?[\\s\\S]*dhcp4: true[\\s\\S]*dhcp6: true`, 'u'),
    );
    const ips = vmi('debian-web').status.interfaces[0].ipAddresses as string[];
    for (const ip of ips) {
      const url = ip.includes(':') ? `http://[${ip}]/` : `http://${ip}/`;
      assert.match(node.netns.run(['curl', '-s', '-g', '--max-time', '5', url]), /virtnet debian-web/u, url);
    }
  },
);

test(
  'examples/vnf-debian.yaml: two VMs from one cached ' +
    "image; the distro's DHCP client takes the pod IP, MTU, " +
    'routes and DNS on the bridge binding; static networkData ' +
    'kept as written; a ping across the L2 network',
  async (t) => {
    t.after(() => node.run(['down', 'vnf-a', 'vnf-b']));
    const file = example('examples/vnf-debian.yaml', (d) =>
      withProbe(
        d,
        d.metadata.name === 'vnf-a'
          ? 'ip -6 route show default | grep -q . && ip -6 -o addr show dev eth0 scope global | grep -q fd00 && ip ' +
              '-o addr show dev eth1 | grep -q 192.168.77.10'
          : 'ip -o addr show dev eth1 | grep -q 192.168.77.11',
      ),
    );
    const out = up(file);
    assert.match(out, /vnf-a .*image containerdisk/u);
    const images = node.must(['images']);
    assert.match(images, /registry:5000\/virtnet\/debian-cloud:12 .*default\/vnf-a,default\/vnf-b/u);
    const [a, b] = await Promise.all([report('vnf-a'), report('vnf-b')]);
    const nic = (vmi('vnf-a').status.interfaces as Obj[]).find((i) => i.name === 'default')!;
    const v4 = (nic.ipAddresses as string[]).find((ip) => !ip.includes(':'))!;
    const v6 = (nic.ipAddresses as string[]).find((ip) => ip.includes(':'))!;
    const text = a.join('\n');
    assert.ok(a.includes('hostname vnf-a'), text);
    assert.ok(addresses(a, 'eth0').includes(`inet ${v4}/24 global`), text);
    assert.ok(
      addresses(a, 'eth0').some((x) => x.startsWith(`inet6 ${v6}/`)),
      text,
    );
    assert.equal(mtuOf(a, 'eth0'), 1400, text);
    assert.ok(
      a.some((l) => /^default via 10\.246\.0\.1 dev eth0/u.test(l)),
      text,
    );
    // Option 121: the NAD's extra route reaches the guest's table.
    assert.ok(
      a.some((l) => /^198\.18\.0\.0\/15 via 10\.246\.0\.1 dev eth0/u.test(l)),
      text,
    );
    assert.ok(
      a.some((l) => /^default via fe80::\S+ dev eth0 proto ra/u.test(l)),
      text,
    );
    assert.ok(
      a.some((l) => /Link \d+ \(eth0\): .*192\.0\.2\.53/u.test(l)),
      text,
    );
    assert.ok(
      a.some((l) => /Link \d+ \(eth0\): .*vnf\.example/u.test(l)),
      text,
    );
    assert.ok(addresses(a, 'eth1').includes('inet 192.168.77.10/24 global'), text);
    assert.deepEqual(
      addresses(a, 'eth2').filter((x) => x.startsWith('inet ')),
      [],
      text,
    );
    // The user's networkData reaches cloud-init byte for byte.
    const docs = parseAllDocuments(readFileSync('examples/vnf-debian.yaml', 'utf8')).map((d) => d.toJS() as Obj);
    const spec = docs.find((d) => d.metadata?.name === 'vnf-a')!;
    assert.equal(seedFile('vnf-a', 'network-config'), spec.spec.volumes[1].cloudInitNoCloud.networkData);
    assert.ok(addresses(b, 'eth1').includes('inet 192.168.77.11/24 global'), b.join('\n'));
    assert.match(logs('vnf-b'), /virtnet-example: vnf-b ping 192\.168\.77\.10: 3 received/u);
  },
);

test(
  'examples/debian-auto-network.yaml: the rendered networkData configures all three NICs, matched by MAC, from a ' +
    'NoCloud seed and from a ConfigDrive',
  async (t) => {
    t.after(() => node.run(['down', 'debian-auto', 'debian-auto-cd']));
    const ready =
      'ip -o addr show dev eth2 | grep -q 192.168.61. && ip -6 -o addr show dev eth0 scope global | grep -q fd00';
    const file = example('examples/debian-auto-network.yaml', (d) => withProbe(d, ready));
    // The same VM with its seed as a ConfigDrive (config-2, OpenStack's network_data.json).
    const cd = example('examples/debian-auto-network.yaml', (d) => {
      d.metadata.name = 'debian-auto-cd';
      d.spec.volumes[1] = { name: 'cloudinitdisk', cloudInitConfigDrive: d.spec.volumes[1].cloudInitNoCloud };
      return withProbe(d, ready);
    });
    up(file);
    up(cd);
    const seeds = { 'debian-auto': 'network-config', 'debian-auto-cd': 'openstack/latest/network_data.json' } as const;
    for (const [name, r] of await Promise.all(
      (Object.keys(seeds) as Array<keyof typeof seeds>).map(async (n) => [n, await report(n)] as const),
    )) {
      const text = `${name}:\n${r.join('\n')}`;
      const nics = vmi(name).status.interfaces as Obj[];
      const ipsOf = (nic: string) => nics.find((i) => i.name === nic)!.ipAddresses as string[];
      for (const ip of ipsOf('default'))
        assert.ok(
          addresses(r, 'eth0').some((x) => x.includes(` ${ip}/`)),
          `${ip}\n${text}`,
        );
      assert.deepEqual(
        addresses(r, 'eth1').filter((x) => !x.endsWith(' link')),
        [],
        text,
      );
      assert.match(r.find((l) => /^\d+: eth1: /u.test(l)) ?? '', /state UP/u, text);
      const lan = ipsOf('lan');
      assert.equal(lan.length, 2);
      for (const ip of lan)
        assert.ok(
          addresses(r, 'eth2').some((x) => x.startsWith(`inet ${ip}/24`)),
          `${ip}\n${text}`,
        );
      const config = seedFile(name, seeds[name]);
      for (const n of nics) assert.match(config, new RegExp(`${n.mac}`, 'u'), `${name}: ${seeds[name]} names ${n.mac}`);
      // User data holds passwords: the seed is the root's alone.
      assert.equal(statSync(join(node.launcherDir(name), 'cloud-init.iso')).mode & 0o777, 0o600);
    }
  },
);

test(
  "KubeVirt's vmi-fedora.yaml " +
    'and vmi-masquerade.yaml ' +
    'run unchanged once ' +
    'registries.conf maps registry:5000',
  async (t) => {
    t.after(() => node.run(['down', 'vmi-fedora', 'vmi-masquerade']));
    const out = up('test/fixtures/kubevirt/vmi-fedora.yaml');
    assert.match(out, /default\/vmi-fedora: Running/u);
    up('test/fixtures/kubevirt/vmi-masquerade.yaml');
    for (const name of ['vmi-fedora', 'vmi-masquerade']) {
      await waitFor(
        `${name}: cloud-init finished`,
        () => /Cloud-init v\. \S+ finished/u.test(logs(name)),
        BOOT_MS,
        2000,
      );
    }
  },
);
