/** Link names in a VM pod (KubeVirt's namescheme) and the libvirt domain name. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { domainName, linkNamesFor, networkHash, podIfName, PRIMARY_POD_IFNAME } from '../../../launcher/names.ts';
import { linkNameProblem } from '../../../lib/names.ts';

const sha11 = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 11);

test('pod network: eth0, k6t-eth0, eth0-nic, tap0', () => {
  const net = { name: 'default', pod: {} };
  assert.equal(PRIMARY_POD_IFNAME, 'eth0');
  assert.equal(podIfName(net), 'eth0');
  assert.deepEqual(linkNamesFor(net), { podIf: 'eth0', bridge: 'k6t-eth0', podNic: 'eth0-nic', tap: 'tap0' });
});

test('default multus network: eth0 as well, whatever its name', () => {
  const net = { name: 'some-long-network-name', multus: { networkName: 'ns/attach', default: true } };
  assert.equal(podIfName(net), 'eth0');
  assert.deepEqual(linkNamesFor(net), { podIf: 'eth0', bridge: 'k6t-eth0', podNic: 'eth0-nic', tap: 'tap0' });
});

test('secondary multus network "blue": pod + 11 hex of sha256, derived names within 15 bytes', () => {
  const hash = sha11('blue');
  assert.match(hash, /^[0-9a-f]{11}$/u);
  assert.equal(networkHash('blue'), hash);
  const net = { name: 'blue', multus: { networkName: 'default/blue-net' } };
  assert.equal(podIfName(net), `pod${hash}`);
  const names = linkNamesFor(net);
  assert.deepEqual(names, { podIf: `pod${hash}`, bridge: `k6t-${hash}`, podNic: `${hash}-nic`, tap: `tap${hash}` });
  for (const n of Object.values(names)) {
    assert.ok(Buffer.byteLength(n) <= 15, `${n} is over 15 bytes`);
    assert.equal(linkNameProblem(n), undefined, n);
  }
  // multus.default: false is a secondary network too.
  assert.equal(podIfName({ name: 'blue', multus: { networkName: 'x', default: false } }), `pod${hash}`);
});

test('secondary names: hashed from the VMI network name, not the attachment name; distinct per network', () => {
  assert.equal(
    podIfName({ name: 'blue', multus: { networkName: 'a' } }),
    podIfName({ name: 'blue', multus: { networkName: 'b' } }),
  );
  assert.notEqual(
    podIfName({ name: 'blue', multus: { networkName: 'a' } }),
    podIfName({ name: 'red', multus: { networkName: 'a' } }),
  );
  // Any name, even one that is not a valid link name itself, gives valid link names.
  for (const name of ['a'.repeat(200), 'ünïcödé', 'with space', 'x/y:z']) {
    for (const n of Object.values(linkNamesFor({ name, multus: { networkName: 'n' } })))
      assert.equal(linkNameProblem(n), undefined, `${name} → ${n}`);
  }
});

test('domainName: <namespace>_<name>', () => {
  assert.equal(domainName({ namespace: 'default', name: 'vm1' }), 'default_vm1');
  assert.equal(domainName({ namespace: 'kube-system', name: 'a.b-c' }), 'kube-system_a.b-c');
});
