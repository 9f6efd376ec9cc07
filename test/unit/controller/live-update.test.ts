/** Which changes to a running VMI's spec apply live (NIC plug, unplug, link state) and which clash. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clashMessage, liveChange } from '../../../controller/api/live-update.ts';
import type { VmiSpec } from '../../../controller/api/schema.ts';

/** Specs are built loosely and mutated by the tests; the code under test types them. */
type Doc = any;

const I = 'spec.domain.devices.interfaces';

/** Valid and running: masquerade on the pod network, bridge on a multus network, one more multus network unused. */
function base(): Doc {
  return {
    domain: {
      devices: {
        disks: [{ name: 'root', disk: { bus: 'virtio' } }],
        interfaces: [
          { name: 'default', masquerade: {} },
          { name: 'blue', bridge: {}, macAddress: '02:00:00:00:00:05' },
        ],
      },
      resources: { requests: { memory: '256Mi' } },
    },
    networks: [
      { name: 'default', pod: {} },
      { name: 'blue', multus: { networkName: 'blue-net' } },
    ],
    volumes: [{ name: 'root', containerDisk: { image: 'quay.io/containerdisks/fedora:40' } }],
  };
}

/** The base spec changed by `edit`. */
function changed(edit: (spec: Doc) => void, from: Doc = base()): Doc {
  const spec = structuredClone(from);
  edit(spec);
  return spec;
}

const iface = (spec: Doc, name: string) => spec.domain.devices.interfaces.find((i: Doc) => i.name === name);
const net = (spec: Doc, name: string) => spec.networks.find((n: Doc) => n.name === name);
const setState = (name: string, state: string) => (s: Doc) => {
  iface(s, name).state = state;
};
const addRed = (binding: Doc = { bridge: {} }, network: Doc = { multus: { networkName: 'red-net' } }) => {
  return (s: Doc) => {
    s.domain.devices.interfaces.push({ name: 'red', ...binding });
    s.networks.push({ name: 'red', ...network });
  };
};
const live = (change: { plug?: string[]; unplug?: string[]; link?: { name: string; state: string }[] }) => ({
  kind: 'live',
  plug: change.plug ?? [],
  unplug: change.unplug ?? [],
  link: change.link ?? [],
});
const clash = (...fields: string[]) => ({ kind: 'clash', fields });
const change = (running: Doc, wanted: Doc) => liveChange(running as VmiSpec, wanted as VmiSpec);

test('the same spec: nothing to do', () => {
  assert.deepEqual(change(base(), base()), { kind: 'none' });
});

test('differences that normalisation or JSON storage erase are no change', () => {
  const running = changed((s) => (s.dnsConfig = {}));
  const wanted = changed((s) => {
    // Defaults and "" spellings (normalize.ts), key order, undefined keys and empty lists.
    s.domain.devices.interfaces[1] = {
      macAddress: '02-00-00-00-00-05',
      state: '',
      model: 'virtio',
      bridge: {},
      name: 'blue',
    };
    s.domain.devices.interfaces[0].pciAddress = '';
    s.domain.resources = { limits: undefined, requests: { memory: '256Mi' } };
    s.hostname = undefined;
    s.domain.devices.disks[0].tag = undefined;
    s.dnsConfig = { nameservers: [] };
  }, running);
  assert.deepEqual(change(running, wanted), { kind: 'none' });
});

test('rule 2: a new bridge interface on a multus network is plugged', () => {
  assert.deepEqual(change(base(), changed(addRed())), live({ plug: ['red'] }));
});

test('rule 2: a new interface that is already absent needs nothing', () => {
  const wanted = changed((s) => {
    addRed()(s);
    iface(s, 'red').state = 'absent';
  });
  assert.deepEqual(change(base(), wanted), { kind: 'none' });
});

test('rule 2: a new interface down from the start is plugged (its state goes with it)', () => {
  const wanted = changed((s) => {
    addRed()(s);
    iface(s, 'red').state = 'down';
  });
  assert.deepEqual(change(base(), wanted), live({ plug: ['red'] }));
});

test('rule 2: a new interface without its network clashes on the network', () => {
  const wanted = changed((s) => s.domain.devices.interfaces.push({ name: 'red', bridge: {} }));
  assert.deepEqual(change(base(), wanted), clash('spec.networks[red]'));
});

test('rule 3: state absent unplugs a bridge interface', () => {
  assert.deepEqual(change(base(), changed(setState('blue', 'absent'))), live({ unplug: ['blue'] }));
});

test('rule 3: absent back to up or down plugs again; absent to absent is nothing', () => {
  const unplugged = changed(setState('blue', 'absent'));
  assert.deepEqual(change(unplugged, base()), live({ plug: ['blue'] }));
  assert.deepEqual(change(unplugged, changed(setState('blue', 'down'))), live({ plug: ['blue'] }));
  assert.deepEqual(change(unplugged, unplugged), { kind: 'none' });
});

test('rule 3: up to down to up are link changes, unset counting as up', () => {
  const up = base();
  const down = changed(setState('blue', 'down'));
  const explicitUp = changed(setState('blue', 'up'));
  assert.deepEqual(change(up, down), live({ link: [{ name: 'blue', state: 'down' }] }));
  assert.deepEqual(change(down, explicitUp), live({ link: [{ name: 'blue', state: 'up' }] }));
  assert.deepEqual(change(up, explicitUp), { kind: 'none' });
  assert.deepEqual(change(changed(setState('blue', '')), down), live({ link: [{ name: 'blue', state: 'down' }] }));
});

test('rule 3: changing a MAC clashes on that field', () => {
  const wanted = changed((s) => (iface(s, 'blue').macAddress = '02:00:00:00:00:06'));
  assert.deepEqual(change(base(), wanted), clash(`${I}[blue].macAddress`));
});

test('rule 3: every other interface field is fixed too, reported by its first key', () => {
  const wanted = changed((s) => {
    Object.assign(iface(s, 'blue'), { model: 'e1000', mtu: 1400, bootOrder: 2, pciAddress: '0000:81:00.1' });
    iface(s, 'default').ports = [{ port: 80 }];
  });
  assert.deepEqual(
    change(base(), wanted),
    clash(`${I}[blue].bootOrder`, `${I}[blue].model`, `${I}[blue].mtu`, `${I}[blue].pciAddress`, `${I}[default].ports`),
  );
  const rebound = changed(
    (s) => (s.domain.devices.interfaces[1] = { name: 'blue', masquerade: {}, macAddress: '02:00:00:00:00:05' }),
  );
  assert.deepEqual(change(base(), rebound), clash(`${I}[blue].bridge`, `${I}[blue].masquerade`));
});

test('rule 3: a field change clashes even together with a state change', () => {
  const wanted = changed((s) => Object.assign(iface(s, 'blue'), { state: 'down', macAddress: '02:00:00:00:00:07' }));
  assert.deepEqual(change(base(), wanted), clash(`${I}[blue].macAddress`));
});

test('rule 4: removing an interface that is already absent (and its network) is nothing', () => {
  const unplugged = changed(setState('blue', 'absent'));
  const removed = changed((s) => {
    s.domain.devices.interfaces.splice(1, 1);
    s.networks.splice(1, 1);
  });
  assert.deepEqual(change(unplugged, removed), { kind: 'none' });
});

test('rule 4: removing an interface that is still plugged clashes', () => {
  const removed = changed((s) => {
    s.domain.devices.interfaces.splice(1, 1);
    s.networks.splice(1, 1);
  });
  assert.deepEqual(change(base(), removed), clash(`${I}[blue]`));
});

test("rule 5: changing a plugged interface's network clashes, also a down one's", () => {
  const renamed = changed((s) => (net(s, 'blue').multus.networkName = 'other-net'));
  assert.deepEqual(change(base(), renamed), clash('spec.networks[blue]'));
  const down = changed(setState('blue', 'down'));
  const downRenamed = changed((s) => (net(s, 'blue').multus.networkName = 'other-net'), down);
  assert.deepEqual(change(down, downRenamed), clash('spec.networks[blue]'));
  const dropped = changed((s) => s.networks.splice(1, 1));
  assert.deepEqual(change(base(), dropped), clash('spec.networks[blue]'));
});

test('rule 5: a network may change while its interface is absent, or as it is plugged again', () => {
  const unplugged = changed(setState('blue', 'absent'));
  const renamed = changed((s) => (net(s, 'blue').multus.networkName = 'other-net'), unplugged);
  assert.deepEqual(change(unplugged, renamed), { kind: 'none' });
  const replugged = changed((s) => (net(s, 'blue').multus.networkName = 'other-net'));
  assert.deepEqual(change(unplugged, replugged), live({ plug: ['blue'] }));
});

test('rule 5: networks no interface uses may come and go', () => {
  const extra = changed((s) => s.networks.push({ name: 'spare', multus: { networkName: 'spare-net' } }));
  assert.deepEqual(change(base(), extra), { kind: 'none' });
  assert.deepEqual(change(extra, base()), { kind: 'none' });
});

test('rule 6: plugging a masquerade interface clashes', () => {
  assert.deepEqual(change(base(), changed(addRed({ masquerade: {} }))), clash(`${I}[red]`));
});

test('rule 6: plugging onto a multus default network clashes, and so does a foreign binding', () => {
  const onDefault = changed(addRed({ bridge: {} }, { multus: { networkName: 'red-net', default: true } }));
  assert.deepEqual(change(base(), onDefault), clash(`${I}[red]`));
  assert.deepEqual(change(base(), changed(addRed({ sriov: {} }))), clash(`${I}[red]`));
});

test('rule 6: unplugging the pod-network interface clashes, bridge-bound or not', () => {
  const bridged = changed((s) => (s.domain.devices.interfaces[0] = { name: 'default', bridge: {} }));
  assert.deepEqual(change(bridged, changed(setState('default', 'absent'), bridged)), clash(`${I}[default]`));
  assert.deepEqual(change(base(), changed(setState('default', 'absent'))), clash(`${I}[default]`));
});

test('rule 6: link state changes are fine for any binding and network', () => {
  const down = changed(setState('default', 'down'));
  assert.deepEqual(change(base(), down), live({ link: [{ name: 'default', state: 'down' }] }));
});

test('rule 1: a memory change clashes on spec.domain.resources', () => {
  const wanted = changed((s) => (s.domain.resources.requests.memory = '512Mi'));
  assert.deepEqual(change(base(), wanted), clash('spec.domain.resources'));
});

test('rule 1: fixed fields are reported one level under spec, spec.domain and spec.domain.devices', () => {
  const wanted = changed((s) => {
    s.hostname = 'vm1';
    s.volumes = [];
    s.domain.cpu = { cores: 2 };
    s.domain.devices.disks[0].bootOrder = 1;
    s.domain.devices.autoattachPodInterface = false;
    s.domain.devices.rng = {};
  });
  assert.deepEqual(
    change(base(), wanted),
    clash(
      'spec.domain.cpu',
      'spec.domain.devices.autoattachPodInterface',
      'spec.domain.devices.disks',
      'spec.domain.devices.rng',
      'spec.hostname',
      'spec.volumes',
    ),
  );
});

test('rule 7: several clashes at once come sorted, and hide the live part', () => {
  const wanted = changed((s) => {
    addRed({ masquerade: {} })(s);
    setState('blue', 'absent')(s);
    iface(s, 'blue').macAddress = '02:00:00:00:00:09';
    iface(s, 'default').model = 'e1000';
    s.domain.resources.requests.memory = '1Gi';
    s.terminationGracePeriodSeconds = 0;
    s.domain.devices.interfaces.push({ name: 'green', bridge: {} });
  });
  assert.deepEqual(
    change(base(), wanted),
    clash(
      `${I}[blue].macAddress`,
      `${I}[default].model`,
      `${I}[red]`,
      'spec.domain.resources',
      'spec.networks[green]',
      'spec.terminationGracePeriodSeconds',
    ),
  );
});

test('names are listed in the wanted spec order, then those only in the running spec', () => {
  const running = changed((s) => {
    s.domain.devices.interfaces.push({ name: 'c', bridge: {} }, { name: 'a', bridge: {}, state: 'absent' });
    s.networks.push({ name: 'c', multus: { networkName: 'n' } }, { name: 'a', multus: { networkName: 'n' } });
  });
  const wanted = changed((s) => {
    s.domain.devices.interfaces = [
      { name: 'z', bridge: {} },
      { name: 'c', bridge: {}, state: 'absent' },
      { name: 'y', bridge: {} },
      { name: 'a', bridge: {} },
      { name: 'default', masquerade: {}, state: 'down' },
      { name: 'blue', bridge: {}, macAddress: '02:00:00:00:00:05', state: 'absent' },
    ];
    s.networks.push(...['z', 'c', 'y', 'a'].map((name) => ({ name, multus: { networkName: 'n' } })));
  }, running);
  assert.deepEqual(
    change(running, wanted),
    live({ plug: ['z', 'y', 'a'], unplug: ['c', 'blue'], link: [{ name: 'default', state: 'down' }] }),
  );
});

test('missing interfaces and networks equal empty ones, and specs without them do not throw', () => {
  const bare: Doc = { domain: { devices: {} } };
  const empty: Doc = { domain: { devices: { interfaces: [] } }, networks: [] };
  assert.deepEqual(change(bare, empty), { kind: 'none' });
  assert.deepEqual(change(empty, bare), { kind: 'none' });
  const withBlue = changed((s) => {
    s.domain.devices.interfaces = [{ name: 'blue', bridge: {} }];
    s.networks = [{ name: 'blue', multus: { networkName: 'blue-net' } }];
  }, bare);
  assert.deepEqual(change(bare, withBlue), live({ plug: ['blue'] }));
  assert.deepEqual(change(withBlue, bare), clash(`${I}[blue]`));
});

test('duplicate names do not crash: the first of each name is the one compared', () => {
  const running = changed((s) => {
    s.domain.devices.interfaces.push({ name: 'blue', masquerade: {} });
    s.networks.push({ name: 'blue', pod: {} });
  });
  const wanted = changed((s) => (iface(s, 'blue').state = 'absent'), running);
  assert.deepEqual(change(running, wanted), live({ unplug: ['blue'] }));
});

test('odd interface names are just strings in the paths', () => {
  const name = 'ö ]["x".y\n';
  const running = changed((s) => {
    s.domain.devices.interfaces.push({ name, bridge: {} });
    s.networks.push({ name, multus: { networkName: 'n' } });
  });
  const wanted = changed((s) => (iface(s, name).macAddress = '02:00:00:00:00:01'), running);
  assert.deepEqual(change(running, wanted), clash(`${I}[${name}].macAddress`));
  assert.deepEqual(change(base(), running), live({ plug: [name] }));
});

test('hostile values never throw: junk entries, junk lists, prototype-named keys', () => {
  const junk: Doc = {
    domain: { devices: { interfaces: [null, 3, 'x', [], { name: 'j', bridge: {}, ports: 'not a list' }] } },
    networks: { name: 'not a list' },
  };
  const specs: Doc[] = [base(), junk, {}, { domain: null }, { domain: { devices: null } }, { domain: 'x' }, null];
  for (const a of specs) for (const b of specs) assert.doesNotThrow(() => change(a, b));
  const proto = changed((s) => (s.constructor = 'x'));
  assert.deepEqual(change(base(), proto), clash('spec.constructor'));
  const protoUndefined = changed((s) => (s.domain.toString = undefined));
  assert.deepEqual(change(base(), protoUndefined), { kind: 'none' });
  // A domain that is not an object: the domain clashes, and the interfaces it took with it.
  assert.deepEqual(change(base(), { ...base(), domain: 'x' }), clash('spec.domain', `${I}[blue]`, `${I}[default]`));
});

test('clashMessage names the fields in one sentence', () => {
  assert.equal(
    clashMessage(['spec.domain.resources', `${I}[net1].macAddress`]),
    'spec.domain.resources, spec.domain.devices.interfaces[net1].macAddress cannot change on a running VMI; ' +
      'only interfaces (add, state: absent, up, down) and their networks can',
  );
  const result = change(
    base(),
    changed((s) => (s.hostname = 'h')),
  );
  assert.equal(result.kind, 'clash');
  if (result.kind === 'clash')
    assert.match(clashMessage(result.fields), /^spec\.hostname cannot change on a running VMI;/);
  assert.equal(clashMessage([]), 'no field clashes: the change can be applied to the running VMI');
});
