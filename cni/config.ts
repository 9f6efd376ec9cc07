/**
 * Parse and validate the plugin's stdin configuration. Every problem names
 * the field and the rule; nothing here touches the system.
 */
import { ErrorCode, VirtnetError } from '../lib/errors.ts';
import { CNI_ID_PATTERN, didYouMean, linkNameProblem, networkNameProblem } from '../lib/names.ts';
import { searchDomainProblem } from '../lib/dnsmasq-values.ts';
import { familyOf, isIp, isIpv4Mapped, isMac, parseCidr } from '../lib/cidr.ts';
import { pathProblem } from './env.ts';
import { parseResult, requireSupported } from './version.ts';
import type { Attachment, BridgeConf, CniDns, VlanTrunkEntry, VxlanConf } from './types.ts';
import { isObj } from '../lib/json.ts';
import { showValue } from '../lib/show.ts';
import { isLevelSetting, LEVEL_RULE, type LevelSetting } from '../lib/log.ts';

export const PLUGIN_TYPE = 'virtnet-bridge';
export const DEFAULT_BRIDGE = 'virtnet0';
export const DEFAULT_DATA_DIR = '/var/lib/cni/virtnet';
export const DEFAULT_VXLAN_PORT = 4789;

function invalid(field: string, rule: string): VirtnetError {
  return new VirtnetError(ErrorCode.invalidConfig, `${field}: ${rule}`);
}

type Obj = Record<string, unknown>;

/** Booleans may also arrive as "true"/"false" strings (libcni accepts both). */
function bool(o: Obj, key: string, field = key): boolean {
  const v = o[key];
  if (v === undefined) return false;
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'false') return v === 'true';
  throw invalid(field, 'must be a boolean');
}

function int(o: Obj, key: string, field: string, min: number, max: number): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalid(field, `must be an integer from ${min} to ${max}`);
  }
  return v;
}

function str(o: Obj, key: string, field: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalid(field, 'must be a string');
  return v;
}

function ipField(o: Obj, key: string, field: string): string | undefined {
  const v = str(o, key, field);
  if (v !== undefined && !isIp(v)) throw invalid(field, `"${v}" is not an IP address`);
  return v;
}

/**
 * The VXLAN device's peers come from one of three places (types.ts
 * VxlanConf): `remote`, one unicast peer; `group`, a multicast group on the
 * underlay `dev`; or neither, head-end replication, where the node agent
 * keeps one all-zeros FDB entry per other node (bridge(8) "fdb append
 * 00:00:00:00:00:00 dev vxlan<id> dst <node IP>"). Only remote with group
 * is contradictory.
 */
function parseVxlan(v: unknown): VxlanConf | undefined {
  if (v === undefined) return undefined;
  if (!isObj(v)) throw invalid('vxlan', 'must be an object');
  const id = int(v, 'id', 'vxlan.id', 0, 16777215);
  if (id === undefined) throw invalid('vxlan.id', 'is required (a VNI from 0 to 16777215)');
  const remote = ipField(v, 'remote', 'vxlan.remote');
  const group = ipField(v, 'group', 'vxlan.group');
  const local = ipField(v, 'local', 'vxlan.local');
  if (remote && group)
    throw invalid(
      'vxlan',
      `set either remote ("${remote}") or group ("${group}"), not both; set neither for head-end replication from ` +
        `the node agent's FDB entries`,
    );
  if (group && !isMulticast(group)) throw invalid('vxlan.group', `"${group}" is not a multicast address`);
  const dev = str(v, 'dev', 'vxlan.dev');
  if (dev !== undefined && linkNameProblem(dev)) throw invalid('vxlan.dev', `"${dev}" ${linkNameProblem(dev)}`);
  if (group && !dev) throw invalid('vxlan.dev', 'is required with a multicast group (the underlay device)');
  const port = int(v, 'port', 'vxlan.port', 1, 65535) ?? DEFAULT_VXLAN_PORT;
  return { id, port, ...(remote && { remote }), ...(group && { group }), ...(local && { local }), ...(dev && { dev }) };
}

function isMulticast(ip: string): boolean {
  return familyOf(ip) === 4
    ? Number(ip.split('.')[0]) >= 224 && Number(ip.split('.')[0]) <= 239
    : ip.toLowerCase().startsWith('ff');
}

function parseVlanTrunk(v: unknown): VlanTrunkEntry[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length === 0)
    throw invalid('vlanTrunk', 'must be a non-empty list of {id} or {minID, maxID}');
  return v.map((e, i) => {
    const f = `vlanTrunk[${i}]`;
    if (!isObj(e)) throw invalid(f, 'must be an object');
    const id = int(e, 'id', `${f}.id`, 1, 4094);
    const minID = int(e, 'minID', `${f}.minID`, 1, 4094);
    const maxID = int(e, 'maxID', `${f}.maxID`, 1, 4094);
    if (id !== undefined && (minID !== undefined || maxID !== undefined))
      throw invalid(f, 'set id, or minID and maxID, not both');
    if (id !== undefined) return { id };
    if (minID === undefined || maxID === undefined) throw invalid(f, 'needs id, or both minID and maxID');
    if (minID > maxID) throw invalid(f, `minID ${minID} is greater than maxID ${maxID}`);
    return { minID, maxID };
  });
}

/**
 * The most ipMasqExclude may hold: a cluster's pod networks are a few CIDRs, and each is one nft set element per
 * attachment.
 */
export const MAX_MASQ_EXCLUDE = 64;

/**
 * ipMasqExclude: the destinations ipMasq leaves alone, above all the
 * cluster's pod network, so that a pod on another node sees this pod's own
 * address (Kubernetes' network model: pods talk to pods without NAT). Each
 * entry is a CIDR, kept as its network ("10.244.0.0/16"), as nft matches it.
 */
function parseMasqExclude(v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v))
    throw invalid(
      'ipMasqExclude',
      `${showValue(v)} must be a list of CIDRs (e.g. ["10.244.0.0/16", "fd00:10:244::/56"])`,
    );
  if (v.length > MAX_MASQ_EXCLUDE)
    throw invalid('ipMasqExclude', `has ${v.length} entries; at most ${MAX_MASQ_EXCLUDE} are allowed`);
  return v.map((e, i) => {
    const f = `ipMasqExclude[${i}]`;
    if (typeof e !== 'string') throw invalid(f, `${showValue(e)} must be a CIDR string`);
    const problem = masqExcludeProblem(e);
    if (problem) throw invalid(f, `${showValue(e)} ${problem}`);
    const c = parseCidr(e)!;
    return `${c.network}/${c.prefix}`;
  });
}

/** Why `text` is not an ipMasqExclude entry, or undefined. */
function masqExcludeProblem(text: string): string | undefined {
  const [addr = '', len] = text.split('/');
  if (len !== undefined && familyOf(addr) === 4 && /^\d+$/u.test(len) && Number(len) > 32) {
    return (
      `mixes families: an IPv4 address with the prefix length ${len}, which only IPv6 has (IPv4 prefixes are 0 to ` +
      `32)`
    );
  }
  const c = parseCidr(text);
  if (!c) return 'is not a CIDR (address/prefix length, e.g. 10.244.0.0/16)';
  // An IPv6 packet never carries ::ffff:a.b.c.d (RFC 4291 2.5.5.2): such an entry would exclude nothing.
  if (isIpv4Mapped(c)) {
    return 'is an IPv4-mapped IPv6 prefix, which no IPv6 packet carries; write the IPv4 CIDR';
  }
  if (c.prefix === 0) return 'excludes every destination; set ipMasq to false instead';
  return undefined;
}

function parseDns(v: unknown): CniDns | undefined {
  if (v === undefined) return undefined;
  if (!isObj(v)) throw invalid('dns', 'must be an object');
  const list = (key: string): string[] | undefined => {
    const l = v[key];
    if (l === undefined) return undefined;
    if (!Array.isArray(l) || !l.every((x) => typeof x === 'string'))
      throw invalid(`dns.${key}`, 'must be a list of strings');
    return l as string[];
  };
  const nameservers = list('nameservers');
  nameservers?.forEach((n, i) => {
    if (!isIp(n)) throw invalid(`dns.nameservers[${i}]`, `"${n}" is not an IP address`);
  });
  // domain and search become resolv.conf lines and DHCP search lists: a newline would start a line of its own.
  const domain = str(v, 'domain', 'dns.domain');
  const domainProblem = domain === undefined ? undefined : searchDomainProblem(domain);
  if (domainProblem) throw invalid('dns.domain', `is not a domain name: ${domainProblem}`);
  const search = list('search');
  search?.forEach((d, i) => {
    const p = searchDomainProblem(d);
    if (p) throw invalid(`dns.search[${i}]`, `is not a domain name: ${p}`);
  });
  const options = list('options');
  // resolv(5): "options" takes words such as ndots:5, separated by blanks.
  options?.forEach((o, i) => {
    if (o === '' || /[\s\p{Cc}]/u.test(o))
      throw invalid(
        `dns.options[${i}]`,
        `${JSON.stringify(o)} must be one resolv.conf option word, without whitespace or control characters`,
      );
  });
  return {
    ...(nameservers && { nameservers }),
    ...(domain && { domain }),
    ...(search && { search }),
    ...(options && { options }),
  };
}

function parseAttachments(v: unknown, field: string): Attachment[] {
  if (!Array.isArray(v)) throw invalid(field, 'must be a list of {containerID, ifname}');
  return v.map((a, i) => {
    if (!isObj(a) || typeof a.containerID !== 'string' || typeof a.ifname !== 'string') {
      throw invalid(`${field}[${i}]`, 'must have string containerID and ifname');
    }
    return { containerID: a.containerID, ifname: a.ifname };
  });
}

/** The MAC the runtime asks for: runtimeConfig > args.cni > CNI_ARGS (CONVENTIONS.md). */
function requestedMac(raw: Obj, cniArgs: Map<string, string>): string | undefined {
  const rc = isObj(raw.runtimeConfig) ? raw.runtimeConfig : {};
  const argsCni = isObj(raw.args) && isObj(raw.args.cni) ? raw.args.cni : {};
  for (const [value, field] of [
    [rc.mac, 'runtimeConfig.mac'],
    [argsCni.mac, 'args.cni.mac'],
    [cniArgs.get('MAC'), 'CNI_ARGS MAC'],
  ] as const) {
    if (value === undefined) continue;
    if (typeof value !== 'string' || !isMac(value))
      throw invalid(field, `"${String(value)}" is not a MAC address (aa:bb:cc:dd:ee:ff)`);
    if (parseInt(value.slice(0, 2), 16) & 1)
      throw invalid(field, `"${value}" is a multicast MAC; a NIC needs a unicast one`);
    // The kernel refuses it for an Ethernet link (is_valid_ether_addr), after the bridge and veth were made.
    if (/^[0:-]+$/u.test(value)) throw invalid(field, `"${value}" is the all-zero MAC, which no NIC may have`);
    return value.toLowerCase();
  }
  return undefined;
}

/** Requested IPs (runtimeConfig.ips / args.cni.ips) are the IPAM plugin's to honour; we check their form. */
function checkRequestedIps(raw: Obj): void {
  const rc = isObj(raw.runtimeConfig) ? raw.runtimeConfig : {};
  const argsCni = isObj(raw.args) && isObj(raw.args.cni) ? raw.args.cni : {};
  for (const [value, field] of [
    [rc.ips, 'runtimeConfig.ips'],
    [argsCni.ips, 'args.cni.ips'],
  ] as const) {
    if (value === undefined) continue;
    if (!Array.isArray(value)) throw invalid(field, 'must be a list of IPs or CIDRs');
    value.forEach((ip, i) => {
      if (typeof ip !== 'string' || !(isIp(ip) || parseCidr(ip)))
        throw invalid(`${field}[${i}]`, `"${String(ip)}" is not an IP or CIDR`);
    });
  }
}

/** The stdin text as a JSON object, or a decode error (code 6). */
function decode(stdin: string): Obj {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (e) {
    throw new VirtnetError(ErrorCode.decodeFailure, `config: not valid JSON (${(e as Error).message})`);
  }
  if (!isObj(raw)) throw new VirtnetError(ErrorCode.decodeFailure, 'config: must be a JSON object');
  return raw;
}

/**
 * The top-level keys a virtnet-bridge config may hold: ours, and those the
 * spec and libcni put in every plugin's config (SPEC.md "Plugin
 * configuration objects": cniVersion, name, type, ipam, dns, args,
 * runtimeConfig, capabilities, prevResult; CONVENTIONS.md reserves the
 * "cni.dev/" prefix). Multus adds only deviceID and pciBusID, to a
 * delegate whose NAD has a resourceName (a device plugin's device); they are
 * accepted and unused. A misspelt key ("isGatway") would otherwise be
 * ignored in silence and the network built without it.
 */
export const KNOWN_FIELDS = [
  'cniVersion',
  'name',
  'type',
  'ipam',
  'dns',
  'args',
  'runtimeConfig',
  'capabilities',
  'prevResult',
  'deviceID',
  'pciBusID',
  'bridge',
  'isGateway',
  'isDefaultGateway',
  'mtu',
  'hairpinMode',
  'promiscMode',
  'ipMasq',
  'ipMasqExclude',
  'macspoofchk',
  'vxlan',
  'vlanTrunk',
  'vlan',
  'logFile',
  'logLevel',
  'dataDir',
] as const;
const VXLAN_FIELDS = ['id', 'remote', 'group', 'local', 'dev', 'port'] as const;
const DNS_FIELDS = ['nameservers', 'domain', 'search', 'options'] as const;
const TRUNK_FIELDS = ['id', 'minID', 'maxID'] as const;

function unknownIn(o: unknown, known: readonly string[], prefix: string): string[] {
  if (!isObj(o)) return [];
  return Object.keys(o)
    .filter((k) => !known.includes(k) && !(prefix === '' && k.startsWith('cni.dev/')))
    .map((k) => {
      const hint = didYouMean(k, known);
      return `${prefix}${k}: unknown field${hint ? ` (did you mean "${hint}"?)` : ''}`;
    });
}

/** Every unknown key, at the top level and in the objects whose shape is ours. */
export function unknownFields(raw: Obj): string[] {
  const trunk = Array.isArray(raw.vlanTrunk)
    ? raw.vlanTrunk.flatMap((e, i) => unknownIn(e, TRUNK_FIELDS, `vlanTrunk[${i}].`))
    : [];
  return [
    ...unknownIn(raw, KNOWN_FIELDS, ''),
    ...unknownIn(raw.vxlan, VXLAN_FIELDS, 'vxlan.'),
    ...unknownIn(raw.dns, DNS_FIELDS, 'dns.'),
    ...trunk,
  ];
}

export function parseConfig(stdin: string, cniArgs: Map<string, string> = new Map()): BridgeConf {
  const raw = decode(stdin);
  const unknown = unknownFields(raw);
  if (unknown.length) throw new VirtnetError(ErrorCode.invalidConfig, unknown.join('; '));
  return buildConfig(raw, cniArgs);
}

/**
 * Every problem the plugin would refuse this config for, as "field: rule"
 * lines; [] when it would accept it. Pure: `virtnet validate` and NAD
 * admission run the plugin's own rules without running the plugin.
 */
export function configProblems(config: string | Record<string, unknown>): string[] {
  return checkConfig(config).problems;
}

/**
 * configProblems, with the config the plugin would build when there are
 * none: the node policy (cni/policy.ts policyProblems) is checked on that.
 */
export function checkConfig(config: string | Record<string, unknown>): { problems: string[]; conf?: BridgeConf } {
  let raw: Obj;
  try {
    raw = typeof config === 'string' ? decode(config) : config;
  } catch (e) {
    return { problems: [(e as Error).message] };
  }
  const problems = unknownFields(raw);
  try {
    const conf = buildConfig(raw, new Map());
    return problems.length ? { problems } : { problems, conf };
  } catch (e) {
    return { problems: [...problems, (e as Error).message] };
  }
}

/**
 * A host path a config names: absolute and plain (pathProblem), and with no
 * part starting with ".", because the plugin keeps its own files in such
 * parts (cni/ipam.ts versionCacheFile: <dataDir>/.cache/), which a network
 * name cannot reach (CNI_ID_PATTERN) but a dataDir or logFile could.
 */
function requireHostPath(field: string, value: string): void {
  const problem = pathProblem(value);
  if (problem) throw invalid(field, `"${value}" ${problem}`);
  const hidden = value.split('/').find((part) => part.startsWith('.'));
  if (hidden !== undefined)
    throw invalid(
      field,
      `"${value}" has the part "${hidden}"; no part of a host path may start with "." (the plugin keeps its own ` +
        `files there)`,
    );
}

/** cniVersion, name and bridge: each required or defaulted, and a valid CNI id or link name. */
function identity(raw: Obj): { cniVersion: string; name: string; bridge: string } {
  const cniVersion = str(raw, 'cniVersion', 'cniVersion');
  if (!cniVersion) throw invalid('cniVersion', 'is required');
  requireSupported(cniVersion);
  const name = str(raw, 'name', 'name');
  if (!name) throw invalid('name', `"" must match ${CNI_ID_PATTERN.source}`);
  const nameProblem = networkNameProblem(name);
  if (nameProblem) throw invalid('name', nameProblem);
  const bridge = str(raw, 'bridge', 'bridge') ?? DEFAULT_BRIDGE;
  const brProblem = linkNameProblem(bridge);
  if (brProblem) throw invalid('bridge', `"${bridge}" is not a valid link name: ${brProblem}`);
  if (raw.vlan !== undefined) {
    throw new VirtnetError(
      ErrorCode.unsupportedField,
      'vlan: access-VLAN tagging is not supported; it needs bridge VLAN filtering or 8021q (use vlanTrunk to carry ' +
        'tagged frames)',
    );
  }
  return { cniVersion, name, bridge };
}

/** The IPAM plugin's type, when there is one: a CNI id, and never this plugin (that recurses without end). */
function ipamTypeOf(raw: Obj, type: string): string | undefined {
  const ipam = raw.ipam;
  if (ipam !== undefined && (!isObj(ipam) || (Object.keys(ipam).length > 0 && typeof ipam.type !== 'string'))) {
    throw invalid('ipam.type', 'must name the IPAM plugin (e.g. "host-local")');
  }
  const ipamType = isObj(ipam) && typeof ipam.type === 'string' ? ipam.type : undefined;
  if (ipamType !== undefined && !CNI_ID_PATTERN.test(ipamType))
    throw invalid('ipam.type', `"${ipamType}" must match ${CNI_ID_PATTERN.source}`);
  // Issue 11, defect 1.
  if (ipamType === type || ipamType === PLUGIN_TYPE)
    throw invalid('ipam.type', `"${ipamType}" is this plugin itself; name an IPAM plugin such as "host-local"`);
  return ipamType;
}

/** Where the plugin writes: its data directory and its log (host paths the node policy checks later). */
function outputs(raw: Obj): { dataDir: string; logFile?: string; logLevel?: LevelSetting } {
  const logFile = str(raw, 'logFile', 'logFile');
  if (logFile) requireHostPath('logFile', logFile);
  const logLevel = str(raw, 'logLevel', 'logLevel');
  if (logLevel !== undefined && !isLevelSetting(logLevel))
    throw invalid('logLevel', `${showValue(logLevel)} ${LEVEL_RULE}`);
  const dataDir = str(raw, 'dataDir', 'dataDir') ?? DEFAULT_DATA_DIR;
  requireHostPath('dataDir', dataDir);
  return { dataDir, ...(logFile && { logFile }), ...(logLevel && { logLevel }) };
}

/** The attachments a GC must keep: CNI 1.1's cni.dev/valid-attachments, and the older cni.dev/attachments. */
function validAttachmentsOf(raw: Obj): NonNullable<BridgeConf['validAttachments']> {
  return (['cni.dev/valid-attachments', 'cni.dev/attachments'] as const).flatMap((key) =>
    raw[key] !== undefined ? parseAttachments(raw[key], key) : [],
  );
}

function buildConfig(raw: Obj, cniArgs: Map<string, string>): BridgeConf {
  const { cniVersion, name, bridge } = identity(raw);
  const type = typeof raw.type === 'string' ? raw.type : PLUGIN_TYPE;
  const ipamType = ipamTypeOf(raw, type);
  const isDefaultGateway = bool(raw, 'isDefaultGateway');
  const out = outputs(raw);
  if (isObj(raw.ipam) && typeof raw.ipam.dataDir === 'string') requireHostPath('ipam.dataDir', raw.ipam.dataDir);
  checkRequestedIps(raw);
  const mtu = int(raw, 'mtu', 'mtu', 68, 65535);
  const vxlan = parseVxlan(raw.vxlan);
  const ipMasqExclude = parseMasqExclude(raw.ipMasqExclude);
  const vlanTrunk = parseVlanTrunk(raw.vlanTrunk);
  const dns = parseDns(raw.dns);
  const mac = requestedMac(raw, cniArgs);
  const prevResult = raw.prevResult === undefined ? undefined : parseResult(raw.prevResult, cniVersion, 'prevResult');
  const valid = validAttachmentsOf(raw);
  return {
    cniVersion,
    name,
    type,
    bridge,
    isGateway: bool(raw, 'isGateway') || isDefaultGateway,
    isDefaultGateway,
    hairpinMode: bool(raw, 'hairpinMode'),
    promiscMode: bool(raw, 'promiscMode'),
    ipMasq: bool(raw, 'ipMasq'),
    macspoofchk: bool(raw, 'macspoofchk'),
    dataDir: out.dataDir,
    raw,
    ...(mtu !== undefined && { mtu }),
    ...(vxlan && { vxlan }),
    ...(vlanTrunk && { vlanTrunk }),
    ...(ipMasqExclude && { ipMasqExclude }),
    ...(ipamType !== undefined && { ipam: raw.ipam as BridgeConf['ipam'] & object }),
    ...(dns && { dns }),
    ...(mac && { mac }),
    ...(out.logFile && { logFile: out.logFile }),
    ...(out.logLevel && { logLevel: out.logLevel }),
    ...(prevResult && { prevResult }),
    ...(valid.length && { validAttachments: valid }),
  };
}
