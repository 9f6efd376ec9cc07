/**
 * What each `virtnet` command does, on this node's runtime: the Actions of
 * program.ts wired to the command modules. main.ts loads this module only
 * when a command runs, so `--help`, errors and completion start fast.
 */
import { join } from 'node:path';
import { interactive } from '../../lib/exec.ts';
import { createProgress } from '../../lib/progress.ts';
import { nodeConfig, projectDir } from '../node/config.ts';
import { NodeRuntime } from '../node/runtime.ts';
import { EXIT, type Output } from '../view/command.ts';
import { completionScript } from '../view/completion.ts';
import { console_, deleteObjects, describe, down, gc, topology } from './commands.ts';
import { get } from './get.ts';
import { images } from './images.ts';
import { logs } from './logs.ts';
import type { Actions, GlobalFlags } from './program.ts';
import { up } from './up.ts';
import { validate } from './validate.ts';
import { version } from './version.ts';

const DEFAULT_NAMESPACE = 'default';

/** The node's runtime from the global flags; a flag it refuses is bad usage (exit 2), as before any work. */
function onRuntime(g: GlobalFlags, o: Output, run: (rt: NodeRuntime) => Promise<number> | number): Promise<number> {
  let rt: NodeRuntime;
  try {
    rt = new NodeRuntime(
      nodeConfig({
        ...(g.stateDir && { stateDir: g.stateDir }),
        ...(g.cniConfDir && { cniConfDir: g.cniConfDir }),
        ...(g.registriesConf && { registriesConf: g.registriesConf }),
      }),
    );
  } catch (err) {
    o.err(`error: ${(err as Error).message}`);
    return Promise.resolve(EXIT.usage);
  }
  return Promise.resolve(run(rt));
}

function namespaceOf(g: GlobalFlags): string {
  return g.namespace ?? DEFAULT_NAMESPACE;
}

/** The guest's log is bytes, written as they are. */
function logsOutput(o: Output) {
  return { write: (b: Buffer) => process.stdout.write(b), err: o.err };
}

export function nodeActions(o: Output): Actions {
  return {
    up: (files, f, g) =>
      onRuntime(g, o, (rt) =>
        up(rt, files, o, {
          timeoutMs: f.timeout * 1000,
          wait: f.wait,
          progress: createProgress(process.stderr),
          namespace: g.namespace,
        }),
      ),
    get: (kind, names, f, g) =>
      onRuntime(g, o, (rt) =>
        get(rt, kind, names, { namespace: f.allNamespaces ? undefined : namespaceOf(g), format: f.output }, o),
      ),
    describe: (name, f, g) => onRuntime(g, o, (rt) => describe(rt, name, namespaceOf(g), f.output, o)),
    console: (name, g) => onRuntime(g, o, (rt) => console_(rt, name, namespaceOf(g), o)),
    logs: (name, f, g) => onRuntime(g, o, (rt) => logs(rt, name, namespaceOf(g), f.follow ?? false, logsOutput(o))),
    images: (f, g) => onRuntime(g, o, (rt) => images(rt, f.output, o)),
    topology: (name, f, g) => onRuntime(g, o, (rt) => topology(rt, name, namespaceOf(g), f.svg, o)),
    down: (names, f, g) =>
      onRuntime(g, o, (rt) => down(rt, names, namespaceOf(g), f.all ?? false, o, f.force ?? false)),
    delete: (kind, names, g) => onRuntime(g, o, (rt) => deleteObjects(rt, kind, names, namespaceOf(g), o)),
    validate: (files, f, g) => onRuntime(g, o, (rt) => validate(rt, files, g.namespace, f.output, o)),
    gc: (g) => onRuntime(g, o, (rt) => gc(rt, o)),
    // Only the project's directory: the node's config would also check $VIRTNET_REGISTRIES_CONF and the rest.
    version: (f) => version(projectDir(), f.output, o),
    completion: async (shell, root) => {
      o.out(completionScript(root, shell).trimEnd());
      return EXIT.ok;
    },
    // The cluster side is its own bundle with its own flags, so that this CLI never loads @kubernetes/client-node.
    cniDaemon: async (f) => (await import('./cni-daemon.ts')).cniDaemon(f),
    cluster: (role, args) =>
      interactive([process.execPath, join(projectDir(), 'dist', 'cluster', 'virtnet-cluster'), role, ...args]),
  };
}
