/**
 * kubectl_complete-virtnet: what kubectl (1.26+) runs to complete
 * `kubectl virtnet …`, with the words after `virtnet` (`get ""`). Commands,
 * options and values come from program.ts's tree; object names from
 * `kubectl get -o name` itself, so that this small executable loads no
 * cluster client and uses exactly kubectl's configuration and credentials.
 */
import { exec } from '../../lib/exec.ts';
import type { PluginResource } from '../kube/plugin-api.ts';
import { complete, completionText, DIRECTIVE, type LookupFlags, type NameSource } from './completion.ts';
import { type GlobalFlags, pluginProgram } from './program.ts';
import { NAME_PREFIX } from './resources.ts';

/** A TAB must not hang on a cluster that does not answer. */
const LOOKUP_TIMEOUT_MS = 2000;

/** Each value joined to its flag: a value that starts with "-" stays a value. */
function kubectlFlags(flags: GlobalFlags): string[] {
  return [
    ...(flags.kubeconfig ? [`--kubeconfig=${flags.kubeconfig}`] : []),
    ...(flags.context ? [`--context=${flags.context}`] : []),
  ];
}

/** The resource as kubectl names it unambiguously: plural.group (namespaces: core). */
function kubectlType(r: PluginResource | 'namespaces'): string {
  if (r === 'namespaces') return 'namespaces';
  return `${r}.${NAME_PREFIX[r].slice(NAME_PREFIX[r].indexOf('.') + 1)}`;
}

/** The kubectl command line that lists the names of `r` where the typed flags point. */
export function kubectlGetArgv(r: PluginResource | 'namespaces', flags: LookupFlags): string[] {
  const namespace = flags.namespace ? [`--namespace=${flags.namespace}`] : [];
  const scope = r === 'namespaces' ? [] : flags.allNamespaces ? ['-A'] : namespace;
  return ['kubectl', 'get', kubectlType(r), '-o', 'name', ...scope, ...kubectlFlags(flags)];
}

/** Names through `kubectl get TYPE -o name`; none when kubectl fails or is slow. */
export const kubectlNames: NameSource = async (r, flags) => {
  try {
    const result = await exec(kubectlGetArgv(r, flags), { timeoutMs: LOOKUP_TIMEOUT_MS, allowFailure: true });
    if (result.exitCode !== 0) return [];
    return result.stdout.split('\n').flatMap((line) => (line.includes('/') ? [line.slice(line.indexOf('/') + 1)] : []));
  } catch {
    return [];
  }
};

/** The completion protocol's output for `words`; a leading `__complete` (cobra's own verb) is accepted too. */
export async function completeWords(words: string[], names: NameSource = kubectlNames): Promise<string> {
  const asked = words[0] === '__complete' ? words.slice(1) : words;
  try {
    return completionText(await complete(pluginProgram(), asked.length ? asked : [''], names));
  } catch {
    return completionText({ candidates: [], directive: DIRECTIVE.error });
  }
}

// Run when executed (the kubectl_complete-virtnet bundle, or tsx), not when imported by tests.
if (process.argv[1] && /(kubectl_complete-virtnet|kubectl[/\\]complete\.ts)$/u.test(process.argv[1])) {
  void completeWords(process.argv.slice(2)).then((text) => process.stdout.write(text));
}
