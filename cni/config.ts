/**
 * Parse and validate the plugin's stdin configuration. Every problem names
 * the field and the rule; nothing here touches the system.
 */
import { ErrorCode, VirtnetError } from '../lib/errors.ts';
import { CNI_ID_PATTERN, linkNameProblem } from '../lib/names.ts';
import { familyOf, isIp, isMac, parseCidr } from '../lib/cidr.ts';
import { pathProblem } from './env.ts';
import { parseResult, requireSupported } from './version.ts';
import type { Attachment, BridgeConf, CniDns, VlanTrunkEntry, VxlanConf } from './types.ts';

export const DEFAULT_BRIDGE = 'virtnet0';
export const DEFAULT_DATA_DIR = '/var/lib/cni/virtnet';
export const DEFAULT_VXLAN_PORT = 4789;

function invalid(field: string, rule: string): VirtnetError {
  return new VirtnetError(ErrorCode.invalidConfig, `${field}: ${rule}`);
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

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

function parseVxlan(v: unknown): VxlanConf | undefined {
  if (v === undefined) return undefined;
  if (!isObj(v)) throw invalid('vxlan', 'must be an object');
  const id = int(v, 'id', 'vxlan.id', 0, 16777215);
  if (id === undefined) throw invalid('vxlan.id', 'is required (a VNI from 0 to 16777215)');
  const remote = ipField(v, 'remote', 'vxlan.remote');
  const group = ipField(v, 'group', 'vxlan.group');
  const local = ipField(v, 'local', 'vxlan.local');
  if (remote && group) throw invalid('vxlan', 'set either remote or group, not both');
  if (!remote && !group) throw invalid('vxlan', 'needs remote (unicast peer) or group (multicast)');
  if (group && !isMulticast(group)) throw invalid('vxlan.group', `"${group}" is not a multicast address`);
  const dev = str(v, 'dev', 'vxlan.dev');
  if (dev !== undefined && linkNameProblem(dev)) throw invalid('vxlan.dev', `"${dev}" ${linkNameProblem(dev)}`);
  if (group && !dev) throw invalid('vxlan.dev', 'is required with a multicast group (the underlay device)');
  const port = int(v, 'port', 'vxlan.port', 1, 65535) ?? DEFAULT_VXLAN_PORT;
  return { id, port, ...(remote && { remote }), ...(group && { group }), ...(local && { local }), ...(dev && { dev }) };
}

function isMulticast(ip: string): boolean {
  return familyOf(ip) === 4 ? Number(ip.split('.')[0]) >= 224 && Number(ip.split('.')[0]) <= 239 : ip.toLowerCase().startsWith('ff');
}

function parseVlanTrunk(v: unknown): VlanTrunkEntry[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length === 0) throw invalid('vlanTrunk', 'must be a non-empty list of {id} or {minID, maxID}');
  return v.map((e, i) => {
    const f = `vlanTrunk[${i}]`;
    if (!isObj(e)) throw invalid(f, 'must be an object');
    const id = int(e, 'id', `${f}.id`, 1, 4094);
    const minID = int(e, 'minID', `${f}.minID`, 1, 4094);
    const maxID = int(e, 'maxID', `${f}.maxID`, 1, 4094);
    if (id !== undefined && (minID !== undefined || maxID !== undefined)) throw invalid(f, 'set id, or minID and maxID, not both');
    if (id !== undefined) return { id };
    if (minID === undefined || maxID === undefined) throw invalid(f, 'needs id, or both minID and maxID');
    if (minID > maxID) throw invalid(f, `minID ${minID} is greater than maxID ${maxID}`);
    return { minID, maxID };
  });
}

function parseDns(v: unknown): CniDns | undefined {
  if (v === undefined) return undefined;
  if (!isObj(v)) throw invalid('dns', 'must be an object');
  const list = (key: string): string[] | undefined => {
    const l = v[key];
    if (l === undefined) return undefined;
    if (!Array.isArray(l) || !l.every((x) => typeof x === 'string')) throw invalid(`dns.${key}`, 'must be a list of strings');
    return l as string[];
  };
  const nameservers = list('nameservers');
  nameservers?.forEach((n, i) => { if (!isIp(n)) throw invalid(`dns.nameservers[${i}]`, `"${n}" is not an IP address`); });
  const domain = str(v, 'domain', 'dns.domain');
  const search = list('search');
  const options = list('options');
  return { ...(nameservers && { nameservers }), ...(domain && { domain }), ...(search && { search }), ...(options && { options }) };
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
  for (const [value, field] of [[rc.mac, 'runtimeConfig.mac'], [argsCni.mac, 'args.cni.mac'], [cniArgs.get('MAC'), 'CNI_ARGS MAC']] as const) {
    if (value === undefined) continue;
    if (typeof value !== 'string' || !isMac(value)) throw invalid(field, `"${String(value)}" is not a MAC address (aa:bb:cc:dd:ee:ff)`);
    if (parseInt(value.slice(0, 2), 16) & 1) throw invalid(field, `"${value}" is a multicast MAC; a NIC needs a unicast one`);
    return value.toLowerCase();
  }
  return undefined;
}

/** Requested IPs (runtimeConfig.ips / args.cni.ips) are the IPAM plugin's to honour; we check their form. */
function checkRequestedIps(raw: Obj): void {
  const rc = isObj(raw.runtimeConfig) ? raw.runtimeConfig : {};
  const argsCni = isObj(raw.args) && isObj(raw.args.cni) ? raw.args.cni : {};
  for (const [value, field] of [[rc.ips, 'runtimeConfig.ips'], [argsCni.ips, 'args.cni.ips']] as const) {
    if (value === undefined) continue;
    if (!Array.isArray(value)) throw invalid(field, 'must be a list of IPs or CIDRs');
    value.forEach((ip, i) => {
      if (typeof ip !== 'string' || !(isIp(ip) || parseCidr(ip))) throw invalid(`${field}[${i}]`, `"${String(ip)}" is not an IP or CIDR`);
    });
  }
}

export function parseConfig(stdin: string, cniArgs: Map<string, string> = new Map()): BridgeConf {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (e) {
    throw new VirtnetError(ErrorCode.decodeFailure, `config: not valid JSON (${(e as Error).message})`);
  }
  if (!isObj(raw)) throw new VirtnetError(ErrorCode.decodeFailure, 'config: must be a JSON object');
  const cniVersion = str(raw, 'cniVersion', 'cniVersion');
  if (!cniVersion) throw invalid('cniVersion', 'is required');
  requireSupported(cniVersion);
  const name = str(raw, 'name', 'name');
  if (!name || !CNI_ID_PATTERN.test(name)) throw invalid('name', `"${name ?? ''}" must match ${CNI_ID_PATTERN.source}`);
  const bridge = str(raw, 'bridge', 'bridge') ?? DEFAULT_BRIDGE;
  const brProblem = linkNameProblem(bridge);
  if (brProblem) throw invalid('bridge', `"${bridge}" is not a valid link name: ${brProblem}`);
  if (raw.vlan !== undefined) {
    throw new VirtnetError(ErrorCode.unsupportedField, 'vlan: access-VLAN tagging is not supported; it needs bridge VLAN filtering or 8021q (use vlanTrunk to carry tagged frames)');
  }
  const ipam = raw.ipam;
  if (ipam !== undefined && (!isObj(ipam) || (Object.keys(ipam).length > 0 && typeof ipam.type !== 'string'))) {
    throw invalid('ipam.type', 'must name the IPAM plugin (e.g. "host-local")');
  }
  const ipamType = isObj(ipam) ? ipam.type : undefined;
  if (typeof ipamType === 'string' && !CNI_ID_PATTERN.test(ipamType)) throw invalid('ipam.type', `"${ipamType}" must match ${CNI_ID_PATTERN.source}`);
  const isDefaultGateway = bool(raw, 'isDefaultGateway');
  const logFile = str(raw, 'logFile', 'logFile');
  if (logFile && pathProblem(logFile)) throw invalid('logFile', `"${logFile}" ${pathProblem(logFile)}`);
  const dataDir = str(raw, 'dataDir', 'dataDir') ?? DEFAULT_DATA_DIR;
  if (pathProblem(dataDir)) throw invalid('dataDir', `"${dataDir}" ${pathProblem(dataDir)}`);
  checkRequestedIps(raw);
  const mtu = int(raw, 'mtu', 'mtu', 68, 65535);
  const vxlan = parseVxlan(raw.vxlan);
  const vlanTrunk = parseVlanTrunk(raw.vlanTrunk);
  const dns = parseDns(raw.dns);
  const mac = requestedMac(raw, cniArgs);
  const prevResult = raw.prevResult === undefined ? undefined : parseResult(raw.prevResult, cniVersion, 'prevResult');
  const valid = [
    ...(raw['cni.dev/valid-attachments'] !== undefined ? parseAttachments(raw['cni.dev/valid-attachments'], 'cni.dev/valid-attachments') : []),
    ...(raw['cni.dev/attachments'] !== undefined ? parseAttachments(raw['cni.dev/attachments'], 'cni.dev/attachments') : []),
  ];
  return {
    cniVersion, name, type: typeof raw.type === 'string' ? raw.type : 'virtnet-bridge', bridge,
    isGateway: bool(raw, 'isGateway') || isDefaultGateway, isDefaultGateway,
    hairpinMode: bool(raw, 'hairpinMode'), promiscMode: bool(raw, 'promiscMode'),
    ipMasq: bool(raw, 'ipMasq'), macspoofchk: bool(raw, 'macspoofchk'), dataDir, raw,
    ...(mtu !== undefined && { mtu }), ...(vxlan && { vxlan }), ...(vlanTrunk && { vlanTrunk }),
    ...(typeof ipamType === 'string' && { ipam: ipam as BridgeConf['ipam'] & object }),
    ...(dns && { dns }), ...(mac && { mac }), ...(logFile && { logFile }),
    ...(prevResult && { prevResult }), ...(valid.length && { validAttachments: valid }),
  };
}
