/**
 * kubectl-virtnet, the kubectl plugin (`kubectl virtnet …` runs the executable
 * of that name found on PATH): the standalone CLI's read commands against a
 * cluster, drawn by the same pure renderers (controller/cli), so a VMI looks
 * the same on one machine and on a cluster.
 *   get vmis|vms|nads [NAME…]   -o json|yaml|wide, -A/--all-namespaces
 *   describe vmi NAME           -o json|yaml
 *   topology NAME [--svg FILE]
 *   validate [-o json|yaml] FILE…   offline; NAD existence checked when a cluster answers
 *   console NAME                the launcher pod's serial console, through exec
 * kubectl's options and rules: --kubeconfig, --context, -n (default: the
 * context's namespace, else "default"), errors worded as kubectl's, exit 1 on
 * an error and 2 on a usage mistake.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { readManifestFiles } from '../view/sources.ts';
import {
  formatProblems,
  validateManifests,
  type Manifest,
  type Problem,
  type ValidationContext,
} from '../api/manifests.ts';
import type { VmiStatus } from '../api/status.ts';
import { ageSince } from '../view/age.ts';
import { describeVmi, type EventView } from '../view/describe.ts';
import { alignColumns, listObject, render, vmiTable, type VmiView } from '../view/table.ts';
import { topologySvg, topologyText } from '../view/topology.ts';
import type { Output } from '../cli/up.ts';
import { VMI_LABEL, VMI_UID_LABEL } from '../render/pod.ts';
import {
  ConfigError,
  ConnectError,
  PluginClient,
  ServerError,
  type ConnectOptions,
  type ConsoleTarget,
  type PluginResource,
} from '../kube/plugin-api.ts';

type Obj = Record<string, any>;
type Format = 'table' | 'wide' | 'json' | 'yaml';

const USAGE = `usage: kubectl virtnet <command> [options]
  get vmis|vms|nads [NAME...]       list (-o json|yaml|wide, -A/--all-namespaces)
  describe vmi NAME                 conditions, interfaces, wiring, leases, steps and events (-o json|yaml)
  topology NAME [--svg FILE]        networks -> pod interfaces -> bridges -> taps -> VM NICs
  validate [-o json|yaml] FILE...   every problem with its field path, or the normalised objects
                                    (NAD references are checked against the cluster when it answers)
  console NAME                      the VM's serial console in its launcher pod (Ctrl-] detaches)
options: --kubeconfig FILE   --context NAME   -n, --namespace NS   -o, --output FORMAT`;

/** Where the launcher keeps its state in the pod (render/pod.ts mounts it there), and the container it runs in. */
export const LAUNCHER_CONTAINER = 'compute';
export const LAUNCHER_STATE_DIR = '/var/run/virtnet/state';

const RESOURCES: Record<string, PluginResource> = {
  vmi: 'virtualmachineinstances',
  vmis: 'virtualmachineinstances',
  virtualmachineinstance: 'virtualmachineinstances',
  virtualmachineinstances: 'virtualmachineinstances',
  vm: 'virtualmachines',
  vms: 'virtualmachines',
  virtualmachine: 'virtualmachines',
  virtualmachines: 'virtualmachines',
  nad: 'network-attachment-definitions',
  nads: 'network-attachment-definitions',
  'net-attach-def': 'network-attachment-definitions',
  'network-attachment-definition': 'network-attachment-definitions',
  'network-attachment-definitions': 'network-attachment-definitions',
};

const stdio: Output = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) };

function usage(o: Output, problem: string): number {
  o.err(`error: ${problem}\nSee 'kubectl virtnet --help' for usage.`);
  return 2;
}

/** A failure as kubectl prints it; anything unexpected is still one `error:` line, not a stack. */
function errorLine(err: unknown): string {
  if (err instanceof ServerError) return `Error from server${err.reason ? ` (${err.reason})` : ''}: ${err.message}`;
  if (err instanceof ConnectError) return err.message;
  return `error: ${(err as Error).message}`;
}

// ---- tables ---------------------------------------------------------------

const byKey = (a: Obj, b: Obj) => {
  // Code-unit order of namespace/name, as table.ts sorts VMIs (the API server's order).
  const ka = `${a.metadata.namespace}/${a.metadata.name}`;
  const kb = `${b.metadata.namespace}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};
const cell = (v: unknown) => (v === undefined || v === null || v === '' ? '<none>' : String(v));

/** The IPS cell of table.ts (not exported there): "default=10.0.2.2,fd10::2 blue=192.168.1.5". */
function ipsCell(status: VmiStatus | undefined): string {
  const cells = (status?.interfaces ?? []).flatMap((i) => {
    const ips = i.ipAddresses?.length ? i.ipAddresses : i.ipAddress ? [i.ipAddress] : [];
    return ips.length ? [`${i.name}=${ips.join(',')}`] : [];
  });
  return cells.length ? cells.join(' ') : '<none>';
}

/** `get vmis -o wide`: the standalone table plus where the VMI runs: its node and its launcher pod. */
export function wideVmiTable(vmis: readonly VmiView[], now: Date): string {
  if (!vmis.length) return '';
  const rows = [...vmis]
    .sort(byKey)
    .map((v) => [
      v.metadata.namespace,
      v.metadata.name,
      v.status?.phase ?? 'Pending',
      ipsCell(v.status),
      ageSince(v.metadata.creationTimestamp, now),
      cell(v.status?.nodeName),
      cell(v.status?.launcherPod?.name),
    ]);
  return alignColumns([['NAMESPACE', 'NAME', 'PHASE', 'IPS', 'AGE', 'NODE', 'LAUNCHER POD'], ...rows]);
}

/** VMs as KubeVirt's printer columns show them (status.printableStatus and status.ready, which the controller writes). */
export function vmTable(vms: readonly Obj[], now: Date): string {
  if (!vms.length) return '';
  const rows = [...vms]
    .sort(byKey)
    .map((v) => [
      v.metadata.namespace,
      v.metadata.name,
      ageSince(v.metadata.creationTimestamp, now),
      cell(v.status?.printableStatus),
      cell(v.status?.ready),
    ]);
  return alignColumns([['NAMESPACE', 'NAME', 'AGE', 'STATUS', 'READY'], ...rows]);
}

export function nadTable(nads: readonly Obj[], now: Date): string {
  if (!nads.length) return '';
  const rows = [...nads]
    .sort(byKey)
    .map((n) => [n.metadata.namespace, n.metadata.name, ageSince(n.metadata.creationTimestamp, now)]);
  return alignColumns([['NAMESPACE', 'NAME', 'AGE'], ...rows]);
}

function table(r: PluginResource, items: Obj[], wide: boolean, now: Date): string {
  if (r === 'virtualmachines') return vmTable(items, now);
  if (r === 'network-attachment-definitions') return nadTable(items, now);
  return wide ? wideVmiTable(items as VmiView[], now) : vmiTable(items as VmiView[], now);
}

// ---- console --------------------------------------------------------------

/**
 * Which pod, container and command `console` execs: the VMI's launcher pod
 * (labelled with its name, and its uid when the pod carries one, so a pod of
 * an earlier VMI of the same name is never picked), running and not being
 * deleted, the one status.launcherPod names first. Pure, so it is tested
 * without exec (which the test API server lacks).
 */
export function consoleTarget(vmi: Obj, pods: readonly Obj[]): ConsoleTarget | { error: string } {
  const { name, namespace, uid } = vmi.metadata as { name: string; namespace: string; uid?: string };
  const mine = pods.filter((p) => {
    const labels = (p.metadata?.labels ?? {}) as Record<string, string>;
    return (
      labels[VMI_LABEL] === name &&
      (!uid || !labels[VMI_UID_LABEL] || labels[VMI_UID_LABEL] === uid) &&
      !p.metadata?.deletionTimestamp
    );
  });
  const running = mine.filter((p) => p.status?.phase === 'Running');
  const pod = running.find((p) => p.metadata.name === vmi.status?.launcherPod?.name) ?? running[0];
  if (!pod) {
    const why = mine[0]
      ? `its launcher pod ${mine[0].metadata.name} is ${mine[0].status?.phase ?? 'Pending'}`
      : 'it has no launcher pod';
    return {
      error: `VirtualMachineInstance ${namespace}/${name} has no running launcher pod: ${why} (VMI phase ${vmi.status?.phase ?? 'Pending'})`,
    };
  }
  return {
    namespace: pod.metadata.namespace ?? namespace,
    pod: pod.metadata.name,
    container: LAUNCHER_CONTAINER,
    command: ['virtnet-launcher', 'console', '--state-dir', LAUNCHER_STATE_DIR],
  };
}

// ---- validate -------------------------------------------------------------

/** What `kubectl apply` would do: an object without a namespace lands in the command's namespace. */
function inNamespace(manifests: Manifest[], namespace: string): Manifest[] {
  return manifests.map((m) => {
    const meta = (m.object as Obj | null)?.metadata;
    if (typeof meta !== 'object' || meta === null || Array.isArray(meta) || meta.namespace !== undefined) return m;
    return { ...m, object: { ...(m.object as Obj), metadata: { ...meta, namespace } } };
  });
}

/** A cluster that does not answer must not hold up an offline check for long. */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ConnectError(`Unable to connect to the server: no answer in ${ms / 1000} s`)),
      ms,
    );
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The NADs the batch names (found by a first pass that records what the
 * rules ask about), looked up on the cluster. Undefined, with a note, when
 * there is no cluster to ask: the rules then skip NAD existence, as offline.
 */
async function clusterNads(
  manifests: Manifest[],
  client: PluginClient | ConfigError,
  o: Output,
): Promise<ValidationContext | undefined> {
  const asked = new Set<string>();
  validateManifests(manifests, { nadExists: (ns, name) => (asked.add(`${ns}/${name}`), true) });
  if (!asked.size) return undefined;
  const skip = (why: string) => {
    o.err(`note: NetworkAttachmentDefinition references not checked (${why})`);
    return undefined;
  };
  if (client instanceof ConfigError) return skip(client.message);
  const found = new Map<string, boolean>();
  const results = await Promise.allSettled(
    [...asked].map(async (key) => {
      const [ns, name] = key.split('/') as [string, string];
      await within(client.get('network-attachment-definitions', ns, name), 5000);
      found.set(key, true);
    }),
  );
  const failures = results.flatMap((r, i) =>
    r.status === 'rejected' ? [{ key: [...asked][i]!, err: r.reason as unknown }] : [],
  );
  const unreachable = failures.find((f) => !(f.err instanceof ServerError));
  if (unreachable) return skip(`no cluster answers: ${errorLine(unreachable.err)}`);
  for (const { key, err } of failures) {
    // 404 is an answer: the NAD is missing. Anything else (403, say) leaves that one unchecked.
    if ((err as ServerError).code === 404) found.set(key, false);
    else o.err(`note: NetworkAttachmentDefinition ${key} not checked (${errorLine(err)})`);
  }
  return { nadExists: (ns, name) => found.get(`${ns}/${name}`) ?? true };
}

async function validate(
  files: string[],
  format: Format,
  namespace: string | undefined,
  conn: ConnectOptions,
  o: Output,
): Promise<number> {
  const read = readManifestFiles(files);
  const problems: Problem[] = read.problems;
  let manifests = read.manifests;
  let client: PluginClient | ConfigError;
  try {
    client = PluginClient.connect(conn);
  } catch (err) {
    client = err as ConfigError;
  }
  manifests = inNamespace(
    manifests,
    namespace ?? (client instanceof PluginClient ? client.contextNamespace : undefined) ?? 'default',
  );
  const result = validateManifests(manifests, await clusterNads(manifests, client, o));
  problems.push(...result.problems);
  const objects = result.objects.map((x) => x.object);
  if (format === 'json' || format === 'yaml') {
    o.out(
      render(
        problems.length ? { valid: false, problems } : objects.length === 1 ? objects[0] : listObject(objects),
        format,
      ),
    );
  } else if (problems.length) o.err(formatProblems(problems));
  else o.out(`valid: ${result.objects.map((x) => `${x.kind}/${x.object.metadata.name}`).join(', ')}`);
  return problems.length ? 1 : 0;
}

// ---- the cluster commands -------------------------------------------------

async function get(
  client: PluginClient,
  r: PluginResource,
  names: string[],
  namespace: string | undefined,
  format: Format,
  o: Output,
): Promise<number> {
  let items: Obj[];
  let rc = 0;
  if (names.length) {
    // One GET per name, as kubectl: the found ones are printed, each missing one is an error.
    const results = await Promise.allSettled(names.map((n) => client.get(r, namespace!, n)));
    items = results.flatMap((x) => (x.status === 'fulfilled' ? [x.value] : []));
    for (const x of results) {
      if (x.status === 'rejected') {
        if (!(x.reason instanceof ServerError)) throw x.reason;
        o.err(errorLine(x.reason));
        rc = 1;
      }
    }
  } else items = await client.list(r, namespace);
  if (format === 'json' || format === 'yaml') {
    if (names.length !== 1 || items.length) o.out(render(names.length === 1 ? items[0] : listObject(items), format));
  } else if (items.length) o.out(table(r, items, format === 'wide', new Date()).trimEnd());
  else if (!names.length) o.err(namespace ? `No resources found in ${namespace} namespace.` : 'No resources found');
  return rc;
}

async function getVmi(client: PluginClient, namespace: string, name: string): Promise<VmiView & Obj> {
  return (await client.get('virtualmachineinstances', namespace, name)) as VmiView & Obj;
}

/** The VMI's Events, as kubectl describe shows them; one that cannot be listed (RBAC) is a note, not a failure. */
async function eventsOf(client: PluginClient, vmi: VmiView & Obj, o: Output): Promise<EventView[] | undefined> {
  try {
    const { name, namespace, uid } = vmi.metadata as { name: string; namespace: string; uid?: string };
    return (await client.eventsAbout({
      kind: String(vmi.kind ?? 'VirtualMachineInstance'),
      name,
      namespace,
      ...(uid && { uid }),
    })) as EventView[];
  } catch (err) {
    if (!(err instanceof ServerError)) throw err;
    o.err(`note: events not listed (${errorLine(err)})`);
    return undefined;
  }
}

async function console_(client: PluginClient, namespace: string, name: string, o: Output): Promise<number> {
  const vmi = await getVmi(client, namespace, name);
  const target = consoleTarget(vmi, await client.pods(namespace, `${VMI_LABEL}=${name}`));
  if ('error' in target) {
    o.err(`error: ${target.error}`);
    return 1;
  }
  o.err(`Successfully connected to ${name} console. The escape sequence is ^]`);
  return client.execInteractive(target);
}

export async function main(argv: string[], o: Output = stdio): Promise<number> {
  // biome-ignore lint/suspicious/noImplicitAnyLet: parseArgs's type follows its options; this parser is replaced by commander.
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        namespace: { type: 'string', short: 'n' },
        'all-namespaces': { type: 'boolean', short: 'A' },
        output: { type: 'string', short: 'o' },
        svg: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    return usage(o, (err as Error).message);
  }
  const { values: v, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (v.help || !command) {
    o.out(USAGE);
    return command || v.help ? 0 : 2;
  }
  const format = (v.output ?? 'table') as Format;
  const formats: Record<string, Format[]> = {
    get: ['table', 'wide', 'json', 'yaml'],
    describe: ['table', 'json', 'yaml'],
    validate: ['table', 'json', 'yaml'],
  };
  if (v.output !== undefined && !(formats[command] ?? []).includes(format)) {
    return usage(
      o,
      `-o ${v.output} is not a format of ${command} (${(formats[command] ?? ['none']).filter((f) => f !== 'table').join(', ')})`,
    );
  }
  if (v['all-namespaces'] && command !== 'get') return usage(o, `-A/--all-namespaces is only for get`);
  const conn: ConnectOptions = { kubeconfig: v.kubeconfig, context: v.context };
  if (command === 'validate')
    return rest.length ? validate(rest, format, v.namespace, conn, o) : usage(o, 'validate: give one or more files');
  try {
    const client = PluginClient.connect(conn);
    const namespace = v.namespace ?? client.contextNamespace ?? 'default';
    switch (command) {
      case 'get': {
        const r = RESOURCES[(rest[0] ?? '').toLowerCase()];
        if (!rest[0]) return usage(o, 'get: give a resource type (vmis, vms or nads)');
        if (!r) {
          o.err(`error: the server doesn't have a resource type "${rest[0]}" (use vmis, vms or nads)`);
          return 1;
        }
        if (v['all-namespaces'] && rest.length > 1)
          return usage(o, 'a resource cannot be retrieved by name across all namespaces');
        return await get(client, r, rest.slice(1), v['all-namespaces'] ? undefined : namespace, format, o);
      }
      case 'describe': {
        const names = rest[0] && RESOURCES[rest[0].toLowerCase()] === 'virtualmachineinstances' ? rest.slice(1) : rest;
        if (names.length !== 1) return usage(o, 'describe: give one VMI name (describe vmi NAME)');
        const vmi = await getVmi(client, namespace, names[0]!);
        if (format === 'json' || format === 'yaml') o.out(render(vmi, format));
        else o.out(describeVmi(vmi, new Date(), await eventsOf(client, vmi, o)).trimEnd());
        return 0;
      }
      case 'topology': {
        if (rest.length !== 1) return usage(o, 'topology: give one VMI name');
        const vmi = await getVmi(client, namespace, rest[0]!);
        o.out(topologyText(vmi).trimEnd());
        if (v.svg) {
          writeFileSync(v.svg, topologySvg(vmi));
          o.out(`wrote ${v.svg}`);
        }
        return 0;
      }
      case 'console':
        if (rest.length !== 1) return usage(o, 'console: give one VMI name');
        return await console_(client, namespace, rest[0]!, o);
      default:
        return usage(o, `unknown command "${command}"`);
    }
  } catch (err) {
    if (!(err instanceof ServerError || err instanceof ConnectError || err instanceof ConfigError)) throw err;
    o.err(errorLine(err));
    return 1;
  }
}

// Run when executed (the kubectl-virtnet bundle, or tsx), not when imported by tests.
if (process.argv[1] && /(kubectl-virtnet|kubectl[/\\]main\.ts)$/u.test(process.argv[1])) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      stdio.err(`error: ${err.message}`);
      process.exit(1);
    },
  );
}
