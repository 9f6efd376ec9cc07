/**
 * spec.domain.devices.interfaces[]: KubeVirt's pkg/network/admitter rules
 * (netiface.go: name format and uniqueness, a network per interface, MAC and
 * PCI address forms; binding.go: one binding, masquerade only on the pod
 * network, its reserved MAC; discontinued.go / slirp.go / macvtap.go /
 * passt.go: bindings refused by name; validateInterfaceStateValue: state and
 * `absent`) and the gaps the reference lists: acpiIndex range and
 * uniqueness, multicast and duplicate MACs, virtnet's own `mtu`.
 */
import { SUPPORTED_BINDINGS, BINDING_KEYS, type VmiInterface, type VmiNetwork, type VmiSpec } from './schema.ts';
import { index, shown, type RuleProblem } from './paths.ts';
import { isDefaultNetwork } from './rules-networks.ts';
import { dhcpProblems, portProblems, portRangeProblems } from './rules-ports.ts';

const NAME = /^[A-Za-z0-9-_]+$/u;
/** Six octets, all ":" or all "-" (Go's net.ParseMAC also takes 8- and 20-byte forms, which KubeVirt then rejects). */
const MAC = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}$/iu;
/** DDDD:BB:SS.F (pkg/util/hardware ParsePciAddress); a slot is 5 bits. */
const PCI = /^[0-9a-f]{4}:[0-9a-f]{2}:[01][0-9a-f]\.[0-7]$/iu;
/** The in-pod bridge's MAC under masquerade (pkg/network/link IsReserved). */
const RESERVED_MAC = '02:00:00:00:00:00';
/** libvirt's <acpi index> range; KubeVirt documents it but does not check it. */
const ACPI_MAX = 16383;
/** RFC 791 minimum IPv4 MTU / the kernel's ETH_MAX_MTU. */
const MTU_MIN = 68;
const MTU_MAX = 65535;
/** RFC 8200 §5: an IPv6 link must carry 1280-byte packets. */
const MTU_MIN_IPV6 = 1280;

const SUPPORTED = `supported: ${SUPPORTED_BINDINGS.join(', ')}`;
const DISCONTINUED = new Set(['slirp', 'macvtap', 'passt']);

/** A MAC in the launcher's form (lower case, colons); undefined when malformed. */
export function canonicalMac(text: string): string | undefined {
  return MAC.test(text) ? text.toLowerCase().replaceAll('-', ':') : undefined;
}

export function bindingsOf(iface: VmiInterface): string[] {
  return BINDING_KEYS.filter((k) => iface[k] !== undefined);
}

/** `must be unique` against an earlier interface with the same key, else remember this one. */
type Unique = <K>(seen: Map<K, number>, key: K, i: number, path: string, given: unknown) => void;

export function interfaceProblems(spec: VmiSpec, at: string): RuleProblem[] {
  const out: RuleProblem[] = [];
  const base = `${at}.domain.devices.interfaces`;
  const nets = new Map<string, VmiNetwork>();
  // A duplicate is reported by rules-networks.ts.
  for (const n of spec.networks ?? []) if (!nets.has(n.name)) nets.set(n.name, n);
  const names = new Map<string, number>();
  const unique: Unique = (seen, key, i, path, given) => {
    const first = seen.get(key);
    if (first === undefined) seen.set(key, i);
    else out.push({ path, rule: `${shown(given)} must be unique; also used by ${index(base, first)}` });
  };
  const addresses = addressRules(unique);
  (spec.domain.devices.interfaces ?? []).forEach((iface, i) => {
    const p = index(base, i);
    const net = nets.get(iface.name);
    if (!NAME.test(iface.name))
      out.push({ path: `${p}.name`, rule: `${shown(iface.name)} may contain only letters, digits, "-" and "_"` });
    unique(names, iface.name, i, `${p}.name`, iface.name);
    if (!net)
      out.push({
        path: `${p}.name`,
        rule: `no network named ${shown(iface.name)} in ${at}.networks; every interface needs one`,
      });
    out.push(...bindingProblems(iface, p, net), ...addresses(iface, i, p), ...stateProblems(iface, p, net));
    if (iface.mtu !== undefined) out.push(...mtuProblems(iface.mtu, `${p}.mtu`, net));
    out.push(...portProblems(iface, p, net), ...portRangeProblems(iface, p, net), ...dhcpProblems(iface, p));
  });
  return out;
}

/** The rules of an interface's MAC, PCI address and ACPI index: each well-formed and unique among the VM's. */
function addressRules(unique: Unique): (iface: VmiInterface, i: number, p: string) => RuleProblem[] {
  const firsts = { mac: new Map<string, number>(), pci: new Map<string, number>(), acpi: new Map<number, number>() };
  return (iface, i, p) => {
    const out: RuleProblem[] = [];
    if (iface.macAddress) {
      const mac = canonicalMac(iface.macAddress);
      const rule = macProblem(iface.macAddress, mac, iface.masquerade !== undefined);
      if (rule) out.push({ path: `${p}.macAddress`, rule });
      if (mac) unique(firsts.mac, mac, i, `${p}.macAddress`, iface.macAddress);
    }
    if (iface.pciAddress) {
      if (!PCI.test(iface.pciAddress))
        out.push({
          path: `${p}.pciAddress`,
          rule:
            `${shown(iface.pciAddress)} is not a PCI address DDDD:BB:SS.F (hex; slot at most 1f, function 0-7), ` +
            `e.g. 0000:81:00.1`,
        });
      else unique(firsts.pci, iface.pciAddress.toLowerCase(), i, `${p}.pciAddress`, iface.pciAddress);
    }
    if (iface.acpiIndex !== undefined) {
      if (iface.acpiIndex < 1 || iface.acpiIndex > ACPI_MAX)
        out.push({ path: `${p}.acpiIndex`, rule: `must be in 1-${ACPI_MAX} (is ${iface.acpiIndex})` });
      else unique(firsts.acpi, iface.acpiIndex, i, `${p}.acpiIndex`, iface.acpiIndex);
    }
    return out;
  };
}

/** `state: absent` (hot-unplug): only a bridge-bound NIC, never the default network's. */
function stateProblems(iface: VmiInterface, p: string, net: VmiNetwork | undefined): RuleProblem[] {
  if (iface.state !== 'absent') return [];
  const out: RuleProblem[] = [];
  if (!iface.bridge) out.push({ path: `${p}.state`, rule: 'absent (hot-unplug) works only with the bridge binding' });
  if (isDefaultNetwork(net))
    out.push({ path: `${p}.state`, rule: 'absent is not allowed on the default (pod) network' });
  return out;
}

function bindingProblems(iface: VmiInterface, p: string, net: VmiNetwork | undefined): RuleProblem[] {
  const out: RuleProblem[] = [];
  const bindings = bindingsOf(iface);
  if (bindings.length === 0) out.push({ path: p, rule: `must have exactly one binding (${SUPPORTED})` });
  if (bindings.length > 1)
    out.push({ path: p, rule: `has ${bindings.length} bindings (${bindings.join(', ')}); choose exactly one` });
  for (const b of bindings) {
    if ((SUPPORTED_BINDINGS as readonly string[]).includes(b)) continue;
    const what = b === 'binding' ? `binding plugin ${shown(iface.binding?.name ?? '')}` : `binding ${b}`;
    const note = DISCONTINUED.has(b) ? '; KubeVirt discontinued it in v1.3' : '';
    out.push({ path: `${p}.${b}`, rule: `${what} is not implemented by virtnet (${SUPPORTED})${note}` });
  }
  if (iface.masquerade && net && !net.pod) {
    out.push({
      path: `${p}.masquerade`,
      rule:
        `works only on the pod network; network ${shown(net.name)} is ` +
        `${net.multus ? 'multus' : 'not a pod network'}`,
    });
  }
  return out;
}

function macProblem(text: string, mac: string | undefined, masquerade: boolean): string | undefined {
  if (!mac) return `${shown(text)} is not a MAC address (6 octets, e.g. 02:00:00:00:00:01 or 02-00-00-00-00-01)`;
  // IEEE 802: all zeros is no station's address; the kernel refuses it too (is_valid_ether_addr).
  if (mac === '00:00:00:00:00:00') return `${shown(text)} must not be all zeros (no NIC has that address)`;
  if (parseInt(mac.slice(0, 2), 16) & 1)
    return `${shown(text)} is a multicast address (low bit of the first octet); a NIC needs a unicast one`;
  if (masquerade && mac === RESERVED_MAC)
    return `${shown(text)} is reserved for the masquerade binding's in-pod bridge; choose another`;
  return undefined;
}

function mtuProblems(mtu: number, path: string, net: VmiNetwork | undefined): RuleProblem[] {
  if (mtu < MTU_MIN || mtu > MTU_MAX) return [{ path, rule: `must be in ${MTU_MIN}-${MTU_MAX} (is ${mtu})` }];
  if (mtu < MTU_MIN_IPV6 && net?.pod?.vmIPv6NetworkCIDR) {
    return [
      {
        path,
        rule:
          `must be at least ${MTU_MIN_IPV6} (is ${mtu}): the pod network carries IPv6 (vmIPv6NetworkCIDR), and ` +
          `IPv6 needs a 1280-byte link MTU (RFC 8200)`,
      },
    ];
  }
  return [];
}
