/**
 * Link names inside a VM pod, KubeVirt-compatible (pkg/network/namescheme):
 * the primary pod NIC is eth0 (k6t-eth0, eth0-nic, tap0); a secondary one is
 * "pod" + the first 11 hex characters of sha256(network name), whose derived
 * names (k6t-<hash>, <hash>-nic, tap<hash>) all stay within 15 characters.
 */
import { createHash } from 'node:crypto';
import type { LauncherSpec, NetworkSpec } from './spec.ts';

export const PRIMARY_POD_IFNAME = 'eth0';

export function networkHash(networkName: string): string {
  return createHash('sha256').update(networkName).digest('hex').slice(0, 11);
}

/** The pod interface a VMI network is attached as. */
export function podIfName(network: NetworkSpec): string {
  if (network.pod || network.multus?.default) return PRIMARY_POD_IFNAME;
  return `pod${networkHash(network.name)}`;
}

export interface LinkNames {
  podIf: string;
  bridge: string;
  podNic: string;
  tap: string;
}

export function linkNamesFor(network: NetworkSpec): LinkNames {
  const podIf = podIfName(network);
  if (podIf === PRIMARY_POD_IFNAME) return { podIf, bridge: 'k6t-eth0', podNic: 'eth0-nic', tap: 'tap0' };
  const hash = podIf.slice('pod'.length);
  return { podIf, bridge: `k6t-${hash}`, podNic: `${hash}-nic`, tap: `tap${hash}` };
}

/** The libvirt domain name: KubeVirt's <namespace>_<name>. */
export function domainName(spec: Pick<LauncherSpec, 'namespace' | 'name'>): string {
  return `${spec.namespace}_${spec.name}`;
}
