/**
 * nftables rulesets for one attachment, in tables named after its host veth
 * so that DEL and GC drop them whole, in one transaction, without reading.
 * - bridge family: macspoofchk and vlanTrunk, enforced on the port itself;
 * - inet family: ipMasq for the attachment's addresses (not towards ipMasqExclude).
 */
import { cidrContains, parseCidr, type Family, type ParsedCidr } from '../lib/cidr.ts';
import { dropTable, type NftCommand } from '../lib/nft.ts';
import type { BridgeConf, CniIpConfig } from './types.ts';

export function tableName(hostVeth: string): string {
  return `virtnet-${hostVeth}`;
}

const match = (left: unknown, op: string, right: unknown): NftCommand => ({ match: { op, left, right } });
const meta = (key: string): unknown => ({ meta: { key } });

function chain(family: string, table: string, name: string, type: string, hook: string, prio: number): NftCommand {
  return { add: { chain: { family, table, name, type, hook, prio, policy: 'accept' } } };
}

function rule(family: string, table: string, chainName: string, expr: unknown[]): NftCommand {
  return { add: { rule: { family, table, chain: chainName, expr } } };
}

/** The VLAN ids a trunk allows, as an nft anonymous set of ids and ranges. */
function trunkSet(conf: BridgeConf): unknown {
  return { set: (conf.vlanTrunk ?? []).map((e) => (e.id !== undefined ? e.id : { range: [e.minID, e.maxID] })) };
}

export function portFilterRules(conf: BridgeConf, hostVeth: string, containerMac: string): NftCommand[] {
  if (!conf.macspoofchk && !conf.vlanTrunk) return [];
  const t = tableName(hostVeth);
  const cmds: NftCommand[] = [...dropTable('bridge', t), { add: { table: { family: 'bridge', name: t } } }];
  // prerouting sees every frame the port sends, bridged or addressed to the host.
  cmds.push(chain('bridge', t, 'from_port', 'filter', 'prerouting', -200));
  const fromPort = match(meta('iifname'), '==', hostVeth);
  if (conf.macspoofchk) {
    cmds.push(
      rule('bridge', t, 'from_port', [
        fromPort,
        match({ payload: { protocol: 'ether', field: 'saddr' } }, '!=', containerMac),
        { drop: null },
      ]),
    );
  }
  if (conf.vlanTrunk) {
    const vid = { payload: { protocol: 'vlan', field: 'id' } };
    cmds.push(rule('bridge', t, 'from_port', [fromPort, match(vid, '!=', trunkSet(conf)), { drop: null }]));
    // postrouting sees every frame the bridge sends out of the port.
    cmds.push(chain('bridge', t, 'to_port', 'filter', 'postrouting', 200));
    cmds.push(
      rule('bridge', t, 'to_port', [
        match(meta('oifname'), '==', hostVeth),
        match(vid, '!=', trunkSet(conf)),
        { drop: null },
      ]),
    );
  }
  return cmds;
}

const MULTICAST: Record<Family, ParsedCidr | undefined> = { 4: parseCidr('224.0.0.0/4'), 6: parseCidr('ff00::/8') };

/**
 * The destinations an address of this family keeps its own source for: its
 * subnet, multicast, and the config's ipMasqExclude entries of the family.
 * An entry inside another (the pod's /24 in the cluster's /16) is left out,
 * so the set has no overlapping intervals: nft 1.0.6 merges them itself
 * (measured here), and the plan does not depend on that.
 */
export function unmasqueradedSet(conf: BridgeConf, own: ParsedCidr): ParsedCidr[] {
  const extra = (conf.ipMasqExclude ?? []).flatMap((text) => parseCidr(text) ?? []);
  const all = [own, MULTICAST[own.family], ...extra].filter(
    (c): c is ParsedCidr => c !== undefined && c.family === own.family,
  );
  return all.filter((c, i) => !all.some((d, j) => j !== i && cidrContains(d, c) && (d.prefix < c.prefix || j < i)));
}

/**
 * Masquerade what leaves the subnet, as the reference bridge plugin does
 * with ipMasq, except towards ipMasqExclude (the cluster's pod networks).
 */
export function masqueradeRules(conf: BridgeConf, hostVeth: string, ips: readonly CniIpConfig[]): NftCommand[] {
  if (!conf.ipMasq || ips.length === 0) return [];
  const t = tableName(hostVeth);
  const cmds: NftCommand[] = [...dropTable('inet', t), { add: { table: { family: 'inet', name: t } } }];
  cmds.push(chain('inet', t, 'postrouting', 'nat', 'postrouting', 100));
  for (const ip of ips) {
    const c = parseCidr(ip.address);
    if (!c) continue;
    const proto = c.family === 4 ? 'ip' : 'ip6';
    const keep = unmasqueradedSet(conf, c).map((d) => ({ prefix: { addr: d.network, len: d.prefix } }));
    cmds.push(
      rule('inet', t, 'postrouting', [
        match({ payload: { protocol: proto, field: 'saddr' } }, '==', c.address),
        match({ payload: { protocol: proto, field: 'daddr' } }, '!=', { set: keep }),
        { masquerade: null },
      ]),
    );
  }
  return cmds;
}

/** Everything DEL must remove for an attachment, whether or not it exists. */
export function dropAttachmentRules(conf: BridgeConf, hostVeth: string): NftCommand[] {
  const t = tableName(hostVeth);
  return [
    ...(conf.macspoofchk || conf.vlanTrunk ? dropTable('bridge', t) : []),
    ...(conf.ipMasq ? dropTable('inet', t) : []),
  ];
}
