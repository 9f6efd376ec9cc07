/**
 * cloud-init networkData rendered from the VMI's NICs (issue 12, "network
 * config for every NIC"): when a VMI has a cloud-init volume but no
 * networkData, virtnet writes one that configures every NIC, matched by MAC
 * so that the guest's interface names never matter.
 *
 * Two formats, one per datasource:
 * - NoCloud `network-config`: cloud-init's network config version 2
 *   (cloud-init docs, "Network configuration ConfigV2", a netplan subset).
 * - ConfigDrive `openstack/latest/network_data.json`: OpenStack's format
 *   (Nova doc "Metadata" / network_data.json: links, networks, services),
 *   which cloud-init turns into its network config v1
 *   (cloudinit/sources/helpers/openstack.py convert_net_json).
 *
 * What cloud-init 22.4.2 (Debian 12's) does with them, read from its source
 * and checked by running it on this renderer's output:
 * - v2 `ethernets.<id>`: network_state.py handle_ethernets keeps `mtu`,
 *   `match`, `accept-ra` and, in _v2_to_v1_ipcfg, `dhcp4`, `dhcp6` and
 *   `addresses`. Without `set-name` the device's name is the guest's own,
 *   looked up by `match.macaddress` (get_interfaces_by_mac; LP #1855945);
 *   the `<id>` key is only a label. `link-local` is not read there, so
 *   Debian's networkd renderer ignores it (systemd-networkd keeps its IPv6
 *   link-local address); netplan, which gets v2 passed through, honours it.
 * - The networkd renderer (net/networkd.py) writes DHCP=ipv4|ipv6|yes|no,
 *   MTUBytes and [Address]; IPv6AcceptRA only when DHCPv6 is on.
 * - PyYAML reads YAML 1.1, where an unquoted 52:54:00:12:34:56 (QEMU's own
 *   MAC prefix) is a base-60 integer and `on`/`no`/`y` are booleans. So the
 *   YAML is emitted with the `yaml` package's 1.1 schema, which quotes every
 *   string that 1.1 would read as something else.
 * - network_data.json: a link's `ethernet_mac_address` is matched against
 *   the guest's NICs when the link has no `name` (we give none); its `mtu`
 *   is kept. Network types: `ipv4_dhcp` -> dhcp4, `ipv6_dhcp` -> dhcp6 with
 *   accept-ra on (`ipv6_dhcpv6-stateful` would pass through as a subnet
 *   type the networkd renderer does not know, leaving DHCP=no); `ipv4` and
 *   `ipv6` are static with `ip_address` and `netmask`, and `ipv6` turns the
 *   link's accept-ra off. Later networks win, so static ones are listed
 *   before DHCP ones: a NIC with DHCPv6 keeps accepting router adverts.
 */
import ipaddr from 'ipaddr.js';
import { Document, YAMLMap } from 'yaml';
import { parseCidr, type ParsedCidr } from '../../lib/cidr.ts';
import { dns1123LabelProblem } from '../../lib/names.ts';
import { showValue } from '../../lib/show.ts';
import type { NicPlan } from '../plan/types.ts';

/** A NIC's plan as the guest's network config needs it: NICs are matched by MAC, never by the guest's name. */
export type GuestNicFacts = Pick<NicPlan, 'name' | 'mac' | 'mtu' | 'staticAddresses'> & {
  /** virtnet's DHCPv4 server hands this NIC its address. */
  dhcp4: boolean;
  /** virtnet serves DHCPv6 and router advertisements on this NIC. */
  dhcp6: boolean;
};

/** RFC 791: every IPv4 host must take 68-byte datagrams; 65535 is the largest IPv4 datagram. */
export const MIN_MTU = 68;
export const MAX_MTU = 65535;
/** RFC 8200 §5: a link that carries IPv6 has an MTU of at least 1280. */
export const MIN_IPV6_MTU = 1280;

const LOWER_MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/u;

/** A NIC's facts, checked, with its static addresses parsed. */
interface CheckedNic {
  nic: GuestNicFacts;
  addresses: ParsedCidr[];
}

function fail(field: string, message: string): never {
  throw new TypeError(`${field}: ${message}`);
}

function checkMac(field: string, mac: unknown): void {
  if (typeof mac !== 'string' || !LOWER_MAC.test(mac)) {
    fail(field, `${showValue(mac)} must be a lower-case MAC address aa:bb:cc:dd:ee:ff`);
  }
  // IEEE 802: the lowest bit of the first octet marks a group address, which no NIC has as its own.
  if ((parseInt(mac.slice(0, 2), 16) & 1) === 1)
    fail(field, `${showValue(mac)} is a multicast address; a NIC's MAC is unicast`);
}

function checkMtu(field: string, mtu: unknown): void {
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < MIN_MTU || mtu > MAX_MTU) {
    fail(field, `${showValue(mtu)} must be an integer from ${MIN_MTU} to ${MAX_MTU}`);
  }
}

function checkBoolean(field: string, value: unknown): void {
  if (typeof value !== 'boolean') fail(field, `${showValue(value)} must be true or false`);
}

function parseStaticAddress(field: string, text: unknown): ParsedCidr {
  // A zone ("fe80::1%eth0") names a guest interface, which this file must never depend on.
  const cidr = typeof text === 'string' && !text.includes('%') ? parseCidr(text) : undefined;
  if (!cidr) fail(field, `${showValue(text)} must be a CIDR such as "10.1.2.3/24" or "fd00::5/128"`);
  if (cidr.prefix === 0)
    fail(field, `${showValue(text)} has prefix length 0; a NIC's address needs a prefix of at least 1`);
  return cidr;
}

function parseStaticAddresses(field: string, list: unknown): ParsedCidr[] {
  if (!Array.isArray(list)) fail(field, `${showValue(list)} must be a list of CIDRs`);
  const seen = new Map<string, number>();
  return list.map((text: unknown, i) => {
    const cidr = parseStaticAddress(`${field}[${i}]`, text);
    const key = ipaddr.parse(cidr.address).toNormalizedString();
    const first = seen.get(key);
    if (first !== undefined) fail(`${field}[${i}]`, `${showValue(text)} repeats the address of ${field}[${first}]`);
    seen.set(key, i);
    return cidr;
  });
}

function checkNic(field: string, nic: GuestNicFacts): CheckedNic {
  if (typeof nic !== 'object' || nic === null) fail(field, `${showValue(nic)} must be an object`);
  const nameProblem =
    typeof nic.name === 'string' ? dns1123LabelProblem(nic.name) : `${showValue(nic.name)} must be a string`;
  if (nameProblem) fail(`${field}.name`, nameProblem);
  checkMac(`${field}.mac`, nic.mac);
  checkMtu(`${field}.mtu`, nic.mtu);
  checkBoolean(`${field}.dhcp4`, nic.dhcp4);
  checkBoolean(`${field}.dhcp6`, nic.dhcp6);
  const addresses = parseStaticAddresses(`${field}.staticAddresses`, nic.staticAddresses);
  const carriesIpv6 = nic.dhcp6 || addresses.some((a) => a.family === 6);
  if (carriesIpv6 && nic.mtu < MIN_IPV6_MTU) {
    fail(
      `${field}.mtu`,
      `${nic.mtu} is below ${MIN_IPV6_MTU}, the least MTU of a link that carries IPv6 (RFC 8200 §5), ` +
        'and this NIC has IPv6',
    );
  }
  return { nic, addresses };
}

/** Every NIC checked; names and MACs unique, since each NIC is one v2 key and is found by its MAC. */
function checkNics(nics: readonly GuestNicFacts[]): CheckedNic[] {
  if (!Array.isArray(nics)) fail('nics', `${showValue(nics)} must be a list`);
  const checked = nics.map((nic, i) => checkNic(`nics[${i}]`, nic));
  const byName = new Map<string, number>();
  const byMac = new Map<string, number>();
  checked.forEach(({ nic }, i) => {
    const sameName = byName.get(nic.name);
    if (sameName !== undefined)
      fail(`nics[${i}].name`, `${showValue(nic.name)} is also nics[${sameName}]'s; interface names are unique`);
    const sameMac = byMac.get(nic.mac);
    if (sameMac !== undefined)
      fail(
        `nics[${i}].mac`,
        `${showValue(nic.mac)} is also nics[${sameMac}]'s; NICs are matched by MAC, so each MAC must be unique`,
      );
    byName.set(nic.name, i);
    byMac.set(nic.mac, i);
  });
  return checked;
}

/** A NIC no DHCP server serves and that has no address of its own: an L2-only NIC. */
function isLinkOnly({ nic, addresses }: CheckedNic): boolean {
  return !nic.dhcp4 && !nic.dhcp6 && addresses.length === 0;
}

function cidrText(cidr: ParsedCidr): string {
  return `${cidr.address}/${cidr.prefix}`;
}

/** One `ethernets` entry of network config v2. */
interface V2Ethernet {
  match: { macaddress: string };
  mtu: number;
  dhcp4: boolean;
  dhcp6: boolean;
  'accept-ra'?: boolean;
  'link-local'?: string[];
  addresses?: string[];
}

function v2Ethernet(checked: CheckedNic): V2Ethernet {
  const { nic, addresses } = checked;
  const entry: V2Ethernet = { match: { macaddress: nic.mac }, mtu: nic.mtu, dhcp4: nic.dhcp4, dhcp6: nic.dhcp6 };
  // virtnet's router advertisements carry the IPv6 default route (DHCPv6 gives no routes, RFC 8415 §1).
  if (nic.dhcp6) entry['accept-ra'] = true;
  if (isLinkOnly(checked)) {
    // The link is up with no address at all: the VNF above it owns L2 (netplan's `link-local: []`).
    entry['accept-ra'] = false;
    entry['link-local'] = [];
  }
  if (addresses.length > 0) entry.addresses = addresses.map(cidrText);
  return entry;
}

/**
 * NoCloud's `network-config`: network config version 2, one `ethernets`
 * entry per NIC, keyed by the VMI interface name and matched by MAC.
 */
export function renderNetworkConfigV2(nics: readonly GuestNicFacts[]): string {
  const doc = new Document(null, { version: '1.1' });
  // A YAMLMap keeps the NICs in VMI order: a plain object would put a NIC
  // named "123" first, and a JS Map is written as a 1.1 !!omap.
  const ethernets = new YAMLMap();
  for (const checked of checkNics(nics)) ethernets.items.push(doc.createPair(checked.nic.name, v2Ethernet(checked)));
  doc.contents = doc.createNode({ version: 2, ethernets });
  return doc.toString();
}

/** OpenStack network_data.json, as far as cloud-init reads it. */
interface OpenStackLink {
  id: string;
  /** "phy": one of cloud-init's KNOWN_PHYSICAL_TYPES, as Nova writes for a plain NIC. */
  type: 'phy';
  ethernet_mac_address: string;
  mtu: number;
}

interface OpenStackNetwork {
  id: string;
  type: 'ipv4' | 'ipv6' | 'ipv4_dhcp' | 'ipv6_dhcp';
  link: string;
  ip_address?: string;
  netmask?: string;
}

interface OpenStackNetworkData {
  links: OpenStackLink[];
  networks: OpenStackNetwork[];
  services: never[];
}

type NetworkWithoutId = Omit<OpenStackNetwork, 'id'>;

function staticNetwork(link: string, cidr: ParsedCidr): NetworkWithoutId {
  // Nova writes the netmask in the family's own form; cloud-init turns either back into a prefix.
  const mask =
    cidr.family === 4
      ? ipaddr.IPv4.subnetMaskFromPrefixLength(cidr.prefix)
      : ipaddr.IPv6.subnetMaskFromPrefixLength(cidr.prefix);
  return { type: cidr.family === 4 ? 'ipv4' : 'ipv6', link, ip_address: cidr.address, netmask: mask.toString() };
}

/** A NIC's networks: static first, then DHCP (see the header: the last one sets accept-ra). */
function nicNetworks({ nic, addresses }: CheckedNic): NetworkWithoutId[] {
  return [
    ...addresses.map((cidr) => staticNetwork(nic.name, cidr)),
    ...(nic.dhcp4 ? [{ type: 'ipv4_dhcp' as const, link: nic.name }] : []),
    ...(nic.dhcp6 ? [{ type: 'ipv6_dhcp' as const, link: nic.name }] : []),
  ];
}

/**
 * ConfigDrive's `openstack/latest/network_data.json`: one link per NIC
 * (its id the VMI interface name), and its networks. An L2-only NIC is a
 * link with no network.
 */
export function renderOpenStackNetworkData(nics: readonly GuestNicFacts[]): string {
  const checked = checkNics(nics);
  const links = checked.map(
    ({ nic }): OpenStackLink => ({ id: nic.name, type: 'phy', ethernet_mac_address: nic.mac, mtu: nic.mtu }),
  );
  const networks = checked
    .flatMap(nicNetworks)
    .map((network, i): OpenStackNetwork => ({ id: `network${i}`, ...network }));
  const data: OpenStackNetworkData = { links, networks, services: [] };
  return `${JSON.stringify(data, null, 2)}\n`;
}
