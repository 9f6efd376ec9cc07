/**
 * The launcher is the last place before QEMU opens a boot file (issue 11,
 * defect 3): it refuses a spec whose files lie outside --allowed-host-path,
 * or a spec of the wrong shape, before it makes anything.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseLauncherSpec } from '../../../launcher/spec.ts';

const dir = mkdtempSync(join(tmpdir(), 'virtnet-test-launcher-paths-'));
after(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'images'));
writeFileSync(join(dir, 'outside.raw'), 'x');

function run(spec: unknown, allowed: string[]): { status: number | null; stderr: string } {
  const state = mkdtempSync(join(dir, 'state-'));
  writeFileSync(join(state, 'spec.json'), JSON.stringify(spec));
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      resolve(import.meta.dirname, '..', '..', '..', 'launcher/main.ts'),
      'run',
      '--spec',
      join(state, 'spec.json'),
      '--state-dir',
      state,
      '--network-only',
      ...allowed.flatMap((d) => ['--allowed-host-path', d]),
    ],
    { encoding: 'utf8', timeout: 30_000 },
  );
  assert.deepEqual(readdirSync(state), ['spec.json'], 'nothing was made');
  return { status: r.status, stderr: r.stderr };
}

const good = { name: 'vm', namespace: 'default', memoryMiB: 64, cpus: 1, interfaces: [], networks: [] };

test('a disk outside the allowed directories is refused before anything is made', () => {
  const r = run(
    {
      ...good,
      boot: { firmware: 'bios' },
      disks: [{ name: 'root', file: join(dir, 'outside.raw'), format: 'raw', device: 'disk', bus: 'virtio' }],
    },
    [join(dir, 'images')],
  );
  assert.equal(r.status, 1);
  assert.match(r.stderr, /spec disks\[0\]\.file: .*outside\.raw\\?" is outside the directories this node allows/u);
});

test('a launcher given no allowed directory refuses to run', () => {
  const r = run({ ...good, boot: { kernel: join(dir, 'images', 'k') } }, []);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--allowed-host-path: at least one directory is required/u);
});

for (const [what, spec, rule] of [
  ['not an object', [], /spec : must be a JSON object/u],
  ['no name', { ...good, name: '', boot: { kernel: '/k' } }, /spec name: must be a non-empty string/u],
  ['cpus a string', { ...good, cpus: '2', boot: { kernel: '/k' } }, /spec cpus: must be a positive integer/u],
  ['interfaces not a list', { ...good, interfaces: 5, boot: { kernel: '/k' } }, /spec interfaces: must be a list/u],
  [
    'an interface with no name',
    { ...good, interfaces: [{}], boot: { kernel: '/k' } },
    /spec interfaces\[0\]: must be an object with a string name/u,
  ],
  ['a kernel that is not a string', { ...good, boot: { kernel: 7 } }, /spec boot\.kernel: must be a string/u],
  [
    'a disk of an unknown format',
    {
      ...good,
      boot: { firmware: 'bios' },
      disks: [{ name: 'r', file: '/d', format: 'vmdk', device: 'disk', bus: 'virtio' }],
    },
    /spec disks\[0\]\.format: "vmdk" must be qcow2 or raw/u,
  ],
  [
    'an unknown firmware',
    { ...good, boot: { firmware: 'coreboot' } },
    /spec boot\.firmware: "coreboot" must be bios or efi/u,
  ],
  [
    'a disk on an unknown bus',
    {
      ...good,
      boot: { firmware: 'bios' },
      disks: [{ name: 'r', file: '/d', format: 'raw', device: 'disk', bus: 'ide' }],
    },
    /spec disks\[0\]\.bus: "ide" must be one of virtio, sata, scsi, usb/u,
  ],
  [
    'a floppy',
    {
      ...good,
      boot: { firmware: 'bios' },
      disks: [{ name: 'r', file: '/d', format: 'raw', device: 'floppy', bus: 'virtio' }],
    },
    /spec disks\[0\]\.device: "floppy" must be disk or cdrom/u,
  ],
  [
    'a boot order of 0',
    {
      ...good,
      boot: { firmware: 'bios' },
      disks: [{ name: 'r', file: '/d', format: 'raw', device: 'disk', bus: 'virtio', bootOrder: 0 }],
    },
    /spec disks\[0\]\.bootOrder: 0 must be an integer from 1 to 65535/u,
  ],
  [
    'a cloud-init of an unknown kind',
    {
      ...good,
      boot: { kernel: '/k' },
      cloudInit: {
        kind: 'nocloud',
        disk: { name: 'ci', device: 'disk', bus: 'virtio' },
        instanceId: 'u',
        hostname: 'h',
      },
    },
    /spec cloudInit\.kind: "nocloud" must be noCloud or configDrive/u,
  ],
  [
    'user data that is not base64',
    {
      ...good,
      boot: { kernel: '/k' },
      cloudInit: {
        kind: 'noCloud',
        disk: { name: 'ci', device: 'disk', bus: 'virtio' },
        instanceId: 'u',
        hostname: 'h',
        userDataBase64: '#cloud-config\n',
      },
    },
    /spec cloudInit\.userDataBase64: must be base64/u,
  ],
  [
    'cpus past what QEMU starts',
    { ...good, cpus: 1e21, boot: { kernel: '/k' } },
    /spec cpus: must be at most 512, the most vCPUs a VM gets \(is 1e\+21\)/u,
  ],
  [
    'cpus one past the bound',
    { ...good, cpus: 513, boot: { kernel: '/k' } },
    /spec cpus: must be at most 512, .*\(is 513\)/u,
  ],
  [
    'memory past 16 TiB',
    { ...good, memoryMiB: 16 * 2 ** 20 + 1, boot: { kernel: '/k' } },
    /spec memoryMiB: must be at most 16777216, 16 TiB \(is 16777217\)/u,
  ],
  [
    'memory not a safe integer',
    { ...good, memoryMiB: 2 ** 60, boot: { kernel: '/k' } },
    /spec memoryMiB: must be at most 16777216/u,
  ],
  [
    '257 interfaces',
    { ...good, interfaces: Array.from({ length: 257 }, (_, i) => ({ name: `n${i}` })), boot: { kernel: '/k' } },
    /spec interfaces: must have at most 256 items \(has 257\)/u,
  ],
  [
    '3000 networks',
    { ...good, networks: Array.from({ length: 3000 }, (_, i) => ({ name: `n${i}`, pod: {} })), boot: { kernel: '/k' } },
    /spec networks: must have at most 256 items \(has 3000\)/u,
  ],
] as const) {
  test(`a spec with ${what} is refused by name`, () => assert.throws(() => parseLauncherSpec(spec), rule));
}

test('a spec at the bounds is accepted: 512 vCPUs, 16 TiB, 256 interfaces and networks', () => {
  const names = Array.from({ length: 256 }, (_, i) => `n${i}`);
  const spec = parseLauncherSpec({
    ...good,
    cpus: 512,
    memoryMiB: 16 * 2 ** 20,
    interfaces: names.map((name) => ({ name, bridge: {} })),
    networks: names.map((name) => ({ name, multus: { networkName: name } })),
    boot: { kernel: '/k' },
  });
  assert.equal(spec.cpus, 512);
  assert.equal(spec.memoryMiB, 16 * 2 ** 20);
  assert.equal(spec.interfaces.length, 256);
});
