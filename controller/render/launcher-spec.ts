/**
 * A VMI as its launcher sees it (launcher/spec.ts): the networking fields as
 * they are, sizes resolved, absent interfaces and their networks left out
 * (KubeVirt unplugs them), and the boot source chosen by the node. Pure.
 * The VMI's own TypeBox type goes in; the spec's interfaces are its
 * normalised ones (api/normalize.ts), which the launcher checks again.
 */
import type { BootSpec, CloudInitSpec, DiskSpec, LauncherSpec } from '../../launcher/spec.ts';
import { DEFAULT_NAMESPACE, normalizedInterfaces } from '../api/normalize.ts';
import type { VirtualMachineInstance } from '../api/schema.ts';
import { HOTPLUG_PORTS_ANNOTATION, hotplugPortsOf } from '../api/rules-names.ts';

/** What of a VMI its launcher's spec is made of. */
export type VmiLike = Pick<VirtualMachineInstance, 'metadata' | 'spec'>;

export interface LauncherSpecInputs {
  boot: BootSpec;
  disks?: DiskSpec[];
  cloudInit?: CloudInitSpec;
  memoryMiB: number;
  cpus: number;
  serviceCIDRs: string[];
}

export function launcherSpec(vmi: VmiLike, inputs: LauncherSpecInputs): LauncherSpec {
  // Normalised (idempotent): the spec carries interfaces as the launcher's InterfaceSpec types them.
  const interfaces = normalizedInterfaces(vmi.spec).filter((i) => i.state !== 'absent');
  const names = new Set(interfaces.map((i) => i.name));
  const annotated = vmi.metadata.annotations?.[HOTPLUG_PORTS_ANNOTATION];
  const ports = annotated === undefined ? undefined : hotplugPortsOf(annotated);
  return {
    name: vmi.metadata.name,
    namespace: vmi.metadata.namespace ?? DEFAULT_NAMESPACE,
    ...(vmi.spec.hostname && { hostname: vmi.spec.hostname }),
    ...(vmi.spec.subdomain && { subdomain: vmi.spec.subdomain }),
    memoryMiB: inputs.memoryMiB,
    cpus: inputs.cpus,
    interfaces,
    networks: (vmi.spec.networks ?? []).filter((n) => names.has(n.name)),
    boot: inputs.boot,
    ...(inputs.disks?.length && { disks: inputs.disks }),
    ...(inputs.cloudInit && { cloudInit: inputs.cloudInit }),
    serviceCIDRs: inputs.serviceCIDRs,
    ...(ports !== undefined && { hotplugPorts: ports }),
  };
}
