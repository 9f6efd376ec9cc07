/** The launcher's plan: everything the pod netns and the VM should look like. */
import type { LinkOp } from '../../lib/iproute.ts';
import type { NftCommand } from '../../lib/nft.ts';
import type { DhcpNic } from '../dhcp/dnsmasq-config.ts';
import type { LinkNames } from '../names.ts';
import type { InterfaceSpec } from '../spec.ts';

/** One VM NIC: how it is wired in the pod and what the domain XML says of it. */
export interface NicPlan {
  /** The VMI interface (and network) name. */
  name: string;
  /** Its position in spec.interfaces: it numbers the server address, table and rule. */
  index: number;
  binding: 'bridge' | 'masquerade';
  names: LinkNames;
  mac: string;
  mtu: number;
  model: NonNullable<InterfaceSpec['model']>;
  pciAddress?: string;
  bootOrder?: number;
  linkState: 'up' | 'down';
  /** Undefined when the pod NIC has no IP: the NIC is then a plain L2 port. */
  dhcp?: DhcpNic;
  /** IPs the guest will have, for status. */
  ips: string[];
  /**
   * The guest's addresses (CIDR) that no DHCP server hands out: a bridge
   * NIC's extra pod IPs, or an IPv6 address with no subnet to serve on. The
   * cloud-init network-config virtnet renders sets them statically.
   */
  staticAddresses: string[];
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
  binding: NicPlan['binding'],
  names: LinkNames,
  mac: string,
  mtu: number,
  dhcp: DhcpNic | undefined,
  podIps: string[],
  staticAddresses: string[] = [],
): NicPlan {
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
    ips: podIps,
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
