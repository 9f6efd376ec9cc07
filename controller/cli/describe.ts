/**
 * `virtnet describe`: one VMI as kubectl describe prints an object, labels
 * and values in aligned columns, with a section per NIC drawn from the wiring
 * the launcher reported (status.virtnet), so a user can follow a packet's
 * path without entering the pod's namespace.
 */
import type { NicWiring } from '../api/status.ts';
import { ageSince } from './age.ts';
import type { VmiView } from './table.ts';

const NONE = '<none>';
const INDENT = '  ';

/** "Label:" then the value, values of one group starting in one column, as kubectl's tabwriter lays them. */
function fieldLines(indent: string, fields: Array<[string, string]>): string[] {
  const labelWidth = Math.max(...fields.map(([label]) => label.length + 1));
  return fields.map(([label, value]) => `${indent}${`${label}:`.padEnd(labelWidth)}  ${value}`);
}

function listOrNone(values: readonly string[]): string {
  return values.length ? values.join(', ') : NONE;
}

/** Which DHCP leases the guest took; a NIC without addresses (L2 only) gets no DHCP server at all. */
export function leaseState(nic: Pick<NicWiring, 'ips' | 'leased4' | 'leased6'>): string {
  if (nic.ips.length === 0) return 'no DHCP';
  const families = [...(nic.leased4 ? ['IPv4'] : []), ...(nic.leased6 ? ['IPv6'] : [])];
  return families.length ? `leased (${families.join(', ')})` : 'waiting';
}

/** Only masquerade forwards ports; it forwards all of them unless the spec lists some. */
export function forwardedPorts(nic: Pick<NicWiring, 'binding' | 'ports'>): string {
  if (nic.binding === 'bridge') return '-';
  return nic.ports.length ? nic.ports.join(', ') : 'all';
}

function nicLines(nic: NicWiring): string[] {
  return [
    `${INDENT}${nic.name}:`,
    ...fieldLines(INDENT.repeat(2), [
      ['Network', nic.network],
      ['Binding', nic.binding],
      ['Pod Interface', nic.podInterface],
      ['Bridge', nic.bridge],
      ['Tap', nic.tap],
      ['MAC', nic.mac],
      ['Model', nic.model],
      ['MTU', String(nic.mtu)],
      ['Guest IPs', listOrNone(nic.ips)],
      ['Pod IPs', listOrNone(nic.podIps)],
      ['Lease', leaseState(nic)],
      ['Ports', forwardedPorts(nic)],
    ]),
  ];
}

function stepLines(steps: ReadonlyArray<{ name: string; ms: number }>): string[] {
  if (steps.length === 0) return [`Steps:  ${NONE}`];
  const nameWidth = Math.max(...steps.map((s) => s.name.length));
  const shown = steps.map((s) => String(Math.round(s.ms)));
  const msWidth = Math.max(...shown.map((ms) => ms.length));
  // Durations right-aligned so their magnitudes compare down the column.
  return ['Steps:', ...steps.map((s, i) => `${INDENT}${s.name.padEnd(nameWidth)}  ${shown[i]!.padStart(msWidth)} ms`)];
}

/** The describe text of one VMI at time `now` (which the ages are relative to). */
export function describeVmi(vmi: VmiView, now: Date): string {
  const status = vmi.status;
  const wiring = status?.virtnet;
  const created = vmi.metadata.creationTimestamp;
  const header = fieldLines('', [
    ['Name', vmi.metadata.name],
    ['Namespace', vmi.metadata.namespace],
    ['Phase', status?.phase ?? 'Pending'],
    ...(status?.reason ? [['Reason', status.reason] as [string, string]] : []),
    ['Created', created ? `${created} (${ageSince(created, now)} ago)` : NONE],
    ['Netns', wiring?.netns ?? NONE],
    ['Launcher PID', wiring?.launcherPid === undefined ? NONE : String(wiring.launcherPid)],
    ['Accel', wiring?.accel ?? NONE],
  ]);
  const nics = wiring?.nics ?? [];
  // Until the launcher has wired the pod there is nothing to show but the fact.
  const interfaces = nics.length ? ['Interfaces:', ...nics.flatMap(nicLines)] : ['Interfaces:  (no network yet)'];
  return [...header, ...interfaces, ...stepLines(wiring?.steps ?? [])].join('\n') + '\n';
}
