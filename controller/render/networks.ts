/**
 * The launcher pod's network annotations, rendered from a VMI the way
 * KubeVirt's virt-controller does (pkg/network/pod/annotations): each multus
 * network that is not the default becomes an element of
 * k8s.v1.cni.cncf.io/networks with KubeVirt's pod<hash> interface name and
 * the interface's requested MAC (which the delegate gets as runtimeConfig.mac);
 * a multus network with default: true becomes v1.multus-cni.io/default-network.
 */
import { podIfName } from '../../launcher/names.ts';
import type { InterfaceSpec, NetworkSpec } from '../../launcher/spec.ts';
import { NETWORKS_ANNOTATION } from '../../netattach/annotation.ts';
import { DEFAULT_NETWORK_ANNOTATION } from '../../netattach/pod.ts';
import { objectKey, parseObjectKey } from '../api/object-key.ts';

interface Selection {
  name: string;
  namespace: string;
  interface: string;
  mac?: string;
  ips?: string[];
}

export function launcherPodNetworkAnnotations(vmi: {
  namespace: string;
  interfaces: InterfaceSpec[];
  networks: NetworkSpec[];
}): Record<string, string> {
  const out: Record<string, string> = {};
  const selections: Selection[] = [];
  for (const net of vmi.networks) {
    if (!net.multus) continue;
    // KubeVirt's networkName: "name" or "namespace/name", the namespace defaulting to the VMI's.
    const { namespace, name } = parseObjectKey(net.multus.networkName, vmi.namespace);
    if (net.multus.default) {
      out[DEFAULT_NETWORK_ANNOTATION] = objectKey({ namespace, name });
      continue;
    }
    const iface = vmi.interfaces.find((i) => i.name === net.name);
    if (iface?.state === 'absent') continue;
    selections.push({
      name,
      namespace,
      interface: podIfName(net),
      ...(iface?.macAddress && { mac: iface.macAddress.toLowerCase() }),
      // Multus hands these to the delegate as runtimeConfig.ips (spec 4.1.2.1.x).
      ...(net.multus.ips?.length && { ips: [...net.multus.ips] }),
    });
  }
  if (selections.length) out[NETWORKS_ANNOTATION] = JSON.stringify(selections);
  return out;
}
