/**
 * What a pull may take of the node: disks capped at maxDiskBytes (a few
 * KiB of xz or gzip expanding past it is stopped), the free space checked
 * with a reserve, disks written sparsely, and the long fsync of a disk
 * done before the cache lock is taken. Real registry, real skopeo.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { mkdtempSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageCache, type ImageCacheOptions } from '../../../controller/node/images/cache.ts';
import { allocated, cacheState, compressed, contentHash, filledDisk, rawDisk, sha256 } from '../../support/disks.ts';
import { registriesConf, startRegistry, type TestRegistry } from '../../../harness/registry.ts';

const MiB = 1024 * 1024;
let reg: TestRegistry;
let work: string;
let conf: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'virtnet-test-image-limits-'));
  reg = await startRegistry();
  conf = registriesConf(
    work,
    ['[[registry]]', 'prefix = "registry:5000"', `location = "${reg.address}"`, 'insecure = true', ''].join('\n'),
  );
});

after(() => {
  reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

let n = 0;
function cacheWith(options: Partial<ImageCacheOptions> = {}): ImageCache {
  return new ImageCache({ root: join(work, `cache-${n++}`), skopeo: { registriesConf: conf }, ...options });
}

/** ensure() must fail with `expected` and leave the cache with nothing in it. */
async function failsCleanly(
  cache: ImageCache,
  image: string,
  expected: { name: string; message: RegExp | string },
): Promise<void> {
  await assert.rejects(cache.ensure({ image }), expected);
  assert.deepEqual(cacheState(cache.store.root), { entries: [], tmp: [], pins: [] }, `nothing left behind by ${image}`);
}

test('an xz or gzip disk that decompresses past maxDiskBytes is stopped there, naming the cap, and leaves nothing', async () => {
  const ones = filledDisk(work, 'ones.raw', 24 * MiB, 0xff);
  for (const tool of ['xz', 'gzip'] as const) {
    const bomb = compressed(work, `bomb.${tool}`, ones, tool);
    assert.ok(statSync(bomb).size < MiB, 'the compressed disk is small');
    reg.push(bomb, `kubevirt/bomb-${tool}:1`);
    await failsCleanly(cacheWith({ maxDiskBytes: 8 * MiB }), `registry:5000/kubevirt/bomb-${tool}:1`, {
      name: 'DiskTooLargeError',
      message:
        `image registry:5000/kubevirt/bomb-${tool}:1: the ${tool === 'xz' ? 'xz' : 'gzip'}-compressed disk ` +
        `decompresses to more than ${8 * MiB} bytes, the image cache's maximum disk size (maxDiskBytes)`,
    });
  }
  // Under the cap the same image is fine.
  const got = await cacheWith({ maxDiskBytes: 32 * MiB }).ensure({ image: 'registry:5000/kubevirt/bomb-xz:1' });
  got.release();
  assert.equal(got.image.size, 24 * MiB);
});

test('a plain disk bigger than maxDiskBytes is refused before it is extracted', async () => {
  reg.push(rawDisk(work, 'big.raw', 6, 'big'), 'kubevirt/big:1');
  await failsCleanly(cacheWith({ maxDiskBytes: 4 * MiB }), 'registry:5000/kubevirt/big:1', {
    name: 'DiskTooLargeError',
    message:
      `image registry:5000/kubevirt/big:1: the disk /disk/big.raw is ${6 * MiB} bytes, more than ${4 * MiB} bytes, ` +
      `the image cache's maximum disk size (maxDiskBytes)`,
  });
});

test('a pull that would leave less than the reserve free is refused before the download, and leaves nothing', async () => {
  reg.push(rawDisk(work, 'small.raw', 1, 'small'), 'kubevirt/small:1');
  const free = fs.statfsSync(work).bavail * fs.statfsSync(work).bsize;
  const cache = cacheWith({ reserveBytes: free + 1024 ** 3 });
  await failsCleanly(cache, 'registry:5000/kubevirt/small:1', {
    name: 'NoSpaceError',
    message: new RegExp(
      `^image registry:5000/kubevirt/small:1: no space left in the image cache \\(${cache.store.root}\\): ` +
        `downloading registry:5000/kubevirt/small:1 needs \\d+ bytes and ${free + 1024 ** 3} must stay free, but ` +
        `only \\d+ are free$`,
      'u',
    ),
  });
});

test('mostly-zero raw disks, plain and gzip-compressed, are cached sparse with the same bytes', async () => {
  const sparse = filledDisk(work, 'sparse.raw', 64 * MiB, 0);
  const fd = fs.openSync(sparse, 'r+');
  fs.writeSync(fd, Buffer.from('boot sector'), 0, 11, 0);
  fs.writeSync(fd, Buffer.alloc(5000, 7), 0, 5000, 40 * MiB + 100); // unaligned, across a block boundary
  fs.closeSync(fd);
  for (const [name, file] of [
    ['sparse-raw', sparse],
    ['sparse-gz', compressed(work, 'sparse.raw.gz', sparse, 'gzip')],
  ] as const) {
    reg.push(file, `kubevirt/${name}:1`);
    const got = await cacheWith().ensure({ image: `registry:5000/kubevirt/${name}:1` });
    got.release();
    assert.equal(got.image.format, 'raw');
    assert.equal(statSync(got.image.file).size, 64 * MiB, name);
    assert.equal(sha256(got.image.file), sha256(sparse), `${name}: the same bytes`);
    assert.ok(allocated(got.image.file) < MiB, `${name}: ${allocated(got.image.file)} bytes allocated for 64 MiB`);
  }
});

test("the disk is fsync'd before the cache lock is taken (no pull or gc waits for it)", async () => {
  reg.push(rawDisk(work, 'synced.raw', 2, 'synced'), 'kubevirt/synced:1');
  const cache = cacheWith();
  const lock = join(cache.store.root, 'locks', 'cache.lock');
  const synced: Array<{ file: string; locked: boolean }> = [];
  const real = fs.fsyncSync;
  fs.fsyncSync = (fd: number) => {
    synced.push({ file: readlinkSync(`/proc/self/fd/${fd}`), locked: fs.existsSync(lock) });
    real(fd);
  };
  syncBuiltinESMExports();
  let got: Awaited<ReturnType<ImageCache['ensure']>>;
  try {
    got = await cache.ensure({ image: 'registry:5000/kubevirt/synced:1' });
  } finally {
    fs.fsyncSync = real;
    syncBuiltinESMExports();
  }
  got.release();
  const disks = synced.filter((s) => /\/disk\.raw$/u.test(s.file));
  assert.equal(disks.length, 1, JSON.stringify(synced));
  assert.equal(disks[0]!.locked, false, "the disk was fsync'd with the lock free");
  assert.equal(contentHash(got.image.file, 'raw', work), contentHash(join(work, 'synced.raw'), 'raw', work));
});
