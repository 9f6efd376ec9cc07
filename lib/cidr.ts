/** Address math on top of ipaddr.js: parsing with clear errors, prefixes, families. */
import ipaddr from 'ipaddr.js';

export type Family = 4 | 6;

export interface ParsedCidr {
  address: string;
  prefix: number;
  family: Family;
  /** The network address in canonical text, e.g. 10.244.0.0 */
  network: string;
}

export function familyOf(address: string): Family | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(address)) return 4;
  if (!address.includes(':')) return undefined;
  return ipaddr.IPv6.isValid(address) ? 6 : undefined;
}

/** Parse "a.b.c.d/len" or "x::y/len"; undefined when it is not a CIDR. */
export function parseCidr(text: string): ParsedCidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const addr = text.slice(0, slash);
  const lenText = text.slice(slash + 1);
  if (!/^\d{1,3}$/u.test(lenText)) return undefined;
  const family = familyOf(addr);
  if (!family) return undefined;
  const prefix = Number(lenText);
  if (prefix > (family === 4 ? 32 : 128)) return undefined;
  const parsed = ipaddr.parse(addr);
  const network =
    ipaddr.IPv4.isValid(addr) && family === 4
      ? ipaddr.IPv4.networkAddressFromCIDR(text).toString()
      : ipaddr.IPv6.networkAddressFromCIDR(text).toString();
  return { address: parsed.toString(), prefix, family, network };
}

export function isIp(text: string): boolean {
  return familyOf(text) !== undefined;
}

/** The first usable address of a subnet (network + 1): the conventional gateway. */
export function firstHost(cidr: ParsedCidr): string {
  const bytes = ipaddr.parse(cidr.network).toByteArray();
  for (let i = bytes.length - 1; i >= 0; i--) {
    bytes[i] = ((bytes[i] ?? 0) + 1) & 0xff;
    if (bytes[i] !== 0) break;
  }
  return ipaddr.fromByteArray(bytes).toString();
}

export function sameAddress(a: string, b: string): boolean {
  try {
    return ipaddr.parse(a).toNormalizedString() === ipaddr.parse(b).toNormalizedString();
  } catch {
    return false;
  }
}

/** The default route's destination for a family. */
export function defaultDst(family: Family): string {
  return family === 4 ? '0.0.0.0/0' : '::/0';
}

const MAC_PATTERN = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/iu;

export function isMac(text: string): boolean {
  return MAC_PATTERN.test(text);
}

/** A random locally administered unicast MAC (IEEE 802: bit 1 set, bit 0 clear). */
export function randomMac(random: (n: number) => Uint8Array): string {
  const b = random(6);
  b[0] = ((b[0] ?? 0) & 0xfc) | 0x02;
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Whether two CIDRs share any address (same family, and one contains the other's network). */
export function cidrsOverlap(a: ParsedCidr, b: ParsedCidr): boolean {
  if (a.family !== b.family) return false;
  const [wide, narrow] = a.prefix <= b.prefix ? [a, b] : [b, a];
  return ipaddr.parse(narrow.network).match(ipaddr.parse(wide.network), wide.prefix);
}

/** Whether `wide` holds every address of `narrow` (same family, no longer prefix, overlapping). */
export function cidrContains(wide: ParsedCidr, narrow: ParsedCidr): boolean {
  return wide.prefix <= narrow.prefix && cidrsOverlap(wide, narrow);
}

/** Whether the address lies in the CIDR (false for another family or a malformed address). */
export function addressIn(address: string, c: ParsedCidr): boolean {
  return familyOf(address) === c.family && ipaddr.parse(address).match(ipaddr.parse(c.network), c.prefix);
}

/** Whether an IPv6 CIDR's address is IPv4-mapped (::ffff:a.b.c.d, RFC 4291 2.5.5.2), which no IPv6 packet carries. */
export function isIpv4Mapped(c: ParsedCidr): boolean {
  return c.family === 6 && ipaddr.IPv6.parse(c.address).isIPv4MappedAddress();
}
