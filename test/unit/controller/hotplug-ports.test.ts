/**
 * The VMI annotation virtnet.io/hotplug-ports: how many empty PCIe root ports a VM keeps for NICs plugged while
 * it runs. Admission refuses anything but a decimal whole number from 0 to 16 (controller/api/rules-names.ts
 * metadataProblems, hotplugPortsOf), with the value shown cut short; the launcher's spec carries the number
 * (controller/render/launcher-spec.ts), or no key when the VMI has no annotation. Pure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HOTPLUG_PORTS_ANNOTATION, hotplugPortsOf, metadataProblems } from '../../../controller/api/rules-names.ts';
import { validateManifests, type ApiObject } from '../../../controller/api/manifests.ts';
import type { VirtualMachineInstance } from '../../../controller/api/schema.ts';
import { launcherSpec, type LauncherSpecInputs } from '../../../controller/render/launcher-spec.ts';
import { parseLauncherSpec } from '../../../launcher/spec.ts';
import { showValue } from '../../../lib/show.ts';

const PATH = 'metadata.annotations["virtnet.io/hotplug-ports"]';
const RULE_TAIL = ' must be a whole number from 0 to 16: the empty PCIe root ports kept for hot-plugged NICs';

const GOOD: Array<[string, number]> = [
  ['0', 0],
  ['1', 1],
  ['4', 4],
  ['9', 9],
  ['10', 10],
  ['16', 16],
];

const TEN_KB = 'x'.repeat(10 * 1024);
const BAD: string[] = [
  '17',
  '99',
  '100',
  '-1',
  '+1',
  '1.5',
  '4.0',
  '',
  ' ',
  '04x',
  ' 3',
  '3 ',
  '3\n',
  '\t3',
  '３', // FULLWIDTH DIGIT THREE
  '٣', // ARABIC-INDIC DIGIT THREE
  '1e1',
  '0x4',
  '0b1',
  'four',
  'NaN',
  'Infinity',
  '4,5',
  '1_0',
  '000',
  TEN_KB,
];

test('the annotation key', () => {
  assert.equal(HOTPLUG_PORTS_ANNOTATION, 'virtnet.io/hotplug-ports');
});

test('hotplugPortsOf: a decimal whole number from 0 to 16', () => {
  for (const [text, n] of GOOD) assert.equal(hotplugPortsOf(text), n, JSON.stringify(text));
  // Two digits with a leading zero are still the number they write.
  assert.equal(hotplugPortsOf('04'), 4);
  assert.equal(hotplugPortsOf('00'), 0);
});

test('hotplugPortsOf: anything else is undefined', () => {
  for (const text of BAD) assert.equal(hotplugPortsOf(text), undefined, JSON.stringify(text.slice(0, 20)));
});

const meta = (value: string) => ({
  name: 'vm1',
  namespace: 'default',
  annotations: { [HOTPLUG_PORTS_ANNOTATION]: value },
});

test('metadataProblems: a good value, no annotation, or other annotations are no problem', () => {
  for (const [text] of GOOD) assert.deepEqual(metadataProblems(meta(text), 'metadata'), [], text);
  assert.deepEqual(metadataProblems({ name: 'vm1' }, 'metadata'), []);
  assert.deepEqual(metadataProblems({ name: 'vm1', annotations: { 'virtnet.io/other': '99' } }, 'metadata'), []);
});

test('metadataProblems: a bad value is one problem at the annotation, quoting the value', () => {
  for (const text of BAD.filter((t) => t !== TEN_KB)) {
    assert.deepEqual(
      metadataProblems(meta(text), 'metadata'),
      [{ path: PATH, rule: `${JSON.stringify(text)}${RULE_TAIL}` }],
      JSON.stringify(text),
    );
  }
});

test('metadataProblems: the path is under the `at` it is given', () => {
  assert.deepEqual(
    metadataProblems(meta('17'), 'spec.template.metadata').map((p) => p.path),
    ['spec.template.metadata.annotations["virtnet.io/hotplug-ports"]'],
  );
});

test('metadataProblems: a 10 kB value is shown cut after 100 characters, with its length', () => {
  const [problem, ...rest] = metadataProblems(meta(TEN_KB), 'metadata');
  assert.deepEqual(rest, []);
  assert.equal(problem!.path, PATH);
  assert.equal(problem!.rule, `${showValue(TEN_KB)}${RULE_TAIL}`);
  assert.equal(problem!.rule, `"${'x'.repeat(99)}… (10240 characters)${RULE_TAIL}`);
  assert.ok(problem!.rule.length < 220, `rule of ${problem!.rule.length} characters`);
  // Whatever the length of the value, the rule is as long.
  const [huge] = metadataProblems(meta('9'.repeat(256 * 1024)), 'metadata');
  assert.equal(huge!.rule.length, problem!.rule.length + String(256 * 1024).length - '10240'.length);
});

test('metadataProblems: a bad name and a bad annotation are both reported', () => {
  const problems = metadataProblems({ name: 'VM_1', annotations: { [HOTPLUG_PORTS_ANNOTATION]: '-1' } }, 'metadata');
  assert.deepEqual(
    problems.map((p) => p.path),
    ['metadata.name', PATH],
  );
});

/** A valid VMI with the annotation (or none). */
function vmi(value?: string): Record<string, unknown> {
  return {
    apiVersion: 'virtnet.io/v1alpha1',
    kind: 'VirtualMachineInstance',
    metadata: {
      name: 'hp-vm',
      namespace: 'default',
      ...(value !== undefined && { annotations: { [HOTPLUG_PORTS_ANNOTATION]: value, 'example.com/x': 'y' } }),
    },
    spec: {
      domain: {
        resources: { requests: { memory: '128Mi' } },
        devices: { interfaces: [{ name: 'default', masquerade: {} }] },
      },
      networks: [{ name: 'default', pod: {} }],
    },
  };
}

function admit(doc: object): { vmi?: VirtualMachineInstance; problems: string[] } {
  const { objects, problems } = validateManifests([{ source: 'vm.yaml#1', object: doc }]);
  const found = objects.find(
    (o): o is Extract<ApiObject, { kind: 'VirtualMachineInstance' }> => o.kind === 'VirtualMachineInstance',
  );
  return { ...(found && { vmi: found.object }), problems: problems.map((p) => `${p.path}: ${p.rule}`) };
}

test('admission (validateManifests) admits the good values and refuses the bad, at the annotation', () => {
  for (const [text] of GOOD) assert.deepEqual(admit(vmi(text)).problems, [], text);
  for (const text of BAD) {
    const { vmi: admitted, problems } = admit(vmi(text));
    assert.equal(admitted, undefined, JSON.stringify(text.slice(0, 20)));
    assert.deepEqual(problems, [`${PATH}: ${showValue(text)}${RULE_TAIL}`]);
  }
});

test('admission: an annotation that is not a string is refused by the schema', () => {
  const doc = vmi('4') as { metadata: { annotations: Record<string, unknown> } };
  doc.metadata.annotations[HOTPLUG_PORTS_ANNOTATION] = 4;
  const { vmi: admitted, problems } = admit(doc);
  assert.equal(admitted, undefined);
  assert.equal(problems.length, 1, problems.join('\n'));
  assert.match(problems[0]!, /hotplug-ports.*must be a string/u);
});

const INPUTS: LauncherSpecInputs = {
  boot: { kernel: '/boot/vmlinuz' },
  memoryMiB: 128,
  cpus: 1,
  serviceCIDRs: ['10.96.0.0/12'],
};

test("the launcher's spec carries the annotation's number as hotplugPorts", () => {
  for (const [text, n] of GOOD) {
    const { vmi: admitted } = admit(vmi(text));
    assert.ok(admitted, text);
    const spec = launcherSpec(admitted, INPUTS);
    assert.equal(spec.hotplugPorts, n, text);
    // The launcher takes it back as it is.
    assert.equal(parseLauncherSpec(JSON.parse(JSON.stringify(spec))).hotplugPorts, n);
  }
});

test("the launcher's spec has no hotplugPorts key without the annotation", () => {
  const { vmi: admitted } = admit(vmi());
  assert.ok(admitted);
  const spec = launcherSpec(admitted, INPUTS);
  assert.ok(!('hotplugPorts' in spec), JSON.stringify(spec));
  assert.ok(!JSON.stringify(spec).includes('hotplugPorts'));
  // Other annotations do not make one.
  const other = { ...admitted, metadata: { ...admitted.metadata, annotations: { 'virtnet.io/other': '4' } } };
  assert.ok(!('hotplugPorts' in launcherSpec(other, INPUTS)));
});

test("the launcher's spec leaves out a value admission would refuse, rather than pass it on", () => {
  const { vmi: admitted } = admit(vmi('4'));
  assert.ok(admitted);
  for (const text of ['17', '-1', '', ' 3', '３', TEN_KB]) {
    const unadmitted = {
      ...admitted,
      metadata: { ...admitted.metadata, annotations: { [HOTPLUG_PORTS_ANNOTATION]: text } },
    };
    assert.ok(!('hotplugPorts' in launcherSpec(unadmitted, INPUTS)), JSON.stringify(text.slice(0, 20)));
  }
});
