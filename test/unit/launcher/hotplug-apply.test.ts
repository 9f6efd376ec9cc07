/**
 * launcher/hotplug.ts's failure paths that need no kernel, with libvirt's calls faked: a guest that does not
 * release its NIC (asked again, reported, and the NIC left wired with its IP), a link change that libvirt
 * refuses (nothing recorded), and plugs refused before anything is made (no network, a binding that cannot be
 * plugged). The paths that wire links run for real in test/e2e/node/hotplug.test.ts.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyLiveSpec, type LiveContext, type LiveVirsh } from '../../../launcher/hotplug.ts';
import type { NicPlan, PodPlan } from '../../../launcher/plan/types.ts';
import type { InterfaceSpec, LauncherSpec, NetworkSpec } from '../../../launcher/spec.ts';
import { nicStatus, type LauncherStatus } from '../../../launcher/status.ts';

const dir = mkdtempSync(join(tmpdir(), 'virtnet-test-hotplug-apply-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const NETS: NetworkSpec[] = [
  { name: 'default', pod: {} },
  { name: 'lan', multus: { networkName: 'default/lan' } },
];
const IFACES: InterfaceSpec[] = [
  { name: 'default', bridge: {} },
  { name: 'lan', bridge: {} },
];

function nic(name: string, index: number): NicPlan {
  return {
    name,
    index,
    binding: 'bridge',
    names: { podIf: `p${index}`, bridge: `k6t-p${index}`, podNic: `p${index}-nic`, tap: `tap${index}` },
    mac: `02:00:00:00:00:0${index}`,
    mtu: 1500,
    model: 'virtio',
    linkState: 'up',
    ips: [],
    staticAddresses: [],
  };
}

function spec(interfaces: InterfaceSpec[], networks: NetworkSpec[] = NETS): LauncherSpec {
  return { name: 'vm', namespace: 'default', memoryMiB: 256, cpus: 1, interfaces, networks, boot: { kernel: '/k' } };
}

/** libvirt as a guest that never lets go of a device, counting what it is asked. */
class StubbornLibvirt implements LiveVirsh {
  readonly calls: string[] = [];
  async attachDevice(): Promise<void> {
    this.calls.push('attach');
  }
  async detachDevice(_name: string, xmlFile: string) {
    this.calls.push(`detach-device ${xmlFile.split('/').at(-1)}`);
    return { ok: true, stderr: '' };
  }
  async detachAlias(_name: string, alias: string) {
    this.calls.push(`detach ${alias}`);
    return { ok: true, stderr: '' };
  }
  async updateDevice(): Promise<void> {
    this.calls.push('update');
    throw new Error('virsh update-device: exit code 1: error: Operation not supported');
  }
  async hasAlias(): Promise<boolean> {
    return true;
  }
}

function context(virsh: LiveVirsh): LiveContext & { saves: number } {
  const nics = [nic('default', 0), nic('lan', 1)];
  const plan: PodPlan = { ops: [], ops6: [], sysctls: {}, nft: [], nics, warnings: [] };
  const status: LauncherStatus = { phase: 'Running', pid: 1, nics: nics.map(nicStatus), steps: [], warnings: [] };
  const ctx = {
    stateDir: dir,
    resolvConf: join(dir, 'resolv.conf'),
    dummyLinks: false,
    plan,
    status,
    vm: { virsh, domain: 'default_vm' },
    saves: 0,
    serveDhcp: async () => assert.fail('no DHCP change is expected'),
    save: () => void ctx.saves++,
  };
  return ctx;
}

test('a guest that keeps its NIC: asked again, reported, and the NIC stays wired (its IP with it)', async () => {
  const libvirt = new StubbornLibvirt();
  const ctx = context(libvirt);
  const t = performance.now();
  const errors = await applyLiveSpec(ctx, spec(IFACES), spec([IFACES[0]!]), { unplugMs: 350, retryMs: 100 });
  const ms = performance.now() - t;
  assert.deepEqual(errors, ['interface lan: the guest did not release the NIC within 0.35 s']);
  assert.ok(ms >= 350 && ms < 2000, `gave up after the timeout, not before or long after (${ms} ms)`);
  assert.equal(libvirt.calls[0], 'detach-device nic-lan.xml', 'first by its XML, which libvirt waits on');
  const asked = libvirt.calls.filter((c) => c === 'detach ua-nic-lan').length;
  assert.ok(asked >= 2 && asked <= 4, `then by its alias every 100 ms: ${asked} times`);
  assert.deepEqual(
    ctx.plan.nics.map((n) => n.name),
    ['default', 'lan'],
  );
  assert.equal(ctx.status.nics.find((n) => n.name === 'lan')?.removing, true, 'shown as being removed');
  assert.ok(ctx.saves >= 1, 'the status was written');
});

test('a link change libvirt refuses: the error, and the NIC keeps the state it has', async () => {
  const ctx = context(new StubbornLibvirt());
  const down: InterfaceSpec[] = [IFACES[0]!, { ...IFACES[1]!, state: 'down' }];
  const errors = await applyLiveSpec(ctx, spec(IFACES), spec(down));
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /Operation not supported/u);
  assert.equal(ctx.plan.nics[1]!.linkState, 'up');
  assert.equal(ctx.status.nics[1]!.linkState, 'up');
});

test('plugs refused before anything is made: a masquerade NIC, and each failure alone', async () => {
  const libvirt = new StubbornLibvirt();
  const ctx = context(libvirt);
  const nets: NetworkSpec[] = [...NETS, { name: 'm', multus: { networkName: 'default/m' } }];
  const next = spec([...IFACES, { name: 'm', masquerade: {} }], nets);
  const errors = await applyLiveSpec(ctx, spec(IFACES, nets), next);
  assert.deepEqual(errors, ['interface m: only the bridge binding can be hot-plugged']);
  assert.deepEqual(libvirt.calls, [], 'libvirt was not asked');
  assert.equal(ctx.plan.nics.length, 2);
});

test('a change beyond the NICs is refused whole, before any action', async () => {
  const libvirt = new StubbornLibvirt();
  const ctx = context(libvirt);
  await assert.rejects(
    applyLiveSpec(ctx, spec(IFACES), { ...spec([IFACES[0]!]), memoryMiB: 512 }),
    /cannot change on a running VM: memoryMiB/u,
  );
  assert.deepEqual(libvirt.calls, []);
});
