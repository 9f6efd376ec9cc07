/**
 * The schema as a CRD openAPIV3Schema (Kubernetes' structural-schema rules),
 * and the schema's static types against the launcher's InterfaceSpec and
 * NetworkSpec (checked by the compiler: `npm run typecheck` covers test/).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InterfaceSpec, NetworkSpec } from '../../../launcher/spec.ts';
import { normalizedInterfaces, validateManifests } from '../../../controller/api/manifests.ts';
import {
  openApiSchema,
  type InterfaceModel,
  type JsonSchema,
  type NormalizedInterface,
  type VmiNetwork,
} from '../../../controller/api/schema.ts';

/** Keys Kubernetes rejects in a structural schema, or that this CRD must never need. */
const FORBIDDEN = [
  '$ref',
  '$id',
  'id',
  '$schema',
  'definitions',
  'const',
  'anyOf',
  'oneOf',
  'allOf',
  'not',
  'patternProperties',
  'dependencies',
  'additionalItems',
  'uniqueItems',
  'nullable',
  'default',
];
const ALLOWED = new Set([
  'type',
  'properties',
  'required',
  'items',
  'enum',
  'description',
  'additionalProperties',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-int-or-string',
  'maxLength',
  'maxItems',
  'maxProperties',
]);

/** Every structural-schema violation under `node`, as "path: what". */
function violations(node: JsonSchema, path: string): string[] {
  const out: string[] = [];
  if (Object.getOwnPropertySymbols(node).length) out.push(`${path}: symbol keys`);
  for (const key of Object.keys(node)) {
    if (FORBIDDEN.includes(key)) out.push(`${path}: forbidden ${key}`);
    else if (!ALLOWED.has(key)) out.push(`${path}: unexpected ${key}`);
  }
  const special = node['x-kubernetes-preserve-unknown-fields'] === true || node['x-kubernetes-int-or-string'] === true;
  if (node.type === undefined && !special) out.push(`${path}: no type`);
  if (node.properties !== undefined && node.additionalProperties !== undefined)
    out.push(`${path}: properties with additionalProperties`);
  if (node.additionalProperties === false) out.push(`${path}: additionalProperties false`);
  if (node.enum !== undefined && node.type !== 'string') out.push(`${path}: enum on a non-string`);
  if (node.type === 'array' && typeof node.items !== 'object') out.push(`${path}: array without items`);
  if (
    node.type === 'object' &&
    node.properties === undefined &&
    node.additionalProperties === undefined &&
    !special &&
    path !== '.metadata'
  ) {
    // An object schema with nothing in it would prune every field.
    if (path.split('.').length > 2) out.push(`${path}: empty object that prunes everything`);
  }
  for (const [key, child] of Object.entries((node.properties ?? {}) as Record<string, JsonSchema>))
    out.push(...violations(child, `${path}.${key}`));
  if (typeof node.items === 'object') out.push(...violations(node.items as JsonSchema, `${path}[]`));
  if (typeof node.additionalProperties === 'object')
    out.push(...violations(node.additionalProperties as JsonSchema, `${path}{}`));
  if (Array.isArray(node.required)) {
    for (const r of node.required as string[])
      if (!(r in (node.properties as object))) out.push(`${path}: required ${r} not in properties`);
  }
  return out;
}

function at(schema: JsonSchema, path: string): JsonSchema {
  let node = schema;
  for (const key of path.split('.')) {
    node = (key === '[]' ? node.items : (node.properties as Record<string, JsonSchema>)[key]) as JsonSchema;
    assert.ok(node, `${path}: no ${key}`);
  }
  return node;
}

for (const kind of ['VirtualMachineInstance', 'VirtualMachine'] as const) {
  test(`${kind}: the openAPIV3Schema is plain JSON and structural`, () => {
    const schema = openApiSchema(kind);
    assert.deepEqual(JSON.parse(JSON.stringify(schema)), schema, 'survives JSON unchanged');
    assert.deepEqual(violations(schema, ''), []);
    assert.deepEqual(schema.type, 'object');
    assert.deepEqual(at(schema, 'metadata'), { type: 'object' });
    assert.deepEqual(at(schema, 'kind'), { type: 'string', enum: [kind] });
  });
}

test('VMI schema: closed interfaces/networks, open elsewhere, enums and quantities in CRD form', () => {
  const s = openApiSchema('VirtualMachineInstance');
  const iface = at(s, 'spec.domain.devices.interfaces.[]');
  assert.equal(iface['x-kubernetes-preserve-unknown-fields'], undefined, 'unknown interface keys are not kept');
  assert.deepEqual(iface.required, ['name']);
  assert.deepEqual(at(iface, 'model'), {
    type: 'string',
    enum: ['virtio', 'e1000', 'e1000e', 'igb', 'ne2k_pci', 'pcnet', 'rtl8139'],
  });
  assert.deepEqual(at(iface, 'ports.[].port'), { type: 'integer' });
  assert.deepEqual(at(iface, 'bridge'), { type: 'object', properties: {} });
  assert.equal(at(s, 'spec.networks.[]')['x-kubernetes-preserve-unknown-fields'], undefined);
  assert.deepEqual(at(s, 'spec.networks.[].pod.vmIPv6NetworkCIDR'), { type: 'string', maxLength: 256 });
  assert.equal(at(s, 'spec.domain')['x-kubernetes-preserve-unknown-fields'], true, 'rng, machine, ... are kept');
  assert.equal(at(s, 'spec.volumes.[]')['x-kubernetes-preserve-unknown-fields'], true);
  assert.deepEqual(at(s, 'spec.domain.resources.requests').additionalProperties, {
    'x-kubernetes-int-or-string': true,
  });
  assert.deepEqual(at(s, 'spec.domain.memory.guest'), { 'x-kubernetes-int-or-string': true });
  assert.deepEqual(at(s, 'status'), { 'x-kubernetes-preserve-unknown-fields': true });
});

test('VM schema: runStrategy enum; the template embeds the VMI spec', () => {
  const s = openApiSchema('VirtualMachine');
  assert.deepEqual(at(s, 'spec.runStrategy').enum, [
    'Always',
    'RerunOnFailure',
    'Manual',
    'Halted',
    'Once',
    'WaitAsReceiver',
  ]);
  assert.deepEqual(at(s, 'spec.template.spec'), at(openApiSchema('VirtualMachineInstance'), 'spec'));
  assert.deepEqual(at(s, 'spec.template.metadata.labels').additionalProperties, { type: 'string', maxLength: 63 });
});

/** Every list, free string and map under `node` that has no size bound, as a path. */
function unbounded(node: JsonSchema, path: string): string[] {
  const out: string[] = [];
  if (node.type === 'array' && typeof node.maxItems !== 'number') out.push(`${path}: array without maxItems`);
  if (node.type === 'string' && node.enum === undefined && typeof node.maxLength !== 'number')
    out.push(`${path}: string without maxLength`);
  if (typeof node.additionalProperties === 'object' && typeof node.maxProperties !== 'number')
    out.push(`${path}: map without maxProperties`);
  for (const [key, child] of Object.entries((node.properties ?? {}) as Record<string, JsonSchema>))
    out.push(...unbounded(child, `${path}.${key}`));
  if (typeof node.items === 'object') out.push(...unbounded(node.items as JsonSchema, `${path}[]`));
  if (typeof node.additionalProperties === 'object')
    out.push(...unbounded(node.additionalProperties as JsonSchema, `${path}{}`));
  return out;
}

test('every list, string and map of the spec has a size bound (maxItems, maxLength, maxProperties)', () => {
  for (const kind of ['VirtualMachineInstance', 'VirtualMachine'] as const) {
    const spec = (openApiSchema(kind).properties as Record<string, JsonSchema>).spec!;
    assert.deepEqual(unbounded(spec, '.spec'), [], kind);
  }
  const s = openApiSchema('VirtualMachineInstance');
  assert.equal(at(s, 'spec.domain.devices.interfaces').maxItems, 256);
  assert.equal(at(s, 'spec.networks').maxItems, 256);
  assert.equal(at(s, 'spec.domain.devices.interfaces.[].dhcpOptions.ntpServers').maxItems, 16);
});

// ---------------------------------------------------------------- types vs the launcher

/** Exact type equality (the compiler's own comparison). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

/** The API and the launcher take the same models. */
const sameModels: Equal<InterfaceModel, NonNullable<InterfaceSpec['model']>> = true;

/** The type-level check: a normalised interface assigns to the launcher's as it is. */
function toLauncher(i: NormalizedInterface): InterfaceSpec {
  return i;
}

test("normalised interfaces and networks assign to the launcher's InterfaceSpec / NetworkSpec", () => {
  assert.equal(sameModels, true);
  const { objects, problems } = validateManifests([
    {
      source: 't#1',
      object: {
        apiVersion: 'kubevirt.io/v1',
        kind: 'VirtualMachineInstance',
        metadata: { name: 't' },
        spec: {
          domain: {
            devices: {
              interfaces: [
                {
                  name: 'default',
                  masquerade: {},
                  ports: [{ port: 22, protocol: '' }],
                  state: '',
                  mtu: 1400,
                  dhcpOptions: { ntpServers: ['192.0.2.1'] },
                },
                { name: 'x', bridge: {}, model: 'igb' },
              ],
            },
          },
          networks: [
            { name: 'default', pod: { vmNetworkCIDR: '10.0.2.0/24' } },
            { name: 'x', multus: { networkName: 'x' } },
          ],
        },
      },
    },
  ]);
  assert.deepEqual(problems, []);
  const vmi = objects[0];
  if (vmi?.kind !== 'VirtualMachineInstance') return assert.fail('no VMI');
  const interfaces: InterfaceSpec[] = normalizedInterfaces(vmi.object.spec).map(toLauncher);
  const networks: NetworkSpec[] = (vmi.object.spec.networks ?? []) satisfies VmiNetwork[];
  assert.deepEqual(interfaces, [
    {
      name: 'default',
      masquerade: {},
      model: 'virtio',
      ports: [{ port: 22, protocol: 'TCP' }],
      mtu: 1400,
      dhcpOptions: { ntpServers: ['192.0.2.1'] },
    },
    { name: 'x', bridge: {}, model: 'igb' },
  ]);
  assert.deepEqual(
    networks.map((n) => n.name),
    ['default', 'x'],
  );
});
