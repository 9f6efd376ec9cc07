/**
 * KubeVirt's published kubevirt.io/v1 manifests (test/fixtures/kubevirt,
 * reproduced from kubevirt/kubevirt examples/) validate with no problems, and
 * normalisation is a fixed point: parse → validate → normalise → YAML →
 * parse → validate gives the same objects. The NAD existence check is on
 * (nothing exists outside the file), so multus examples must bring their NAD.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import {
  cpuCount,
  memoryMiB,
  parseManifests,
  runStrategyOf,
  validateManifests,
  type ApiObject,
} from '../../../controller/api/manifests.ts';

const DIR = join(import.meta.dirname, '../../fixtures/kubevirt');
const REJECTED = new Set(['vmi-sriov.yaml']);
const NOTHING_EXISTS = { nadExists: () => false };

function load(file: string, text = readFileSync(join(DIR, file), 'utf8')) {
  const parsed = parseManifests(text, file);
  assert.deepEqual(parsed.problems, [], `${file}: parse problems`);
  return validateManifests(parsed.manifests, NOTHING_EXISTS);
}

type ByKind = { [O in ApiObject as O['kind']]: O['object'] };

function only<K extends keyof ByKind>(objects: ApiObject[], kind: K): ByKind[K] {
  const found = objects.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0]!.object as ByKind[K];
}

const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

test('the fixture set covers the examples the API promises', () => {
  for (const f of [
    'vmi-fedora.yaml',
    'vmi-masquerade.yaml',
    'vm-multus-with-nad.yaml',
    'vmi-multus-multiple-net.yaml',
    'vm-cirros.yaml',
    'vmi-kernel-boot.yaml',
    'vmi-masquerade-dual-stack.yaml',
  ]) {
    assert.ok(files.includes(f), f);
  }
});

for (const file of files.filter((f) => !REJECTED.has(f))) {
  test(`${file}: valid, and normalisation is a fixed point through YAML`, () => {
    const first = load(file);
    assert.deepEqual(first.problems, []);
    assert.ok(first.objects.length > 0);
    const text = first.objects.map((o) => stringify(o.object)).join('---\n');
    const second = load(`${file} (round trip)`, text);
    assert.deepEqual(second.problems, []);
    assert.deepEqual(second.objects, first.objects);
  });
}

test('vmi-fedora: containerDisk + cloudInitNoCloud, defaults filled, 1024M of memory is 977 MiB', () => {
  const vmi = only(load('vmi-fedora.yaml').objects, 'VirtualMachineInstance');
  assert.equal(vmi.apiVersion, 'kubevirt.io/v1');
  assert.equal(vmi.metadata.namespace, 'default');
  assert.deepEqual(vmi.spec.domain.devices.interfaces, [{ name: 'default', masquerade: {}, model: 'virtio' }]);
  assert.match(vmi.spec.volumes?.[1]?.cloudInitNoCloud?.userData ?? '', /^#cloud-config/u);
  assert.equal(memoryMiB(vmi.spec), 977);
  assert.equal(cpuCount(vmi.spec), 1);
  // A field virtnet does not read (rng) is kept, not pruned.
  assert.deepEqual((vmi.spec.domain.devices as Record<string, unknown>).rng, {});
});

test('vmi-masquerade: the port keeps its protocol; kubevirt.io/v1 kept as written', () => {
  const vmi = only(load('vmi-masquerade.yaml').objects, 'VirtualMachineInstance');
  assert.deepEqual(vmi.spec.domain.devices.interfaces?.[0]?.ports, [{ name: 'http', port: 80, protocol: 'TCP' }]);
});

test('vmi-masquerade-dual-stack: both subnets, a port without protocol becomes TCP, cores count', () => {
  const vmi = only(load('vmi-masquerade-dual-stack.yaml').objects, 'VirtualMachineInstance');
  assert.equal(vmi.metadata.namespace, 'demo');
  assert.deepEqual(vmi.spec.networks?.[0]?.pod, {
    vmNetworkCIDR: '10.11.12.0/24',
    vmIPv6NetworkCIDR: 'fd10:10:10::/120',
  });
  assert.deepEqual(vmi.spec.domain.devices.interfaces?.[0]?.ports, [
    { name: 'ssh', port: 22, protocol: 'TCP' },
    { name: 'dns', port: 53, protocol: 'UDP' },
  ]);
  assert.equal(cpuCount(vmi.spec), 2);
  assert.equal(memoryMiB(vmi.spec), 512);
});

test('vm-multus-with-nad: the NAD in the batch satisfies the multus network; the template gets the namespace', () => {
  const { objects } = load('vm-multus-with-nad.yaml');
  const nad = only(objects, 'NetworkAttachmentDefinition');
  assert.deepEqual(nad.metadata, { name: 'ptp-conf', namespace: 'default' });
  const vm = only(objects, 'VirtualMachine');
  assert.equal(runStrategyOf(vm), 'Always');
  assert.equal(vm.spec.template.metadata?.namespace, 'default');
  assert.equal(vm.spec.template.metadata?.annotations?.['apply-ordinal'], 'true');
  assert.equal(memoryMiB(vm.spec.template.spec), 977);
});

test('vmi-multus-multiple-net without its NAD: the multus network is reported missing', () => {
  const text = readFileSync(join(DIR, 'vmi-multus-multiple-net.yaml'), 'utf8');
  const docs = text.split(/^---$/mu);
  const parsed = parseManifests(docs.slice(2).join('---\n'), 'vmi.yaml');
  const res = validateManifests(parsed.manifests, NOTHING_EXISTS);
  assert.deepEqual(res.objects, []);
  assert.deepEqual(res.problems, [
    {
      source: 'vmi.yaml#1',
      path: 'spec.networks[1].multus.networkName',
      rule: 'NetworkAttachmentDefinition default/ptp-conf not found',
    },
  ]);
  // Without a context nothing is known about the cluster, so nothing is checked.
  assert.deepEqual(validateManifests(parsed.manifests).problems, []);
});

test('vm-cirros: running false, and the default pod network with bridge is added (KubeVirt defaultNetworkInterface)', () => {
  const vm = only(load('vm-cirros.yaml').objects, 'VirtualMachine');
  assert.equal(vm.spec.running, false);
  assert.equal(runStrategyOf(vm), 'Halted');
  assert.deepEqual(vm.spec.template.spec.networks, [{ name: 'default', pod: {} }]);
  assert.deepEqual(vm.spec.template.spec.domain.devices.interfaces, [{ name: 'default', bridge: {}, model: 'virtio' }]);
  assert.equal(memoryMiB(vm.spec.template.spec), 128);
});

test('vmi-kernel-boot: the container kernel and its arguments', () => {
  const vmi = only(load('vmi-kernel-boot.yaml').objects, 'VirtualMachineInstance');
  const kb = vmi.spec.domain.firmware?.kernelBoot;
  assert.equal(kb?.kernelArgs, 'console=ttyS0');
  assert.deepEqual(kb?.container, {
    image: 'registry:5000/kubevirt/alpine-ext-kernel-boot-demo:devel',
    initrdPath: '/boot/initramfs-virt',
    kernelPath: '/boot/vmlinuz-virt',
  });
  assert.equal(memoryMiB(vmi.spec), 1024);
});

test('vmi-sriov: rejected, naming the binding; nothing else is wrong with it', () => {
  const res = validateManifests(
    parseManifests(readFileSync(join(DIR, 'vmi-sriov.yaml'), 'utf8'), 'vmi-sriov.yaml').manifests,
  );
  assert.deepEqual(res.objects, []);
  assert.deepEqual(res.problems, [
    {
      source: 'vmi-sriov.yaml#1',
      path: 'spec.domain.devices.interfaces[1].sriov',
      rule: 'binding sriov is not implemented by virtnet (supported: bridge, masquerade)',
    },
  ]);
});
