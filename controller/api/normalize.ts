/**
 * Defaults, filled so that a validated object says what will run (what
 * KubeVirt's mutating webhook and API defaults would do):
 *
 *   - metadata.namespace "default"; a VM's template gets the VM's namespace;
 *   - no interfaces and no networks (and autoattachPodInterface not false):
 *     the pod network "default" with a bridge interface, KubeVirt's
 *     defaultNetworkInterface (pkg/virt-config: bridge);
 *   - interface model "virtio"; MAC in the launcher's form (lower case,
 *     colons); "" for Go-zero-valued strings removed (macAddress, pciAddress,
 *     state "" = up); port protocol "" or absent → "TCP".
 *
 * status is dropped: it is reported by virtnet, never read from a manifest.
 * apiVersion and every other field stay as written. Normalising twice gives
 * the same object (the round-trip test relies on it). Input is not mutated.
 */
import { canonicalMac } from './rules-interfaces.ts';
import type {
  NormalizedInterface,
  RunStrategy,
  VirtualMachine,
  VirtualMachineInstance,
  VmiInterface,
  VmiSpec,
} from './schema.ts';

export const DEFAULT_NAMESPACE = 'default';
/** KubeVirt's name for the auto-attached pod network (pkg/network/vmispec DefaultPodNetworkName). */
export const DEFAULT_NETWORK_NAME = 'default';

export function normalizeVmi(vmi: VirtualMachineInstance): VirtualMachineInstance {
  const copy = structuredClone(vmi);
  delete copy.status;
  copy.metadata.namespace ??= DEFAULT_NAMESPACE;
  copy.spec = normalizeSpec(copy.spec);
  return copy;
}

export function normalizeVm(vm: VirtualMachine): VirtualMachine {
  const copy = structuredClone(vm);
  delete copy.status;
  const namespace = (copy.metadata.namespace ??= DEFAULT_NAMESPACE);
  const template = copy.spec.template;
  template.metadata = { ...template.metadata, namespace };
  template.spec = normalizeSpec(template.spec);
  return copy;
}

function normalizeSpec(spec: VmiSpec): VmiSpec {
  const devices = spec.domain.devices;
  if (!devices.interfaces?.length && !spec.networks?.length && devices.autoattachPodInterface !== false) {
    devices.interfaces = [{ name: DEFAULT_NETWORK_NAME, bridge: {} }];
    spec.networks = [{ name: DEFAULT_NETWORK_NAME, pod: {} }];
  }
  if (devices.interfaces) devices.interfaces = devices.interfaces.map(normalizeInterface);
  return spec;
}

/**
 * One interface with its defaults; idempotent. Typed NormalizedInterface, so
 * the compiler checks that normalisation does what that type promises.
 */
export function normalizeInterface(iface: VmiInterface): NormalizedInterface {
  const { model, state, ports, ...rest } = iface;
  const out: NormalizedInterface = { ...rest, model: model ?? 'virtio' };
  if (state) out.state = state;
  if (ports) out.ports = ports.map((p) => ({ ...p, protocol: p.protocol || 'TCP' }));
  if (out.macAddress === '') delete out.macAddress;
  else if (out.macAddress !== undefined) out.macAddress = canonicalMac(out.macAddress) ?? out.macAddress;
  if (out.pciAddress === '') delete out.pciAddress;
  return out;
}

/** A validated spec's interfaces with the normalised type (what the launcher's InterfaceSpec is built from). */
export function normalizedInterfaces(spec: VmiSpec): NormalizedInterface[] {
  return (spec.domain.devices.interfaces ?? []).map(normalizeInterface);
}

/** What a VM's run strategy is: runStrategy, else running true → Always, false → Halted (KubeVirt's mapping). */
export function runStrategyOf(vm: VirtualMachine): RunStrategy {
  return vm.spec.runStrategy ?? (vm.spec.running ? 'Always' : 'Halted');
}
