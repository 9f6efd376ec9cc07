/**
 * Discovery: what the CNI plugins left in the pod, as plain data. The
 * launcher runs inside the pod's netns, so this is one `ip` read (plus one
 * for IPv6 routes) and a file read.
 */
import { readFileSync } from 'node:fs';
import { readNetns, type IpLink, type IpRoute } from '../lib/iproute.ts';
import { parseResolvConf, type ResolvConf } from './resolv.ts';

export interface PodAddress {
  address: string;
  prefix: number;
}

export interface PodRoute {
  /** CIDR; "0.0.0.0/0" or "::/0" for a default route. */
  dst: string;
  gateway?: string;
  metric?: number;
  /** The route was made with `onlink` (its gateway need not be in a connected subnet). */
  onlink?: boolean;
}

export interface PodInterface {
  name: string;
  mac: string;
  mtu: number;
  ipv4: PodAddress[];
  /** Global-scope IPv6 addresses only; link-local ones are the kernel's. */
  ipv6: PodAddress[];
  routes4: PodRoute[];
  routes6: PodRoute[];
}

export interface PodNetwork {
  interfaces: PodInterface[];
  resolv: ResolvConf;
}

function toRoute(r: IpRoute, family: 4 | 6): PodRoute | undefined {
  if (r.dst !== 'default' && /^fe80:|^ff00:|^multicast/u.test(r.dst)) return undefined;
  const dst =
    r.dst === 'default'
      ? family === 4
        ? '0.0.0.0/0'
        : '::/0'
      : r.dst.includes('/')
        ? r.dst
        : `${r.dst}/${family === 4 ? 32 : 128}`;
  return {
    dst,
    ...(r.gateway && { gateway: r.gateway }),
    ...(r.metric !== undefined && { metric: r.metric }),
    ...(r.flags?.includes('onlink') && { onlink: true }),
  };
}

/** Pure: the pod's network from `ip -json` output and resolv.conf text. */
export function podNetworkFrom(links: IpLink[], routes: IpRoute[], resolvText: string): PodNetwork {
  const interfaces = links
    .filter((l) => l.ifname !== 'lo' && l.address)
    .map((l): PodInterface => {
      const addrs = l.addr_info ?? [];
      const own = routes.filter((r) => r.dev === l.ifname && r.protocol !== 'kernel');
      return {
        name: l.ifname,
        mac: l.address!.toLowerCase(),
        mtu: l.mtu,
        ipv4: addrs.filter((a) => a.family === 'inet').map((a) => ({ address: a.local, prefix: a.prefixlen })),
        ipv6: addrs
          .filter((a) => a.family === 'inet6' && a.scope === 'global')
          .map((a) => ({ address: a.local, prefix: a.prefixlen })),
        routes4: own
          .filter((r) => !r.dst.includes(':') && !(r.gateway ?? '').includes(':'))
          .flatMap((r) => toRoute(r, 4) ?? []),
        routes6: own
          .filter((r) => r.dst.includes(':') || (r.gateway ?? '').includes(':'))
          .flatMap((r) => toRoute(r, 6) ?? []),
      };
    });
  return { interfaces, resolv: parseResolvConf(resolvText) };
}

export async function discoverPod(resolvConfPath: string): Promise<PodNetwork> {
  const { links, routes } = await readNetns(undefined, true);
  let resolvText = '';
  try {
    resolvText = readFileSync(resolvConfPath, 'utf8');
  } catch {
    // No resolv.conf: the guest gets no DNS options, and still its lease.
  }
  return podNetworkFrom(links, routes, resolvText);
}
