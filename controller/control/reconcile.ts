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
 * a VM makes a new one). The admission checks gate the first pod only: a
 * VMI the schema refuses once its pod runs keeps the pod, and its status
 * says why it no longer follows its spec (refusedWithPod).
 */
import { posix } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Pod, PodManifest, StoredObject } from '../api/kube-objects.ts';
import { timeOf } from '../api/kube-objects.ts';
import { validateManifests, formatProblems } from '../api/manifests.ts';
import { DEFAULT_NAMESPACE } from '../api/normalize.ts';
import { parseObjectKey } from '../api/object-key.ts';
import type { ReservedCidr } from '../api/rules-networks.ts';
import { API_VERSIONS, VirtualMachineInstanceSchema } from '../api/schema.ts';
import type { VmiCondition, VmiStatus } from '../api/status.ts';
import { isStoredVmi, vmiStatusOf, type StoredVmi } from '../api/stored-vmi.ts';
import { structureProblems } from '../api/structure.ts';
import { chooseBoot } from '../node/boot.ts';
import { parseLauncherSpec, type BootSpec, type DiskSpec, type LauncherSpec } from '../../launcher/spec.ts';
import { LAUNCHER_SPEC_ANNOTATION as LAUNCHER_SPEC, launcherPod } from '../render/pod.ts';
import { statusFromPod } from '../status/pod.ts';
import { livePodUpdate, type PodAnnotationChange } from './reconcile-live.ts';

export type VmiAction =
  | { type: 'createPod'; pod: PodManifest }
  /** A live change (NIC hotplug, unplug, link state) for the running launcher pod: reconcile-live.ts. */
  | { type: 'updatePod'; name: string; annotations: PodAnnotationChange }
  | { type: 'deletePod'; name: string }
  | { type: 'setStatus'; status: VmiStatus };

export interface VmiObservation {
  /** As the cache holds it: checked against the schema here (isStoredVmi) before its spec is read. */
  vmi: StoredObject;
  /** The pods labelled with this VMI's uid. */
  pods: Pod[];
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
/** Phases a VMI reaches only once its launcher pod exists: a pod gone then is never made again. */
const HAD_POD = new Set(['Scheduling', 'Scheduled', 'Running']);

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
function specProblem(o: VmiObservation, vmi: StoredVmi | undefined): VmiStatus | undefined {
  // The webhook judges with the same facts; this catches a VMI admitted without it.
  const { problems } = validateManifests([{ source: 'vmi', object: { ...o.vmi, status: undefined } }], {
    nadExists: () => true,
    ...(o.reservedCidrs && { reservedCidrs: o.reservedCidrs }),
  });
  if (problems.length)
    return stuck('Failed', 'InvalidSpec', formatProblems(problems.map(({ path, rule }) => ({ path, rule }))));
  if (!vmi) return invalidStored(o.vmi);
  const namespace = vmi.metadata.namespace ?? DEFAULT_NAMESPACE;
  for (const [i, net] of (vmi.spec.networks ?? []).entries()) {
    if (!net.multus) continue;
    const ref = parseObjectKey(net.multus.networkName, namespace);
    if (!o.nadExists(ref.namespace, ref.name)) {
      return stuck(
        'Pending',
        'NetworkAttachmentDefinitionNotFound',
        `spec.networks[${i}].multus.networkName: NetworkAttachmentDefinition ${ref.namespace}/${ref.name} not ` +
          `found; the VMI starts when it exists`,
      );
    }
  }
  return undefined;
}

/** A stored VMI the schema refuses as it is (a null where a value belongs, say): named field by field. */
function invalidStored(vmi: StoredObject): VmiStatus {
  return stuck('Failed', 'InvalidSpec', formatProblems(structureProblems(VirtualMachineInstanceSchema, vmi)));
}

/**
 * The NICs a launcher pod was made with (its launcher-spec annotation, the
 * spec it runs), checked as the launcher checks them; none when the
 * annotation is missing or refused, and the status then shows no interface.
 */
function podNics(pod: Pod): Pick<LauncherSpec, 'interfaces' | 'networks'> {
  try {
    const { interfaces, networks } = parseLauncherSpec(JSON.parse(pod.metadata.annotations?.[LAUNCHER_SPEC] ?? ''));
    return { interfaces, networks };
  } catch {
    return { interfaces: [], networks: [] };
  }
}

/**
 * A VMI the schema now refuses (an upgrade tightened a rule, say) whose
 * launcher pod exists: the VM runs on, untouched, and the VMI's status goes
 * on following its pod, read with the pod's own NICs in place of the spec
 * that no longer reads. The problem is the Synchronized condition, which
 * vmiEvents reports as a Warning event when it appears. Not final: the VMI
 * is Failed only when its pod is gone (a VMI is never restarted).
 */
function refusedWithPod(vmi: StoredObject, pod: Pod): VmiStatus {
  const nics = podNics(pod);
  // The typed VMI statusFromPod reads: only its metadata, status and NICs are read, never its apiVersion.
  const view: StoredVmi = {
    ...vmi,
    apiVersion: API_VERSIONS.find((v) => v === vmi.apiVersion) ?? API_VERSIONS[0],
    kind: 'VirtualMachineInstance',
    spec: { domain: { devices: { interfaces: nics.interfaces } }, networks: nics.networks },
  };
  const status = statusFromPod(view, pod);
  const problems = formatProblems(structureProblems(VirtualMachineInstanceSchema, vmi)).replaceAll('\n', '; ');
  const refused: VmiCondition = {
    type: 'Synchronized',
    status: 'False',
    reason: 'InvalidSpec',
    message:
      `the spec no longer passes the schema (${problems}); the launcher pod ${pod.metadata.name} and its VM run on ` +
      `as they were made`,
  };
  return { ...status, conditions: [...(status.conditions ?? []).filter((c) => c.type !== 'Synchronized'), refused] };
}

/** The VMI's pod first (the oldest; then by name), duplicates from a lost create response after it. */
function oldestFirst(pods: Pod[]): Pod[] {
  return [...pods].sort(
    (a, b) =>
      timeOf(a.metadata.creationTimestamp) - timeOf(b.metadata.creationTimestamp) ||
      a.metadata.name.localeCompare(b.metadata.name),
  );
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
  const prev = vmiStatusOf(o.vmi);
  if (o.vmi.metadata.deletionTimestamp) return o.pods.map((p) => ({ type: 'deletePod', name: p.metadata.name }));
  if (prev && FINAL.has(prev.phase)) return [];
  const vmi = isStoredVmi(o.vmi) ? o.vmi : undefined;
  const [pod, ...extra] = oldestFirst(o.pods);
  const deletes: VmiAction[] = extra.map((p) => ({ type: 'deletePod', name: p.metadata.name }));
  // A VMI refused by the schema once its pod runs keeps the pod, and its status tells why (refusedWithPod).
  if (pod) {
    const live = vmi && livePodUpdate(vmi, pod);
    const update: VmiAction[] = live ? [{ type: 'updatePod', name: pod.metadata.name, annotations: live }] : [];
    return [...deletes, ...update, ...setStatus(prev, vmi ? statusFromPod(vmi, pod) : refusedWithPod(o.vmi, pod), now)];
  }
  if (prev && HAD_POD.has(prev.phase)) {
    return setStatus(
      prev,
      { ...stuck('Failed', 'LauncherPodGone', 'the launcher pod is gone'), interfaces: prev.interfaces },
      now,
    );
  }
  // Admission checks gate the first pod only: a NAD deleted (or a rule tightened) later never stops a running VM.
  const problem = specProblem(o, vmi);
  if (problem) return setStatus(prev, problem, now);
  if (!vmi) return setStatus(prev, invalidStored(o.vmi), now);
  return firstPod(o, vmi, prev, now);
}

/** No pod yet: the boot source is chosen and allowed, then the launcher pod is created. */
function firstPod(o: VmiObservation, vmi: StoredVmi, prev: VmiStatus | undefined, now: string): VmiAction[] {
  const boot = chooseBoot(vmi.spec, 'spec', { onNode: false, vmiName: vmi.metadata.name });
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
    instanceId: vmi.metadata.uid ?? vmi.metadata.name,
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
        `${denied.join(', ')}: a VMI may boot only from files under ${o.allowedHostPaths.join(', ')} (the ` +
          `controller's --allowed-host-path)`,
      ),
      now,
    );
  return [
    {
      type: 'createPod',
      pod: launcherPod(vmi, {
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
