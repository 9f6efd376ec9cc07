/**
 * `virtnet describe`: one VMI as kubectl describe prints an object, labels
 * and values in aligned columns, with a section per NIC drawn from the wiring
 * the launcher reported (status.virtnet), so a user can follow a packet's
 * path without entering the pod's namespace, and the conditions as kubectl
 * lists a pod's. On a standalone node the VMI lives in a netns with a
 * launcher pid; on a cluster in a launcher pod on a node, which are shown
 * instead (a pod's netns is the container runtime's to name).
 */
import type { NicWiring, VmiCondition, VmiStatus } from '../api/status.ts';
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

/** How the NIC came and how it stands: plugged at boot or later, being removed, its link. */
export function nicState(nic: Pick<NicWiring, 'hotplugged' | 'removing' | 'linkState'>): string {
  const came = nic.hotplugged ? 'hot-plugged' : 'at boot';
  const going = nic.removing ? ', being removed (waiting for the guest to release it)' : '';
  return `${came}${going}, link ${nic.linkState ?? 'up'}`;
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
      ['State', nicState(nic)],
    ]),
  ];
}

/** Columns as kubectl's describe tabwriter lays them: two blanks between, none trailing. */
function tableLines(indent: string, rows: string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) =>
    `${indent}${r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')}`.trimEnd(),
  );
}

/** status.conditions: type, status, reason, how long it has held (when known), message. */
export function conditionLines(conditions: readonly VmiCondition[] | undefined, now: Date): string[] {
  if (!conditions?.length) return [`Conditions:  ${NONE}`];
  const header = ['Type', 'Status', 'Reason', 'Since', 'Message'];
  const rows = conditions.map((c) => [
    c.type,
    c.status,
    c.reason ?? '',
    c.lastTransitionTime ? ageSince(c.lastTransitionTime, now) : '-',
    c.message ?? '',
  ]);
  return ['Conditions:', ...tableLines(INDENT, [header, header.map((h) => '-'.repeat(h.length)), ...rows])];
}

/** Where the VMI runs: its netns and launcher on a node, its node and launcher pod on a cluster. */
function placeFields(status: VmiStatus | undefined): Array<[string, string]> {
  const wiring = status?.virtnet;
  const netns: [string, string] = ['Netns', wiring?.netns ?? NONE];
  const pid: [string, string] = ['Launcher PID', wiring?.launcherPid === undefined ? NONE : String(wiring.launcherPid)];
  if (!status?.launcherPod) return [netns, pid];
  // On a cluster the netns and pid are shown only if some writer knows them.
  return [
    ['Node', status.nodeName ?? NONE],
    ['Launcher Pod', status.launcherPod.name],
    ...(wiring?.netns !== undefined ? [netns] : []),
    ...(wiring?.launcherPid !== undefined ? [pid] : []),
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

/** What describe shows of a core/v1 Event (kubectl's columns). */
export interface EventView {
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  firstTimestamp?: string | Date | null;
  lastTimestamp?: string | Date | null;
  source?: { component?: string } | null;
}

const stamp = (t: string | Date | null | undefined) => (t instanceof Date ? t.toISOString() : (t ?? undefined));

/**
 * The Events section as kubectl describe prints it (describe.go
 * DescribeEvents): oldest first by lastTimestamp, "AGE (xN over FIRST)" for
 * a repeated one.
 */
export function eventLines(events: readonly EventView[], now: Date): string[] {
  if (!events.length) return [`Events:  ${NONE}`];
  const last = (e: EventView) => Date.parse(stamp(e.lastTimestamp) ?? stamp(e.firstTimestamp) ?? '') || 0;
  const rows = [...events]
    .sort((a, b) => last(a) - last(b))
    .map((e) => {
      const first = ageSince(stamp(e.firstTimestamp), now);
      const age = (e.count ?? 1) > 1 ? `${ageSince(stamp(e.lastTimestamp), now)} (x${e.count} over ${first})` : first;
      return [e.type ?? '', e.reason ?? '', age, e.source?.component ?? '', (e.message ?? '').trim()];
    });
  return [
    'Events:',
    ...tableLines(INDENT, [
      ['Type', 'Reason', 'Age', 'From', 'Message'],
      ['----', '------', '----', '----', '-------'],
      ...rows,
    ]),
  ];
}

/**
 * The describe text of one VMI at time `now` (which the ages are relative
 * to); with `events` (a cluster has them), kubectl's Events section last.
 */
export function describeVmi(vmi: VmiView, now: Date, events?: readonly EventView[]): string {
  const status = vmi.status;
  const wiring = status?.virtnet;
  const created = vmi.metadata.creationTimestamp;
  const header = fieldLines('', [
    ['Name', vmi.metadata.name],
    ['Namespace', vmi.metadata.namespace],
    ['Phase', status?.phase ?? 'Pending'],
    ...(status?.reason ? [['Reason', status.reason] as [string, string]] : []),
    ['Created', created ? `${created} (${ageSince(created, now)} ago)` : NONE],
    ...placeFields(status),
    ['Accel', wiring?.accel ?? NONE],
  ]);
  const nics = wiring?.nics ?? [];
  // Until the launcher has wired the pod there is nothing to show but the fact.
  const interfaces = nics.length ? ['Interfaces:', ...nics.flatMap(nicLines)] : ['Interfaces:  (no network yet)'];
  const history = events ? eventLines(events, now) : [];
  return (
    [
      ...header,
      ...conditionLines(status?.conditions, now),
      ...interfaces,
      ...stepLines(wiring?.steps ?? []),
      ...history,
    ].join('\n') + '\n'
  );
}
