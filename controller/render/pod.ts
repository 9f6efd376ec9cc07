/**
 * A VMI's launcher pod, as virt-controller renders it
 * (pkg/virt-controller/services/template.go), for a cluster:
 *   - generateName virt-launcher-<vmi>-, labels naming the VMI and its uid
 *     (the controller finds its pod by them, so a restart never duplicates);
 *   - the network annotations (render/networks.ts) for Multus;
 *   - the launcher's spec as an annotation, handed to the container through
 *     a downward-API volume (no ConfigMap to keep in step);
 *   - resources: the guest's memory plus the launcher's overhead, its vCPUs;
 *   - nodeSelector, affinity, tolerations, hostname/subdomain passed through;
 *   - an owner reference to the VMI, so that deleting it deletes the pod.
 * Pure: the caller supplies the image and the resolved boot source.
 */
import { bootFiles, type BootSpec, type CloudInitSpec, type DiskSpec, type LauncherSpec } from '../../launcher/spec.ts';
import type { ObjectMeta, PodManifest } from '../api/kube-objects.ts';
import { DEFAULT_NAMESPACE, normalizedInterfaces } from '../api/normalize.ts';
import { cpuCount, memoryMiB } from '../api/quantity.ts';
import type { VirtualMachineInstance } from '../api/schema.ts';
import { launcherSpec } from './launcher-spec.ts';
import {
  PRIVATE_MOUNTNS_ENV,
  PRIVATE_MOUNTNS_PENDING,
  PRIVATE_MOUNTNS_WRAPPER,
} from '../../launcher/domain/libvirtd.ts';
import { launcherPodNetworkAnnotations } from './networks.ts';

export const VMI_LABEL = 'virtnet.io/vmi';
export const VMI_UID_LABEL = 'virtnet.io/created-by';
export const LAUNCHER_SPEC_ANNOTATION = 'virtnet.io/launcher-spec';
/** The node agent's copy of the launcher's report (launcher/status.ts), for the controller. */
export const LAUNCHER_STATUS_ANNOTATION = 'virtnet.io/launcher-status';
/**
 * libvirtd, dnsmasq, QEMU's own overhead and the launcher, above the guest's memory (KubeVirt reserves about as much).
 */
export const LAUNCHER_OVERHEAD_MIB = 192;

export interface PodRenderOptions {
  image: string;
  boot: BootSpec;
  disks?: DiskSpec[];
  cloudInit?: CloudInitSpec;
  serviceCIDRs: string[];
}

const SPEC_DIR = '/etc/virtnet/launcher';
/**
 * Launchers keep their state on the node, one directory per pod uid, so that
 * the node agent can read each launcher's report (and reap after a crash).
 */
export const LAUNCHER_STATE_ROOT = '/var/run/virtnet/pods';

/** Host files the VM boots from, mounted read-only at the same paths. */
interface BootVolume {
  name: string;
  path: string;
}

function bootVolumes(spec: LauncherSpec): BootVolume[] {
  return bootFiles(spec).map(([, path], i) => ({ name: `boot-${i}`, path }));
}

/** A VMI as the API server stores it: with its uid, which the pod's labels and owner reference name. */
export type RenderedVmi = VirtualMachineInstance & { metadata: Pick<ObjectMeta, 'uid'> };

export function launcherPod(vmi: RenderedVmi, o: PodRenderOptions): PodManifest {
  const spec = vmi.spec;
  // Scheduling fields the schema does not spell out (unknown keys are kept): passed to the pod as they are.
  const { affinity, tolerations }: Record<string, unknown> = spec;
  const memory = memoryMiB(spec);
  const cpus = cpuCount(spec);
  const launcher = launcherSpec(vmi, {
    boot: o.boot,
    memoryMiB: memory,
    cpus,
    serviceCIDRs: o.serviceCIDRs,
    ...(o.disks && { disks: o.disks }),
    ...(o.cloudInit && { cloudInit: o.cloudInit }),
  });
  const boots = bootVolumes(launcher);
  const resources = { memory: `${memory + LAUNCHER_OVERHEAD_MIB}Mi`, cpu: String(cpus) };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: podMetadata(vmi, launcher),
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: spec.terminationGracePeriodSeconds ?? 30,
      ...(spec.hostname && { hostname: spec.hostname }),
      ...(spec.subdomain && { subdomain: spec.subdomain }),
      ...(spec.nodeSelector && { nodeSelector: spec.nodeSelector }),
      ...(affinity !== undefined && { affinity }),
      ...(tolerations !== undefined && { tolerations }),
      ...(spec.dnsPolicy && { dnsPolicy: spec.dnsPolicy }),
      ...(spec.dnsConfig && { dnsConfig: spec.dnsConfig }),
      containers: [computeContainer(o.image, resources, boots)],
      volumes: podVolumes(boots),
    },
  };
}

/** The pod's labels (the VMI's, and the two that find it), network annotations, spec and owner. */
function podMetadata(vmi: RenderedVmi, launcher: LauncherSpec): PodManifest['metadata'] {
  const { name, namespace = DEFAULT_NAMESPACE, uid } = vmi.metadata;
  return {
    generateName: `virt-launcher-${name}-`,
    namespace,
    labels: {
      ...(vmi.metadata.labels ?? {}),
      [VMI_LABEL]: name,
      ...(uid && { [VMI_UID_LABEL]: uid }),
      'app.kubernetes.io/component': 'virt-launcher',
    },
    annotations: {
      ...launcherPodNetworkAnnotations({
        namespace,
        interfaces: normalizedInterfaces(vmi.spec),
        networks: vmi.spec.networks ?? [],
      }),
      [LAUNCHER_SPEC_ANNOTATION]: JSON.stringify(launcher),
    },
    ...(uid && {
      ownerReferences: [
        {
          apiVersion: vmi.apiVersion,
          kind: 'VirtualMachineInstance',
          name,
          uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    }),
  };
}

/** The launcher's container: it wires the pod's netns and runs libvirtd/QEMU, as KubeVirt's compute container does. */
function computeContainer(image: string, resources: { memory: string; cpu: string }, boots: BootVolume[]) {
  return {
    name: 'compute',
    image,
    // Started in its private mount namespace already (launcher/domain/libvirtd.ts), so the container runs one Node
    // process, not a relaying one beside the launcher.
    command: [...PRIVATE_MOUNTNS_WRAPPER, 'virtnet-launcher'],
    args: ['run', '--spec', `${SPEC_DIR}/spec.json`, '--state-dir', '/var/run/virtnet/state'],
    resources: { requests: resources, limits: resources },
    securityContext: { privileged: true },
    env: [
      { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
      { name: PRIVATE_MOUNTNS_ENV, value: PRIVATE_MOUNTNS_PENDING },
    ],
    volumeMounts: [
      { name: 'launcher-spec', mountPath: SPEC_DIR, readOnly: true },
      { name: 'state', mountPath: '/var/run/virtnet/state', subPathExpr: '$(POD_UID)' },
      ...boots.map((b) => ({ name: b.name, mountPath: b.path, readOnly: true })),
    ],
  };
}

/** The spec (from the pod's own annotation, by the downward API), the state directory and the boot files. */
function podVolumes(boots: BootVolume[]) {
  return [
    {
      name: 'launcher-spec',
      downwardAPI: {
        items: [{ path: 'spec.json', fieldRef: { fieldPath: `metadata.annotations['${LAUNCHER_SPEC_ANNOTATION}']` } }],
      },
    },
    { name: 'state', hostPath: { path: LAUNCHER_STATE_ROOT, type: 'DirectoryOrCreate' } },
    ...boots.map((b) => ({ name: b.name, hostPath: { path: b.path, type: 'File' } })),
  ];
}
