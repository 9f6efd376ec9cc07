/**
 * CNI versions: which we speak, and result conversion between them.
 * 1.1.0 added interface mtu/socketPath/pciID and route mtu/advmss/priority/
 * table/scope; 0.3.x and 0.4.0 carry ips[].version (SPEC.md, "Version
 * considerations"; libcni pkg/types/100/types.go convertTo04x).
 */
import { ErrorCode, VirtnetError } from '../lib/errors.ts';
import { isObj } from '../lib/json.ts';
import { showValue } from '../lib/show.ts';
import type { CniDns, CniInterface, CniIpConfig, CniResult, CniRoute } from './types.ts';

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export const LATEST_VERSION = '1.1.0';

/** Compare dotted versions numerically: -1, 0 or 1. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** The newest of `supported` that is not above `version` (a delegate speaks at most the config's version). */
export function clampVersion(version: string, supported: readonly string[]): string | undefined {
  return supported
    .filter((v) => compareVersions(v, version) <= 0)
    .sort(compareVersions)
    .at(-1);
}

export function isSupported(version: string): boolean {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(version);
}

export function requireSupported(version: string): void {
  if (!isSupported(version)) {
    throw new VirtnetError(
      ErrorCode.incompatibleVersion,
      `cniVersion: "${version}" is not supported (incompatible CNI versions)`,
      {
        details: `config is "${version}", plugin supports ${JSON.stringify(SUPPORTED_VERSIONS)}`,
      },
    );
  }
}

/** Version gates for verbs newer than the config's version (libcni skel messages). */
export function requireVerbAllowed(verb: 'CHECK' | 'GC' | 'STATUS', version: string): void {
  const since = verb === 'CHECK' ? '0.4.0' : '1.1.0';
  if (compareVersions(version, since) < 0) {
    throw new VirtnetError(ErrorCode.incompatibleVersion, `config version does not allow ${verb}`, {
      details: `${verb} needs cniVersion ${since} or later; the config says "${version}"`,
    });
  }
}

type Raw = Record<string, unknown>;

function decodeError(at: string, rule: string, value: unknown): VirtnetError {
  return new VirtnetError(ErrorCode.decodeFailure, `${at}: ${rule} (is ${showValue(value)})`);
}

/** The objects of r[key], each with its field path; undefined when the key is absent. */
function listOf(r: Raw, key: string, field: string): Array<[Raw, string]> | undefined {
  const v = r[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw new VirtnetError(ErrorCode.decodeFailure, `${field}.${key}: must be a list`);
  return v.map((e: unknown, i) => {
    if (!isObj(e)) throw new VirtnetError(ErrorCode.decodeFailure, `${field}.${key}[${i}]: must be an object`);
    return [e, `${field}.${key}[${i}]`];
  });
}

function str(e: Raw, k: string, at: string): string {
  const v = e[k];
  if (typeof v !== 'string') throw decodeError(`${at}.${k}`, 'must be a string', v);
  return v;
}

/** An optional key as its Go type reads it: absent (or null, Go's nil) is undefined. */
function optStr(e: Raw, k: string, at: string): string | undefined {
  return e[k] === undefined || e[k] === null ? undefined : str(e, k, at);
}

function optInt(e: Raw, k: string, at: string): number | undefined {
  const v = e[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw decodeError(`${at}.${k}`, 'must be an integer', v);
  return v;
}

function interfaceOf(e: Raw, at: string): CniInterface {
  const [mac, sandbox] = [optStr(e, 'mac', at), optStr(e, 'sandbox', at)];
  const [socketPath, pciID] = [optStr(e, 'socketPath', at), optStr(e, 'pciID', at)];
  const mtu = optInt(e, 'mtu', at);
  return {
    name: str(e, 'name', at),
    ...(mac !== undefined && { mac }),
    ...(mtu !== undefined && { mtu }),
    ...(sandbox !== undefined && { sandbox }),
    ...(socketPath !== undefined && { socketPath }),
    ...(pciID !== undefined && { pciID }),
  };
}

/** ips[].version (0.3.x, 0.4.0) is dropped: 1.0.0 removed it, the address says its family. */
function ipOf(e: Raw, at: string): CniIpConfig {
  const [gateway, index] = [optStr(e, 'gateway', at), optInt(e, 'interface', at)];
  return {
    address: str(e, 'address', at),
    ...(gateway !== undefined && { gateway }),
    ...(index !== undefined && { interface: index }),
  };
}

const ROUTE_NUMBERS = ['mtu', 'advmss', 'priority', 'table', 'scope'] as const;

function routeOf(e: Raw, at: string): CniRoute {
  const gw = optStr(e, 'gw', at);
  const route: CniRoute = { dst: str(e, 'dst', at), ...(gw !== undefined && { gw }) };
  for (const k of ROUTE_NUMBERS) {
    const n = optInt(e, k, at);
    if (n !== undefined) route[k] = n;
  }
  return route;
}

/**
 * Read a result of any supported version into the 1.1.0 shape, rebuilt from
 * its checked fields as libcni's types decode it: every known field of its
 * type, an unknown one left out.
 * @param field names the result in error messages ("prevResult", or the IPAM plugin).
 */
export function parseResult(value: unknown, fallbackVersion: string, field = 'result'): CniResult {
  if (!isObj(value)) throw new VirtnetError(ErrorCode.decodeFailure, `${field}: must be a JSON object`);
  const r = value;
  const version = typeof r.cniVersion === 'string' ? r.cniVersion : fallbackVersion;
  if (compareVersions(version, '0.3.0') < 0) {
    throw new VirtnetError(
      ErrorCode.incompatibleVersion,
      `${field}: cniVersion "${version}" is older than 0.3.0, which virtnet does not read`,
    );
  }
  const out: CniResult = { cniVersion: LATEST_VERSION };
  const interfaces = listOf(r, 'interfaces', field)?.map(([e, at]) => interfaceOf(e, at));
  const ips = listOf(r, 'ips', field)?.map(([e, at]) => ipOf(e, at));
  const routes = listOf(r, 'routes', field)?.map(([e, at]) => routeOf(e, at));
  if (interfaces) out.interfaces = interfaces;
  if (ips) out.ips = ips;
  if (routes) out.routes = routes;
  if (r.dns !== undefined) {
    if (typeof r.dns !== 'object' || r.dns === null || Array.isArray(r.dns))
      throw new VirtnetError(ErrorCode.decodeFailure, `${field}.dns: must be an object`);
    out.dns = structuredClone(r.dns) as CniDns;
  }
  return out;
}

/** Convert a 1.1.0-shaped result to `version`. */
export function convertResult(result: CniResult, version: string): Record<string, unknown> {
  requireSupported(version);
  const pre11 = compareVersions(version, '1.1.0') < 0;
  const pre10 = compareVersions(version, '1.0.0') < 0;
  const out: Record<string, unknown> = { cniVersion: version };
  if (result.interfaces) {
    out.interfaces = result.interfaces.map(({ mtu, socketPath, pciID, ...rest }) =>
      pre11
        ? rest
        : { ...rest, ...(mtu !== undefined && { mtu }), ...(socketPath && { socketPath }), ...(pciID && { pciID }) },
    );
  }
  if (result.ips) {
    out.ips = result.ips.map((ip) => (pre10 ? { version: ip.address.includes(':') ? '6' : '4', ...ip } : { ...ip }));
  }
  if (result.routes) {
    out.routes = result.routes.map(({ dst, gw, ...extra }) =>
      pre11 ? { dst, ...(gw && { gw }) } : { dst, ...(gw && { gw }), ...extra },
    );
  }
  out.dns = result.dns ?? {};
  return out;
}
