/**
 * A pod's attachments from its annotations, as Multus decides them: the
 * cluster-default network first as eth0 (or the NAD named by
 * v1.multus-cni.io/default-network), then each network selected in
 * k8s.v1.cni.cncf.io/networks, in order, named as asked or net<i> (counting
 * the default, so the first secondary is net1). With namespace isolation a
 * pod may use NADs only from its own namespace or the global ones. Pure: the
 * caller supplies the NADs.
 */
import { ErrorCode, VirtnetError } from '../lib/errors.ts';
import { NETWORKS_ANNOTATION, parseNetworksAnnotation, type NetworkSelection } from './annotation.ts';
import { resolveNetwork, type NetworkAttachmentDefinition } from './nad.ts';
import type { AttachmentRequest } from './attach.ts';
import { declaresCapability, type ConfList } from './invoke.ts';

export const DEFAULT_NETWORK_ANNOTATION = 'v1.multus-cni.io/default-network';

export class AttachError extends VirtnetError {
  constructor(
    readonly field: string,
    readonly rule: string,
  ) {
    super(ErrorCode.invalidConfig, `${field}: ${rule}`);
  }
}

export interface AttachContext {
  /** The cluster-default network (the first config of the CNI config directory). */
  clusterDefault: ConfList;
  lookupNad(namespace: string, name: string): NetworkAttachmentDefinition | undefined;
  /** For NADs without spec.config. */
  confDir?: string;
  namespaceIsolation: boolean;
  /** Namespaces whose NADs every pod may use (Multus' globalNamespaces, default "default"). */
  globalNamespaces: string[];
}

export interface PodMeta {
  namespace: string;
  annotations?: Record<string, string>;
}

function nadList(
  field: string,
  pod: PodMeta,
  sel: Pick<NetworkSelection, 'name' | 'namespace'>,
  ctx: AttachContext,
): ConfList {
  if (ctx.namespaceIsolation && sel.namespace !== pod.namespace && !ctx.globalNamespaces.includes(sel.namespace)) {
    throw new AttachError(
      field,
      `NetworkAttachmentDefinition ${sel.namespace}/${sel.name} is in another namespace; pods in ${pod.namespace} ` +
        `may use only their own and ${ctx.globalNamespaces.join(', ') || 'no global'} namespaces`,
    );
  }
  const nad = ctx.lookupNad(sel.namespace, sel.name);
  if (!nad) throw new AttachError(field, `NetworkAttachmentDefinition ${sel.namespace}/${sel.name} not found`);
  try {
    return resolveNetwork(nad, ctx.confDir).conflist;
  } catch (e) {
    throw new AttachError(field, `NetworkAttachmentDefinition ${sel.namespace}/${sel.name}: ${(e as Error).message}`);
  }
}

/** Capability arguments a selection asks for (the multi-net spec's mapping). */
function capabilityArgs(sel: NetworkSelection): Record<string, unknown> | undefined {
  const args: Record<string, unknown> = {
    ...(sel.ips && { ips: sel.ips }),
    ...(sel.mac && { mac: sel.mac }),
    ...(sel.portMappings && { portMappings: sel.portMappings }),
    ...(sel.bandwidth && { bandwidth: sel.bandwidth }),
    ...(sel.infinibandGuid && { infinibandGUID: sel.infinibandGuid }),
  };
  return Object.keys(args).length ? args : undefined;
}

/**
 * Static addresses that no plugin of the network takes would be dropped
 * without a word (libcni passes a capability only to plugins that declare
 * it): the multi-net spec says to fail instead, and so this does, for ips.
 */
function requireIpsCapability(field: string, sel: NetworkSelection, list: ConfList): void {
  if (!sel.ips?.length) return;
  if (list.plugins.some((p) => declaresCapability(p, 'ips'))) return;
  throw new AttachError(
    `${field}.ips`,
    `NetworkAttachmentDefinition ${sel.namespace}/${sel.name} has no plugin with "capabilities": {"ips": true}, so ` +
      `the addresses ${sel.ips.join(', ')} would be dropped; declare it on the plugin whose IPAM takes them (static)`,
  );
}

export function podAttachments(pod: PodMeta, ctx: AttachContext): AttachmentRequest[] {
  const annotations = pod.annotations ?? {};
  const requests: AttachmentRequest[] = [];
  const defaultName = annotations[DEFAULT_NETWORK_ANNOTATION]?.trim();
  if (defaultName) {
    const field = `metadata.annotations["${DEFAULT_NETWORK_ANNOTATION}"]`;
    const sel = parseNetworksAnnotation(defaultName, pod.namespace);
    if (sel.length !== 1 || sel[0]!.interface)
      throw new AttachError(field, 'must name exactly one network, as [namespace/]name');
    requests.push({
      name: `${sel[0]!.namespace}/${sel[0]!.name}`,
      list: nadList(field, pod, sel[0]!, ctx),
      ifname: 'eth0',
      isDefault: true,
    });
  } else {
    requests.push({ name: ctx.clusterDefault.name, list: ctx.clusterDefault, ifname: 'eth0', isDefault: true });
  }
  const selections = annotations[NETWORKS_ANNOTATION]
    ? parseNetworksAnnotation(annotations[NETWORKS_ANNOTATION]!, pod.namespace)
    : [];
  selections.forEach((sel, i) => {
    const field = `metadata.annotations["${NETWORKS_ANNOTATION}"][${i}]`;
    const ifname = sel.interface ?? `net${i + 1}`;
    if (requests.some((r) => r.ifname === ifname))
      throw new AttachError(`${field}.interface`, `"${ifname}" is already used by another attachment`);
    const caps = capabilityArgs(sel);
    const list = nadList(field, pod, sel, ctx);
    requireIpsCapability(field, sel, list);
    requests.push({
      name: `${sel.namespace}/${sel.name}`,
      list,
      ifname,
      isDefault: false,
      ...(caps && { capabilityArgs: caps }),
      ...(sel.cniArgs && { argsCni: sel.cniArgs }),
    });
  });
  return requests;
}
