/**
 * The CNI exec protocol, as a client (libcni's invoke and the conflist
 * semantics of SPEC.md "Execution of Network Configurations"): each plugin
 * of a list is found in CNI_PATH and run with the environment plus its
 * config on stdin. Delegates may be older than the list (Debian's plugins
 * stop at 1.0.0), so each one gets the list's cniVersion clamped to what it
 * supports, and its prevResult converted to that version; GC and STATUS go
 * only to plugins that speak 1.1.0.
 */
import { ErrorCode, VirtnetError } from '../lib/errors.ts';
import { exec } from '../lib/exec.ts';
import { pluginFailure } from '../lib/cni-error.ts';
import { delegateVersions, findPlugin } from '../cni/ipam.ts';
import { boundedStderr, delegateEnv } from '../cni/delegate.ts';
import { clampVersion, compareVersions, convertResult, parseResult } from '../cni/version.ts';
import type { CniResult } from '../cni/types.ts';
import { isObj } from '../lib/json.ts';

/** One plugin of a list: its type, and every other key passed on to it as written (capabilities: declares). */
export type PluginConf = Record<string, unknown> & { type: string };

/**
 * A network configuration list, the one type of every list: a NAD's or a
 * file's as nad.ts checked it (single-plugin configs wrapped as libcni's
 * ConfListFromConf does), a cached one, the node's default.
 */
export interface ConfList {
  cniVersion: string;
  cniVersions?: string[];
  name: string;
  plugins: PluginConf[];
  disableCheck?: boolean;
  disableGC?: boolean;
}

/** Whether the plugin declares a capability (CONVENTIONS.md "capabilities": {"ips": true}): only true counts. */
export function declaresCapability(plugin: PluginConf, capability: string): boolean {
  const declared = plugin.capabilities;
  return isObj(declared) && declared[capability] === true;
}

export interface RuntimeArgs {
  containerID: string;
  netns: string;
  ifname: string;
  /** CNI_ARGS pairs, e.g. K8S_POD_NAMESPACE. */
  cniArgs?: Array<[string, string]>;
  /** Capability arguments; a plugin receives only those it declares (CONVENTIONS.md). */
  capabilityArgs?: Record<string, unknown>;
  /** Merged into each plugin's args.cni (the annotation's cni-args). */
  argsCni?: Record<string, unknown>;
}

export interface InvokeOptions {
  cniPath: string[];
  /** Where delegate VERSION answers are cached. */
  dataDir: string;
  /** argv prefix for every plugin exec (tests run plugins inside a "node" netns). */
  wrap?: string[];
  /**
   * Extra environment for every plugin, from the node's admin side, e.g.
   * VIRTNET_CNI_POLICY naming the node runtime's own policy file.
   */
  env?: Record<string, string>;
  /**
   * A plugin this process can run itself, as the CNI daemon does (the same code, the same environment and stdin):
   * what runs `binary` in process, or undefined to exec it. Not used with `wrap`, whose namespace this process is
   * not in.
   */
  inProcess?: (binary: string) => InProcessPlugin | undefined;
}

export type InProcessPlugin = (
  env: NodeJS.ProcessEnv,
  stdin: string,
) => Promise<{ stdout: string; stderr: string; exitCode: number }>;

/** The config one plugin of a list receives (libcni buildOneConfig). */
export function pluginConfig(
  list: ConfList,
  plugin: PluginConf,
  version: string,
  rt: RuntimeArgs,
  prevResult?: CniResult,
): Record<string, unknown> {
  const runtimeConfig = Object.fromEntries(
    Object.entries(rt.capabilityArgs ?? {}).filter(([k, v]) => declaresCapability(plugin, k) && v !== undefined),
  );
  const args = typeof plugin.args === 'object' && plugin.args !== null ? (plugin.args as Record<string, unknown>) : {};
  const argsCni = { ...((args.cni as Record<string, unknown> | undefined) ?? {}), ...(rt.argsCni ?? {}) };
  return {
    ...plugin,
    cniVersion: version,
    name: list.name,
    ...(Object.keys(runtimeConfig).length && { runtimeConfig }),
    ...(Object.keys(argsCni).length && { args: { ...args, cni: argsCni } }),
    ...(prevResult && { prevResult: convertResult(prevResult, version) }),
  };
}

export async function execPlugin(
  verb: string,
  list: ConfList,
  plugin: PluginConf,
  rt: RuntimeArgs,
  o: InvokeOptions,
  prevResult?: CniResult,
): Promise<CniResult | undefined> {
  const binary = findPlugin(plugin.type, o.cniPath);
  if (!binary)
    throw new VirtnetError(
      ErrorCode.invalidConfig,
      `plugin "${plugin.type}" not found in CNI_PATH (${o.cniPath.join(':')})`,
    );
  const versions = await delegateVersions(binary, o.dataDir);
  const version = clampVersion(list.cniVersion, versions);
  if (!version)
    throw new VirtnetError(
      ErrorCode.incompatibleVersion,
      `plugin "${plugin.type}" supports ${JSON.stringify(versions)}, none at or below ${list.cniVersion}`,
    );
  if ((verb === 'GC' || verb === 'STATUS') && compareVersions(version, '1.1.0') < 0) return undefined;
  // One level deeper than this process (cni/delegate.ts), so that a list that loops back to us stops.
  const env = delegateEnv(process.env, {
    ...o.env,
    CNI_COMMAND: verb,
    CNI_CONTAINERID: rt.containerID,
    CNI_NETNS: rt.netns,
    CNI_IFNAME: rt.ifname,
    CNI_PATH: o.cniPath.join(':'),
    CNI_ARGS: [['IgnoreUnknown', '1'] as [string, string], ...(rt.cniArgs ?? [])]
      .map(([k, v]) => `${k}=${v}`)
      .join(';'),
  });
  const input = JSON.stringify(pluginConfig(list, plugin, version, rt, prevResult));
  const own = o.wrap ? undefined : o.inProcess?.(binary);
  const res = own ? await own(env, input) : await exec([...(o.wrap ?? []), binary], { env, input, allowFailure: true });
  if (res.exitCode !== 0) {
    const { code, msg } = pluginFailure(res.stdout, boundedStderr(res.stderr) || `exit code ${res.exitCode}`);
    throw new VirtnetError(code, `plugin "${plugin.type}" ${verb} failed: ${msg}`);
  }
  if (verb !== 'ADD') return undefined;
  return parseResult(JSON.parse(res.stdout), version, `plugin "${plugin.type}" result`);
}

/** ADD a whole list: each plugin gets the previous one's result. */
export async function addList(list: ConfList, rt: RuntimeArgs, o: InvokeOptions): Promise<CniResult> {
  let result: CniResult | undefined;
  for (const plugin of list.plugins) result = await execPlugin('ADD', list, plugin, rt, o, result);
  if (!result) throw new VirtnetError(ErrorCode.invalidConfig, `network "${list.name}" has no plugins`);
  return result;
}

/** DEL a whole list in reverse, best-effort: every plugin is asked, the first error is returned. */
export async function delList(
  list: ConfList,
  rt: RuntimeArgs,
  o: InvokeOptions,
  cached?: CniResult,
): Promise<Error | undefined> {
  let first: Error | undefined;
  for (const plugin of [...list.plugins].reverse()) {
    await execPlugin('DEL', list, plugin, rt, o, cached).catch((e: Error) => (first ??= e));
  }
  return first;
}
