/**
 * What a VM NIC can be: the bindings the launcher implements and the models
 * libvirt gives the guest. The launcher's plan, its status report and the
 * API's schema (controller/api/schema-network.ts) all take them from here.
 */

/** KubeVirt's other bindings (sriov, slirp, passt, ...): admission refuses them (rules-interfaces.ts). */
export const BINDINGS = ['bridge', 'masquerade'] as const;
export type Binding = (typeof BINDINGS)[number];

/** KubeVirt's validInterfaceModels (pkg/network/admitter/netiface.go), plus igb: libvirt's <model type>. */
export const NIC_MODELS = ['virtio', 'e1000', 'e1000e', 'igb', 'ne2k_pci', 'pcnet', 'rtl8139'] as const;
export type NicModel = (typeof NIC_MODELS)[number];
