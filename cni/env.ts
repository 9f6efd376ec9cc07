/**
 * The CNI environment (SPEC.md "Parameters"), validated before any side
 * effect. Messages and codes follow libcni's skel and pkg/utils.
 */
import { ErrorCode, VirtnetError } from '../lib/errors.ts';
import { isIp, parseCidr } from '../lib/cidr.ts';
import {
  containerIdProblem,
  dns1123LabelProblem,
  dns1123SubdomainProblem,
  KERNEL_OWNED_IFNAMES,
  linkNameProblem,
} from '../lib/names.ts';

export type Verb = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'GC' | 'STATUS';

export interface CniEnv {
  verb: Verb;
  containerID: string;
  netns: string;
  ifname: string;
  path: string[];
  args: Map<string, string>;
  /**
   * The whole environment the runtime called the plugin with. Delegates get it (SPEC.md "Delegated plugins":
   * the IPAM plugin sees the same CNI_* variables), and in the resident daemon it is the shim's, not the daemon's.
   */
  callerEnv: NodeJS.ProcessEnv;
}

const REQUIRED: Record<Verb, string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  GC: ['CNI_PATH'],
  STATUS: ['CNI_PATH'],
  VERSION: [],
};

/** CNI_ARGS keys this plugin understands; others need IgnoreUnknown (SPEC.md "CNI_ARGS"). */
const KNOWN_ARGS = new Set([
  'IgnoreUnknown',
  'MAC',
  'IP',
  'K8S_POD_NAMESPACE',
  'K8S_POD_NAME',
  'K8S_POD_INFRA_CONTAINER_ID',
  'K8S_POD_UID',
]);

/** An absolute path with plain characters and no ".." segment. */
export function pathProblem(p: string): string | undefined {
  if (!p.startsWith('/')) return 'must be an absolute path';
  if (!/^[A-Za-z0-9_./:@+-]+$/u.test(p)) return 'may hold only letters, digits and _ . / : @ + -';
  if (p.split('/').includes('..')) return 'must not contain ".."';
  return undefined;
}

/**
 * The most CNI_ARGS may hold. The spec sets no limit, but what runtimes put
 * there (IgnoreUnknown, the four K8S_POD_* keys, MAC, IP) is well under
 * 1 KiB; anything near this size is not a runtime's doing.
 */
export const MAX_CNI_ARGS_BYTES = 4096;

/**
 * Why the value of a known CNI_ARGS key is unusable, or undefined. MAC is checked with the config (cni/config.ts
 * requestedMac).
 */
function argProblem(key: string, value: string): string | undefined {
  switch (key) {
    case 'K8S_POD_NAMESPACE':
      return dns1123LabelProblem(value);
    case 'K8S_POD_NAME':
      return dns1123SubdomainProblem(value);
    case 'K8S_POD_INFRA_CONTAINER_ID':
      return containerIdProblem(value);
    case 'K8S_POD_UID':
      // The API server's UIDs are UUIDs and a static pod's the kubelet's 32-hex-digit config hash
      // (pkg/kubelet/config/common.go), but the CRI's PodSandboxMetadata.uid is free text (crictl's
      // example: "hdishd83djaidwnduwk28bcsb"): held to the container id's rule, which every one of them meets.
      return containerIdProblem(value);
    case 'IP': {
      // The reference IPAM plugins read IP as what to assign: static a comma-separated list of CIDRs, host-local
      // the IP to request. Both forms are accepted here; each entry must parse.
      const bad = value.split(',').find((ip) => !(isIp(ip) || parseCidr(ip)));
      return bad === undefined
        ? undefined
        : `${JSON.stringify(bad.slice(0, 100))} is not an IP address or CIDR (IP is a comma-separated list of them)`;
    }
    default:
      return undefined;
  }
}

function parseArgs(text: string): Map<string, string> {
  const args = new Map<string, string>();
  if (!text) return args;
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_CNI_ARGS_BYTES)
    throw new VirtnetError(
      ErrorCode.badEnvironment,
      `CNI_ARGS: is ${bytes} bytes; it may hold at most ${MAX_CNI_ARGS_BYTES}`,
    );
  for (const pair of text.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new VirtnetError(ErrorCode.badEnvironment, `CNI_ARGS: "${pair}" is not KEY=VALUE`);
    args.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  const ignore = ['1', 'true'].includes((args.get('IgnoreUnknown') ?? '').toLowerCase());
  const unknown = [...args.keys()].filter((k) => !KNOWN_ARGS.has(k));
  if (unknown.length && !ignore) {
    throw new VirtnetError(
      ErrorCode.badEnvironment,
      `CNI_ARGS: unknown key ${unknown.join(', ')} (set IgnoreUnknown=1 to allow it)`,
    );
  }
  for (const [key, value] of args) {
    const problem = KNOWN_ARGS.has(key) ? argProblem(key, value) : undefined;
    if (problem) throw new VirtnetError(ErrorCode.badEnvironment, `CNI_ARGS ${key}: ${problem}`);
  }
  return args;
}

/** A link name (libcni ValidateInterfaceName) that a new namespace does not already hold. */
function ifnameProblem(ifname: string): string | undefined {
  const problem = linkNameProblem(ifname);
  if (problem) return problem;
  if (KERNEL_OWNED_IFNAMES.has(ifname))
    return (
      'is a link every network namespace already has (the loopback or a fallback tunnel device); name the interface ' +
      'otherwise'
    );
  return undefined;
}

export function readEnv(env: NodeJS.ProcessEnv): CniEnv {
  const verb = env.CNI_COMMAND ?? '';
  if (!Object.hasOwn(REQUIRED, verb)) {
    throw new VirtnetError(
      ErrorCode.badEnvironment,
      `CNI_COMMAND: unknown verb "${verb}"; expected one of ${Object.keys(REQUIRED).join(', ')}`,
    );
  }
  const missing = REQUIRED[verb as Verb].filter((k) => !env[k]);
  if (missing.length) {
    throw new VirtnetError(ErrorCode.badEnvironment, `required env variables [${missing.join(',')}] missing`);
  }
  const containerID = env.CNI_CONTAINERID ?? '';
  const idProblem = containerID ? containerIdProblem(containerID) : undefined;
  if (idProblem) throw new VirtnetError(ErrorCode.badEnvironment, `CNI_CONTAINERID: ${idProblem}`);
  const ifname = env.CNI_IFNAME ?? '';
  const ifProblem = ifname ? ifnameProblem(ifname) : undefined;
  if (ifProblem) throw new VirtnetError(ErrorCode.badEnvironment, `CNI_IFNAME: "${ifname}" ${ifProblem}`);
  const netns = env.CNI_NETNS ?? '';
  const nsProblem = netns ? pathProblem(netns) : undefined;
  if (nsProblem) throw new VirtnetError(ErrorCode.badEnvironment, `CNI_NETNS: "${netns}" ${nsProblem}`);
  const path = (env.CNI_PATH ?? '').split(':').filter(Boolean);
  for (const dir of path) {
    const problem = pathProblem(dir);
    if (problem) throw new VirtnetError(ErrorCode.badEnvironment, `CNI_PATH: entry "${dir}" ${problem}`);
  }
  const args = parseArgs(env.CNI_ARGS ?? '');
  return { verb: verb as Verb, containerID, netns, ifname, path, args, callerEnv: env };
}
