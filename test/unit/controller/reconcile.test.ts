/**
 * The cluster controller's decisions, as values: launcher pods against golden manifests, VMI and VM reconciles as
 * tables.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { golden } from '../launcher/golden-helper.ts';
import { launcherPod, LAUNCHER_STATUS_ANNOTATION } from '../../../controller/render/pod.ts';
import { clusterReservedCidrs } from '../../../controller/control/node-subnets.ts';
import { reconcileVmi, type VmiObservation } from '../../../controller/control/reconcile.ts';
import { reconcileVm } from '../../../controller/control/reconcile-vm.ts';
import { NETWORK_STATUS_ANNOTATION } from '../../../controller/status/pod.ts';
import { vmiEvents } from '../../../controller/control/vmi-events.ts';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), 'golden');
/** Fixtures built loosely: the code under test checks them as it checks the API server's objects. */
type Obj = any;
const NOW = '2026-11-28T12:00:00Z';
const BOOT = {
  kernel: '/var/cache/virtnet/guest/vmlinuz',
  initrd: '/var/cache/virtnet/guest/initrd.img',
  cmdline: 'console=ttyS0',
};

function vmi(spec: Obj = {}, extra: Obj = {}): Obj {
  return {
    apiVersion: 'virtnet.io/v1alpha1',
    kind: 'VirtualMachineInstance',
    metadata: {
      name: 'vm1',
      namespace: 'apps',
      uid: 'uid-1',
      resourceVersion: '7',
      creationTimestamp: '2026-11-28T11:59:00Z',
      labels: { app: 'web' },
    },
    spec: {
      domain: {
        devices: {
          interfaces: [
            { name: 'default', masquerade: {}, ports: [{ name: 'http', port: 80, protocol: 'TCP' }], model: 'virtio' },
          ],
        },
        resources: { requests: { memory: '256Mi' } },
      },
      networks: [{ name: 'default', pod: {} }],
      ...spec,
    },
    ...extra,
  };
}

function observe(v: Obj, pods: Obj[] = [], nads: string[] = []): VmiObservation {
  return {
    vmi: v,
    pods,
    nadExists: (ns, n) => nads.includes(`${ns}/${n}`),
    image: 'virtnet:test',
    serviceCIDRs: ['10.96.0.0/12'],
    testGuest: BOOT,
    allowedHostPaths: ['/var/lib/virtnet/images'],
  };
}

function pod(
  phase: string | undefined,
  o: { node?: string; annotations?: Obj; name?: string; created?: string; uid?: string } = {},
): Obj {
  return {
    metadata: {
      name: o.name ?? 'virt-launcher-vm1-abcde',
      namespace: 'apps',
      uid: o.uid ?? 'pod-uid-1',
      creationTimestamp: o.created ?? '2026-11-28T11:59:01Z',
      labels: { 'virtnet.io/vmi': 'vm1', 'virtnet.io/created-by': 'uid-1' },
      annotations: o.annotations ?? {},
    },
    spec: { ...(o.node && { nodeName: o.node }) },
    status: phase ? { phase } : {},
  };
}

const RUNNING_ANNOTATIONS = {
  [NETWORK_STATUS_ANNOTATION]: JSON.stringify([
    { name: 'virtnet', interface: 'eth0', ips: ['10.244.1.5'], default: true, dns: {} },
  ]),
  [LAUNCHER_STATUS_ANNOTATION]: JSON.stringify({
    phase: 'Running',
    nics: [
      {
        name: 'default',
        binding: 'masquerade',
        podInterface: 'eth0',
        bridge: 'k6t-eth0',
        tap: 'tap0',
        mac: '02:00:00:11:22:33',
        mtu: 1500,
        ips: ['10.0.2.2/24'],
        dhcp: true,
        leased4: true,
        leased6: false,
      },
    ],
    steps: [],
  }),
};

test(
  'launcher pods against golden manifests: masquerade on the pod network; multus default + secondary with ' +
    'scheduling constraints',
  () => {
    golden(
      'launcher-pod-masquerade.json',
      `${JSON.stringify(launcherPod(vmi() as never, { image: 'virtnet:test', boot: BOOT, serviceCIDRs: ['10.96.0.0/12'] }), null, 2)}\n`,
      GOLDEN,
    );
    const multus = vmi({
      domain: {
        devices: {
          interfaces: [
            { name: 'main', bridge: {} },
            { name: 'blue', bridge: {}, macAddress: '02:aa:00:00:00:01' },
          ],
        },
        cpu: { cores: 2 },
      },
      networks: [
        { name: 'main', multus: { networkName: 'infra/fast', default: true } },
        { name: 'blue', multus: { networkName: 'blue-net' } },
      ],
      nodeSelector: { 'kubernetes.io/hostname': 'node-a' },
      tolerations: [{ key: 'vms', operator: 'Exists' }],
      hostname: 'vm1',
      subdomain: 'lab',
    });
    golden(
      'launcher-pod-multus.json',
      `${JSON.stringify(launcherPod(multus as never, { image: 'virtnet:test', boot: { firmware: 'bios' }, disks: [{ name: 'root', file: '/images/vm1.qcow2', format: 'qcow2', device: 'disk', bus: 'virtio' }], serviceCIDRs: [] }), null, 2)}\n`,
      GOLDEN,
    );
  },
);

const VMI_CASES: Array<{ name: string; obs: VmiObservation; want: (a: ReturnType<typeof reconcileVmi>) => void }> = [
  {
    name: 'a new VMI gets its pod and Pending',
    obs: observe(vmi()),
    want: (a) => {
      assert.deepEqual(
        a.map((x) => x.type),
        ['createPod', 'setStatus'],
      );
      assert.equal(a[1]!.type === 'setStatus' && a[1]!.status.phase, 'Pending');
    },
  },
  {
    name: 'an unscheduled pod: Scheduling',
    obs: observe(vmi(), [pod('Pending')]),
    want: (a) => assert.equal(a[0]!.type === 'setStatus' && a[0]!.status.phase, 'Scheduling'),
  },
  {
    name: 'a pod on a node, not running yet: still Scheduling, with the node',
    obs: observe(vmi(), [pod('Pending', { node: 'n1' })]),
    want: (a) => {
      assert.equal(a[0]!.type === 'setStatus' && a[0]!.status.phase, 'Scheduling');
      assert.equal(a[0]!.type === 'setStatus' && a[0]!.status.nodeName, 'n1');
    },
  },
  {
    name: 'a running pod whose VM is not up yet: Scheduled',
    obs: observe(vmi(), [pod('Running', { node: 'n1' })]),
    want: (a) => assert.equal(a[0]!.type === 'setStatus' && a[0]!.status.phase, 'Scheduled'),
  },
  {
    name: 'a running VMI whose NAD was deleted keeps its pod and runs on',
    obs: observe(
      vmi(
        {
          domain: {
            devices: {
              interfaces: [
                { name: 'default', bridge: {} },
                { name: 'blue', bridge: {} },
              ],
            },
          },
          networks: [
            { name: 'default', pod: {} },
            { name: 'blue', multus: { networkName: 'blue-net' } },
          ],
        },
        { status: { phase: 'Running', interfaces: [] } },
      ),
      [pod('Running', { node: 'n1', annotations: RUNNING_ANNOTATIONS })],
    ),
    want: (a) => {
      assert.deepEqual(
        a.map((x) => x.type),
        ['setStatus'],
      );
      assert.equal(a[0]!.type === 'setStatus' && a[0]!.status.phase, 'Running');
    },
  },
  {
    name: 'a pod gone while Scheduling: Failed, no second pod',
    obs: observe(vmi({}, { status: { phase: 'Scheduling', interfaces: [] } })),
    want: (a) =>
      assert.deepEqual(
        a.map((x) => x.type === 'setStatus' && x.status.phase),
        ['Failed'],
      ),
  },
  {
    name: 'a running launcher: Running, interfaces from network-status and the report, Ready',
    obs: observe(vmi(), [pod('Running', { node: 'n1', annotations: RUNNING_ANNOTATIONS })]),
    want: (a) => {
      const s = a[0]!.type === 'setStatus' ? a[0]!.status : assert.fail('no status');
      assert.equal(s.phase, 'Running');
      assert.deepEqual(s.interfaces, [
        {
          name: 'default',
          ipAddress: '10.244.1.5',
          ipAddresses: ['10.244.1.5'],
          mac: '02:00:00:11:22:33',
          infoSource: 'domain, multus-status',
          podInterfaceName: 'eth0',
          linkState: 'up',
          leased: true,
        },
      ]);
      assert.equal(s.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
      assert.equal(s.conditions?.[0]?.lastTransitionTime, NOW);
    },
  },
  {
    name: 'a missing NAD: Pending with a condition naming it, no pod',
    obs: observe(
      vmi({
        domain: {
          devices: {
            interfaces: [
              { name: 'default', bridge: {} },
              { name: 'blue', bridge: {} },
            ],
          },
        },
        networks: [
          { name: 'default', pod: {} },
          { name: 'blue', multus: { networkName: 'blue-net' } },
        ],
      }),
    ),
    want: (a) => {
      assert.deepEqual(
        a.map((x) => x.type),
        ['setStatus'],
      );
      const s = a[0]!.type === 'setStatus' ? a[0]!.status : assert.fail();
      assert.equal(s.phase, 'Pending');
      assert.deepEqual(s.conditions?.[0] && [s.conditions[0].reason, s.conditions[0].message], [
        'NetworkAttachmentDefinitionNotFound',
        'spec.networks[1].multus.networkName: NetworkAttachmentDefinition apps/blue-net not found; the VMI starts ' +
          'when it exists',
      ]);
    },
  },
  {
    name: 'an invalid spec: Failed with the problems, no pod',
    obs: observe(vmi({ domain: { devices: { interfaces: [{ name: 'default', sriov: {} }] } } })),
    want: (a) => {
      const s = a[0]!.type === 'setStatus' ? a[0]!.status : assert.fail();
      assert.equal(s.phase, 'Failed');
      assert.match(s.reason!, /binding sriov is not implemented/u);
    },
  },
  {
    name: 'a containerDisk: Failed, the source named',
    obs: observe(
      vmi({
        volumes: [{ name: 'root', containerDisk: { image: 'x' } }],
        domain: { devices: { disks: [{ name: 'root', disk: {} }], interfaces: [{ name: 'default', masquerade: {} }] } },
      }),
    ),
    want: (a) => {
      const s = a[0]!.type === 'setStatus' ? a[0]!.status : assert.fail();
      assert.equal(s.phase, 'Failed');
      assert.match(
        s.reason!,
        /spec.volumes\[0\].containerDisk: containerDisk volumes are pulled by `virtnet up`.*cannot provide them yet/u,
      );
    },
  },
  {
    name: 'a pod gone under a running VMI: Failed, IPs kept',
    obs: observe(vmi({}, { status: { phase: 'Running', interfaces: [{ name: 'default', ipAddress: '10.244.1.5' }] } })),
    want: (a) => {
      const s = a[0]!.type === 'setStatus' ? a[0]!.status : assert.fail();
      assert.deepEqual(
        [s.phase, s.conditions?.[0]?.reason, s.interfaces[0]?.ipAddress],
        ['Failed', 'LauncherPodGone', '10.244.1.5'],
      );
    },
  },
  {
    name: 'two pods: the newer is a duplicate and goes',
    obs: observe(vmi(), [
      pod('Pending', { name: 'b', created: '2026-11-28T11:59:05Z' }),
      pod('Pending', { name: 'a' }),
    ]),
    want: (a) => assert.deepEqual(a[0], { type: 'deletePod', name: 'b' }),
  },
  {
    name: 'a VMI being deleted: its pods go',
    obs: observe(vmi({}, { metadata: { ...vmi().metadata, deletionTimestamp: NOW } }), [pod('Running')]),
    want: (a) => assert.deepEqual(a, [{ type: 'deletePod', name: 'virt-launcher-vm1-abcde' }]),
  },
  {
    name: 'a hostDisk outside the allowed directories: Failed, no pod (no node file becomes a mount)',
    obs: observe(
      vmi({
        volumes: [{ name: 'root', hostDisk: { path: '/etc/kubernetes/pki/ca.key', type: 'Disk' } }],
        domain: { devices: { disks: [{ name: 'root', disk: {} }], interfaces: [{ name: 'default', masquerade: {} }] } },
      }),
    ),
    want: (a) => {
      assert.deepEqual(
        a.map((x) => x.type),
        ['setStatus'],
      );
      assert.equal(a[0]!.type === 'setStatus' && a[0]!.status.conditions?.[0]?.reason, 'HostPathNotAllowed');
    },
  },
  {
    name: 'a path that climbs out of an allowed directory is refused too',
    obs: observe(
      vmi({
        volumes: [{ name: 'root', hostDisk: { path: '/var/lib/virtnet/images/../../../etc/shadow', type: 'Disk' } }],
        domain: { devices: { disks: [{ name: 'root', disk: {} }], interfaces: [{ name: 'default', masquerade: {} }] } },
      }),
    ),
    want: (a) => {
      // Refused either way, with no pod: by the spec's own rule (a normalised path) or, failing that, by the allowed
      // directories.
      assert.ok(!a.some((x) => x.type === 'createPod'));
      assert.equal(a[0]!.type === 'setStatus' && a[0]!.status.phase, 'Failed');
      assert.ok(
        ['InvalidSpec', 'HostPathNotAllowed'].includes(
          String(a[0]!.type === 'setStatus' && a[0]!.status.conditions?.[0]?.reason),
        ),
      );
    },
  },
  {
    name: "a masquerade subnet over a node's pod subnet, admitted without the webhook: Failed, the node named",
    obs: {
      ...observe(vmi()),
      reservedCidrs: clusterReservedCidrs([{ node: 'node-b', cidr: '10.0.0.0/16' }], ['10.96.0.0/12']),
    },
    want: (a) => {
      const s = a[0]!.type === 'setStatus' ? a[0]!.status : assert.fail();
      assert.equal(s.phase, 'Failed');
      assert.match(s.reason!, /vmNetworkCIDR.*10\.0\.2\.0\/24.*overlaps node "node-b"'s pod subnet 10\.0\.0\.0\/16/u);
    },
  },
  {
    name:
      'a hostDisk and a cloud-init ' +
      'volume: the launcher spec names ' +
      "the disk and carries the seed's " +
      "data, instance-id the VMI's uid",
    obs: observe(
      vmi({
        volumes: [
          { name: 'root', hostDisk: { path: '/var/lib/virtnet/images/vm1.qcow2', type: 'Disk' } },
          { name: 'ci', cloudInitNoCloud: { userData: '#cloud-config\n' } },
        ],
        domain: {
          devices: {
            disks: [{ name: 'root', disk: { bus: 'sata' }, bootOrder: 1 }],
            interfaces: [{ name: 'default', masquerade: {} }],
          },
        },
      }),
    ),
    want: (a) => {
      const p = a[0]!.type === 'createPod' ? a[0]!.pod : assert.fail('no pod');
      const spec = JSON.parse(p.metadata.annotations?.['virtnet.io/launcher-spec'] ?? '') as Obj;
      assert.deepEqual(spec.boot, { firmware: 'bios' });
      assert.deepEqual(spec.disks, [
        {
          name: 'root',
          device: 'disk',
          bus: 'sata',
          bootOrder: 1,
          file: '/var/lib/virtnet/images/vm1.qcow2',
          format: 'qcow2',
        },
      ]);
      assert.deepEqual(spec.cloudInit, {
        kind: 'noCloud',
        disk: { name: 'ci', device: 'disk', bus: 'virtio' },
        hostname: 'vm1',
        userDataBase64: Buffer.from('#cloud-config\n').toString('base64'),
        instanceId: 'uid-1',
      });
    },
  },
  {
    name: 'a hostDisk under an allowed directory gets its pod',
    obs: observe(
      vmi({
        volumes: [{ name: 'root', hostDisk: { path: '/var/lib/virtnet/images/vm1.img', type: 'Disk' } }],
        domain: { devices: { disks: [{ name: 'root', disk: {} }], interfaces: [{ name: 'default', masquerade: {} }] } },
      }),
    ),
    want: (a) => assert.equal(a[0]!.type, 'createPod'),
  },
  {
    name: 'a final VMI is left alone',
    obs: observe(vmi({}, { status: { phase: 'Succeeded', interfaces: [] } })),
    want: (a) => assert.deepEqual(a, []),
  },
];

for (const c of VMI_CASES) test(`reconcile VMI: ${c.name}`, () => c.want(reconcileVmi(c.obs, NOW)));

test('reconcile VMI is idempotent: the status it wrote yields no action; IPs do not flicker while the pod lives', () => {
  const running = pod('Running', { node: 'n1', annotations: RUNNING_ANNOTATIONS });
  const [first] = reconcileVmi(observe(vmi(), [running]), NOW);
  const written = vmi({}, { status: first!.type === 'setStatus' ? first!.status : undefined });
  assert.deepEqual(reconcileVmi(observe(written, [running]), '2026-11-28T12:05:00Z'), []);
  // The same pod, for a moment without network-status: the IPs stay.
  const blink = pod('Running', {
    node: 'n1',
    annotations: { [LAUNCHER_STATUS_ANNOTATION]: RUNNING_ANNOTATIONS[LAUNCHER_STATUS_ANNOTATION] },
  });
  assert.deepEqual(reconcileVmi(observe(written, [blink]), NOW), []);
  // A new pod (another uid) does not inherit the old IPs.
  const other = reconcileVmi(observe(written, [{ ...blink, metadata: { ...blink.metadata, uid: 'pod-uid-2' } }]), NOW);
  assert.equal(other[0]!.type === 'setStatus' && other[0]!.status.interfaces[0]!.ipAddress, undefined);
});

/**
 * A VMI whose launcher pod runs but which the schema now refuses (an upgrade tightened it; here a field of the wrong
 * type stands for the tightened rule): the pod is kept and the status follows it, the problem told once as a Warning.
 */
test('a running VMI the schema now refuses: pod kept, status from the pod, a Warning event, not Failed', () => {
  const created = reconcileVmi(observe(vmi()), NOW)[0];
  const manifest = created?.type === 'createPod' ? created.pod : assert.fail('no pod');
  const running = pod('Running', {
    node: 'n1',
    annotations: { ...manifest.metadata.annotations, ...RUNNING_ANNOTATIONS },
  });
  const [valid] = reconcileVmi(observe(vmi(), [running]), NOW);
  const before = valid?.type === 'setStatus' ? valid.status : assert.fail('no status');
  const refused = vmi({ domain: { ...vmi().spec.domain, cpu: { cores: 'two' } } }, { status: before });

  const actions = reconcileVmi(observe(refused, [running]), '2026-11-28T12:05:00Z');
  assert.deepEqual(
    actions.map((a) => a.type),
    ['setStatus'],
  );
  const after = actions[0]?.type === 'setStatus' ? actions[0].status : assert.fail();
  assert.equal(after.phase, 'Running');
  assert.deepEqual(after.interfaces, before.interfaces, "the pod's NICs, as while the spec was valid");
  const sync = after.conditions?.find((c) => c.type === 'Synchronized');
  assert.deepEqual([sync?.status, sync?.reason], ['False', 'InvalidSpec']);
  assert.match(sync?.message ?? '', /spec\.domain\.cpu\.cores.*virt-launcher-vm1-abcde and its VM run on/u);
  const events = vmiEvents(before, after);
  assert.deepEqual(
    events.map((e) => [e.type, e.reason]),
    [['Warning', 'InvalidSpec']],
  );
  // Level-based: the status it wrote yields nothing more, hence no second event.
  assert.deepEqual(reconcileVmi(observe({ ...refused, status: after }, [running]), '2026-11-28T12:10:00Z'), []);
  // The pod fails later: the VMI follows it.
  const failed = reconcileVmi(observe({ ...refused, status: after }, [{ ...running, status: { phase: 'Failed' } }]));
  assert.equal(failed[0]?.type === 'setStatus' && failed[0].status.phase, 'Failed');
});

test('a VMI the schema refuses with no pod: Failed InvalidSpec before its first pod, LauncherPodGone after', () => {
  const refused = (status?: Obj) => vmi({ domain: { ...vmi().spec.domain, cpu: { cores: 'two' } } }, { status });
  const first = reconcileVmi(observe(refused()), NOW);
  assert.deepEqual(
    first.map((a) => a.type === 'setStatus' && [a.status.phase, a.status.conditions?.[0]?.reason]),
    [['Failed', 'InvalidSpec']],
  );
  const gone = reconcileVmi(observe(refused({ phase: 'Running', interfaces: [] })), NOW);
  assert.deepEqual(
    gone.map((a) => a.type === 'setStatus' && [a.status.phase, a.status.conditions?.[0]?.reason]),
    [['Failed', 'LauncherPodGone']],
  );
});

const vm = (spec: Obj, status?: Obj): Obj => ({
  apiVersion: 'virtnet.io/v1alpha1',
  kind: 'VirtualMachine',
  metadata: { name: 'vm1', namespace: 'apps', uid: 'vm-uid' },
  spec: { ...spec, template: { metadata: { labels: { app: 'web' } }, spec: vmi().spec } },
  ...(status && { status }),
});
const ownedVmi = (phase?: string): Obj =>
  vmi(
    {},
    {
      metadata: { ...vmi().metadata, ownerReferences: [{ kind: 'VirtualMachine', name: 'vm1', uid: 'vm-uid' }] },
      ...(phase && { status: { phase, interfaces: [] } }),
    },
  );

test('reconcile VM by run strategy', () => {
  const types = (v: Obj, i?: Obj) => reconcileVm(v, i).map((a) => a.type);
  assert.deepEqual(types(vm({ running: true })), ['createVmi', 'setVmStatus']);
  const made = reconcileVm(vm({ runStrategy: 'Always' }), undefined)[0]!;
  assert.deepEqual(made.type === 'createVmi' && made.vmi.metadata.ownerReferences[0], {
    apiVersion: 'virtnet.io/v1alpha1',
    kind: 'VirtualMachine',
    name: 'vm1',
    uid: 'vm-uid',
    controller: true,
    blockOwnerDeletion: true,
  });
  assert.deepEqual(types(vm({ running: false }), ownedVmi('Running')), ['deleteVmi', 'setVmStatus']);
  assert.deepEqual(
    types(vm({ runStrategy: 'Always' }), ownedVmi('Failed')),
    ['deleteVmi', 'setVmStatus'],
    'Always remakes an ended VMI',
  );
  assert.deepEqual(
    types(vm({ runStrategy: 'RerunOnFailure' }), ownedVmi('Succeeded')),
    ['setVmStatus'],
    'RerunOnFailure leaves a success',
  );
  assert.deepEqual(types(vm({ runStrategy: 'Manual' })), ['setVmStatus']);
  assert.deepEqual(
    types(
      vm(
        { runStrategy: 'Once' },
        { printableStatus: 'Stopped', ready: false, created: false, runStrategy: 'Once', ranOnce: true },
      ),
    ),
    [],
    'Once runs once',
  );
  const foreign = reconcileVm(vm({ running: true }), vmi());
  assert.deepEqual(
    foreign.map((a) => a.type),
    ['setVmStatus'],
    'a VMI the VM does not own is never touched',
  );
  const noted = vm({ running: true }, foreign[0]!.type === 'setVmStatus' ? foreign[0]!.status : {});
  assert.deepEqual(reconcileVm(noted, vmi()), [], 'and its status is written once');
  const running = reconcileVm(vm({ running: true }), ownedVmi('Running'));
  assert.deepEqual(running[0]!.type === 'setVmStatus' && running[0]!.status, {
    printableStatus: 'Running',
    ready: true,
    created: true,
    runStrategy: 'Always',
  });
  assert.deepEqual(
    reconcileVm(
      vm({ running: true }, { printableStatus: 'Running', ready: true, created: true, runStrategy: 'Always' }),
      ownedVmi('Running'),
    ),
    [],
    'idempotent',
  );
});

/** The VM whose template is vmi()'s spec changed by `mutate`, with the status a running VMI gives it. */
const changedVm = (mutate: (spec: Obj) => void): Obj => {
  const v = vm({ running: true }, { printableStatus: 'Running', ready: true, created: true, runStrategy: 'Always' });
  mutate(v.spec.template.spec);
  return v;
};
const addRed = (s: Obj) => {
  s.domain.devices.interfaces.push({ name: 'red', bridge: {} });
  s.networks.push({ name: 'red', multus: { networkName: 'red-net' } });
};

test('reconcile VM LiveUpdate: a template that adds an interface updates the running VMI with its spec', () => {
  const v = changedVm(addRed);
  const actions = reconcileVm(v, ownedVmi('Running'));
  assert.deepEqual(actions, [{ type: 'updateVmiSpec', name: 'vm1', spec: v.spec.template.spec }]);
  const updated = { ...ownedVmi('Running'), spec: structuredClone(v.spec.template.spec) };
  assert.deepEqual(reconcileVm(v, updated), [], 'idempotent once the VMI has the template spec');
});

test('reconcile VM LiveUpdate: state absent and link state reach the running VMI', () => {
  const unplugged = changedVm(addRed);
  const running = { ...ownedVmi('Running'), spec: structuredClone(unplugged.spec.template.spec) };
  unplugged.spec.template.spec.domain.devices.interfaces[1].state = 'absent';
  assert.deepEqual(reconcileVm(unplugged, running), [
    { type: 'updateVmiSpec', name: 'vm1', spec: unplugged.spec.template.spec },
  ]);
  const down = changedVm((s) => {
    s.domain.devices.interfaces[0].state = 'down';
  });
  assert.deepEqual(
    reconcileVm(down, ownedVmi('Running')).map((a) => a.type),
    ['updateVmiSpec'],
    'link down',
  );
  const pending = reconcileVm(changedVm(addRed), ownedVmi());
  assert.deepEqual(
    pending.map((a) => a.type),
    ['updateVmiSpec', 'setVmStatus'],
    'a VMI not yet running is updated too',
  );
});

test('reconcile VM LiveUpdate: a change the VMI cannot take live waits for a restart, told in status', () => {
  const bigger = changedVm((s) => {
    s.domain.resources.requests.memory = '512Mi';
  });
  const actions = reconcileVm(bigger, ownedVmi('Running'));
  assert.equal(actions.length, 1);
  const [a] = actions;
  assert.equal(a!.type, 'setVmStatus');
  const status = a!.type === 'setVmStatus' ? a!.status : undefined;
  assert.match(status?.restartRequired ?? '', /^spec\.domain\.resources cannot change on a running VMI/u);
  assert.deepEqual(reconcileVm({ ...bigger, status }, ownedVmi('Running')), [], 'written once');
  const mixed = changedVm((s) => {
    addRed(s);
    s.domain.resources.requests.memory = '512Mi';
  });
  assert.deepEqual(
    reconcileVm({ ...mixed, status }, ownedVmi('Running')),
    [],
    'a clash holds back the live part too: the VMI is never half updated',
  );
  const cleared = reconcileVm({ ...bigger, status }, { ...ownedVmi('Running'), spec: bigger.spec.template.spec });
  assert.deepEqual(
    cleared.map((x) => x.type === 'setVmStatus' && x.status.restartRequired),
    [undefined],
    'restartRequired goes once the VMI matches (its next start)',
  );
  assert.ok(cleared[0]!.type === 'setVmStatus' && !('restartRequired' in cleared[0]!.status));
});

test('reconcile VM LiveUpdate: a VMI being deleted, ended or not owned is not updated', () => {
  const v = changedVm(addRed);
  const deleting = ownedVmi('Running');
  deleting.metadata.deletionTimestamp = '2026-11-28T12:00:00Z';
  assert.deepEqual(
    reconcileVm(v, deleting).map((a) => a.type),
    ['setVmStatus'],
    'being deleted',
  );
  for (const phase of ['Failed', 'Succeeded']) {
    const types = reconcileVm(v, ownedVmi(phase)).map((a) => a.type);
    assert.ok(!types.includes('updateVmiSpec'), `${phase}: ${types}`);
  }
  const manual = changedVm(addRed);
  manual.spec = { ...manual.spec, running: undefined, runStrategy: 'Manual' };
  assert.ok(
    !reconcileVm(manual, ownedVmi('Failed'))
      .map((a) => a.type)
      .includes('updateVmiSpec'),
    'an ended VMI that is not remade is left too',
  );
  const halted = changedVm(addRed);
  halted.spec = { ...halted.spec, running: false };
  assert.deepEqual(
    reconcileVm(halted, ownedVmi('Running')).map((a) => a.type),
    ['deleteVmi', 'setVmStatus'],
    'a VMI about to be deleted',
  );
  const foreign = reconcileVm(v, vmi());
  assert.deepEqual(
    foreign.map((a) => a.type),
    ['setVmStatus'],
    'not owned: only the VM status',
  );
  const noted = { ...v, status: foreign[0]!.type === 'setVmStatus' ? foreign[0]!.status : {} };
  assert.deepEqual(reconcileVm(noted, vmi()), [], 'and nothing at all once it is noted');
  const unreadable = { ...ownedVmi('Running'), spec: { domain: 'x' } };
  assert.deepEqual(reconcileVm(v, unreadable), [], 'a VMI the schema refuses is not read');
});
