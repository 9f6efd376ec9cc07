/**
 * What a VMI reports: KubeVirt's status fields (phase, interfaces[] with
 * name, interfaceName, ipAddress, ipAddresses, mac, infoSource,
 * podInterfaceName, linkState) plus virtnet's own, under names KubeVirt does
 * not use: whether each NIC's DHCP lease was taken, and the wiring behind each
 * NIC (status.virtnet), which `describe` and `topology` draw.
 */

import type { NicPlan } from '../../launcher/plan/types.ts';
import type { NicStatus } from '../../launcher/status.ts';

export type VmiPhase = 'Pending' | 'Scheduling' | 'Scheduled' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

/** One entry of status.interfaces, KubeVirt-shaped (api/core/v1 VirtualMachineInstanceNetworkInterface). */
export interface VmiInterfaceStatus {
  name: string;
  /** The guest's name for the NIC; only a guest agent knows it, so usually absent. */
  interfaceName?: string;
  ipAddress?: string;
  ipAddresses?: string[];
  mac?: string;
  /** Comma-separated, as KubeVirt: domain, multus-status, guest-agent. */
  infoSource?: string;
  podInterfaceName?: string;
  linkState?: 'up' | 'down';
  /** virtnet: the guest took its DHCP lease (IPv4, or IPv6 when the NIC has only IPv6). */
  leased?: boolean;
}

/**
 * The wiring behind one VM NIC: pod interface → bridge → tap → VM NIC →
 * network. The launcher's report of the NIC (launcher/status.ts) without
 * what only the node reads, and what the VMI spec and network-status add.
 */
export type NicWiring = Omit<NicStatus, 'dhcp' | 'leasedAtMs'> & {
  /** "pod" for the pod network, else the NAD as "<namespace>/<name>". */
  network: string;
  model: NicPlan['model'];
  /** The pod interface's addresses (network-status: bare addresses). */
  podIps: string[];
  /** Masquerade: forwarded ports as "80/TCP" or "8000-8010/UDP"; empty means all ports. */
  ports: string[];
};

/** A status condition, Kubernetes-style (metav1.Condition's fields). */
export interface VmiCondition {
  type: 'Ready' | 'Synchronized';
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

export interface VmiStatus {
  phase: VmiPhase;
  /** Why the phase is Failed or Pending, in one line. */
  reason?: string;
  interfaces: VmiInterfaceStatus[];
  /** On a cluster: the node the launcher pod runs on, its pod, and the conditions. */
  nodeName?: string;
  launcherPod?: { name: string; uid: string };
  conditions?: VmiCondition[];
  virtnet?: {
    /**
     * The sandbox network namespace (ip netns name), on a standalone node. On a
     * cluster the container runtime names the pod's namespace and the launcher
     * cannot know it: status.launcherPod and status.nodeName say where it is.
     */
    netns?: string;
    launcherPid?: number;
    accel?: string;
    nics: NicWiring[];
    /** Each step of `virtnet up` with its duration. */
    steps: Array<{ name: string; ms: number }>;
  };
}
