/**
 * The `virtnet` command tree: every command's arguments, flags, help and
 * examples. Building it does nothing else (no runtime, no files, no processes),
 * so the CLI reference (scripts/cli-docs.ts), the completion scripts and the
 * tests walk the same tree that main.ts runs with its actions.
 */
import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import { act, EXIT, usageError, withExamples } from '../view/command.ts';
import { roleCommand } from '../cluster/roles.ts';
import { SHELLS, type Shell } from '../view/completion.ts';
import { namespaceFlag } from '../view/namespace.ts';
import { clusterArgs } from './cluster-args.ts';
import type { CniDaemonFlags } from './cni-daemon.ts';
import { LEVEL_NAMES } from '../../lib/log.ts';

export type ObjectFormat = 'table' | 'json' | 'yaml';
export type ListFormat = ObjectFormat | 'wide' | 'name';

/** The flags every command takes (before or after the command's name). */
export interface GlobalFlags {
  namespace?: string;
  stateDir?: string;
  cniConfDir?: string;
  registriesConf?: string;
}

/** What main.ts does for each command; each returns the exit code. */
export interface Actions {
  up(files: string[], f: { timeout: number; wait: boolean }, g: GlobalFlags): Promise<number>;
  get(
    kind: string,
    names: string[],
    f: { output: ListFormat; allNamespaces?: boolean },
    g: GlobalFlags,
  ): Promise<number>;
  describe(name: string, f: { output: ObjectFormat }, g: GlobalFlags): Promise<number>;
  console(name: string, g: GlobalFlags): Promise<number>;
  logs(name: string, f: { follow?: boolean }, g: GlobalFlags): Promise<number>;
  images(f: { output: ObjectFormat }, g: GlobalFlags): Promise<number>;
  topology(name: string, f: { svg?: string }, g: GlobalFlags): Promise<number>;
  down(names: string[], f: { all?: boolean; force?: boolean }, g: GlobalFlags): Promise<number>;
  delete(kind: string, names: string[], g: GlobalFlags): Promise<number>;
  validate(files: string[], f: { output: ObjectFormat }, g: GlobalFlags): Promise<number>;
  gc(g: GlobalFlags): Promise<number>;
  version(f: { output: ObjectFormat }): Promise<number>;
  completion(shell: Shell, root: Command): Promise<number>;
  /**
   * `virtnet controller|kubelet ...`: the cluster binary runs the role with `args`, its flags as given
   * (cluster-args.ts); this CLI never loads the Kubernetes client.
   */
  cluster(role: 'controller' | 'kubelet', args: string[]): Promise<number>;
  cniDaemon(f: CniDaemonFlags): Promise<number>;
}

/** Without actions, the tree is for reading (docs, completion, tests): running a command is a failure. */
const UNWIRED = new Proxy({} as Actions, {
  get: () => async () => EXIT.failed,
});

const VMI_KINDS = 'vmis, vms or nads (or their singular and long names)';

/** Decimal seconds, at least 1: Number() would also take "0x10", "1e-9", " 5" and "". */
function seconds(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/u.test(value) || n < 1) throw new InvalidArgumentError('a number of seconds, at least 1');
  return n;
}

function objectOutput(): Option {
  return new Option('-o, --output <format>', 'print the objects as json or yaml instead of text')
    .choices(['json', 'yaml'])
    .default('table', 'text');
}

function listOutput(): Option {
  return new Option('-o, --output <format>', 'json or yaml objects, a wider table, or kind/name lines')
    .choices(['json', 'yaml', 'wide', 'name'])
    .default('table', 'a table');
}

/** The command list shows each command's first sentence; its --help the whole description. */
function firstSentence(text: string): string {
  return text.split(/(?<=\.) |: /u)[0]!.replace(/\.$/u, '');
}

/** The global flags as every command's action sees them (its own flags win over the root's, as commander merges). */
function globals(cmd: Command): GlobalFlags {
  return cmd.optsWithGlobals<GlobalFlags>();
}

function upCommand(a: Actions): Command {
  const cmd = new Command('up')
    .description(
      'Apply VirtualMachineInstances, VirtualMachines and NetworkAttachmentDefinitions, then wait until every NIC ' +
        'has its lease. Everything is validated first: with any problem nothing is created.',
    )
    .argument('<files...>', 'manifest files (YAML or JSON; - reads stdin)')
    .addOption(new Option('--timeout <seconds>', 'how long to wait for the leases').argParser(seconds).default(180))
    .option('--no-wait', 'return once the VMs are started, without waiting for their leases');
  act(cmd, (files: string[], f: { timeout: number; wait: boolean }) => a.up(files, f, globals(cmd)));
  return withExamples(cmd, [
    { what: 'bring up the bridge example and wait for its lease', line: 'virtnet up examples/vm-bridge.yaml' },
    { what: 'into namespace team, without waiting', line: 'virtnet -n team up --no-wait examples/vm-bridge.yaml' },
  ]);
}

function getCommand(a: Actions): Command {
  const cmd = new Command('get')
    .description('List VMIs, VMs or NetworkAttachmentDefinitions, as kubectl get prints them')
    .argument('<kind>', VMI_KINDS)
    .argument('[names...]', 'only these objects')
    .addOption(listOutput())
    .option('-A, --all-namespaces', 'list the objects of every namespace');
  act(cmd, (kind: string, names: string[], f: { output: ListFormat; allNamespaces?: boolean }) =>
    a.get(kind, names, f, globals(cmd)),
  );
  return withExamples(cmd, [
    { what: 'the VMIs of namespace default, with their phase and IPs', line: 'virtnet get vmis' },
    { what: 'every namespace', line: 'virtnet get vms -A' },
    { what: 'one VMI as YAML', line: 'virtnet get vmi vm-bridge -o yaml' },
  ]);
}

function describeCommand(a: Actions): Command {
  const cmd = new Command('describe')
    .description("One VMI's interfaces, wiring, leases, steps and conditions")
    .argument('<kind-or-name>', "vmi, then the name; or the VMI's name alone")
    .argument('[name]', "the VMI's name, after the kind vmi")
    .addOption(objectOutput());
  // commander fills operands from the left: with one word, that word is the name.
  act(cmd, (first: string, second: string | undefined, f: { output: ObjectFormat }) => {
    if (second === undefined) return a.describe(first, f, globals(cmd));
    if (!/^(vmi|vmis|virtualmachineinstances?)$/iu.test(first))
      usageError(cmd, `describe: "${first}" is not a VMI kind (describe vmi NAME, or describe NAME)`);
    return a.describe(second, f, globals(cmd));
  });
  return withExamples(cmd, [
    { what: 'how vm-bridge is wired', line: 'virtnet describe vmi vm-bridge' },
    { what: 'the same, the kind left out, as JSON', line: 'virtnet describe vm-bridge -o json' },
  ]);
}

function consoleCommand(a: Actions): Command {
  const cmd = new Command('console')
    .description("The VM's serial console (Ctrl-] detaches)")
    .argument('<name>', "the VMI's name");
  act(cmd, (name: string) => a.console(name, globals(cmd)));
  return withExamples(cmd, [{ what: "log in on vm-bridge's serial console", line: 'virtnet console vm-bridge' }]);
}

function logsCommand(a: Actions): Command {
  const cmd = new Command('logs')
    .description("The guest's serial console log")
    .argument('<name>', "the VMI's name")
    .option('-f, --follow', 'keep printing what the guest writes, until the VMI is gone');
  act(cmd, (name: string, f: { follow?: boolean }) => a.logs(name, f, globals(cmd)));
  return withExamples(cmd, [{ what: "follow vm-bridge's boot", line: 'virtnet logs -f vm-bridge' }]);
}

function imagesCommand(a: Actions): Command {
  const cmd = new Command('images')
    .description('The containerDisk cache: reference, digest, format, size and the VMIs using each image')
    .addOption(objectOutput());
  act(cmd, (f: { output: ObjectFormat }) => a.images(f, globals(cmd)));
  return withExamples(cmd, [{ what: 'what the cache holds', line: 'virtnet images' }]);
}

function topologyCommand(a: Actions): Command {
  const cmd = new Command('topology')
    .description("A VMI's network: pod interfaces, bridges, taps, the VM's NICs and their networks")
    .argument('<name>', "the VMI's name")
    .option('--svg <file>', 'also draw it as an SVG picture into this file');
  act(cmd, (name: string, f: { svg?: string }) => a.topology(name, f, globals(cmd)));
  return withExamples(cmd, [
    { what: "vm-bridge's network as text and as a picture", line: 'virtnet topology vm-bridge --svg vm-bridge.svg' },
  ]);
}

function downCommand(a: Actions): Command {
  const cmd = new Command('down')
    .description(
      'Tear VMIs down, leaving nothing behind. A failed CNI DEL keeps the VMI for another try (gc retries it).',
    )
    .argument('[names...]', "the VMIs' names")
    .option('--all', 'every VMI of every namespace')
    .option('--force', 'drop a VMI even when its CNI DEL fails');
  act(cmd, (names: string[], f: { all?: boolean; force?: boolean }) => {
    if (!f.all && names.length === 0) usageError(cmd, 'down: give VMI names, or --all');
    if (f.all && names.length > 0) usageError(cmd, 'down: give VMI names or --all, not both');
    return a.down(names, f, globals(cmd));
  });
  return withExamples(cmd, [
    { what: 'tear down vm-bridge', line: 'virtnet down vm-bridge' },
    { what: 'tear down everything', line: 'virtnet down --all' },
  ]);
}

function deleteCommand(a: Actions): Command {
  const cmd = new Command('delete')
    .description('Delete objects. A VM stops its VMI; a NAD in use leaves the running VMs alone.')
    .argument('<kind>', VMI_KINDS)
    .argument('<names...>', "the objects' names");
  act(cmd, (kind: string, names: string[]) => a.delete(kind, names, globals(cmd)));
  return withExamples(cmd, [{ what: 'delete a NAD', line: 'virtnet delete nad blue-net' }]);
}

function validateCommand(a: Actions): Command {
  const cmd = new Command('validate')
    .description(
      'Check manifests as up would, without applying them: the problems with their field paths, or the ' +
        'normalised objects (for Pods, the attachments Multus would make from their annotations)',
    )
    .argument('<files...>', 'manifest files (YAML or JSON; - reads stdin)')
    .addOption(objectOutput());
  act(cmd, (files: string[], f: { output: ObjectFormat }) => a.validate(files, f, globals(cmd)));
  return withExamples(cmd, [
    { what: 'check a manifest', line: 'virtnet validate examples/vm-bridge.yaml' },
    {
      what: 'the objects as namespace team would get them',
      line: 'virtnet -n team validate -o yaml examples/vm-bridge.yaml',
    },
  ]);
}

function gcCommand(a: Actions): Command {
  const cmd = new Command('gc').description(
    'Remove what belongs to VMIs that no longer exist, and the cached images no VMI uses',
  );
  act(cmd, () => a.gc(globals(cmd)));
  return withExamples(cmd, [{ what: 'clean up after a crash', line: 'virtnet gc' }]);
}

function versionCommand(a: Actions): Command {
  const cmd = new Command('version')
    .description('The version of each part of virtnet, and of the system tools it drives')
    .addOption(objectOutput());
  act(cmd, (f: { output: ObjectFormat }) => a.version(f));
  return withExamples(cmd, [
    { what: 'the versions', line: 'virtnet version' },
    { what: 'as JSON', line: 'virtnet version -o json' },
  ]);
}

function completionCommand(a: Actions, root: Command): Command {
  const cmd = new Command('completion')
    .description('A shell completion script for virtnet')
    .addArgument(new Argument('<shell>', 'the shell').choices(SHELLS));
  act(cmd, (shell: Shell) => a.completion(shell, root));
  return withExamples(cmd, [
    { what: 'completion in this bash', line: 'source <(virtnet completion bash)' },
    { what: 'for fish, for good', line: 'virtnet completion fish > ~/.config/fish/completions/virtnet.fish' },
  ]);
}

/** A whole count from 1 to `max`. */
function countUpTo(max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/u.test(value) || n < 1 || n > max) throw new InvalidArgumentError(`a whole number from 1 to ${max}`);
    return n;
  };
}

function cniDaemonCommand(a: Actions): Command {
  const cmd = new Command('cni-daemon')
    .description(
      'Serve CNI calls from the virtnet-bridge shim on a Unix socket, in the foreground until SIGTERM: no Node.js ' +
        'start-up per call. Without it, the shim runs the plugin itself.',
    )
    .addOption(new Option('--socket <path>', 'the socket the shim connects to').default('/run/virtnet/cni.sock'))
    .addOption(new Option('--max-concurrent <n>', 'calls that run at once').argParser(countUpTo(1024)).default(16))
    .addOption(
      new Option('--max-queued <n>', 'calls that wait; more are answered "try again later" (CNI code 11)')
        .argParser(countUpTo(65536))
        .default(256),
    )
    .addOption(new Option('--log-level <level>', 'the least level logged').choices(LEVEL_NAMES).default('info'));
  act(cmd, (f: CniDaemonFlags) => a.cniDaemon(f));
  return withExamples(cmd, [
    { what: 'serve the shim on the default socket', line: 'virtnet cni-daemon' },
    { what: 'at most 4 calls at once', line: 'virtnet cni-daemon --max-concurrent 4' },
  ]);
}

/** `virtnet controller|kubelet`: the cluster binary's role, its flags checked and its help shown here. */
function clusterCommand(a: Actions, role: 'controller' | 'kubelet'): Command {
  const cmd = roleCommand(role);
  act(cmd, () => a.cluster(role, clusterArgs(cmd)));
  return cmd;
}

/** The whole `virtnet` tree; with `actions`, running a command runs them. */
export function virtnetProgram(actions: Actions = UNWIRED): Command {
  const root = new Command('virtnet')
    .description('VMs with Kubernetes pod networking on one machine, kubectl-style')
    .option('-n, --namespace <ns>', 'the namespace of the objects (default "default")', namespaceFlag)
    .option('--state-dir <dir>', 'where virtnet keeps its state (default $VIRTNET_STATE_DIR, else /var/lib/virtnet)')
    .option('--cni-conf-dir <dir>', 'where NADs without spec.config find their CNI config')
    .option(
      '--registries-conf <file>',
      'registries.conf(5) for containerDisk pulls (default $VIRTNET_REGISTRIES_CONF, else /etc/containers)',
    )
    .option('--version', 'the version of each part (as `virtnet version`)')
    .usage('[options] [command]')
    .addArgument(new Argument('[command]', 'the command to run (below); none prints this help'))
    .allowExcessArguments()
    .helpCommand(true);
  for (const cmd of [
    upCommand(actions),
    getCommand(actions),
    describeCommand(actions),
    consoleCommand(actions),
    logsCommand(actions),
    imagesCommand(actions),
    topologyCommand(actions),
    downCommand(actions),
    deleteCommand(actions),
    validateCommand(actions),
    gcCommand(actions),
    versionCommand(actions),
    completionCommand(actions, root),
    clusterCommand(actions, 'controller'),
    clusterCommand(actions, 'kubelet'),
    cniDaemonCommand(actions),
  ])
    root.addCommand(cmd.summary(cmd.summary() || firstSentence(cmd.description())));
  // Root flags count anywhere, but --version only alone: `virtnet up --version` would otherwise run `up`.
  root.hook('preSubcommand', () => {
    if (root.opts<{ version?: boolean }>().version)
      usageError(root, '--version takes no command (or: virtnet version)');
  });
  // With no command, --version or the help; a word that is no command is bad usage (the root's operand catches it).
  act(root, (command: string | undefined, f: { version?: boolean }) => {
    if (command !== undefined) usageError(root, `unknown command '${command}'`);
    if (f.version) return actions.version({ output: 'table' });
    root.outputHelp();
    return EXIT.ok;
  });
  return withExamples(root, [
    { what: 'a VM with a bridge-bound NIC on the pod network', line: 'virtnet up examples/vm-bridge.yaml' },
    { what: 'what runs', line: 'virtnet get vmis' },
    { what: 'help on one command', line: 'virtnet up --help' },
  ]);
}
