/**
 * `virtnet get`: VMIs as kubectl prints a table (`-o wide`-like IPs), and the
 * v1 List that `-o json|yaml` wraps them in. Pure: the caller does the I/O.
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
// kubectl's tabwriter settings (cli-runtime printers): cells are padded by 3 and at least 6 wide.
const CELL_PADDING = 3;
const CELL_MIN_WIDTH = 6;

/** KubeVirt writes ipAddresses, older writers only ipAddress; prefer the list. */
function interfaceIps(iface: VmiStatus['interfaces'][number]): string[] {
  if (iface.ipAddresses?.length) return iface.ipAddresses;
  return iface.ipAddress ? [iface.ipAddress] : [];
}

/** "default=10.0.2.2,fd10::2 blue=192.168.1.5", or <none> as kubectl shows an empty cell. */
function ipsCell(vmi: VmiView): string {
  const perInterface = (vmi.status?.interfaces ?? []).flatMap((iface) => {
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
  const key = (vmi: VmiView) => `${vmi.metadata.namespace}/${vmi.metadata.name}`;
  // Plain code-unit order, like etcd's keys; locale collation would vary by machine.
  const sorted = [...vmis].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  const rows = sorted.map((vmi) => [
    vmi.metadata.namespace,
    vmi.metadata.name,
    // A VMI nobody has acted on yet has no status; KubeVirt calls that Pending.
    vmi.status?.phase ?? 'Pending',
    ipsCell(vmi),
    ageSince(vmi.metadata.creationTimestamp, now),
  ]);
  return alignColumns([HEADER, ...rows]);
}
