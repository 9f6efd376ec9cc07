/**
 * The `get` tables of both CLIs (`virtnet` and `kubectl virtnet`): VMIs, VMs
 * and NetworkAttachmentDefinitions as kubectl prints them, and the v1 List
 * that `-o json|yaml` wraps them in. Pure: the caller does the I/O.
 */
import { stringify } from 'yaml';
import type { VmiStatus } from '../api/status.ts';
import { ageSince } from './age.ts';

/**
 * What the CLI reads of a VirtualMachineInstance. Structural and minimal, so
 * any fuller VMI type (controller/api/schema.ts) can be passed as it is.
 */
export interface VmiView {
  metadata: { name: string; namespace: string; creationTimestamp?: string | undefined };
  status?: VmiStatus | undefined;
}

export interface ListObject<T> {
  apiVersion: 'v1';
  kind: 'List';
  items: T[];
  metadata: { resourceVersion: '' };
}

/** An object as -o json or -o yaml prints it (kubectl's indentation; no trailing newline). */
export function render(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? JSON.stringify(value, null, 2) : stringify(value).trimEnd();
}

/** The envelope kubectl prints around several objects with -o json / -o yaml. */
export function listObject<T>(items: T[]): ListObject<T> {
  return { apiVersion: 'v1', kind: 'List', items, metadata: { resourceVersion: '' } };
}

const HEADER = ['NAMESPACE', 'NAME', 'PHASE', 'IPS', 'AGE'];
const NONE = '<none>';
// kubectl's tabwriter settings (cli-runtime printers): cells are padded by 3 and at least 6 wide.
const CELL_PADDING = 3;
const CELL_MIN_WIDTH = 6;

/** KubeVirt writes ipAddresses, older writers only ipAddress; prefer the list. */
function interfaceIps(iface: VmiStatus['interfaces'][number]): string[] {
  if (iface.ipAddresses?.length) return iface.ipAddresses;
  return iface.ipAddress ? [iface.ipAddress] : [];
}

/** "default=10.0.2.2,fd10::2 blue=192.168.1.5", or <none> as kubectl shows an empty cell. */
export function ipsCell(status: VmiStatus | undefined): string {
  const perInterface = (status?.interfaces ?? []).flatMap((iface) => {
    const ips = interfaceIps(iface);
    return ips.length ? [`${iface.name}=${ips.join(',')}`] : [];
  });
  return perInterface.length ? perInterface.join(' ') : '<none>';
}

/** Rows as tabwriter lays them out: every column but the last padded, so no line has trailing blanks. */
export function alignColumns(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const cellWidth = (i: number) => Math.max((widths[i] ?? 0) + CELL_PADDING, CELL_MIN_WIDTH);
  return rows
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(cellWidth(i)))).join('') + '\n')
    .join('');
}

/**
 * The `virtnet get` table, ordered by namespace then name (the API server's
 * order). No VMIs gives '' : kubectl then prints "No resources found" on
 * stderr, which is the caller's to do.
 */
export function vmiTable(vmis: readonly VmiView[], now: Date): string {
  if (vmis.length === 0) return '';
  return alignColumns([HEADER, ...byKey(vmis).map((vmi) => vmiCells(vmi, now))]);
}

/** The cells of HEADER for one VMI, which the wide tables of both CLIs extend. */
export function vmiCells(vmi: VmiView, now: Date): string[] {
  return [
    vmi.metadata.namespace,
    vmi.metadata.name,
    // A VMI nobody has acted on yet has no status; KubeVirt calls that Pending.
    vmi.status?.phase ?? 'Pending',
    ipsCell(vmi.status),
    ageSince(vmi.metadata.creationTimestamp, now),
  ];
}

/** "default:masquerade blue:bridge": each NIC's binding, as the launcher wired it. */
function bindingsCell(vmi: VmiView): string {
  const nics = vmi.status?.virtnet?.nics ?? [];
  return nics.length ? nics.map((n) => `${n.name}:${n.binding}`).join(' ') : NONE;
}

/** `virtnet get vmis -o wide`: the table plus where each VMI runs on this node (its netns) and its NICs' bindings. */
export function vmiWideTable(vmis: readonly VmiView[], now: Date): string {
  if (vmis.length === 0) return '';
  const rows = byKey(vmis).map((vmi) => [...vmiCells(vmi, now), vmi.status?.virtnet?.netns ?? NONE, bindingsCell(vmi)]);
  return alignColumns([[...HEADER, 'NETNS', 'BINDINGS'], ...rows]);
}

/** What a table reads of any object: where it is and when it was made. */
export interface ObjectView {
  metadata: { name: string; namespace?: string | undefined; creationTimestamp?: string | undefined };
}

/** What the VM table reads: KubeVirt's printer columns come from status.printableStatus and status.ready. */
export interface VmView extends ObjectView {
  status?: { printableStatus?: string | undefined; ready?: boolean | undefined } | undefined;
}

/** What the NAD table reads: the CNI config, whose plugin types say what kind of network it is. */
export interface NadView extends ObjectView {
  spec?: { config?: string | undefined } | undefined;
}

/** An object's namespace, Kubernetes' "default" when the manifest names none. */
export function namespaceOf(o: ObjectView): string {
  return o.metadata.namespace ?? 'default';
}

/** Sorted by namespace/name in plain code-unit order, like etcd's keys; locale collation would vary by machine. */
export function byKey<T extends ObjectView>(items: readonly T[]): T[] {
  const key = (o: T) => `${namespaceOf(o)}/${o.metadata.name}`;
  return [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** An absent value as kubectl prints an empty cell. */
function cell(value: string | boolean | undefined): string {
  return value === undefined || value === '' ? NONE : String(value);
}

/** VMs as KubeVirt's printer columns show them (AGE, STATUS, READY). No VMs gives '', as vmiTable. */
export function vmTable(vms: readonly VmView[], now: Date): string {
  if (vms.length === 0) return '';
  const rows = byKey(vms).map((vm) => [
    namespaceOf(vm),
    vm.metadata.name,
    ageSince(vm.metadata.creationTimestamp, now),
    cell(vm.status?.printableStatus),
    cell(vm.status?.ready),
  ]);
  return alignColumns([['NAMESPACE', 'NAME', 'AGE', 'STATUS', 'READY'], ...rows]);
}

/**
 * The CNI plugin types of a NAD's spec.config, in chain order ("bridge,portmap"):
 * <none> when the config comes from a file on the node, <invalid> when it is no JSON config.
 */
export function cniTypes(nad: NadView): string {
  const config = nad.spec?.config;
  if (!config) return NONE;
  let parsed: unknown;
  try {
    parsed = JSON.parse(config);
  } catch {
    return '<invalid>';
  }
  const plugins = typeOf(parsed) ? [parsed] : (listOf(parsed) ?? []);
  const types = plugins.flatMap((p) => (typeOf(p) ? [typeOf(p)!] : []));
  return types.length ? types.join(',') : '<invalid>';
}

function typeOf(conf: unknown): string | undefined {
  const type = (conf as { type?: unknown } | null)?.type;
  return typeof type === 'string' ? type : undefined;
}

function listOf(conf: unknown): unknown[] | undefined {
  const plugins = (conf as { plugins?: unknown } | null)?.plugins;
  return Array.isArray(plugins) ? plugins : undefined;
}

/** NetworkAttachmentDefinitions with their CNI types. No NADs gives '', as vmiTable. */
export function nadTable(nads: readonly NadView[], now: Date): string {
  if (nads.length === 0) return '';
  const rows = byKey(nads).map((nad) => [
    namespaceOf(nad),
    nad.metadata.name,
    cniTypes(nad),
    ageSince(nad.metadata.creationTimestamp, now),
  ]);
  return alignColumns([['NAMESPACE', 'NAME', 'TYPE', 'AGE'], ...rows]);
}

/** `-o name`: kind/name lines as kubectl prints them (kind in lower case with its API group, e.g. "vm.kubevirt.io"). */
export function nameLines(kind: string, items: readonly ObjectView[]): string {
  return byKey(items)
    .map((o) => `${kind}/${o.metadata.name}`)
    .join('\n');
}
