/**
 * cni/env.ts readEnv: the values right at each limit are accepted (the
 * refusals are rows of bad-input.test.ts and of the corpus).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_CNI_ARGS_BYTES, readEnv } from '../../../cni/env.ts';
import { KERNEL_OWNED_IFNAMES, MAX_CONTAINER_ID_BYTES, MAX_NETWORK_NAME_BYTES, NAME_MAX } from '../../../lib/names.ts';
import { VirtnetError } from '../../../lib/errors.ts';

const ENV = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'ctr1',
  CNI_NETNS: '/var/run/netns/x',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
};

function refusal(env: Record<string, string>): string {
  try {
    readEnv({ ...ENV, ...env });
  } catch (e) {
    assert.ok(e instanceof VirtnetError, String(e));
    return e.message;
  }
  assert.fail('accepted');
}

test("env: a container id of 128 bytes (twice containerd's 64 hex digits) is accepted, 129 is not", () => {
  assert.equal(MAX_CONTAINER_ID_BYTES, 128);
  assert.equal(readEnv({ ...ENV, CNI_CONTAINERID: 'f'.repeat(128) }).containerID.length, 128);
  assert.match(
    refusal({ CNI_CONTAINERID: 'f'.repeat(129) }),
    /^CNI_CONTAINERID: "f{99}… \(129 characters\) is 129 bytes; it must be at most 128/u,
  );
});

test('env: the longest record and cache file names still fit NAME_MAX', () => {
  // cni/state.ts: <containerID>_<hex ifname>.json, written as <file>.<pid>.tmp first.
  const record = `${'c'.repeat(MAX_CONTAINER_ID_BYTES)}_${'ab'.repeat(15)}.json.4194304.tmp`;
  assert.ok(record.length <= NAME_MAX, `${record.length}`);
  // libcni / netattach result cache: <network>-<containerID>-<ifname>, then the same suffix.
  const cache = `${'n'.repeat(MAX_NETWORK_NAME_BYTES)}-${'c'.repeat(MAX_CONTAINER_ID_BYTES)}-${'i'.repeat(15)}.4194304.tmp`;
  assert.equal(cache.length, NAME_MAX);
});

test('env: every name a new namespace already holds is refused as CNI_IFNAME; eth0 and net1 are not', () => {
  for (const name of KERNEL_OWNED_IFNAMES) assert.match(refusal({ CNI_IFNAME: name }), /already has/u, name);
  assert.equal(readEnv({ ...ENV, CNI_IFNAME: 'net1' }).ifname, 'net1');
  assert.equal(readEnv({ ...ENV, CNI_IFNAME: 'lo0' }).ifname, 'lo0');
});

test('env: the CNI_ARGS a kubelet and Multus send are accepted', () => {
  const args = [
    'IgnoreUnknown=1',
    'K8S_POD_NAMESPACE=kube-system',
    'K8S_POD_NAME=coredns-5d78c9869d-x7k2p.a',
    `K8S_POD_INFRA_CONTAINER_ID=${'0123456789abcdef'.repeat(4)}`,
    'K8S_POD_UID=5f3c1c4e-8b2a-4d1e-9f00-0123456789ab',
    'MAC=02:00:00:00:00:01',
    'IP=10.0.0.5/24,fd00::5',
  ].join(';');
  const env = readEnv({ ...ENV, CNI_ARGS: args });
  assert.equal(env.args.get('K8S_POD_NAME'), 'coredns-5d78c9869d-x7k2p.a');
  assert.equal(env.args.get('IP'), '10.0.0.5/24,fd00::5');
  // A static pod's UID is the kubelet's 32-hex-digit config hash, and a CRI client may set any identifier.
  for (const uid of ['0f1e2d3c4b5a69788796a5b4c3d2e1f0', 'hdishd83djaidwnduwk28bcsb']) {
    assert.equal(readEnv({ ...ENV, CNI_ARGS: `K8S_POD_UID=${uid}` }).args.get('K8S_POD_UID'), uid);
  }
  assert.equal(readEnv({ ...ENV, CNI_ARGS: 'IP=10.0.0.5' }).args.get('IP'), '10.0.0.5');
});

test('env: CNI_ARGS of exactly 4096 bytes is accepted, one more is not', () => {
  const prefix = 'IgnoreUnknown=1;X=';
  const exact = `${prefix}${'a'.repeat(MAX_CNI_ARGS_BYTES - prefix.length)}`;
  assert.equal(readEnv({ ...ENV, CNI_ARGS: exact }).args.get('X')?.length, MAX_CNI_ARGS_BYTES - prefix.length);
  assert.match(refusal({ CNI_ARGS: `${exact}a` }), /^CNI_ARGS: is 4097 bytes; it may hold at most 4096$/u);
});

test('env: an unknown key let through by IgnoreUnknown is not judged', () => {
  assert.equal(readEnv({ ...ENV, CNI_ARGS: 'IgnoreUnknown=1;FOO=../x\ty' }).args.get('FOO'), '../x\ty');
});
