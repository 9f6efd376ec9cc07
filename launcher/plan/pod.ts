/**
 * The whole pod's plan, from the spec and the discovered pod network: one
 * NIC plan per VMI interface, by binding. Pure.
 */
import type { PodNetwork } from '../discover.ts';
import { linkNamesFor } from '../names.ts';
import type { LauncherSpec } from '../spec.ts';
import { planBridgeNic } from './bridge.ts';
import { planMasqueradeNic } from './masquerade.ts';
import type { HostFacts, PodPlan } from './types.ts';

export class PlanError extends Error {}

export function planPod(spec: LauncherSpec, network: PodNetwork, facts: HostFacts): PodPlan {
  const plan: PodPlan = { ops: [], ops6: [], sysctls: {}, nft: [], nics: [], warnings: [] };
  for (const line of network.resolv.skipped) plan.warnings.push(`resolv.conf: ignored line ${JSON.stringify(line)}`);
  spec.interfaces.forEach((iface, index) => {
    const net = spec.networks.find((n) => n.name === iface.name);
    if (!net) throw new PlanError(`interfaces[${index}] ${iface.name}: no network of that name`);
    if (iface.state === 'absent') return;
    const names = linkNamesFor(net);
    const pod = network.interfaces.find((i) => i.name === names.podIf);
    if (!pod)
      throw new PlanError(
        `interfaces[${index}] ${iface.name}: pod interface ${names.podIf} not found ` +
          `(have ${network.interfaces.map((i) => i.name).join(', ') || 'none'})`,
      );
    if (iface.masquerade) {
      const m = planMasqueradeNic(spec, network, { index, iface, network: net, pod, names });
      plan.ops.push(...m.ops);
      plan.nft.push(...m.nft);
      Object.assign(plan.sysctls, m.sysctls);
      plan.nics.push(m.nic);
      plan.warnings.push(...m.warnings);
      return;
    }
    if (!iface.bridge)
      throw new PlanError(`interfaces[${index}] ${iface.name}: needs a binding (bridge or masquerade)`);
    const freshMac = facts.freshMacs[index];
    if (!freshMac) throw new PlanError(`interfaces[${index}]: no fresh MAC supplied`);
    const nic = planBridgeNic(spec, network, { index, iface, pod, names, freshMac, dummyLinks: facts.dummyLinks });
    plan.ops.push(...nic.ops);
    plan.ops6.push(...nic.ops6);
    Object.assign(plan.sysctls, nic.sysctls);
    plan.nics.push(nic.nic);
    plan.warnings.push(...nic.warnings);
  });
  return plan;
}
