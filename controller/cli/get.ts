/**
 * `virtnet get vmis|vms|nads [NAME…]`: the objects of one namespace (or all,
 * -A) as kubectl prints them: a table, `-o wide`, `-o name` lines, or the
 * objects as JSON or YAML. "No resources found" goes to stderr with exit 0,
 * as kubectl's; a missing named object is NotFound with exit 1.
 */
import type { NodeRuntime } from '../node/runtime.ts';
import type { Output } from '../view/command.ts';
import {
  listObject,
  nadTable,
  nameLines,
  namespaceOf,
  render,
  vmiTable,
  vmiWideTable,
  vmTable,
  type NadView,
  type ObjectView,
  type VmiView,
  type VmView,
} from '../view/table.ts';
import type { ListFormat } from './program.ts';

export type Kind = 'vmis' | 'vms' | 'nads';

const KINDS: Record<string, Kind> = {
  vmi: 'vmis',
  vmis: 'vmis',
  virtualmachineinstance: 'vmis',
  virtualmachineinstances: 'vmis',
  vm: 'vms',
  vms: 'vms',
  virtualmachine: 'vms',
  virtualmachines: 'vms',
  nad: 'nads',
  nads: 'nads',
  'network-attachment-definition': 'nads',
  'network-attachment-definitions': 'nads',
  networkattachmentdefinitions: 'nads',
  'net-attach-def': 'nads',
};

/** What `-o name` prints before the slash: kubectl's singular resource name with its API group. */
const NAME_PREFIX: Record<Kind, string> = {
  vmis: 'virtualmachineinstance.kubevirt.io',
  vms: 'virtualmachine.kubevirt.io',
  nads: 'network-attachment-definition.k8s.cni.cncf.io',
};

/** The resource a user's word names (vmi, vms, net-attach-def, …), or undefined. */
export function kindOf(word: string): Kind | undefined {
  return KINDS[word.toLowerCase()];
}

/** kubectl's words for an unknown resource type. */
export function unknownKind(word: string, o: Output): number {
  o.err(`error: the server doesn't have a resource type "${word}" (use vmis, vms or nads)`);
  return 1;
}

/** The VMIs with their status, as the views read them (the runtime's objects are untyped records). */
export function vmiViews(rt: NodeRuntime): VmiView[] {
  return rt.list() as VmiView[];
}

/**
 * VMs with KubeVirt's printable status, from their VMIs on this node: a VM
 * whose VMI runs is Running and ready; one without a VMI is Stopped.
 */
function vmViews(rt: NodeRuntime): VmView[] {
  const vmis = new Map(vmiViews(rt).map((v) => [`${v.metadata.namespace}/${v.metadata.name}`, v]));
  return rt.store.listObjects<VmView>('vms').map((vm) => {
    const vmi = vmis.get(`${namespaceOf(vm)}/${vm.metadata.name}`);
    const phase = vmi ? (vmi.status?.phase ?? 'Pending') : 'Stopped';
    return { ...vm, status: { printableStatus: phase, ready: phase === 'Running' } };
  });
}

function objectsOf(rt: NodeRuntime, kind: Kind): ObjectView[] {
  if (kind === 'vmis') return vmiViews(rt);
  if (kind === 'vms') return vmViews(rt);
  return rt.store.listObjects<NadView>('nads');
}

function table(kind: Kind, items: ObjectView[], wide: boolean, now: Date): string {
  if (kind === 'vms') return vmTable(items as VmView[], now);
  if (kind === 'nads') return nadTable(items as NadView[], now);
  return wide ? vmiWideTable(items as VmiView[], now) : vmiTable(items as VmiView[], now);
}

function print(kind: Kind, items: ObjectView[], one: boolean, format: ListFormat, o: Output): void {
  if (format === 'json' || format === 'yaml') o.out(render(one && items[0] ? items[0] : listObject(items), format));
  else if (format === 'name') o.out(nameLines(NAME_PREFIX[kind], items));
  else o.out(table(kind, items, format === 'wide', new Date()).trimEnd());
}

export interface GetOptions {
  /** The namespace to list; undefined lists every namespace (-A). */
  namespace: string | undefined;
  format: ListFormat;
}

export function get(rt: NodeRuntime, kindWord: string, names: string[], opts: GetOptions, o: Output): number {
  const kind = kindOf(kindWord);
  if (!kind) return unknownKind(kindWord, o);
  const { namespace, format } = opts;
  let items = objectsOf(rt, kind).filter((i) => namespace === undefined || namespaceOf(i) === namespace);
  const missing = names.filter((n) => !items.some((i) => i.metadata.name === n));
  const where = namespace === undefined ? '' : ` in namespace "${namespace}"`;
  for (const n of missing) o.err(`Error from server (NotFound): ${kind} "${n}" not found${where}`);
  if (names.length) items = items.filter((i) => names.includes(i.metadata.name));
  if (missing.length) {
    if (items.length) print(kind, items, false, format, o);
    return 1;
  }
  if (!items.length && (format === 'table' || format === 'wide' || format === 'name')) {
    o.err(namespace === undefined ? 'No resources found' : `No resources found in ${namespace} namespace.`);
    return 0;
  }
  print(kind, items, names.length === 1, format, o);
  return 0;
}
