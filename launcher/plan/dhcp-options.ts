/**
 * The DHCP options a guest NIC gets from its pod (KubeVirt's
 * pkg/network/dhcp/configurator.go): router and classless routes from the pod
 * NIC's routes, DNS from resolv.conf, hostname, and the spec's dhcpOptions.
 */
import { dhcpHostname } from '../../lib/dnsmasq-values.ts';
import type { PodInterface, PodNetwork } from '../discover.ts';
import type { InterfaceSpec, LauncherSpec } from '../spec.ts';
import type { DhcpPlan } from './types.ts';

type Options = Omit<DhcpPlan, 'serverAddress' | 'sharedNetwork' | 'ipv4' | 'ipv6' | 'routerAdvertisement'>;

/** Search list: `<subdomain>.<longest .svc. domain>` first when a subdomain is set (KubeVirt). */
function searchList(spec: LauncherSpec, network: PodNetwork): string[] {
  const search = network.resolv.search.map((d) => d.toLowerCase());
  if (spec.subdomain) {
    const svc = search.filter((d) => d.includes('.svc.')).sort((a, b) => b.length - a.length)[0];
    if (svc) search.unshift(`${spec.subdomain}.${svc}`);
  }
  return search;
}

/**
 * @param server the DHCP server's address on the bridge. Option 121 carries an
 *   on-link route to it: a client renews by unicast to the server (RFC 2131
 *   4.4.5), and without that route the renewal would go to the default
 *   gateway and be lost until the rebinding broadcast.
 */
export function dhcpOptionsFor(
  spec: LauncherSpec,
  network: PodNetwork,
  pod: PodInterface,
  iface: InterfaceSpec,
  server: string,
): Options {
  const router = pod.routes4.find((r) => r.dst === '0.0.0.0/0')?.gateway;
  // Option 121 for the server and the pod's other routes; clients that take 121
  // ignore option 3, so the renderer puts the default route last in it (RFC 3442).
  const others = pod.routes4.filter((r) => r.dst !== '0.0.0.0/0' && r.gateway);
  const classlessRoutes = [
    { dst: `${server}/32`, gateway: '0.0.0.0' },
    ...others.map((r) => ({ dst: r.dst, gateway: r.gateway! })),
  ];
  const search = searchList(spec, network);
  const domainName = [...search].sort((a, b) => b.length - a.length)[0];
  const o = iface.dhcpOptions;
  return {
    // KubeVirt's rule (lib/dnsmasq-values.ts): spec.hostname, else the name's first label, so `my.vm` is `my`.
    hostname: dhcpHostname(spec.name, spec.hostname),
    ...(router && { router }),
    ...(pod.ipv4.length && { classlessRoutes }),
    ...(network.resolv.nameservers.length && { dnsServers: network.resolv.nameservers }),
    ...(search.length && { searchDomains: search }),
    ...(domainName && { domainName }),
    ...(o?.ntpServers?.length && { ntpServers: o.ntpServers }),
    ...(o?.tftpServerName && { tftpServerName: o.tftpServerName }),
    ...(o?.bootFileName && { bootFileName: o.bootFileName }),
    ...(o?.privateOptions?.length && {
      privateOptions: o.privateOptions.map((p) => ({ code: p.option, value: p.value })),
    }),
  };
}
