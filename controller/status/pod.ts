/**
 * A VMI's status on a cluster, from its launcher pod: the pod's phase and
 * node (the kubelet), network-status (Multus) and the launcher's report
 * (copied onto the pod by the node agent). Phases as KubeVirt's
 * virt-controller maps them (pkg/virt-controller/watch/vmi.go): a pod not
 * yet running is Scheduling, a running pod Scheduled, Running once the
 * launcher runs the domain, Succeeded once it stopped it. IPs never flicker: an interface keeps the IPs it
 * had while the same pod lives and reports none for a moment (KubeVirt
 * issues 13069 and 12698). status.virtnet (the NICs' wiring, the launcher's
 * steps, the accelerator) comes from the launcher's report, in the shape the
 * standalone node writes, so describe and topology draw a VMI on a cluster
 * as on one machine. Pure.
 */
import type { LauncherReport, LauncherStatus } from '../../launcher/status.ts';
import type { Pod } from '../api/kube-objects.ts';
import { DEFAULT_NAMESPACE } from '../api/normalize.ts';
import type { NicWiring, VmiCondition, VmiInterfaceStatus, VmiPhase, VmiStatus } from '../api/status.ts';
import { vmiStatusOf, type StoredVmi } from '../api/stored-vmi.ts';
import { joinInfoSources, launcherSteps, mergeInterfaces, readyCondition } from './vmi.ts';
import { LAUNCHER_STATUS_ANNOTATION } from '../render/pod.ts';
import { readLauncherReport, readNetworkStatus } from './foreign.ts';

export const NETWORK_STATUS_ANNOTATION = 'k8s.v1.cni.cncf.io/network-status';

export function podPhase(
  pod: Pod,
  launcher: Pick<LauncherStatus, 'phase' | 'error'> | undefined,
): { phase: VmiPhase; reason?: string } {
  switch (pod.status?.phase) {
    case 'Running':
      if (launcher?.phase === 'Running') return { phase: 'Running' };
      if (launcher?.phase === 'Failed') return { phase: 'Failed', reason: launcher.error ?? 'the launcher failed' };
      if (launcher?.phase === 'Stopped') return { phase: 'Succeeded', reason: 'the VM stopped' };
      return { phase: 'Scheduled', reason: 'the launcher is starting' };
    case 'Succeeded':
      return { phase: 'Succeeded' };
    case 'Failed':
      return { phase: 'Failed', reason: pod.status?.message ?? pod.status?.reason ?? 'the launcher pod failed' };
    case 'Unknown':
      return { phase: 'Unknown', reason: "the launcher pod's node does not report" };
    default:
      // KubeVirt's Scheduling lasts until the pod runs; Scheduled is a running pod whose VM is not up yet.
      return {
        phase: 'Scheduling',
        reason: pod.spec?.nodeName ? 'the launcher pod is starting' : 'the launcher pod waits for a node',
      };
  }
}

/**
 * Keep IPs an interface had, while its pod is the same, when the new report
 * has none; and the source they came from (network-status) with them.
 */
function steady(next: VmiInterfaceStatus[], prev: VmiStatus | undefined, podUid: string): VmiInterfaceStatus[] {
  if (prev?.launcherPod?.uid !== podUid) return next;
  return next.map((i) => {
    if (i.ipAddresses?.length) return i;
    const old = prev.interfaces.find((p) => p.name === i.name);
    if (!old?.ipAddresses?.length) return i;
    return {
      ...i,
      ipAddress: old.ipAddress!,
      ipAddresses: old.ipAddresses,
      infoSource: joinInfoSources(i.infoSource, old.infoSource),
    };
  });
}

/** The wiring's pod IPs hold as the interfaces' do (steady above): they come from the same network-status. */
function steadyNics(next: NicWiring[], prev: VmiStatus | undefined, podUid: string): NicWiring[] {
  if (prev?.launcherPod?.uid !== podUid) return next;
  return next.map((n) => {
    const old = prev.virtnet?.nics.find((p) => p.name === n.name);
    return !n.podIps.length && old?.podIps.length ? { ...n, podIps: old.podIps } : n;
  });
}

/**
 * status.virtnet from the launcher's report: no netns (the container runtime
 * names the pod's, status.launcherPod says which pod) and no launcher pid
 * (a pid of another pid namespace means nothing here). Absent until a report.
 */
export function virtnetFromReport(report: LauncherReport | undefined, nics: NicWiring[]): VmiStatus['virtnet'] {
  if (!report) return undefined;
  return { ...(report.accel && { accel: report.accel }), nics, steps: launcherSteps(report.steps) };
}

/**
 * The Synchronized condition: the pod is found; its annotations are the
 * node's and Multus's reports, and one that is malformed is named here and
 * ignored (the status is built as if it were absent), so that the VMI's
 * status still follows its pod.
 */
function synchronized(problems: string[], liveError: string | undefined): VmiCondition {
  if (problems.length)
    return {
      type: 'Synchronized',
      status: 'False',
      reason: 'InvalidPodAnnotation',
      message: `ignored: ${problems.join('; ')}`,
    };
  // A live change the launcher could not make (a NIC the guest keeps, no free PCI slot): the VM runs on without it.
  if (liveError) return { type: 'Synchronized', status: 'False', reason: 'InterfaceChangeFailed', message: liveError };
  return { type: 'Synchronized', status: 'True', reason: 'LauncherPodFound' };
}

export function statusFromPod(vmi: StoredVmi, pod: Pod): VmiStatus {
  const annotations = pod.metadata.annotations ?? {};
  const launcherRead = readLauncherReport(annotations, LAUNCHER_STATUS_ANNOTATION);
  const networkRead = readNetworkStatus(annotations, NETWORK_STATUS_ANNOTATION);
  const problems = [launcherRead.problem, networkRead.problem].filter((p): p is string => p !== undefined);
  const launcher = launcherRead.value;
  const { phase, reason } = podPhase(pod, launcher);
  const merged = mergeInterfaces({
    namespace: vmi.metadata.namespace ?? DEFAULT_NAMESPACE,
    spec: vmi.spec,
    networkStatus: networkRead.value ?? [],
    launcher,
  });
  const prev = vmiStatusOf(vmi);
  const podUid = pod.metadata.uid ?? '';
  const interfaces = steady(merged.interfaces, prev, podUid);
  const virtnet = virtnetFromReport(launcher, steadyNics(merged.nics, prev, podUid));
  return {
    phase,
    ...(reason && { reason }),
    interfaces,
    ...(pod.spec?.nodeName && { nodeName: pod.spec.nodeName }),
    launcherPod: { name: pod.metadata.name, uid: podUid },
    conditions: [readyCondition(phase, interfaces, reason), synchronized(problems, launcher?.liveError)],
    ...(virtnet && { virtnet }),
  };
}
