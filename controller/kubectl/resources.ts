/**
 * The resource types `kubectl virtnet` reads, by every name kubectl accepts
 * for them (plural, singular, short names), and how `-o name` spells each.
 * No cluster client here: the completion executable reads this too.
 */
import type { PluginResource } from '../kube/plugin-api.ts';

const NAMES: Record<PluginResource, readonly string[]> = {
  virtualmachineinstances: ['vmis', 'vmi', 'virtualmachineinstance', 'virtualmachineinstances'],
  virtualmachines: ['vms', 'vm', 'virtualmachine', 'virtualmachines'],
  'network-attachment-definitions': [
    'nads',
    'nad',
    'net-attach-def',
    'network-attachment-definition',
    'network-attachment-definitions',
  ],
};

/** kubectl's `-o name` prefix: the singular resource name with its API group. */
export const NAME_PREFIX: Record<PluginResource, string> = {
  virtualmachineinstances: 'virtualmachineinstance.virtnet.io',
  virtualmachines: 'virtualmachine.virtnet.io',
  'network-attachment-definitions': 'network-attachment-definition.k8s.cni.cncf.io',
};

/** The short plural each type is offered as (completion, error hints): vmis, vms, nads. */
export const TYPE_WORDS = Object.values(NAMES).map((names) => names[0]!);

/** The resource a word names (case-insensitive, as kubectl), or undefined. */
export function resourceOf(word: string): PluginResource | undefined {
  const lower = word.toLowerCase();
  return (Object.keys(NAMES) as PluginResource[]).find((r) => NAMES[r].includes(lower));
}
