/** Where `kubectl virtnet` writes: lines on stdout and stderr. */
import type { Output } from '../view/command.ts';

export type { Output } from '../view/command.ts';

export const stdio: Output = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};
