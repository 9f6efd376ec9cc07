/**
 * Shell completion scripts drawn from a commander tree: at each point of a
 * command line, the sub-commands and flags of the command named so far.
 * Derived from the tree, so a new command or flag completes without edits
 * here. Pure: the caller prints the script.
 */
import type { Command, Option } from 'commander';
import { commandPath, commandsOf, optionsInScope, rootOf } from './command.ts';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

interface Point {
  /** The command's words after the program's name ("" for the program itself, "get" for `virtnet get`). */
  path: string;
  words: Array<{ word: string; what: string }>;
}

/** Each visible command's sub-commands and flags (long and short), as completion offers them. */
function points(root: Command): Point[] {
  return commandsOf(root).map((cmd) => {
    const help = cmd.createHelp();
    const subs = help.visibleCommands(cmd).filter((c) => c.name() !== 'help' || cmd === root);
    const flags = [...help.visibleOptions(cmd), ...ancestorOptions(cmd)];
    return {
      path: pathOf(cmd),
      words: [
        ...subs.map((c) => ({ word: c.name(), what: c.summary() || firstSentence(c.description()) })),
        ...flags.flatMap((o) =>
          [o.long, o.short].flatMap((w) => (w ? [{ word: w, what: firstSentence(o.description) }] : [])),
        ),
      ],
    };
  });
}

/** The flags of the commands above `cmd`, which it takes too (commander's global options), without their --help. */
function ancestorOptions(cmd: Command): Option[] {
  return cmd.parent ? optionsInScope(cmd.parent).filter((o) => !o.hidden) : [];
}

/** The words after the program's name that run `cmd` ("" for the program itself). */
function pathOf(cmd: Command): string {
  return commandPath(cmd)
    .slice(commandPath(rootOf(cmd)).length)
    .trim();
}

function firstSentence(text: string): string {
  return text.split(/[.:;(]/u)[0]!.trim();
}

/** A bash or zsh word in single quotes: everything in them is literal, a backslash too; only ' needs a way out. */
function quoted(text: string): string {
  return `'${text.replace(/'/gu, "'\\''")}'`;
}

/** fish's single quotes are not literal: a backslash escapes ' and \\, so both are escaped. */
function fishQuoted(text: string): string {
  return `'${text.replace(/\\/gu, '\\\\').replace(/'/gu, "\\'")}'`;
}

/** The shell function's name: "_virtnet", "_kubectl_virtnet". */
function functionName(root: Command): string {
  return `_${root.name().replace(/[^A-Za-z0-9]/gu, '_')}`;
}

function bash(root: Command): string {
  const name = root.name();
  const all = points(root);
  const known = all.filter((p) => p.path).map((p) => quoted(` ${p.path}`));
  const cases = all.map(
    (p) => `    ${quoted(p.path ? ` ${p.path}` : '')}) words=${quoted(p.words.map((w) => w.word).join(' '))} ;;`,
  );
  return `# bash completion for ${name}; load with: source <(${name} completion bash)
${functionName(root)}() {
  local cur=\${COMP_WORDS[COMP_CWORD]} path='' next w words
  for w in "\${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    next="$path $w"
    case "$next" in
      ${known.join('|') || "''"}) path=$next ;;
    esac
  done
  case "$path" in
${cases.join('\n')}
  esac
  mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}
complete -o default -F ${functionName(root)} ${name}
`;
}

function zshEntry(w: { word: string; what: string }): string {
  return quoted(`${w.word.replace(/:/gu, '\\:')}:${w.what}`);
}

function zsh(root: Command): string {
  const name = root.name();
  const all = points(root);
  const known = all.filter((p) => p.path).map((p) => quoted(` ${p.path}`));
  const cases = all.map(
    (p) => `    (${quoted(p.path ? ` ${p.path}` : '')}) entries=(${p.words.map(zshEntry).join(' ')}) ;;`,
  );
  return `#compdef ${name}
# zsh completion for ${name}; load with: source <(${name} completion zsh)
${functionName(root)}() {
  local cmdpath='' next w
  local -a entries
  for w in \${words[2,CURRENT-1]}; do
    next="$cmdpath $w"
    case "$next" in
      (${known.join('|') || "''"}) cmdpath=$next ;;
    esac
  done
  case "$cmdpath" in
${cases.join('\n')}
  esac
  _describe -t commands ${quoted(name)} entries
}
compdef ${functionName(root)} ${name}
`;
}

/** fish's condition that the words so far name exactly the command at `path`. */
function fishCondition(path: string): string {
  if (!path) return '__fish_use_subcommand';
  return path
    .split(' ')
    .map((w) => `__fish_seen_subcommand_from ${w}`)
    .join('; and ');
}

function fishLine(name: string, condition: string, w: { word: string; what: string }): string {
  const flag = w.word.startsWith('--')
    ? `-l ${w.word.slice(2)}`
    : w.word.startsWith('-')
      ? `-s ${w.word.slice(1)}`
      : '';
  const what = flag || `-a ${fishQuoted(w.word)}`;
  return `complete -c ${name} -n ${fishQuoted(condition)} ${what} -d ${fishQuoted(w.what)}`;
}

function fish(root: Command): string {
  const name = root.name();
  const lines = points(root).flatMap((p) => p.words.map((w) => fishLine(name, fishCondition(p.path), w)));
  return `# fish completion for ${name}; load with: ${name} completion fish | source
complete -c ${name} -f
${lines.join('\n')}
`;
}

/** The completion script of `root` for `shell`. */
export function completionScript(root: Command, shell: Shell): string {
  return { bash, zsh, fish }[shell](root);
}
