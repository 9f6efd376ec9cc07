/**
 * Fault injection (issue 11): `virtnet up` and the launcher are killed with
 * SIGKILL at each of their steps (VIRTNET_TEST_CRASH_AT, lib/crash-point.ts),
 * before the step, after it but before its journal, and after the journal.
 * Then `gc` leaves either a VMI that `get` lists or nothing, and `down --all`
 * leaves nothing: no sandbox, no host veth, no IP, no pod cgroup, no process.
 * And a pod's processes are one cgroup, so a teardown racing the VM's start
 * (the QEMU that libvirtd starts as `down` stops it) leaks nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroup2Mount, CGROUP_PARENT, inCgroup, podCgroupPath } from '../../../lib/cgroup.ts';
import { TestNode } from '../../support/node-driver.ts';
import { waitFor } from '../../../harness/guest-console.ts';

let node: TestNode;
before(() => {
  node = new TestNode();
});
after(() => node.destroy());

const EXAMPLE = 'examples/vm-bridge.yaml';
const DOMAIN = 'default_vm-bridge';

/** Processes of this node's VMs: by their state directory, or QEMU by its domain name. */
function vmProcesses(): string[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/u.test(d))
    .flatMap((pid) => {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
        if (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z')) return [];
        return cmd.includes(node.stateDir) || cmd.includes(`guest=${DOMAIN},`) ? [`${pid} ${cmd}`] : [];
      } catch {
        return [];
      }
    });
}

function podCgroups(): string[] {
  const mount = cgroup2Mount();
  if (!mount || !existsSync(join(mount, CGROUP_PARENT))) return [];
  const mine = new Set(node.recordedNetns());
  return readdirSync(join(mount, CGROUP_PARENT)).filter((n) => mine.has(n) || !known.has(n));
}

/** Pod cgroups that existed before these tests: not theirs. */
const known = new Set<string>();

function hostVeths(): string[] {
  return (JSON.parse(node.netns.run(['ip', '-j', 'link', 'show'])) as Array<{ ifname: string }>)
    .map((l) => l.ifname)
    .filter((n) => /^vn[0-9a-f]{11}$/u.test(n));
}

function assertNothingLeft(when: string): void {
  assert.deepEqual(node.sandboxes(), [], `${when}: no sandbox`);
  assert.deepEqual(hostVeths(), [], `${when}: no host veth`);
  assert.deepEqual(node.ipamAllocations(), [], `${when}: no IP allocated`);
  assert.deepEqual(podCgroups(), [], `${when}: no pod cgroup`);
  assert.deepEqual(vmProcesses(), [], `${when}: no process`);
}

/** After a crash: gc keeps a VMI that get lists, or removes it; down --all then removes everything. */
function recoverAndAssert(point: string): void {
  const gc = node.run(['gc']);
  assert.equal(gc.status, 0, `${point}: gc: ${gc.stdout}${gc.stderr}`);
  const listed = node.run(['get', 'vmis']);
  const kept = /vm-bridge/u.test(listed.stdout);
  if (!kept) {
    assert.deepEqual(node.sandboxes(), [], `${point}: a VMI that get does not list has no sandbox`);
    assert.deepEqual(vmProcesses(), [], `${point}: nor a process`);
  }
  const down = node.run(['down', '--all']);
  assert.equal(down.status, 0, `${point}: down --all: ${down.stdout}${down.stderr}`);
  assertNothingLeft(point);
}

test('the test node starts clean', () => {
  const mount = cgroup2Mount();
  if (mount && existsSync(join(mount, CGROUP_PARENT)))
    for (const n of readdirSync(join(mount, CGROUP_PARENT))) known.add(n);
  assertNothingLeft('before');
});

const UP_POINTS = [
  'up.record.journaled',
  ...['sandbox', 'pod networks', 'launcher'].flatMap((s) => [`up.${s}.start`, `up.${s}.done`, `up.${s}.journaled`]),
];
for (const point of UP_POINTS) {
  test(`virtnet up killed at ${point}: gc and down --all leave nothing`, () => {
    const r = node.run(['up', EXAMPLE], 240_000, { VIRTNET_TEST_CRASH_AT: point });
    assert.equal(r.signal, 'SIGKILL', `up reached ${point} and died there: ${r.stdout}${r.stderr}`);
    recoverAndAssert(point);
  });
}

const LAUNCHER_POINTS = ['discover', 'plan', 'network', 'dhcp', 'accel', 'libvirtd', 'boot'].map(
  (s) => `launcher.${s}.done`,
);
for (const point of LAUNCHER_POINTS) {
  test(`the launcher killed at ${point}: up fails cleanly, gc and down --all leave nothing`, () => {
    const r = node.run(['up', EXAMPLE], 240_000, { VIRTNET_TEST_CRASH_AT: point });
    assert.equal(r.status, 1, `up fails when its launcher dies: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /launcher/u);
    recoverAndAssert(point);
  });
}

function launcherStatus(): { steps: Array<{ name: string }>; pids?: Record<string, number> } | undefined {
  try {
    return JSON.parse(readFileSync(join(node.launcherDir('vm-bridge'), 'status.json'), 'utf8'));
  } catch {
    return undefined;
  }
}

test('every process of a VM pod is in its cgroup, and down right after a kill -9 of up leaks no QEMU', async () => {
  const child = node.start(['up', EXAMPLE]);
  const exited = new Promise((r) => child.on('exit', r));
  // libvirtd runs and the domain is about to start: the moment the old teardown leaked a paused QEMU.
  await waitFor('libvirtd started', () => launcherStatus()?.steps.some((s) => s.name === 'libvirtd'), 120_000, 5);
  child.kill('SIGKILL');
  await exited;
  const [netns] = node.recordedNetns();
  const cgroup = podCgroupPath(netns!);
  if (cgroup) {
    const launcherPid = Number(
      JSON.parse(readFileSync(join(node.stateDir, 'vmis', 'default', 'vm-bridge', 'record.json'), 'utf8')).launcherPid,
    );
    assert.ok(inCgroup(launcherPid, cgroup), 'the launcher is in its pod cgroup');
    for (const line of vmProcesses())
      assert.ok(inCgroup(Number(line.split(' ')[0]), cgroup), `in the pod cgroup: ${line}`);
  }
  const down = node.run(['down', '--all']);
  assert.equal(down.status, 0, down.stdout + down.stderr);
  assertNothingLeft('down after a kill -9 of up');
});

test('libvirtd killed mid-life: the VM is reported, and down still leaves nothing', async () => {
  node.must(['up', EXAMPLE]);
  const pids = launcherStatus()?.pids ?? {};
  assert.ok(pids.libvirtd && pids.qemu, `pids recorded: ${JSON.stringify(pids)}`);
  process.kill(pids.libvirtd, 'SIGKILL');
  // libvirt daemonizes QEMU: the guest goes on without its libvirtd.
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(
    vmProcesses().some((l) => l.startsWith(`${pids.qemu} `)),
    'QEMU runs on',
  );
  const got = node.run(['get', 'vmis']);
  assert.match(got.stdout, /vm-bridge\s+(Running|Failed)/u, got.stdout);
  const down = node.run(['down', '--all']);
  assert.equal(down.status, 0, down.stdout + down.stderr);
  assertNothingLeft('down after libvirtd died');
});
