/**
 * spec.networks[]: KubeVirt's rules from pkg/network/admitter/netsource.go
 * (one pod network, one multus default and not with a pod network, one
 * source per network, a networkName) and netiface.go (unique names, every
 * network used by an interface), plus what KubeVirt leaves unchecked:
 * networkName's form, the NAD's existence, and the masquerade subnets
 * (vmNetworkCIDR / vmIPv6NetworkCIDR), whose bad values KubeVirt only
 * discovers when the launcher fails.
 */
import { cidrsOverlap, parseCidr } from '../../lib/cidr.ts';
import { dns1123LabelProblem } from '../../netattach/annotation.ts';
import { parseObjectKey } from './object-key.ts';
import { index, shown, type RuleProblem } from './paths.ts';
import type { VmiNetwork, VmiSpec } from './schema.ts';

export interface RuleEnv {
  /** The object's namespace (defaulted): a multus networkName without one names a NAD here. */
  namespace: string;
  /** Undefined: NAD existence is not checked. */
  nadExists?: (namespace: string, name: string) => boolean;
  /** Subnets a masquerade VM subnet must not overlap: the pod network's, the service CIDRs. */
  reservedCidrs?: ReservedCidr[];
}

export interface ReservedCidr {
  cidr: string;
  /** What it is, for the rule text: "the pod network", "the service CIDR". */
  what: string;
}

const SOURCES = ['pod', 'multus', 'resourceClaim'] as const;

/** A masquerade subnet must hold the network, gateway and guest addresses (and IPv4's broadcast). */
const MAX_PREFIX = { 4: 30, 6: 126 } as const;

/** "name" or "namespace/name" → its parts, the namespace defaulted; or why it is neither. */
export function splitNetworkName(
  networkName: string,
  namespace: string,
): { namespace: string; name: string } | { problem: string } {
  if (networkName === '')
    return { problem: 'must not be empty: the NetworkAttachmentDefinition, as "name" or "namespace/name"' };
  if (networkName.split('/').length > 2) return { problem: `${shown(networkName)} must be "name" or "namespace/name"` };
  const { namespace: ns, name } = parseObjectKey(networkName, namespace);
  const nsProblem = networkName.includes('/') ? dns1123LabelProblem(ns) : undefined;
  if (nsProblem) return { problem: `namespace part: ${nsProblem}` };
  const nameProblem = dns1123LabelProblem(name);
  if (nameProblem) return { problem: `name part: ${nameProblem}` };
  return { namespace: ns, name };
}

/** Whether a network is the VM's default (primary) one: the pod network or a multus default. */
export function isDefaultNetwork(net: VmiNetwork | undefined): boolean {
  return net !== undefined && (net.pod !== undefined || net.multus?.default === true);
}

/** What the rules of one network need to know of the whole spec, computed once (linear in the list sizes). */
interface NetworkContext {
  at: string;
  base: string;
  env: RuleEnv;
  firstPod: number;
  firstDefault: number;
  ifaceNames: Set<string>;
  masqueraded: Set<string>;
  seen: Map<string, number>;
}

export function networkProblems(spec: VmiSpec, at: string, env: RuleEnv): RuleProblem[] {
  const nets = spec.networks ?? [];
  const ifaces = spec.domain.devices.interfaces ?? [];
  const ctx: NetworkContext = {
    at,
    base: `${at}.networks`,
    env,
    firstPod: nets.findIndex((n) => n.pod !== undefined),
    firstDefault: nets.findIndex((n) => n.multus?.default === true),
    ifaceNames: new Set(ifaces.map((f) => f.name)),
    masqueraded: new Set(ifaces.filter((f) => f.masquerade !== undefined).map((f) => f.name)),
    seen: new Map(),
  };
  return nets.flatMap((net, i) => [
    ...sourceProblems(net, index(ctx.base, i)),
    ...nameProblems(net, i, ctx),
    ...(net.pod ? podProblems(net, i, ctx) : []),
    ...(net.multus ? multusProblems(net.multus, i, ctx) : []),
  ]);
}

/** Exactly one source, and one virtnet implements. */
function sourceProblems(net: VmiNetwork, p: string): RuleProblem[] {
  const out: RuleProblem[] = [];
  const sources = SOURCES.filter((s) => net[s] !== undefined);
  if (sources.length === 0)
    out.push({ path: p, rule: 'must have exactly one source: pod or multus (KubeVirt: "should have a network type")' });
  if (sources.length > 1)
    out.push({ path: p, rule: `has ${sources.length} sources (${sources.join(', ')}); a network has exactly one` });
  if (net.resourceClaim)
    out.push({
      path: `${p}.resourceClaim`,
      rule: 'resourceClaim (DRA) networks are not implemented by virtnet (supported: pod, multus)',
    });
  return out;
}

/** A name: not empty, unique, and the name of an interface. */
function nameProblems(net: VmiNetwork, i: number, ctx: NetworkContext): RuleProblem[] {
  const out: RuleProblem[] = [];
  const p = `${index(ctx.base, i)}.name`;
  if (net.name === '') out.push({ path: p, rule: 'must not be empty (is "")' });
  const dup = ctx.seen.get(net.name);
  if (dup !== undefined)
    out.push({ path: p, rule: `${shown(net.name)} must be unique; also used by ${index(ctx.base, dup)}` });
  else ctx.seen.set(net.name, i);
  if (net.name !== '' && !ctx.ifaceNames.has(net.name)) {
    out.push({
      path: p,
      rule: `no interface named ${shown(net.name)} in ${ctx.at}.domain.devices.interfaces; every network needs one`,
    });
  }
  return out;
}

/** At most one pod network, and its VM subnets. */
function podProblems(net: VmiNetwork, i: number, ctx: NetworkContext): RuleProblem[] {
  const p = `${index(ctx.base, i)}.pod`;
  const out: RuleProblem[] = [];
  if (i !== ctx.firstPod)
    out.push({ path: p, rule: `at most one pod network; ${index(ctx.base, ctx.firstPod)} is one already` });
  out.push(...podCidrProblems(net, p, ctx.masqueraded.has(net.name), ctx.env.reservedCidrs ?? []));
  return out;
}

/** A multus network: one default at most and never beside the pod network, its IPs, and a NAD that exists. */
function multusProblems(multus: NonNullable<VmiNetwork['multus']>, i: number, ctx: NetworkContext): RuleProblem[] {
  const p = `${index(ctx.base, i)}.multus`;
  const out: RuleProblem[] = [];
  if (multus.default && i !== ctx.firstDefault) {
    out.push({
      path: `${p}.default`,
      rule: `at most one multus network can be the default; ${index(ctx.base, ctx.firstDefault)} is already`,
    });
  }
  if (multus.default && ctx.firstPod >= 0) {
    out.push({
      path: `${p}.default`,
      rule:
        'a multus default network replaces the pod network, so it cannot be used with ' +
        `${index(ctx.base, ctx.firstPod)} (pod)`,
    });
  }
  out.push(...attachmentIpProblems(multus, p));
  const ref = splitNetworkName(multus.networkName, ctx.env.namespace);
  if ('problem' in ref) out.push({ path: `${p}.networkName`, rule: ref.problem });
  else if (ctx.env.nadExists && !ctx.env.nadExists(ref.namespace, ref.name)) {
    out.push({ path: `${p}.networkName`, rule: `NetworkAttachmentDefinition ${ref.namespace}/${ref.name} not found` });
  }
  return out;
}

/**
 * The VM subnets of a pod network: well-formed, big enough, and (for a
 * masquerade VM, which routes between the two) clear of the pod's own
 * subnets and the service CIDRs, including the defaults when none is given.
 */
function podCidrProblems(net: VmiNetwork, p: string, masquerade: boolean, reserved: ReservedCidr[]): RuleProblem[] {
  const out: RuleProblem[] = [];
  const check = (key: 'vmNetworkCIDR' | 'vmIPv6NetworkCIDR', family: 4 | 6, example: string) => {
    const given = net.pod?.[key];
    const text = given === undefined || given === '' ? (masquerade ? example : undefined) : given;
    if (text === undefined) return;
    const cidr = parseCidr(text);
    const clash =
      masquerade && cidr
        ? reserved.find((r) => {
            const c = parseCidr(r.cidr);
            return c !== undefined && cidrsOverlap(c, cidr);
          })
        : undefined;
    if (clash)
      out.push({
        path: `${p}.${key}`,
        rule:
          `${shown(text)}${text === given ? '' : ' (the default)'} overlaps ${clash.what} ${clash.cidr}; choose a ` +
          `subnet outside it`,
      });
    const max = MAX_PREFIX[family];
    if (!cidr || cidr.family !== family)
      out.push({ path: `${p}.${key}`, rule: `${shown(text)} is not an IPv${family} CIDR (e.g. ${example})` });
    else if (cidr.prefix > max) {
      out.push({
        path: `${p}.${key}`,
        rule:
          `${shown(text)}: /${cidr.prefix} is too small: the subnet holds the network, gateway and guest ` +
          `addresses${family === 4 ? ' and the broadcast address' : ''}; use /${max} or shorter`,
      });
    }
  };
  check('vmNetworkCIDR', 4, '10.0.2.0/24');
  check('vmIPv6NetworkCIDR', 6, 'fd10:0:2::/120');
  return out;
}

/**
 * A multus network's static addresses: each an address with its prefix (the
 * static IPAM plugin needs the prefix), none twice, and never on a default
 * network (Multus applies per-attachment requests only to secondaries).
 */
function attachmentIpProblems(multus: { default?: boolean; ips?: string[] }, p: string): RuleProblem[] {
  if (!multus.ips) return [];
  if (multus.default)
    return [
      { path: `${p}.ips`, rule: 'static addresses apply only to secondary networks, not to a multus default network' },
    ];
  const seen = new Set<string>();
  return multus.ips.flatMap((ip, k) => {
    const c = parseCidr(ip);
    if (!c)
      return [
        {
          path: `${p}.ips[${k}]`,
          rule: `${shown(ip)} is not an address with its prefix, like 192.168.10.5/24 or fd00::5/64`,
        },
      ];
    if (c.address === c.network && c.prefix < (c.family === 4 ? 31 : 127))
      return [{ path: `${p}.ips[${k}]`, rule: `${shown(ip)} is the subnet's network address, not an address in it` }];
    if (seen.has(c.address)) return [{ path: `${p}.ips[${k}]`, rule: `${shown(ip)} is listed twice` }];
    seen.add(c.address);
    return [];
  });
}
