/**
 * The ISO driver with the real xorriso (issue 12, cloud-init volumes): the
 * image is 0600, carries the volume label cloud-init looks for, and gives
 * back every file byte for byte; a failure leaves neither a staging
 * directory nor a partial image.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildIsoImage, type IsoFile } from '../../../lib/iso.ts';
import { exec, ExecError } from '../../../lib/exec.ts';
import { planSeed } from '../../../launcher/cloudinit/seed.ts';

/**
 * ECMA-119 §8.4: the Primary Volume Descriptor is sector 16 (2048-byte sectors); its volume id is bytes 40..71,
 * space-padded.
 */
const PVD_OFFSET = 16 * 2048;
const VOLUME_ID_START = PVD_OFFSET + 40;
const VOLUME_ID_LENGTH = 32;

function volumeId(iso: string): string {
  const buf = Buffer.alloc(VOLUME_ID_LENGTH);
  const fd = openSync(iso, 'r');
  try {
    readSync(fd, buf, 0, VOLUME_ID_LENGTH, VOLUME_ID_START);
  } finally {
    closeSync(fd);
  }
  return buf.toString('latin1').trimEnd();
}

/** Every file under `dir`, by its path relative to `dir`. */
function filesUnder(dir: string, prefix = ''): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) for (const [p, c] of filesUnder(dir, rel)) out.set(p, c);
    else out.set(rel, readFileSync(join(dir, rel)));
  }
  return out;
}

async function extract(iso: string, into: string): Promise<Map<string, Buffer>> {
  await exec(['xorriso', '-osirrox', 'on', '-indev', iso, '-extract', '/', into]);
  // xorriso restores Rock Ridge modes, so the extracted tree is 0600/0700 too: open it to read it.
  chmodSync(into, 0o700);
  return filesUnder(into);
}

function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'virtnet-iso-test-'));
}

const nics = [
  { name: 'default', mac: '52:54:00:12:34:56', mtu: 1500, dhcp4: true, dhcp6: true, staticAddresses: [] },
  {
    name: 'storage',
    mac: '02:00:00:00:00:03',
    mtu: 9000,
    dhcp4: false,
    dhcp6: false,
    staticAddresses: ['10.1.2.3/24'],
  },
];
const binaryUserData = gzipSync(Buffer.from('#cloud-config\npassword: s3cret\n'));

for (const kind of ['noCloud', 'configDrive'] as const) {
  test(`a ${kind} seed: mode 0600, its label, and every file back byte for byte`, async () => {
    const dir = scratch();
    try {
      const plan = planSeed({
        kind,
        instanceId: '6a1c8a2e-3b0f-4f55-9a9e-0d6f2b7c1e42',
        hostname: 'debian',
        userData: binaryUserData,
        nics,
      });
      const iso = join(dir, 'seed.iso');
      const before = process.umask(0o022); // an ordinary umask: the driver, not the umask, makes the image private
      try {
        await buildIsoImage(plan, iso);
      } finally {
        process.umask(before);
      }
      assert.equal(statSync(iso).mode & 0o7777, 0o600);
      assert.equal(volumeId(iso), plan.label);
      const { stdout } = await exec(['xorriso', '-indev', iso, '-pvd_info']);
      assert.match(stdout, new RegExp(`^Volume Id\\s*: ${plan.label}$`, 'mu'));
      const back = await extract(iso, join(dir, 'out'));
      assert.deepEqual([...back.keys()].sort(), plan.files.map((f) => f.path).sort());
      for (const file of plan.files)
        assert.ok(back.get(file.path)?.equals(file.content), `${file.path} is byte-identical`);
      assert.deepEqual(readdirSync(dir).sort(), ['out', 'seed.iso'], 'no staging directory is left');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('an existing image is replaced whole', async () => {
  const dir = scratch();
  try {
    const iso = join(dir, 'seed.iso');
    writeFileSync(iso, 'old', { mode: 0o644 });
    const files: IsoFile[] = [
      { path: 'user-data', content: Buffer.from('new\n') },
      { path: 'meta-data', content: Buffer.alloc(0) },
    ];
    await buildIsoImage({ label: 'cidata', files }, iso);
    assert.equal(statSync(iso).mode & 0o7777, 0o600);
    const back = await extract(iso, join(dir, 'out'));
    assert.equal(back.get('user-data')?.toString(), 'new\n');
    assert.equal(back.get('meta-data')?.length, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing output directory fails before anything is made', async () => {
  const dir = scratch();
  try {
    await assert.rejects(
      buildIsoImage({ label: 'cidata', files: [] }, join(dir, 'absent', 'seed.iso')),
      /its directory ".*\/absent" does not exist/,
    );
    assert.deepEqual(readdirSync(dir), [], 'no directory was created');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(
  'a failure after xorriso (the output is a directory) removes the staging directory and leaves the output as it ' +
    'was',
  async () => {
    const dir = scratch();
    try {
      const out = join(dir, 'seed.iso');
      mkdirSync(out);
      await assert.rejects(
        buildIsoImage({ label: 'cidata', files: [{ path: 'user-data', content: Buffer.from('x') }] }, out),
        /EISDIR|directory/i,
      );
      assert.deepEqual(readdirSync(dir), ['seed.iso']);
      assert.equal(statSync(out).isDirectory(), true);
      assert.deepEqual(readdirSync(out), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('a failing xorriso gives an error with its argv, exit code and stderr, and leaves nothing behind', async () => {
  const dir = scratch();
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'xorriso'), '#!/bin/sh\necho "xorriso : FAILURE : simulated" >&2\nexit 5\n', { mode: 0o755 });
  const out = join(dir, 'seed.iso');
  const path = process.env.PATH;
  process.env.PATH = `${bin}:${path ?? ''}`;
  try {
    await assert.rejects(
      buildIsoImage(
        { label: 'config-2', files: [{ path: 'openstack/latest/meta_data.json', content: Buffer.from('{}') }] },
        out,
      ),
      (err: unknown) => {
        assert.ok(err instanceof ExecError, String(err));
        assert.deepEqual(err.argv.slice(0, 8), ['xorriso', '-as', 'mkisofs', '-V', 'config-2', '-J', '-R', '-o']);
        assert.equal(err.exitCode, 5);
        assert.match(err.stderr, /FAILURE : simulated/);
        assert.match(err.message, /exit code 5: xorriso : FAILURE : simulated/);
        return true;
      },
    );
    assert.deepEqual(readdirSync(dir), ['bin'], 'no staging directory, no output');
  } finally {
    process.env.PATH = path;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad labels and paths are refused before anything is written', async () => {
  const dir = scratch();
  try {
    const out = join(dir, 'seed.iso');
    const file = (path: string): IsoFile => ({ path, content: Buffer.from('x') });
    const cases: Array<[{ label: string; files: IsoFile[] }, RegExp]> = [
      [{ label: '', files: [] }, /^label: "" must be an ISO9660 volume id: 1 to 32 of/],
      [{ label: 'a'.repeat(33), files: [] }, /^label: "a{33}" must be an ISO9660 volume id/],
      [{ label: 'ci data', files: [] }, /^label: "ci data" must be an ISO9660 volume id/],
      [{ label: 'cidata', files: [file('/etc/passwd')] }, /^files\[0\]\.path: "\/etc\/passwd" must be relative/],
      [
        { label: 'cidata', files: [file('a/../../b')] },
        /^files\[0\]\.path: "a\/\.\.\/\.\.\/b" must not have a "\." or "\.\." part/,
      ],
      [{ label: 'cidata', files: [file('./a')] }, /must not have a "\." or "\.\." part/],
      [{ label: 'cidata', files: [file('a//b')] }, /^files\[0\]\.path: "a\/\/b" has an empty part/],
      [{ label: 'cidata', files: [file('a/')] }, /has an empty part/],
      [{ label: 'cidata', files: [file('')] }, /^files\[0\]\.path: "" must be a non-empty relative path/],
      [{ label: 'cidata', files: [file('user data')] }, /^files\[0\]\.path: "user data": each part must be 1 to 64 of/],
      [{ label: 'cidata', files: [file('a'), file('a')] }, /^files\[1\]\.path: "a" is also files\[0\]'s path/],
      [
        { label: 'cidata', files: [file('openstack'), file('openstack/latest/x')] },
        /^files\[0\]\.path: "openstack" is a file, but files\[1\]/,
      ],
    ];
    for (const [plan, pattern] of cases) {
      await assert.rejects(buildIsoImage(plan, out), (err: unknown) => {
        assert.ok(err instanceof TypeError, String(err));
        assert.match(err.message, pattern);
        return true;
      });
    }
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
