/**
 * Manifests a registry stores but a pull must refuse before skopeo
 * fetches anything they name (foreign layers' urls would make the node
 * request any URL), manifest lists resolved to their linux/amd64 instance
 * by virtnet, and manifest bytes that are not UTF-8 (digests are of bytes).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageCache } from '../../../controller/node/images/cache.ts';
import { cacheState, qcow2Disk, rawDisk, sha256 } from '../../support/disks.ts';
import { registriesConf, startRegistry, type TestRegistry } from '../../../harness/registry.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

let reg: TestRegistry;
let work: string;
let conf: string;
let qcow2: string;
let good: { layers: Array<Record<string, unknown>> } & Record<string, unknown>;
/** A web server that counts what reaches it: a foreign layer's url points here. */
let probe: Server;
let probed: string[];
let probeUrl: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'virtnet-test-image-manifests-'));
  reg = await startRegistry({ allowLayerUrls: '^http://127\\.0\\.0\\.1:' });
  qcow2 = qcow2Disk(work, 'good.qcow2', rawDisk(work, 'good.raw', 2, 'manifests'));
  reg.push(qcow2, 'kubevirt/good:1');
  good = JSON.parse(reg.getManifest('kubevirt/good', '1')) as typeof good;
  conf = registriesConf(
    work,
    ['[[registry]]', 'prefix = "registry:5000"', `location = "${reg.address}"`, 'insecure = true', ''].join('\n'),
  );
  probed = [];
  probe = createServer((req, res) => {
    probed.push(req.url ?? '');
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const addr = probe.address();
  probeUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/ssrf-probe`;
});

after(() => {
  probe?.close();
  reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

const digestOf = (bytes: string | Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

let n = 0;
async function failsCleanly(image: string, expected: { name: string; message: RegExp | string }): Promise<void> {
  const cache = new ImageCache({ root: join(work, `cache-${n++}`), skopeo: { registriesConf: conf } });
  await assert.rejects(cache.ensure({ image }), expected);
  assert.deepEqual(cacheState(cache.store.root), { entries: [], tmp: [], pins: [] }, `nothing left behind by ${image}`);
}

/** `good` with its layer changed by `layer`, stored by digest (and `tag`, when given); returns its digest. */
function putVariant(tag: string | undefined, layer: Record<string, unknown>): string {
  const body = JSON.stringify({ ...good, layers: [{ ...good.layers[0], ...layer }] });
  const digest = digestOf(body);
  assert.equal(reg.putManifest('kubevirt/good', tag ?? digest, OCI_MANIFEST, body), 201);
  return digest;
}

function putIndex(
  tag: string,
  manifests: Array<{ digest: string; size?: number; platform: Record<string, string> }>,
): string {
  const body = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: manifests.map((m) => ({ mediaType: OCI_MANIFEST, size: 1, ...m })),
  });
  assert.equal(reg.putManifest('kubevirt/good', tag, OCI_INDEX, body), 201);
  return digestOf(body);
}

test('a layer with urls is refused before any copy: the node never requests the url', async () => {
  putVariant('urls', { urls: [probeUrl] });
  await failsCleanly('registry:5000/kubevirt/good:urls', {
    name: 'BadManifestError',
    message:
      `image registry:5000/kubevirt/good:urls: bad manifest: layer 1 has urls ["${probeUrl}"]: a foreign layer ` +
      `would be fetched from anywhere it names, so it is refused`,
  });
  assert.deepEqual(probed, []);
});

test('foreign and non-distributable layer media types are refused by name', async () => {
  for (const [tag, mediaType] of [
    ['nondist', 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip'],
    ['foreign', 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'],
  ]) {
    putVariant(tag, { mediaType });
    await failsCleanly(`registry:5000/kubevirt/good:${tag}`, {
      name: 'BadManifestError',
      message:
        `image registry:5000/kubevirt/good:${tag}: bad manifest: layer 1 has media type ${mediaType}, a foreign ` +
        `(non-distributable) layer, which is refused`,
    });
  }
});

test('a manifest list: its linux/amd64 instance is inspected and parsed first, so urls there are refused too', async () => {
  const instance = putVariant(undefined, { urls: [probeUrl] });
  putIndex('list-urls', [{ digest: instance, platform: { os: 'linux', architecture: 'amd64' } }]);
  await failsCleanly('registry:5000/kubevirt/good:list-urls', {
    name: 'BadManifestError',
    message: /^image registry:5000\/kubevirt\/good:list-urls: bad manifest: layer 1 has urls \[/u,
  });
  assert.deepEqual(probed, [], 'skopeo never fetched the url');
});

test('a manifest list picks linux/amd64 among other platforms; with none, the error lists what it has', async () => {
  const goodBytes = reg.getManifest('kubevirt/good', '1');
  const instance = digestOf(goodBytes);
  const other = putVariant(undefined, { urls: [probeUrl] }); // an arm64 instance that must never be looked at
  const list = putIndex('multi', [
    { digest: other, platform: { os: 'linux', architecture: 'arm64' } },
    { digest: instance, size: Buffer.byteLength(goodBytes), platform: { os: 'linux', architecture: 'amd64' } },
  ]);
  const cache = new ImageCache({ root: join(work, `cache-${n++}`), skopeo: { registriesConf: conf } });
  const got = await cache.ensure({ image: 'registry:5000/kubevirt/good:multi' });
  got.release();
  assert.equal(got.image.digest, instance);
  assert.deepEqual(got.image.indexDigests, [list]);
  assert.equal(sha256(got.image.file), sha256(qcow2));
  assert.deepEqual(probed, []);
  putIndex('armonly', [
    { digest: other, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    { digest: other, platform: { os: 'windows', architecture: 'amd64' } },
  ]);
  await failsCleanly('registry:5000/kubevirt/good:armonly', {
    name: 'BadManifestError',
    message:
      'image registry:5000/kubevirt/good:armonly: bad manifest: the manifest list has no linux/amd64 instance (it ' +
      'has: linux/arm64/v8, windows/amd64)',
  });
});

test('a manifest whose bytes are not UTF-8 is pulled by the digest of its bytes', async () => {
  // An annotation with a Latin-1 "é" (0xe9): valid JSON to the registry and to skopeo, not UTF-8.
  const text = JSON.stringify({ ...good, annotations: { note: 'caf\u0000' } });
  const bytes = Buffer.from(text.replace('\\u0000', '\u0000'), 'latin1');
  bytes[bytes.indexOf(0)] = 0xe9;
  assert.equal(reg.putManifest('kubevirt/good', 'latin1', OCI_MANIFEST, bytes), 201);
  const cache = new ImageCache({ root: join(work, `cache-${n++}`), skopeo: { registriesConf: conf } });
  const got = await cache.ensure({ image: 'registry:5000/kubevirt/good:latin1' });
  got.release();
  assert.equal(got.image.digest, digestOf(bytes));
  assert.notEqual(
    got.image.digest,
    digestOf(Buffer.from(bytes.toString('utf8'), 'utf8')),
    'decoding as UTF-8 would change the digest',
  );
  assert.equal(sha256(got.image.file), sha256(qcow2));
});
