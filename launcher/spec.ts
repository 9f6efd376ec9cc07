/**
 * What a launcher is asked to run: the parts of a VirtualMachineInstance that
 * matter inside its pod, with KubeVirt's field names
 * (spec.domain.devices.interfaces, spec.networks). The controller validates
 * the full VMI; the launcher trusts this shape but re-checks what reaches a
 * command line or a path.
 */

export interface PortSpec {
  name?: string;
  port: number;
  protocol?: 'TCP' | 'UDP';
}

/** KubeVirt's portRanges (masquerade only): start..end inclusive. */
export interface PortRangeSpec {
  protocol?: 'TCP' | 'UDP';
  start: number;
  end: number;
}

export interface DhcpOptionsSpec {
  bootFileName?: string;
  tftpServerName?: string;
  ntpServers?: string[];
  privateOptions?: Array<{ option: number; value: string }>;
}

export interface InterfaceSpec {
  name: string;
  bridge?: Record<string, never>;
  masquerade?: Record<string, never>;
  macAddress?: string;
  /** libvirt's model names; KubeVirt's allowed set (pkg/network/admitter). */
  model?: 'virtio' | 'e1000' | 'e1000e' | 'igb' | 'ne2k_pci' | 'pcnet' | 'rtl8139';
  pciAddress?: string;
  bootOrder?: number;
  ports?: PortSpec[];
  portRanges?: PortRangeSpec[];
  dhcpOptions?: DhcpOptionsSpec;
  state?: 'up' | 'down' | 'absent';
  /** virtnet's own: lowers the NIC's MTU below the pod NIC's; never raises it. */
  mtu?: number;
}

export interface NetworkSpec {
  name: string;
  pod?: { vmNetworkCIDR?: string; vmIPv6NetworkCIDR?: string };
  multus?: { networkName: string; default?: boolean };
}

export type BootSpec =
  | { kernel: string; initrd?: string; cmdline?: string }
  | { disk: string; format: 'qcow2' | 'raw' };

export interface LauncherSpec {
  name: string;
  namespace: string;
  hostname?: string;
  subdomain?: string;
  memoryMiB: number;
  cpus: number;
  interfaces: InterfaceSpec[];
  networks: NetworkSpec[];
  boot: BootSpec;
  /** The cluster's service CIDRs, which a masquerade vmNetworkCIDR must not overlap (node configuration). */
  serviceCIDRs?: string[];
}
