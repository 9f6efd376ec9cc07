/**
 * What a new spec asks of a running launcher, pure: the NICs to plug, to
 * unplug and to set up or down (KubeVirt's interface hotplug: a new
 * interface, `state: absent`, `state: down`/`up`). The controller decides
 * what may change live (controller/api/live-update.ts); the launcher checks
 * again at its own boundary, since spec.json is a file anyone on the node
 * could have written, and refuses anything else by field.
 */
import type { InterfaceSpec, LauncherSpec } from '../spec.ts';
import type { NicPlan } from './types.ts';

export interface LiveActions {
  /** Interfaces to wire and plug, in the spec's order. */
  plug: InterfaceSpec[];
  /** NIC names to unplug and unwire. */
  unplug: string[];
  link: Array<{ name: string; state: NicPlan['linkState'] }>;
}

export class LiveChangeError extends Error {}

/** The keys of a launcher spec that a live change leaves alone. */
const LIVE_KEYS = new Set(['interfaces', 'networks', 'generation']);

/** parseLauncherSpec rebuilds every spec in one key order, so JSON text compares two of them. */
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function frozenFieldsChanged(current: LauncherSpec, next: LauncherSpec): string[] {
  const keys = new Set([...Object.keys(current), ...Object.keys(next)].filter((k) => !LIVE_KEYS.has(k)));
  const at = (s: LauncherSpec, k: string) => (s as unknown as Record<string, unknown>)[k];
  return [...keys].filter((k) => !same(at(current, k), at(next, k))).sort();
}

/** An interface's fields but its state: what a wired NIC keeps while it runs. */
function withoutState(i: InterfaceSpec): Omit<InterfaceSpec, 'state'> {
  const { state: _state, ...rest } = i;
  return rest;
}

function networkOf(spec: LauncherSpec, name: string) {
  return spec.networks.find((n) => n.name === name);
}

/**
 * The actions that take the running VM from `current` (with the NICs in `wired`) to `next`. Idempotent: a
 * NIC already wired is not plugged again, one already gone is not unplugged. Throws LiveChangeError naming
 * every field that cannot change on a running VM.
 */
export function liveActions(
  current: LauncherSpec,
  next: LauncherSpec,
  wired: readonly Pick<NicPlan, 'name' | 'linkState'>[],
): LiveActions {
  const frozen = frozenFieldsChanged(current, next);
  const out: LiveActions = { plug: [], unplug: [], link: [] };
  const wiredNow = new Map(wired.map((n) => [n.name, n]));
  for (const [k, iface] of next.interfaces.entries()) {
    const nic = wiredNow.get(iface.name);
    const was = current.interfaces.find((i) => i.name === iface.name);
    if (iface.state === 'absent') {
      if (nic) out.unplug.push(iface.name);
      continue;
    }
    if (!nic) {
      out.plug.push(iface);
      continue;
    }
    if (was && !same(withoutState(was), withoutState(iface))) frozen.push(`interfaces[${k}] (${iface.name})`);
    // Only against the spec it was wired from: a NIC the guest would not release is no longer in that spec.
    if (was && !same(networkOf(current, iface.name), networkOf(next, iface.name)))
      frozen.push(`networks (${iface.name})`);
    const state = iface.state === 'down' ? 'down' : 'up';
    if (state !== nic.linkState) out.link.push({ name: iface.name, state });
  }
  // A wired NIC the spec no longer names goes too: the controller drops an interface only once it is absent.
  for (const n of wired) if (!next.interfaces.some((i) => i.name === n.name)) out.unplug.push(n.name);
  if (frozen.length)
    throw new LiveChangeError(
      `cannot change on a running VM: ${frozen.join(', ')}; only interfaces can be added, set absent, up or down`,
    );
  return out;
}

/**
 * The index a plugged NIC takes: the lowest no wired NIC has. It numbers the DHCP server's address, the
 * policy table and its rule (launcher/plan/bridge.ts), which must not clash with a running NIC's.
 */
export function lowestFreeIndex(nics: readonly Pick<NicPlan, 'index'>[]): number {
  const used = new Set(nics.map((n) => n.index));
  let i = 0;
  while (used.has(i)) i++;
  return i;
}
