/**
 * CNI versions: which we speak, and result conversion between them.
 * 1.1.0 added interface mtu/socketPath/pciID and route mtu/advmss/priority/
 * table/scope; 0.3.x and 0.4.0 carry ips[].version (SPEC.md, "Version
 * considerations"; libcni pkg/types/100/types.go convertTo04x).
 */
import { ErrorCode, VirtnetError } from '../lib/errors.ts';
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

function listOf(
  r: Record<string, unknown>,
  key: string,
  field: string,
  required: string[],
): Array<Record<string, unknown>> | undefined {
  const v = r[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw new VirtnetError(ErrorCode.decodeFailure, `${field}.${key}: must be a list`);
  return v.map((e, i) => {
    if (typeof e !== 'object' || e === null || Array.isArray(e))
      throw new VirtnetError(ErrorCode.decodeFailure, `${field}.${key}[${i}]: must be an object`);
    for (const k of required) {
      if (typeof (e as Record<string, unknown>)[k] !== 'string')
        throw new VirtnetError(ErrorCode.decodeFailure, `${field}.${key}[${i}].${k}: must be a string`);
    }
    return structuredClone(e) as Record<string, unknown>;
  });
}

/**
 * Read a result of any supported version into the 1.1.0 shape.
 * @param field names the result in error messages ("prevResult", or the IPAM plugin).
 */
export function parseResult(value: unknown, fallbackVersion: string, field = 'result'): CniResult {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new VirtnetError(ErrorCode.decodeFailure, `${field}: must be a JSON object`);
  }
  const r = value as Record<string, unknown>;
  const version = typeof r.cniVersion === 'string' ? r.cniVersion : fallbackVersion;
  if (compareVersions(version, '0.3.0') < 0) {
    throw new VirtnetError(
      ErrorCode.incompatibleVersion,
      `${field}: cniVersion "${version}" is older than 0.3.0, which virtnet does not read`,
    );
  }
  const out: CniResult = { cniVersion: LATEST_VERSION };
  const interfaces = listOf(r, 'interfaces', field, ['name']);
  const ips = listOf(r, 'ips', field, ['address']);
  const routes = listOf(r, 'routes', field, ['dst']);
  if (interfaces) out.interfaces = interfaces as unknown as CniInterface[];
  if (ips) out.ips = ips.map(({ version: _v, ...ip }) => ip as unknown as CniIpConfig);
  if (routes) out.routes = routes as unknown as CniRoute[];
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
