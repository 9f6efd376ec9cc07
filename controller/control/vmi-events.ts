/**
 * The Events of a VMI's life, derived from two statuses: the one the
 * controller replaced and the one it wrote. The reconcile is level-based (it
 * writes a status whenever what it sees differs), so an event is emitted for
 * a change between the two and never for a state that merely holds: a
 * resync, a restart of the controller or a second reconcile of the same
 * observation yields nothing. Pure.
 *
 * Reasons are CamelCase, as Kubernetes' own (kubelet's Scheduled, Started,
 * Failed; KubeVirt's SuccessfulCreate for the launcher pod, which the
 * controller emits when it makes the pod, not from statuses).
 */
import type { NicWiring, VmiCondition, VmiStatus } from '../api/status.ts';

export interface VmiEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

const sync = (s: VmiStatus | undefined): VmiCondition | undefined =>
  s?.conditions?.find((c) => c.type === 'Synchronized');

/** The pod got a node (or, with a new pod, another one). */
function scheduled(prev: VmiStatus | undefined, next: VmiStatus): VmiEvent[] {
  if (!next.nodeName) return [];
  const samePod = prev?.launcherPod?.uid === next.launcherPod?.uid;
  if (samePod && prev?.nodeName === next.nodeName) return [];
  const pod = next.launcherPod ? `launcher pod ${next.launcherPod.name}` : 'the launcher pod';
  return [{ type: 'Normal', reason: 'Scheduled', message: `${pod} is on node ${next.nodeName}` }];
}

function path(nic: NicWiring): string {
  const hops = [nic.podInterface, ...(nic.binding === 'masquerade' ? ['nft NAT'] : []), nic.bridge, nic.tap];
  return `${nic.name} (${nic.binding}, ${nic.network}: ${hops.join(' -> ')})`;
}

/** Every NIC wired: the launcher reports them all at once, after its network step. */
function networkReady(prev: VmiStatus | undefined, next: VmiStatus): VmiEvent[] {
  const nics = next.virtnet?.nics ?? [];
  const wired = (s: VmiStatus | undefined) => (s?.virtnet?.nics.length ?? 0) > 0;
  if (!nics.length || (wired(prev) && prev?.launcherPod?.uid === next.launcherPod?.uid)) return [];
  return [
    {
      type: 'Normal',
      reason: 'NetworkReady',
      message: `${nics.length === 1 ? '1 NIC' : `${nics.length} NICs`} wired: ${nics.map(path).join('; ')}`,
    },
  ];
}

/**
 * Interface hotplug on the running VM (KubeVirt 1.4): a NIC plugged, one
 * asked to leave and waiting for the guest, one gone, a link set up or down.
 * Only within one launcher pod: a new pod wires its NICs afresh (networkReady
 * tells it), and only when both statuses carry the wiring, so that a report
 * missing for a moment does not read as every NIC unplugged.
 */
function hotplug(prev: VmiStatus | undefined, next: VmiStatus): VmiEvent[] {
  const before = prev?.virtnet?.nics;
  const after = next.virtnet?.nics;
  if (!before || !after || prev?.launcherPod?.uid !== next.launcherPod?.uid) return [];
  const normal = (reason: string, message: string): VmiEvent => ({ type: 'Normal', reason, message });
  const link = (nic: NicWiring) => nic.linkState ?? 'up';
  const events = after.flatMap((nic) => {
    const old = before.find((n) => n.name === nic.name);
    if (!old) return nic.hotplugged ? [normal('InterfaceHotplugged', `${nic.name} plugged: ${path(nic)}`)] : [];
    return [
      ...(nic.removing && !old.removing
        ? [normal('InterfaceUnplugging', `${nic.name}: waiting for the guest to release it`)]
        : []),
      ...(link(nic) !== link(old) ? [normal('LinkStateChanged', `${nic.name}: link ${link(nic)}`)] : []),
    ];
  });
  const gone = before.filter((old) => !after.some((n) => n.name === old.name));
  return [...events, ...gone.map((old) => normal('InterfaceUnplugged', `${old.name} unplugged`))];
}

/** One event per NIC and family whose lease the guest newly took. */
function leases(prev: VmiStatus | undefined, next: VmiStatus): VmiEvent[] {
  const samePod = prev?.launcherPod?.uid === next.launcherPod?.uid;
  return (next.virtnet?.nics ?? []).flatMap((nic) => {
    const old = samePod ? prev?.virtnet?.nics.find((n) => n.name === nic.name) : undefined;
    const families: Array<['leased4' | 'leased6', string, (ip: string) => boolean]> = [
      ['leased4', 'DHCPv4', (ip) => !ip.includes(':')],
      ['leased6', 'DHCPv6', (ip) => ip.includes(':')],
    ];
    return families.flatMap(([flag, protocol, ofFamily]) => {
      if (!nic[flag] || old?.[flag]) return [];
      const ips = nic.ips.filter(ofFamily);
      return [
        {
          type: 'Normal' as const,
          reason: 'Leased',
          message: `${nic.name}: the guest took its ${protocol} lease${ips.length ? ` of ${ips.join(', ')}` : ''}`,
        },
      ];
    });
  });
}

/** Synchronized turning False (or False for another reason): the VMI cannot follow its spec or its pod. */
function unsynchronized(prev: VmiStatus | undefined, next: VmiStatus): VmiEvent[] {
  const now = sync(next);
  const before = sync(prev);
  if (now?.status !== 'False' || !now.reason) return [];
  if (before?.status === 'False' && before.reason === now.reason && before.message === now.message) return [];
  return [{ type: 'Warning', reason: now.reason, message: now.message ?? next.reason ?? now.reason }];
}

/** Phase changes worth a line in the history; a failure already explained by Synchronized is not told twice. */
function phase(prev: VmiStatus | undefined, next: VmiStatus, explained: boolean): VmiEvent[] {
  if (prev?.phase === next.phase) return [];
  switch (next.phase) {
    case 'Running':
      return [
        {
          type: 'Normal',
          reason: 'Started',
          message: `the VM is running${next.nodeName ? ` on node ${next.nodeName}` : ''}`,
        },
      ];
    case 'Succeeded':
      return [{ type: 'Normal', reason: 'Stopped', message: next.reason ?? 'the VM stopped' }];
    case 'Failed':
      return explained ? [] : [{ type: 'Warning', reason: 'Failed', message: next.reason ?? 'the VMI failed' }];
    case 'Unknown':
      return [
        {
          type: 'Warning',
          reason: 'NodeNotReporting',
          message: next.reason ?? "the launcher pod's node does not report",
        },
      ];
    default:
      return [];
  }
}

/** The events between the status a VMI had and the one just written, in the order they happened. */
export function vmiEvents(prev: VmiStatus | undefined, next: VmiStatus): VmiEvent[] {
  const warnings = unsynchronized(prev, next);
  // The launcher wires the NICs, then boots the VM; NICs come and go while it runs, and the guest asks for the
  // leases of those it has.
  return [
    ...scheduled(prev, next),
    ...networkReady(prev, next),
    ...warnings,
    ...phase(prev, next, warnings.length > 0),
    ...hotplug(prev, next),
    ...leases(prev, next),
  ];
}
