/**
 * The command lines a document shows, checked against the parsers: every
 * `virtnet …`, `virtnet-cluster …` and `kubectl virtnet …` line in a fenced
 * code block must name an existing command path and only that command's (or
 * its parents') flags. Each bad token is reported with its file and line.
 */
import type { Command, Option } from 'commander';

export interface DocLine {
  file: string;
  line: number;
  text: string;
}

/** The lines inside ``` fences, with their 1-based line numbers. */
export function fencedLines(file: string, text: string): DocLine[] {
  const out: DocLine[] = [];
  let inFence = false;
  text.split('\n').forEach((line, i) => {
    if (/^\s*```/u.test(line)) inFence = !inFence;
    else if (inFence) out.push({ file, line: i + 1, text: line });
  });
  return out;
}

/** The words of a shell command up to where another command or a redirection starts. */
function words(command: string): string[] {
  return command
    .split(/\s+(?:\||&&|\|\||;|>|>>|<|2>&1|#)(?:\s|$)|\s#/u)[0]!
    .trim()
    .split(/\s+/u)
    .filter(Boolean);
}

function optionOf(cmd: Command, flag: string): Option | undefined {
  for (let c: Command | null = cmd; c; c = c.parent) {
    const found = c.options.find((o) => o.long === flag || o.short === flag);
    if (found) return found;
    if (flag === '--help' || flag === '-h')
      return c
        .createHelp()
        .visibleOptions(c)
        .find((o) => o.long === flag || o.short === flag);
  }
  return undefined;
}

/** What is wrong with `args` as a command line of `root` (empty when nothing). */
export function badTokens(root: Command, args: string[]): string[] {
  const problems: string[] = [];
  let cmd = root;
  let operands = 0;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') break;
    // A synopsis's placeholders ("[options]", "<name>", "[names...]") stand for words, not for a command or flag.
    if (/^[[<].*[\]>]$/u.test(arg)) continue;
    if (arg.startsWith('-') && arg !== '-') {
      const [flag] = arg.split('=');
      const option = optionOf(cmd, flag!);
      if (!option) problems.push(`${arg}: not a flag of '${pathOf(cmd)}'`);
      else if (option.required && !arg.includes('=')) i++;
      continue;
    }
    // A command with sub-commands takes a sub-command (or help) as its first word, and nothing else.
    const group = operands === 0 && cmd.commands.length > 0;
    const sub = group ? cmd.commands.find((c) => c.name() === arg) : undefined;
    if (sub) cmd = sub;
    else if (group && arg === 'help') return [...problems, ...badTokens(root, [...args.slice(i + 1), '--help'])];
    else if (group) return [...problems, `${arg}: no such command of '${pathOf(cmd)}'`];
    else operands++;
  }
  return problems;
}

function pathOf(cmd: Command): string {
  return cmd.parent ? `${pathOf(cmd.parent)} ${cmd.name()}` : cmd.name();
}

export interface Program {
  /** How the line starts: "virtnet", "kubectl virtnet". */
  prefix: RegExp;
  root: Command;
}

/**
 * Every problem of the documented command lines, as "file:line: token: why".
 * A line counts when, after an optional prompt (`$ `) and `sudo`, it starts with a program's words.
 */
export function checkDocLines(lines: readonly DocLine[], programs: readonly Program[]): string[] {
  return lines.flatMap(({ file, line, text }) => {
    const command = text
      .replace(/^\s*(\$|#)\s+/u, '')
      .replace(/^(sudo(\s+-E)?|env\s+\S+=\S+)\s+/u, '')
      .trimStart();
    for (const p of programs) {
      const m = p.prefix.exec(command);
      if (!m) continue;
      return badTokens(p.root, words(command.slice(m[0].length))).map((why) => `${file}:${line}: ${why}`);
    }
    return [];
  });
}
