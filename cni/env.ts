/**
 * The CNI environment (SPEC.md "Parameters"), validated before any side
 * effect. Messages and codes follow libcni's skel and pkg/utils.
 */
import { ErrorCode, VirtnetError } from '../lib/errors.ts';
import { CNI_ID_PATTERN, linkNameProblem } from '../lib/names.ts';

export type Verb = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'GC' | 'STATUS';

export interface CniEnv {
  verb: Verb;
  containerID: string;
  netns: string;
  ifname: string;
  path: string[];
  args: Map<string, string>;
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
const KNOWN_ARGS = new Set(['IgnoreUnknown', 'MAC', 'IP', 'K8S_POD_NAMESPACE', 'K8S_POD_NAME', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID']);

/** An absolute path with plain characters and no ".." segment. */
export function pathProblem(p: string): string | undefined {
  if (!p.startsWith('/')) return 'must be an absolute path';
  if (!/^[A-Za-z0-9_./:@+-]+$/u.test(p)) return 'may hold only letters, digits and _ . / : @ + -';
  if (p.split('/').includes('..')) return 'must not contain ".."';
  return undefined;
}

function parseArgs(text: string): Map<string, string> {
  const args = new Map<string, string>();
  if (!text) return args;
  for (const pair of text.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new VirtnetError(ErrorCode.badEnvironment, `CNI_ARGS: "${pair}" is not KEY=VALUE`);
    args.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  const ignore = ['1', 'true'].includes((args.get('IgnoreUnknown') ?? '').toLowerCase());
  const unknown = [...args.keys()].filter((k) => !KNOWN_ARGS.has(k));
  if (unknown.length && !ignore) {
    throw new VirtnetError(ErrorCode.badEnvironment, `CNI_ARGS: unknown key ${unknown.join(', ')} (set IgnoreUnknown=1 to allow it)`);
  }
  return args;
}

export function readEnv(env: NodeJS.ProcessEnv): CniEnv {
  const verb = env.CNI_COMMAND ?? '';
  if (!Object.hasOwn(REQUIRED, verb)) {
    throw new VirtnetError(ErrorCode.badEnvironment, `CNI_COMMAND: unknown verb "${verb}"; expected one of ${Object.keys(REQUIRED).join(', ')}`);
  }
  const missing = REQUIRED[verb as Verb].filter((k) => !env[k]);
  if (missing.length) {
    throw new VirtnetError(ErrorCode.badEnvironment, `required env variables [${missing.join(',')}] missing`);
  }
  const containerID = env.CNI_CONTAINERID ?? '';
  if (containerID && !CNI_ID_PATTERN.test(containerID)) {
    throw new VirtnetError(ErrorCode.badEnvironment, `CNI_CONTAINERID: "${containerID}" must match ${CNI_ID_PATTERN.source}`);
  }
  const ifname = env.CNI_IFNAME ?? '';
  const ifProblem = ifname ? linkNameProblem(ifname) : undefined;
  if (ifProblem) throw new VirtnetError(ErrorCode.badEnvironment, `CNI_IFNAME: "${ifname}" ${ifProblem}`);
  const netns = env.CNI_NETNS ?? '';
  const nsProblem = netns ? pathProblem(netns) : undefined;
  if (nsProblem) throw new VirtnetError(ErrorCode.badEnvironment, `CNI_NETNS: "${netns}" ${nsProblem}`);
  const path = (env.CNI_PATH ?? '').split(':').filter(Boolean);
  for (const dir of path) {
    const problem = pathProblem(dir);
    if (problem) throw new VirtnetError(ErrorCode.badEnvironment, `CNI_PATH: entry "${dir}" ${problem}`);
  }
  return { verb: verb as Verb, containerID, netns, ifname, path, args: parseArgs(env.CNI_ARGS ?? '') };
}
