/**
 * The pure parts of a containerDisk pull: tar listings (C-quoted, so names
 * cannot forge lines), layers applied with whiteouts (OCI layer.md), the
 * disk chosen, manifests parsed, and skopeo failures classified.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyLayer,
  chooseDisk,
  ImageFs,
  normalizeMember,
  parseListing,
  unquoteC,
} from '../../../../controller/node/images/layers.ts';
import { parseManifest, platformInstance } from '../../../../controller/node/images/manifest.ts';
import { classify, skopeoCause } from '../../../../lib/skopeo.ts';
import { ExecError } from '../../../../lib/exec.ts';

const fsOf = (...layers: string[]) => {
  const fs = new ImageFs();
  layers.forEach((listing, i) => applyLayer(fs, parseListing('img', listing, i)));
  return fs;
};
const line = (type: string, name: string, size = 5, rest = '') =>
  `${type}rw-r--r-- 107/107 ${size} 1970-01-01 00:00 "${name}"${rest}`;

test('tar listing: C-quoted names are decoded, types and sizes read, "./" and "/" prefixes dropped, ".." names skipped', () => {
  const entries = parseListing(
    'img',
    [
      'drwxr-xr-x 107/107 0 1970-01-01 00:00 "./disk/"',
      line('-', './disk/a.qcow2', 4194304),
      line('-', 'disk/new\\nline\\"x', 1),
      line('l', 'disk/l', 0, ' -> "a.qcow2"'),
      line('h', 'disk/h', 0, ' link to "disk/a.qcow2"'),
      line('-', '../escape', 1),
      line('-', 'disk/../../etc/passwd', 1),
      'crw-r--r-- 0/0 1,3 1970-01-01 00:00 "dev/null"',
      '-rw-r--r-- 0/0 7 4611686018427387904 "disk/far-future"',
      '-rw-r--r-- 0/0 8 -32873-11-12 23:23 "disk/far-past"',
      '',
    ].join('\n'),
    0,
  );
  assert.deepEqual(
    entries.map((e) => [e.path, e.type, e.size]),
    [
      ['disk', 'directory', 0],
      ['disk/a.qcow2', 'file', 4194304],
      ['disk/new\nline"x', 'file', 1],
      ['disk/l', 'symlink', 0],
      ['disk/h', 'hardlink', 0],
      ['dev/null', 'other', 0],
      ['disk/far-future', 'file', 7],
      ['disk/far-past', 'file', 8],
    ],
  );
  assert.throws(
    () => parseListing('img', `${line('-', 'disk/a')}\ngarbage line\n`, 2),
    {
      name: 'DiskError',
      message: 'image img: layer 3: tar listed a line that is not an entry: "garbage line"',
    },
    'a line that is not an entry is an error, never skipped',
  );
  assert.equal(entries[1]!.stored, './disk/a.qcow2', 'tar is given the stored name');
  assert.equal(unquoteC('a\\303\\251\\\\b\\"'), 'aé\\b"');
  assert.equal(normalizeMember('/disk//a'), 'disk/a');
  assert.equal(normalizeMember('./'), undefined);
  assert.equal(normalizeMember('disk/./a'), undefined);
});

test(
  'layers: a later file wins, .wh. hides a lower file, an opaque whiteout empties the directory below, a symlink ' +
    'over a disk is no disk',
  () => {
    let fs = fsOf(line('-', 'disk/a.qcow2', 1), line('-', 'disk/a.qcow2', 2));
    assert.equal(fs.get('disk/a.qcow2')?.size, 2);
    assert.equal(fs.get('disk/a.qcow2')?.layer, 1);
    fs = fsOf([line('-', 'disk/a.qcow2'), line('-', 'disk/b.img')].join('\n'), line('-', 'disk/.wh.a.qcow2', 0));
    assert.deepEqual([...fs.keys()], ['disk/b.img']);
    fs = fsOf(
      [line('-', 'disk/a.qcow2'), line('-', 'disk/b.img')].join('\n'),
      [line('-', 'disk/.wh..wh..opq', 0), line('-', 'disk/c.raw')].join('\n'),
    );
    assert.deepEqual([...fs.keys()], ['disk/c.raw'], "the same layer's own files stay");
    fs = fsOf(line('-', 'disk/x/a.qcow2'), line('-', '.wh.disk', 0));
    assert.deepEqual([...fs.keys()], [], 'a whiteout of a directory hides what is under it');
    fs = fsOf(line('-', 'disk/a.qcow2'), line('l', 'disk/a.qcow2', 0, ' -> "/etc/shadow"'));
    assert.throws(() => chooseDisk('img', fs, undefined), {
      message: 'image img: no disk: no regular file under /disk (/disk/a.qcow2 is a symbolic link)',
    });
    assert.throws(() => chooseDisk('img', fs, '/disk/a.qcow2'), {
      message: 'image img: containerDisk.path /disk/a.qcow2 is a symbolic link, not a regular file',
    });
  },
);

test('choosing the disk: the only one, or `path`; none and several are errors naming the image and the files', () => {
  const one = fsOf(line('-', 'disk/a.qcow2'));
  assert.deepEqual(chooseDisk('img', one, undefined).path, '/disk/a.qcow2');
  assert.equal(chooseDisk('img', one, '/disk/a.qcow2').only, true);
  const two = fsOf([line('-', 'disk/b.img'), line('-', 'disk/a.qcow2'), line('-', 'etc/hosts')].join('\n'));
  assert.throws(() => chooseDisk('img', two, undefined), {
    message: 'image img: several disks under /disk (/disk/a.qcow2, /disk/b.img): set containerDisk.path to one of them',
  });
  const picked = chooseDisk('img', two, '/disk/b.img');
  assert.equal(picked.path, '/disk/b.img');
  assert.equal(picked.only, false);
  assert.throws(() => chooseDisk('img', two, '/disk/c.img'), {
    message: 'image img: containerDisk.path /disk/c.img is not in the image (disks: /disk/b.img, /disk/a.qcow2)',
  });
  assert.throws(() => chooseDisk('img', fsOf(line('-', 'etc/hosts')), undefined), {
    message: 'image img: no disk: no regular file under /disk',
  });
});

const DIGEST = `sha256:${'b'.repeat(64)}`;
const good = (over: object = {}) =>
  Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: DIGEST, size: 10 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: DIGEST, size: 20 }],
      ...over,
    }),
  );

test('manifests: OCI and Docker schema 2 parse; lists, schema 1, unknown types and malformed JSON are bad manifests', () => {
  assert.equal(parseManifest('img', good()).layers[0]!.size, 20);
  assert.equal(
    parseManifest('img', good({ mediaType: undefined })).mediaType,
    'application/vnd.oci.image.manifest.v1+json',
  );
  const bad: Array<[Buffer, RegExp]> = [
    [Buffer.from('{"schemaVersion":2,'), /^image img: bad manifest: not JSON/u],
    [Buffer.from('[]'), /^image img: bad manifest: not a JSON object$/u],
    [good({ schemaVersion: 1 }), /schemaVersion 1 is not 2/u],
    [
      good({ mediaType: 'application/vnd.oci.image.index.v1+json' }),
      /it is a manifest list \(application\/vnd.oci.image.index.v1\+json\) with no instance chosen/u,
    ],
    [good({ mediaType: 'text/plain' }), /media type "text\/plain" is not/u],
    [good({ layers: [] }), /it has no layers/u],
    [
      good({ layers: [{ mediaType: 'application/vnd.example.unknown', digest: DIGEST, size: 1 }] }),
      /layer 1 has media type "application\/vnd.example.unknown", not one of/u,
    ],
    [
      good({ layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: 'sha256:xyz', size: 1 }] }),
      /layer 1 has digest "sha256:xyz"/u,
    ],
    [
      good({ layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: DIGEST, size: -1 }] }),
      /layer 1 has size -1, not a byte count/u,
    ],
    [
      good({ config: { mediaType: 'application/json', digest: DIGEST, size: 1 } }),
      /the config has media type "application\/json"/u,
    ],
    [
      good({ config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: DIGEST, size: 10, urls: [] } }),
      /^image img: bad manifest: the config has urls \[\]: a foreign layer would be fetched/u,
    ],
    [
      good({
        layers: [
          {
            mediaType: 'application/vnd.oci.image.layer.v1.tar',
            digest: DIGEST,
            size: 1,
            urls: ['http://169.254.169.254/'],
          },
        ],
      }),
      /layer 1 has urls \["http:\/\/169.254.169.254\/"\]/u,
    ],
    [
      good({
        layers: [{ mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar', digest: DIGEST, size: 1 }],
      }),
      /layer 1 has media type application\/vnd.oci.image.layer.nondistributable.v1.tar, a foreign \(non-distributable\) layer/u,
    ],
  ];
  for (const [bytes, message] of bad)
    assert.throws(() => parseManifest('img', bytes), { name: 'BadManifestError', message }, bytes.toString());
});

test(
  'manifest lists: the first linux/amd64 instance; none, or an instance that is not a manifest, is a bad manifest ' +
    'naming what the list has',
  () => {
    const list = (manifests: unknown[]) =>
      Buffer.from(
        JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }),
      );
    const entry = (c: string, platform: object, mediaType = 'application/vnd.oci.image.manifest.v1+json') => ({
      mediaType,
      digest: `sha256:${c.repeat(64)}`,
      size: 1,
      platform,
    });
    assert.equal(
      platformInstance(
        'img',
        list([
          entry('a', { os: 'linux', architecture: 'arm64' }),
          entry('b', { os: 'linux', architecture: 'amd64' }),
          entry('c', { os: 'linux', architecture: 'amd64' }),
        ]),
      ),
      `sha256:${'b'.repeat(64)}`,
    );
    assert.throws(
      () =>
        platformInstance(
          'img',
          list([entry('a', { os: 'linux', architecture: 'arm64', variant: 'v8' }), { digest: 'x' }]),
        ),
      {
        name: 'BadManifestError',
        message: 'image img: bad manifest: the manifest list has no linux/amd64 instance (it has: linux/arm64/v8, ?/?)',
      },
    );
    assert.throws(
      () =>
        platformInstance(
          'img',
          list([entry('a', { os: 'linux', architecture: 'amd64' }, 'application/vnd.oci.image.index.v1+json')]),
        ),
      {
        name: 'BadManifestError',
        message:
          /^image img: bad manifest: the linux\/amd64 instance has media type "application\/vnd.oci.image.index.v1\+json", not one of/u,
      },
    );
    assert.throws(() => platformInstance('img', Buffer.from('{"schemaVersion":2}')), {
      message: 'image img: bad manifest: the manifest list has no "manifests" array',
    });
  },
);

const failed = (stderr: string) => new ExecError({ argv: ['skopeo', 'inspect'], exitCode: 1, stdout: '', stderr });
const fatal = (msg: string) =>
  `time="2026-12-02T00:36:56Z" level=fatal msg="Error parsing image name \\"docker://x\\": ` +
  `${msg.replaceAll('"', '\\"')}"\n`;

test('skopeo failures: unreachable, unknown, unauthorized, bad manifest, TLS and config each get their own message', () => {
  const cases: Array<[string, string, string]> = [
    [
      'q.io/a:1',
      'pinging container registry 127.0.0.1:1: Get "https://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: ' +
        'connection refused',
      'unreachable',
    ],
    ['q.io/a:1', 'reading manifest v1 in q.io/a: manifest unknown: manifest unknown', 'unknown'],
    ['q.io/a:1', 'reading manifest v1 in q.io/a: unauthorized: authentication required', 'unauthorized'],
    ['q.io/a:1', 'unsupported docker v2s1 manifest media type', 'badManifest'],
    [
      'q.io/a:1',
      'pinging container registry q.io: Get "https://q.io/v2/": http: server gave HTTP response to HTTPS client',
      'tls',
    ],
    [
      'q.io/a:1',
      'loading registries configuration: loading registries configuration "bad.conf": toml: line 1',
      'config',
    ],
    ['q.io/a:1', 'writing blob: open /var/cache/virtnet/images/tmp/x: no space left on device', 'noSpace'],
    ['q.io/a:1', 'something else entirely', 'failed'],
  ];
  for (const [image, msg, kind] of cases) {
    const err = classify(image, failed(fatal(msg)));
    assert.equal(err.failure, kind, msg);
    assert.ok(err.message.startsWith(`image ${image}: `) && err.message.endsWith(msg), err.message);
    assert.deepEqual(err.argv, ['skopeo', 'inspect']);
  }
  assert.equal(
    classify('q.io/a:1', failed(fatal(cases[0]![1]))).message.split(': ')[1],
    'registry 127.0.0.1:1 is down or unreachable',
  );
  assert.match(
    classify(
      'fedora:39',
      failed(
        fatal('pinging container registry registry-1.docker.io: dial tcp: lookup registry-1.docker.io: no such host'),
      ),
    ).message,
    /^image fedora:39: registry registry-1.docker.io is down or unreachable \("fedora:39" is a short name, which skopeo reads as docker.io\/library\/…/u,
  );
  assert.equal(skopeoCause('plain text error\n'), 'plain text error');
});
