/**
 * containerDisks through `virtnet up` as a user meets them (issue 12), with
 * small disks that boot nothing (SeaBIOS, or OVMF, finds no OS and says
 * so on the console), so no test here waits for a distro: every pull
 * failure refused before any network is made and leaving nothing behind;
 * two VMs running from one cached image through overlays of their own;
 * `virtnet images` and `virtnet gc`; UEFI firmware; `virtnet logs -f`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { TestNode } from '../../support/node-driver.ts';
import { waitFor } from '../../../harness/guest-console.ts';
import { startRegistry, stopNodeWithRegistry, type TestRegistry } from '../../../harness/registry.ts';
import { cacheState, qcow2Disk, rawDisk, sha256 } from '../../support/disks.ts';

let node: TestNode;
let registry: TestRegistry;
let dir: string;
let cache: string;
let conf: string;
let tiny: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'virtnet-test-images-'));
  cache = join(dir, 'cache');
  node = new TestNode({ VIRTNET_IMAGE_CACHE_DIR: cache });
  registry = await startRegistry({ netns: node.netns.name });
  tiny = qcow2Disk(dir, 'tiny.qcow2', rawDisk(dir, 'tiny.raw', 4, 'tiny'));
  registry.push(tiny, 'virtnet/tiny:1');
  registry.push(qcow2Disk(dir, 'other.qcow2', rawDisk(dir, 'other.raw', 4, 'other')), 'virtnet/other:1');
  conf = join(dir, 'registries.conf');
  writeFileSync(
    conf,
    [
      '[[registry]]',
      'prefix = "registry:5000"',
      `location = "${registry.address}"`,
      'insecure = true',
      '',
      // Nothing listens on the node's port 5999: a registry that is down.
      '[[registry]]',
      'prefix = "down:5000"',
      'location = "127.0.0.1:5999"',
      'insecure = true',
      '',
    ].join('\n'),
  );
});

after(() => stopNodeWithRegistry(registry, node, dir));

/** A VMI file booting `image` (plus `spec` merged into its spec). */
function vmiFile(name: string, image: string, spec: Record<string, unknown> = {}): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    stringify({
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachineInstance',
      metadata: { name },
      spec: {
        domain: {
          resources: { requests: { memory: '128Mi' } },
          devices: {
            disks: [{ name: 'root', disk: { bus: 'virtio' } }],
            interfaces: [{ name: 'default', masquerade: {} }],
          },
        },
        networks: [{ name: 'default', pod: {} }],
        volumes: [{ name: 'root', containerDisk: { image } }],
        ...spec,
      },
    }),
  );
  return file;
}

function virtnet(args: string[], timeoutMs = 120_000) {
  return node.run(['--registries-conf', conf, ...args], timeoutMs);
}

test('every pull failure is refused with its cause before any network is made, and leaves nothing behind', () => {
  registry.pushLayers('virtnet/nodisk:1', [[{ path: 'etc/motd', text: 'no disk here\n' }]]);
  registry.pushLayers('virtnet/twodisks:1', [
    [
      { path: 'disk/a.qcow2', source: tiny },
      { path: 'disk/b.qcow2', source: tiny },
    ],
  ]);
  const garbled = join(dir, 'garbled.qcow2');
  copyFileSync(tiny, garbled);
  const fd = openSync(garbled, 'r+');
  writeSync(fd, Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4, 20); // cluster_bits, at offset 20 of the qcow2 header
  closeSync(fd);
  registry.push(garbled, 'virtnet/garbled:1');
  const truncated = join(dir, 'truncated.qcow2');
  copyFileSync(tiny, truncated);
  truncateSync(truncated, 256 * 1024);
  registry.push(truncated, 'virtnet/truncated:1');
  const good = JSON.parse(registry.getManifest('virtnet/tiny', '1')) as { layers: Array<{ mediaType: string }> };
  good.layers[0]!.mediaType = 'application/vnd.example.unknown';
  assert.equal(
    registry.putManifest(
      'virtnet/tiny',
      'badmanifest',
      'application/vnd.oci.image.manifest.v1+json',
      JSON.stringify(good),
    ),
    201,
  );
  const before = cacheState(cache);
  for (const [image, cause] of [
    ['registry:5000/virtnet/nodisk:1', /no disk: no regular file under \/disk/u],
    [
      'registry:5000/virtnet/twodisks:1',
      /several disks under \/disk \(\/disk\/a\.qcow2, \/disk\/b\.qcow2\): set containerDisk\.path/u,
    ],
    ['registry:5000/virtnet/garbled:1', /corrupt image: the qcow2 disk does not open/u],
    ['registry:5000/virtnet/truncated:1', /corrupt image/u],
    ['registry:5000/virtnet/nosuch:1', /manifest unknown \(no such image or tag in the registry\)/u],
    ['down:5000/virtnet/tiny:1', /registry 127\.0\.0\.1:5999 is down or unreachable/u],
    [
      'registry:5000/virtnet/tiny:badmanifest',
      /bad manifest: layer 1 has media type "application\/vnd\.example\.unknown"/u,
    ],
  ] as const) {
    const t = performance.now();
    const r = virtnet(['up', vmiFile('refused', image)]);
    assert.equal(r.status, 1, `${image}: ${r.stdout}${r.stderr}`);
    assert.match(
      r.stderr,
      new RegExp(
        `default/refused: failed at image root: ` +
          `image ${image.replace(/[.*+?^${}()|[\]\\/]/gu, '\\$&')}: ${cause.source}`,
        'u',
      ),
      image,
    );
    assert.ok(performance.now() - t < 60_000, `${image}: took ${performance.now() - t} ms`);
    assert.doesNotMatch(r.stdout, /sandbox|pod networks/u, `${image}: a network step ran`);
    assert.deepEqual(node.sandboxes(), [], `${image}: a sandbox was made`);
    assert.equal(JSON.parse(node.must(['get', 'vmis', '-o', 'json'])).items.length, 0, `${image}: a VMI was recorded`);
    assert.deepEqual(cacheState(cache), before, `${image}: the cache changed`);
  }
});

test(
  'two VMs run from one cached image, each on its own overlay; `virtnet images` names them; `virtnet gc` removes ' +
    'only what no VMI uses',
  () => {
    for (const name of ['one', 'two'])
      assert.equal(virtnet(['up', '--no-wait', vmiFile(name, 'registry:5000/virtnet/tiny:1')]).status, 0);
    assert.equal(virtnet(['up', '--no-wait', vmiFile('three', 'registry:5000/virtnet/other:1')]).status, 0);
    node.must(['down', 'three']);
    // Something in the cache that is no image is named, and left alone.
    mkdirSync(join(cache, 'not-an-entry'));
    const listed = node.run(['images']);
    assert.match(listed.stderr, /warning: .*\/not-an-entry: /u, listed.stderr);
    rmSync(join(cache, 'not-an-entry'), { recursive: true });
    const images = listed.stdout;
    assert.match(
      images,
      /^registry:5000\/virtnet\/tiny:1\s+sha256:[0-9a-f]{12}\s+qcow2\s+\S+ \S+\s+default\/one,default\/two$/mu,
      images,
    );
    assert.match(images, /^registry:5000\/virtnet\/other:1\s+.*<none>$/mu, images);
    const base = (
      JSON.parse(node.must(['images', '-o', 'json'])) as { images: Array<{ reference: string; digest: string }> }
    ).images;
    const [entry] = cacheState(cache).entries.filter((e) =>
      e.includes(base.find((i) => i.reference.endsWith('tiny:1'))!.digest.slice(7)),
    );
    const baseFile = join(cache, entry!, 'disk.qcow2');
    const hash = sha256(baseFile);
    for (const name of ['one', 'two']) {
      const info = JSON.parse(
        execFileSync(
          'qemu-img',
          ['info', '--output=json', '-U', join(node.launcherDir(name), 'disk-0-overlay.qcow2')],
          {
            encoding: 'utf8',
          },
        ),
      ) as Record<string, string>;
      assert.equal(info['backing-filename'], baseFile, `${name}'s overlay is over the cached image`);
    }
    const gc = node.must(['gc']);
    assert.match(gc, /removed image registry:5000\/virtnet\/other:1/u);
    assert.doesNotMatch(gc, /tiny/u);
    assert.equal(sha256(baseFile), hash, 'the shared image was never written');
    node.must(['down', 'one', 'two']);
    assert.match(node.must(['gc']), /removed image registry:5000\/virtnet\/tiny:1/u);
    assert.deepEqual(cacheState(cache).entries, []);
  },
);

test(
  'UEFI: firmware.bootloader.efi boots ' +
    "OVMF with the VM's own NVRAM; " +
    '`virtnet logs -f` follows its ' +
    'console until the VMI is gone',
  async () => {
    const plain = vmiFile('uefi', 'registry:5000/virtnet/tiny:1', {});
    const doc = readFileSync(plain, 'utf8').replace(
      'domain:\n',
      'domain:\n    firmware:\n      bootloader:\n        efi:\n          secureBoot: false\n',
    );
    writeFileSync(plain, doc);
    assert.equal(virtnet(['up', '--no-wait', plain]).status, 0);
    const follow = node.start(['logs', '-f', 'uefi']);
    let seen = '';
    follow.stdout!.on('data', (b: Buffer) => {
      seen += b.toString('latin1');
    });
    const exited = new Promise<number | null>((r) => follow.on('close', r));
    try {
      await waitFor("OVMF's boot manager on the console", () => /BdsDxe: /u.test(seen), 120_000, 500);
      const xml = readFileSync(join(node.launcherDir('uefi'), 'domain.xml'), 'utf8');
      assert.match(
        xml,
        /<loader readonly="yes" secure="no" type="pflash">\/usr\/share\/OVMF\/OVMF_CODE_4M\.fd<\/loader>/u,
      );
      assert.match(readFileSync(join(node.launcherDir('uefi'), 'console.log'), 'latin1'), /BdsDxe: /u);
      const nvram = join(node.launcherDir('uefi'), 'nvram.fd');
      assert.equal(
        readFileSync(nvram).length,
        readFileSync('/usr/share/OVMF/OVMF_VARS_4M.fd').length,
        "the NVRAM is the VM's copy of the template",
      );
    } finally {
      node.must(['down', 'uefi']);
    }
    assert.equal(await exited, 0, '`logs -f` ends when the VMI is gone');
  },
);

test('UEFI with Secure Boot (the default under efi): the enrolled-keys build with SMM', async () => {
  const file = vmiFile('uefi-sb', 'registry:5000/virtnet/tiny:1');
  writeFileSync(
    file,
    readFileSync(file, 'utf8').replace('domain:\n', 'domain:\n    firmware:\n      bootloader:\n        efi: {}\n'),
  );
  assert.equal(virtnet(['up', '--no-wait', file]).status, 0);
  try {
    // --no-wait returns once the launcher runs; it writes the domain a moment later.
    const xml = await waitFor(
      'the domain XML',
      () =>
        existsSync(join(node.launcherDir('uefi-sb'), 'domain.xml')) &&
        readFileSync(join(node.launcherDir('uefi-sb'), 'domain.xml'), 'utf8'),
      60_000,
      200,
    );
    assert.match(xml, /secure="yes" type="pflash">\/usr\/share\/OVMF\/OVMF_CODE_4M\.ms\.fd</u);
    assert.match(xml, /<smm state="on"\/>/u);
    await waitFor('OVMF on the console', () => /BdsDxe: /u.test(node.must(['logs', 'uefi-sb'])), 180_000, 1000);
  } finally {
    node.must(['down', 'uefi-sb']);
  }
});
