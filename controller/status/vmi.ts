/**
 * A VMI's status from what the node knows: the record (where `up` got to),
 * network-status (the pod's attachments, as Multus reports them), and the
 * launcher's report (wiring and leases). Merged KubeVirt's way: name and
 * pod interface from multus-status, MAC and link state from the domain,
 * the pod's IPs as the VMI's IPs; primary interface first. Pure.
 */
import { podIfName } from '../../launcher/names.ts';
import type { InterfaceSpec } from '../../launcher/spec.ts';
import { normalizedInterfaces } from '../api/normalize.ts';
import { qualifiedKey } from '../api/object-key.ts';
import type { VmiSpec } from '../api/schema.ts';
import type { LauncherStatus } from '../../launcher/status.ts';
import { LAUNCHER_STEPS } from '../../launcher/steps.ts';
import type { NicWiring, VmiCondition, VmiInterfaceStatus, VmiPhase, VmiStatus } from '../api/status.ts';
import type { VmiRecord } from '../node/store.ts';
import type { NetworkStatus } from '../../netattach/status.ts';

function ports(i: InterfaceSpec): string[] {
  return [
    ...(i.ports ?? []).map((p) => `${p.port}/${p.protocol ?? 'TCP'}`),
    ...(i.portRanges ?? []).map((r) => `${r.start}-${r.end}/${r.protocol ?? 'TCP'}`),
  ];
}

function phaseOf(
  rec: VmiRecord,
  launcher: LauncherStatus | undefined,
  launcherAlive: boolean,
): { phase: VmiPhase; reason?: string } {
  if (rec.state === 'Creating') return { phase: 'Scheduling', reason: 'the sandbox is being created' };
  if (rec.state === 'Deleting')
    return {
      phase: 'Failed',
      reason:
        `teardown incomplete (virtnet gc retries; virtnet down --force drops it): ` +
        `${(rec.teardownProblems ?? []).join('; ')}`,
    };
  if (launcher?.phase === 'Failed') return { phase: 'Failed', reason: launcher.error ?? 'the launcher failed' };
  if (launcher?.phase === 'Stopped') return { phase: 'Succeeded', reason: 'the launcher stopped the VM' };
  if (!launcherAlive)
    return { phase: 'Failed', reason: 'the launcher is not running (crash or reboot; `virtnet gc` cleans up)' };
  if (launcher?.phase === 'Running') return { phase: 'Running' };
  return { phase: 'Scheduled', reason: 'the launcher is starting' };
}

/**
 * KubeVirt's infoSource values (pkg/network/vmispec/infosource.go), joined by
 * ", " in this order (NewInfoSource(domain, guest-agent, multus-status)).
 * virtnet has no guest agent, so guest-agent never appears.
 */
export const INFO_SOURCE = { domain: 'domain', guestAgent: 'guest-agent', multusStatus: 'multus-status' } as const;
const INFO_SOURCE_ORDER: readonly string[] = [INFO_SOURCE.domain, INFO_SOURCE.guestAgent, INFO_SOURCE.multusStatus];

/**
 * The infoSource of an interface seen by the given sources, in KubeVirt's order, unknown names dropped; '' when none
 * saw it.
 */
export function infoSource(seenBy: readonly string[]): string {
  return INFO_SOURCE_ORDER.filter((s) => seenBy.includes(s)).join(', ');
}

/** Two infoSource values as one: every source either names (KubeVirt's AddInfoSource, in its order). */
export function joinInfoSources(a: string | undefined, b: string | undefined): string {
  return infoSource([...(a ?? '').split(', '), ...(b ?? '').split(', ')]);
}

export interface MergeInputs {
  namespace: string;
  /** The VMI's spec, as applied or as the API server stores it: its interfaces are normalised here. */
  spec: Pick<VmiSpec, 'domain' | 'networks'>;
  networkStatus: NetworkStatus[];
  /** The launcher's NICs: its whole status on a node, the report its pod carries on a cluster. */
  launcher: Pick<LauncherStatus, 'nics'> | undefined;
}

/**
 * status.interfaces and the wiring behind them, KubeVirt's merge: name and
 * pod interface from multus-status, MAC and link state from the domain (the
 * launcher's report), the pod's IPs as the VMI's; primary interface first.
 * Shared by the standalone node and the cluster controller.
 */
export function mergeInterfaces(m: MergeInputs): { interfaces: VmiInterfaceStatus[]; nics: NicWiring[] } {
  // An absent interface is still reported while the launcher has its NIC: it is being removed.
  const interfaces = normalizedInterfaces(m.spec).filter(
    (i) => i.state !== 'absent' || m.launcher?.nics.some((n) => n.name === i.name),
  );
  const networks = m.spec.networks ?? [];
  const wiring: NicWiring[] = [];
  const out: VmiInterfaceStatus[] = [];
  for (const iface of interfaces) {
    const net = networks.find((n) => n.name === iface.name);
    if (!net) continue;
    const podIf = podIfName(net);
    const ns = m.networkStatus.find((s) => s.interface === podIf);
    const nic = m.launcher?.nics.find((n) => n.name === iface.name);
    const podIps = ns?.ips ?? [];
    const wantV4 = nic?.ips.some((ip) => !ip.includes(':')) ?? false;
    const wantV6 = nic?.ips.some((ip) => ip.includes(':')) ?? false;
    const leased = nic?.dhcp ? (!wantV4 || nic.leased4) && (!wantV6 || nic.leased6) : undefined;
    // As KubeVirt: an interface is reported once the domain (the launcher's NIC) or network-status knows it.
    const source = infoSource([...(nic ? [INFO_SOURCE.domain] : []), ...(ns ? [INFO_SOURCE.multusStatus] : [])]);
    if (!source) continue;
    out.push({
      name: iface.name,
      ...(podIps[0] && { ipAddress: podIps[0], ipAddresses: podIps }),
      ...(nic?.mac && { mac: nic.mac }),
      infoSource: source,
      podInterfaceName: podIf,
      // What the launcher set on the running VM, else what the spec asks.
      linkState: nic?.linkState ?? (iface.state === 'down' ? 'down' : 'up'),
      ...(leased !== undefined && { leased }),
    });
    if (nic) {
      wiring.push({
        name: iface.name,
        binding: nic.binding,
        network: net.multus ? qualifiedKey(net.multus.networkName, m.namespace) : 'pod',
        podInterface: nic.podInterface,
        bridge: nic.bridge,
        tap: nic.tap,
        mac: nic.mac,
        model: iface.model ?? 'virtio',
        mtu: nic.mtu,
        ips: nic.ips,
        podIps,
        leased4: nic.leased4,
        leased6: nic.leased6,
        ...(nic.linkState && { linkState: nic.linkState }),
        ...(nic.hotplugged && { hotplugged: true }),
        ...(nic.removing && { removing: true }),
        ports: nic.binding === 'masquerade' ? ports(iface) : [],
      });
    }
  }
  // The primary (pod or multus-default) interface first, as KubeVirt's netstat does.
  out.sort((a, b) => Number(b.podInterfaceName === 'eth0') - Number(a.podInterfaceName === 'eth0'));
  return { interfaces: out, nics: wiring };
}

/** The launcher's step names as `up` and `describe` show them. */
export function launcherSteps(steps: ReadonlyArray<{ name: string; ms: number }>): Array<{ name: string; ms: number }> {
  return steps.map((s) => ({ name: LAUNCHER_STEPS[s.name] ?? s.name, ms: s.ms }));
}

/**
 * The Ready condition, KubeVirt's meaning (the VMI is up and usable): the
 * phase is Running and the guest took every DHCP lease it was offered.
 * Shared by the node and the cluster, so describe reads the same on both.
 */
export function readyCondition(
  phase: VmiPhase,
  interfaces: VmiInterfaceStatus[],
  reason: string | undefined,
): VmiCondition {
  if (phase !== 'Running')
    return { type: 'Ready', status: 'False', reason: `Phase${phase}`, ...(reason && { message: reason }) };
  const waiting = interfaces.filter((i) => i.leased === false).map((i) => i.name);
  return waiting.length
    ? {
        type: 'Ready',
        status: 'False',
        reason: 'LeasePending',
        message: `the guest has not taken its lease on ${waiting.join(', ')}`,
      }
    : { type: 'Ready', status: 'True', reason: 'GuestReady' };
}

export function vmiStatus(rec: VmiRecord, launcher: LauncherStatus | undefined, launcherAlive: boolean): VmiStatus {
  const { interfaces, nics } = mergeInterfaces({
    namespace: rec.object.metadata.namespace,
    spec: rec.object.spec,
    networkStatus: rec.networkStatus ?? [],
    launcher,
  });
  const phase = phaseOf(rec, launcher, launcherAlive);
  return {
    ...phase,
    interfaces,
    // Computed afresh on every read: no transition time is known, so none is claimed.
    conditions: [readyCondition(phase.phase, interfaces, phase.reason)],
    virtnet: {
      netns: rec.netns,
      ...(rec.launcherPid && { launcherPid: rec.launcherPid }),
      ...(launcher?.accel && { accel: launcher.accel }),
      nics,
      steps: [...rec.steps, ...launcherSteps(launcher?.steps ?? [])],
    },
  };
}
