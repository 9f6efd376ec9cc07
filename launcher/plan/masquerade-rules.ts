/**
 * The masquerade binding's nftables ruleset (libnftables-json(5)), pure: one
 * `inet` table that virtnet owns, replaced whole in one transaction. It follows
 * KubeVirt's rules (pkg/network/setup/netpod/masquerade), for both families:
 *   postrouting: the guest's traffic out of the pod NIC is masqueraded;
 *   prerouting:  what arrives on the pod NIC for the pod IP (only the declared
 *                ports, when there are some) is DNATed to the guest;
 *   output:      the pod's loopback to those ports is DNATed to the guest too,
 *   postrouting: and its source rewritten to the gateway, so the guest can answer.
 */
import { dropTable, type NftCommand } from '../../lib/nft.ts';

export const MASQUERADE_TABLE = 'virtnet-masquerade';

export interface Forward {
  protocol: 'TCP' | 'UDP';
  start: number;
  end: number;
}

interface Family {
  podIp: string;
  guest: string;
  gateway: string;
}

export interface MasqueradeRules {
  podIf: string;
  bridge: string;
  /** 'all': no ports declared, everything is forwarded. */
  forwards: Forward[] | 'all';
  v4?: Family;
  v6?: Family;
}

const T = MASQUERADE_TABLE;
const match = (left: unknown, right: unknown, op = '=='): unknown => ({ match: { op, left, right } });
const meta = (key: string): unknown => ({ meta: { key } });
const payload = (protocol: string, field: string): unknown => ({ payload: { protocol, field } });
const rule = (chain: string, expr: unknown[]): NftCommand => ({
  add: { rule: { family: 'inet', table: T, chain, expr } },
});

function chain(name: string, hook: string, prio: number): NftCommand {
  return { add: { chain: { family: 'inet', table: T, name, type: 'nat', hook, prio, policy: 'accept' } } };
}

/** The port matches of one forward: protocol and destination port or range. */
function portMatch(f: Forward): unknown[] {
  const proto = f.protocol.toLowerCase();
  return [
    match(meta('l4proto'), proto),
    match(payload(proto, 'dport'), f.start === f.end ? f.start : { range: [f.start, f.end] }),
  ];
}

export function masqueradeRuleset(r: MasqueradeRules): NftCommand[] {
  const cmds: NftCommand[] = [...dropTable('inet', T), { add: { table: { family: 'inet', name: T } } }];
  cmds.push(
    chain('prerouting', 'prerouting', -100),
    chain('output', 'output', -100),
    chain('postrouting', 'postrouting', 100),
  );
  const ports = r.forwards === 'all' ? [undefined] : r.forwards;
  for (const [fam, f] of [
    ['ip', r.v4],
    ['ip6', r.v6],
  ] as const) {
    if (!f) continue;
    const loopback = fam === 'ip' ? '127.0.0.1' : '::1';
    cmds.push(
      rule('postrouting', [
        match(payload(fam, 'saddr'), f.guest),
        match(meta('oifname'), r.podIf),
        { masquerade: null },
      ]),
    );
    for (const port of ports) {
      const pm = port ? portMatch(port) : [];
      cmds.push(
        rule('prerouting', [
          match(meta('iifname'), r.podIf),
          match(payload(fam, 'daddr'), f.podIp),
          ...pm,
          { dnat: { family: fam, addr: f.guest } },
        ]),
        rule('output', [match(payload(fam, 'daddr'), loopback), ...pm, { dnat: { family: fam, addr: f.guest } }]),
        rule('postrouting', [
          match(meta('oifname'), r.bridge),
          match(payload(fam, 'saddr'), loopback),
          ...pm,
          { snat: { family: fam, addr: f.gateway } },
        ]),
      );
    }
  }
  return cmds;
}
