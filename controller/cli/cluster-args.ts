/**
 * `virtnet controller|kubelet FLAGS` runs `virtnet-cluster ROLE FLAGS`. The
 * role's flags are parsed here (its --help, an unknown flag or a bad value
 * answer as every virtnet command does), and what goes on is what was given,
 * written again from the parsed values as --flag=value, so that a value
 * starting with "-" stays a value and no other word of the line is taken.
 * virtnet's global flags are the root's wherever they stand (commander gives
 * `virtnet controller -n NS` to the root's -n): those the role has as well go
 * on as its own; the others are refused, as flags the role does not take.
 */
import type { Command, Option } from 'commander';
import { commandPath, usageError } from '../view/command.ts';

/** What `cmd`'s option `o` was given on the command line, as flags; none when it was not. */
function givenFlags(cmd: Command, o: Option): string[] {
  const key = o.attributeName();
  if (cmd.getOptionValueSource(key) !== 'cli') return [];
  const value: unknown = cmd.getOptionValue(key);
  if (typeof value === 'boolean') return value === !o.negate ? [o.long!] : [];
  return (Array.isArray(value) ? value : [value]).map((v) => `${o.long}=${String(v)}`);
}

/** The root's flags given for `role`: each as the role's flag of the same name, or bad usage when it has none. */
function globalFlags(cmd: Command, root: Command): string[] {
  return root.options.flatMap((global) => {
    const given = givenFlags(root, global);
    if (given.length === 0) return [];
    const own = cmd.options.find((o) => o.long === global.long);
    if (!own) usageError(cmd, `${global.long} is not a flag of ${commandPath(cmd)} (see its --help)`);
    return given;
  });
}

/** The flags for `virtnet-cluster ROLE`: the role command's own, then the global ones it takes. */
export function clusterArgs(cmd: Command): string[] {
  const own = cmd.options.flatMap((o) => givenFlags(cmd, o));
  return cmd.parent ? [...own, ...globalFlags(cmd, cmd.parent)] : own;
}
