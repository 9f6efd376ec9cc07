/**
 * A VMI's status on a cluster from its launcher's report (status.virtnet in
 * the standalone shape, infoSource as KubeVirt fills it, on both sides), the
 * Events derived from status transitions (one per change, none for a state
 * that holds), the recorder's correlation of repeats, and describe's
 * conditions and cluster placement.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { VmiStatus } from '../../../controller/api/status.ts';
import { describeVmi } from '../../../controller/view/describe.ts';
import { topologySvg, topologyText } from '../../../controller/view/topology.ts';
import { EventRecorder, MAX_MESSAGE, type CoreEvent, type EventApi } from '../../../controller/control/events.ts';
import { reconcileVmi } from '../../../controller/control/reconcile.ts';
import { vmiEvents, type VmiEvent } from '../../../controller/control/vmi-events.ts';
import { NETWORK_STATUS_ANNOTATION, statusFromPod } from '../../../controller/status/pod.ts';
import { infoSource, joinInfoSources, vmiStatus } from '../../../controller/status/vmi.ts';
import type { VmiRecord } from '../../../controller/node/store.ts';
import { LAUNCHER_STATUS_ANNOTATION } from '../../../controller/render/pod.ts';
import { linkNamesFor, podIfName } from '../../../launcher/names.ts';
import type { LauncherStatus, NicStatus } from '../../../launcher/status.ts';

/** Fixtures built loosely: the code under test checks them as it checks the API server's objects. */
type Obj = any;
const NOW = '2026-11-28T12:00:00Z';

const SPEC = {
  domain: {
    devices: {
      interfaces: [
        { name: 'default', masquerade: {} },
        { name: 'blue', bridge: {} },
        { name: 'red', bridge: {} },
      ],
    },
  },
  networks: [
    { name: 'default', pod: {} },
    { name: 'blue', multus: { networkName: 'blue-net' } },
    { name: 'red', multus: { networkName: 'red-net' } },
  ],
};
const vmi = (status?: VmiStatus): Obj => ({
  apiVersion: 'virtnet.io/v1alpha1',
  kind: 'VirtualMachineInstance',
  metadata: {
    name: 'vm1',
    namespace: 'apps',
    uid: 'uid-1',
    resourceVersion: '7',
    creationTimestamp: '2026-11-28T11:59:00Z',
  },
  spec: SPEC,
  ...(status && { status }),
});

const masq: NicStatus = {
  name: 'default',
  binding: 'masquerade',
  podInterface: 'eth0',
  bridge: 'k6t-eth0',
  tap: 'tap0',
  mac: '02:00:00:00:00:01',
  mtu: 1500,
  ips: ['10.0.2.2/24', 'fd10:0:2::2/120'],
  dhcp: true,
  leased4: false,
  leased6: false,
};
const blue: NicStatus = {
  name: 'blue',
  binding: 'bridge',
  podInterface: 'pod16477688c0e',
  bridge: 'k6t-16477688c0e',
  tap: 'tap16477688c0e',
  mac: '02:00:00:00:00:02',
  mtu: 9000,
  ips: [],
  dhcp: false,
  leased4: false,
  leased6: false,
};
// red is in network-status only: the launcher has not reported it (a NIC it does not know yet).
const NETWORK_STATUS = [
  { name: 'virtnet', interface: 'eth0', ips: ['10.244.1.5'], default: true, dns: {} },
  {
    name: 'apps/red-net',
    interface: podIfName({ name: 'red', multus: { networkName: 'red-net' } }),
    ips: ['192.168.7.4'],
    dns: {},
  },
];

function report(nics: NicStatus[], phase: LauncherStatus['phase'] = 'Running', extra: Obj = {}): string {
  return JSON.stringify({
    phase,
    accel: 'tcg',
    nics,
    steps: [
      { name: 'network', ms: 20 },
      { name: 'boot', ms: 400 },
    ],
    ...extra,
  });
}

function pod(
  phase: string | undefined,
  o: { node?: string; launcher?: string; networkStatus?: unknown[]; uid?: string } = {},
): Obj {
  return {
    metadata: {
      name: 'virt-launcher-vm1-abcde',
      namespace: 'apps',
      uid: o.uid ?? 'pod-uid-1',
      creationTimestamp: '2026-11-28T11:59:01Z',
      labels: { 'virtnet.io/vmi': 'vm1', 'virtnet.io/created-by': 'uid-1' },
      annotations: {
        ...(o.networkStatus && { [NETWORK_STATUS_ANNOTATION]: JSON.stringify(o.networkStatus) }),
        ...(o.launcher && { [LAUNCHER_STATUS_ANNOTATION]: o.launcher }),
      },
    },
    spec: { ...(o.node && { nodeName: o.node }) },
    status: phase ? { phase } : {},
  };
}

test("status.virtnet on a cluster: the report's wiring, steps and accelerator in the standalone shape", () => {
  const st = statusFromPod(
    vmi(),
    pod('Running', { node: 'n1', launcher: report([masq, blue]), networkStatus: NETWORK_STATUS }),
  );
  assert.deepEqual(st.virtnet, {
    accel: 'tcg',
    nics: [
      {
        name: 'default',
        binding: 'masquerade',
        network: 'pod',
        podInterface: 'eth0',
        bridge: 'k6t-eth0',
        tap: 'tap0',
        mac: '02:00:00:00:00:01',
        model: 'virtio',
        mtu: 1500,
        ips: ['10.0.2.2/24', 'fd10:0:2::2/120'],
        podIps: ['10.244.1.5'],
        leased4: false,
        leased6: false,
        ports: [],
      },
      {
        name: 'blue',
        binding: 'bridge',
        network: 'apps/blue-net',
        podInterface: 'pod16477688c0e',
        bridge: 'k6t-16477688c0e',
        tap: 'tap16477688c0e',
        mac: '02:00:00:00:00:02',
        model: 'virtio',
        mtu: 9000,
        ips: [],
        podIps: [],
        leased4: false,
        leased6: false,
        ports: [],
      },
    ],
    // The launcher's step names as the standalone `up` and describe show them.
    steps: [
      { name: 'launcher network', ms: 20 },
      { name: 'boot', ms: 400 },
    ],
  });
  assert.equal(st.virtnet!.netns, undefined, "a pod's netns is the container runtime's: none is claimed");
  assert.equal(statusFromPod(vmi(), pod('Pending')).virtnet, undefined, 'no report, no wiring');
  // A malformed report is ignored as a whole: no half-read wiring.
  const bad = statusFromPod(vmi(), pod('Running', { launcher: report([{ ...masq, mtu: 5 }]) }));
  assert.equal(bad.virtnet, undefined);
  assert.equal(bad.conditions?.find((c) => c.type === 'Synchronized')?.reason, 'InvalidPodAnnotation');
});

test(
  'infoSource as KubeVirt: "domain, multus-status" in its order, each only when that source knows the NIC; unknown ' +
    'NICs absent',
  () => {
    const st = statusFromPod(
      vmi(),
      pod('Running', { node: 'n1', launcher: report([masq, blue]), networkStatus: NETWORK_STATUS }),
    );
    assert.deepEqual(
      st.interfaces.map((i) => [i.name, i.infoSource]),
      [
        ['default', 'domain, multus-status'], // in the domain (the launcher's NIC) and in network-status
        ['blue', 'domain'], // the launcher wired it, network-status (here) lacks it
        ['red', 'multus-status'], // network-status has it, the launcher has not reported it
      ],
    );
    const none = statusFromPod(vmi(), pod('Pending'));
    assert.deepEqual(none.interfaces, [], 'an interface no source has seen is not reported (KubeVirt drops those)');
    assert.equal(infoSource(['multus-status', 'guest-agent', 'domain']), 'domain, guest-agent, multus-status');
    assert.equal(joinInfoSources('multus-status', 'domain'), 'domain, multus-status');
    assert.equal(joinInfoSources(undefined, 'bogus'), '');
  },
);

test('standalone and cluster agree on interfaces and wiring for the same facts; both carry a Ready condition', () => {
  const launcher: LauncherStatus = {
    phase: 'Running',
    pid: 9,
    accel: 'tcg',
    warnings: [],
    nics: [masq, blue],
    steps: [
      { name: 'network', ms: 20 },
      { name: 'boot', ms: 400 },
    ],
  };
  const rec = {
    object: { metadata: { name: 'vm1', namespace: 'apps', uid: 'uid-1' }, spec: SPEC },
    specHash: 'h',
    state: 'Created',
    creator: { pid: 1, start: '' },
    netns: 'vn-0123456789',
    containerID: 'c',
    attachments: [],
    launcherPid: 9,
    steps: [],
    networkStatus: NETWORK_STATUS,
  } as unknown as VmiRecord;
  const node = vmiStatus(rec, launcher, true);
  const cluster = statusFromPod(
    vmi(),
    pod('Running', { node: 'n1', launcher: report([masq, blue]), networkStatus: NETWORK_STATUS }),
  );
  assert.deepEqual(node.interfaces, cluster.interfaces);
  assert.deepEqual(node.virtnet!.nics, cluster.virtnet!.nics);
  assert.equal(node.virtnet!.netns, 'vn-0123456789');
  assert.deepEqual(node.conditions, [
    { type: 'Ready', status: 'False', reason: 'LeasePending', message: 'the guest has not taken its lease on default' },
  ]);
  assert.deepEqual(
    cluster.conditions?.find((c) => c.type === 'Ready'),
    node.conditions![0],
  );
  const leased = vmiStatus(rec, { ...launcher, nics: [{ ...masq, leased4: true, leased6: true }, blue] }, true);
  assert.deepEqual(leased.conditions, [{ type: 'Ready', status: 'True', reason: 'GuestReady' }]);
  assert.equal(vmiStatus(rec, launcher, false).conditions![0]!.reason, 'PhaseFailed');
});

/** The statuses a reconcile writes, one per observation, and the events between each and the one before. */
function history(pods: Obj[]): { statuses: VmiStatus[]; events: VmiEvent[][] } {
  let current = vmi();
  const statuses: VmiStatus[] = [];
  const events: VmiEvent[][] = [];
  for (const p of pods) {
    const set = reconcileVmi(
      {
        vmi: current,
        pods: [p],
        nadExists: () => true,
        image: 'virtnet:test',
        serviceCIDRs: [],
        testGuest: { kernel: '', initrd: '', cmdline: '' },
        allowedHostPaths: [],
      },
      NOW,
    ).find((a) => a.type === 'setStatus');
    if (!set || set.type !== 'setStatus') {
      events.push([]);
      continue;
    }
    events.push(vmiEvents(current.status, set.status));
    current = vmi(set.status);
    statuses.push(set.status);
  }
  return { statuses, events };
}

const leased4 = { ...masq, leased4: true };

test("events: one per transition of a VMI's life, in order; a state that holds makes none", () => {
  const wired = report([masq, blue], 'Starting');
  const running = report([masq, blue]);
  const { events } = history([
    pod('Pending'),
    pod('Pending', { node: 'n1' }),
    pod('Pending', { node: 'n1' }), // the same again: no write, no event
    pod('Running', { node: 'n1', launcher: wired, networkStatus: NETWORK_STATUS }),
    pod('Running', { node: 'n1', launcher: running, networkStatus: NETWORK_STATUS }),
    pod('Running', { node: 'n1', launcher: report([leased4, blue]), networkStatus: NETWORK_STATUS }),
    pod('Running', {
      node: 'n1',
      launcher: report([{ ...leased4, leased6: true }, blue]),
      networkStatus: NETWORK_STATUS,
    }),
    pod('Running', {
      node: 'n1',
      launcher: report([{ ...leased4, leased6: true }, blue]),
      networkStatus: NETWORK_STATUS,
    }),
  ]);
  assert.deepEqual(events, [
    [],
    [{ type: 'Normal', reason: 'Scheduled', message: 'launcher pod virt-launcher-vm1-abcde is on node n1' }],
    [],
    [
      {
        type: 'Normal',
        reason: 'NetworkReady',
        message:
          '2 NICs wired: default (masquerade, pod: eth0 -> nft NAT -> k6t-eth0 -> tap0); blue (bridge, ' +
          'apps/blue-net: pod16477688c0e -> k6t-16477688c0e -> tap16477688c0e)',
      },
    ],
    [{ type: 'Normal', reason: 'Started', message: 'the VM is running on node n1' }],
    [{ type: 'Normal', reason: 'Leased', message: 'default: the guest took its DHCPv4 lease of 10.0.2.2/24' }],
    [{ type: 'Normal', reason: 'Leased', message: 'default: the guest took its DHCPv6 lease of fd10:0:2::2/120' }],
    [],
  ]);
});

test('events: failures are Warnings with their reason and why, told once', () => {
  const running = vmi(
    statusFromPod(vmi(), pod('Running', { node: 'n1', launcher: report([leased4]), networkStatus: NETWORK_STATUS })),
  );
  const failed = statusFromPod(
    running,
    pod('Running', {
      node: 'n1',
      launcher: report([leased4], 'Failed', { error: 'qemu: could not open /dev/kvm' }),
      networkStatus: NETWORK_STATUS,
    }),
  );
  assert.deepEqual(vmiEvents(running.status, failed), [
    { type: 'Warning', reason: 'Failed', message: 'qemu: could not open /dev/kvm' },
  ]);
  assert.deepEqual(vmiEvents(failed, failed), []);
  // The launcher pod gone: reconcile fails the VMI, Synchronized names why, and that is the one event.
  const [gone] = reconcileVmi(
    {
      vmi: running,
      pods: [],
      nadExists: () => true,
      image: 'i',
      serviceCIDRs: [],
      testGuest: { kernel: '', initrd: '', cmdline: '' },
      allowedHostPaths: [],
    },
    NOW,
  );
  assert.ok(gone?.type === 'setStatus');
  assert.deepEqual(vmiEvents(running.status, gone.status), [
    { type: 'Warning', reason: 'LauncherPodGone', message: 'the launcher pod is gone' },
  ]);
  // A missing NAD holds it Pending: a Warning, once, and again only if the message changes.
  const [pending] = reconcileVmi(
    {
      vmi: vmi(),
      pods: [],
      nadExists: () => false,
      image: 'i',
      serviceCIDRs: [],
      testGuest: { kernel: '', initrd: '', cmdline: '' },
      allowedHostPaths: [],
    },
    NOW,
  );
  assert.ok(pending?.type === 'setStatus');
  const nad = vmiEvents(undefined, pending.status);
  assert.deepEqual(
    nad.map((e) => [e.type, e.reason]),
    [['Warning', 'NetworkAttachmentDefinitionNotFound']],
  );
  assert.match(nad[0]!.message, /NetworkAttachmentDefinition apps\/blue-net not found/u);
  assert.deepEqual(vmiEvents(pending.status, pending.status), []);
  // A bad annotation on the pod: a Warning naming it.
  const ignored = statusFromPod(
    running,
    pod('Running', { node: 'n1', launcher: '{"phase":"Running"', networkStatus: NETWORK_STATUS }),
  );
  assert.deepEqual(
    vmiEvents(running.status, ignored).map((e) => e.reason),
    ['InvalidPodAnnotation'],
  );
  // A new pod on another node is scheduled again, and wired again.
  const moved = statusFromPod(
    running,
    pod('Running', { node: 'n2', uid: 'pod-uid-2', launcher: report([masq]), networkStatus: NETWORK_STATUS }),
  );
  assert.deepEqual(
    vmiEvents(running.status, moved).map((e) => e.reason),
    ['Scheduled', 'NetworkReady'],
  );
});

const RED_NAMES = linkNamesFor({ name: 'red', multus: { networkName: 'red-net' } });
const red: NicStatus = {
  name: 'red',
  binding: 'bridge',
  podInterface: RED_NAMES.podIf,
  bridge: RED_NAMES.bridge,
  tap: RED_NAMES.tap,
  mac: '02:00:00:00:00:03',
  mtu: 1500,
  ips: [],
  dhcp: false,
  leased4: false,
  leased6: false,
};

test('events: interface hotplug on the running VM, one per change, NetworkReady not told again', () => {
  const at = (nics: NicStatus[]) =>
    pod('Running', { node: 'n1', launcher: report(nics), networkStatus: NETWORK_STATUS });
  const plugged = { ...red, hotplugged: true };
  const { events } = history([
    at([leased4, blue]),
    at([leased4, blue, plugged]),
    at([leased4, blue, plugged]),
    at([leased4, blue, { ...plugged, linkState: 'down' }]),
    at([leased4, blue, { ...plugged, linkState: 'down', removing: true }]),
    at([leased4, blue]),
    at([leased4, { ...blue, linkState: 'up' }]),
  ]);
  assert.deepEqual(
    events[0]!.map((e) => e.reason),
    ['Scheduled', 'NetworkReady', 'Started', 'Leased'],
  );
  assert.deepEqual(events.slice(1), [
    [
      {
        type: 'Normal',
        reason: 'InterfaceHotplugged',
        message:
          `red plugged: red (bridge, apps/red-net: ${RED_NAMES.podIf} -> ${RED_NAMES.bridge} -> ` + `${RED_NAMES.tap})`,
      },
    ],
    [],
    [{ type: 'Normal', reason: 'LinkStateChanged', message: 'red: link down' }],
    [{ type: 'Normal', reason: 'InterfaceUnplugging', message: 'red: waiting for the guest to release it' }],
    [{ type: 'Normal', reason: 'InterfaceUnplugged', message: 'red unplugged' }],
    [],
  ]);
  assert.equal(events.flat().filter((e) => e.reason === 'NetworkReady').length, 1, 'NetworkReady once per pod');
});

test('events: hotplug only within one launcher pod, and only from wiring on both sides', () => {
  const wiring = (nic: NicStatus) => ({ ...nic, network: 'apps/x', model: 'virtio' as const, podIps: [], ports: [] });
  const status = (nics: Obj[], uid = 'pod-uid-1', extra: Obj = {}): VmiStatus => ({
    phase: 'Running',
    interfaces: [],
    nodeName: 'n1',
    launcherPod: { name: 'virt-launcher-vm1-abcde', uid },
    virtnet: { nics, steps: [] },
    ...extra,
  });
  const before = status([wiring(masq), wiring(blue)]);
  const reasons = (prev: VmiStatus | undefined, next: VmiStatus) => vmiEvents(prev, next).map((e) => e.reason);
  assert.deepEqual(
    reasons(before, status([wiring(masq), wiring(blue), wiring({ ...red, hotplugged: true })], 'pod-uid-2')),
    ['Scheduled', 'NetworkReady'],
    'a new pod wires its NICs afresh: no hotplug, no unplug',
  );
  assert.deepEqual(
    reasons(before, status([wiring(masq)], 'pod-uid-2')),
    ['Scheduled', 'NetworkReady'],
    'nor is a NIC the new pod lacks unplugged',
  );
  assert.deepEqual(
    reasons(before, status([wiring(masq), wiring(blue), wiring(red)])),
    [],
    'a NIC that is new but not hotplugged (a late report) is not a plug',
  );
  assert.deepEqual(
    reasons(before, { phase: 'Running', interfaces: [], launcherPod: before.launcherPod! }),
    [],
    'a status without the wiring unplugs nothing',
  );
  assert.deepEqual(reasons(before, status([wiring({ ...masq, linkState: 'up' }), wiring(blue)])), [], 'unset is up');
  assert.deepEqual(vmiEvents(before, status([wiring({ ...masq, linkState: 'down' }), wiring(blue)])), [
    { type: 'Normal', reason: 'LinkStateChanged', message: 'default: link down' },
  ]);
  const down = status([wiring({ ...masq, linkState: 'down' }), wiring(blue)]);
  assert.deepEqual(
    vmiEvents(down, before),
    [{ type: 'Normal', reason: 'LinkStateChanged', message: 'default: link up' }],
    'and back up, from unset',
  );
  const both = vmiEvents(
    before,
    status([wiring(masq), wiring({ ...blue, removing: true }), wiring({ ...red, hotplugged: true })]),
  ).map((e) => e.reason);
  assert.deepEqual(both, ['InterfaceUnplugging', 'InterfaceHotplugged'], 'in the order of the NICs');
  const failed = status([wiring(masq)], 'pod-uid-1', { phase: 'Failed', reason: 'qemu exited' });
  assert.deepEqual(reasons(before, failed), ['Failed', 'InterfaceUnplugged'], 'after the phase, before leases');
});

/** An EventApi in memory, answering as the API server would. */
function memoryApi(): EventApi & { events: Map<string, CoreEvent>; fail: Error | undefined } {
  const api = {
    events: new Map<string, CoreEvent>(),
    fail: undefined as Error | undefined,
    async createEvent(namespace: string, event: CoreEvent) {
      if (api.fail) throw api.fail;
      assert.equal(namespace, event.metadata.namespace);
      if (api.events.has(event.metadata.name)) throw Object.assign(new Error('exists'), { code: 409 });
      api.events.set(event.metadata.name, structuredClone(event));
    },
    async patchEvent(_namespace: string, name: string, patch: { count: number; lastTimestamp: string }) {
      const e = api.events.get(name);
      if (!e) throw Object.assign(new Error('not found'), { code: 404 });
      Object.assign(e, patch);
    },
  };
  return api;
}

test(
  'the recorder: core/v1 Events about the VMI; a repeat counts on the first; an expired one is made anew; failures ' +
    'never throw',
  async () => {
    const api = memoryApi();
    let clock = new Date('2026-11-28T12:00:00.250Z');
    const rec = new EventRecorder(api, pino({ level: 'silent' }), {
      instance: 'ctl-0',
      defaultApiVersion: 'virtnet.io/v1alpha1',
      defaultKind: 'VirtualMachineInstance',
      now: () => clock,
    });
    const subject = { metadata: { name: 'vm1', namespace: 'apps', uid: 'uid-1', resourceVersion: '7' } };
    const fail: VmiEvent = { type: 'Warning', reason: 'FailedCreate', message: 'Error creating launcher pod: quota' };
    await rec.record(subject, fail);
    const [first] = [...api.events.values()];
    assert.deepEqual(
      { ...first!, metadata: undefined },
      {
        metadata: undefined,
        involvedObject: {
          apiVersion: 'virtnet.io/v1alpha1',
          kind: 'VirtualMachineInstance',
          name: 'vm1',
          namespace: 'apps',
          uid: 'uid-1',
          resourceVersion: '7',
        },
        type: 'Warning',
        reason: 'FailedCreate',
        message: 'Error creating launcher pod: quota',
        count: 1,
        firstTimestamp: '2026-11-28T12:00:00Z',
        lastTimestamp: '2026-11-28T12:00:00Z',
        source: { component: 'virtnet-controller' },
        reportingComponent: 'virtnet-controller',
        reportingInstance: 'ctl-0',
      },
    );
    // client-go's name: <object>.<UnixNano in hex>.
    assert.equal(
      first!.metadata.name,
      `vm1.${(BigInt(Date.parse('2026-11-28T12:00:00.250Z')) * 1_000_000n).toString(16)}`,
    );
    clock = new Date('2026-11-28T12:01:30Z');
    await rec.record(subject, fail);
    assert.equal(api.events.size, 1, 'the repeat is counted, not added');
    assert.deepEqual(
      [
        first!.metadata.name,
        api.events.get(first!.metadata.name)!.count,
        api.events.get(first!.metadata.name)!.lastTimestamp,
      ],
      [first!.metadata.name, 2, '2026-11-28T12:01:30Z'],
    );
    await rec.record(subject, { ...fail, message: 'Error creating launcher pod: other' });
    assert.equal(api.events.size, 2, 'another message is another event');
    api.events.delete(first!.metadata.name); // expired (the API server's event TTL)
    await rec.record(subject, fail);
    assert.equal(
      [...api.events.values()].filter((e) => e.reason === 'FailedCreate' && e.message.endsWith('quota')).length,
      1,
      'made anew',
    );
    await rec.record(subject, { type: 'Normal', reason: 'Scheduled', message: 'x'.repeat(5000) });
    const long = [...api.events.values()].find((e) => e.reason === 'Scheduled')!;
    assert.equal(long.message.length, MAX_MESSAGE);
    assert.match(long.message, /x\.\.\.$/u);
    api.fail = new Error('connection refused');
    await rec.record(subject, { type: 'Normal', reason: 'Started', message: 'the VM is running' }); // resolves: events are best-effort
    assert.equal(
      [...api.events.values()].some((e) => e.reason === 'Started'),
      false,
    );
  },
);

test(
  'describe: conditions as a table; on a cluster the node and launcher pod in place of netns and pid; topology ' +
    'titles the pod',
  () => {
    const st = statusFromPod(
      vmi(),
      pod('Running', { node: 'n1', launcher: report([leased4, blue]), networkStatus: NETWORK_STATUS }),
    );
    const stamped: VmiStatus = {
      ...st,
      conditions: st.conditions!.map((c) => ({ ...c, lastTransitionTime: '2026-11-28T11:58:00Z' })),
    };
    const text = describeVmi(
      { metadata: { name: 'vm1', namespace: 'apps', creationTimestamp: '2026-11-28T11:57:00Z' }, status: stamped },
      new Date(NOW),
    );
    assert.match(text, /^Node: +n1$/mu);
    assert.match(text, /^Launcher Pod: +virt-launcher-vm1-abcde$/mu);
    assert.doesNotMatch(text, /^Netns:/mu);
    const lines = text.split('\n');
    const at = lines.indexOf('Conditions:');
    assert.ok(at > 0, text);
    assert.deepEqual(lines.slice(at + 1, at + 5), [
      '  Type          Status  Reason            Since  Message',
      '  ----          ------  ------            -----  -------',
      '  Ready         False   LeasePending      2m     the guest has not taken its lease on default',
      '  Synchronized  True    LauncherPodFound  2m',
    ]);
    assert.match(text, /^ {2}default:\n {4}Network: +pod$/mu);
    assert.match(text, /^ {4}Lease: +leased \(IPv4\)$/mu);
    // Standalone: no transition time is known, so Since is "-"; no conditions at all: <none>.
    const bare = describeVmi(
      {
        metadata: { name: 'db', namespace: 'apps' },
        status: {
          phase: 'Running',
          interfaces: [],
          conditions: [{ type: 'Ready', status: 'True', reason: 'GuestReady' }],
        },
      },
      new Date(NOW),
    );
    assert.match(bare, /^ {2}Ready {2}True {4}GuestReady {2}-$/mu);
    assert.match(
      describeVmi({ metadata: { name: 'db', namespace: 'apps' } }, new Date(NOW)),
      /^Conditions: +<none>$/mu,
    );
    // Events as kubectl lists them: oldest first, a repeat as "AGE (xN over FIRST)"; standalone has none to show.
    const events = [
      {
        type: 'Warning',
        reason: 'FailedCreate',
        message: 'quota ',
        count: 3,
        firstTimestamp: '2026-11-28T11:50:00Z',
        lastTimestamp: '2026-11-28T11:59:30Z',
        source: { component: 'virtnet-controller' },
      },
      {
        type: 'Normal',
        reason: 'Scheduled',
        message: 'on n1',
        count: 1,
        firstTimestamp: '2026-11-28T11:58:00Z',
        lastTimestamp: '2026-11-28T11:58:00Z',
        source: { component: 'virtnet-controller' },
      },
    ];
    const withEvents = describeVmi(
      { metadata: { name: 'vm1', namespace: 'apps' }, status: st },
      new Date(NOW),
      events,
    ).split('\n');
    assert.deepEqual(withEvents.slice(withEvents.indexOf('Events:')), [
      'Events:',
      '  Type     Reason        Age                From                Message',
      '  ----     ------        ----               ----                -------',
      '  Normal   Scheduled     2m                 virtnet-controller  on n1',
      '  Warning  FailedCreate  30s (x3 over 10m)  virtnet-controller  quota',
      '',
    ]);
    assert.match(
      describeVmi({ metadata: { name: 'vm1', namespace: 'apps' }, status: st }, new Date(NOW), []),
      /^Events: +<none>\n$/mu,
    );
    assert.doesNotMatch(text, /^Events:/mu);
    const view = { metadata: { name: 'vm1', namespace: 'apps' }, status: st };
    assert.match(topologyText(view), /┌─ pod virt-launcher-vm1-abcde on n1 ─*┐/u);
    assert.match(topologySvg(view), /pod virt-launcher-vm1-abcde on n1/u);
  },
);
