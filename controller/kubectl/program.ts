/**
 * The command tree of `kubectl virtnet`: commands, operands, options, help
 * and examples, with kubectl's global options (--kubeconfig, --context, -n).
 * Building it has no side effects and loads no cluster client: the docs
 * generator walks it for docs/cli.md, and kubectl_complete-virtnet completes
 * from it. What the commands do comes in as PluginActions (actions.ts).
 */
import { Command, Option } from 'commander';
import { VERSION } from '../../lib/version.ts';
import { act, type Output, usageError, withExamples, withManners } from '../view/command.ts';
import { namespaceFlag } from '../view/namespace.ts';
import { resourceOf } from './resources.ts';

/** kubectl's options, which every command takes before or after its name. */
export interface GlobalFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}
export const GET_FORMATS = ['json', 'yaml', 'wide', 'name'] as const;
export const OBJECT_FORMATS = ['json', 'yaml'] as const;
export type GetFormat = (typeof GET_FORMATS)[number];
export type ObjectFormat = (typeof OBJECT_FORMATS)[number];

export interface GetFlags extends GlobalFlags {
  output?: GetFormat;
  allNamespaces?: boolean;
}
export interface OutputFlags extends GlobalFlags {
  output?: ObjectFormat;
}
export interface TopologyFlags extends GlobalFlags {
  svg?: string;
}

/** What each command does; every one resolves to its exit code. */
export interface PluginActions {
  get(type: string, names: string[], flags: GetFlags): Promise<number>;
  describe(name: string, flags: OutputFlags): Promise<number>;
  topology(name: string, flags: TopologyFlags): Promise<number>;
  validate(files: string[], flags: OutputFlags): Promise<number>;
  console(name: string, flags: GlobalFlags): Promise<number>;
  version(flags: OutputFlags): Promise<number>;
}

/** For a tree that is only walked (docs, completion): running a command is a bug there. */
const WALK_ONLY: PluginActions = new Proxy({} as PluginActions, {
  get: (_, name) => () => Promise.reject(new Error(`kubectl virtnet ${String(name)}: this program is not runnable`)),
});

const SILENT: Output = { out: () => undefined, err: () => undefined };

/** The words that run the plugin, as kubectl shows them in usage and hints. */
export const PLUGIN = 'kubectl virtnet';

export function pluginProgram(actions: PluginActions = WALK_ONLY, o: Output = SILENT): Command {
  const root = new Command(PLUGIN)
    .description('VMs with Kubernetes pod networking on a cluster: VMIs, VMs and NADs, drawn as virtnet draws them')
    .option('--kubeconfig <file>', 'the kubeconfig (default $KUBECONFIG, else ~/.kube/config)')
    .option('--context <name>', 'the kubeconfig context to use (default its current context)')
    .option(
      '-n, --namespace <namespace>',
      "the namespace (default the context's namespace, else default)",
      namespaceFlag,
    )
    .version(`kubectl-virtnet ${VERSION}`, '--version', 'print the version of kubectl-virtnet');
  withExamples(root, [
    { what: 'List the VMIs of every namespace', line: `${PLUGIN} get vmis -A` },
    { what: "Show a VMI's interfaces, wiring, leases and events", line: `${PLUGIN} describe vmi web -n team` },
  ]);
  addGet(root, actions);
  addDescribe(root, actions);
  addTopology(root, actions);
  addValidate(root, actions);
  addConsole(root, actions);
  addVersion(root, actions);
  return withManners(root, o);
}

function output(formats: readonly string[]): Option {
  return new Option('-o, --output <format>', 'the output format').choices(formats);
}

function addGet(root: Command, actions: PluginActions): void {
  const cmd = root
    .command('get')
    .description('list VMIs, VMs or NetworkAttachmentDefinitions, or show them by name')
    .argument('<type>', 'vmis, vms or nads (or any of their singular or long names)')
    .argument('[names...]', 'only these objects (each missing one is an error)')
    .addOption(output(GET_FORMATS))
    .option('-A, --all-namespaces', 'list across all namespaces');
  withExamples(cmd, [
    { what: 'List the VMIs of the current namespace, with their IPs', line: `${PLUGIN} get vmis` },
    { what: 'Add the node and the launcher pod of each', line: `${PLUGIN} get vmis -o wide` },
    { what: 'List the NetworkAttachmentDefinitions of every namespace', line: `${PLUGIN} get nads -A` },
    { what: 'One VMI as YAML', line: `${PLUGIN} get vmi web -n team -o yaml` },
  ]);
  act(cmd, (type: string, names: string[], _: unknown, self: Command) => {
    const flags = self.optsWithGlobals<GetFlags>();
    if (flags.allNamespaces && names.length)
      usageError(self, 'a resource cannot be retrieved by name across all namespaces');
    return actions.get(type, names, flags);
  });
}

function addDescribe(root: Command, actions: PluginActions): void {
  const cmd = root
    .command('describe')
    .description("a VMI's conditions, interfaces, wiring, DHCP leases, launcher steps and events")
    .argument('<type-or-name>', 'vmi, then the name; or the VMI name alone')
    .argument('[name]', 'the VMI, after the type vmi')
    .addOption(output(OBJECT_FORMATS));
  withExamples(cmd, [
    { what: 'Describe the VMI web', line: `${PLUGIN} describe vmi web` },
    { what: 'The same VMI as JSON', line: `${PLUGIN} describe web -o json` },
  ]);
  act(cmd, (first: string, second: string | undefined, _: unknown, self: Command) => {
    const isType = resourceOf(first) === 'virtualmachineinstances';
    const name = second === undefined ? (isType ? undefined : first) : isType ? second : undefined;
    if (name === undefined) usageError(self, 'describe: give one VMI name (describe vmi NAME)');
    return actions.describe(name, self.optsWithGlobals<OutputFlags>());
  });
}

function addTopology(root: Command, actions: PluginActions): void {
  const cmd = root
    .command('topology')
    .description("a VMI's networks -> pod interfaces -> bridges -> taps -> VM NICs, as text (and SVG)")
    .argument('<name>', 'the VMI')
    .option('--svg <file>', 'also write the picture as SVG to this file');
  withExamples(cmd, [{ what: 'Draw the VMI web, also as web.svg', line: `${PLUGIN} topology web --svg web.svg` }]);
  act(cmd, (name: string, _: unknown, self: Command) => actions.topology(name, self.optsWithGlobals<TopologyFlags>()));
}

function addValidate(root: Command, actions: PluginActions): void {
  const cmd = root
    .command('validate')
    .description(
      'check manifests offline: every problem with its field path, or the normalised objects ' +
        '(NAD references are checked against the cluster when it answers)',
    )
    .argument('<files...>', 'YAML or JSON manifests (- for stdin)')
    .addOption(output(OBJECT_FORMATS));
  withExamples(cmd, [
    { what: 'Check a manifest before applying it', line: `${PLUGIN} validate vmi.yaml` },
    { what: 'The objects as the controller will read them', line: `${PLUGIN} validate -o yaml vmi.yaml` },
  ]);
  act(cmd, (files: string[], _: unknown, self: Command) =>
    actions.validate(files, self.optsWithGlobals<OutputFlags>()),
  );
}

function addConsole(root: Command, actions: PluginActions): void {
  const cmd = root
    .command('console')
    .description("the VM's serial console, in its launcher pod (Ctrl-] detaches)")
    .argument('<name>', 'the VMI');
  withExamples(cmd, [{ what: 'Log in to the VM of the VMI web', line: `${PLUGIN} console web` }]);
  act(cmd, (name: string, _: unknown, self: Command) => actions.console(name, self.optsWithGlobals<GlobalFlags>()));
}

function addVersion(root: Command, actions: PluginActions): void {
  const cmd = root
    .command('version')
    .description('print the version of kubectl-virtnet')
    .addOption(output(OBJECT_FORMATS));
  withExamples(cmd, [{ what: 'The version, as JSON', line: `${PLUGIN} version -o json` }]);
  act(cmd, (_: unknown, self: Command) => actions.version(self.optsWithGlobals<OutputFlags>()));
}
