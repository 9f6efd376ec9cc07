/**
 * The pod's network selection annotation, `k8s.v1.cni.cncf.io/networks`
 * (Network Plumbing WG multi-net spec, section 4; Multus
 * pkg/k8sclient parsePodNetworkAnnotation). Two forms:
 *
 *   - JSON, chosen when the value contains any of `[`, `{`, `"`: an array of
 *     NetworkSelectionElement objects. Unknown keys are ignored.
 *   - text: comma-separated `[<namespace>/]<name>[@<ifname>]`.
 *
 * Choices where the sources leave room (all stricter than Multus, none more
 * lenient, so an annotation accepted here is accepted by Multus too except
 * where our ifname rule is stricter):
 *   - A single JSON object (not in an array) is rejected, as Multus does.
 *   - An empty or all-whitespace value selects no networks; an empty item
 *     in the text form ("a,,b", "a,") is an error, not skipped.
 *   - "/net" (empty namespace) and "net@" (empty ifname) are errors.
 *   - JSON `null` for an optional key means "absent"; "" for `namespace`
 *     means the pod's namespace and "" for `interface` means none (as in
 *     Multus). The deprecated `interfaceRequest` is read when `interface` is
 *     absent. Multus-only `deviceID` is ignored.
 *   - Empty `ips` / `default-route` lists are dropped ("no request").
 *   - ifnames follow lib/names.ts linkNameProblem (kernel dev_valid_name plus
 *     no quotes, `#`, backslashes or control characters), and must not be a
 *     name the kernel has already given a link in every new network
 *     namespace: `lo`, and the fallback tunnel devices (`tunl0`, `sit0`, …)
 *     that exist there while their modules are loaded. (`eth0`, the cluster
 *     default network's, is refused by netattach/pod.ts as taken.)
 *   - mac must be a unicast address other than all zeros: the kernel refuses
 *     both for an Ethernet link (is_valid_ether_addr).
 * Every error is an AnnotationError naming the path and the offending value.
 */
import { ErrorCode, VirtnetError } from '../lib/errors.ts';
import { dns1123LabelProblem, KERNEL_OWNED_IFNAMES, linkNameProblem } from '../lib/names.ts';
import { showValue } from '../lib/show.ts';
import { familyOf, isMac, parseCidr, type Family } from '../lib/cidr.ts';
import { isObj } from '../lib/json.ts';

export const NETWORKS_ANNOTATION = 'k8s.v1.cni.cncf.io/networks';

/**
 * The most networks one pod may select. Neither the multi-net spec nor Multus
 * bounds the list, but each selection costs the node a host veth and an
 * address and the VM a NIC: a PCI bus has 32 device slots (PCI Local Bus
 * spec, 5-bit device number), and q35 gives each PCIe NIC a root port of its
 * own. 32 is that slot count, far above the handful of networks real pods
 * attach, and stops a 3000-name annotation from planning 3000 veths.
 */
export const MAX_SELECTIONS = 32;

/** Network Plumbing WG NetworkSelectionElement, normalised. */
export interface NetworkSelection {
  name: string;
  /** Defaulted to the pod's namespace. */
  namespace: string;
  interface?: string;
  ips?: string[];
  mac?: string;
  /** From "default-route". */
  defaultRoute?: string[];
  /** From "cni-args". */
  cniArgs?: Record<string, unknown>;
  portMappings?: PortMapping[];
  bandwidth?: Bandwidth;
  /** From "infiniband-guid". */
  infinibandGuid?: string;
  /** From "ipam-claim-reference". */
  ipamClaimReference?: string;
}

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol?: string;
  hostIP?: string;
}

export interface Bandwidth {
  ingressRate?: number;
  ingressBurst?: number;
  egressRate?: number;
  egressBurst?: number;
}

/** An invalid selection annotation. A VirtnetError with code 7 (invalid config). */
export class AnnotationError extends VirtnetError {
  constructor(
    readonly field: string,
    readonly rule: string,
  ) {
    super(ErrorCode.invalidConfig, `${field}: ${rule}`);
  }
}

Object.defineProperty(AnnotationError.prototype, 'name', { value: 'AnnotationError' });

/** DNS-1123 labels (NAD names and namespaces) and the devices of every netns: lib/names.ts holds the one rule. */
export { dns1123LabelProblem, KERNEL_OWNED_IFNAMES } from '../lib/names.ts';

const GUID_PATTERN = /^[0-9a-f]{2}(:[0-9a-f]{2}){7}$/iu;
const PROTOCOLS = ['tcp', 'udp', 'sctp'];

type Obj = Record<string, unknown>;

/** An address without a zone (Go's net.ParseIP has none), undefined when not one. */
function ipFamily(text: string): Family | undefined {
  return text.includes('%') ? undefined : familyOf(text);
}

/**
 * Parse the annotation's value. `podNamespace` fills in a missing namespace.
 * Throws AnnotationError on the first problem.
 */
export function parseNetworksAnnotation(value: string, podNamespace: string): NetworkSelection[] {
  const selections = /[[{"]/u.test(value) ? parseJson(value, podNamespace) : parseText(value, podNamespace);
  checkDefaultRoutes(selections);
  return selections;
}

/** Counted before any item is parsed, so an oversized list costs one comparison. */
function checkCount(count: number): void {
  if (count > MAX_SELECTIONS) {
    throw new AnnotationError(
      NETWORKS_ANNOTATION,
      `selects ${count} networks; at most ${MAX_SELECTIONS} are allowed ` +
        '(each becomes a host veth, an address and a PCI slot in the VM)',
    );
  }
}

function at(i: number, key?: string): string {
  return key === undefined ? `${NETWORKS_ANNOTATION}[${i}]` : `${NETWORKS_ANNOTATION}[${i}].${key}`;
}

function checkLabel(value: string, field: string): string {
  const problem = dns1123LabelProblem(value);
  if (problem) throw new AnnotationError(field, problem);
  return value;
}

function checkIfname(value: string, field: string): string {
  const problem = linkNameProblem(value);
  if (problem) throw new AnnotationError(field, `interface name ${showValue(value)} ${problem}`);
  if (KERNEL_OWNED_IFNAMES.has(value)) {
    throw new AnnotationError(
      field,
      `interface name ${showValue(value)} is taken in every pod: the kernel creates it in each network namespace`,
    );
  }
  return value;
}

/** Why `mac` cannot be an Ethernet link's address, or undefined. */
function macProblem(mac: string): string | undefined {
  if (!isMac(mac)) return `${showValue(mac)} must be a MAC address (6 bytes, aa:bb:cc:dd:ee:ff)`;
  if (/^00(?::00){5}$/u.test(mac)) return `${showValue(mac)} must not be all zeros (no link can have that address)`;
  if (parseInt(mac.slice(0, 2), 16) & 1)
    return `${showValue(mac)} is a multicast address (low bit of the first byte); a link needs a unicast one`;
  return undefined;
}

// ---------------------------------------------------------------- text form

function parseText(value: string, podNamespace: string): NetworkSelection[] {
  if (value.trim() === '') return [];
  const items = value.split(',');
  checkCount(items.length);
  return items.map((raw, i) => {
    const item = raw.trim();
    if (item === '') throw new AnnotationError(at(i), 'empty item (a stray or doubled ",")');
    const slash = item.split('/');
    if (slash.length > 2)
      throw new AnnotationError(
        at(i),
        `${showValue(item)} has more than one "/" (expected [<namespace>/]<name>[@<ifname>])`,
      );
    const nsPart = slash.length === 2 ? (slash[0] ?? '').trim() : undefined;
    const rest = slash.length === 2 ? (slash[1] ?? '') : item;
    const atSplit = rest.split('@');
    if (atSplit.length > 2)
      throw new AnnotationError(
        at(i),
        `${showValue(item)} has more than one "@" (expected [<namespace>/]<name>[@<ifname>])`,
      );
    const name = checkLabel((atSplit[0] ?? '').trim(), at(i, 'name'));
    const sel: NetworkSelection = {
      name,
      namespace: nsPart === undefined ? podNamespace : checkLabel(nsPart, at(i, 'namespace')),
    };
    if (atSplit.length === 2) sel.interface = checkIfname((atSplit[1] ?? '').trim(), at(i, 'interface'));
    return sel;
  });
}

// ---------------------------------------------------------------- JSON form

function parseJson(value: string, podNamespace: string): NetworkSelection[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    throw new AnnotationError(NETWORKS_ANNOTATION, `invalid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed)) {
    throw new AnnotationError(
      NETWORKS_ANNOTATION,
      'the JSON form must be an array of objects (a single object must be wrapped in [ ])',
    );
  }
  checkCount(parsed.length);
  return parsed.map((el, i) => element(el, i, podNamespace));
}

/** A key's value, with JSON null read as absent. */
function get(o: Obj, key: string): unknown {
  const v = o[key];
  return v === null ? undefined : v;
}

function str(o: Obj, key: string, field: string): string | undefined {
  const v = get(o, key);
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new AnnotationError(field, `must be a string (is ${showValue(v)})`);
  return v;
}

function strList(o: Obj, key: string, field: string): string[] | undefined {
  const v = get(o, key);
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw new AnnotationError(field, 'must be an array of strings');
  return v.map((x, j) => {
    if (typeof x !== 'string') throw new AnnotationError(`${field}[${j}]`, `must be a string (is ${showValue(x)})`);
    return x;
  });
}

function element(el: unknown, i: number, podNamespace: string): NetworkSelection {
  if (!isObj(el)) throw new AnnotationError(at(i), 'must be an object');

  const name = str(el, 'name', at(i, 'name'));
  if (name === undefined) throw new AnnotationError(at(i, 'name'), 'is required');
  const namespace = str(el, 'namespace', at(i, 'namespace'));
  const sel: NetworkSelection = {
    name: checkLabel(name, at(i, 'name')),
    namespace: namespace ? checkLabel(namespace, at(i, 'namespace')) : podNamespace,
  };

  const iface = str(el, 'interface', at(i, 'interface'));
  const ifaceRequest = str(el, 'interfaceRequest', at(i, 'interfaceRequest'));
  if (iface) sel.interface = checkIfname(iface, at(i, 'interface'));
  else if (ifaceRequest) sel.interface = checkIfname(ifaceRequest, at(i, 'interfaceRequest'));
  addressFields(el, i, sel);
  linkFields(el, i, sel);
  runtimeFields(el, i, sel);
  return sel;
}

/** The element's static addresses, or the claim its IPAM takes them by: one or the other. */
function addressFields(el: Obj, i: number, sel: NetworkSelection): void {
  const ips = strList(el, 'ips', at(i, 'ips'));
  if (ips) {
    ips.forEach((ip, j) => {
      if (ip.includes('%') || (ipFamily(ip) === undefined && parseCidr(ip) === undefined)) {
        throw new AnnotationError(`${at(i, 'ips')}[${j}]`, `${showValue(ip)} must be an IP address or a CIDR`);
      }
    });
    if (ips.length > 0) sel.ips = ips;
  }

  const claim = str(el, 'ipam-claim-reference', at(i, 'ipam-claim-reference'));
  if (claim !== undefined) {
    if (claim === '') throw new AnnotationError(at(i, 'ipam-claim-reference'), 'must not be empty');
    if (sel.ips)
      throw new AnnotationError(at(i, 'ipam-claim-reference'), 'ips and ipam-claim-reference are mutually exclusive');
    sel.ipamClaimReference = claim;
  }
}

/** The link's hardware address and its default routes. */
function linkFields(el: Obj, i: number, sel: NetworkSelection): void {
  const mac = str(el, 'mac', at(i, 'mac'));
  if (mac !== undefined) {
    const problem = macProblem(mac);
    if (problem) throw new AnnotationError(at(i, 'mac'), problem);
    sel.mac = mac;
  }

  const guid = str(el, 'infiniband-guid', at(i, 'infiniband-guid'));
  if (guid !== undefined) {
    if (!GUID_PATTERN.test(guid))
      throw new AnnotationError(
        at(i, 'infiniband-guid'),
        `${showValue(guid)} must be an InfiniBand GUID (8 colon-separated hex bytes)`,
      );
    sel.infinibandGuid = guid;
  }

  const routes = strList(el, 'default-route', at(i, 'default-route'));
  if (routes) {
    routes.forEach((gw, j) => {
      if (ipFamily(gw) === undefined)
        throw new AnnotationError(
          `${at(i, 'default-route')}[${j}]`,
          `${showValue(gw)} must be an IP address (a gateway)`,
        );
    });
    if (routes.length > 0) sel.defaultRoute = routes;
  }
}

/** What the delegate gets as args and runtimeConfig: cni-args, port mappings, bandwidth. */
function runtimeFields(el: Obj, i: number, sel: NetworkSelection): void {
  const cniArgs = get(el, 'cni-args');
  if (cniArgs !== undefined) {
    if (!isObj(cniArgs)) throw new AnnotationError(at(i, 'cni-args'), 'must be an object');
    sel.cniArgs = cniArgs;
  }

  const pm = get(el, 'portMappings');
  if (pm !== undefined) {
    if (!Array.isArray(pm)) throw new AnnotationError(at(i, 'portMappings'), 'must be an array of objects');
    sel.portMappings = pm.map((m, j) => portMapping(m, `${at(i, 'portMappings')}[${j}]`));
  }

  const bw = get(el, 'bandwidth');
  if (bw !== undefined) sel.bandwidth = bandwidth(bw, at(i, 'bandwidth'));
}

function port(o: Obj, key: string, field: string): number {
  const v = get(o, key);
  if (v === undefined) throw new AnnotationError(field, 'is required');
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) {
    throw new AnnotationError(field, `must be an integer port from 1 to 65535 (is ${showValue(v)})`);
  }
  return v;
}

function portMapping(m: unknown, field: string): PortMapping {
  if (!isObj(m)) throw new AnnotationError(field, 'must be an object');
  const out: PortMapping = {
    hostPort: port(m, 'hostPort', `${field}.hostPort`),
    containerPort: port(m, 'containerPort', `${field}.containerPort`),
  };
  const protocol = str(m, 'protocol', `${field}.protocol`);
  if (protocol) {
    if (!PROTOCOLS.includes(protocol.toLowerCase()))
      throw new AnnotationError(`${field}.protocol`, `${showValue(protocol)} must be one of tcp, udp, sctp`);
    out.protocol = protocol;
  }
  const hostIP = str(m, 'hostIP', `${field}.hostIP`);
  if (hostIP) {
    if (ipFamily(hostIP) === undefined)
      throw new AnnotationError(`${field}.hostIP`, `${showValue(hostIP)} must be an IP address`);
    out.hostIP = hostIP;
  }
  return out;
}

const BANDWIDTH_KEYS = ['ingressRate', 'ingressBurst', 'egressRate', 'egressBurst'] as const;

function bandwidth(bw: unknown, field: string): Bandwidth {
  if (!isObj(bw)) throw new AnnotationError(field, 'must be an object');
  const out: Bandwidth = {};
  for (const key of BANDWIDTH_KEYS) {
    const v = get(bw, key);
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new AnnotationError(`${field}.${key}`, `must be a non-negative integer (is ${showValue(v)})`);
    }
    out[key] = v;
  }
  return out;
}

// ------------------------------------------------------------ default-route

/** At most one IPv4 and one IPv6 gateway over the whole annotation. */
function checkDefaultRoutes(selections: NetworkSelection[]): void {
  const seen = new Map<Family, string>();
  selections.forEach((sel, i) => {
    sel.defaultRoute?.forEach((gw, j) => {
      const family = ipFamily(gw);
      if (family === undefined) return;
      const first = seen.get(family);
      if (first !== undefined) {
        throw new AnnotationError(
          `${at(i, 'default-route')}[${j}]`,
          `more than one IPv${family} default-route gateway (first at ${first}): ` +
            'multus does not support ECMP for default-route',
        );
      }
      seen.set(family, `${at(i, 'default-route')}[${j}]`);
    });
  });
}
