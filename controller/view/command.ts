/**
 * kubectl's manners for a commander program, shared by every executable that
 * parses its arguments with commander (`virtnet`, the cluster binary's roles
 * and `kubectl virtnet`): examples that both `--help` and the CLI reference
 * (cli-reference.ts) show, a one-line error plus "See 'CMD --help'." for bad
 * usage, and exit codes 0 ok, 1 failed, 2 usage, without process.exit, so
 * that tests and the docs generator can run and walk the same tree.
 */
import { type Command, CommanderError, type Option } from 'commander';

/** Exit codes of every virtnet executable, as kubectl's. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Lines as a CLI writes them; each call is one line without its newline. */
export interface Output {
  out(line: string): void;
  err(line: string): void;
}

export interface Example {
  /** What it shows, one line. */
  what: string;
  /** The command line, as a user types it. */
  line: string;
}

const EXAMPLES = new WeakMap<Command, readonly Example[]>();
const EXIT_CODES = new WeakMap<Command, number>();

/** Give `cmd` examples, shown at the end of its --help and in the CLI reference. */
export function withExamples(cmd: Command, examples: readonly Example[]): Command {
  EXAMPLES.set(cmd, examples);
  return cmd.addHelpText('after', () => `\nExamples:\n${examples.map((e) => `  # ${e.what}\n  ${e.line}`).join('\n')}`);
}

export function examplesOf(cmd: Command): readonly Example[] {
  return EXAMPLES.get(cmd) ?? [];
}

/** `cmd` and every command below it, parents first, in the order they were added. */
export function commandsOf(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(commandsOf)];
}

/** The words that run `cmd`: "virtnet get", "kubectl virtnet console". */
export function commandPath(cmd: Command): string {
  return cmd.parent ? `${commandPath(cmd.parent)} ${cmd.name()}` : cmd.name();
}

/** The options `cmd` takes: its own, then those of the commands above it (commander's global options). */
export function optionsInScope(cmd: Command): Option[] {
  return [...cmd.options, ...(cmd.parent ? optionsInScope(cmd.parent) : [])];
}

export function rootOf(cmd: Command): Command {
  return cmd.parent ? rootOf(cmd.parent) : cmd;
}

/**
 * Run `handler` as `cmd`'s action; its result is the program's exit code (runProgram returns it).
 * The handler gets commander's arguments: the command's operands, then its options, then the command.
 */
export function act<A extends unknown[]>(cmd: Command, handler: (...args: A) => Promise<number> | number): Command {
  return cmd.action(async (...args: A) => {
    EXIT_CODES.set(rootOf(cmd), await handler(...args));
  });
}

/** Commander writes whole blocks ending in a newline; Output takes lines. */
function lines(write: (line: string) => void): (text: string) => void {
  return (text) => write(text.replace(/\n$/u, ''));
}

/**
 * Every command of the tree writes to `o`, throws instead of exiting, shows its
 * global options in --help and answers bad usage with one line and a pointer to its own help.
 */
export function withManners(root: Command, o: Output): Command {
  for (const cmd of commandsOf(root)) {
    cmd
      .exitOverride((err) => {
        throw err;
      })
      .configureOutput({ writeOut: lines(o.out), writeErr: lines(o.err) })
      .configureHelp({ showGlobalOptions: true })
      .showHelpAfterError(`See '${commandPath(cmd)} --help'.`);
  }
  return root;
}

/** Help and version are answers (0); every other commander error is bad usage (2). */
function exitCodeOf(err: CommanderError): number {
  if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.ok;
  if (err.code === 'commander.help') return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  return EXIT.usage;
}

/** Parse `argv` (the words after the program's name) and run the action; its exit code, or 2 for bad usage. */
export async function runProgram(root: Command, argv: readonly string[]): Promise<number> {
  EXIT_CODES.delete(root);
  try {
    await root.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return exitCodeOf(err);
    throw err;
  }
  return EXIT_CODES.get(root) ?? EXIT.ok;
}

/** Bad usage found by an action (an option's value, a missing operand): the same one line and hint as commander's. */
export function usageError(cmd: Command, message: string): never {
  return cmd.error(`error: ${message}`, { exitCode: EXIT.usage, code: 'virtnet.usage' });
}

/**
 * A reader that stops early (`virtnet get vmis | head -1`) closes the pipe:
 * the next write fails with EPIPE. A Unix tool dies of SIGPIPE there, quietly,
 * with status 128 + 13; a CLI here does the same instead of printing a stack.
 */
export function exitQuietlyOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(128 + 13);
  });
}
