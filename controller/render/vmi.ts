/**
 * A VirtualMachine's VMI (KubeVirt's VM controller): named after the VM,
 * in its namespace, with the template's labels, annotations and spec, and
 * owned by the VM. Shared by the standalone node and the cluster controller.
 */
import type { ObjectMeta, OwnerReference } from '../api/kube-objects.ts';
import type { VirtualMachine, VirtualMachineInstance } from '../api/schema.ts';

/** A VMI made for a VM: the VM's owner reference on it. */
export type OwnedVmi = VirtualMachineInstance & { metadata: { ownerReferences: OwnerReference[] } };

export function vmiForVm(vm: VirtualMachine & { metadata: Pick<ObjectMeta, 'uid'> }): OwnedVmi {
  const t = vm.spec.template;
  const { name, namespace, uid } = vm.metadata;
  return {
    apiVersion: vm.apiVersion,
    kind: 'VirtualMachineInstance',
    metadata: {
      name,
      ...(namespace !== undefined && { namespace }),
      ...(t.metadata?.labels && { labels: t.metadata.labels }),
      ...(t.metadata?.annotations && { annotations: t.metadata.annotations }),
      ownerReferences: [
        {
          apiVersion: vm.apiVersion,
          kind: 'VirtualMachine',
          name,
          controller: true,
          blockOwnerDeletion: true,
          ...(uid && { uid }),
        },
      ],
    },
    spec: t.spec,
  };
}
