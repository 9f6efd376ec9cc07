/**
 * containerDisk pulls against a real registry (docker-registry on
 * 127.0.0.1) with Debian's skopeo: registries.conf mirrors and location
 * rewrites, the pull policies, the disk formats, `path`. Only 127.0.0.1, no
 * namespaces; a few MiB per image.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageCache } from '../../../controller/node/images/cache.ts';
import { execStats } from '../../../lib/exec.ts';
import { createProgress, type ProgressStream } from '../../../lib/progress.ts';
import { cacheState, compressed, contentHash, qcow2Disk, rawDisk, sha256 } from '../../support/disks.ts';
import { registriesConf, startRegistry, type TestRegistry } from '../../../harness/registry.ts';

let reg: TestRegistry;
let work: string;
let conf: string;
let raw: string;
let qcow2: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'virtnet-test-images-'));
  reg = await startRegistry();
  raw = rawDisk(work, 'debian.raw', 3, 'one');
  qcow2 = qcow2Disk(work, 'debian.qcow2', raw);
  reg.push(qcow2, 'kubevirt/debian:12');
  // KubeVirt's examples name registry:5000; a location rewrite serves it from the local registry.
  // mirror.invalid never resolves (RFC 2606): the pull can only come through its mirror.
  conf = registriesConf(
    work,
    [
      '[[registry]]',
      'prefix = "registry:5000"',
      `location = "${reg.address}"`,
      'insecure = true',
      '',
      '[[registry]]',
      'location = "mirror.invalid"',
      '[[registry.mirror]]',
      `location = "${reg.address}"`,
      'insecure = true',
      '',
      '[[registry]]',
      `location = "${reg.address}"`,
      'insecure = true',
      '',
    ].join('\n'),
  );
});

after(() => {
  reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

let n = 0;
function freshCache(): ImageCache {
  return new ImageCache({ root: join(work, `cache-${n++}`), skopeo: { registriesConf: conf } });
}

test(
  'a location rewrite of registry:5000 ' +
    '(insecure = true) pulls the ' +
    "qcow2; the cache entry is root's " +
    'alone, read-only and byte-identical',
  async () => {
    const cache = freshCache();
    const got = await cache.ensure({ image: 'registry:5000/kubevirt/debian:12' });
    got.release();
    assert.equal(got.pulled, true);
    assert.equal(got.image.format, 'qcow2');
    assert.equal(got.image.diskPath, '/disk/debian.qcow2');
    assert.equal(sha256(got.image.file), sha256(qcow2), 'the disk is the pushed file, byte for byte');
    assert.equal(statSync(got.image.file).mode & 0o7777, 0o400);
    assert.equal(statSync(join(cache.store.root, got.image.entry, 'meta.json')).mode & 0o7777, 0o400);
    assert.equal(statSync(join(cache.store.root, got.image.entry)).mode & 0o7777, 0o700);
    assert.equal(statSync(cache.store.root).mode & 0o7777, 0o700, "no other user reaches a private registry's image");
    const meta = JSON.parse(readFileSync(join(cache.store.root, got.image.entry, 'meta.json'), 'utf8')) as {
      references: string[];
      digest: string;
      size: number;
    };
    assert.deepEqual(meta.references, ['registry:5000/kubevirt/debian:12']);
    assert.equal(meta.size, statSync(qcow2).size);
    // The digest is the registry's own manifest digest for the tag.
    const manifest = reg.getManifest('kubevirt/debian', '12');
    assert.equal(
      got.image.digest,
      `sha256:${(await import('node:crypto')).createHash('sha256').update(manifest).digest('hex')}`,
    );
    assert.deepEqual(
      cache.list().map((i) => i.digest),
      [got.image.digest],
    );
    assert.deepEqual(cacheState(cache.store.root).tmp, [], 'no temp dir is left after a pull');
  },
);

test('a [[registry.mirror]] of an unresolvable registry pulls from the mirror', async () => {
  const cache = freshCache();
  const got = await cache.ensure({ image: 'mirror.invalid/kubevirt/debian:12' });
  got.release();
  assert.equal(got.pulled, true);
  assert.equal(sha256(got.image.file), sha256(qcow2));
});

test('IfNotPresent: a second ensure reuses the cache with no registry at all (it is stopped)', async () => {
  const own = await startRegistry();
  const cache = new ImageCache({
    root: join(work, 'cache-offline'),
    skopeo: {
      registriesConf: registriesConf(
        mkdtempSync(join(work, 'offline-')),
        `[[registry]]\nprefix = "registry:5000"\nlocation = "${own.address}"\ninsecure = true\n`,
      ),
    },
  });
  let first: Awaited<ReturnType<ImageCache['ensure']>>;
  try {
    own.push(qcow2, 'kubevirt/debian:12');
    first = await cache.ensure({ image: 'registry:5000/kubevirt/debian:12', pullPolicy: 'IfNotPresent' });
    first.release();
  } finally {
    own.stop();
  }
  const spawned = execStats.spawned;
  const again = await cache.ensure({ image: 'registry:5000/kubevirt/debian:12' }); // :12 defaults to IfNotPresent
  again.release();
  assert.equal(again.pulled, false);
  assert.equal(again.image.file, first.image.file);
  assert.equal(execStats.spawned, spawned, 'no skopeo (no child at all) for a cached IfNotPresent image');
  await assert.rejects(cache.ensure({ image: 'registry:5000/kubevirt/debian:12', pullPolicy: 'Always' }), {
    name: 'SkopeoError',
    message:
      /^image registry:5000\/kubevirt\/debian:12: registry 127\.0\.0\.1:\d+ is down or unreachable: .*connection refused/u,
  });
});

test(
  'Always: a moved tag pulls the new digest and the tag leaves the old entry; an unmoved tag is reused after one ' +
    'inspect',
  async () => {
    const cache = freshCache();
    reg.push(qcow2, 'kubevirt/moving:latest');
    const one = await cache.ensure({ image: `${reg.address}/kubevirt/moving` }); // no tag: Always
    one.release();
    const spawned = execStats.spawned;
    const same = await cache.ensure({ image: `${reg.address}/kubevirt/moving` });
    same.release();
    assert.equal(same.pulled, false);
    assert.equal(execStats.spawned - spawned, 1, 'one skopeo inspect, no copy');
    const other = qcow2Disk(work, 'moved.qcow2', rawDisk(work, 'other.raw', 2, 'two'));
    reg.push(other, 'kubevirt/moving:latest');
    const two = await cache.ensure({ image: `${reg.address}/kubevirt/moving:latest`, pullPolicy: 'Always' });
    two.release();
    assert.equal(two.pulled, true);
    assert.notEqual(two.image.digest, one.image.digest);
    assert.equal(sha256(two.image.file), sha256(other));
    const byDigest = new Map(cache.list().map((i) => [i.digest, i.references]));
    assert.deepEqual(byDigest.get(one.image.digest), [`${reg.address}/kubevirt/moving`]);
    assert.deepEqual(byDigest.get(two.image.digest), [`${reg.address}/kubevirt/moving:latest`]);
    const three = await cache.ensure({ image: `${reg.address}/kubevirt/moving`, pullPolicy: 'Always' });
    three.release();
    assert.equal(three.image.digest, two.image.digest, 'the untagged name follows the tag too');
    assert.deepEqual(
      cache.list().find((i) => i.digest === one.image.digest)?.references,
      [],
      'the old image keeps no reference',
    );
  },
);

test('Never: an empty cache fails clearly, and creates nothing', async () => {
  const cache = freshCache();
  await assert.rejects(cache.ensure({ image: 'registry:5000/kubevirt/debian:12', pullPolicy: 'Never' }), {
    name: 'NotCachedError',
    message: 'image registry:5000/kubevirt/debian:12 is not in the cache and imagePullPolicy is Never',
  });
  assert.deepEqual(cacheState(cache.store.root).entries, []);
});

test(
  'formats: raw, and gzip- and xz-compressed disks (told by magic bytes, whatever their names) are decompressed and ' +
    'probed',
  async () => {
    const cache = freshCache();
    const cases = [
      { name: 'fmt-raw', file: raw, format: 'raw' as const },
      { name: 'fmt-gz', file: compressed(work, 'disk.img', qcow2, 'gzip'), format: 'qcow2' as const },
      { name: 'fmt-xz', file: compressed(work, 'disk.raw.xz', raw, 'xz'), format: 'raw' as const },
      { name: 'fmt-rawgz', file: compressed(work, 'disk.raw.gz', raw, 'gzip'), format: 'raw' as const },
    ];
    for (const c of cases) {
      reg.push(c.file, `kubevirt/${c.name}:1`);
      const got = await cache.ensure({ image: `registry:5000/kubevirt/${c.name}:1` });
      got.release();
      assert.equal(got.image.format, c.format, c.name);
      assert.equal(got.image.file.endsWith(`/disk.${c.format}`), true);
      assert.equal(
        contentHash(got.image.file, c.format, work),
        contentHash(raw, 'raw', work),
        `${c.name}: the guest sees the original bytes`,
      );
    }
    assert.equal(cache.list().length, cases.length);
  },
);

test('path picks one of two disks; without it the error lists both; each choice is its own entry of one digest', async () => {
  const cache = freshCache();
  const second = rawDisk(work, 'data.raw', 1, 'data');
  reg.pushLayers('kubevirt/two:1', [
    [
      { path: 'disk/boot.qcow2', source: qcow2 },
      { path: 'disk/data.raw', source: second },
    ],
  ]);
  await assert.rejects(cache.ensure({ image: 'registry:5000/kubevirt/two:1' }), {
    name: 'DiskError',
    message:
      'image registry:5000/kubevirt/two:1: several disks under /disk (/disk/boot.qcow2, /disk/data.raw): set ' +
      'containerDisk.path to one of them',
  });
  const data = await cache.ensure({ image: 'registry:5000/kubevirt/two:1', path: '/disk/data.raw' });
  const boot = await cache.ensure({ image: 'registry:5000/kubevirt/two:1', path: '/disk/boot.qcow2' });
  data.release();
  boot.release();
  assert.equal(sha256(data.image.file), sha256(second));
  assert.equal(sha256(boot.image.file), sha256(qcow2));
  assert.equal(data.image.digest, boot.image.digest);
  assert.notEqual(data.image.entry, boot.image.entry);
  const again = await cache.ensure({ image: 'registry:5000/kubevirt/two:1', path: '/disk/data.raw' });
  again.release();
  assert.equal(again.pulled, false);
});

test(
  'layers: a later layer replaces ' +
    'the disk and a whiteout ' +
    "hides another, as the image's " +
    'file system shows them',
  async () => {
    const cache = freshCache();
    const newer = rawDisk(work, 'newer.raw', 1, 'newer');
    reg.pushLayers('kubevirt/layered:1', [
      [
        { path: 'disk/a.raw', source: raw },
        { path: 'disk/b.raw', source: raw },
      ],
      [
        { path: 'disk/a.raw', source: newer },
        { path: 'disk/.wh.b.raw', text: '' },
      ],
    ]);
    const got = await cache.ensure({ image: 'registry:5000/kubevirt/layered:1' });
    got.release();
    assert.equal(got.image.diskPath, '/disk/a.raw');
    assert.equal(sha256(got.image.file), sha256(newer));
  },
);

test('progress: a pull prints one line per step and start/done lines for its transfers when not on a terminal', async () => {
  const cache = freshCache();
  const stream: ProgressStream & { out: string } = {
    out: '',
    isTTY: false,
    write(t: string) {
      stream.out += t;
      return true;
    },
  };
  const got = await cache.ensure({ image: 'registry:5000/kubevirt/fmt-gz:1' }, undefined, createProgress(stream));
  got.release();
  const lines = stream.out.trim().split('\n');
  const steps = lines.map((l) => l.replace(/\d[\d.]* (B|KiB|MiB)/gu, 'N').replace(/[\d.]+ s/gu, 'T s'));
  assert.deepEqual(steps.slice(0, 3), [
    'checking registry:5000/kubevirt/fmt-gz:1 in its registry',
    'pulling registry:5000/kubevirt/fmt-gz:1',
    'pull registry:5000/kubevirt/fmt-gz:1: started (N)',
  ]);
  assert.ok(lines.includes('decompressing the gzip disk of registry:5000/kubevirt/fmt-gz:1'), stream.out);
  assert.ok(
    lines.some((l) => /^decompress \(gzip\): done, [\d.]+ MiB in [\d.]+ s \(.*\/s\)$/u.test(l)),
    stream.out,
  );
  assert.match(lines.at(-1)!, /^registry:5000\/kubevirt\/fmt-gz:1 is cached as sha256:[0-9a-f]{64} \(qcow2\)$/u);
});

test(
  'a manifest list: skopeo picks ' +
    "this platform's instance; " +
    'the list digest is recorded, ' +
    'so Always reuses the entry',
  async () => {
    const cache = freshCache();
    const instance = reg.getManifest('kubevirt/debian', '12');
    const { createHash } = await import('node:crypto');
    const instanceDigest = `sha256:${createHash('sha256').update(instance).digest('hex')}`;
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: instanceDigest,
          size: Buffer.byteLength(instance),
          platform: { architecture: 'amd64', os: 'linux' },
        },
      ],
    });
    assert.equal(reg.putManifest('kubevirt/debian', 'multi', 'application/vnd.oci.image.index.v1+json', index), 201);
    const indexDigest = `sha256:${createHash('sha256').update(index).digest('hex')}`;
    const got = await cache.ensure({ image: 'registry:5000/kubevirt/debian:multi', pullPolicy: 'Always' });
    got.release();
    assert.equal(got.image.digest, instanceDigest, 'the cache is keyed by the instance, as the dir: copy holds it');
    assert.deepEqual(got.image.indexDigests, [indexDigest]);
    const again = await cache.ensure({ image: 'registry:5000/kubevirt/debian:multi', pullPolicy: 'Always' });
    again.release();
    assert.equal(again.pulled, false);
    const byIndex = await cache.ensure({ image: `registry:5000/kubevirt/debian@${indexDigest}` });
    byIndex.release();
    assert.equal(byIndex.pulled, false, 'a reference pinned to the list digest is served from the cache');
    assert.equal(byIndex.image.entry, got.image.entry);
  },
);
