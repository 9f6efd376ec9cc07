/**
 * launcher/plan/hotplug.ts: what a new spec.json asks of a running launcher (liveActions: the NICs to plug,
 * unplug and set up or down, or a LiveChangeError naming every field that cannot change live), and the index a
 * hot-plugged NIC takes (lowestFreeIndex). Pure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LiveChangeError, liveActions, lowestFreeIndex } from '../../../launcher/plan/hotplug.ts';
import { parseLauncherSpec, type InterfaceSpec, type LauncherSpec, type NetworkSpec } from '../../../launcher/spec.ts';
import type { NicPlan } from '../../../launcher/plan/types.ts';

type Wired = Pick<NicPlan, 'name' | 'linkState'>;

const POD_NET: NetworkSpec = { name: 'default', pod: {} };
const BLUE_NET: NetworkSpec = { name: 'blue', multus: { networkName: 'default/blue-net' } };
const RED_NET: NetworkSpec = { name: 'red', multus: { networkName: 'default/red-net' } };
const GREEN_NET: NetworkSpec = { name: 'green', multus: { networkName: 'default/green-net' } };

const DEFAULT_IF: InterfaceSpec = { name: 'default', masquerade: {} };
const BLUE_IF: InterfaceSpec = { name: 'blue', bridge: {}, macAddress: '02:00:00:00:00:0b' };
const RED_IF: InterfaceSpec = { name: 'red', bridge: {} };
const GREEN_IF: InterfaceSpec = { name: 'green', bridge: {}, model: 'e1000e' };

/** A running VM's spec: the pod network and blue, as plan.test.ts builds its specs. */
function spec(
  interfaces: InterfaceSpec[] = [DEFAULT_IF, BLUE_IF],
  networks: NetworkSpec[] = [POD_NET, BLUE_NET, RED_NET, GREEN_NET],
  over: Partial<LauncherSpec> = {},
): LauncherSpec {
  return {
    name: 'vm1',
    namespace: 'default',
    memoryMiB: 256,
    cpus: 1,
    interfaces,
    networks,
    boot: { kernel: '/boot/vmlinuz' },
    ...over,
  };
}

/** NICs as the running launcher has them wired. */
function wired(...names: Array<string | [string, 'up' | 'down']>): Wired[] {
  return names.map((n) => (typeof n === 'string' ? { name: n, linkState: 'up' } : { name: n[0], linkState: n[1] }));
}

const NOTHING = { plug: [], unplug: [], link: [] };
const CURRENT = spec();
const WIRED = wired('default', 'blue');

/** The LiveChangeError liveActions throws, or a failure when it returns. */
function refusal(current: LauncherSpec, next: LauncherSpec, nics: Wired[] = WIRED): LiveChangeError {
  try {
    const out = liveActions(current, next, nics);
    assert.fail(`accepted: ${JSON.stringify(out)}`);
  } catch (e) {
    if (!(e instanceof LiveChangeError)) throw e;
    return e;
  }
}

/** The fields a LiveChangeError names, in its order. */
function named(e: LiveChangeError): string[] {
  const m = /^cannot change on a running VM: (.*); only interfaces can be added, set absent, up or down$/u.exec(
    e.message,
  );
  assert.ok(m, `unexpected message: ${e.message}`);
  return m[1]!.split(', ');
}

test('the same spec with every NIC wired asks for nothing', () => {
  assert.deepEqual(liveActions(CURRENT, spec(), WIRED), NOTHING);
});

test('new interfaces are plugged, in the order of the new spec, whole', () => {
  const next = spec([DEFAULT_IF, GREEN_IF, BLUE_IF, RED_IF]);
  const out = liveActions(CURRENT, next, WIRED);
  assert.deepEqual(out, { plug: [GREEN_IF, RED_IF], unplug: [], link: [] });
  // The interface as the new spec gives it, not a copy of a part of it.
  assert.equal(out.plug[0]!.model, 'e1000e');
});

test('a new interface that comes down is plugged (its link state is part of what is plugged)', () => {
  const red: InterfaceSpec = { ...RED_IF, state: 'down' };
  assert.deepEqual(liveActions(CURRENT, spec([DEFAULT_IF, BLUE_IF, red]), WIRED), {
    plug: [red],
    unplug: [],
    link: [],
  });
});

test('an interface of the spec that is not wired (a plug that failed) is plugged again', () => {
  assert.deepEqual(liveActions(CURRENT, spec(), wired('default')), { plug: [BLUE_IF], unplug: [], link: [] });
});

test('state: absent unplugs a wired NIC, and asks nothing of one already gone', () => {
  const next = spec([DEFAULT_IF, { ...BLUE_IF, state: 'absent' }]);
  assert.deepEqual(liveActions(CURRENT, next, WIRED), { plug: [], unplug: ['blue'], link: [] });
  assert.deepEqual(liveActions(CURRENT, next, wired('default')), NOTHING);
});

test('state: absent with other fields changed unplugs, refusing nothing: the NIC goes anyway', () => {
  const next = spec([DEFAULT_IF, { ...BLUE_IF, macAddress: '02:00:00:00:00:ff', model: 'e1000', state: 'absent' }]);
  assert.deepEqual(liveActions(CURRENT, next, WIRED), { plug: [], unplug: ['blue'], link: [] });
});

test('a wired NIC the new spec no longer names is unplugged', () => {
  assert.deepEqual(liveActions(CURRENT, spec([DEFAULT_IF]), WIRED), { plug: [], unplug: ['blue'], link: [] });
  // Every one of them, in the order they are wired.
  const three = wired('default', 'red', 'blue');
  assert.deepEqual(liveActions(spec([DEFAULT_IF, RED_IF, BLUE_IF]), spec([DEFAULT_IF]), three), {
    plug: [],
    unplug: ['red', 'blue'],
    link: [],
  });
});

test('absent NICs are unplugged before the ones the spec dropped, each once', () => {
  const current = spec([DEFAULT_IF, RED_IF, BLUE_IF]);
  const next = spec([DEFAULT_IF, { ...BLUE_IF, state: 'absent' }]);
  assert.deepEqual(liveActions(current, next, wired('default', 'red', 'blue')), {
    plug: [],
    unplug: ['blue', 'red'],
    link: [],
  });
});

test('state: down sets the link of a wired NIC that is up down', () => {
  const next = spec([DEFAULT_IF, { ...BLUE_IF, state: 'down' }]);
  assert.deepEqual(liveActions(CURRENT, next, WIRED), {
    plug: [],
    unplug: [],
    link: [{ name: 'blue', state: 'down' }],
  });
});

test('state: up, or no state, sets the link of a wired NIC that is down up', () => {
  const current = spec([DEFAULT_IF, { ...BLUE_IF, state: 'down' }]);
  const nics = wired('default', ['blue', 'down']);
  const up = { plug: [], unplug: [], link: [{ name: 'blue', state: 'up' }] };
  assert.deepEqual(liveActions(current, spec([DEFAULT_IF, { ...BLUE_IF, state: 'up' }]), nics), up);
  assert.deepEqual(liveActions(current, spec([DEFAULT_IF, BLUE_IF]), nics), up);
});

test('the link is compared with the wired NIC, not with the current spec', () => {
  // The spec says down already, but the NIC is up (a link change that failed): it is set down again.
  const down = spec([DEFAULT_IF, { ...BLUE_IF, state: 'down' }]);
  assert.deepEqual(liveActions(down, down, WIRED).link, [{ name: 'blue', state: 'down' }]);
  // The spec says up and so is the NIC: nothing, whatever the current spec says.
  assert.deepEqual(liveActions(down, spec(), WIRED), NOTHING);
});

test('idempotent: the actions of a change already applied are nothing', () => {
  const next = spec([DEFAULT_IF, { ...BLUE_IF, state: 'down' }, RED_IF]);
  assert.deepEqual(liveActions(CURRENT, next, wired('default', ['blue', 'down'], 'red')), NOTHING);
  // Applied, the next spec becomes the current one: the same spec again changes nothing either.
  assert.deepEqual(liveActions(next, next, wired('default', ['blue', 'down'], 'red')), NOTHING);
});

test('plug, unplug and link in one change', () => {
  const current = spec([DEFAULT_IF, BLUE_IF, RED_IF]);
  const next = spec([DEFAULT_IF, { ...BLUE_IF, state: 'down' }, { ...RED_IF, state: 'absent' }, GREEN_IF]);
  assert.deepEqual(liveActions(current, next, wired('default', 'blue', 'red')), {
    plug: [GREEN_IF],
    unplug: ['red'],
    link: [{ name: 'blue', state: 'down' }],
  });
});

test('generation is left out of the comparison', () => {
  assert.deepEqual(liveActions(spec(undefined, undefined, { generation: 3 }), spec(), WIRED), NOTHING);
  assert.deepEqual(liveActions(CURRENT, spec(undefined, undefined, { generation: 7 }), WIRED), NOTHING);
});

test('networks are live: one added or dropped with its interface is no refusal', () => {
  const next = spec([DEFAULT_IF], [POD_NET]);
  assert.deepEqual(liveActions(CURRENT, next, wired('default')), NOTHING);
});

test('a spec parsed from its text compares equal whatever the key order it was written in', () => {
  const current = parseLauncherSpec(structuredClone(CURRENT));
  const reordered = {
    boot: { kernel: '/boot/vmlinuz' },
    networks: [{ pod: {}, name: 'default' }, BLUE_NET, RED_NET, GREEN_NET],
    interfaces: [
      { masquerade: {}, name: 'default' },
      { macAddress: '02:00:00:00:00:0b', bridge: {}, name: 'blue' },
    ],
    cpus: 1,
    memoryMiB: 256,
    namespace: 'default',
    name: 'vm1',
  };
  assert.deepEqual(liveActions(current, parseLauncherSpec(reordered), WIRED), NOTHING);
});

const FROZEN: Array<[string, Partial<LauncherSpec>]> = [
  ['memoryMiB', { memoryMiB: 512 }],
  ['cpus', { cpus: 2 }],
  ['boot', { boot: { kernel: '/boot/vmlinuz-2' } }],
  ['boot', { boot: { firmware: 'bios' } }],
  ['disks', { disks: [{ name: 'r', file: '/var/lib/d.raw', format: 'raw', device: 'disk', bus: 'virtio' }] }],
  [
    'cloudInit',
    {
      cloudInit: {
        kind: 'noCloud',
        disk: { name: 'ci', device: 'cdrom', bus: 'sata' },
        instanceId: 'uid-1',
        hostname: 'vm1',
      },
    },
  ],
  ['hostname', { hostname: 'other' }],
  ['subdomain', { subdomain: 'svc' }],
  ['name', { name: 'vm2' }],
  ['namespace', { namespace: 'apps' }],
  ['serviceCIDRs', { serviceCIDRs: ['10.96.0.0/12'] }],
  ['hotplugPorts', { hotplugPorts: 8 }],
];

for (const [key, over] of FROZEN) {
  test(`a change to ${key} (${JSON.stringify(over).slice(0, 60)}) is refused by name`, () => {
    const e = refusal(CURRENT, spec(undefined, undefined, over));
    assert.deepEqual(named(e), [key]);
    // Added, changed or dropped alike: the other way round is refused too.
    assert.deepEqual(named(refusal(spec(undefined, undefined, over), CURRENT)), [key]);
  });
}

test('a frozen change is refused even with live changes in the same spec, which are then not applied', () => {
  const next = spec([DEFAULT_IF, { ...BLUE_IF, state: 'down' }, RED_IF], undefined, { memoryMiB: 1024 });
  const e = refusal(CURRENT, next);
  assert.equal(
    e.message,
    'cannot change on a running VM: memoryMiB; only interfaces can be added, set absent, up or down',
  );
});

test('every frozen field is named, sorted', () => {
  const next = spec(undefined, undefined, { memoryMiB: 512, cpus: 4, hostname: 'h', boot: { firmware: 'efi' } });
  assert.deepEqual(named(refusal(CURRENT, next)), ['boot', 'cpus', 'hostname', 'memoryMiB']);
});

test('a changed field of a wired interface is refused, naming the interface by index and name', () => {
  const mac = spec([DEFAULT_IF, { ...BLUE_IF, macAddress: '02:00:00:00:00:0c' }]);
  assert.deepEqual(named(refusal(CURRENT, mac)), ['interfaces[1] (blue)']);
  const model = spec([DEFAULT_IF, { ...BLUE_IF, model: 'e1000' }]);
  assert.deepEqual(named(refusal(CURRENT, model)), ['interfaces[1] (blue)']);
  // The index is the new spec's.
  const moved = spec([{ ...BLUE_IF, model: 'e1000' }, DEFAULT_IF]);
  assert.deepEqual(named(refusal(CURRENT, moved)), ['interfaces[0] (blue)']);
  // A field dropped is a change as well.
  const { macAddress: _, ...noMac } = BLUE_IF;
  assert.deepEqual(named(refusal(CURRENT, spec([DEFAULT_IF, noMac]))), ['interfaces[1] (blue)']);
});

test('a changed binding of a wired interface is refused', () => {
  const next = spec([{ name: 'default', bridge: {} }, BLUE_IF]);
  assert.deepEqual(named(refusal(CURRENT, next)), ['interfaces[0] (default)']);
});

test('a changed field of an interface that is not wired is no refusal: it is plugged as the spec says', () => {
  const next = spec([DEFAULT_IF, { ...BLUE_IF, model: 'e1000' }]);
  assert.deepEqual(liveActions(CURRENT, next, wired('default')), {
    plug: [{ ...BLUE_IF, model: 'e1000' }],
    unplug: [],
    link: [],
  });
});

test('a changed network of a wired interface is refused, naming it', () => {
  const next = spec(undefined, [POD_NET, { name: 'blue', multus: { networkName: 'default/other-net' } }]);
  assert.deepEqual(named(refusal(CURRENT, next)), ['networks (blue)']);
  const pod = spec(undefined, [{ name: 'default', pod: { vmNetworkCIDR: '10.0.3.0/24' } }, BLUE_NET]);
  assert.deepEqual(named(refusal(CURRENT, pod)), ['networks (default)']);
});

test('frozen fields first, sorted, then the interfaces and networks, in the order of the spec', () => {
  const next = spec(
    [
      { ...DEFAULT_IF, ports: [{ port: 80 }] },
      { ...BLUE_IF, model: 'e1000' },
    ],
    [POD_NET, { name: 'blue', multus: { networkName: 'default/other-net' } }],
    { subdomain: 's', cpus: 2 },
  );
  assert.deepEqual(named(refusal(CURRENT, next)), [
    'cpus',
    'subdomain',
    'interfaces[0] (default)',
    'interfaces[1] (blue)',
    'networks (blue)',
  ]);
});

test('a refusal is a LiveChangeError, an Error: the launcher reports it as the live error and keeps running', () => {
  assert.throws(
    () => liveActions(CURRENT, spec(undefined, undefined, { cpus: 3 }), WIRED),
    (e: unknown) => e instanceof LiveChangeError && e instanceof Error && e.message.includes(': cpus;'),
  );
});

test('lowestFreeIndex: the lowest index no wired NIC has', () => {
  const at = (...indexes: number[]) => lowestFreeIndex(indexes.map((index) => ({ index })));
  assert.equal(at(), 0);
  assert.equal(at(0), 1);
  assert.equal(at(0, 1), 2);
  assert.equal(at(0, 2), 1);
  assert.equal(at(1), 0);
  assert.equal(at(1, 2, 3), 0);
  assert.equal(at(3, 0, 2, 1), 4);
  assert.equal(at(4, 1, 0), 2);
  assert.equal(at(0, 0, 1), 2);
});
