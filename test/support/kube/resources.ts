// The resource types the test API server serves, and the names derived from
// them. A ResourceDef plays the part of a CRD (or of a built-in type's
// registration): https://kubernetes.io/docs/reference/using-api/api-concepts/#standard-api-terminology

export interface ResourceDef {
  group: string; // '' for the core ("legacy") group served under /api/v1
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  statusSubresource: boolean;
}

const core = (plural: string, kind: string, namespaced: boolean, statusSubresource: boolean): ResourceDef =>
  ({ group: '', version: 'v1', plural, kind, namespaced, statusSubresource });
const custom = (group: string, version: string, plural: string, kind: string): ResourceDef =>
  ({ group, version, plural, kind, namespaced: true, statusSubresource: true });

export const DEFAULT_RESOURCES: ResourceDef[] = [
  core('pods', 'Pod', true, true),
  core('events', 'Event', true, false),
  core('namespaces', 'Namespace', false, true),
  core('nodes', 'Node', false, true),
  custom('virtnet.io', 'v1alpha1', 'virtualmachineinstances', 'VirtualMachineInstance'),
  custom('virtnet.io', 'v1alpha1', 'virtualmachines', 'VirtualMachine'),
  custom('kubevirt.io', 'v1', 'virtualmachineinstances', 'VirtualMachineInstance'),
  custom('kubevirt.io', 'v1', 'virtualmachines', 'VirtualMachine'),
  { ...custom('k8s.cni.cncf.io', 'v1', 'network-attachment-definitions', 'NetworkAttachmentDefinition'), statusSubresource: false },
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
export const groupVersionPath = (def: ResourceDef): string => (def.group ? `/apis/${def.group}/${def.version}` : `/api/${def.version}`);

export const resourceKey = (def: ResourceDef): string => `${apiVersionOf(def)}/${def.plural}`;
