/**
 * NetworkAttachmentDefinition (CRD k8s.cni.cncf.io/v1, multi-net spec 3.x)
 * and how a NAD becomes the CNI network list we execute.
 *
 * Resolution (multi-net spec 3.4.1, as Multus does it):
 *   1. `spec.config`, a JSON string holding a single-plugin conf or a conflist;
 *   2. else, in `confDir`, the first `.conflist` file, then the first `.conf`
 *      file (each pass in file-name order) whose JSON `name` equals the NAD's;
 *   3. else an error naming the NAD and the directory.
 * A config without `name` gets the NAD's name. Whether a text is a conf or a
 * conflist is decided by its content (a `plugins` key), as Multus does.
 * Files that cannot be parsed are skipped during the search (and listed in
 * the "not found" error); a matching file that is invalid is an error.
 *
 * The result is always a conflist: a conf is wrapped the way libcni's
 * ConfListFromConf does ({ cniVersion, name, plugins: [conf] }, the conf kept
 * whole). Every plugin `type` (and a non-empty `ipam.type`) must be a bare
 * binary name, since it is looked up in CNI_PATH.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, VirtnetError } from '../lib/errors.ts';
import { dns1123SubdomainProblem, networkNameProblem } from '../lib/names.ts';
import { showValue } from '../lib/show.ts';
import { checkConfig, PLUGIN_TYPE } from '../cni/config.ts';
import { loadPolicy, policyProblems, type NodePolicy } from '../cni/policy.ts';
import { clampVersion, SUPPORTED_VERSIONS } from '../cni/version.ts';
import { dns1123LabelProblem } from './annotation.ts';
import { isObj } from '../lib/json.ts';
import type { ConfList, PluginConf } from './invoke.ts';

export const NAD_API_VERSION = 'k8s.cni.cncf.io/v1';
export const NAD_KIND = 'NetworkAttachmentDefinition';
export const RESOURCE_NAME_ANNOTATION = 'k8s.v1.cni.cncf.io/resourceName';
/** A NAD without metadata.namespace is taken to be in this one (Kubernetes' default). */
export const DEFAULT_NAMESPACE = 'default';

export interface NetworkAttachmentDefinition {
  apiVersion: 'k8s.cni.cncf.io/v1';
  kind: 'NetworkAttachmentDefinition';
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  spec?: { config?: string };
}

export interface ResolvedNetwork {
  name: string;
  namespace: string;
  /**
   * Always a conflist: a single-plugin config is wrapped as
   * { cniVersion, name, plugins: [plugin] } the way libcni's ConfListFromConf does.
   */
  conflist: ConfList;
  /** From annotation k8s.v1.cni.cncf.io/resourceName. */
  resourceName?: string;
}

/** An invalid NAD or network config. A VirtnetError with code 7 (invalid config). */
export class NadError extends VirtnetError {
  constructor(
    readonly field: string,
    readonly rule: string,
  ) {
    super(ErrorCode.invalidConfig, `${field}: ${rule}`);
  }
}

Object.defineProperty(NadError.prototype, 'name', { value: 'NadError' });

/** A plugin type is a binary name in CNI_PATH: no slashes, no leading dot. */
export const PLUGIN_TYPE_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/u;
const VERSION_PATTERN = /^\d+\.\d+\.\d+$/u;

/**
 * Check an object's shape as a NAD and return a clean copy holding only the
 * known fields. name and namespace must be DNS-1123 labels (the selection
 * annotation can only name labels). spec.config, when set, must pass every
 * rule the attach path applies (toConfList, the plugin's own validation of
 * each virtnet-bridge plugin) and, since this is what `virtnet validate`
 * and admission run, the node policy for the host paths a virtnet-bridge
 * plugin names (cni/policy.ts): by default the policy this process would
 * hand the plugin ($VIRTNET_CNI_POLICY, /etc/virtnet/cni-policy.json, else
 * the defaults, which allow no logFile and no dataDir outside
 * /var/lib/cni/virtnet). A webhook runs on no node: unless its pod is
 * given the nodes' policy file, it holds NADs to the defaults. Callers that
 * know the policy their plugins get pass it as `options.policy`.
 */
export function validateNad(obj: unknown, options: { policy?: NodePolicy } = {}): NetworkAttachmentDefinition {
  const { nad, conflist, single } = checkNad(obj);
  if (conflist) checkNodePolicy(conflist, single === true, options.policy);
  return nad;
}

/** validateNad without the node policy, and the network list spec.config makes (undefined when it is empty). */
function checkNad(obj: unknown): { nad: NetworkAttachmentDefinition; conflist?: ConfList; single?: boolean } {
  if (!isObj(obj)) throw new NadError('(root)', 'must be an object');
  if (obj.apiVersion !== NAD_API_VERSION)
    throw new NadError('apiVersion', `must be "${NAD_API_VERSION}", not ${JSON.stringify(obj.apiVersion)}`);
  if (obj.kind !== NAD_KIND) throw new NadError('kind', `must be "${NAD_KIND}", not ${JSON.stringify(obj.kind)}`);
  const md = obj.metadata;
  if (!isObj(md)) throw new NadError('metadata', 'must be an object');
  if (typeof md.name !== 'string') throw new NadError('metadata.name', 'is required and must be a string');
  const nameProblem = dns1123LabelProblem(md.name);
  if (nameProblem) throw new NadError('metadata.name', nameProblem);
  const metadata: NetworkAttachmentDefinition['metadata'] = { name: md.name };
  if (md.namespace !== undefined) {
    if (typeof md.namespace !== 'string') throw new NadError('metadata.namespace', 'must be a string');
    const nsProblem = dns1123LabelProblem(md.namespace);
    if (nsProblem) throw new NadError('metadata.namespace', nsProblem);
    metadata.namespace = md.namespace;
  }
  if (md.annotations !== undefined && md.annotations !== null) metadata.annotations = checkAnnotations(md.annotations);
  const nad: NetworkAttachmentDefinition = { apiVersion: NAD_API_VERSION, kind: NAD_KIND, metadata };
  if (obj.spec === undefined || obj.spec === null) return { nad };
  if (!isObj(obj.spec)) throw new NadError('spec', 'must be an object');
  const config = obj.spec.config;
  if (config !== undefined && config !== null && typeof config !== 'string')
    throw new NadError('spec.config', 'must be a string (a JSON CNI config or conflist)');
  nad.spec = typeof config === 'string' ? { config } : {};
  if (typeof config !== 'string' || config.trim() === '') return { nad };
  let parsed: unknown;
  try {
    parsed = JSON.parse(config);
  } catch (err) {
    throw new NadError('spec.config', `invalid JSON: ${(err as Error).message}`);
  }
  return { nad, conflist: toConfList(parsed, md.name, 'spec.config'), single: !(isObj(parsed) && 'plugins' in parsed) };
}

function checkAnnotations(value: unknown): Record<string, string> {
  if (!isObj(value)) throw new NadError('metadata.annotations', 'must be an object of strings');
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new NadError(`metadata.annotations["${k}"]`, 'must be a string');
    annotations[k] = v;
  }
  const resourceName = annotations[RESOURCE_NAME_ANNOTATION];
  const problem = resourceName === undefined || resourceName === '' ? undefined : resourceNameProblem(resourceName);
  if (problem) throw new NadError(`metadata.annotations["${RESOURCE_NAME_ANNOTATION}"]`, problem);
  return annotations;
}

/** The name part of a Kubernetes qualified name (k8s.io/apimachinery IsQualifiedName). */
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/u;
const QUALIFIED_NAME_PART_MAX = 63;

/**
 * Why `value` is not a device plugin resource name, or undefined. The
 * device plugin API names a resource "vendor-domain/resourcetype", an
 * extended resource name: a qualified name whose prefix is a DNS-1123
 * subdomain outside kubernetes.io, which is reserved for the native
 * resources (k8s.io/apimachinery IsQualifiedName; Kubernetes
 * IsExtendedResourceName).
 */
export function resourceNameProblem(value: string): string | undefined {
  const shown = showValue(value);
  const rule = 'a device plugin resource name is "<vendor domain>/<name>", e.g. "intel.com/sriov"';
  const parts = value.split('/');
  if (parts.length !== 2) return `${shown} is not a resource name: ${rule}`;
  const [domain = '', name = ''] = parts;
  const domainProblem = dns1123SubdomainProblem(domain);
  if (domainProblem) return `${shown}: the domain ${domainProblem}; ${rule}`;
  if (domain === 'kubernetes.io' || domain.endsWith('.kubernetes.io'))
    return `${shown}: the domain kubernetes.io is reserved for native resources; ${rule}`;
  if (name.length > QUALIFIED_NAME_PART_MAX)
    return `${shown}: the name after "/" is ${name.length} characters; it must be at most ${QUALIFIED_NAME_PART_MAX}`;
  if (!QUALIFIED_NAME_PART.test(name))
    return `${shown}: the name after "/" must match ${QUALIFIED_NAME_PART.source}; ${rule}`;
  return undefined;
}

/** Each virtnet-bridge plugin's host paths against the node policy; an unreadable policy is a problem of its own. */
function checkNodePolicy(list: ConfList, single: boolean, given: NodePolicy | undefined): void {
  list.plugins.forEach((plugin, i) => {
    if (plugin.type !== PLUGIN_TYPE) return;
    const at = single ? 'spec.config' : `spec.config.plugins[${i}]`;
    const { conf } = checkConfig({ ...plugin, cniVersion: clampedVersion(list.cniVersion), name: list.name });
    if (!conf) return; // toConfList has already refused a config with problems
    let policy: NodePolicy;
    try {
      policy = given ?? loadPolicy(process.env);
    } catch (err) {
      throw new NadError(
        at,
        `${PLUGIN_TYPE} config: cannot be checked against the node policy: ${(err as Error).message}`,
      );
    }
    const problems = policyProblems(conf, policy);
    if (problems.length) throw new NadError(at, `${PLUGIN_TYPE} config: ${problems.join('; ')}`);
  });
}

/** The version a plugin gets from a list of `listVersion` (netattach/invoke.ts clamps the same way). */
function clampedVersion(listVersion: unknown): unknown {
  if (typeof listVersion !== 'string' || !VERSION_PATTERN.test(listVersion)) return listVersion;
  return clampVersion(listVersion, SUPPORTED_VERSIONS) ?? listVersion;
}

/** Run virtnet-bridge's own config rules on one plugin of a list; every problem in one NadError. */
function checkVirtnetBridge(plugin: unknown, listVersion: unknown, listName: string, at: string): void {
  if (!isObj(plugin) || plugin.type !== PLUGIN_TYPE) return;
  const { problems } = checkConfig({ ...plugin, cniVersion: clampedVersion(listVersion), name: listName });
  if (problems.length) throw new NadError(at, `${PLUGIN_TYPE} config: ${problems.join('; ')}`);
}

/** Reads the .conf/.conflist files of a directory (file names relative to it). */
export function readConfDir(dir: string): Array<{ file: string; text: string }> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: Array<{ file: string; text: string }> = [];
  for (const file of names) {
    if (!file.endsWith('.conf') && !file.endsWith('.conflist')) continue;
    try {
      out.push({ file, text: readFileSync(join(dir, file), 'utf8') });
    } catch {
      // A directory named *.conf, or a file gone meanwhile: not a candidate.
    }
  }
  return out;
}

/** The network list to execute for a NAD. Throws NadError. */
export function resolveNetwork(
  nad: NetworkAttachmentDefinition,
  confDir: string | undefined,
  readDir: (dir: string) => Array<{ file: string; text: string }> = readConfDir,
): ResolvedNetwork {
  // The node policy is the plugin's to apply here: it runs with the runtime's own (netattach/invoke.ts env).
  const { nad: checked, conflist: fromSpec } = checkNad(nad);
  const name = checked.metadata.name;
  const namespace = checked.metadata.namespace ?? DEFAULT_NAMESPACE;
  const conflist = fromSpec ?? fromDirectory(`${namespace}/${name}`, name, confDir, readDir);

  const out: ResolvedNetwork = { name, namespace, conflist };
  const resourceName = checked.metadata.annotations?.[RESOURCE_NAME_ANNOTATION];
  if (resourceName) out.resourceName = resourceName;
  return out;
}

function fromDirectory(
  nadRef: string,
  name: string,
  confDir: string | undefined,
  readDir: (dir: string) => Array<{ file: string; text: string }>,
): ConfList {
  if (confDir === undefined) {
    throw new NadError(
      'spec.config',
      `NetworkAttachmentDefinition ${nadRef} has no spec.config and no configuration directory was given to search`,
    );
  }
  const files = readDir(confDir)
    .slice()
    .sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  const skipped: string[] = [];
  for (const ext of ['.conflist', '.conf']) {
    for (const { file, text } of files) {
      if (!file.endsWith(ext)) continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        skipped.push(file);
        continue;
      }
      if (!isObj(parsed)) {
        skipped.push(file);
        continue;
      }
      if (parsed.name !== name) continue;
      return toConfList(parsed, name, join(confDir, file));
    }
  }
  const note = skipped.length ? ` (unparseable, skipped: ${skipped.join(', ')})` : '';
  throw new NadError(
    'spec.config',
    `NetworkAttachmentDefinition ${nadRef} has no spec.config ` +
      `and no .conflist or .conf file in ${confDir} has "name": "${name}"${note}`,
  );
}

/** `source` prefixes every field: "spec.config" or the file's path. */
function field(source: string, path: string): string {
  return source === 'spec.config' ? `${source}.${path}` : `${source}:${path}`;
}

function toConfList(parsed: unknown, nadName: string, source: string): ConfList {
  if (!isObj(parsed)) throw new NadError(source, 'must be a JSON object (a CNI config or conflist)');

  const rawName = parsed.name;
  let name: string;
  if (rawName === undefined || rawName === null || rawName === '') name = nadName;
  else if (typeof rawName !== 'string') throw new NadError(field(source, 'name'), 'must be a string');
  else name = rawName;
  const nameProblem = networkNameProblem(name);
  if (nameProblem) throw new NadError(field(source, 'name'), nameProblem);

  const cniVersion = parsed.cniVersion;
  if (cniVersion === undefined || cniVersion === null || cniVersion === '')
    throw new NadError(field(source, 'cniVersion'), 'is required');
  if (typeof cniVersion !== 'string' || !VERSION_PATTERN.test(cniVersion)) {
    throw new NadError(
      field(source, 'cniVersion'),
      `${JSON.stringify(cniVersion)} must be a version string like "1.0.0"`,
    );
  }

  if (!('plugins' in parsed)) {
    // A single-plugin conf: libcni ConfListFromConf keeps the conf whole as the plugin.
    const plugin = checkPlugin({ ...parsed, name }, source, undefined);
    checkVirtnetBridge(plugin, cniVersion, name, source);
    return { cniVersion, name, plugins: [plugin] };
  }

  const list: ConfList = { cniVersion, name, plugins: [] };
  const versions = parsed.cniVersions;
  if (versions !== undefined && versions !== null) {
    if (
      !Array.isArray(versions) ||
      !versions.every((v): v is string => typeof v === 'string' && VERSION_PATTERN.test(v))
    ) {
      throw new NadError(field(source, 'cniVersions'), 'must be an array of version strings like "1.1.0"');
    }
    list.cniVersions = versions;
  }
  for (const key of ['disableCheck', 'disableGC'] as const) {
    const v = parsed[key];
    if (v === undefined || v === null) continue;
    if (typeof v === 'boolean') list[key] = v;
    else if (v === 'true' || v === 'false') list[key] = v === 'true';
    else throw new NadError(field(source, key), 'must be a boolean');
  }
  const plugins = parsed.plugins;
  if (!Array.isArray(plugins)) throw new NadError(field(source, 'plugins'), 'must be an array of plugin objects');
  if (plugins.length === 0) throw new NadError(field(source, 'plugins'), 'must not be empty');
  list.plugins = plugins.map((p, i) => checkPlugin(p, source, i));
  list.plugins.forEach((p, i) => checkVirtnetBridge(p, cniVersion, name, field(source, `plugins[${i}]`)));
  return list;
}

function checkPlugin(p: unknown, source: string, index: number | undefined): PluginConf {
  const at = (key: string): string => field(source, index === undefined ? key : `plugins[${index}].${key}`);
  if (!isObj(p)) throw new NadError(field(source, `plugins[${index ?? 0}]`), 'must be an object');
  const type = p.type;
  if (type === undefined || type === null || type === '') throw new NadError(at('type'), 'is required');
  if (typeof type !== 'string') throw new NadError(at('type'), 'must be a string');
  if (!PLUGIN_TYPE_PATTERN.test(type)) {
    throw new NadError(
      at('type'),
      `"${type}" must be a plain binary name matching ${PLUGIN_TYPE_PATTERN.source} (no slashes)`,
    );
  }
  const ipam = p.ipam;
  if (ipam !== undefined && ipam !== null) {
    if (!isObj(ipam)) throw new NadError(at('ipam'), 'must be an object');
    const ipamType = ipam.type;
    if (
      ipamType !== undefined &&
      ipamType !== '' &&
      (typeof ipamType !== 'string' || !PLUGIN_TYPE_PATTERN.test(ipamType))
    ) {
      throw new NadError(
        at('ipam.type'),
        `${JSON.stringify(ipamType)} must be a plain binary name matching ${PLUGIN_TYPE_PATTERN.source} (no slashes)`,
      );
    }
  }
  return { ...p, type };
}

/**
 * The cluster-default network: the first config of the directory by file
 * name, as Multus picks it (its --multus-conf-file=auto reads the
 * lexicographically first *.conf or *.conflist). Throws NadError.
 */
export function clusterDefaultNetwork(confDir: string, readDir = readConfDir): ConfList {
  const files = readDir(confDir)
    .slice()
    .sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  const first = files[0];
  if (!first) throw new NadError('cniConfDir', `${confDir} holds no *.conf or *.conflist`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(first.text);
  } catch (err) {
    throw new NadError(join(confDir, first.file), `invalid JSON: ${(err as Error).message}`);
  }
  return toConfList(parsed, first.file.replace(/\.(conf|conflist)$/u, ''), join(confDir, first.file));
}
