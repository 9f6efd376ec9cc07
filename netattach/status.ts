/**
 * k8s.v1.cni.cncf.io/network-status, as Multus writes it (NAD client's
 * CreateNetworkStatus): one entry per sandbox interface of each attachment,
 * IPs as bare addresses, `gateway` from default routes, `default` on the
 * cluster-default network's interface, `dns` always present.
 */
import type { CniDns, CniResult } from '../cni/types.ts';

export interface NetworkStatus {
  name: string;
  interface?: string;
  ips?: string[];
  mac?: string;
  mtu?: number;
  default?: boolean;
  dns: CniDns;
  gateway?: string[];
  'device-info'?: Record<string, unknown>;
}

export function networkStatus(
  name: string,
  result: CniResult,
  isDefault: boolean,
  deviceInfo?: Record<string, unknown>,
): NetworkStatus[] {
  const ifs = (result.interfaces ?? []).map((i, index) => ({ ...i, index })).filter((i) => i.sandbox);
  const gateways = (result.routes ?? []).filter((r) => /^(0\.0\.0\.0|::)\/0$/u.test(r.dst) && r.gw).map((r) => r.gw!);
  const entries = ifs.map((i): NetworkStatus => {
    // IPs without an interface index belong to the last sandbox interface.
    const ips = (result.ips ?? [])
      .filter((ip) => (ip.interface ?? ifs.at(-1)?.index) === i.index)
      .map((ip) => ip.address.split('/')[0]!);
    return {
      name,
      interface: i.name,
      ...(ips.length && { ips }),
      ...(i.mac && { mac: i.mac }),
      ...(i.mtu !== undefined && { mtu: i.mtu }),
      dns: result.dns ?? {},
      ...(deviceInfo && { 'device-info': deviceInfo }),
    };
  });
  if (entries.length === 0)
    entries.push({ name, ips: (result.ips ?? []).map((ip) => ip.address.split('/')[0]!), dns: result.dns ?? {} });
  if (gateways.length) (entries.find((e) => e.ips?.length) ?? entries[0]!).gateway = gateways;
  if (isDefault) (entries.find((e) => e.gateway) ?? entries[0]!).default = true;
  return entries;
}
