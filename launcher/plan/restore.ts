/**
 * Teardown as a plan: from the pod as discovered before the launcher touched
 * it and the links present now, the operations that put it back as the CNI
 * plugin left it. Safe to run twice and after a crash at any point: a link
 * named like the pod NIC is deleted only while `<podif>-nic` exists, that is,
 * only when it is our placeholder.
 */
import type { IpLink, LinkOp } from '../../lib/iproute.ts';
import type { PodInterface, PodNetwork } from '../discover.ts';
import type { NicPlan } from './types.ts';
import { bridgeServerAddress, policyTable } from './bridge.ts';

export interface RestorePlan {
  ops: LinkOp[];
  ops6: LinkOp[];
}

export function planRestore(
  original: PodNetwork,
  nics: readonly Pick<NicPlan, 'names' | 'index'>[],
  current: readonly IpLink[],
): RestorePlan {
  const present = new Set(current.map((l) => l.ifname));
  const ops: LinkOp[] = [];
  const ops6: LinkOp[] = [];
  for (const { names, index } of nics) {
    const pod = original.interfaces.find((i) => i.name === names.podIf);
    if (present.has(names.tap)) ops.push({ op: 'link-del', name: names.tap });
    if (present.has(names.bridge)) ops.push({ op: 'link-del', name: names.bridge });
    // Rules outlive the links they name; routes in the NIC's table go with the bridge.
    if (pod?.ipv4.length)
      ops.push({ op: 'rule-del', from: bridgeServerAddress(index), table: policyTable(index), pref: 1000 + index });
    if (pod?.ipv6.length)
      ops6.push({ op: 'rule-del', iif: names.bridge, table: policyTable(index), pref: 1000 + index });
    if (!pod) continue;
    if (!present.has(names.podNic)) {
      // Never renamed. If a failed apply flushed its addresses, put them back.
      const now = current.find((l) => l.ifname === pod.name);
      const bare = now && !(now.addr_info ?? []).some((a) => a.scope !== 'link');
      if (bare && pod.ipv4.length + pod.ipv6.length > 0) ops.push(...readdress(pod));
      continue;
    }
    if (present.has(pod.name)) ops.push({ op: 'link-del', name: pod.name });
    ops.push(
      { op: 'link-set', name: names.podNic, nomaster: true, up: false },
      { op: 'link-set', name: names.podNic, newName: pod.name, mac: pod.mac, mtu: pod.mtu },
      ...readdress(pod),
    );
  }
  return { ops, ops6 };
}

/** The pod NIC's addresses, link state and routes, as discovered. */
function readdress(pod: PodInterface): LinkOp[] {
  return [
    ...pod.ipv4.map((a): LinkOp => ({ op: 'addr-add', dev: pod.name, cidr: `${a.address}/${a.prefix}` })),
    ...pod.ipv6.map((a): LinkOp => ({ op: 'addr-add', dev: pod.name, cidr: `${a.address}/${a.prefix}`, nodad: true })),
    { op: 'link-set', name: pod.name, up: true },
    // Routes as they were: direct ones first, so that a gateway outside any
    // connected subnet (Calico's 169.254.1.1 with a /32 pod address) is
    // reachable when its route comes; onlink only where CNI had it.
    ...[...pod.routes4, ...pod.routes6]
      .sort((a, b) => Number(!!a.gateway) - Number(!!b.gateway))
      .map(
        (r): LinkOp => ({
          op: 'route-add',
          dst: r.dst,
          dev: pod.name,
          ...(r.gateway && { via: r.gateway }),
          ...(r.onlink && { onlink: true }),
          ...(r.metric !== undefined && { metric: r.metric }),
        }),
      ),
  ];
}
