/**
 * The node policy: what only the node's admin decides, never a network
 * config. A config (a NAD) comes from a tenant, yet the plugin runs as root,
 * so every host path and host bridge a config names is held against it:
 *   - dataDir and ipam.dataDir lie under one of `dataRoots`;
 *   - logFile lies under `logRoot` (without one, no config may log to a file);
 *   - an existing bridge is used only when virtnet made it (its mark) or the
 *     admin lists it in `allowedBridges`;
 *   - ipam.type names one of `allowedIpam`: the delegate runs as root with
 *     the pod's netns, so any other plugin in CNI_PATH (host-device, which
 *     moves a host NIC into the pod; the reference bridge, which acts on host
 *     bridges outside allowedBridges) would be the tenant's to run.
 * The policy is a small JSON file, /etc/virtnet/cni-policy.json, or the file
 * named by $VIRTNET_CNI_POLICY: the runtime's environment is the node
 * admin's, and a NAD cannot set it. It is read once per plugin call.
 */
import { lstatSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { ErrorCode, VirtnetError } from '../lib/errors.ts';
import { CNI_ID_PATTERN, didYouMean, linkNameProblem } from '../lib/names.ts';
import { writeFileDurable, mkdirPrivate } from '../lib/durable.ts';
import { DEFAULT_DATA_DIR, PLUGIN_TYPE } from './config.ts';
import { pathProblem } from './env.ts';
import type { BridgeConf } from './types.ts';

export const POLICY_ENV = 'VIRTNET_CNI_POLICY';
export const DEFAULT_POLICY_FILE = '/etc/virtnet/cni-policy.json';
export const DEFAULT_MAX_LOG_BYTES = 10 * 1024 * 1024;
const MIN_LOG_BYTES = 4096;
const MAX_LOG_BYTES = 2 ** 40;

export interface NodePolicy {
  /** Where the policy came from, for error messages ("defaults" when no file). */
  source: string;
  dataRoots: string[];
  logRoot?: string;
  allowedBridges: string[];
  /** The plugins a config's ipam.type may name (plain binary names in CNI_PATH). */
  allowedIpam: string[];
  /** The log is rotated (to logFile.1) once it reaches this size. */
  maxLogBytes: number;
}

/** What a policy file may say; every key is optional. */
export interface PolicyFile {
  dataRoots?: string[];
  logRoot?: string;
  allowedBridges?: string[];
  allowedIpam?: string[];
  maxLogBytes?: number;
}

const POLICY_KEYS = ['dataRoots', 'logRoot', 'allowedBridges', 'allowedIpam', 'maxLogBytes'] as const;
/** The IPAM plugins of containernetworking/plugins plugins/ipam, and whereabouts: they only hand out addresses. */
export const DEFAULT_ALLOWED_IPAM: readonly string[] = ['host-local', 'static', 'dhcp', 'whereabouts'];

export function defaultPolicy(): NodePolicy {
  return {
    source: 'defaults',
    dataRoots: [DEFAULT_DATA_DIR],
    allowedBridges: [],
    allowedIpam: [...DEFAULT_ALLOWED_IPAM],
    maxLogBytes: DEFAULT_MAX_LOG_BYTES,
  };
}

function policyError(source: string, field: string, rule: string): VirtnetError {
  return new VirtnetError(ErrorCode.invalidConfig, `node policy ${source}: ${field}: ${rule}`);
}

function cleanPath(source: string, field: string, v: unknown): string {
  if (typeof v !== 'string') throw policyError(source, field, 'must be a string (an absolute path)');
  const problem = pathProblem(v);
  if (problem) throw policyError(source, field, `"${v}" ${problem}`);
  const path = normalise(v);
  // "/" would let a NAD pick any host path; a dot part would refuse every path below it (config.ts).
  if (path === '/')
    throw policyError(source, field, '"/" would allow every host path; name the directories virtnet may use');
  if (path.split('/').some((part) => part.startsWith('.')))
    throw policyError(
      source,
      field,
      `"${v}" has a part starting with "."; configs may name no such path, so nothing under it could be used`,
    );
  return path;
}

/** Parse a policy file's text strictly: unknown keys, wrong types and bad paths are errors. */
export function parsePolicy(text: string, source: string): NodePolicy {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw policyError(source, '(root)', `not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw policyError(source, '(root)', 'must be a JSON object');
  const o = raw as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if ((POLICY_KEYS as readonly string[]).includes(key)) continue;
    const hint = didYouMean(key, POLICY_KEYS);
    throw policyError(
      source,
      key,
      `unknown key${hint ? ` (did you mean "${hint}"?)` : ''}; known: ${POLICY_KEYS.join(', ')}`,
    );
  }
  const policy = defaultPolicy();
  policy.source = source;
  if (o.dataRoots !== undefined) {
    if (!Array.isArray(o.dataRoots) || o.dataRoots.length === 0)
      throw policyError(source, 'dataRoots', 'must be a non-empty list of absolute paths');
    policy.dataRoots = o.dataRoots.map((r, i) => cleanPath(source, `dataRoots[${i}]`, r));
  }
  if (o.logRoot !== undefined) policy.logRoot = cleanPath(source, 'logRoot', o.logRoot);
  if (o.allowedBridges !== undefined) {
    if (!Array.isArray(o.allowedBridges)) throw policyError(source, 'allowedBridges', 'must be a list of link names');
    policy.allowedBridges = o.allowedBridges.map((b, i) => {
      if (typeof b !== 'string') throw policyError(source, `allowedBridges[${i}]`, 'must be a string (a link name)');
      const problem = linkNameProblem(b);
      if (problem) throw policyError(source, `allowedBridges[${i}]`, `"${b}" is not a valid link name: ${problem}`);
      return b;
    });
  }
  if (o.allowedIpam !== undefined) policy.allowedIpam = parseAllowedIpam(source, o.allowedIpam);
  if (o.maxLogBytes !== undefined) {
    const n = o.maxLogBytes;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < MIN_LOG_BYTES || n > MAX_LOG_BYTES) {
      throw policyError(
        source,
        'maxLogBytes',
        `${JSON.stringify(n)} must be an integer from ${MIN_LOG_BYTES} to ${MAX_LOG_BYTES}`,
      );
    }
    policy.maxLogBytes = n;
  }
  return policy;
}

function parseAllowedIpam(source: string, v: unknown): string[] {
  if (!Array.isArray(v)) throw policyError(source, 'allowedIpam', 'must be a list of IPAM plugin names');
  return v.map((t, i) => {
    const field = `allowedIpam[${i}]`;
    if (typeof t !== 'string') throw policyError(source, field, 'must be a string (a plugin name)');
    // The name is joined to each CNI_PATH directory (cni/ipam.ts findPlugin): a plain file name only.
    if (!CNI_ID_PATTERN.test(t))
      throw policyError(
        source,
        field,
        `${JSON.stringify(t)} must match ${CNI_ID_PATTERN.source} (a plugin's file name in CNI_PATH)`,
      );
    if (t === PLUGIN_TYPE)
      throw policyError(source, field, `"${t}" is this plugin itself, which would delegate to itself`);
    return t;
  });
}

/**
 * The policy in force: the file $VIRTNET_CNI_POLICY names (which must exist),
 * else /etc/virtnet/cni-policy.json when present, else the defaults.
 */
export function loadPolicy(env: NodeJS.ProcessEnv): NodePolicy {
  const named = env[POLICY_ENV];
  const file = named || DEFAULT_POLICY_FILE;
  if (named) {
    const problem = pathProblem(named);
    if (problem) throw new VirtnetError(ErrorCode.badEnvironment, `${POLICY_ENV}: "${named}" ${problem}`);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !named) return defaultPolicy();
    throw new VirtnetError(
      ErrorCode.badEnvironment,
      `${named ? POLICY_ENV : 'node policy'}: cannot read "${file}": ${(e as Error).message}`,
    );
  }
  return parsePolicy(text, file);
}

/** Write a policy file (for the node runtimes that own one): durable, 0600. */
export function writePolicy(file: string, policy: PolicyFile): void {
  // Parse what we write, so a node runtime cannot install a policy the plugin refuses.
  const text = `${JSON.stringify(policy, null, 2)}\n`;
  parsePolicy(text, file);
  mkdirPrivate(dirname(file));
  writeFileDurable(file, text);
}

/** Collapse "//", "/./" and a trailing "/" (the paths have no ".." by pathProblem). */
function normalise(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

function isUnder(path: string, root: string): boolean {
  return path === root || path.startsWith(root === '/' ? '/' : `${root}/`);
}

/**
 * Why `path` (lexically under `root`) does not really lie under it: a
 * symbolic link between the root and the deepest part of the path that
 * exists. The parts that do not exist yet are made by us, as directories.
 */
function symlinkOnTheWay(path: string, root: string): string | undefined {
  // lstat, not stat: a dangling symlink exists too, and must not be walked past.
  let existing = path;
  while (!lstatSync(existing, { throwIfNoEntry: false })) {
    if (existing === root || existing === '/') return undefined; // nothing below the root exists yet
    existing = dirname(existing);
  }
  if (!isUnder(existing, root)) return undefined;
  let real: string;
  try {
    real = realpathSync.native(existing);
  } catch {
    return `${existing} is a symbolic link to nowhere`;
  }
  const expected = join(realpathSync.native(root), relative(root, existing));
  return real === normalise(expected) ? undefined : `${existing} resolves to ${real}`;
}

/**
 * symlinkOnTheWay, with the errors lstat(2) and realpath(3) give for a path
 * that cannot lie under the root at all (ENOTDIR: a part of it is a regular
 * file; EACCES, ELOOP, ENAMETOOLONG) turned into a refusal naming the field.
 */
function walkProblem(field: string, value: string, path: string, root: string): string | undefined {
  try {
    return symlinkOnTheWay(path, root);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code !== 'string') throw e;
    const rule =
      code === 'ENOTDIR'
        ? 'a part of it below the root is not a directory'
        : `it cannot be examined (${(e as Error).message})`;
    throw new VirtnetError(
      ErrorCode.invalidConfig,
      `${field}: "${value}" is refused: ${rule}; it must be a directory path below ${root} (${code})`,
    );
  }
}

function requireUnder(field: string, value: string, roots: readonly string[], what: string, policy: NodePolicy): void {
  const p = normalise(value);
  const root = roots.find((r) => isUnder(p, r));
  if (!root) {
    throw new VirtnetError(
      ErrorCode.invalidConfig,
      `${field}: "${value}" is outside the ${what} the node admin allows: ${JSON.stringify(roots)} (node policy: ` +
        `${policy.source})`,
    );
  }
  const link = walkProblem(field, value, p, root);
  if (link)
    throw new VirtnetError(
      ErrorCode.invalidConfig,
      `${field}: "${value}" passes through a symbolic link (${link}); symlinks below ${root} are refused`,
    );
}

/** Every host path the config names, against the policy; before any side effect. */
export function checkPaths(conf: BridgeConf, policy: NodePolicy): void {
  requireUnder('dataDir', conf.dataDir, policy.dataRoots, 'data roots', policy);
  const ipamDir = conf.ipam?.dataDir;
  if (ipamDir !== undefined) {
    if (typeof ipamDir !== 'string')
      throw new VirtnetError(ErrorCode.invalidConfig, 'ipam.dataDir: must be a string (an absolute path)');
    const problem = pathProblem(ipamDir);
    if (problem) throw new VirtnetError(ErrorCode.invalidConfig, `ipam.dataDir: "${ipamDir}" ${problem}`);
    requireUnder('ipam.dataDir', ipamDir, policy.dataRoots, 'data roots', policy);
  }
  if (conf.logFile !== undefined) {
    if (!policy.logRoot) {
      throw new VirtnetError(
        ErrorCode.invalidConfig,
        `logFile: "${conf.logFile}" is refused: the node admin set no logRoot (node policy: ${policy.source}), so ` +
          `the plugin logs to stderr only`,
      );
    }
    if (normalise(conf.logFile) === policy.logRoot)
      throw new VirtnetError(
        ErrorCode.invalidConfig,
        `logFile: "${conf.logFile}" is the log root itself, not a file under it`,
      );
    requireUnder('logFile', conf.logFile, [policy.logRoot], 'log root', policy);
    // A log appended to a record file, a host-local lease or the version cache would corrupt it.
    const logPath = normalise(conf.logFile);
    const dataRoot = policy.dataRoots.find((r) => isUnder(logPath, r));
    if (dataRoot)
      throw new VirtnetError(
        ErrorCode.invalidConfig,
        `logFile: "${conf.logFile}" lies under the data root ${dataRoot}; a log must not share a directory tree ` +
          `with plugin state (node policy: ${policy.source})`,
      );
  }
}

/** Why the policy refuses `type` as an IPAM delegate, or undefined. */
export function ipamTypeProblem(type: string, policy: Pick<NodePolicy, 'allowedIpam' | 'source'>): string | undefined {
  if (policy.allowedIpam.includes(type)) return undefined;
  return (
    `ipam.type: "${type}" is not an IPAM plugin the node admin allows: ${JSON.stringify(policy.allowedIpam)} (node ` +
    `policy: ${policy.source}); the node admin may list it in allowedIpam`
  );
}

/** Everything the node policy holds a config to, before any side effect: the IPAM delegate, then the host paths. */
export function checkPolicy(conf: BridgeConf, policy: NodePolicy): void {
  const ipamProblem = conf.ipam ? ipamTypeProblem(conf.ipam.type, policy) : undefined;
  if (ipamProblem) throw new VirtnetError(ErrorCode.invalidConfig, ipamProblem);
  checkPaths(conf, policy);
}

/**
 * What the node policy refuses in a config the plugin's own rules accept,
 * as "field: rule" lines; [] when none. `virtnet validate` and NAD
 * admission run it, so that a NAD the plugin would refuse on this node is
 * refused before any pod uses it.
 */
export function policyProblems(conf: BridgeConf, policy: NodePolicy): string[] {
  try {
    checkPolicy(conf, policy);
    return [];
  } catch (e) {
    if (e instanceof VirtnetError) return [e.message];
    throw e;
  }
}
