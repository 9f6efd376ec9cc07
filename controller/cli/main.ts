/**
 * virtnet: VMs with Kubernetes pod networking on one machine, kubectl-style.
 * The commands, their flags, help and examples are in program.ts (`virtnet
 * --help`, or docs/cli.md); what they do is in actions.ts, loaded only when a
 * command runs. Exit codes: 0 ok, 1 failed, 2 bad usage.
 */
import { EXIT, exitQuietlyOnClosedPipe, runProgram, withManners, type Output } from '../view/command.ts';
import type { Actions } from './program.ts';
import { virtnetProgram } from './program.ts';

const stdio: Output = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) };

/** Actions that load the runtime's modules on first use: help and bad usage never pay for them. */
function lazyActions(o: Output): Actions {
  let loaded: Promise<Actions> | undefined;
  const load = () => (loaded ??= import('./actions.ts').then((m) => m.nodeActions(o)));
  return new Proxy({} as Actions, {
    get:
      (_, key: keyof Actions) =>
      async (...args: unknown[]) =>
        ((await load())[key] as (...a: unknown[]) => Promise<number>)(...args),
  });
}

/** Run `virtnet ARGV`, writing to `o`; the exit code. Nothing here exits the process. */
export async function main(argv: string[], o: Output = stdio): Promise<number> {
  const program = withManners(virtnetProgram(lazyActions(o)), o);
  try {
    return await runProgram(program, argv);
  } catch (err) {
    o.err(`error: ${(err as Error).message}`);
    return EXIT.failed;
  }
}

// Run when executed (the bundle, or tsx), not when imported by tests.
if (process.argv[1] && /(virtnet|cli[/\\]main\.ts)$/u.test(process.argv[1])) {
  exitQuietlyOnClosedPipe(process.stdout);
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
