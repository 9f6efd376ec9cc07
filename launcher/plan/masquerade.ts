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
import type { DhcpNic } from '../dhcp/dnsmasq-config.ts';
import type { PodInterface, PodNetwork } from '../discover.ts';
import type { LinkNames } from '../names.ts';
import type { InterfaceSpec, LauncherSpec, NetworkSpec } from '../spec.ts';
import { dhcpOptionsFor } from './dhcp-options.ts';
import { nicMtu } from './bridge.ts';
import { masqueradeRuleset, type Forward } from './masquerade-rules.ts';
import { nicPlan, type NicPlan } from './types.ts';

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

export function planMasqueradeNic(
  spec: LauncherSpec,
  podNet: PodNetwork,
  input: MasqueradeNicInput,
): MasqueradeNicPlan {
  const { index, iface, network, pod, names } = input;
  const f = `networks[${spec.networks.indexOf(network)}].pod`;
  if (!network.pod) throw new PlanFieldError(`interfaces[${index}].masquerade`, 'is allowed only on the pod network');
  if (iface.macAddress?.toLowerCase() === MASQUERADE_BRIDGE_MAC) {
    throw new PlanFieldError(
      `interfaces[${index}].macAddress`,
      `${MASQUERADE_BRIDGE_MAC} is the masquerade bridge's own MAC`,
    );
  }
  if (!pod.ipv4[0])
    throw new PlanFieldError(`interfaces[${index}].masquerade`, `needs an IPv4 address on pod interface ${pod.name}`);
  const avoid = [
    ...[...pod.ipv4, ...pod.ipv6].map((a) => ({
      what: 'the pod subnet',
      cidr: `${parseCidr(`${a.address}/${a.prefix}`)!.network}/${a.prefix}`,
    })),
    ...(spec.serviceCIDRs ?? []).map((c) => ({ what: 'the service CIDR', cidr: c })),
  ];
  const v4 = pod.ipv4[0]
    ? vmSubnet(`${f}.vmNetworkCIDR`, network.pod.vmNetworkCIDR ?? DEFAULT_VM_CIDR, 4, avoid)
    : undefined;
  const v6 = pod.ipv6[0]
    ? vmSubnet(`${f}.vmIPv6NetworkCIDR`, network.pod.vmIPv6NetworkCIDR ?? DEFAULT_VM_CIDR6, 6, avoid)
    : undefined;
  const warnings: string[] = [];
  const mtu = nicMtu(pod.mtu, iface.mtu, warnings, iface.name);
  const ops: LinkOp[] = [
    { op: 'bridge-add', name: names.bridge, mtu, mac: MASQUERADE_BRIDGE_MAC },
    { op: 'tap-add', name: names.tap },
    { op: 'link-set', name: names.tap, mtu, master: names.bridge, up: true },
    { op: 'link-set', name: names.bridge, up: true },
    ...(v4 ? [{ op: 'addr-add', dev: names.bridge, cidr: `${v4.gateway}/${v4.cidr.prefix}` } as LinkOp] : []),
    ...(v6
      ? [{ op: 'addr-add', dev: names.bridge, cidr: `${v6.gateway}/${v6.cidr.prefix}`, nodad: true } as LinkOp]
      : []),
  ];
  // ip-sysctl.txt: forwarding for the NAT, and route_localnet so that traffic
  // from the pod's loopback, DNATed to the guest, may leave on the bridge.
  const sysctls: Record<string, string> = {
    ...(v4 && { 'net.ipv4.ip_forward': '1', [`net.ipv4.conf.${names.bridge}.route_localnet`]: '1' }),
    ...(v6 && { 'net.ipv6.conf.all.forwarding': '1' }),
  };
  const nft = masqueradeRuleset({
    podIf: pod.name,
    bridge: names.bridge,
    forwards: forwards(iface),
    ...(v4 && pod.ipv4[0] && { v4: { podIp: pod.ipv4[0].address, guest: v4.guest, gateway: v4.gateway } }),
    ...(v6 && pod.ipv6[0] && { v6: { podIp: pod.ipv6[0].address, guest: v6.guest, gateway: v6.gateway } }),
  });
  const mac = (iface.macAddress ?? pod.mac).toLowerCase();
  const {
    classlessRoutes: _pod121,
    router: _podRouter,
    ...options
  } = dhcpOptionsFor(spec, podNet, pod, iface, v4?.gateway ?? '', warnings);
  const dhcp: DhcpNic | undefined =
    v4 || v6
      ? {
          bridge: names.bridge,
          serverAddress: v4?.gateway ?? '',
          mac,
          sharedNetwork: false,
          mtu,
          ...options,
          ...(v4 && { ipv4: { address: v4.guest, prefix: v4.cidr.prefix }, router: v4.gateway }),
          ...(v6 && {
            ipv6: { address: v6.guest, prefix: v6.cidr.prefix },
            routerAdvertisement: { routerLifetime: 1800 },
          }),
        }
      : undefined;
  const nic = nicPlan(
    iface,
    index,
    'masquerade',
    names,
    mac,
    mtu,
    dhcp,
    [...pod.ipv4, ...pod.ipv6].map((a) => a.address),
  );
  return { nic, ops, sysctls, nft, warnings };
}
