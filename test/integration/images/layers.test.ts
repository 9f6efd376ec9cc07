/**
 * The disk found in real tar layers (GNU tar lists them): the limits on
 * entries, with the time they take, and the members a pull must refuse
 * with a clear error rather than leave to tar: a disk stored as a hard
 * link, two members of one name, an mtime tar shows as a bare number.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { extractMember, findDisk, MAX_LAYER_ENTRIES } from '../../../controller/node/images/layers.ts';
import { silentProgress } from '../../../lib/progress.ts';
import { tarOf, type TarMember } from '../../support/disks.ts';

let work: string;
before(() => {
  work = mkdtempSync(join(tmpdir(), 'virtnet-test-image-layers-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

function* smallFiles(n: number): Generator<TarMember> {
  for (let i = 0; i < n; i++) yield { name: `f/${i}`, data: '' };
  yield { name: 'disk/a.raw', data: 'disk bytes' };
}

test('a layer of 150 000 entries is refused quickly, naming the limit', async () => {
  const layer = tarOf(work, 'many.tar', smallFiles(150_000));
  const t = performance.now();
  await assert.rejects(findDisk('evil.example/many:1', [layer], undefined), {
    name: 'DiskError',
    message: `image evil.example/many:1: layer 1 has more than ${MAX_LAYER_ENTRIES} entries, the limit per layer`,
  });
  const ms = performance.now() - t;
  assert.ok(ms < 5000, `refused in ${Math.round(ms)} ms`);
});

test('two layers of 60 000 entries each pass the per-layer limit; together with a third they reach the per-image one', async () => {
  const layers = [0, 1, 2, 3].map((i) => tarOf(work, `part${i}.tar`, smallFiles(60_000)));
  assert.equal((await findDisk('img', layers.slice(0, 2), undefined)).path, '/disk/a.raw');
  await assert.rejects(findDisk('evil.example/parts:1', layers, undefined), {
    name: 'DiskError',
    message: 'image evil.example/parts:1: the layers up to layer 4 have more than 200000 entries, the limit per image',
  });
});

test('20 000 entries, each replacing a directory of the layer below, take well under a second', async () => {
  // Every file of the upper layer replaces a directory of the lower one: the work that was quadratic.
  const lower = tarOf(
    work,
    'lower.tar',
    (function* () {
      for (let i = 0; i < 10_000; i++) yield { name: `d${i}/x`, data: '' };
      yield { name: 'disk/a.raw', data: 'disk bytes' };
    })(),
  );
  const upper = tarOf(
    work,
    'upper.tar',
    (function* () {
      for (let i = 0; i < 10_000; i++) yield { name: `d${i}`, data: '' };
    })(),
  );
  const t = performance.now();
  const member = await findDisk('img', [lower, upper], undefined);
  const ms = performance.now() - t;
  assert.equal(member.path, '/disk/a.raw');
  assert.ok(ms < 1000, `took ${Math.round(ms)} ms`);
});

test('an mtime tar prints as a bare number does not hide the disk', async () => {
  // 2^62 s in GNU's base-256 form: GNU tar -tv prints it as "4611686018427387904", one token where a date has two.
  const mtime = Buffer.alloc(12);
  mtime[0] = 0x80;
  mtime.writeBigUInt64BE(1n << 62n, 4);
  const layer = tarOf(work, 'mtime.tar', [{ name: 'disk/d.raw', data: 'far future', mtime }]);
  assert.match(
    execFileSync('tar', ['-tvf', layer], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } }),
    / 4611686018427387904 disk\/d\.raw\n$/u,
  );
  const member = await findDisk('img', [layer], undefined);
  assert.equal(member.path, '/disk/d.raw');
  const into = mkdtempSync(join(work, 'into-'));
  const file = await extractMember(
    'img',
    layer,
    member,
    into,
    { root: work, maxDiskBytes: 1 << 20, reserveBytes: 0 },
    silentProgress,
  );
  assert.equal(readFileSync(file, 'utf8'), 'far future');
});

test('a disk stored as a hard link, and a disk with a namesake in its layer, are refused naming the image', async () => {
  const linked = tarOf(work, 'hard.tar', [
    { name: 'data/a.raw', data: 'x' },
    { name: 'disk/a.raw', hardlinkTo: 'data/a.raw' },
  ]);
  await assert.rejects(findDisk('evil.example/hard:1', [linked], undefined), {
    name: 'DiskError',
    message: 'image evil.example/hard:1: no disk: no regular file under /disk (/disk/a.raw is a hard link)',
  });
  await assert.rejects(findDisk('evil.example/hard:1', [linked], '/disk/a.raw'), {
    name: 'DiskError',
    message: 'image evil.example/hard:1: containerDisk.path /disk/a.raw is a hard link, not a regular file',
  });
  const outside = '../../../../../../tmp/virtnet-outside-victim';
  for (const [name, first] of [
    ['duphard.tar', { name: 'disk/v', hardlinkTo: outside }],
    ['dupsym.tar', { name: 'disk/v', symlinkTo: outside }],
  ] as const) {
    const layer = tarOf(work, name, [first, { name: 'disk/v', data: 'disk' }]);
    const kind = 'hardlinkTo' in first ? 'a hard link' : 'a symbolic link';
    await assert.rejects(findDisk('evil.example/dup:1', [layer], undefined), {
      name: 'DiskError',
      message:
        `image evil.example/dup:1: layer 1 has 2 members named /disk/v (${kind}, a regular file); a disk must be ` +
        `the only one of its name`,
    });
  }
  const twice = tarOf(work, 'twice.tar', [
    { name: 'disk/v', data: 'one' },
    { name: './disk/v', data: 'two' },
  ]);
  await assert.rejects(findDisk('evil.example/twice:1', [twice], undefined), {
    name: 'DiskError',
    message: /layer 1 has 2 members named \/disk\/v \(a regular file, a regular file\)/u,
  });
});

test("a layer tar cannot read is a DiskError naming the image and the layer, not tar's own error", async () => {
  const good = tarOf(work, 'ok.tar', [{ name: 'disk/a.raw', data: 'x' }]);
  const junk = join(work, 'junk.tar');
  writeFileSync(junk, Buffer.alloc(2048, 0x41));
  await assert.rejects(findDisk('evil.example/junk:1', [good, junk], undefined), {
    name: 'DiskError',
    message:
      /^image evil\.example\/junk:1: layer 2 does not read as a tar archive: tar: This does not look like a tar archive/u,
  });
});
