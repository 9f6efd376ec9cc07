/**
 * Every containerDisk pull failure of issue 12 against a real registry:
 * each gives an error naming the image and the cause, and leaves nothing
 * in the cache (no entry, no temp directory, no pin).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  copyFileSync,
  mkdtempSync,
  rmSync,
  truncateSync,
  writeFileSync,
  openSync,
  writeSync,
  closeSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageCache } from '../../../controller/node/images/cache.ts';
import { cacheState, qcow2Disk, rawDisk } from '../../support/disks.ts';
import { freePort, registriesConf, startRegistry, type TestRegistry } from '../../../harness/registry.ts';

let reg: TestRegistry;
let work: string;
let conf: string;
let qcow2: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'virtnet-test-image-errors-'));
  reg = await startRegistry();
  qcow2 = qcow2Disk(work, 'good.qcow2', rawDisk(work, 'good.raw', 3, 'good'));
  reg.push(qcow2, 'kubevirt/good:1');
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
/** ensure() in a fresh cache must fail with `expected`, and leave that cache with nothing in it. */
async function failsCleanly(
  image: string,
  expected: { name: string; message: RegExp | string },
  path?: string,
  registries = conf,
): Promise<void> {
  const cache = new ImageCache({ root: join(work, `cache-${n++}`), skopeo: { registriesConf: registries } });
  await assert.rejects(cache.ensure({ image, ...(path !== undefined && { path }) }), expected);
  assert.deepEqual(cacheState(cache.store.root), { entries: [], tmp: [], pins: [] }, `nothing left behind by ${image}`);
  assert.deepEqual(cache.list(), []);
}

test('an image with no disk: the error names the image; files outside /disk do not count', async () => {
  reg.pushLayers('kubevirt/nodisk:1', [
    [
      { path: 'etc/hostname', text: 'x\n' },
      { path: 'disk/link', symlinkTo: '/etc/shadow' },
    ],
  ]);
  await failsCleanly('registry:5000/kubevirt/nodisk:1', {
    name: 'DiskError',
    message:
      'image registry:5000/kubevirt/nodisk:1: no disk: no regular file under /disk (/disk/link is a symbolic link)',
  });
});

test('several disks and no path: the error lists them; a path that is not in the image is refused', async () => {
  reg.pushLayers('kubevirt/several:1', [
    [{ path: 'disk/a.qcow2', source: qcow2 }],
    [{ path: 'disk/b.qcow2', source: qcow2 }],
  ]);
  await failsCleanly('registry:5000/kubevirt/several:1', {
    name: 'DiskError',
    message:
      'image registry:5000/kubevirt/several:1: several disks under /disk (/disk/a.qcow2, /disk/b.qcow2): set ' +
      'containerDisk.path to one of them',
  });
  await failsCleanly(
    'registry:5000/kubevirt/several:1',
    {
      name: 'DiskError',
      message:
        'image registry:5000/kubevirt/several:1: containerDisk.path /disk/c.qcow2 is not in the image (disks: ' +
        '/disk/a.qcow2, /disk/b.qcow2)',
    },
    '/disk/c.qcow2',
  );
});

test('a corrupt qcow2: a truncated one fails qemu-img check, a garbled header does not open', async () => {
  const truncated = join(work, 'truncated.qcow2');
  copyFileSync(qcow2, truncated);
  truncateSync(truncated, 1024 * 1024); // the header and tables survive, the data clusters do not
  reg.push(truncated, 'kubevirt/truncated:1');
  await failsCleanly('registry:5000/kubevirt/truncated:1', {
    name: 'CorruptImageError',
    message:
      /^image registry:5000\/kubevirt\/truncated:1: corrupt image: qemu-img check found [1-9]\d* corruptions and 0 check errors: ERROR/u,
  });
  const garbled = join(work, 'garbled.qcow2');
  copyFileSync(qcow2, garbled);
  const fd = openSync(garbled, 'r+');
  writeSync(fd, Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4, 20); // cluster_bits (qcow2 header offset 20)
  closeSync(fd);
  reg.push(garbled, 'kubevirt/garbled:1');
  await failsCleanly('registry:5000/kubevirt/garbled:1', {
    name: 'CorruptImageError',
    message:
      /^image registry:5000\/kubevirt\/garbled:1: corrupt image: the qcow2 disk does not open: .*Unsupported cluster size/u,
  });
  const badGzip = join(work, 'bad.img');
  writeFileSync(badGzip, Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), Buffer.alloc(64, 7)]));
  reg.push(badGzip, 'kubevirt/badgzip:1');
  await failsCleanly('registry:5000/kubevirt/badgzip:1', {
    name: 'CorruptImageError',
    message:
      /^image registry:5000\/kubevirt\/badgzip:1: corrupt image: the gzip-compressed disk does not decompress: /u,
  });
});

test('a qcow2 with a backing file is refused: a VM would read a host file the image names', async () => {
  const withBacking = join(work, 'backed.qcow2');
  // -u: do not open the backing file; -F: its format, recorded in the header.
  (await import('node:child_process')).execFileSync('qemu-img', [
    'create',
    '-q',
    '-f',
    'qcow2',
    '-u',
    '-b',
    '/etc/shadow',
    '-F',
    'raw',
    withBacking,
    '4M',
  ]);
  reg.push(withBacking, 'kubevirt/backed:1');
  await failsCleanly('registry:5000/kubevirt/backed:1', {
    name: 'UnusableDiskError',
    message:
      'image registry:5000/kubevirt/backed:1: the qcow2 disk has a backing file (/etc/shadow); a containerDisk must ' +
      'stand alone',
  });
});

test('a qcow2 with an external data file is refused: a VM would read the host file it names', async () => {
  const withData = join(work, 'datafile.qcow2');
  (await import('node:child_process')).execFileSync('qemu-img', [
    'create',
    '-q',
    '-f',
    'qcow2',
    '-o',
    `data_file=${join(work, 'datafile.raw')}`,
    withData,
    '4M',
  ]);
  reg.push(withData, 'kubevirt/datafile:1');
  await failsCleanly('registry:5000/kubevirt/datafile:1', {
    name: 'UnusableDiskError',
    message:
      `image registry:5000/kubevirt/datafile:1: the qcow2 disk has an external data file ` +
      `(${join(work, 'datafile.raw')}); a containerDisk must stand alone`,
  });
});

test('an unknown image and an unknown tag: "manifest unknown"', async () => {
  await failsCleanly('registry:5000/kubevirt/nosuch:1', {
    name: 'SkopeoError',
    message:
      /^image registry:5000\/kubevirt\/nosuch:1: manifest unknown \(no such image or tag in the registry\): reading manifest 1 in 127\.0\.0\.1:\d+\/kubevirt\/nosuch: manifest unknown/u,
  });
  await failsCleanly('registry:5000/kubevirt/good:2', {
    name: 'SkopeoError',
    message: /^image registry:5000\/kubevirt\/good:2: manifest unknown/u,
  });
});

test('a registry that is down (a closed port): "registry … is down or unreachable"', async () => {
  const port = await freePort();
  const down = registriesConf(
    mkdtempSync(join(work, 'down-')),
    `[[registry]]\nprefix = "registry:5000"\nlocation = "127.0.0.1:${port}"\ninsecure = true\n`,
  );
  await failsCleanly(
    'registry:5000/kubevirt/good:1',
    {
      name: 'SkopeoError',
      message: new RegExp(
        `^image registry:5000/kubevirt/good:1: registry 127\\.0\\.0\\.1:${port} is down or unreachable: ` +
          `.*connection refused$`,
        'u',
      ),
    },
    undefined,
    down,
  );
});

test('a plain-HTTP registry not marked insecure: the error says to mark it', async () => {
  await failsCleanly(`${reg.address}/kubevirt/good:1`, {
    name: 'SkopeoError',
    message: new RegExp(
      `^image ${reg.address}/kubevirt/good:1: registry ${reg.address} speaks plain HTTP; mark it insecure = true ` +
        `in registries.conf`,
      'u',
    ),
  });
});

test('bad manifests the registry stores but a pull must refuse: an unknown layer media type, a layer size that lies', async () => {
  const good = JSON.parse(reg.getManifest('kubevirt/good', '1')) as {
    layers: Array<{ mediaType: string; size: number }>;
  };
  const unknownType = structuredClone(good);
  unknownType.layers[0]!.mediaType = 'application/vnd.example.unknown';
  assert.equal(
    reg.putManifest(
      'kubevirt/good',
      'unknowntype',
      'application/vnd.oci.image.manifest.v1+json',
      JSON.stringify(unknownType),
    ),
    201,
    'the registry stores it',
  );
  await failsCleanly('registry:5000/kubevirt/good:unknowntype', {
    name: 'BadManifestError',
    message:
      /^image registry:5000\/kubevirt\/good:unknowntype: bad manifest: layer 1 has media type "application\/vnd.example.unknown", not one of /u,
  });
  const wrongSize = structuredClone(good);
  wrongSize.layers[0]!.size = 10;
  assert.equal(
    reg.putManifest(
      'kubevirt/good',
      'wrongsize',
      'application/vnd.oci.image.manifest.v1+json',
      JSON.stringify(wrongSize),
    ),
    201,
  );
  await failsCleanly('registry:5000/kubevirt/good:wrongsize', {
    name: 'BadManifestError',
    message:
      /^image registry:5000\/kubevirt\/good:wrongsize: bad manifest: layer 1 is \d+ bytes, the manifest says 10$/u,
  });
});

test('bad requests are refused before skopeo runs: the field, the value and the rule', async () => {
  const cache = new ImageCache({ root: join(work, 'cache-bad-requests'), skopeo: { registriesConf: '/nonexistent' } });
  await assert.rejects(cache.ensure({ image: '--registries-conf=/tmp/x' }), {
    message: 'containerDisk.image "--registries-conf=/tmp/x": must not start with "-" (it would read as an option)',
  });
  await assert.rejects(cache.ensure({ image: 'registry:5000/a:1', path: '/disk/../../etc/shadow' }), {
    message: 'containerDisk.path "/disk/../../etc/shadow": must not contain "." or ".." components',
  });
  await assert.rejects(cache.ensure({ image: 'registry:5000/a:1', pullPolicy: 'Sometimes' as 'Always' }), {
    message: 'containerDisk.imagePullPolicy "Sometimes" must be one of Always, IfNotPresent, Never',
  });
  await failsCleanly(
    'registry:5000/kubevirt/good:1',
    { name: 'SkopeoError', message: /the registries configuration is not usable: .*\/nonexistent/u },
    undefined,
    '/nonexistent',
  );
});

test('a reference pinned to a digest the registry does not have: manifest unknown', async () => {
  const digest = createHash('sha256').update('nothing').digest('hex');
  await failsCleanly(`registry:5000/kubevirt/good@sha256:${digest}`, {
    name: 'SkopeoError',
    message: /manifest unknown/u,
  });
});
