/**
 * The CRDs generated from the one schema (controller/api/crds.ts):
 *  - deploy/crds holds exactly what `npm run manifests` writes (drift);
 *  - each openAPIV3Schema is structural, checked by the rules the apiserver
 *    applies
 * (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema;
 *    apiextensions-apiserver pkg/apis/apiextensions/validation/validation.go
 *    and pkg/apiserver/schema/validation.go), and the checker catches
 *    schemas that are not;
 *  - virtnet's examples and KubeVirt's fixtures validate against it with a
 *    real JSON-Schema validator (ajv), and invalid documents do not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { parse, parseAllDocuments } from 'yaml';
import { crdFiles, crdManifests, GROUP, VERSION } from '../../../controller/api/crds.ts';
import type { JsonSchema } from '../../../controller/api/schema.ts';

const ROOT = join(import.meta.dirname, '../../..');
type Props = Record<string, JsonSchema>;
type Kind = 'VirtualMachineInstance' | 'VirtualMachine';

interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  subresources: object;
  additionalPrinterColumns: Array<{ name: string; jsonPath: string }>;
  schema: { openAPIV3Schema: JsonSchema };
}
interface Crd {
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: { kind: Kind; plural: string; shortNames: string[]; categories: string[] };
    versions: CrdVersion[];
  };
}
const crds = crdManifests() as unknown as Crd[];
const versionOf = (crd: Crd): CrdVersion => crd.spec.versions[0]!;
const schemaOf = (kind: Kind): JsonSchema =>
  versionOf(crds.find((c) => c.spec.names.kind === kind)!).schema.openAPIV3Schema;

// ------------------------------------------------------------------ drift

test('deploy/crds holds what npm run manifests generates', () => {
  const files = crdFiles();
  assert.deepEqual(
    files.map((f) => f.path),
    [
      'deploy/crds/virtnet.io_virtualmachineinstances.yaml',
      'deploy/crds/virtnet.io_virtualmachines.yaml',
      'deploy/crds/kustomization.yaml',
    ],
  );
  for (const { path, text } of files)
    assert.equal(readFileSync(join(ROOT, path), 'utf8'), text, `${path} is stale: run npm run manifests`);
  // kubectl reads YAML 1.1 (sigs.k8s.io/yaml): the text must mean the same object there.
  crdManifests().forEach((m, i) => assert.deepEqual(parse(files[i]!.text, { version: '1.1' }), m));
  assert.deepEqual(parse(files[2]!.text).resources, [
    'virtnet.io_virtualmachineinstances.yaml',
    'virtnet.io_virtualmachines.yaml',
  ]);
});

test('the CRDs: group, version, names, scope, status subresource', () => {
  assert.deepEqual(
    crds.map((c) => [c.metadata.name, c.spec.names.kind, c.spec.names.shortNames]),
    [
      ['virtualmachineinstances.virtnet.io', 'VirtualMachineInstance', ['vmi', 'vmis']],
      ['virtualmachines.virtnet.io', 'VirtualMachine', ['vm', 'vms']],
    ],
  );
  for (const c of crds) {
    assert.equal(c.spec.group, GROUP);
    assert.equal(c.spec.scope, 'Namespaced');
    assert.deepEqual(c.spec.names.categories, ['all', 'virtnet']);
    assert.equal(c.spec.versions.length, 1);
    const v = versionOf(c);
    assert.deepEqual([v.name, v.served, v.storage, v.subresources], [VERSION, true, true, { status: {} }]);
  }
  assert.deepEqual(
    versionOf(crds[0]!).additionalPrinterColumns.map((c) => c.name),
    ['Phase', 'IP', 'Node', 'Age'],
  );
  assert.deepEqual(
    versionOf(crds[1]!).additionalPrinterColumns.map((c) => c.name),
    ['Status', 'RunStrategy', 'Age'],
  );
});

// ------------------------------------------------------------------ structural schemas

/** JSONSchemaProps' JSON fields (apiextensions/v1 types_jsonschema.go): any other key is an unknown field. */
const KEYS = new Set([
  'id',
  '$schema',
  '$ref',
  'description',
  'type',
  'format',
  'title',
  'default',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'uniqueItems',
  'multipleOf',
  'enum',
  'maxProperties',
  'minProperties',
  'required',
  'items',
  'allOf',
  'oneOf',
  'anyOf',
  'not',
  'properties',
  'additionalProperties',
  'patternProperties',
  'dependencies',
  'additionalItems',
  'definitions',
  'externalDocs',
  'example',
  'nullable',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-int-or-string',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-list-type',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
]);
/** specStandardValidatorV3: fields JSONSchemaProps has but CRDs refuse. */
const UNSUPPORTED = ['id', '$ref', 'patternProperties', 'definitions', 'dependencies', 'additionalItems'];
/** allowedFieldsAtRootSchema: the root may hold only these when the status subresource is on. */
const ROOT_KEYS = new Set([
  'description',
  'type',
  'format',
  'title',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'uniqueItems',
  'multipleOf',
  'required',
  'items',
  'properties',
  'externalDocs',
  'example',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-validations',
]);
const TYPES = new Set(['array', 'boolean', 'integer', 'number', 'object', 'string']);
const JUNCTORS = ['allOf', 'anyOf', 'oneOf'] as const;
/** validateNestedValueValidation: under a junctor only value validations, never structure. */
const NOT_UNDER_JUNCTOR = [
  'type',
  'description',
  'title',
  'default',
  'nullable',
  'externalDocs',
  'additionalProperties',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-int-or-string',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
];

const isSchema = (v: unknown): v is JsonSchema => typeof v === 'object' && v !== null && !Array.isArray(v);
const propsOf = (s: JsonSchema): Props => (isSchema(s.properties) ? (s.properties as Props) : {});
const isIntOrStringAnyOf = (anyOf: unknown) => JSON.stringify(anyOf) === '[{"type":"integer"},{"type":"string"}]';

/** Every structural-schema violation in a CRD's openAPIV3Schema, as "path: rule". */
function structuralProblems(root: JsonSchema): string[] {
  const out: string[] = [];
  for (const key of Object.keys(root))
    if (!ROOT_KEYS.has(key)) out.push(`<root>: ${key} is not allowed at the root with the status subresource`);
  if (root.type !== 'object') out.push('<root>: type must be object');
  walk(root, '', 'root', out);
  return out;
}

function walk(s: JsonSchema, path: string, level: 'root' | 'field' | 'item', out: string[]): void {
  const at = path || '<root>';
  const problem = (rule: string) => out.push(`${at}: ${rule}`);
  for (const key of Object.keys(s)) if (!KEYS.has(key)) problem(`unknown field ${key}`);
  for (const key of UNSUPPORTED) if (key in s) problem(`${key} is not supported`);
  const intOrString = s['x-kubernetes-int-or-string'] === true;
  const preserve = s['x-kubernetes-preserve-unknown-fields'];
  const embedded = s['x-kubernetes-embedded-resource'] === true;
  if (s.type !== undefined && !TYPES.has(s.type as string))
    problem(`type ${JSON.stringify(s.type)} is not one of ${[...TYPES].join(', ')}`);
  if (s.type === undefined && !intOrString && preserve !== true) problem(`type must not be empty (${level})`);
  if (preserve !== undefined && preserve !== true)
    problem('x-kubernetes-preserve-unknown-fields must be true or undefined');
  if (intOrString && preserve === true)
    problem('x-kubernetes-preserve-unknown-fields must be false with x-kubernetes-int-or-string');
  if (embedded && s.type !== 'object') problem('type must be object with x-kubernetes-embedded-resource');
  if (s.uniqueItems === true) problem('uniqueItems cannot be true');
  if (s.type === 'array' && !isSchema(s.items)) problem('items must be one schema');
  const props = propsOf(s);
  const additional = s.additionalProperties;
  if (additional !== undefined) {
    if (level === 'root') problem('additionalProperties must not be used at the root');
    if (Object.keys(props).length > 0 && (additional === false || isSchema(additional)))
      problem('additionalProperties and properties are mutually exclusive');
  }
  if (level === 'root' || embedded) {
    for (const key of ['apiVersion', 'kind'])
      if (props[key] && props[key].type !== 'string') problem(`${key} must be of type string`);
    if (props.metadata && props.metadata.type !== 'object') problem('metadata must be of type object');
  }
  if (level === 'root' && props.metadata) {
    // The apiserver validates ObjectMeta itself: a CRD may only restrict name and generateName.
    const extra = [
      ...Object.keys(props.metadata).filter((k) => k !== 'type' && k !== 'properties'),
      ...Object.keys(propsOf(props.metadata)).filter((k) => k !== 'name' && k !== 'generateName'),
    ];
    if (extra.length)
      problem(`metadata must not specify anything other than name and generateName (${extra.join(', ')})`);
  }
  // The two int-or-string exceptions: anyOf: [{type: integer}, {type: string}], or that as allOf[0]'s anyOf.
  junctors(s, s, at, isIntOrStringAnyOf(s.anyOf), out);
  for (const [key, child] of Object.entries(props)) walk(child, `${path}.${key}`, 'field', out);
  if (isSchema(s.items)) walk(s.items, `${path}[]`, 'item', out);
  if (isSchema(additional)) walk(additional, `${path}{}`, 'field', out);
}

/** The junctors of `v` (a schema or a schema under a junctor) about the structural node `outer`. */
function junctors(v: JsonSchema, outer: JsonSchema | undefined, at: string, skipAnyOf: boolean, out: string[]): void {
  for (const junctor of JUNCTORS) {
    if (junctor === 'anyOf' && skipAnyOf) continue;
    const branches = Array.isArray(v[junctor]) ? (v[junctor] as JsonSchema[]) : [];
    // allOf[0]'s anyOf is the exception only on the structural node itself (v === outer), not deeper.
    const skipFirstAnyOf = junctor === 'allOf' && v === outer && isIntOrStringAnyOf(branches[0]?.anyOf);
    branches.forEach((b, i) => nested(b, outer, `${at}.${junctor}[${i}]`, skipFirstAnyOf && i === 0, out));
  }
  if (isSchema(v.not)) nested(v.not, outer, `${at}.not`, false, out);
}

/** A schema under a junctor: value validation only, about fields the structural schema `outer` specifies. */
function nested(v: JsonSchema, outer: JsonSchema | undefined, at: string, skipAnyOf: boolean, out: string[]): void {
  for (const key of NOT_UNDER_JUNCTOR) if (key in v) out.push(`${at}: ${key} must not be under a junctor`);
  const outerProps = outer ? propsOf(outer) : {};
  for (const [key, child] of Object.entries(propsOf(v))) {
    if (key === 'metadata') out.push(`${at}.${key}: metadata must not be specified under a junctor`);
    if (!(key in outerProps)) out.push(`${at}.${key}: not specified outside the junctor`);
    nested(child, outerProps[key], `${at}.${key}`, false, out);
  }
  if (isSchema(v.items)) {
    const outerItems = outer && isSchema(outer.items) ? outer.items : undefined;
    if (!outerItems) out.push(`${at}[]: items not specified outside the junctor`);
    nested(v.items, outerItems, `${at}[]`, false, out);
  }
  junctors(v, outer, at, skipAnyOf, out);
}

/** The schema node a printer column's JSONPath (".a.b[0].c") reads; metadata is the apiserver's ObjectMeta. */
function columnTarget(schema: JsonSchema, jsonPath: string): JsonSchema | undefined {
  let node: JsonSchema | undefined = schema;
  for (const step of jsonPath.slice(1).split('.')) {
    const [, name, index] = /^(\w+)(\[\d+\])?$/u.exec(step) ?? [];
    if (!node || !name) return undefined;
    if (node === schema && name === 'metadata') return { type: 'object' };
    node = propsOf(node)[name];
    if (node && index) node = isSchema(node.items) ? node.items : undefined;
  }
  return node;
}

for (const kind of ['VirtualMachineInstance', 'VirtualMachine'] as const) {
  test(`${kind}: the openAPIV3Schema is structural and its printer columns read specified fields`, () => {
    const schema = schemaOf(kind);
    assert.deepEqual(structuralProblems(schema), []);
    assert.deepEqual(JSON.parse(JSON.stringify(schema)), schema, 'plain JSON');
    const crd = crds.find((c) => c.spec.names.kind === kind)!;
    for (const column of versionOf(crd).additionalPrinterColumns) {
      assert.ok(columnTarget(schema, column.jsonPath), `${column.name}: ${column.jsonPath} is not in the schema`);
    }
  });
}

test('the structural checker catches what the apiserver refuses', () => {
  const root = (spec: JsonSchema, extra: JsonSchema = {}): JsonSchema => ({
    type: 'object',
    properties: { metadata: { type: 'object' }, spec },
    ...extra,
  });
  const cases: Array<[string, JsonSchema, RegExp]> = [
    [
      'a field without a type',
      root({ properties: { a: { type: 'string' } } }),
      /^\.spec: type must not be empty \(field\)$/u,
    ],
    [
      'an array item without a type',
      root({ type: 'array', items: { description: 'x' } }),
      /^\.spec\[\]: type must not be empty \(item\)$/u,
    ],
    ['an array without items', root({ type: 'array' }), /^\.spec: items must be one schema$/u],
    ['$ref', root({ $ref: '#/definitions/Spec' }), /^\.spec: \$ref is not supported$/u],
    ['a JSON-Schema keyword CRDs lack', root({ type: 'string', const: 'x' }), /^\.spec: unknown field const$/u],
    ['type as a list', root({ type: ['string', 'null'] }), /^\.spec: type \["string","null"\] is not one of/u],
    [
      'properties with additionalProperties',
      root({ type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false }),
      /mutually exclusive/u,
    ],
    [
      'additionalProperties at the root',
      root({ type: 'object' }, { additionalProperties: { type: 'string' } }),
      /^<root>: additionalProperties is not allowed at the root/mu,
    ],
    [
      'preserve-unknown-fields false',
      root({ type: 'object', 'x-kubernetes-preserve-unknown-fields': false }),
      /must be true or undefined/u,
    ],
    [
      'a type under anyOf',
      root({ type: 'object', anyOf: [{ type: 'object' }] }),
      /^\.spec\.anyOf\[0\]: type must not be under a junctor$/u,
    ],
    [
      'a field only under a junctor',
      root({ type: 'object', oneOf: [{ properties: { a: {} } }] }),
      /^\.spec\.oneOf\[0\]\.a: not specified outside the junctor$/u,
    ],
    [
      'metadata restricted beyond name',
      { type: 'object', properties: { metadata: { type: 'object', properties: { labels: { type: 'object' } } } } },
      /metadata must not specify anything other than name and generateName \(labels\)/u,
    ],
    [
      'kind not a string',
      { type: 'object', properties: { kind: { type: 'integer' } } },
      /^<root>: kind must be of type string$/u,
    ],
  ];
  for (const [name, schema, rule] of cases) {
    const problems = structuralProblems(schema);
    assert.ok(
      problems.some((p) => rule.test(p)),
      `${name}: expected ${rule}, got ${JSON.stringify(problems)}`,
    );
  }
  const intOrString = [{ type: 'integer' }, { type: 'string' }];
  const fine = root({
    type: 'object',
    properties: {
      q: { 'x-kubernetes-int-or-string': true, anyOf: intOrString, pattern: '^[0-9]+(m|Mi)?$' },
      r: { 'x-kubernetes-int-or-string': true, allOf: [{ anyOf: intOrString }, { pattern: '^[0-9]+$' }] },
    },
  });
  (fine.properties as Props).metadata = { type: 'object', properties: { name: { type: 'string', maxLength: 63 } } };
  assert.deepEqual(structuralProblems(fine), [], 'int-or-string anyOf and a name restriction are allowed');
});

// ------------------------------------------------------------------ documents against the schema (ajv)

/**
 * A CRD schema as plain JSON Schema, as the apiserver validates with it:
 * x-kubernetes-int-or-string is type [integer, string] (apiextensions-apiserver
 * ConvertJSONSchemaPropsWithPostProcess); an object without
 * x-kubernetes-preserve-unknown-fields takes no unknown keys, which kubectl's
 * default strict field validation reports as errors rather than pruning them
 * (https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation).
 */
function toJsonSchema(s: JsonSchema): JsonSchema {
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(s)) {
    if (key.startsWith('x-kubernetes-')) continue;
    if (key === 'properties')
      out.properties = Object.fromEntries(Object.entries(value as Props).map(([k, v]) => [k, toJsonSchema(v)]));
    else
      out[key] = (key === 'items' || key === 'additionalProperties') && isSchema(value) ? toJsonSchema(value) : value;
  }
  if (s['x-kubernetes-int-or-string'] === true) out.type = ['integer', 'string'];
  if (s.type === 'object' && s['x-kubernetes-preserve-unknown-fields'] !== true && s.additionalProperties === undefined)
    out.additionalProperties = false;
  return out;
}

function validatorFor(kind: Kind) {
  const schema = toJsonSchema(schemaOf(kind));
  // ObjectMeta is the apiserver's to validate, never pruned by the CRD schema.
  (schema.properties as Props).metadata = { type: 'object' };
  return new Ajv({ strict: true, allErrors: true, allowUnionTypes: true }).compile(schema);
}
const validators = {
  VirtualMachineInstance: validatorFor('VirtualMachineInstance'),
  VirtualMachine: validatorFor('VirtualMachine'),
};

function errorsOf(doc: JsonSchema): Array<Pick<ErrorObject, 'instancePath' | 'keyword'>> {
  const validate = validators[doc.kind as Kind];
  validate(doc);
  return (validate.errors ?? []).map(({ instancePath, keyword }) => ({ instancePath, keyword }));
}

/** The VMI and VM documents of a YAML file (NetworkAttachmentDefinitions skipped). */
function vmDocuments(path: string): JsonSchema[] {
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((d) => d.toJS() as JsonSchema | null)
    .filter((d): d is JsonSchema => d !== null && (d.kind === 'VirtualMachineInstance' || d.kind === 'VirtualMachine'));
}

const yamlIn = (dir: string) =>
  readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => join(dir, f));

for (const file of [...yamlIn('examples'), ...yamlIn('test/fixtures/kubevirt')]) {
  test(`${file}: its VMIs and VMs validate against the CRD schema`, () => {
    const docs = vmDocuments(join(ROOT, file));
    assert.ok(docs.length > 0, 'no VMI or VM in the file');
    for (const doc of docs) {
      // KubeVirt's fixtures are served here under virtnet's group.
      const asVirtnet = { ...doc, apiVersion: `${GROUP}/${VERSION}` };
      assert.deepEqual(errorsOf(asVirtnet), [], `${String(doc.kind)} ${JSON.stringify(doc.metadata)}`);
    }
  });
}

test('a VMI status as virtnet reports it validates; open parts keep unknown fields', () => {
  const [vmi] = vmDocuments(join(ROOT, 'examples/vm-bridge.yaml'));
  const status = {
    phase: 'Running',
    nodeName: 'node-1',
    launcherPod: { name: 'virt-launcher-vm-bridge-x7k2p', uid: 'c0ffee' },
    conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2025-01-01T00:00:00Z' }],
    guestOSInfo: {},
    interfaces: [
      {
        name: 'default',
        ipAddress: '10.244.0.5',
        ipAddresses: ['10.244.0.5'],
        mac: '02:00:00:00:00:01',
        infoSource: 'domain',
        linkState: 'up',
        leased: true,
        queueCount: 1,
      },
    ],
    virtnet: {
      netns: 'virtnet-vm-bridge',
      launcherPid: 4242,
      accel: 'kvm',
      nics: [
        {
          name: 'default',
          binding: 'bridge',
          network: 'pod',
          podInterface: 'eth0',
          bridge: 'k6t-eth0',
          tap: 'tap0',
          mac: '02:00:00:00:00:01',
          model: 'virtio',
          mtu: 1500,
          ips: ['10.244.0.5/24'],
          podIps: ['10.244.0.5'],
          leased4: true,
          leased6: false,
          ports: [],
        },
      ],
      steps: [{ name: 'sandbox', ms: 12.5 }],
    },
  };
  assert.deepEqual(errorsOf({ ...vmi, status }), []);
});

test('invalid documents are rejected: wrong enum, wrong type, unknown closed field, missing spec', () => {
  const [vmi] = vmDocuments(join(ROOT, 'examples/vm-bridge.yaml'));
  const [vm] = vmDocuments(join(ROOT, 'examples/vm-masquerade-ports.yaml'));
  const IFACE = '/spec/domain/devices/interfaces/0';
  const withInterface = (patch: JsonSchema) => {
    const doc = structuredClone(vmi!) as { spec: { domain: { devices: { interfaces: JsonSchema[] } } } };
    Object.assign(doc.spec.domain.devices.interfaces[0]!, patch);
    return doc as unknown as JsonSchema;
  };
  const withMemory = (memory: unknown) => {
    const doc = structuredClone(vmi!) as { spec: { domain: { resources: { requests: JsonSchema } } } };
    doc.spec.domain.resources.requests.memory = memory;
    return doc as unknown as JsonSchema;
  };
  const cases: Array<[string, JsonSchema, Array<Pick<ErrorObject, 'instancePath' | 'keyword'>>]> = [
    [
      'a model not in the enum',
      withInterface({ model: 'virtio-net' }),
      [{ instancePath: `${IFACE}/model`, keyword: 'enum' }],
    ],
    [
      'a port as a string',
      withInterface({ ports: [{ port: '80' }] }),
      [{ instancePath: `${IFACE}/ports/0/port`, keyword: 'type' }],
    ],
    [
      'a typo in a closed object',
      withInterface({ macAdress: '02:00:00:00:00:10' }),
      [{ instancePath: IFACE, keyword: 'additionalProperties' }],
    ],
    [
      'a quantity as a boolean',
      withMemory(true),
      [{ instancePath: '/spec/domain/resources/requests/memory', keyword: 'type' }],
    ],
    // int-or-string takes integers only: 0.5 must be written "500m" (virtnet's own check is laxer).
    [
      'a fractional quantity',
      withMemory(0.5),
      [{ instancePath: '/spec/domain/resources/requests/memory', keyword: 'type' }],
    ],
    [
      'a runStrategy not in the enum',
      { ...vm, spec: { ...(vm!.spec as JsonSchema), runStrategy: 'Sometimes' } },
      [{ instancePath: '/spec/runStrategy', keyword: 'enum' }],
    ],
    [
      'a phase not in the enum',
      { ...vmi, status: { phase: 'Booting' } },
      [{ instancePath: '/status/phase', keyword: 'enum' }],
    ],
    [
      'no spec',
      { apiVersion: `${GROUP}/${VERSION}`, kind: 'VirtualMachineInstance', metadata: { name: 'x' } },
      [{ instancePath: '', keyword: 'required' }],
    ],
  ];
  for (const [name, doc, expected] of cases) assert.deepEqual(errorsOf(doc), expected, name);
});
