/**
 * Whether a change to a running VMI's spec can be applied without a restart.
 *
 * KubeVirt lets a running VM gain and lose network interfaces (user guide,
 * "Hotplug Network Interfaces", https://kubevirt.io/user-guide/network/hotplug_interfaces/,
 * GA since v1.4): a new interface in the spec is hot-plugged, `state: absent`
 * hot-unplugs one. An interface's link state (up/down) is applied live as
 * well. Everything else in the spec is fixed for the VMI's life, so a change
 * there is a clash, reported by field path; the caller restarts or refuses.
 *
 * Pure and total: any two specs get an answer, malformed ones included.
 * Validation (rules-*.ts), not this function, says what is wrong with a spec.
 */
import { normalizeInterface } from './normalize.ts';
import { bindingsOf } from './rules-interfaces.ts';
import { isDefaultNetwork } from './rules-networks.ts';
import type { NormalizedInterface, VmiInterface, VmiNetwork, VmiSpec } from './schema.ts';

export type LinkState = 'up' | 'down';
export type LiveChange =
  /** Nothing differs (after normalisation), or nothing that needs doing (an interface added already absent). */
  | { kind: 'none' }
  /** Interface names, in the wanted spec's order, then the running spec's for names only there. */
  | { kind: 'live'; plug: string[]; unplug: string[]; link: { name: string; state: LinkState }[] }
  /** Field paths that cannot change live, sorted, deduplicated; when there is one, nothing else is reported. */
  | { kind: 'clash'; fields: string[] };

const IFACES = 'spec.domain.devices.interfaces';
const NETS = 'spec.networks';

type Json = Record<string, unknown>;
type State = LinkState | 'absent';

/** One spec's interfaces and networks by name. */
interface Side {
  ifaces: Map<string, NormalizedInterface>;
  nets: Map<string, VmiNetwork>;
}

/** What the comparison found so far; clashes win over everything else. */
interface Found {
  plug: string[];
  unplug: string[];
  link: { name: string; state: LinkState }[];
  clashes: string[];
}

/** What it takes to turn the running VMI's spec into the wanted one without a restart, or why it cannot be done. */
export function liveChange(running: VmiSpec, wanted: VmiSpec): LiveChange {
  const before = sideOf(running);
  const after = sideOf(wanted);
  const found: Found = { plug: [], unplug: [], link: [], clashes: fixedFieldDiffs(running, wanted, 'spec', SPEC) };
  for (const name of new Set([...after.ifaces.keys(), ...before.ifaces.keys()])) {
    compareInterface(name, before, after, found);
  }
  found.clashes.push(...networkClashes(before, after));
  if (found.clashes.length > 0) return { kind: 'clash', fields: [...new Set(found.clashes)].sort() };
  const { plug, unplug, link } = found;
  if (plug.length + unplug.length + link.length === 0) return { kind: 'none' };
  return { kind: 'live', plug, unplug, link };
}

/**
 * One sentence for a clash, naming the fields, e.g. "spec.domain.resources,
 * spec.domain.devices.interfaces[net1].macAddress cannot change on a running
 * VMI; only interfaces (add, state: absent, up, down) and their networks can".
 */
export function clashMessage(fields: string[]): string {
  if (fields.length === 0) return 'no field clashes: the change can be applied to the running VMI';
  return (
    `${fields.join(', ')} cannot change on a running VMI; ` +
    'only interfaces (add, state: absent, up, down) and their networks can'
  );
}

/**
 * Where the fixed-field comparison goes down a level instead of comparing a
 * whole value: into spec.domain and spec.domain.devices, so that a change is
 * reported as spec.domain.resources rather than spec.domain. 'live' marks the
 * parts the interface and network rules compare instead.
 */
type Shape = { [key: string]: Shape | 'live' };
const SPEC: Shape = { networks: 'live', domain: { devices: { interfaces: 'live' } } };

/** The paths under `path` whose values differ, at the depth `shape` gives. */
function fixedFieldDiffs(a: unknown, b: unknown, path: string, shape: Shape): string[] {
  const left = a === undefined ? {} : a;
  const right = b === undefined ? {} : b;
  if (!isJson(left) || !isJson(right)) return same(a, b) ? [] : [path];
  const out: string[] = [];
  for (const key of keysOf(left, right)) {
    const inner = own(shape, key) as Shape | 'live' | undefined;
    if (inner === 'live') continue;
    if (inner) out.push(...fixedFieldDiffs(own(left, key), own(right, key), `${path}.${key}`, inner));
    else if (!same(own(left, key), own(right, key))) out.push(`${path}.${key}`);
  }
  return out;
}

/**
 * One interface name. Gone from the spec is only fine once it is absent:
 * KubeVirt unplugs by `state: absent` and drops the interface afterwards, so
 * deleting a live one would leave a NIC in the guest that the spec no longer
 * describes. Not in the running spec counts as absent there (a plug).
 */
function compareInterface(name: string, before: Side, after: Side, found: Found): void {
  const old = before.ifaces.get(name);
  const now = after.ifaces.get(name);
  if (!now) {
    if (old && stateOf(old) !== 'absent') found.clashes.push(`${IFACES}[${name}]`);
    return;
  }
  if (old) found.clashes.push(...interfaceFieldDiffs(old, now).map((f) => `${IFACES}[${name}].${f}`));
  const from = old ? stateOf(old) : 'absent';
  const to = stateOf(now);
  if (from === to) return;
  if (to === 'absent') unplug(name, now, before.nets.get(name) ?? after.nets.get(name), found);
  else if (from === 'absent') plug(name, now, after.nets.get(name), found);
  else found.link.push({ name, state: to });
}

function plug(name: string, iface: NormalizedInterface, net: VmiNetwork | undefined, found: Found): void {
  // Validation requires the network; checked again so that a plug never goes out without one.
  if (!net) found.clashes.push(`${NETS}[${name}]`);
  if (!hotPluggable(iface, net)) found.clashes.push(`${IFACES}[${name}]`);
  else if (net) found.plug.push(name);
}

function unplug(name: string, iface: NormalizedInterface, net: VmiNetwork | undefined, found: Found): void {
  if (!hotPluggable(iface, net)) found.clashes.push(`${IFACES}[${name}]`);
  else found.unplug.push(name);
}

/**
 * KubeVirt hot-unplugs only bridge-bound interfaces (hotplug_interfaces:
 * "Hot-unplug is supported only for interfaces connected through bridge
 * binding"); of its hot-pluggable bindings virtnet has only bridge, as
 * masquerade's NAT is set up with the pod. The pod network and a multus
 * default are the VM's primary network, which exists from the pod's start to
 * its end, so their NIC is never plugged or unplugged.
 */
function hotPluggable(iface: NormalizedInterface, net: VmiNetwork | undefined): boolean {
  const bindings = bindingsOf(iface);
  return bindings.length === 1 && bindings[0] === 'bridge' && !isDefaultNetwork(net);
}

/** The fields of an interface that differ; state is the one that may change live. */
function interfaceFieldDiffs(a: NormalizedInterface, b: NormalizedInterface): string[] {
  const left = a as Json;
  const right = b as Json;
  return keysOf(left, right).filter((key) => key !== 'state' && !same(own(left, key), own(right, key)));
}

/**
 * A network under a NIC that stays plugged cannot change: the pod's
 * attachment was made from it. A network whose NIC is plugged, unplugged,
 * absent or gone may change or go freely (a plug reads the new one).
 */
function networkClashes(before: Side, after: Side): string[] {
  const out: string[] = [];
  for (const [name, old] of before.nets) {
    if (!pluggedInBoth(name, before, after)) continue;
    const now = after.nets.get(name);
    if (!now || !same(old, now)) out.push(`${NETS}[${name}]`);
  }
  return out;
}

function pluggedInBoth(name: string, before: Side, after: Side): boolean {
  const old = before.ifaces.get(name);
  const now = after.ifaces.get(name);
  return old !== undefined && now !== undefined && stateOf(old) !== 'absent' && stateOf(now) !== 'absent';
}

/** "" (Go's zero value) and unset mean up; normalisation already dropped "". */
function stateOf(iface: NormalizedInterface): State {
  const state: unknown = iface.state;
  return state === 'absent' || state === 'down' ? state : 'up';
}

/**
 * A spec's interfaces (normalised) and networks by name; of a duplicated name the first wins, as validation
 * reports it.
 */
function sideOf(spec: unknown): Side {
  const ifaces = new Map<string, NormalizedInterface>();
  for (const raw of listAt(spec, ['domain', 'devices', 'interfaces'])) {
    const name = String(raw.name);
    if (!ifaces.has(name)) ifaces.set(name, normalized(raw as VmiInterface));
  }
  const nets = new Map<string, VmiNetwork>();
  for (const raw of listAt(spec, ['networks'])) {
    const name = String(raw.name);
    if (!nets.has(name)) nets.set(name, raw as VmiNetwork);
  }
  return { ifaces, nets };
}

/**
 * normalizeInterface (what normalizedInterfaces maps over a spec's list), or
 * the interface as written when it is too malformed to normalise (ports that
 * are not a list): validation rejects it, this function must only not throw.
 */
function normalized(iface: VmiInterface): NormalizedInterface {
  try {
    return normalizeInterface(iface);
  } catch {
    return iface as NormalizedInterface;
  }
}

/** The objects in the list at `path`; anything else there (missing, not a list, null entries) counts as none. */
function listAt(root: unknown, path: string[]): Json[] {
  const list = path.reduce<unknown>((x, key) => (isJson(x) ? own(x, key) : undefined), root);
  return Array.isArray(list) ? list.filter(isJson) : [];
}

/**
 * Deep equality of JSON values: key order does not matter, and an undefined
 * key or an empty list equals a missing one (Kubernetes drops both when it
 * stores an object, omitempty). List order matters.
 */
function same(a: unknown, b: unknown): boolean {
  if (Object.is(a, b) || a === b) return true;
  if (a === undefined || b === undefined) return isEmptyList(a ?? b);
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && sameLists(a, b);
  if (!isJson(a) || !isJson(b)) return false;
  return keysOf(a, b).every((key) => same(own(a, key), own(b, key)));
}

function sameLists(a: unknown[], b: unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!same(a[i], b[i])) return false;
  return true;
}

function isEmptyList(x: unknown): boolean {
  return Array.isArray(x) && x.length === 0;
}

function isJson(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** A key's own value: a spec key such as "constructor" must not find Object.prototype's. */
function own(x: object, key: string): unknown {
  return Object.hasOwn(x, key) ? (x as Json)[key] : undefined;
}

function keysOf(a: Json, b: Json): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])];
}
