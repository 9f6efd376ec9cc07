/**
 * CHECK: the container interface, its addresses and its routes must match
 * prevResult (SPEC.md "CHECK"), and the host veth must sit on the bridge.
 */
import { ErrorCode, VirtnetError } from '../lib/errors.ts';
import { ipJson, readNetns, type IpLink, type IpRoute } from '../lib/iproute.ts';
import { netnsExists } from '../lib/netns.ts';
import { defaultDst, familyOf, parseCidr, sameAddress } from '../lib/cidr.ts';
import { execIpam } from './ipam.ts';
import { hostVethName } from './state.ts';
import type { CniEnv } from './env.ts';
import type { Log } from './log.ts';
import type { BridgeConf, CniRoute } from './types.ts';
import type { NodePolicy } from './policy.ts';

export const CHECK_FAILED = ErrorCode.checkFailed;

function fail(msg: string): VirtnetError {
  return new VirtnetError(CHECK_FAILED, `CHECK: ${msg}`);
}

function routeMatches(want: CniRoute, have: IpRoute, ifname: string): boolean {
  const dst = parseCidr(want.dst);
  if (!dst) return false;
  const isDefault = dst.prefix === 0;
  const haveDst =
    have.dst === 'default'
      ? defaultDst(dst.family)
      : have.dst.includes('/')
        ? have.dst
        : `${have.dst}/${dst.family === 4 ? 32 : 128}`;
  const haveCidr = parseCidr(haveDst);
  if (!haveCidr || haveCidr.family !== dst.family || haveCidr.prefix !== dst.prefix) return false;
  if (!isDefault && !sameAddress(haveCidr.network, dst.network)) return false;
  if (have.dev !== ifname) return false;
  return !want.gw || (have.gateway !== undefined && sameAddress(want.gw, have.gateway));
}

export async function cmdCheck(conf: BridgeConf, env: CniEnv, log: Log, policy: NodePolicy): Promise<void> {
  const prev = conf.prevResult;
  if (!prev) throw new VirtnetError(ErrorCode.invalidConfig, 'prevResult: required for CHECK');
  if (!netnsExists(env.netns))
    throw new VirtnetError(ErrorCode.badEnvironment, `CNI_NETNS: "${env.netns}" does not exist`);
  await execIpam('CHECK', { conf, env, log, policy });
  const hostVeth = hostVethName(env.containerID, env.ifname);
  const wantIf = prev.interfaces?.find((i) => i.name === env.ifname && i.sandbox);
  if (!wantIf) throw fail(`prevResult has no interface "${env.ifname}" with a sandbox`);
  const wantV6 =
    (prev.ips ?? []).some((ip) => ip.address.includes(':')) || (prev.routes ?? []).some((r) => r.dst.includes(':'));
  const [inside, host] = await Promise.all([
    readNetns(env.netns, wantV6),
    ipJson<IpLink[]>(['link', 'show', 'dev', hostVeth]).catch(() => [] as IpLink[]),
  ]);
  if (host[0]?.master !== conf.bridge)
    throw fail(`host veth ${hostVeth} is missing or not a port of bridge ${conf.bridge}`);
  const link = inside.links.find((l) => l.ifname === env.ifname);
  if (!link) throw fail(`interface ${env.ifname} not found in ${env.netns}`);
  if (wantIf.mac && link.address?.toLowerCase() !== wantIf.mac.toLowerCase()) {
    throw fail(`interface ${env.ifname} has MAC ${link.address}, prevResult says ${wantIf.mac}`);
  }
  if (wantIf.mtu !== undefined && link.mtu !== wantIf.mtu)
    throw fail(`interface ${env.ifname} has MTU ${link.mtu}, prevResult says ${wantIf.mtu}`);
  for (const ip of prev.ips ?? []) {
    const want = parseCidr(ip.address);
    const found =
      want && (link.addr_info ?? []).some((a) => a.prefixlen === want.prefix && sameAddress(a.local, want.address));
    if (!found) throw fail(`address ${ip.address} not found on ${env.ifname}`);
  }
  for (const r of prev.routes ?? []) {
    if (!inside.routes.some((have) => routeMatches(r, have, env.ifname)))
      throw fail(`route ${r.dst}${r.gw ? ` via ${r.gw}` : ''} not found`);
  }
  const families = [...new Set((prev.ips ?? []).map((i) => familyOf(i.address.split('/')[0] ?? '')))];
  log.debug({ containerID: env.containerID, ifname: env.ifname, families }, 'checked');
}
