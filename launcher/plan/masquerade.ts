/**
 * Masquerade binding (KubeVirt's pkg/network/setup/netpod/masquerade), pure:
 * the guest sits on a private subnet behind bridge k6t-eth0 (MAC
 * 02:00:00:00:00:00, the subnet's gateway addresses), and nftables NATs it to
 * the pod's IPs: its egress leaves from the pod IP, and what arrives on the pod
 * NIC (only the declared ports, when there are some) is sent on to it. The pod
 * NIC keeps its addresses. Unlike KubeVirt, the guest also gets an IPv6
 * default route (dnsmasq's RA), and bad CIDRs are caught before anything runs.
 */
import type { LinkOp } from '../../lib/iproute.ts';
import type { NftCommand } from '../../lib/nft.ts';
import { parseCidr, type ParsedCidr } from '../../lib/cidr.ts';
import ipaddr from 'ipaddr.js';
import type { PodInterface, PodNetwork } from '../discover.ts';
import type { LinkNames } from '../names.ts';
import type { InterfaceSpec, LauncherSpec, NetworkSpec } from '../spec.ts';
import { dhcpOptionsFor } from './dhcp-options.ts';
import { nicMtu } from './bridge.ts';
import { masqueradeRuleset, type Forward } from './masquerade-rules.ts';
import { nicPlan, type DhcpPlan, type NicPlan } from './types.ts';

export const MASQUERADE_BRIDGE_MAC = '02:00:00:00:00:00';
export const DEFAULT_VM_CIDR = '10.0.2.0/24';
export const DEFAULT_VM_CIDR6 = 'fd10:0:2::/120';

export interface VmSubnet {
  cidr: ParsedCidr;
  gateway: string;
  guest: string;
}

/** Address `n` of a subnet (0 is the network address). */
function nth(cidr: ParsedCidr, n: number): string {
  const bytes = ipaddr.parse(cidr.network).toByteArray();
  let carry = n;
  for (let i = bytes.length - 1; i >= 0 && carry > 0; i--) {
    const v = (bytes[i] ?? 0) + carry;
    bytes[i] = v & 0xff;
    carry = v >> 8;
  }
  return ipaddr.fromByteArray(bytes).toString();
}

function overlaps(a: ParsedCidr, b: ParsedCidr): boolean {
  if (a.family !== b.family) return false;
  const shorter = Math.min(a.prefix, b.prefix);
  const pa = ipaddr.parse(a.network);
  const pb = ipaddr.parse(b.network);
  return pa.match(pb, shorter);
}

/**
 * The VM subnet of one family: gateway network+1, guest network+2, at least
 * 4 addresses, and clear of the pod's subnets and the service CIDRs. Errors
 * name the field and the rule.
 */
export function vmSubnet(
  field: string,
  text: string,
  family: 4 | 6,
  avoid: Array<{ what: string; cidr: string }>,
): VmSubnet {
  const cidr = parseCidr(text);
  if (!cidr || cidr.family !== family) throw new PlanFieldError(field, `"${text}" is not an IPv${family} CIDR`);
  if ((family === 4 ? 32 : 128) - cidr.prefix < 2)
    throw new PlanFieldError(
      field,
      `"${text}" has fewer than 4 addresses (gateway and guest need network+1 and network+2)`,
    );
  for (const a of avoid) {
    const other = parseCidr(a.cidr);
    if (other && overlaps(cidr, other)) throw new PlanFieldError(field, `"${text}" overlaps ${a.what} ${a.cidr}`);
  }
  return { cidr, gateway: nth(cidr, 1), guest: nth(cidr, 2) };
}

export class PlanFieldError extends Error {
  constructor(
    readonly field: string,
    readonly rule: string,
  ) {
    super(`${field}: ${rule}`);
  }
}

export interface MasqueradeNicInput {
  index: number;
  iface: InterfaceSpec;
  network: NetworkSpec;
  pod: PodInterface;
  names: LinkNames;
}

export interface MasqueradeNicPlan {
  nic: NicPlan;
  ops: LinkOp[];
  sysctls: Record<string, string>;
  nft: NftCommand[];
  warnings: string[];
}

function forwards(iface: InterfaceSpec): Forward[] | 'all' {
  const ports = (iface.ports ?? []).map(
    (p): Forward => ({ protocol: p.protocol ?? 'TCP', start: p.port, end: p.port }),
  );
  const ranges = (iface.portRanges ?? []).map(
    (r): Forward => ({ protocol: r.protocol ?? 'TCP', start: r.start, end: r.end }),
  );
  const all = [...ports, ...ranges];
  return all.length ? all : 'all';
}

/** A masquerade NIC's spec as the binding needs it, else the field and the rule it breaks. */
function checkMasquerade({ index, iface, network, pod }: MasqueradeNicInput): PodInterface['ipv4'][number] {
  if (!network.pod) throw new PlanFieldError(`interfaces[${index}].masquerade`, 'is allowed only on the pod network');
  if (iface.macAddress?.toLowerCase() === MASQUERADE_BRIDGE_MAC) {
    throw new PlanFieldError(
      `interfaces[${index}].macAddress`,
      `${MASQUERADE_BRIDGE_MAC} is the masquerade bridge's own MAC`,
    );
  }
  const podV4 = pod.ipv4[0];
  if (!podV4)
    throw new PlanFieldError(`interfaces[${index}].masquerade`, `needs an IPv4 address on pod interface ${pod.name}`);
  return podV4;
}

/** The guest's subnets, IPv6 only when the pod has IPv6: clear of the pod's subnets and the service CIDRs. */
function vmSubnets(spec: LauncherSpec, { network, pod }: MasqueradeNicInput): { v4: VmSubnet; v6?: VmSubnet } {
  const f = `networks[${spec.networks.indexOf(network)}].pod`;
  const avoid = [
    ...[...pod.ipv4, ...pod.ipv6].map((a) => ({
      what: 'the pod subnet',
      cidr: `${parseCidr(`${a.address}/${a.prefix}`)!.network}/${a.prefix}`,
    })),
    ...(spec.serviceCIDRs ?? []).map((c) => ({ what: 'the service CIDR', cidr: c })),
  ];
  const v4 = vmSubnet(`${f}.vmNetworkCIDR`, network.pod?.vmNetworkCIDR ?? DEFAULT_VM_CIDR, 4, avoid);
  if (!pod.ipv6[0]) return { v4 };
  return { v4, v6: vmSubnet(`${f}.vmIPv6NetworkCIDR`, network.pod?.vmIPv6NetworkCIDR ?? DEFAULT_VM_CIDR6, 6, avoid) };
}

/** The bridge, holding the subnets' gateway addresses, and the VM's tap on it. */
function masqueradeLinkOps(names: LinkNames, mtu: number, v4: VmSubnet, v6: VmSubnet | undefined): LinkOp[] {
  return [
    { op: 'bridge-add', name: names.bridge, mtu, mac: MASQUERADE_BRIDGE_MAC },
    { op: 'tap-add', name: names.tap },
    { op: 'link-set', name: names.tap, mtu, master: names.bridge, up: true },
    { op: 'link-set', name: names.bridge, up: true },
    { op: 'addr-add', dev: names.bridge, cidr: `${v4.gateway}/${v4.cidr.prefix}` },
    ...(v6
      ? [{ op: 'addr-add', dev: names.bridge, cidr: `${v6.gateway}/${v6.cidr.prefix}`, nodad: true } as LinkOp]
      : []),
  ];
}

/**
 * DHCP on the private subnet: the gateway serves and routes; the pod's own
 * routes (option 121) and router mean nothing there.
 */
function masqueradeDhcp(
  spec: LauncherSpec,
  podNet: PodNetwork,
  input: MasqueradeNicInput,
  v4: VmSubnet,
  v6: VmSubnet | undefined,
): DhcpPlan {
  const {
    classlessRoutes: _pod121,
    router: _podRouter,
    ...options
  } = dhcpOptionsFor(spec, podNet, input.pod, input.iface, v4.gateway);
  return {
    serverAddress: v4.gateway,
    sharedNetwork: false,
    ...options,
    ipv4: { address: v4.guest, prefix: v4.cidr.prefix },
    router: v4.gateway,
    ...(v6 && { ipv6: { address: v6.guest, prefix: v6.cidr.prefix }, routerAdvertisement: { routerLifetime: 1800 } }),
  };
}

export function planMasqueradeNic(
  spec: LauncherSpec,
  podNet: PodNetwork,
  input: MasqueradeNicInput,
): MasqueradeNicPlan {
  const { index, iface, pod, names } = input;
  const podV4 = checkMasquerade(input);
  const { v4, v6 } = vmSubnets(spec, input);
  const warnings: string[] = [];
  const mtu = nicMtu(pod.mtu, iface.mtu, warnings, iface.name);
  // ip-sysctl.txt: forwarding for the NAT, and route_localnet so that traffic
  // from the pod's loopback, DNATed to the guest, may leave on the bridge.
  const sysctls: Record<string, string> = {
    'net.ipv4.ip_forward': '1',
    [`net.ipv4.conf.${names.bridge}.route_localnet`]: '1',
    ...(v6 && { 'net.ipv6.conf.all.forwarding': '1' }),
  };
  const podV6 = pod.ipv6[0];
  const nft = masqueradeRuleset({
    podIf: pod.name,
    bridge: names.bridge,
    forwards: forwards(iface),
    v4: { podIp: podV4.address, guest: v4.guest, gateway: v4.gateway },
    ...(v6 && podV6 && { v6: { podIp: podV6.address, guest: v6.guest, gateway: v6.gateway } }),
  });
  const nic = nicPlan(iface, index, {
    binding: 'masquerade',
    names,
    mac: (iface.macAddress ?? pod.mac).toLowerCase(),
    mtu,
    dhcp: masqueradeDhcp(spec, podNet, input, v4, v6),
    ips: [...pod.ipv4, ...pod.ipv6].map((a) => a.address),
    staticAddresses: [],
  });
  return { nic, ops: masqueradeLinkOps(names, mtu, v4, v6), sysctls, nft, warnings };
}
