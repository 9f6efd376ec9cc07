/**
 * CNI versions: which we speak, and result conversion between them.
 * 1.1.0 added interface mtu/socketPath/pciID and route mtu/advmss/priority/
 * table/scope; 0.3.x and 0.4.0 carry ips[].version (SPEC.md, "Version
 * considerations"; libcni pkg/types/100/types.go convertTo04x).
 */
import { ErrorCode, VirtnetError } from '../lib/errors.ts';
import type { CniResult } from './types.ts';

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

export function isSupported(version: string): boolean {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(version);
}

export function requireSupported(version: string): void {
  if (!isSupported(version)) {
    throw new VirtnetError(ErrorCode.incompatibleVersion, 'incompatible CNI versions', {
      details: `config is "${version}", plugin supports ${JSON.stringify(SUPPORTED_VERSIONS)}`,
    });
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

/** Read a result of any supported version into the 1.1.0 shape. */
export function parseResult(value: unknown, fallbackVersion: string): CniResult {
  if (typeof value !== 'object' || value === null) {
    throw new VirtnetError(ErrorCode.decodeFailure, 'result: must be a JSON object');
  }
  const r = value as Record<string, unknown>;
  const version = typeof r.cniVersion === 'string' ? r.cniVersion : fallbackVersion;
  if (compareVersions(version, '0.3.0') < 0) {
    throw new VirtnetError(ErrorCode.incompatibleVersion, `result: cniVersion "${version}" is older than 0.3.0, which virtnet does not read`);
  }
  const out: CniResult = { cniVersion: LATEST_VERSION };
  if (Array.isArray(r.interfaces)) out.interfaces = structuredClone(r.interfaces);
  if (Array.isArray(r.ips)) {
    out.ips = (r.ips as Array<Record<string, unknown>>).map(({ version: _v, ...ip }) => ip as unknown as NonNullable<CniResult['ips']>[number]);
  }
  if (Array.isArray(r.routes)) out.routes = structuredClone(r.routes);
  if (r.dns && typeof r.dns === 'object') out.dns = structuredClone(r.dns) as NonNullable<CniResult['dns']>;
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
      pre11 ? rest : { ...rest, ...(mtu !== undefined && { mtu }), ...(socketPath && { socketPath }), ...(pciID && { pciID }) },
    );
  }
  if (result.ips) {
    out.ips = result.ips.map((ip) => (pre10 ? { version: ip.address.includes(':') ? '6' : '4', ...ip } : { ...ip }));
  }
  if (result.routes) {
    out.routes = result.routes.map(({ dst, gw, ...extra }) => (pre11 ? { dst, ...(gw && { gw }) } : { dst, ...(gw && { gw }), ...extra }));
  }
  out.dns = result.dns ?? {};
  return out;
}
