/**
 * A VirtualMachine's VMI (KubeVirt's VM controller): named after the VM,
 * in its namespace, with the template's labels, annotations and spec, and
 * owned by the VM. Shared by the standalone node and the cluster controller.
 */
type Obj = Record<string, any>;

export function vmiForVm(vm: Obj): Obj {
  const t = vm.spec.template ?? {};
  return {
    apiVersion: vm.apiVersion,
    kind: 'VirtualMachineInstance',
    metadata: {
      name: vm.metadata.name,
      namespace: vm.metadata.namespace,
      ...(t.metadata?.labels && { labels: t.metadata.labels }),
      ...(t.metadata?.annotations && { annotations: t.metadata.annotations }),
      ownerReferences: [
        {
          apiVersion: vm.apiVersion,
          kind: 'VirtualMachine',
          name: vm.metadata.name,
          controller: true,
          blockOwnerDeletion: true,
          ...(vm.metadata.uid && { uid: vm.metadata.uid }),
        },
      ],
    },
    spec: t.spec,
  };
}
