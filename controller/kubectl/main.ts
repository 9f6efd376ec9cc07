/**
 * kubectl-virtnet, the kubectl plugin (`kubectl virtnet …` runs the executable
 * of that name found on PATH): the standalone CLI's read commands against a
 * cluster, drawn by the same pure renderers (controller/view), so a VMI looks
 * the same on one machine and on a cluster. The commands and their options
 * are program.ts's tree; exit 0 ok, 1 failed, 2 usage, as kubectl.
 */
import { exitQuietlyOnClosedPipe, runProgram } from '../view/command.ts';
import { type Output, stdio } from './io.ts';
import { type PluginActions, pluginProgram } from './program.ts';

// The choice of launcher pod, which tests check without exec.
export { consoleTarget } from './console.ts';

/**
 * The commands, loaded when one runs: --help, --version and a usage mistake
 * answer without loading the cluster client (about 200 ms of start-up).
 */
function lazyActions(o: Output): PluginActions {
  const load = () => import('./actions.ts').then((m) => m.pluginActions(o));
  return {
    get: async (type, names, flags) => (await load()).get(type, names, flags),
    describe: async (name, flags) => (await load()).describe(name, flags),
    topology: async (name, flags) => (await load()).topology(name, flags),
    validate: async (files, flags) => (await load()).validate(files, flags),
    console: async (name, flags) => (await load()).console(name, flags),
    version: async (flags) => (await load()).version(flags),
  };
}

/** Runs `kubectl virtnet` with `argv` (the words after it); resolves to the exit code. */
export function main(argv: string[], o: Output = stdio): Promise<number> {
  return runProgram(pluginProgram(lazyActions(o), o), argv);
}

// Run when executed (the kubectl-virtnet bundle, or tsx), not when imported by tests.
if (process.argv[1] && /(kubectl-virtnet|kubectl[/\\]main\.ts)$/u.test(process.argv[1])) {
  exitQuietlyOnClosedPipe(process.stdout);
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      stdio.err(`error: ${err.message}`);
      process.exit(1);
    },
  );
}
