/** The node runtime's pure parts: the sandbox's resolv.conf, boot choice, VM → VMI, and status merging. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sandboxResolvConf } from '../../../controller/node/sandbox.ts';
import { chooseBoot } from '../../../controller/node/boot.ts';
import { validateManifests } from '../../../controller/api/manifests.ts';
import { vmiFromVm } from '../../../controller/cli/up.ts';
import { vmiStatus } from '../../../controller/status/vmi.ts';
import type { VmiRecord } from '../../../controller/node/store.ts';
import type { VirtualMachine } from '../../../controller/api/schema.ts';
import type { LauncherStatus } from '../../../launcher/status.ts';

test('resolv.conf: host nameservers without loopback ones, dnsConfig added, dnsPolicy None uses only dnsConfig', () => {
  const host = 'nameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch corp.example\noptions edns0\n';
  assert.equal(
    sandboxResolvConf(host, undefined, { searches: ['lab.example'] }),
    'nameserver 192.0.2.53\nsearch corp.example lab.example\n',
  );
  assert.equal(sandboxResolvConf(host, 'None', { nameservers: ['198.51.100.1'] }), 'nameserver 198.51.100.1\n');
  assert.equal(sandboxResolvConf('', undefined, undefined), '\n');
});

test('boot: kernelBoot.host and hostDisk files are checked; cluster-only volumes are named; none means the test guest', () => {
  const dir = mkdtempSync(join(tmpdir(), 'virtnet-test-boot-'));
  try {
    const qcow = join(dir, 'disk.qcow2');
    writeFileSync(qcow, Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]));
    const raw = join(dir, 'disk.img');
    writeFileSync(raw, Buffer.alloc(16));
    const devices = { disks: [{ name: 'root' }] };
    const root = { name: 'root', device: 'disk', bus: 'virtio' };
    assert.deepEqual(
      chooseBoot({ domain: { devices }, volumes: [{ name: 'root', hostDisk: { path: qcow, type: 'Disk' } }] }, 'spec')
        .choice,
      {
        boot: { firmware: { firmware: 'bios' } },
        disks: [{ device: root, source: { hostFile: qcow, format: 'qcow2' } }],
      },
    );
    assert.deepEqual(
      chooseBoot({ domain: { devices }, volumes: [{ name: 'root', hostDisk: { path: raw, type: 'Disk' } }] }, 'spec')
        .choice?.disks,
      [{ device: root, source: { hostFile: raw, format: 'raw' } }],
    );
    const missing = chooseBoot(
      { domain: { devices }, volumes: [{ name: 'root', hostDisk: { path: join(dir, 'nope'), type: 'Disk' } }] },
      'spec.template.spec',
    );
    assert.deepEqual(
      missing.problems.map((p) => p.path),
      ['spec.template.spec.volumes[0].hostDisk.path'],
    );
    assert.match(missing.problems[0]!.rule, /does not exist/u);
    const kernel = chooseBoot(
      {
        domain: { devices: {}, firmware: { kernelBoot: { kernelArgs: 'console=ttyS0', host: { kernelPath: raw } } } },
      },
      'spec',
    );
    assert.deepEqual(kernel.choice, { boot: { kernel: { kernel: raw, cmdline: 'console=ttyS0' } }, disks: [] });
    const pvc = chooseBoot(
      { domain: { devices }, volumes: [{ name: 'root', persistentVolumeClaim: { claimName: 'data' } }] },
      'spec',
    );
    assert.deepEqual(
      pvc.problems.map((p) => p.path),
      ['spec.volumes[0].persistentVolumeClaim'],
    );
    assert.match(pvc.problems[0]!.rule, /cannot provide persistentVolumeClaim volume "root"/u);
    assert.deepEqual(chooseBoot({ domain: { devices: {} } }, 'spec').choice?.boot, {
      testGuest: { cmdline: 'console=ttyS0 quiet panic=-1' },
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('boot: containerDisk and cloud-init volumes, KubeVirt defaults for buses and volumes without a disk', () => {
  const spec = {
    hostname: 'web',
    domain: {
      devices: {
        disks: [
          { name: 'root', bootOrder: 2, disk: { bus: 'sata' } },
          { name: 'iso', cdrom: {} },
        ],
      },
    },
    volumes: [
      { name: 'root', containerDisk: { image: 'registry:5000/kubevirt/fedora-cloud-container-disk-demo:devel' } },
      {
        name: 'iso',
        containerDisk: { image: 'quay.io/x/iso:latest', imagePullPolicy: 'Never' as const, path: '/disk/a.iso' },
      },
      { name: 'seed', cloudInitNoCloud: { userData: '#cloud-config\n', networkDataBase64: 'dmVyc2lvbjogMgo=' } },
    ],
  };
  const c = chooseBoot(spec, 'spec', { vmiName: 'web.example' });
  assert.deepEqual(c.problems, []);
  assert.deepEqual(c.choice?.boot, { firmware: { firmware: 'bios' } });
  assert.deepEqual(c.choice?.disks, [
    {
      device: { name: 'root', device: 'disk', bus: 'sata', bootOrder: 2 },
      source: { image: 'registry:5000/kubevirt/fedora-cloud-container-disk-demo:devel', pullPolicy: 'IfNotPresent' },
    },
    {
      device: { name: 'iso', device: 'cdrom', bus: 'sata' },
      source: { image: 'quay.io/x/iso:latest', pullPolicy: 'Never', path: '/disk/a.iso' },
    },
  ]);
  assert.deepEqual(c.choice?.cloudInit, {
    kind: 'noCloud',
    disk: { name: 'seed', device: 'disk', bus: 'virtio' },
    hostname: 'web',
    userDataBase64: Buffer.from('#cloud-config\n').toString('base64'),
    networkDataBase64: 'dmVyc2lvbjogMgo=',
  });
  // Without spec.hostname, cloud-init gets the name DHCP hands out: the VMI name's first label.
  const named = chooseBoot({ domain: { devices: {} }, volumes: [{ name: 'ci', cloudInitNoCloud: {} }] }, 'spec', {
    vmiName: 'my.vm',
  });
  assert.equal(named.choice?.cloudInit?.hostname, 'my');
  // :latest (or no tag) defaults to Always, as Kubernetes does.
  const latest = chooseBoot(
    { domain: { devices: {} }, volumes: [{ name: 'r', containerDisk: { image: 'quay.io/x/y' } }] },
    'spec',
  );
  assert.equal((latest.choice?.disks[0]?.source as { pullPolicy: string } | undefined)?.pullPolicy, 'Always');
  // The cluster controller has no image cache.
  const cluster = chooseBoot(
    { domain: { devices: {} }, volumes: [{ name: 'r', containerDisk: { image: 'quay.io/x/y' } }] },
    'spec',
    { onNode: false },
  );
  assert.match(cluster.problems[0]!.rule, /cluster controller cannot provide them yet/u);
});

test('boot: refusals name the field: secretRef in standalone mode, a lun, efi with a kernel, a missing kernel', () => {
  const bad = chooseBoot(
    {
      domain: {
        devices: { disks: [{ name: 'c', lun: {} }] },
        firmware: { bootloader: { efi: {} }, kernelBoot: { host: { kernelPath: '/nonexistent/k' } } },
      },
      volumes: [
        { name: 'c', hostDisk: { path: '/nonexistent/c', type: 'Disk' } },
        { name: 'ci1', cloudInitNoCloud: { secretRef: { name: 's' } } as never },
      ],
    },
    'spec',
  );
  const byPath = Object.fromEntries(bad.problems.map((p) => [p.path, p.rule]));
  assert.match(byPath['spec.domain.devices.disks[0].lun']!, /not SCSI LUNs/u);
  assert.match(byPath['spec.volumes[1].cloudInitNoCloud.secretRef']!, /not available in standalone mode/u);
  assert.match(byPath['spec.domain.firmware.bootloader.efi']!, /without firmware/u);
  assert.match(byPath['spec.domain.firmware.kernelBoot.host.kernelPath']!, /does not exist/u);
  assert.equal(bad.choice, undefined);
});

test('boot: userDataBase64 wrapped at 76 columns, as base64(1) writes it, is valid and reaches the launcher unwrapped', () => {
  const text = '#cloud-config\n'.repeat(10);
  const wrapped = `${Buffer.from(text)
    .toString('base64')
    .replace(/(.{76})/gu, '$1\n')}\n`;
  const vmi = {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstance',
    metadata: { name: 'w' },
    spec: { domain: { devices: {} }, volumes: [{ name: 'ci', cloudInitNoCloud: { userDataBase64: wrapped } }] },
  };
  assert.deepEqual(validateManifests([{ source: 'w', object: vmi }]).problems, []);
  const b64 = chooseBoot(vmi.spec, 'spec').choice?.cloudInit?.userDataBase64;
  assert.equal(Buffer.from(b64!, 'base64').toString(), text);
  assert.doesNotMatch(b64!, /\n/u);
});

test('a VirtualMachine yields its VMI only when it should run', () => {
  type RunFields = Pick<VirtualMachine['spec'], 'running' | 'runStrategy'>;
  const vm = (s: RunFields): VirtualMachine => ({
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachine',
    metadata: { name: 'db', namespace: 'apps' },
    spec: { ...s, template: { metadata: { labels: { app: 'db' } }, spec: { domain: { devices: {} } } } },
  });
  const runs: RunFields[] = [
    { running: true },
    { runStrategy: 'Always' },
    { runStrategy: 'RerunOnFailure' },
    { runStrategy: 'Once' },
  ];
  for (const s of runs) {
    const vmi = vmiFromVm(vm(s))!;
    assert.equal(vmi.kind, 'VirtualMachineInstance');
    assert.equal(vmi.metadata.name, 'db');
    assert.equal(vmi.metadata.namespace, 'apps');
    assert.deepEqual(vmi.metadata.labels, { app: 'db' });
    assert.equal(vmi.metadata.ownerReferences[0]?.kind, 'VirtualMachine');
  }
  const stops: RunFields[] = [{ running: false }, { runStrategy: 'Halted' }, { runStrategy: 'Manual' }];
  for (const s of stops) assert.equal(vmiFromVm(vm(s)), undefined);
});

const record: VmiRecord = {
  object: {
    metadata: { name: 'vm', namespace: 'default', uid: 'u' },
    spec: {
      domain: {
        devices: {
          interfaces: [
            { name: 'blue', bridge: {} },
            { name: 'default', masquerade: {}, ports: [{ port: 80 }] },
            { name: 'gone', bridge: {}, state: 'absent' },
          ],
        },
      },
      networks: [
        { name: 'blue', multus: { networkName: 'blue-net' } },
        { name: 'default', pod: {} },
        { name: 'gone', multus: { networkName: 'x' } },
      ],
    },
  },
  specHash: 'h',
  state: 'Created',
  creator: { pid: 1, start: '' },
  netns: 'vn-0123456789',
  containerID: 'c',
  attachments: [],
  launcherPid: 42,
  steps: [{ name: 'sandbox', ms: 3 }],
  networkStatus: [
    { name: 'virtnet', interface: 'eth0', ips: ['10.244.0.7', 'fd00::7'], default: true, dns: {} },
    { name: 'default/blue-net', interface: 'pod16477688c0e', ips: ['192.168.10.4'], dns: {} },
  ],
};

const launcher: LauncherStatus = {
  phase: 'Running',
  pid: 43,
  accel: 'tcg',
  warnings: [],
  steps: [{ name: 'network', ms: 20 }],
  nics: [
    {
      name: 'blue',
      binding: 'bridge',
      podInterface: 'pod16477688c0e',
      bridge: 'k6t-16477688c0e',
      tap: 'tap16477688c0e',
      mac: '02:00:00:00:00:02',
      mtu: 1500,
      ips: ['192.168.10.4/24'],
      dhcp: true,
      leased4: true,
      leased6: false,
    },
    {
      name: 'default',
      binding: 'masquerade',
      podInterface: 'eth0',
      bridge: 'k6t-eth0',
      tap: 'tap0',
      mac: '02:00:00:00:00:01',
      mtu: 1500,
      ips: ['10.0.2.2/24', 'fd10:0:2::2/120'],
      dhcp: true,
      leased4: true,
      leased6: false,
    },
  ],
};

test('status: KubeVirt-shaped interfaces, primary first, pod IPs, lease state per family; wiring for describe', () => {
  const st = vmiStatus(record, launcher, true);
  assert.equal(st.phase, 'Running');
  assert.deepEqual(
    st.interfaces.map((i) => [i.name, i.podInterfaceName, i.ipAddress, i.mac, i.leased]),
    [
      ['default', 'eth0', '10.244.0.7', '02:00:00:00:00:01', false],
      ['blue', 'pod16477688c0e', '192.168.10.4', '02:00:00:00:00:02', true],
    ],
  );
  assert.deepEqual(st.interfaces[0]!.ipAddresses, ['10.244.0.7', 'fd00::7']);
  const masq = st.virtnet!.nics.find((n) => n.name === 'default')!;
  assert.deepEqual([masq.network, masq.ports, masq.model], ['pod', ['80/TCP'], 'virtio']);
  assert.equal(st.virtnet!.nics.find((n) => n.name === 'blue')!.network, 'default/blue-net');
  assert.deepEqual(
    st.virtnet!.steps.map((s) => s.name),
    ['sandbox', 'launcher network'],
  );
});

test('status: phases from where up got to and whether the launcher lives', () => {
  assert.equal(vmiStatus({ ...record, state: 'Creating' }, undefined, false).phase, 'Scheduling');
  assert.equal(vmiStatus(record, { ...launcher, phase: 'Starting' }, true).phase, 'Scheduled');
  const dead = vmiStatus(record, launcher, false);
  assert.equal(dead.phase, 'Failed');
  assert.match(dead.reason!, /virtnet gc/u);
  assert.equal(vmiStatus(record, { ...launcher, phase: 'Failed', error: 'boot: no kvm' }, true).reason, 'boot: no kvm');
});
