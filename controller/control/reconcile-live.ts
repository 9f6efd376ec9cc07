/**
 * A running VMI whose interfaces changed (KubeVirt's interface hotplug: the
 * webhook admits only changes that can be made live, live-update.ts): its
 * launcher pod is given the new networks annotation, which the node's Multus
 * role turns into in-place CNI ADDs and DELs (as multus-dynamic-networks-
 * controller does), and the launcher spec with the new NICs under the next
 * generation, which the launcher applies to its VM. Pure.
 */
import type { Pod } from '../api/kube-objects.ts';
import { DEFAULT_NAMESPACE, normalizedInterfaces } from '../api/normalize.ts';
import type { StoredVmi } from '../api/stored-vmi.ts';
import { NETWORKS_ANNOTATION } from '../../netattach/annotation.ts';
import { parseLauncherSpec, type LauncherSpec } from '../../launcher/spec.ts';
import { launcherSpec } from '../render/launcher-spec.ts';
import { launcherPodNetworkAnnotations } from '../render/networks.ts';
import { LAUNCHER_SPEC_ANNOTATION } from '../render/pod.ts';

/** The pod annotations to write: a value to set, or null for one to remove. */
export type PodAnnotationChange = Record<string, string | null>;

function podLauncherSpec(pod: Pod): LauncherSpec | undefined {
  try {
    return parseLauncherSpec(JSON.parse(pod.metadata.annotations?.[LAUNCHER_SPEC_ANNOTATION] ?? ''));
  } catch {
    // A pod without a readable spec runs nothing this could change (its status says why).
    return undefined;
  }
}

/** parseLauncherSpec rebuilds specs in one key order: their JSON compares them. */
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The annotations that take the launcher pod to the VMI's interfaces, or undefined when it has them. Only
 * the NICs change: the rest of the launcher spec stays as the pod was made (a VMI's other fields wait for a
 * new pod).
 */
export function livePodUpdate(vmi: StoredVmi, pod: Pod): PodAnnotationChange | undefined {
  const running = podLauncherSpec(pod);
  if (!running) return undefined;
  const wanted = launcherSpec(vmi, { ...running, serviceCIDRs: running.serviceCIDRs ?? [] });
  if (same(wanted.interfaces, running.interfaces) && same(wanted.networks, running.networks)) return undefined;
  const next: LauncherSpec = {
    ...running,
    interfaces: wanted.interfaces,
    networks: wanted.networks,
    generation: (running.generation ?? 0) + 1,
  };
  const networks = launcherPodNetworkAnnotations({
    namespace: vmi.metadata.namespace ?? DEFAULT_NAMESPACE,
    interfaces: normalizedInterfaces(vmi.spec),
    networks: vmi.spec.networks ?? [],
  })[NETWORKS_ANNOTATION];
  return { [LAUNCHER_SPEC_ANNOTATION]: JSON.stringify(next), [NETWORKS_ANNOTATION]: networks ?? null };
}
