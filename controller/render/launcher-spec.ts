/**
 * A VMI as its launcher sees it (launcher/spec.ts): the networking fields as
 * they are, sizes resolved, absent interfaces and their networks left out
 * (KubeVirt unplugs them), and the boot source chosen by the node. Pure.
 */
import type {
  BootSpec,
  CloudInitSpec,
  DiskSpec,
  InterfaceSpec,
  LauncherSpec,
  NetworkSpec,
} from '../../launcher/spec.ts';

export interface VmiLike {
  metadata: { name: string; namespace?: string };
  spec: {
    hostname?: string;
    subdomain?: string;
    domain: { devices: { interfaces?: InterfaceSpec[] } };
    networks?: NetworkSpec[];
  };
}

export interface LauncherSpecInputs {
  boot: BootSpec;
  disks?: DiskSpec[];
  cloudInit?: CloudInitSpec;
  memoryMiB: number;
  cpus: number;
  serviceCIDRs: string[];
}

export function launcherSpec(vmi: VmiLike, inputs: LauncherSpecInputs): LauncherSpec {
  const interfaces = (vmi.spec.domain.devices.interfaces ?? []).filter((i) => i.state !== 'absent');
  const names = new Set(interfaces.map((i) => i.name));
  return {
    name: vmi.metadata.name,
    namespace: vmi.metadata.namespace ?? 'default',
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
  };
}
