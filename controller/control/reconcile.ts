/**
 * What the controller should do, decided from what it observes: pure, so
 * that every decision is a table-tested value and the loop that applies
 * them (controller.ts) stays thin. Reconciles are idempotent: the same
 * observation always yields the same actions, and applying them twice
 * changes nothing more.
 *
 * VMI: validate (the webhook may not be installed), check the NADs and the
 * boot source, then own exactly one launcher pod and mirror it into status.
 * A VMI in a final phase is left alone; a launcher pod that vanishes once it
 * existed fails the VMI (KubeVirt does the same: a VMI is never restarted,
 * a VM makes a new one). The admission checks gate the first pod only.
 */
import { posix } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { validateManifests, formatProblems } from '../api/manifests.ts';
import type { ReservedCidr } from '../api/rules-networks.ts';
import type { VmiCondition, VmiStatus } from '../api/status.ts';
import { chooseBoot } from '../node/boot.ts';
import type { BootSpec, DiskSpec } from '../../launcher/spec.ts';
import { launcherPod } from '../render/pod.ts';
import { statusFromPod } from '../status/pod.ts';

type Obj = Record<string, any>;

export type VmiAction =
  | { type: 'createPod'; pod: Obj }
  | { type: 'deletePod'; name: string }
  | { type: 'setStatus'; status: VmiStatus };

export interface VmiObservation {
  vmi: Obj;
  /** The pods labelled with this VMI's uid. */
  pods: Obj[];
  nadExists(namespace: string, name: string): boolean;
  /** What a masquerade VM subnet must not overlap: every node's pod subnets and the service CIDRs (node-subnets.ts). */
  reservedCidrs?: ReservedCidr[];
  image: string;
  serviceCIDRs: string[];
  /** Where the test guest lives on the nodes, for VMIs with no boot source. */
  testGuest: { kernel: string; initrd: string; cmdline: string };
  /**
   * Node directories a VMI may boot from (hostDisk, kernelBoot.host). The
   * files become hostPath mounts of a privileged pod that the controller
   * creates, so without this list anyone who may create a VMI could read any
   * file of a node.
   */
  allowedHostPaths: string[];
}

export const DEFAULT_ALLOWED_HOST_PATHS = ['/var/cache/virtnet/guest', '/var/lib/virtnet/images'];

function hostPathAllowed(path: string, allowed: string[]): boolean {
  return posix.normalize(path) === path && allowed.some((dir) => path.startsWith(`${dir.replace(/\/$/u, '')}/`));
}

const FINAL = new Set(['Succeeded', 'Failed']);

function stuck(phase: VmiStatus['phase'], reason: string, message: string): VmiStatus {
  const condition: VmiCondition = { type: 'Synchronized', status: 'False', reason, message };
  return {
    phase,
    reason: message,
    interfaces: [],
    conditions: [condition, { type: 'Ready', status: 'False', reason }],
  };
}

/** Admission again, in case no webhook guards the API; problems become a condition, never a crash loop. */
function specProblem(o: VmiObservation): VmiStatus | undefined {
  // The webhook judges with the same facts; this catches a VMI admitted without it.
  const { problems } = validateManifests([{ source: 'vmi', object: { ...o.vmi, status: undefined } }], {
    nadExists: () => true,
    ...(o.reservedCidrs && { reservedCidrs: o.reservedCidrs }),
  });
  if (problems.length)
    return stuck('Failed', 'InvalidSpec', formatProblems(problems.map(({ path, rule }) => ({ path, rule }))));
  for (const [i, net] of ((o.vmi.spec.networks ?? []) as Obj[]).entries()) {
    if (!net.multus) continue;
    const [ns, name] = net.multus.networkName.includes('/')
      ? net.multus.networkName.split('/')
      : [o.vmi.metadata.namespace, net.multus.networkName];
    if (!o.nadExists(ns, name)) {
      return stuck(
        'Pending',
        'NetworkAttachmentDefinitionNotFound',
        `spec.networks[${i}].multus.networkName: NetworkAttachmentDefinition ${ns}/${name} not found; the VMI starts when it exists`,
      );
    }
  }
  return undefined;
}

function sameStatus(a: VmiStatus | undefined, b: VmiStatus): boolean {
  const strip = (s: VmiStatus | undefined) =>
    s ? { ...s, conditions: s.conditions?.map(({ lastTransitionTime: _, ...c }) => c) } : undefined;
  return isDeepStrictEqual(strip(a), strip(b));
}

/** Conditions keep their transition time while their status holds. */
function stamp(next: VmiStatus, prev: VmiStatus | undefined, now: string): VmiStatus {
  const conditions = next.conditions?.map((c) => {
    const old = prev?.conditions?.find((p) => p.type === c.type);
    return {
      ...c,
      lastTransitionTime: old && old.status === c.status && old.lastTransitionTime ? old.lastTransitionTime : now,
    };
  });
  return conditions ? { ...next, conditions } : next;
}

function setStatus(prev: VmiStatus | undefined, next: VmiStatus, now: string): VmiAction[] {
  return sameStatus(prev, next) ? [] : [{ type: 'setStatus', status: stamp(next, prev, now) }];
}

export function reconcileVmi(o: VmiObservation, now = new Date().toISOString()): VmiAction[] {
  const prev = o.vmi.status as VmiStatus | undefined;
  if (o.vmi.metadata.deletionTimestamp) return o.pods.map((p) => ({ type: 'deletePod', name: p.metadata.name }));
  if (prev && FINAL.has(prev.phase)) return [];
  // Admission checks gate the first pod only: a NAD deleted (or a rule tightened) later never stops a running VM.
  const problem = o.pods.length ? undefined : specProblem(o);
  if (problem) return setStatus(prev, problem, now);
  // The oldest pod is the VMI's; any other is a duplicate from a lost create response.
  const pods = [...o.pods].sort((a, b) =>
    `${a.metadata.creationTimestamp}/${a.metadata.name}`.localeCompare(
      `${b.metadata.creationTimestamp}/${b.metadata.name}`,
    ),
  );
  const [pod, ...extra] = pods;
  const deletes: VmiAction[] = extra.map((p) => ({ type: 'deletePod', name: p.metadata.name }));
  if (pod) return [...deletes, ...setStatus(prev, statusFromPod(o.vmi, pod), now)];
  if (prev && ['Scheduling', 'Scheduled', 'Running'].includes(prev.phase)) {
    return setStatus(
      prev,
      { ...stuck('Failed', 'LauncherPodGone', 'the launcher pod is gone'), interfaces: prev.interfaces },
      now,
    );
  }
  const boot = chooseBoot(o.vmi.spec, 'spec', { onNode: false, vmiName: o.vmi.metadata.name });
  if (!boot.choice)
    return setStatus(prev, stuck('Failed', 'UnsupportedBootSource', formatProblems(boot.problems)), now);
  const b = boot.choice.boot;
  const bootSpec: BootSpec =
    'kernel' in b ? b.kernel : 'firmware' in b ? b.firmware : { ...o.testGuest, cmdline: b.testGuest.cmdline };
  // chooseBoot refuses containerDisks off the node: every disk here is a host file.
  const disks: DiskSpec[] = boot.choice.disks.flatMap(({ device, source }) =>
    'hostFile' in source ? [{ ...device, file: source.hostFile, format: source.format }] : [],
  );
  const cloudInit = boot.choice.cloudInit && {
    ...boot.choice.cloudInit,
    instanceId: String(o.vmi.metadata.uid ?? o.vmi.metadata.name),
  };
  const paths = [
    ...('kernel' in b ? [b.kernel.kernel, ...(b.kernel.initrd ? [b.kernel.initrd] : [])] : []),
    ...disks.map((d) => d.file),
  ];
  const denied = paths.filter((p) => !hostPathAllowed(p, o.allowedHostPaths));
  if (denied.length)
    return setStatus(
      prev,
      stuck(
        'Failed',
        'HostPathNotAllowed',
        `${denied.join(', ')}: a VMI may boot only from files under ${o.allowedHostPaths.join(', ')} (the controller's --allowed-host-path)`,
      ),
      now,
    );
  return [
    {
      type: 'createPod',
      pod: launcherPod(o.vmi as never, {
        image: o.image,
        boot: bootSpec,
        serviceCIDRs: o.serviceCIDRs,
        disks,
        ...(cloudInit && { cloudInit }),
      }),
    },
    ...setStatus(
      prev,
      {
        phase: 'Pending',
        reason: 'the launcher pod is being created',
        interfaces: [],
        conditions: [
          { type: 'Ready', status: 'False', reason: 'PhasePending' },
          { type: 'Synchronized', status: 'True', reason: 'LauncherPodCreated' },
        ],
      },
      now,
    ),
  ];
}
