/**
 * Delegated IPAM through the CNI exec protocol (SPEC.md "Delegated plugins"):
 * the plugin named by ipam.type is found in CNI_PATH and run with our
 * environment (CNI_COMMAND overridden) and our complete stdin.
 * The delegate may speak an older version than the config (Debian's plugins
 * stop at 1.0.0), so the config's cniVersion is clamped to what it supports;
 * its VERSION answer is cached by the binary's path, size and mtime.
 */
import { accessSync, constants, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, VirtnetError } from '../lib/errors.ts';
import { exec } from '../lib/exec.ts';
import { pluginFailure } from '../lib/cni-error.ts';
import { mkdirPrivate } from '../lib/durable.ts';
import { boundedStderr, DELEGATE_DEPTH_ENV, delegateEnv, isSelf } from './delegate.ts';
import { clampVersion, compareVersions, parseResult } from './version.ts';
import type { BridgeConf, CniResult } from './types.ts';
import type { CniEnv, Verb } from './env.ts';
import type { Log } from './log.ts';
import { ipamTypeProblem, type NodePolicy } from './policy.ts';

export function findPlugin(type: string, path: readonly string[]): string | undefined {
  for (const dir of path) {
    const candidate = join(dir, type);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * The IPAM binary for `type` in CNI_PATH; refused when the node policy does
 * not allow it (skel.ts checked that already; this holds every exec to it),
 * or when it is this plugin under another name (a symlink or hard link),
 * which would recurse.
 */
export function requireIpamPlugin(
  type: string,
  env: CniEnv,
  policy: Pick<NodePolicy, 'allowedIpam' | 'source'>,
): string {
  const refused = ipamTypeProblem(type, policy);
  if (refused) throw new VirtnetError(ErrorCode.invalidConfig, refused);
  const found = findPlugin(type, env.path);
  if (!found) {
    throw new VirtnetError(
      ErrorCode.invalidConfig,
      `ipam.type: plugin "${type}" not found in CNI_PATH (${env.path.join(':')})`,
    );
  }
  if (isSelf(found))
    throw new VirtnetError(
      ErrorCode.invalidConfig,
      `ipam.type: "${type}" (${found}) is this plugin itself; name an IPAM plugin such as "host-local"`,
    );
  return found;
}

/**
 * Where the version cache lives under a dataDir: in a directory whose name
 * starts with ".", which no network name can (CNI_ID_PATTERN), so no network's
 * record directory can ever collide with it.
 */
export function versionCacheFile(dataDir: string): string {
  return join(dataDir, '.cache', 'delegate-versions.json');
}

/** The versions a delegate supports, asked once per binary and cached under dataDir. */
export async function delegateVersions(
  binary: string,
  dataDir: string,
  callerEnv: NodeJS.ProcessEnv = {},
): Promise<string[]> {
  const st = statSync(binary);
  const key = `${binary}:${st.size}:${st.mtimeMs}`;
  const cacheFile = versionCacheFile(dataDir);
  let cache: Record<string, string[]> = {};
  try {
    cache = JSON.parse(readFileSync(cacheFile, 'utf8')) as Record<string, string[]>;
  } catch {
    // no cache yet, or a corrupt one: ask the plugin
  }
  const hit = cache[key];
  if (hit) return hit;
  const { stdout } = await exec([binary], {
    // Only the depth is passed on: a VERSION probe needs no other variable (SPEC.md "VERSION").
    env: delegateEnv({ [DELEGATE_DEPTH_ENV]: callerEnv[DELEGATE_DEPTH_ENV] }, { CNI_COMMAND: 'VERSION' }),
    input: '{"cniVersion":"1.1.0"}',
  });
  const versions = (JSON.parse(stdout) as { supportedVersions?: string[] }).supportedVersions ?? [];
  mkdirPrivate(join(cacheFile, '..'));
  // A cache that is rebuilt by asking again: atomic, but no fsync on the ADD's path.
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ ...cache, [key]: versions }), { mode: 0o600 });
  renameSync(tmp, cacheFile);
  return versions;
}

/**
 * The config the delegate gets: ours at its version, without the device a
 * device plugin allotted to the pod. Multus adds deviceID and pciBusID (and
 * runtimes runtimeConfig.deviceID) for plugins that move that device into
 * the pod; an IPAM plugin has no use for them, and one that acts on them
 * would move a host NIC the tenant named.
 */
export function ipamStdin(raw: Readonly<Record<string, unknown>>, version: string): Record<string, unknown> {
  const { deviceID: _deviceID, pciBusID: _pciBusID, runtimeConfig, ...rest } = raw;
  const stdin: Record<string, unknown> = { ...rest, cniVersion: version };
  if (typeof runtimeConfig === 'object' && runtimeConfig !== null && !Array.isArray(runtimeConfig)) {
    const { deviceID: _rcDeviceID, ...kept } = runtimeConfig as Record<string, unknown>;
    stdin.runtimeConfig = kept;
  } else if (runtimeConfig !== undefined) {
    stdin.runtimeConfig = runtimeConfig;
  }
  return stdin;
}

export interface IpamCall {
  conf: BridgeConf;
  env: CniEnv;
  log: Log;
  policy: Pick<NodePolicy, 'allowedIpam' | 'source'>;
  /** The delegate, when the caller has already found and checked it (requireIpamPlugin). */
  binary?: string;
}

/** Run the IPAM delegate for `verb`; returns the parsed result for ADD. */
export async function execIpam(
  verb: Exclude<Verb, 'VERSION'>,
  call: IpamCall,
  attachment?: { containerID: string; ifname: string },
): Promise<CniResult | undefined> {
  const { conf, env, log } = call;
  if (!conf.ipam) return undefined;
  const binary = call.binary ?? requireIpamPlugin(conf.ipam.type, env, call.policy);
  const versions = await delegateVersions(binary, conf.dataDir, env.callerEnv);
  const version = clampVersion(conf.cniVersion, versions);
  if (!version) {
    throw new VirtnetError(
      ErrorCode.incompatibleVersion,
      `ipam.type: plugin "${conf.ipam.type}" supports ${JSON.stringify(versions)}, none at or below cniVersion ` +
        `${conf.cniVersion}`,
    );
  }
  // GC and STATUS exist since 1.1.0; an older delegate has nothing to do for them.
  if ((verb === 'GC' || verb === 'STATUS') && compareVersions(version, '1.1.0') < 0) return undefined;
  const childEnv = delegateEnv(env.callerEnv, { CNI_COMMAND: verb });
  if (attachment) {
    childEnv.CNI_CONTAINERID = attachment.containerID;
    childEnv.CNI_IFNAME = attachment.ifname;
  }
  const input = JSON.stringify(ipamStdin(conf.raw, version));
  const started = performance.now();
  const res = await exec([binary], { env: childEnv, input, allowFailure: true });
  if (res.stderr.trim()) log.info({ plugin: conf.ipam.type, verb, stderr: boundedStderr(res.stderr) }, 'ipam stderr');
  log.debug({ plugin: conf.ipam.type, verb, version, ms: +(performance.now() - started).toFixed(1) }, 'ipam');
  if (res.exitCode !== 0) {
    const { code, msg } = pluginFailure(res.stdout, boundedStderr(res.stderr) || `exit code ${res.exitCode}`);
    throw new VirtnetError(code, `ipam plugin "${conf.ipam.type}" ${verb} failed: ${msg}`);
  }
  if (verb !== 'ADD') return undefined;
  try {
    return parseResult(JSON.parse(res.stdout), version, `ipam plugin "${conf.ipam.type}" result`);
  } catch (e) {
    throw new VirtnetError(
      ErrorCode.decodeFailure,
      `ipam plugin "${conf.ipam.type}" returned an unreadable result: ${(e as Error).message}`,
    );
  }
}
