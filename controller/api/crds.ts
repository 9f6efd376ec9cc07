/**
 * The CustomResourceDefinitions of virtnet.io/v1alpha1, generated from the
 * one TypeBox schema (schema.ts → openapi.ts) so that the cluster and
 * virtnet's own checks cannot drift apart. `npm run manifests` writes them
 * to deploy/crds (scripts/manifests.ts); test/unit/controller/crds.test.ts
 * checks that the committed files match and that both schemas are structural.
 *
 * openApiSchema(kind) describes a whole manifest as virtnet reads it from a
 * file. A CRD's root is the apiserver's, so only its `spec` is taken, and the
 * root is rebuilt the way Kubernetes expects
 * (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema):
 *  - apiVersion and kind are plain strings: the apiserver sets and checks
 *    them from the request path, and the file schema's enum of
 *    kubevirt.io versions means nothing in group virtnet.io;
 *  - metadata is `type: object` only: ObjectMeta is validated by the
 *    apiserver, and a CRD may restrict nothing in it but name/generateName;
 *  - no x-kubernetes-preserve-unknown-fields at the root: unknown top-level
 *    fields are pruned, as on every Kubernetes object;
 *  - status is a real schema (status.ts's shape) instead of "anything",
 *    because with the status subresource it is what `kubectl get` columns
 *    and `kubectl explain` read.
 */
import { stringify } from 'yaml';
import { openApiSchema, type JsonSchema } from './schema.ts';
import type { NicWiring, VmiCondition, VmiInterfaceStatus, VmiPhase, VmiStatus } from './status.ts';

export const GROUP = 'virtnet.io';
export const VERSION = 'v1alpha1';
/** Where `npm run manifests` writes the CRDs, relative to the repository root. */
export const CRD_DIR = 'deploy/crds';

type Kind = 'VirtualMachineInstance' | 'VirtualMachine';
type Props = Record<string, JsonSchema>;

const PRESERVE = { 'x-kubernetes-preserve-unknown-fields': true } as const;
const str = (description?: string): JsonSchema => (description ? { type: 'string', description } : { type: 'string' });
const strings = (): JsonSchema => ({ type: 'array', items: { type: 'string' } });
const int = (): JsonSchema => ({ type: 'integer' });
const bool = (): JsonSchema => ({ type: 'boolean' });
/** A string enum from a Record over a union type: the compiler checks the list is exactly the union. */
const enumOf = (values: Record<string, true>): JsonSchema => ({ type: 'string', enum: Object.keys(values) });

const PHASES: Record<VmiPhase, true> = {
  Pending: true,
  Scheduling: true,
  Scheduled: true,
  Running: true,
  Succeeded: true,
  Failed: true,
  Unknown: true,
};
const LINK_STATES: Record<NonNullable<VmiInterfaceStatus['linkState']>, true> = { up: true, down: true };
const BINDINGS: Record<NicWiring['binding'], true> = { bridge: true, masquerade: true };
const CONDITION_TYPES: Record<VmiCondition['type'], true> = { Ready: true, Synchronized: true };
const CONDITION_STATUSES: Record<VmiCondition['status'], true> = { True: true, False: true, Unknown: true };
type LauncherPod = NonNullable<VmiStatus['launcherPod']>;

/** status.interfaces[]: KubeVirt's VirtualMachineInstanceNetworkInterface has more fields, so it stays open. */
const interfaceStatus: Record<keyof VmiInterfaceStatus, JsonSchema> = {
  name: str(),
  interfaceName: str(),
  ipAddress: str(),
  ipAddresses: strings(),
  mac: str(),
  infoSource: str(),
  podInterfaceName: str(),
  linkState: enumOf(LINK_STATES),
  leased: bool(),
};

const nicWiring: Record<keyof NicWiring, JsonSchema> = {
  name: str(),
  binding: enumOf(BINDINGS),
  network: str(),
  podInterface: str(),
  bridge: str(),
  tap: str(),
  mac: str(),
  model: str(),
  mtu: int(),
  ips: strings(),
  podIps: strings(),
  leased4: bool(),
  leased6: bool(),
  linkState: enumOf(LINK_STATES),
  hotplugged: bool(),
  removing: bool(),
  ports: strings(),
};

type VirtnetStatus = NonNullable<VmiStatus['virtnet']>;
type Step = VirtnetStatus['steps'][number];
/** status.virtnet is virtnet's own bookkeeping (describe, topology): typed where known, open to grow. */
const virtnetStatus: Record<keyof VirtnetStatus, JsonSchema> = {
  netns: str(),
  launcherPid: int(),
  accel: str(),
  nics: { type: 'array', items: { type: 'object', properties: nicWiring, ...PRESERVE } },
  steps: {
    type: 'array',
    items: {
      type: 'object',
      properties: { name: str(), ms: { type: 'number' } } satisfies Record<keyof Step, JsonSchema>,
      ...PRESERVE,
    },
  },
};

/** status.conditions[]: metav1.Condition's fields; open, as metav1.Condition also has observedGeneration. */
const condition: Record<keyof VmiCondition, JsonSchema> = {
  type: enumOf(CONDITION_TYPES),
  status: enumOf(CONDITION_STATUSES),
  reason: str(),
  message: str(),
  lastTransitionTime: str(),
};

/** VMI status, keyed by status.ts's VmiStatus; open, as KubeVirt's status carries more. */
const vmiStatus: Record<keyof VmiStatus, JsonSchema> = {
  phase: enumOf(PHASES),
  reason: str('Why the phase is Failed or Pending, in one line.'),
  interfaces: { type: 'array', items: { type: 'object', properties: interfaceStatus, ...PRESERVE } },
  nodeName: str('The node the launcher pod runs on.'),
  launcherPod: {
    type: 'object',
    properties: { name: str(), uid: str() } satisfies Record<keyof LauncherPod, JsonSchema>,
  },
  conditions: { type: 'array', items: { type: 'object', properties: condition, ...PRESERVE } },
  virtnet: { type: 'object', properties: virtnetStatus, ...PRESERVE },
};

/** VM status in KubeVirt's names (VirtualMachineStatus), open; printableStatus is `kubectl get vm`'s Status column. */
const vmStatus: Props = {
  printableStatus: str('Stopped, Starting, Running, Stopping, ... as KubeVirt prints it.'),
  created: bool(),
  ready: bool(),
  restartRequired: str(
    "The template's changes the running VMI cannot take live (only interfaces can); they apply at its next start.",
  ),
};

interface CrdSpec {
  kind: Kind;
  plural: string;
  shortNames: string[];
  status: Props;
  columns: Array<{ name: string; type: string; jsonPath: string; description?: string }>;
}

const AGE = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

const CRDS: CrdSpec[] = [
  {
    kind: 'VirtualMachineInstance',
    plural: 'virtualmachineinstances',
    shortNames: ['vmi', 'vmis'],
    status: vmiStatus,
    columns: [
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      {
        name: 'IP',
        type: 'string',
        jsonPath: '.status.interfaces[0].ipAddress',
        description: "The first interface's address",
      },
      { name: 'Node', type: 'string', jsonPath: '.status.nodeName' },
      AGE,
    ],
  },
  {
    kind: 'VirtualMachine',
    plural: 'virtualmachines',
    shortNames: ['vm', 'vms'],
    status: vmStatus,
    columns: [
      { name: 'Status', type: 'string', jsonPath: '.status.printableStatus' },
      { name: 'RunStrategy', type: 'string', jsonPath: '.spec.runStrategy' },
      AGE,
    ],
  },
];

/** The CRD root around the generated spec (see the file comment for why each piece). */
function rootSchema(kind: Kind, status: Props): JsonSchema {
  const spec = (openApiSchema(kind).properties as Props | undefined)?.spec;
  if (!spec) throw new Error(`crds: openApiSchema(${kind}) has no spec`);
  return {
    type: 'object',
    description: `A virtnet ${kind}: KubeVirt's kubevirt.io/v1 ${kind} fields, networked by virtnet.`,
    properties: {
      apiVersion: str('APIVersion defines the versioned schema of this representation of an object.'),
      kind: str('Kind is a string value representing the REST resource this object represents.'),
      metadata: { type: 'object' },
      spec,
      status: { type: 'object', properties: status, ...PRESERVE },
    },
    required: ['spec'],
  };
}

function crd(c: CrdSpec): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${c.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      names: {
        kind: c.kind,
        listKind: `${c.kind}List`,
        plural: c.plural,
        singular: c.kind.toLowerCase(),
        shortNames: c.shortNames,
        categories: ['all', 'virtnet'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: c.columns,
          schema: { openAPIV3Schema: rootSchema(c.kind, c.status) },
        },
      ],
    },
  };
}

/** Both CRDs, VirtualMachineInstance first. */
export function crdManifests(): Array<Record<string, unknown>> {
  return CRDS.map(crd);
}

const HEADER = '# generated by npm run manifests from controller/api/schema.ts; do not edit\n';

/**
 * Each CRD as the file `npm run manifests` writes, path relative to the
 * repository root (controller-gen's naming, <group>_<plural>.yaml). YAML 1.1
 * output quotes strings such as "on" or "y" that kubectl's YAML 1.1 parser
 * would read as booleans; lineWidth 0 keeps long descriptions on one line.
 */
export function crdFiles(): Array<{ path: string; text: string }> {
  const crds = crdManifests().map((m) => {
    const name = (m.metadata as { name: string }).name;
    const plural = name.slice(0, name.indexOf('.'));
    return {
      path: `${CRD_DIR}/${GROUP}_${plural}.yaml`,
      text: HEADER + stringify(m, { version: '1.1', lineWidth: 0 }),
    };
  });
  // Kustomize loads files only from a kustomization's own folder or below, so deploy/base lists this folder.
  const kustomization = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: crds.map((c) => c.path.slice(CRD_DIR.length + 1)),
  };
  return [
    ...crds,
    { path: `${CRD_DIR}/kustomization.yaml`, text: HEADER + stringify(kustomization, { version: '1.1' }) },
  ];
}
