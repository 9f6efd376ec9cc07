/** `kubectl virtnet console`: the launcher's console command, exec'd in the VMI's launcher pod. */
import { VMI_LABEL, VMI_UID_LABEL } from '../render/pod.ts';
import type { ConsoleTarget, PluginClient, PodView } from '../kube/plugin-api.ts';
import type { Output } from './io.ts';

/** Where the launcher keeps its state in the pod (render/pod.ts mounts it there), and the container it runs in. */
export const LAUNCHER_CONTAINER = 'compute';
export const LAUNCHER_STATE_DIR = '/var/run/virtnet/state';

/** What the choice of pod reads of the VMI. */
export interface ConsoleVmi {
  metadata: { name: string; namespace: string; uid?: string | undefined };
  status?: { phase?: string; launcherPod?: { name: string } } | undefined;
}

/** The VMI's launcher pods: labelled with its name, and its uid when the pod carries one, not being deleted. */
function launcherPods(vmi: ConsoleVmi, pods: readonly PodView[]): PodView[] {
  const { name, uid } = vmi.metadata;
  return pods.filter((p) => {
    const labels = p.metadata?.labels ?? {};
    const uidLabel = labels[VMI_UID_LABEL];
    return labels[VMI_LABEL] === name && (!uid || !uidLabel || uidLabel === uid) && !p.metadata?.deletionTimestamp;
  });
}

/**
 * Which pod, container and command `console` execs: the VMI's launcher pod,
 * running, the one status.launcherPod names first (so a pod of an earlier VMI
 * of the same name is never picked). Pure, so it is tested without exec
 * (which the test API server lacks).
 */
export function consoleTarget(vmi: ConsoleVmi, pods: readonly PodView[]): ConsoleTarget | { error: string } {
  const { name, namespace } = vmi.metadata;
  const mine = launcherPods(vmi, pods);
  const running = mine.filter((p) => p.status?.phase === 'Running');
  const named = vmi.status?.launcherPod?.name;
  const pod = (named && running.find((p) => p.metadata?.name === named)) || running[0];
  if (!pod?.metadata?.name) {
    const why = mine[0]
      ? `its launcher pod ${mine[0].metadata?.name} is ${mine[0].status?.phase ?? 'Pending'}`
      : 'it has no launcher pod';
    const phase = vmi.status?.phase ?? 'Pending';
    return {
      error: `VirtualMachineInstance ${namespace}/${name} has no running launcher pod: ${why} (VMI phase ${phase})`,
    };
  }
  return {
    namespace: pod.metadata.namespace ?? namespace,
    pod: pod.metadata.name,
    container: LAUNCHER_CONTAINER,
    command: ['virtnet-launcher', 'console', '--state-dir', LAUNCHER_STATE_DIR],
  };
}

export async function console_(client: PluginClient, namespace: string, name: string, o: Output): Promise<number> {
  const vmi = await client.get('virtualmachineinstances', namespace, name);
  const target = consoleTarget(vmi, await client.pods(namespace, `${VMI_LABEL}=${name}`));
  if ('error' in target) {
    o.err(`error: ${target.error}`);
    return 1;
  }
  o.err(`Successfully connected to ${name} console. The escape sequence is ^]`);
  return client.execInteractive(target);
}
