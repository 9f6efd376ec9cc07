/**
 * Bridge binding (KubeVirt's pkg/network/setup/netpod, bridge case), pure:
 * the pod NIC becomes `<podif>-nic`, a port with no addresses and a fresh
 * MAC on bridge `k6t-<podif>`, beside the VM's tap; a placeholder named like
 * the pod NIC keeps its MAC, MTU, addresses and routes, so the CNI CHECK still
 * passes; the VM takes the pod's MAC (or the spec's) and, through DHCP from
 * the bridge's link-local address, the pod's IPs.
 */
import type { LinkOp } from '../../lib/iproute.ts';
import { parseCidr } from '../../lib/cidr.ts';
import type { PodInterface, PodNetwork } from '../discover.ts';
import type { LinkNames } from '../names.ts';
import type { InterfaceSpec, LauncherSpec } from '../spec.ts';
import { dhcpOptionsFor } from './dhcp-options.ts';
import { nicPlan, type DhcpPlan, type NicPlan } from './types.ts';

export interface BridgeNicInput {
  index: number;
  iface: InterfaceSpec;
  pod: PodInterface;
  names: LinkNames;
  freshMac: string;
  dummyLinks: boolean;
}

export interface BridgeNicPlan {
  nic: NicPlan;
  ops: LinkOp[];
  ops6: LinkOp[];
  sysctls: Record<string, string>;
  warnings: string[];
}

/** The bridge's server address: KubeVirt's 169.254.75.1<index>/32. */
export function bridgeServerAddress(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index > 99)
    throw new RangeError(`interface index ${index}: the 169.254.75.1<index> scheme allows at most 100 NICs`);
  return `169.254.75.1${index}`;
}

/** The tap's MTU: the pod NIC's, lowered (never raised) by the spec's `mtu`. */
export function nicMtu(podMtu: number, asked: number | undefined, warnings: string[], name: string): number {
  if (asked === undefined) return podMtu;
  if (asked > podMtu) {
    warnings.push(`interface ${name}: mtu ${asked} is above the pod NIC's ${podMtu}; using ${podMtu}`);
    return podMtu;
  }
  return asked;
}

/** The prefix's Subnet-Router anycast address (RFC 4291 2.6.1). */
export function subnetRouterAnycast(a: { address: string; prefix: number }): string {
  return parseCidr(`${a.address}/${a.prefix}`)!.network;
}

/**
 * The NIC's policy-routing table: IPv4 replies from its DHCP server to the
 * guest, and IPv6 guest traffic that the pod netns forwards to the gateway.
 */
export function policyTable(index: number): number {
  return 1000 + index;
}

type Address = PodInterface['ipv4'][number];

/**
 * The links: the pod NIC, renamed and stripped, becomes a port of the
 * bridge beside the VM's tap; the bridge holds the DHCP server's address; a
 * placeholder named like the pod NIC holds what CNI gave it.
 */
function bridgeLinkOps(input: BridgeNicInput, mtu: number, server: string): LinkOp[] {
  const { pod, names, freshMac } = input;
  return [
    { op: 'link-set', name: pod.name, up: false },
    { op: 'addr-flush', dev: pod.name },
    { op: 'link-set', name: pod.name, newName: names.podNic, mac: freshMac },
    { op: 'bridge-add', name: names.bridge, mtu, mac: freshMac },
    { op: 'link-set', name: names.podNic, master: names.bridge, up: true },
    // No learning on the uplink: the guest's MAC must not be learnt there (KubeVirt does the same).
    { op: 'bridge-port', name: names.podNic, learning: false },
    { op: 'tap-add', name: names.tap },
    { op: 'link-set', name: names.tap, mtu, master: names.bridge, up: true },
    { op: 'link-set', name: names.bridge, up: true },
    { op: 'addr-add', dev: names.bridge, cidr: `${server}/32` },
    ...placeholderOps(input),
  ];
}

/** The placeholder: a link named like the pod NIC, holding its MAC, MTU, addresses and routes. */
function placeholderOps({ pod, dummyLinks }: BridgeNicInput): LinkOp[] {
  return [
    dummyLinks ? { op: 'dummy-add', name: pod.name } : { op: 'tap-add', name: pod.name },
    { op: 'link-set', name: pod.name, mac: pod.mac, mtu: pod.mtu, up: true },
    ...pod.ipv4.map((a): LinkOp => ({ op: 'addr-add', dev: pod.name, cidr: `${a.address}/${a.prefix}` })),
    ...pod.ipv6.map((a): LinkOp => ({ op: 'addr-add', dev: pod.name, cidr: `${a.address}/${a.prefix}`, nodad: true })),
    ...[...pod.routes4, ...pod.routes6].map(
      (r): LinkOp => ({
        op: 'route-add',
        dst: r.dst,
        dev: pod.name,
        ...(r.gateway && { via: r.gateway, onlink: true }),
        ...(r.metric !== undefined && { metric: r.metric }),
      }),
    ),
  ];
}

/** What the bridge binding adds to the pod netns besides links: routes, rules and sysctls. */
type Routing = Pick<BridgeNicPlan, 'ops' | 'ops6' | 'sysctls'>;

/**
 * IPv4: the guest owns the pod IP now, so the pod netns must not answer ARP
 * for it (ip-sysctl.txt, arp_ignore=1: reply only for addresses on the
 * incoming link). A renewal comes from the pod IP, which the placeholder
 * holds: the kernel drops such packets as martians unless the bridge accepts
 * local sources (accept_local). dnsmasq's answer, addressed to that IP, would
 * follow the main table to the placeholder; replies from the server address
 * use a table that reaches the guest over the bridge instead.
 */
function ipv4Routing(input: BridgeNicInput, server: string, v4: Address, out: Routing): void {
  const { index, names } = input;
  out.sysctls['net.ipv4.conf.all.arp_ignore'] = '1';
  out.sysctls[`net.ipv4.conf.${names.bridge}.accept_local`] = '1';
  out.ops.push(
    { op: 'route-add', dst: `${v4.address}/32`, dev: names.bridge, table: policyTable(index) },
    { op: 'rule-add', from: server, table: policyTable(index), pref: 1000 + index },
  );
}

/**
 * IPv6: dnsmasq 2.90 serves DHCPv6 (and sends RAs) only on a link that holds
 * an address of the client's prefix: shared-network does not apply to direct
 * DHCPv6 clients. The bridge takes the prefix's Subnet-Router anycast address
 * (RFC 4291 2.6.1: interface id all zeroes), which no host owns, and with
 * noprefixroute, so the main table stays as CNI left it.
 */
function ipv6Routing(input: BridgeNicInput, v6: Address, gw6: string | undefined, out: Routing): void {
  const { index, names } = input;
  out.ops.push({
    op: 'addr-add',
    dev: names.bridge,
    cidr: `${subnetRouterAnycast(v6)}/${v6.prefix}`,
    nodad: true,
    noprefixroute: true,
  });
  if (!gw6) return;
  // The guest's IPv6 default route is the bridge (dnsmasq's RA); the pod netns
  // forwards what arrives there to the pod's real gateway, in its own table so
  // that the placeholder keeps the main table as CNI left it.
  out.sysctls['net.ipv6.conf.all.forwarding'] = '1';
  // The gateway gets an on-link host route in the table first: the kernel
  // checks an `onlink` gateway against the main table, where the placeholder's
  // subnet route points elsewhere ("device mismatch").
  out.ops.push(
    { op: 'route-add', dst: `${gw6}/128`, dev: names.bridge, table: policyTable(index) },
    { op: 'route-add', dst: '::/0', dev: names.bridge, via: gw6, table: policyTable(index) },
  );
  out.ops6.push({ op: 'rule-add', iif: names.bridge, table: policyTable(index), pref: 1000 + index });
}

/** The pod's IPv6 address DHCPv6 can serve: one with a subnet (at most /126) to serve it on. */
function servedIpv6(input: BridgeNicInput, warnings: string[]): Address | undefined {
  const { pod, iface } = input;
  const v6 = pod.ipv6.find((a) => a.prefix <= 126);
  const first = pod.ipv6[0];
  if (first && !v6) {
    warnings.push(
      `interface ${iface.name}: the pod's IPv6 address ${first.address}/${first.prefix} ` +
        'has no subnet to serve DHCPv6 on; the guest gets IPv4 only',
    );
  }
  return v6;
}

export function planBridgeNic(spec: LauncherSpec, network: PodNetwork, input: BridgeNicInput): BridgeNicPlan {
  const { index, iface, pod, names } = input;
  const warnings: string[] = [];
  const mtu = nicMtu(pod.mtu, iface.mtu, warnings, iface.name);
  const mac = (iface.macAddress ?? pod.mac).toLowerCase();
  const server = bridgeServerAddress(index);
  const routing: Routing = { ops: bridgeLinkOps(input, mtu, server), ops6: [], sysctls: {} };
  const ipv4 = pod.ipv4[0];
  if (ipv4) ipv4Routing(input, server, ipv4, routing);
  const gw6 = pod.routes6.find((r) => r.dst === '::/0')?.gateway;
  const ipv6 = servedIpv6(input, warnings);
  if (ipv6) ipv6Routing(input, ipv6, gw6, routing);
  const dhcp: DhcpPlan | undefined =
    ipv4 || ipv6
      ? {
          serverAddress: server,
          sharedNetwork: true,
          ...(ipv4 && { ipv4 }),
          ...(ipv6 && { ipv6, routerAdvertisement: { routerLifetime: gw6 ? 1800 : 0 } }),
          ...dhcpOptionsFor(spec, network, pod, iface, server),
        }
      : undefined;
  // The guest holds the pod's IPs itself; those dnsmasq does not lease are its static addresses.
  const served = new Set([ipv4?.address, ipv6?.address]);
  const all = [...pod.ipv4, ...pod.ipv6];
  const nic = nicPlan(iface, index, {
    binding: 'bridge',
    names,
    mac,
    mtu,
    dhcp,
    ips: all.map((a) => a.address),
    staticAddresses: all.filter((a) => !served.has(a.address)).map((a) => `${a.address}/${a.prefix}`),
  });
  return { nic, ...routing, warnings };
}
