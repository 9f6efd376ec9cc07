/**
 * The launcher's plan: everything the pod netns and the VM should look like.
 * A NIC's plan holds every fact the launcher decides about it; what the DHCP
 * server and the status report say of it is computed from the plan here
 * (dhcpNicOf) and in status.ts (nicStatus), so each fact is declared once.
 */
import type { LinkOp } from '../../lib/iproute.ts';
import type { NftCommand } from '../../lib/nft.ts';
import type { DhcpNic } from '../dhcp/dnsmasq-config.ts';
import type { LinkNames } from '../names.ts';
import type { Binding, NicModel } from '../nic.ts';
import type { InterfaceSpec } from '../spec.ts';

/** What one NIC's DHCP server hands out; the renderer's bridge, MAC and MTU are the NIC's own. */
export type DhcpPlan = Omit<DhcpNic, 'bridge' | 'mac' | 'mtu'>;

/** One VM NIC: how it is wired in the pod and what the domain XML says of it. */
export interface NicPlan {
  /** The VMI interface (and network) name. */
  name: InterfaceSpec['name'];
  /** Its position in spec.interfaces: it numbers the server address, table and rule. */
  index: number;
  binding: Binding;
  names: LinkNames;
  /** The guest's MAC, lower case: the spec's, else the pod NIC's. */
  mac: string;
  /** The tap's and the guest's MTU (nicMtu). */
  mtu: number;
  model: NicModel;
  pciAddress?: NonNullable<InterfaceSpec['pciAddress']>;
  bootOrder?: NonNullable<InterfaceSpec['bootOrder']>;
  linkState: 'up' | 'down';
  /** Undefined when the pod NIC has no IP: the NIC is then a plain L2 port. */
  dhcp?: DhcpPlan;
  /** The pod NIC's IPs, bare: where the guest is reached, reported for either binding (as KubeVirt does). */
  ips: string[];
  /**
   * The guest's addresses (CIDR) that no DHCP server hands out: a bridge
   * NIC's extra pod IPs, or an IPv6 address with no subnet to serve on. The
   * cloud-init network-config virtnet renders sets them statically.
   */
  staticAddresses: string[];
}

/** What the NIC's DHCP server is given: its plan's DHCP part on the NIC's bridge, for its MAC, with its MTU. */
export function dhcpNicOf(nic: NicPlan): DhcpNic | undefined {
  return nic.dhcp && { ...nic.dhcp, bridge: nic.names.bridge, mac: nic.mac, mtu: nic.mtu };
}

export interface PodPlan {
  /** ip(8) batch operations in the pod netns, in order. */
  ops: LinkOp[];
  /** Operations that need `ip -6` (IPv6 policy rules). */
  ops6: LinkOp[];
  sysctls: Record<string, string>;
  nft: NftCommand[];
  nics: NicPlan[];
  warnings: string[];
}

/**
 * The binding-independent part of a NIC's plan, from its spec. The VMI
 * reports the pod's IPs for either binding, as KubeVirt does: that is where
 * the guest is reached.
 */
export function nicPlan(
  iface: InterfaceSpec,
  index: number,
  wired: Pick<NicPlan, 'binding' | 'names' | 'mac' | 'mtu' | 'ips' | 'staticAddresses'> & {
    dhcp: DhcpPlan | undefined;
  },
): NicPlan {
  const { binding, names, mac, mtu, dhcp, ips, staticAddresses } = wired;
  return {
    name: iface.name,
    index,
    binding,
    names,
    mac,
    mtu,
    model: iface.model ?? 'virtio',
    linkState: iface.state === 'down' ? 'down' : 'up',
    ...(iface.pciAddress && { pciAddress: iface.pciAddress }),
    ...(iface.bootOrder !== undefined && { bootOrder: iface.bootOrder }),
    ...(dhcp && { dhcp }),
    ips,
    staticAddresses,
  };
}

/** What a plan needs to know of the machine: probed, not assumed. */
export interface HostFacts {
  /** The kernel has dummy links; else a tap with no queue stands in. */
  dummyLinks: boolean;
  /** MACs for the renamed pod NICs, one per NIC, from the caller's randomness. */
  freshMacs: string[];
}
