/**
 * VMI/VM admission: a table of invalid specs, each one small mutation of a
 * valid base, each expecting exactly the problems listed (the field path and
 * a fragment of the rule), so that a mutation cannot pass by tripping some
 * other rule. Then: many problems at once, valid specs with their
 * normalised defaults, and the batch-level checks (kinds, name clashes,
 * NADs in the batch, YAML errors, Lists, JSON).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cpuCount,
  formatProblems,
  memoryMiB,
  parseManifests,
  validateManifests,
  type Problem,
  type ValidationContext,
} from '../../../controller/api/manifests.ts';
import { parseQuantity } from '../../../controller/api/quantity.ts';
import type { VmiSpec } from '../../../controller/api/schema.ts';

import { BASE_VM, BASE_VMI, CTX, dropPorts, iface, ROWS, type Doc } from './validation-table.ts';

function validate(doc: Doc, ctx: ValidationContext = CTX) {
  return validateManifests([{ source: 'vm.yaml#1', object: doc }], ctx);
}

test('the base VMI and VM are valid (so every row fails by its own mutation)', () => {
  assert.deepEqual(validate(BASE_VMI).problems, []);
  assert.deepEqual(validate(BASE_VM).problems, []);
});

test('the table has at least 45 rows', () => assert.ok(ROWS.length >= 45, String(ROWS.length)));

for (const row of ROWS) {
  test(`rejects: ${row.name}`, () => {
    const doc = structuredClone(row.vm ? BASE_VM : BASE_VMI);
    row.mutate(doc);
    const { objects, problems } = validate(doc);
    assert.deepEqual(objects, [], 'an invalid object is not returned');
    const got = problems.map((p) => [p.path, p.rule]);
    assert.equal(
      problems.length,
      row.want.length,
      `expected ${row.want.length} problem(s), got:\n${formatProblems(problems)}`,
    );
    row.want.forEach(([path, fragment], k) => {
      assert.equal(got[k]?.[0], path, formatProblems(problems));
      assert.ok(got[k]?.[1]?.includes(fragment), `"${got[k]?.[1]}" should contain "${fragment}"`);
    });
    for (const p of problems) assert.equal(p.source, 'vm.yaml#1');
  });
}

test('several problems in one spec come back together, each at its field', () => {
  const doc = structuredClone(BASE_VMI);
  doc.metadata.name = 'Bad_Name';
  doc.spec.hostname = 'bad_host';
  doc.spec.networks[0].pod.vmNetworkCIDR = '10.0.0.0/31';
  doc.spec.networks[1].multus.networkName = 'missing';
  iface(doc, 0).ports.push({ name: 'http', port: 0 });
  iface(doc, 1).macAddress = '03:00:00:00:00:01';
  iface(doc, 1).acpiIndex = 0;
  iface(doc, 1).dhcpOptions = { ntpServers: ['ntp.example'] };
  doc.spec.domain.resources.requests.memory = 'lots';
  const paths = validate(doc).problems.map((p: Problem) => p.path);
  assert.deepEqual(paths, [
    'metadata.name',
    'spec.networks[0].pod.vmNetworkCIDR',
    'spec.networks[1].multus.networkName',
    'spec.domain.devices.interfaces[0].ports[1].name',
    'spec.domain.devices.interfaces[0].ports[1].port',
    'spec.domain.devices.interfaces[1].macAddress',
    'spec.domain.devices.interfaces[1].acpiIndex',
    'spec.domain.devices.interfaces[1].dhcpOptions.ntpServers[0]',
    'spec.domain.resources.requests.memory',
    'spec.hostname',
  ]);
});

test('structure problems are reported all together, one per field, without anyOf noise', () => {
  const doc = structuredClone(BASE_VMI);
  iface(doc, 0).model = 'bad';
  iface(doc, 0).ports[0].port = 'eighty';
  iface(doc, 1).bogus = true;
  doc.spec.networks[1].multus.default = 'yes';
  doc.spec.domain.resources.requests.memory = [];
  const problems = validate(doc).problems;
  assert.deepEqual(problems.map((p) => p.path).sort(), [
    'spec.domain.devices.interfaces[0].model',
    'spec.domain.devices.interfaces[0].ports[0].port',
    'spec.domain.devices.interfaces[1].bogus',
    'spec.domain.resources.requests.memory',
    'spec.networks[1].multus.default',
  ]);
  assert.equal(problems.length, 5);
  assert.ok(
    problems.every((p) => !/union|anyOf|Expected/u.test(p.rule)),
    formatProblems(problems),
  );
  assert.equal(problems.find((p) => p.path.endsWith('multus.default'))?.rule, 'must be true or false, not "yes"');
});

test('structure and rule problems of one spec come back together; a removed field raises no follow-on noise', () => {
  const doc = structuredClone(BASE_VMI);
  iface(doc, 0).ports[0].protocol = 'tcp'; // structure: the enum is upper-case
  iface(doc, 0).macAddress = '02:00:00:00:00:00'; // rule: reserved with masquerade
  doc.spec.hostname = 'no_good'; // rule: DNS label
  doc.spec.networks[0].pod = { vmNetworkCIDR: '10.0.2.0/31' }; // rule: too small
  const problems = validate(doc).problems;
  assert.deepEqual(problems.map((p) => p.path).sort(), [
    'spec.domain.devices.interfaces[0].macAddress',
    'spec.domain.devices.interfaces[0].ports[0].protocol',
    'spec.hostname',
    'spec.networks[0].pod.vmNetworkCIDR',
  ]);
  // A missing required field cannot be pruned into a valid copy: structure only.
  const noName = structuredClone(BASE_VMI);
  delete iface(noName, 0).name;
  noName.spec.hostname = 'no_good';
  assert.deepEqual(
    validate(noName).problems.map((p) => p.path),
    ['spec.domain.devices.interfaces[0].name'],
  );
});

// ------------------------------------------------------------ valid specs

function valid(doc: Doc, ctx: ValidationContext = CTX) {
  const { objects, problems } = validate(doc, ctx);
  assert.deepEqual(problems, [], formatProblems(problems));
  assert.equal(objects.length, 1);
  return objects[0]!;
}

test('valid: bridge on the pod network; defaults filled (namespace, model), "" spellings dropped', () => {
  const out = valid(
    {
      apiVersion: 'virtnet.io/v1alpha1',
      kind: 'VirtualMachineInstance',
      metadata: { name: 'plain' },
      spec: {
        domain: {
          devices: {
            interfaces: [{ name: 'default', bridge: {}, macAddress: '02-AB-00-00-00-01', pciAddress: '', state: '' }],
          },
          firmware: {
            kernelBoot: {
              host: { kernelPath: '/var/lib/virtnet/vmlinuz', initrdPath: '/var/lib/virtnet/initrd.img' },
              kernelArgs: 'console=ttyS0',
            },
          },
        },
        networks: [{ name: 'default', pod: {} }],
      },
    },
    {},
  );
  assert.equal(out.kind, 'VirtualMachineInstance');
  if (out.kind !== 'VirtualMachineInstance') return;
  assert.equal(out.object.apiVersion, 'virtnet.io/v1alpha1');
  assert.equal(out.object.metadata.namespace, 'default');
  assert.deepEqual(out.object.spec.domain.devices.interfaces, [
    { name: 'default', bridge: {}, macAddress: '02:ab:00:00:00:01', model: 'virtio' },
  ]);
});

test('valid: masquerade with ports and port ranges elsewhere; protocols default to TCP; the input is not modified', () => {
  const doc = structuredClone(BASE_VMI);
  iface(doc, 0).ports = [
    { name: 'http', port: 80 },
    { port: 80, protocol: 'UDP' },
    { port: 443, protocol: '' },
  ];
  const before = structuredClone(doc);
  const out = valid(doc);
  assert.deepEqual(doc, before);
  if (out.kind !== 'VirtualMachineInstance') assert.fail(out.kind);
  assert.deepEqual(out.object.spec.domain.devices.interfaces?.[0], {
    name: 'default',
    masquerade: {},
    model: 'virtio',
    ports: [
      { name: 'http', port: 80, protocol: 'TCP' },
      { port: 80, protocol: 'UDP' },
      { port: 443, protocol: 'TCP' },
    ],
  });
  const ranges = structuredClone(BASE_VMI);
  dropPorts(ranges);
  iface(ranges, 0).portRanges = [
    { protocol: 'TCP', start: 8000, end: 8010 },
    { protocol: 'UDP', start: 8000, end: 8010 },
    { protocol: 'TCP', start: 8011, end: 8011 },
  ];
  valid(ranges);
});

test('valid: dual-stack pod network with vmNetworkCIDR and vmIPv6NetworkCIDR, mtu 1280, DHCP options', () => {
  const doc = structuredClone(BASE_VMI);
  doc.spec.networks[0].pod = { vmNetworkCIDR: '10.11.12.0/30', vmIPv6NetworkCIDR: 'fd10:0:2::/126' };
  Object.assign(iface(doc, 0), { mtu: 1280, acpiIndex: 1, bootOrder: 2, pciAddress: '0000:00:1f.7' });
  iface(doc, 1).dhcpOptions = {
    bootFileName: 'pxelinux.0',
    tftpServerName: 'tftp.example',
    ntpServers: ['192.0.2.10'],
    privateOptions: [
      { option: 224, value: 'a' },
      { option: 254, value: 'b' },
    ],
  };
  doc.spec.hostname = 'web-1';
  doc.spec.subdomain = 'lab.example';
  doc.spec.dnsPolicy = 'None';
  doc.spec.dnsConfig = {
    nameservers: ['192.0.2.53', '2001:db8::53'],
    searches: ['lab.example', 'example.'],
    options: [{ name: 'ndots', value: '2' }],
  };
  const out = valid(doc);
  if (out.kind !== 'VirtualMachineInstance') assert.fail(out.kind);
  assert.deepEqual(out.object.spec.networks?.[0], {
    name: 'default',
    pod: { vmNetworkCIDR: '10.11.12.0/30', vmIPv6NetworkCIDR: 'fd10:0:2::/126' },
  });
});

test('valid: a multus secondary whose NAD exists (here, and as namespace/name elsewhere)', () => {
  const doc = structuredClone(BASE_VMI);
  doc.spec.networks.push({ name: 'shared', multus: { networkName: 'infra/shared' } });
  doc.spec.domain.devices.interfaces.push({ name: 'shared', bridge: {}, model: 'e1000e', state: 'down' });
  const out = valid(doc);
  if (out.kind !== 'VirtualMachineInstance') assert.fail(out.kind);
  assert.deepEqual(out.object.spec.domain.devices.interfaces?.[1], {
    name: 'blue',
    bridge: {},
    macAddress: '02:00:00:00:00:05',
    model: 'virtio',
  });
  assert.deepEqual(out.object.spec.domain.devices.interfaces?.[2], {
    name: 'shared',
    bridge: {},
    model: 'e1000e',
    state: 'down',
  });
});

test('valid: absent (hot-unplug) on a bridge secondary; unknown fields outside interfaces/networks kept', () => {
  const doc = structuredClone(BASE_VMI);
  iface(doc, 1).state = 'absent';
  doc.spec.evictionStrategy = 'LiveMigrate';
  doc.spec.domain.devices.rng = {};
  const out = valid(doc);
  if (out.kind !== 'VirtualMachineInstance') assert.fail(out.kind);
  assert.equal((out.object.spec as Record<string, unknown>).evictionStrategy, 'LiveMigrate');
});

test('valid VM: the template gets the VM namespace; status and nulls are dropped', () => {
  const doc = structuredClone(BASE_VM);
  doc.metadata.creationTimestamp = null;
  doc.status = { ready: true };
  const out = valid(doc);
  if (out.kind !== 'VirtualMachine') assert.fail(out.kind);
  assert.equal(out.object.spec.template.metadata?.namespace, 'demo');
  assert.deepEqual(out.object.spec.template.metadata?.labels, { app: 'x' });
  assert.equal(out.object.status, undefined);
  assert.equal('creationTimestamp' in out.object.metadata, false);
});

test('valid: no interfaces and no networks → the pod network with bridge; autoattachPodInterface false → none', () => {
  const doc = structuredClone(BASE_VMI);
  delete doc.spec.networks;
  delete doc.spec.domain.devices.interfaces;
  const out = valid(doc);
  if (out.kind !== 'VirtualMachineInstance') assert.fail(out.kind);
  assert.deepEqual(out.object.spec.networks, [{ name: 'default', pod: {} }]);
  doc.spec.domain.devices.autoattachPodInterface = false;
  const none = valid(doc);
  if (none.kind !== 'VirtualMachineInstance') assert.fail(none.kind);
  assert.equal(none.object.spec.networks, undefined);
  assert.equal(none.object.spec.domain.devices.interfaces, undefined);
});

// ------------------------------------------------------------ batches

const NAD_YAML = `apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: blue-net, namespace: demo}
spec: {config: '{"cniVersion":"1.0.0","name":"blue","type":"virtnet-bridge"}'}
`;

test('batch: a NAD in the batch counts as existing (combined with the context)', () => {
  const vmi = JSON.stringify(BASE_VMI);
  const { manifests, problems } = parseManifests(`${NAD_YAML}---\n${vmi}\n`, 'b.yaml');
  assert.deepEqual(problems, []);
  const res = validateManifests(manifests, { nadExists: () => false });
  assert.deepEqual(res.problems, []);
  assert.deepEqual(
    res.objects.map((o) => o.kind),
    ['NetworkAttachmentDefinition', 'VirtualMachineInstance'],
  );
  const without = validateManifests(manifests.slice(1), { nadExists: () => false });
  assert.deepEqual(
    without.problems.map((p) => `${p.source} ${p.path}`),
    ['b.yaml#2 spec.networks[1].multus.networkName'],
  );
});

test('batch: name clashes (same kind; a VM and a VMI of one name); the first keeps the name', () => {
  const vmi2 = structuredClone(BASE_VMI);
  const vm = structuredClone(BASE_VM);
  const other = structuredClone(BASE_VMI);
  other.metadata.namespace = 'other';
  other.spec.networks[1].multus.networkName = 'demo/blue-net';
  const res = validateManifests(
    [
      { source: 'a.yaml#1', object: BASE_VMI },
      { source: 'a.yaml#2', object: vmi2 },
      { source: 'a.yaml#3', object: vm },
      { source: 'a.yaml#4', object: other },
    ],
    CTX,
  );
  assert.deepEqual(
    res.problems.map((p) => [p.source, p.path]),
    [
      ['a.yaml#2', 'metadata.name'],
      ['a.yaml#3', 'metadata.name'],
    ],
  );
  assert.match(
    res.problems[0]!.rule,
    /^name clash: VirtualMachineInstance demo\/vm1 is already defined by a\.yaml#1$/u,
  );
  assert.match(
    res.problems[1]!.rule,
    /VirtualMachine demo\/vm1 is already defined by a\.yaml#1 as a VirtualMachineInstance/u,
  );
  assert.deepEqual(
    res.objects.map((o) => o.object.metadata.namespace),
    ['demo', 'other'],
  );
});

test('batch: a namespace defaulted to "default" clashes with an explicit "default"', () => {
  const a = structuredClone(BASE_VMI);
  delete a.metadata.namespace;
  const b = structuredClone(BASE_VMI);
  b.metadata.namespace = 'default';
  const res = validateManifests(
    [
      { source: 'x#1', object: a },
      { source: 'x#2', object: b },
    ],
    {},
  );
  assert.deepEqual(
    res.problems.map((p) => [p.source, p.path]),
    [['x#2', 'metadata.name']],
  );
});

test("batch: an invalid NAD is a problem from netattach's validateNad; a non-object document too", () => {
  const res = validateManifests([
    {
      source: 'n#1',
      object: { apiVersion: 'k8s.cni.cncf.io/v1', kind: 'NetworkAttachmentDefinition', metadata: { name: 'Bad_Name' } },
    },
    { source: 'n#2', object: 'just a string' },
    { source: 'n#3', object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } } },
  ]);
  assert.deepEqual(res.objects, []);
  assert.deepEqual(
    res.problems.map((p) => [p.source, p.path]),
    [
      ['n#1', 'metadata.name'],
      ['n#2', '(root)'],
      ['n#3', 'kind'],
    ],
  );
  assert.match(res.problems[0]!.rule, /DNS-1123 label/u);
});

test('parse: YAML syntax errors carry line:col; empty documents are skipped but counted; Lists are expanded', () => {
  const text =
    `---\n# only a comment\n---\napiVersion: v1\nkind: List\nitems:\n- ${JSON.stringify(BASE_VMI)}\n---\nkind: ` +
    `x\n\tbad: 1\n`;
  const { manifests, problems } = parseManifests(text, 'f.yaml');
  assert.deepEqual(
    manifests.map((m) => m.source),
    ['f.yaml#2.items[0]'],
  );
  assert.deepEqual(problems, [
    { source: 'f.yaml#3', path: '', rule: 'YAML syntax error at line 10:1: Tabs are not allowed as indentation' },
  ]);
  assert.deepEqual(validateManifests(manifests, CTX).problems, []);
});

test('parse: duplicate keys are a YAML error; JSON documents parse', () => {
  const dup = parseManifests('a: 1\na: 2\n', 'd.yaml');
  assert.equal(dup.manifests.length, 0);
  assert.match(dup.problems[0]!.rule, /line 2:1: .*unique/iu);
  const json = parseManifests(JSON.stringify(BASE_VM, null, 2), 'vm.json');
  assert.deepEqual(json.problems, []);
  assert.deepEqual(validateManifests(json.manifests, CTX).problems, []);
});

test('formatProblems: one line each, source: path: rule', () => {
  assert.equal(
    formatProblems([
      { source: 'vm.yaml#2', path: 'spec.hostname', rule: 'must be a DNS-1123 label' },
      { source: 'vm.yaml#3', path: '', rule: 'YAML syntax error at line 1:1: x' },
      { path: 'kind', rule: 'is required' },
    ]),
    'vm.yaml#2: spec.hostname: must be a DNS-1123 label\nvm.yaml#3: YAML syntax error at line 1:1: x\nkind: is ' +
      'required',
  );
});

// ------------------------------------------------------------ quantities

test('parseQuantity: binary and decimal suffixes, exponents, milli-cores; malformed ones undefined', () => {
  const cases: Array<[string | number, number]> = [
    ['64Mi', 64 * 2 ** 20],
    ['1Gi', 2 ** 30],
    ['1G', 1e9],
    ['512M', 512e6],
    ['1024Ki', 2 ** 20],
    ['1048576', 2 ** 20],
    ['100m', 0.1],
    ['2', 2],
    [2, 2],
    ['1.5Gi', 1.5 * 2 ** 30],
    ['.5', 0.5],
    ['1e3', 1000],
    ['1E', 1e18],
    ['+1Ki', 1024],
    ['-1', -1],
  ];
  for (const [q, v] of cases) assert.equal(parseQuantity(q), v, String(q));
  for (const q of [
    '',
    'Mi',
    '1 Gi',
    ' 1Gi',
    '1gi',
    '1MiB',
    '1.2.3',
    '0x10',
    'lots',
    Number.NaN,
    Number.POSITIVE_INFINITY,
  ]) {
    assert.equal(parseQuantity(q), undefined, String(q));
  }
});

test('memoryMiB: guest, else request, else limit, rounded up; 128 by default', () => {
  const spec = (domain: object) => ({ domain: { devices: {}, ...domain } }) as VmiSpec;
  assert.equal(memoryMiB(spec({})), 128);
  assert.equal(memoryMiB(spec({ resources: { limits: { memory: '2Gi' } } })), 2048);
  assert.equal(memoryMiB(spec({ resources: { requests: { memory: '1024M' }, limits: { memory: '2Gi' } } })), 977);
  assert.equal(memoryMiB(spec({ memory: { guest: '512Mi' }, resources: { requests: { memory: '1Gi' } } })), 512);
  assert.equal(memoryMiB(spec({ memory: { guest: 268435456 } })), 256);
});

test('cpuCount: topology product, else the limit, else the request (rounded up); 1 by default', () => {
  const spec = (domain: object) => ({ domain: { devices: {}, ...domain } }) as VmiSpec;
  assert.equal(cpuCount(spec({})), 1);
  assert.equal(cpuCount(spec({ cpu: { cores: 2, sockets: 2 } })), 4);
  assert.equal(cpuCount(spec({ cpu: { threads: 2 }, resources: { requests: { cpu: 8 } } })), 2);
  assert.equal(cpuCount(spec({ cpu: {}, resources: { requests: { cpu: '100m' } } })), 1);
  assert.equal(cpuCount(spec({ resources: { requests: { cpu: '2500m' } } })), 3);
  assert.equal(cpuCount(spec({ resources: { requests: { cpu: '1' }, limits: { cpu: '4' } } })), 4);
});

test('cpuCount and memoryMiB return safe integers within the bounds, or throw on a spec validation refuses', () => {
  const spec = (domain: object) => ({ domain: { devices: {}, ...domain } }) as VmiSpec;
  assert.equal(cpuCount(spec({ cpu: { cores: 8, sockets: 8, threads: 8 } })), 512);
  assert.equal(memoryMiB(spec({ memory: { guest: '16Ti' } })), 16 * 2 ** 20);
  assert.throws(
    () => cpuCount(spec({ cpu: { cores: 2 ** 40, sockets: 2 ** 40 } })),
    /vCPU count 1\.2089258196146292e\+24 is outside 1\.\.512/u,
  );
  assert.throws(
    () => cpuCount(spec({ resources: { limits: { cpu: '1e21' } } })),
    /vCPU count 1e\+21 is outside 1\.\.512/u,
  );
  assert.throws(
    () => memoryMiB(spec({ resources: { requests: { memory: '99999999999999999999Mi' } } })),
    /guest memory \(MiB\) 100000000000000000000 is outside 1\.\.16777216/u,
  );
  assert.throws(() => memoryMiB(spec({ memory: { guest: '1e400' } })), /guest memory \(MiB\) Infinity is outside/u);
});

test('the largest VM admitted: 512 vCPUs as a topology, 16Ti of guest memory', () => {
  const doc = structuredClone(BASE_VMI);
  doc.spec.domain.cpu = { cores: 8, sockets: 8, threads: 8 };
  doc.spec.domain.memory = { guest: '16Ti' };
  doc.spec.domain.resources = { requests: { memory: '16Ti', cpu: 512 }, limits: { memory: '16Ti', cpu: '512' } };
  assert.deepEqual(validate(doc).problems, []);
});

test('masquerade VM subnets must stay clear of the pod network and the service CIDRs, defaults included', () => {
  const ctx: ValidationContext = {
    ...CTX,
    reservedCidrs: [
      { cidr: '10.244.0.0/16', what: 'the pod network' },
      { cidr: '10.96.0.0/12', what: 'the service CIDR' },
    ],
  };
  const v6ctx: ValidationContext = { ...CTX, reservedCidrs: [{ cidr: 'fd10::/32', what: 'the pod network' }] };
  const at = (pod: Record<string, string>, c = ctx) => {
    const doc = structuredClone(BASE_VMI);
    doc.spec.networks[0].pod = pod;
    return validate(doc, c).problems.map((p) => `${p.path}: ${p.rule}`);
  };
  assert.deepEqual(at({ vmNetworkCIDR: '10.244.7.0/24' }), [
    'spec.networks[0].pod.vmNetworkCIDR: "10.244.7.0/24" overlaps the pod network 10.244.0.0/16; choose a subnet ' +
      'outside it',
  ]);
  assert.deepEqual(at({ vmNetworkCIDR: '10.0.0.0/8' }), [
    'spec.networks[0].pod.vmNetworkCIDR: "10.0.0.0/8" overlaps the pod network 10.244.0.0/16; choose a subnet ' +
      'outside it',
  ]);
  assert.deepEqual(at({ vmNetworkCIDR: '10.100.1.0/24' }), [
    'spec.networks[0].pod.vmNetworkCIDR: "10.100.1.0/24" overlaps the service CIDR 10.96.0.0/12; choose a subnet ' +
      'outside it',
  ]);
  // The IPv6 default fd10:0:2::/120 lies inside fd10::/32.
  assert.deepEqual(at({}, v6ctx), [
    'spec.networks[0].pod.vmIPv6NetworkCIDR: "fd10:0:2::/120" (the default) overlaps the pod network fd10::/32; ' +
      'choose a subnet outside it',
  ]);
  assert.deepEqual(
    at(
      { vmNetworkCIDR: '192.168.77.0/24', vmIPv6NetworkCIDR: 'fd20::/120' },
      { ...CTX, reservedCidrs: [...ctx.reservedCidrs!, ...v6ctx.reservedCidrs!] },
    ),
    [],
  );
  // A bridge-bound pod network routes nothing between the subnets: no overlap rule.
  const bridged = structuredClone(BASE_VMI);
  bridged.spec.domain.devices.interfaces[0] = { name: 'default', bridge: {} };
  bridged.spec.networks[0].pod = { vmNetworkCIDR: '10.244.7.0/24' };
  assert.deepEqual(validate(bridged, ctx).problems, []);
});

test('a 32k-interface VMI (2.5 MiB) is refused by maxItems, fast, with one clear problem per list', () => {
  const doc = structuredClone(BASE_VMI);
  for (let k = 0; k < 32768; k++) {
    doc.spec.domain.devices.interfaces.push({ name: `n${k}`, bridge: {} });
    doc.spec.networks.push({ name: `n${k}`, multus: { networkName: 'blue-net' } });
  }
  assert.ok(JSON.stringify(doc).length > 2_500_000);
  const t0 = performance.now();
  const { objects, problems } = validate(doc);
  const ms = performance.now() - t0;
  assert.deepEqual(objects, []);
  assert.deepEqual(
    problems.map((p) => `${p.path}: ${p.rule}`),
    [
      'spec.domain.devices.interfaces: must have at most 256 items (has 32770)',
      'spec.networks: must have at most 256 items (has 32770)',
    ],
  );
  assert.ok(ms < 200, `validation took ${ms.toFixed(0)} ms`);
});

test('validation is linear: 256 interfaces and networks, each with a problem, validate in well under a second', () => {
  const doc = structuredClone(BASE_VMI);
  for (let k = 0; k < 254; k++) {
    doc.spec.domain.devices.interfaces.push({
      name: `n${k}`,
      bridge: {},
      macAddress: '02:00:00:00:00:05',
      model: 'bad',
    });
    doc.spec.networks.push({ name: `n${k}`, multus: { networkName: 'missing' } });
  }
  const t0 = performance.now();
  const { problems } = validate(doc);
  const ms = performance.now() - t0;
  assert.ok(problems.length >= 254 * 2, String(problems.length));
  assert.ok(ms < 1000, `validation took ${ms.toFixed(0)} ms`);
});

test('an unknown field named like an Object.prototype member is reported as unknown, with a string rule', () => {
  for (const key of ['toString', 'valueOf', 'constructor', 'hasOwnProperty']) {
    const doc = structuredClone(BASE_VMI) as Doc & { spec: { networks: Array<Record<string, unknown>> } };
    doc.spec.networks[0]![key] = 1;
    const { problems } = validate(doc);
    const p = problems.find((x) => x.path.endsWith(key));
    assert.ok(p, `${key}: ${formatProblems(problems)}`);
    assert.equal(typeof p.rule, 'string');
    assert.match(p.rule, /unknown field/u);
  }
});
