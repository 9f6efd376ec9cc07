/**
 * ADD as a plan: from the validated config, the IPAM result and what already
 * exists on the host, compute the link operations for each namespace, the
 * nftables ruleset, the sysctls and the result. Pure: no I/O here.
 */
import { defaultDst, familyOf, firstHost, parseCidr, type Family } from '../lib/cidr.ts';
import type { LinkOp } from '../lib/iproute.ts';
import type { NftCommand } from '../lib/nft.ts';
import { portFilterRules, masqueradeRules } from './rules.ts';
import type { BridgeConf, CniIpConfig, CniResult, CniRoute } from './types.ts';

export const DEFAULT_MTU = 1500;

/** What ADD knows before the IPAM delegate answers. */
export interface PortFacts {
  containerID: string;
  ifname: string;
  netns: string;
  hostVeth: string;
  hostMac: string;
  containerMac: string;
  /** A MAC for the bridge if this ADD creates it (a fixed MAC avoids churn as ports come and go). */
  bridgeMac: string;
  bridgeExists: boolean;
  vxlanExists: boolean;
}

/**
 * Phase 1, run beside the IPAM call: the bridge, the veth pair (its peer is
 * created inside the container's namespace) and the port's L2 filters.
 */
export interface PortPlan {
  hostOps: LinkOp[];
  nft: NftCommand[];
}

/** Phase 2, once the IPAM result is in: addresses, routes, gateway, NAT, result. */
export interface AddressPlan {
  containerOps: LinkOp[];
  /** Host operations; empty when the bridge already holds its gateway addresses. */
  gatewayOps: LinkOp[];
  nft: NftCommand[];
  sysctls: Record<string, string>;
  /** The result, less the bridge's MAC, which phase 1 reads back. */
  result: CniResult;
}

/**
 * The ifalias (ip-link(8) "alias NAME") on every bridge and VXLAN device this
 * plugin creates: the mark by which a later ADD knows the link is virtnet's.
 */
export const LINK_MARK = 'virtnet-bridge';

export function vxlanLinkName(id: number): string {
  return `vxlan${id}`;
}

/** Each IP with its gateway: the IPAM's, else (isGateway) the subnet's first host. */
function gatewaysOf(conf: BridgeConf, ips: readonly CniIpConfig[]): CniIpConfig[] {
  return ips.map((ip) => {
    const cidr = parseCidr(ip.address);
    if (!cidr) throw new TypeError(`IPAM returned a bad address ${ip.address}`);
    const gateway = ip.gateway ?? (conf.isGateway ? firstHost(cidr) : undefined);
    return { address: ip.address, ...(gateway && { gateway }), interface: 2 };
  });
}

function routesOf(conf: BridgeConf, ips: readonly CniIpConfig[], ipamRoutes: readonly CniRoute[]): CniRoute[] {
  const routes = ipamRoutes.map((r) => ({ ...r }));
  if (!conf.isDefaultGateway) return routes;
  for (const family of [4, 6] as Family[]) {
    const gw = ips.find((ip) => ip.gateway && familyOf(ip.gateway) === family)?.gateway;
    const dst = defaultDst(family);
    if (gw && !routes.some((r) => r.dst === dst)) routes.push({ dst, gw });
  }
  return routes;
}

export function planPort(conf: BridgeConf, f: PortFacts): PortPlan {
  const mtu = conf.mtu ?? DEFAULT_MTU;
  const hostOps: LinkOp[] = [];
  if (!f.bridgeExists) {
    hostOps.push({
      op: 'bridge-add',
      name: conf.bridge,
      mac: f.bridgeMac,
      ...(conf.mtu !== undefined && { mtu: conf.mtu }),
    });
  }
  // The mark goes on right after the create, in the same batch (marks.ts says why not in it).
  hostOps.push({
    op: 'link-set',
    name: conf.bridge,
    up: true,
    ...(!f.bridgeExists && { alias: LINK_MARK }),
    ...(conf.promiscMode && { promisc: true }),
  });
  // One VXLAN device per VNI on the node, shared by every attachment and
  // network that names the VNI, and kept when the last attachment goes (DEL
  // removes only the veth): with head-end replication (neither remote nor
  // group) the node agent's all-zeros FDB entries live in its FDB.
  if (conf.vxlan && !f.vxlanExists) {
    const v = conf.vxlan;
    const name = vxlanLinkName(v.id);
    hostOps.push(
      {
        op: 'vxlan-add',
        name,
        id: v.id,
        dstPort: v.port,
        ...(v.remote && { remote: v.remote }),
        ...(v.group && { group: v.group }),
        ...(v.local && { local: v.local }),
        ...(v.dev && { dev: v.dev }),
        ...(conf.mtu !== undefined && { mtu: conf.mtu }),
      },
      { op: 'link-set', name, master: conf.bridge, alias: LINK_MARK, up: true },
    );
  }
  hostOps.push(
    {
      op: 'veth-add',
      name: f.hostVeth,
      mtu,
      mac: f.hostMac,
      peer: f.ifname,
      peerMac: f.containerMac,
      peerNetns: f.netns,
    },
    { op: 'link-set', name: f.hostVeth, master: conf.bridge, alias: `virtnet/${conf.name}/${f.containerID}`, up: true },
  );
  if (conf.hairpinMode) hostOps.push({ op: 'bridge-port', name: f.hostVeth, hairpin: true });
  hostOps.push({ op: 'link-show', name: conf.bridge });
  return { hostOps, nft: portFilterRules(conf, f.hostVeth, f.containerMac) };
}

/**
 * @param gatewayPresent tells whether the bridge already holds a gateway
 *   address (cidr "gw/prefix"), so that later pods skip a host exec.
 */
export function planAddressing(
  conf: BridgeConf,
  f: PortFacts,
  ipam: CniResult | undefined,
  gatewayPresent: (cidr: string) => boolean,
): AddressPlan {
  const mtu = conf.mtu ?? DEFAULT_MTU;
  const ips = gatewaysOf(conf, ipam?.ips ?? []);
  const routes = routesOf(conf, ips, ipam?.routes ?? []);
  const gatewayOps: LinkOp[] = [];
  const sysctls: Record<string, string> = {};
  if (conf.isGateway) {
    for (const ip of ips) {
      const cidr = parseCidr(ip.address);
      if (!cidr || !ip.gateway) continue;
      const gw = `${ip.gateway}/${cidr.prefix}`;
      if (!gatewayPresent(gw))
        gatewayOps.push({
          op: 'addr-add',
          replace: true,
          dev: conf.bridge,
          cidr: gw,
          ...(cidr.family === 6 && { nodad: true }),
        });
      // A gateway forwards (ip-sysctl.txt: ip_forward, conf/all/forwarding).
      sysctls[cidr.family === 4 ? 'net.ipv4.ip_forward' : 'net.ipv6.conf.all.forwarding'] = '1';
    }
  }
  const containerOps: LinkOp[] = ips.map((ip) => ({
    op: 'addr-add',
    dev: f.ifname,
    cidr: ip.address,
    ...(ip.address.includes(':') && { nodad: true }),
  }));
  containerOps.push({ op: 'link-set', name: f.ifname, up: true });
  for (const r of routes) {
    const family = familyOf(parseCidr(r.dst)?.address ?? '') ?? 4;
    const via = r.gw ?? ips.find((ip) => ip.gateway && familyOf(ip.gateway) === family)?.gateway;
    containerOps.push({
      op: 'route-add',
      dst: r.dst,
      dev: f.ifname,
      ...(via && { via }),
      ...(r.priority !== undefined && { metric: r.priority }),
      ...(r.table !== undefined && { table: r.table }),
      ...(r.mtu !== undefined && { mtu: r.mtu }),
      ...(r.advmss !== undefined && { advmss: r.advmss }),
      ...(r.scope !== undefined && { scope: r.scope }),
    });
  }
  const result: CniResult = {
    cniVersion: conf.cniVersion,
    interfaces: [
      { name: conf.bridge },
      { name: f.hostVeth, mac: f.hostMac, mtu },
      { name: f.ifname, mac: f.containerMac, mtu, sandbox: f.netns },
    ],
    ips,
    routes,
    dns: ipam?.dns && Object.keys(ipam.dns).length ? ipam.dns : (conf.dns ?? {}),
  };
  return { containerOps, gatewayOps, nft: masqueradeRules(conf, f.hostVeth, ips), sysctls, result };
}
