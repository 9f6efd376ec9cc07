// The resource types the test API server serves, and the names derived from
// them. A ResourceDef plays the part of a CRD (or of a built-in type's
// registration): https://kubernetes.io/docs/reference/using-api/api-concepts/#standard-api-terminology
import { crdManifests } from '../../controller/api/crds.ts';

/** A CRD's additionalPrinterColumns entry (apiextensions.k8s.io/v1 CustomResourceColumnDefinition). */
export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  format?: string;
  priority?: number;
}
export type JsonSchema = { [key: string]: unknown };

export interface ResourceDef {
  group: string; // '' for the core ("legacy") group served under /api/v1
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  statusSubresource: boolean;
  /** `kubectl get` columns after NAME, as a CRD's additionalPrinterColumns; absent: AGE only (or a built-in's own). */
  printerColumns?: PrinterColumn[];
  /** The CRD's openAPIV3Schema: published under /openapi/v3 and used by strict field validation. */
  schema?: JsonSchema;
}

const core = (plural: string, kind: string, namespaced: boolean, statusSubresource: boolean): ResourceDef => ({
  group: '',
  version: 'v1',
  plural,
  kind,
  namespaced,
  statusSubresource,
});
const custom = (group: string, version: string, plural: string, kind: string): ResourceDef => ({
  group,
  version,
  plural,
  kind,
  namespaced: true,
  statusSubresource: true,
});

interface CrdVersion {
  name: string;
  additionalPrinterColumns?: PrinterColumn[];
  schema?: { openAPIV3Schema?: JsonSchema };
}
interface CrdManifest {
  spec: { group: string; names: { plural: string; kind: string }; versions: CrdVersion[] };
}

/** virtnet's own CRDs as `npm run manifests` writes them, so columns and schema are the cluster's. */
function fromCrd(kind: string): ResourceDef {
  const crd = (crdManifests() as unknown as CrdManifest[]).find((c) => c.spec.names.kind === kind);
  if (!crd) throw new Error(`resources: controller/api/crds.ts has no CRD of kind ${kind}`);
  const v = crd.spec.versions[0]!;
  return {
    ...custom(crd.spec.group, v.name, crd.spec.names.plural, kind),
    ...(v.additionalPrinterColumns && { printerColumns: v.additionalPrinterColumns }),
    ...(v.schema?.openAPIV3Schema && { schema: v.schema.openAPIV3Schema }),
  };
}

/** Multus' CRD (deployments/multus-daemonset.yml): spec.config is the CNI configuration as a JSON string. */
const NAD_SCHEMA: JsonSchema = {
  type: 'object',
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec: { type: 'object', properties: { config: { type: 'string' } } },
  },
};

export const DEFAULT_RESOURCES: ResourceDef[] = [
  core('pods', 'Pod', true, true),
  core('events', 'Event', true, false),
  core('namespaces', 'Namespace', false, true),
  core('nodes', 'Node', false, true),
  fromCrd('VirtualMachineInstance'),
  fromCrd('VirtualMachine'),
  custom('kubevirt.io', 'v1', 'virtualmachineinstances', 'VirtualMachineInstance'),
  custom('kubevirt.io', 'v1', 'virtualmachines', 'VirtualMachine'),
  {
    ...custom('k8s.cni.cncf.io', 'v1', 'network-attachment-definitions', 'NetworkAttachmentDefinition'),
    statusSubresource: false,
    schema: NAD_SCHEMA,
  },
];

/** "v1" or "group/version", as in an object's apiVersion field. */
export const apiVersionOf = (def: ResourceDef): string => (def.group ? `${def.group}/${def.version}` : def.version);

/** "pods" or "virtualmachines.kubevirt.io": how the server names a resource in error messages. */
export const groupResource = (def: ResourceDef): string => (def.group ? `${def.plural}.${def.group}` : def.plural);

/** "Pod" or "VirtualMachine.kubevirt.io": how 422 Invalid messages name a kind. */
export const groupKind = (def: ResourceDef): string => (def.group ? `${def.kind}.${def.group}` : def.kind);

/**
 * Built-in types are the core group here. The difference matters: custom
 * resources reject strategic merge patch (415), demand metadata.resourceVersion
 * on PUT, and are what validating webhooks are registered for in virtnet.
 */
export const isBuiltin = (def: ResourceDef): boolean => def.group === '';

/** Path prefix of a group/version: /api/v1 or /apis/<group>/<version>. */
export const groupVersionPath = (def: ResourceDef): string =>
  def.group ? `/apis/${def.group}/${def.version}` : `/api/${def.version}`;

export const resourceKey = (def: ResourceDef): string => `${apiVersionOf(def)}/${def.plural}`;
