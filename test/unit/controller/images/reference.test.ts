/**
 * controller/node/images/reference.ts: the docker reference grammar
 * (distribution/reference), Kubernetes' default pull policy and
 * containerDisk.path. Pure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  defaultPullPolicy,
  diskPathProblem,
  imageReferenceProblem,
  referenceDigest,
  repositoryOf,
} from '../../../../controller/node/images/reference.ts';

const HEX = 'a'.repeat(64);

test('image references: the forms KubeVirt examples and registries use pass', () => {
  for (const image of [
    'registry:5000/kubevirt/cirros-container-disk-demo:devel',
    'quay.io/containerdisks/fedora:39',
    'kubevirt/fedora-cloud-container-disk-demo',
    'localhost/x',
    'localhost:5000/a/b_c/d__e/f-g--h',
    '127.0.0.1:45123/kubevirt/a:v1',
    `quay.io/x/y@sha256:${HEX}`,
    `x:1.0@sha256:${HEX}`,
    'busybox',
    'Registry.Example.COM/x/y:Tag_1.2-3',
    `a/b:${'t'.repeat(128)}`,
  ]) {
    assert.equal(imageReferenceProblem(image), undefined, image);
  }
});

test('image references: each broken rule has its own message', () => {
  const cases: Array<[string, string]> = [
    ['', 'must not be empty'],
    ['quay.io/x y', 'must not contain whitespace or control characters'],
    ['quay.io/x\ty', 'must not contain whitespace or control characters'],
    ['quay.io/x\u0000', 'must not contain whitespace or control characters'],
    ['quay.io/x\u009b', 'must not contain whitespace or control characters'],
    ['--registries-conf=/tmp/evil', 'must not start with "-" (it would read as an option)'],
    ['-x', 'must not start with "-" (it would read as an option)'],
    ['docker://quay.io/x', 'must be a docker reference without a transport (no "docker://")'],
    [
      'quay.io/Fedora',
      'path component "Fedora" must be lower-case letters and digits, separated by ".", "_", "__" or "-"',
    ],
    ['quay.io/a//b', 'path component "" must be lower-case letters and digits, separated by ".", "_", "__" or "-"'],
    ['quay.io/a/../b', 'path component ".." must be lower-case letters and digits, separated by ".", "_", "__" or "-"'],
    [
      'quay.io/a___b',
      'path component "a___b" must be lower-case letters and digits, separated by ".", "_", "__" or "-"',
    ],
    ['quay.io/-a', 'path component "-a" must be lower-case letters and digits, separated by ".", "_", "__" or "-"'],
    ['quay.io/a:', 'tag "" must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}'],
    ['quay.io/a:.x', 'tag ".x" must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}'],
    [`quay.io/a:${'t'.repeat(129)}`, `tag "${'t'.repeat(129)}" must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`],
    ['quay.io/a@sha256:abc', 'digest "sha256:abc" must be sha256: and 64 lower-case hex digits'],
    [`quay.io/a@sha512:${HEX}`, `digest "sha512:${HEX}" must be sha256: and 64 lower-case hex digits`],
    [
      `quay.io/a@sha256:${'A'.repeat(64)}`,
      `digest "sha256:${'A'.repeat(64)}" must be sha256: and 64 lower-case hex digits`,
    ],
    ['bad_host.io/a', 'registry "bad_host.io" is not a host name with an optional :port'],
    ['host.-io/a', 'registry "host.-io" is not a host name with an optional :port'],
    ['host:99999/a', 'registry port 99999 must be from 1 to 65535'],
    ['host:0/a', 'registry port 0 must be from 1 to 65535'],
    [`quay.io/${'a'.repeat(250)}`, 'repository name must be at most 255 characters'],
  ];
  for (const [image, problem] of cases) assert.equal(imageReferenceProblem(image), problem, JSON.stringify(image));
  assert.match(imageReferenceProblem(`q.io/${'a/'.repeat(300)}a`) ?? '', /^must be at most \d+ characters$/u);
});

test('pull policy: Always for :latest or no tag without digest, else IfNotPresent (Kubernetes SetDefaults_Container)', () => {
  assert.equal(defaultPullPolicy('quay.io/x/y'), 'Always');
  assert.equal(defaultPullPolicy('quay.io/x/y:latest'), 'Always');
  assert.equal(defaultPullPolicy('registry:5000/x/y'), 'Always', 'the registry port is not a tag');
  assert.equal(defaultPullPolicy('registry:5000/x/y:devel'), 'IfNotPresent');
  assert.equal(defaultPullPolicy('localhost:5000'), 'IfNotPresent', 'no slash: ":5000" is a tag');
  assert.equal(defaultPullPolicy(`quay.io/x/y@sha256:${HEX}`), 'IfNotPresent');
  assert.equal(defaultPullPolicy(`quay.io/x/y:v1@sha256:${HEX}`), 'IfNotPresent');
  assert.equal(
    defaultPullPolicy(`quay.io/x/y:latest@sha256:${HEX}`),
    'Always',
    'Kubernetes looks at the tag even with a digest',
  );
  assert.equal(referenceDigest(`quay.io/x/y:v1@sha256:${HEX}`), `sha256:${HEX}`);
  assert.equal(referenceDigest('quay.io/x/y:v1'), undefined);
});

test('repositoryOf: the name without tag or digest, keeping a registry port', () => {
  assert.equal(repositoryOf('registry:5000/kubevirt/a:1'), 'registry:5000/kubevirt/a');
  assert.equal(repositoryOf(`registry:5000/kubevirt/a:1@sha256:${HEX}`), 'registry:5000/kubevirt/a');
  assert.equal(repositoryOf('registry:5000/kubevirt/a'), 'registry:5000/kubevirt/a');
  assert.equal(repositoryOf('busybox:1'), 'busybox');
});

test('disk paths: absolute normalized file paths pass; each broken rule has its message', () => {
  for (const p of ['/disk/a.qcow2', '/disk/sub/b.img', '/opt/disk image.raw', `/${'d'.repeat(255)}`])
    assert.equal(diskPathProblem(p), undefined, p);
  const cases: Array<[string, string]> = [
    ['', 'must not be empty'],
    ['disk/a.qcow2', 'must be absolute (start with "/")'],
    ['/disk/a\u0000', 'must not contain NUL or control characters'],
    ['/disk/a\nb', 'must not contain NUL or control characters'],
    ['/', 'must name a file, not a directory (no trailing "/")'],
    ['/disk/', 'must name a file, not a directory (no trailing "/")'],
    ['/disk/../etc/shadow', 'must not contain "." or ".." components'],
    ['/disk/./a', 'must not contain "." or ".." components'],
    ['//disk/a', 'must be normalized (no "//")'],
    ['/disk//a', 'must be normalized (no "//")'],
    [`/${'d'.repeat(256)}`, 'each component must be at most 255 characters'],
    [`/${'d/'.repeat(2100)}d`, 'must be at most 4095 characters'],
  ];
  for (const [p, problem] of cases) assert.equal(diskPathProblem(p), problem, JSON.stringify(p.slice(0, 40)));
});
