/**
 * Shell completion of `kubectl virtnet`, in cobra's protocol, which kubectl
 * (1.26+) speaks to a plugin's `kubectl_complete-<plugin>` executable: it
 * passes the words after `kubectl virtnet`, the last one being completed, and
 * reads candidates ("word<TAB>description"), one per line, then ":<directive>".
 * Commands and options come from program.ts's tree; object names from a
 * NameSource, so this module needs no cluster client.
 */
import type { Command, Option } from 'commander';
import type { PluginResource } from '../kube/plugin-api.ts';
import type { GlobalFlags } from './program.ts';
import { resourceOf, TYPE_WORDS } from './resources.ts';
import { optionsInScope } from '../view/command.ts';

/** cobra's ShellCompDirective values that this plugin answers with. */
export const DIRECTIVE = { fileCompletion: 0, error: 1, noFileCompletion: 4 } as const;

export interface Completion {
  /** "word" or "word\tdescription". */
  candidates: string[];
  directive: number;
}

/** The flags typed so far that say where to look names up. */
export type LookupFlags = GlobalFlags & { allNamespaces?: boolean };

/** The names of objects of a type where the flags point (-n, -A, else the context's namespace); [] when unknown. */
export type NameSource = (r: PluginResource | 'namespaces', flags: LookupFlags) => Promise<string[]>;

/** Where the words before the completed one leave the command line. */
interface Position {
  cmd: Command;
  operands: string[];
  /** The option whose value is being completed. */
  pendingValue?: Option;
  flags: LookupFlags;
}

function findOption(cmd: Command, word: string): Option | undefined {
  const flag = word.split('=')[0]!;
  return optionsInScope(cmd).find((o) => o.long === flag || o.short === flag);
}

const takesValue = (o: Option) => o.required || o.optional;

/** The flags typed so far that change where names are looked up. */
function record(flags: Position['flags'], option: Option, value: string | undefined): void {
  if (option.long === '--kubeconfig' && value) flags.kubeconfig = value;
  else if (option.long === '--context' && value) flags.context = value;
  else if (option.long === '--namespace' && value) flags.namespace = value;
  else if (option.long === '--all-namespaces') flags.allNamespaces = true;
}

/** Walks the words before the completed one: the subcommand, its operands, the flags given. */
export function positionOf(root: Command, words: readonly string[]): Position {
  const at: Position = { cmd: root, operands: [], flags: {} };
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    const option = word.startsWith('-') && word !== '-' ? findOption(at.cmd, word) : undefined;
    if (option) {
      const inline = word.includes('=') ? word.slice(word.indexOf('=') + 1) : undefined;
      const needsNext = takesValue(option) && inline === undefined;
      if (needsNext && i === words.length - 1) at.pendingValue = option;
      record(at.flags, option, needsNext ? words[i + 1] : inline);
      if (needsNext) i++;
    } else if (word.startsWith('-') && word !== '-') {
      // An unknown flag: nothing to learn from it.
    } else if (at.cmd === root && !at.operands.length && root.commands.some((c) => c.name() === word)) {
      at.cmd = root.commands.find((c) => c.name() === word)!;
    } else at.operands.push(word);
  }
  return at;
}

const described = (word: string, description: string) => (description ? `${word}\t${description}` : word);

function flagCandidates(cmd: Command, prefix: string): string[] {
  const help = [{ flag: '--help', description: 'display help for command' }];
  const flags = optionsInScope(cmd).flatMap((o) => [
    ...(o.long ? [{ flag: o.long, description: o.description }] : []),
    ...(o.short && prefix === '-' ? [{ flag: o.short, description: o.description }] : []),
  ]);
  return [...flags, ...help].filter((f) => f.flag.startsWith(prefix)).map((f) => described(f.flag, f.description));
}

/** What the operands of each command are: a resource type, object names, or files. */
async function operandCandidates(at: Position, names: NameSource): Promise<Completion | string[]> {
  const vmis = () => names('virtualmachineinstances', at.flags);
  const [first] = at.operands;
  switch (at.cmd.name()) {
    case 'get': {
      if (first === undefined) return TYPE_WORDS;
      const r = resourceOf(first);
      return r ? names(r, at.flags) : [];
    }
    case 'describe':
      if (first === undefined) return ['vmi', ...(await vmis())];
      return at.operands.length === 1 && resourceOf(first) === 'virtualmachineinstances' ? vmis() : [];
    case 'topology':
    case 'console':
      return first === undefined ? vmis() : [];
    case 'validate':
      return { candidates: [], directive: DIRECTIVE.fileCompletion };
    default:
      return [];
  }
}

async function valueCandidates(option: Option, at: Position, names: NameSource): Promise<Completion | string[]> {
  if (option.argChoices) return option.argChoices;
  if (option.long === '--namespace') return names('namespaces', at.flags);
  // --kubeconfig, --svg: a file; --context: the shell cannot know.
  return option.long === '--context' ? [] : { candidates: [], directive: DIRECTIVE.fileCompletion };
}

/** The candidates for the last of `words` (the words after `kubectl virtnet`). */
export async function complete(root: Command, words: readonly string[], names: NameSource): Promise<Completion> {
  const toComplete = words.at(-1) ?? '';
  const at = positionOf(root, words.slice(0, -1));
  let found: Completion | string[];
  if (at.pendingValue) found = await valueCandidates(at.pendingValue, at, names);
  else if (toComplete.startsWith('-')) found = flagCandidates(at.cmd, toComplete);
  else if (at.cmd === root) found = root.commands.map((c) => described(c.name(), c.description()));
  else found = await operandCandidates(at, names);
  if (!Array.isArray(found)) return found;
  const candidates = found.filter((c) => c.startsWith(toComplete));
  return { candidates, directive: DIRECTIVE.noFileCompletion };
}

/** The protocol's text: the candidates, one per line, then the directive line. */
export function completionText(c: Completion): string {
  return `${[...c.candidates, `:${c.directive}`].join('\n')}\n`;
}
