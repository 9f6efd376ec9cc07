/**
 * The dnsmasq renderer's input checked before anything is rendered
 * (dnsmasq-config.ts says why each rule is there): every value comes back
 * normalised, or a TypeError names the field, the value and the rule. A NIC
 * becomes a CheckedNic, which the renderer only formats.
 */
import ipaddr from 'ipaddr.js';
import { linkNameProblem } from '../../lib/names.ts';
import {
  dhcpStringProblem,
  dnsmasqLineProblem,
  hostnameProblem,
  ntpServerProblem,
  quoteDhcpString,
  searchDomainProblem,
  showValue as show,
} from '../../lib/dnsmasq-values.ts';
import type { DhcpNic } from './dnsmasq-config.ts';

const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/iu;
/** Characters a link name may have here: dnsmasq gives "," "*" "=" "#" meanings. */
const DNSMASQ_SAFE_LINK = /^[A-Za-z0-9._@+-]+$/u;
const SAFE_PATH = /^\/[A-Za-z0-9._+@%=:,~/-]*$/u;
/** RFC 1035 section 3.1 wire length of option 119's list, without compression. */
const MAX_SEARCH_BYTES = 255;
/** dnsmasq's router advertisement interval, seconds (ra-param). */
export const RA_INTERVAL = 10;

/** A search domain by lib/dnsmasq-values.ts's rule (RFC 1035 labels, at most 253 in all). */
export function validSearchDomain(d: string): boolean {
  return typeof d === 'string' && searchDomainProblem(d) === undefined;
}

export function fail(field: string, message: string): never {
  throw new TypeError(`${field}: ${message}`);
}

function ipv4(field: string, value: unknown): string {
  if (typeof value !== 'string' || !ipaddr.IPv4.isValidFourPartDecimal(value)) {
    fail(field, `${show(value)} is not an IPv4 address`);
  }
  return ipaddr.IPv4.parse(value).toString();
}

function ipv6(field: string, value: unknown): string {
  if (typeof value !== 'string' || !value.includes(':') || value.includes('%') || !ipaddr.IPv6.isValid(value)) {
    fail(field, `${show(value)} is not an IPv6 address`);
  }
  return ipaddr.IPv6.parse(value).toString();
}

function anyIp(field: string, value: unknown): { family: 4 | 6; text: string } {
  if (typeof value === 'string' && ipaddr.IPv4.isValidFourPartDecimal(value))
    return { family: 4, text: ipv4(field, value) };
  if (typeof value === 'string' && value.includes(':')) return { family: 6, text: ipv6(field, value) };
  return fail(field, `${show(value)} is not an IP address`);
}

function hostAddress(field: string, text: string, family: 4 | 6): void {
  const range = ipaddr.parse(text).range();
  if (range === 'unspecified' || range === 'multicast' || range === 'broadcast' || range === 'loopback') {
    fail(field, `${show(text)} is a ${range} address, not a host's`);
  }
  if (family === 6 && range === 'linkLocal')
    fail(field, `${show(text)} is link-local; DHCPv6 leases global or ULA addresses`);
}

function integer(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(field, `${show(value)} is not an integer in ${min}–${max}`);
  }
  return value;
}

function mac(field: string, value: unknown): string {
  if (typeof value !== 'string' || !MAC.test(value)) fail(field, `${show(value)} is not a MAC address`);
  const first = parseInt(value.slice(0, 2), 16);
  if (first & 1) fail(field, `${show(value)} is a multicast MAC address`);
  // No station has the all-zero address (IEEE 802); admission refuses it too (controller/api rules-interfaces.ts).
  if (/^00(?::00){5}$/u.test(value)) fail(field, `${show(value)} is the all-zero MAC address`);
  return value.toLowerCase();
}

function linkName(field: string, value: unknown): string {
  if (typeof value !== 'string') fail(field, `${show(value)} is not a link name`);
  const problem = linkNameProblem(value);
  if (problem) fail(field, `${show(value)} is not a valid link name: ${problem}`);
  if (!DNSMASQ_SAFE_LINK.test(value))
    fail(
      field,
      `${show(value)} has characters dnsmasq treats specially (only letters, digits and . _ @ + - are allowed)`,
    );
  return value;
}

export function absolutePath(field: string, value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/')) fail(field, `${show(value)} is not an absolute path`);
  if (/[\x00-\x1f\x7f]/u.test(value)) fail(field, `${show(value)} contains control characters`);
  if (!SAFE_PATH.test(value))
    fail(field, `${show(value)} contains characters other than letters, digits and ._+@%=:,~/-`);
  const segments = value.slice(1).split('/');
  if (segments.some((s) => s === '..' || s === '.'))
    fail(field, `${show(value)} must not contain "." or ".." segments`);
  if (segments.some((s) => s === ''))
    fail(field, `${show(value)} must name a file (no empty segments or trailing "/")`);
  return value;
}

function hostname(field: string, value: unknown): string {
  if (typeof value !== 'string') fail(field, `${show(value)} is not a string`);
  const problem = hostnameProblem(value);
  if (problem) fail(field, problem);
  return value;
}

/** A dnsmasq quoted string by lib/dnsmasq-values.ts's rule. */
function quoted(field: string, value: unknown): string {
  if (typeof value !== 'string') fail(field, `${show(value)} is not a string`);
  const problem = dhcpStringProblem(value);
  if (problem) fail(field, problem);
  return quoteDhcpString(value);
}

/** `line`, when dnsmasq reads it as one line (lib/dnsmasq-values.ts). */
export function whole(field: string, line: string): string {
  const problem = dnsmasqLineProblem(line);
  if (problem) fail(field, problem);
  return line;
}

export function list<T>(field: string, value: unknown): T[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) fail(field, `${show(value)} is not a list`);
  return value as T[];
}

function inSubnet(address: string, network: string, prefix: number): boolean {
  const a = ipaddr.parse(address);
  const n = ipaddr.parse(network);
  return a.kind() === n.kind() && a.match(n, prefix);
}

/**
 * Normalizes the search list: lowercased, one trailing dot removed, invalid
 * and duplicate names dropped, and the tail cut where the list would pass
 * option 119's 255 bytes. Never throws.
 */
function searchList(field: string, value: unknown, warnings: string[]): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    warnings.push(`${field}: ${show(value)} is not a list; no search domains are sent`);
    return [];
  }
  const kept: string[] = [];
  let bytes = 0;
  for (let i = 0; i < value.length; i++) {
    const raw: unknown = value[i];
    const name = typeof raw === 'string' ? raw.toLowerCase().replace(/\.$/u, '') : raw;
    if (typeof name !== 'string' || !validSearchDomain(name)) {
      warnings.push(`${field}[${i}]: ${show(raw)} is not a valid search domain; dropped`);
      continue;
    }
    if (kept.includes(name)) {
      warnings.push(`${field}[${i}]: ${show(raw)} is a duplicate; dropped`);
      continue;
    }
    const size = name.length + 2;
    if (bytes + size > MAX_SEARCH_BYTES) {
      const rest = value
        .slice(i)
        .map((d) => show(d))
        .join(', ');
      warnings.push(
        `${field}: the list passes ${MAX_SEARCH_BYTES} bytes; ` +
          `dropped ${value.length - i} domain(s) from index ${i}: ${rest}`,
      );
      break;
    }
    bytes += size;
    kept.push(name);
  }
  return kept;
}

type Address = { address: string; prefix: number };
type Route = { dst: string; gateway: string };

/** One NIC's values, checked and normalised: what its lines are rendered from. */
export interface CheckedNic {
  /** "nics[<index>]", the prefix of the NIC's fields in messages. */
  field: string;
  /** dnsmasq's tag for the NIC's range, host and options. */
  tag: string;
  bridge: string;
  server: string;
  mac: string;
  sharedNetwork: boolean;
  /** Seconds, or "infinite". */
  lease: string;
  v4?: Address;
  v6?: Address;
  hostname?: string;
  router?: string;
  dns4: string[];
  dns6: string[];
  ntp: string[];
  /** Option 121, the default route last. */
  classless: Route[];
  search: string[];
  domain?: string;
  mtu?: number;
  /** Quoted for dnsmasq. */
  tftp?: string;
  /** Quoted for dnsmasq. */
  boot?: string;
  /** Sorted by code, values quoted. */
  privateOptions: Array<{ code: number; value: string }>;
  /** Set when the NIC gets router advertisements. */
  raLifetime?: number;
}

const optional = <T>(value: unknown, check: (v: unknown) => T): T | undefined =>
  value === undefined ? undefined : check(value);

function checkAddresses(f: string, nic: DhcpNic, server: string): Pick<CheckedNic, 'v4' | 'v6'> {
  let v4: Address | undefined;
  if (nic.ipv4 !== undefined) {
    const address = ipv4(`${f}.ipv4.address`, nic.ipv4?.address);
    hostAddress(`${f}.ipv4.address`, address, 4);
    const prefix = integer(`${f}.ipv4.prefix`, nic.ipv4?.prefix, 1, 32);
    v4 = { address, prefix };
    if (!nic.sharedNetwork && !inSubnet(server, address, prefix)) {
      fail(
        `${f}.sharedNetwork`,
        `is false, but ${address}/${prefix} does not contain serverAddress ${server}; ` +
          'dnsmasq would find no range for the request',
      );
    }
  }
  let v6: Address | undefined;
  if (nic.ipv6 !== undefined) {
    const address = ipv6(`${f}.ipv6.address`, nic.ipv6?.address);
    hostAddress(`${f}.ipv6.address`, address, 6);
    // dnsmasq refuses IPv6 ranges shorter than /64.
    const prefix = integer(`${f}.ipv6.prefix`, nic.ipv6?.prefix, 64, 128);
    v6 = { address, prefix };
  }
  if (!v4 && !v6) fail(f, 'has neither ipv4 nor ipv6; a NIC without addresses needs no DHCP');
  return { ...(v4 && { v4 }), ...(v6 && { v6 }) };
}

/** DNS servers by family, duplicates dropped. */
function checkDnsServers(f: string, value: unknown): Pick<CheckedNic, 'dns4' | 'dns6'> {
  const dns4: string[] = [];
  const dns6: string[] = [];
  list<unknown>(`${f}.dnsServers`, value).forEach((s, i) => {
    const ip = anyIp(`${f}.dnsServers[${i}]`, s);
    const target = ip.family === 4 ? dns4 : dns6;
    if (!target.includes(ip.text)) target.push(ip.text);
  });
  return { dns4, dns6 };
}

function checkNtpServers(f: string, value: unknown): string[] {
  return list<unknown>(`${f}.ntpServers`, value).map((s, i) => {
    const field = `${f}.ntpServers[${i}]`;
    if (typeof s === 'string' && s.includes(':'))
      fail(field, `${show(s)} is IPv6; option 42 carries IPv4 addresses only`);
    const problem = typeof s === 'string' ? ntpServerProblem(s) : undefined;
    if (problem) fail(field, problem);
    return ipv4(field, s);
  });
}

/** An IPv4 CIDR with no host bits, as dnsmasq's option 121 takes it. */
function ipv4Network(field: string, value: unknown): string {
  const dst = typeof value === 'string' ? value : '';
  const slash = dst.indexOf('/');
  const net = ipv4(field, slash < 0 ? value : dst.slice(0, slash));
  const lenText = slash < 0 ? '' : dst.slice(slash + 1);
  if (!/^\d{1,2}$/u.test(lenText) || Number(lenText) > 32) fail(field, `${show(value)} is not an IPv4 CIDR`);
  const len = Number(lenText);
  const base = ipaddr.IPv4.networkAddressFromCIDR(`${net}/${len}`).toString();
  if (base !== net) fail(field, `${show(value)} has host bits set (the network is ${base}/${len})`);
  return `${net}/${len}`;
}

/**
 * Option 121. RFC 3442: a client that gets it ignores option 3, so the
 * default route goes into 121 too, and last, as KubeVirt orders it.
 */
function checkClasslessRoutes(
  f: string,
  value: unknown,
  v4: Address | undefined,
  router: string | undefined,
  warnings: string[],
): Route[] {
  const routes = list<{ dst: unknown; gateway: unknown }>(`${f}.classlessRoutes`, value).map((r, i) => {
    const field = `${f}.classlessRoutes[${i}]`;
    if (typeof r !== 'object' || r === null) fail(field, `${show(r)} is not a route`);
    return { dst: ipv4Network(`${field}.dst`, r.dst), gateway: ipv4(`${field}.gateway`, r.gateway) };
  });
  if (routes.length > 0 && !v4) fail(`${f}.classlessRoutes`, 'needs ipv4');
  const defaults = routes.filter((r) => r.dst === '0.0.0.0/0');
  const classless = routes.filter((r) => r.dst !== '0.0.0.0/0');
  if (defaults.length > 1) fail(`${f}.classlessRoutes`, 'has more than one default route');
  const def = defaults[0];
  if (def) {
    if (router !== undefined && def.gateway !== router) {
      warnings.push(
        `${f}.classlessRoutes: the default route via ${def.gateway} differs from router ${router}; ` +
          `clients that use option 121 follow ${def.gateway}`,
      );
    }
    classless.push(def);
  } else if (routes.length > 0 && router !== undefined) {
    classless.push({ dst: '0.0.0.0/0', gateway: router });
  }
  return classless;
}

/** Option 15, normalised as a search domain; an invalid one is dropped with a warning. */
function checkDomainName(f: string, value: unknown, warnings: string[]): string | undefined {
  if (value === undefined) return undefined;
  const d = typeof value === 'string' ? value.toLowerCase().replace(/\.$/u, '') : value;
  if (typeof d === 'string' && validSearchDomain(d)) return d;
  warnings.push(`${f}.domainName: ${show(value)} is not a valid domain name; dropped`);
  return undefined;
}

function checkPrivateOptions(f: string, value: unknown): CheckedNic['privateOptions'] {
  const seen = new Set<number>();
  return list<{ code: unknown; value: unknown }>(`${f}.privateOptions`, value)
    .map((o, i) => {
      const field = `${f}.privateOptions[${i}]`;
      if (typeof o !== 'object' || o === null) fail(field, `${show(o)} is not an option`);
      const code = integer(`${field}.code`, o.code, 224, 254);
      if (seen.has(code)) fail(`${field}.code`, `${code} is given twice`);
      seen.add(code);
      return { code, value: quoted(`${field}.value`, o.value) };
    })
    .sort((a, b) => a.code - b.code);
}

/** The router lifetime of the NIC's advertisements, when it gets them. */
function checkRouterAdvertisement(f: string, nic: DhcpNic, v6: Address | undefined): number | undefined {
  if (nic.routerAdvertisement === undefined) return undefined;
  const field = `${f}.routerAdvertisement.routerLifetime`;
  const lifetime = integer(field, nic.routerAdvertisement?.routerLifetime, 0, 9000);
  // RFC 4861 6.2.1: 0, or at least MaxRtrAdvInterval.
  if (lifetime !== 0 && lifetime < RA_INTERVAL)
    fail(field, `${lifetime} must be 0 or ${RA_INTERVAL}–9000 (RFC 4861: at least the advertisement interval)`);
  if (!v6) fail(`${f}.routerAdvertisement`, 'needs ipv6 (dnsmasq advertises the prefix of the DHCPv6 range)');
  return lifetime;
}

/** The options only DHCPv4 carries, with a warning when the NIC has no IPv4 to carry them. */
function checkIpv4Options(
  f: string,
  nic: DhcpNic,
  v4: Address | undefined,
  warnings: string[],
): Pick<CheckedNic, 'ntp' | 'mtu' | 'tftp' | 'boot' | 'privateOptions'> {
  const ntp = checkNtpServers(f, nic.ntpServers);
  const mtu = optional(nic.mtu, (v) => integer(`${f}.mtu`, v, 68, 65535));
  const tftp = optional(nic.tftpServerName, (v) => quoted(`${f}.tftpServerName`, v));
  const boot = optional(nic.bootFileName, (v) => quoted(`${f}.bootFileName`, v));
  const privateOptions = checkPrivateOptions(f, nic.privateOptions);
  if ((ntp.length || tftp || boot || privateOptions.length || mtu !== undefined) && !v4) {
    warnings.push(`${f}: IPv4-only options (MTU, NTP, TFTP, boot file, private options) are ignored without ipv4`);
  }
  return {
    ntp,
    privateOptions,
    ...(mtu !== undefined && { mtu }),
    ...(tftp !== undefined && { tftp }),
    ...(boot !== undefined && { boot }),
  };
}

/** The NIC's bridge, server and client, and its lease time. */
function checkLink(f: string, nic: DhcpNic): Pick<CheckedNic, 'bridge' | 'server' | 'mac' | 'sharedNetwork' | 'lease'> {
  const bridge = linkName(`${f}.bridge`, nic.bridge);
  const server = ipv4(`${f}.serverAddress`, nic.serverAddress);
  hostAddress(`${f}.serverAddress`, server, 4);
  const hw = mac(`${f}.mac`, nic.mac);
  if (typeof nic.sharedNetwork !== 'boolean') fail(`${f}.sharedNetwork`, `${show(nic.sharedNetwork)} is not a boolean`);
  const lease =
    nic.leaseSeconds === undefined
      ? 'infinite'
      : String(integer(`${f}.leaseSeconds`, nic.leaseSeconds, 120, 0xffffffff - 1));
  return { bridge, server, mac: hw, sharedNetwork: nic.sharedNetwork, lease };
}

/** nics[index] with every value checked; warnings for what is dropped or ignored. */
export function checkNic(nic: DhcpNic, index: number, warnings: string[]): CheckedNic {
  const f = `nics[${index}]`;
  if (typeof nic !== 'object' || nic === null) fail(f, `${show(nic)} is not an object`);
  const link = checkLink(f, nic);
  const { v4, v6 } = checkAddresses(f, nic, link.server);
  const name = optional(nic.hostname, (v) => hostname(`${f}.hostname`, v));
  const router = optional(nic.router, (v) => ipv4(`${f}.router`, v));
  if (router !== undefined && !v4) fail(`${f}.router`, 'needs ipv4');
  const dns = checkDnsServers(f, nic.dnsServers);
  const classless = checkClasslessRoutes(f, nic.classlessRoutes, v4, router, warnings);
  const search = searchList(`${f}.searchDomains`, nic.searchDomains, warnings);
  const domain = checkDomainName(f, nic.domainName, warnings);
  const options4 = checkIpv4Options(f, nic, v4, warnings);
  const raLifetime = checkRouterAdvertisement(f, nic, v6);
  if (nic.sharedNetwork && v6) {
    warnings.push(
      `${f}.ipv6: dnsmasq 2.90 applies shared-network to DHCPv6 only for relayed requests; ` +
        `it serves ${v6.address} only if ${link.bridge} holds an address in ${v6.address}/${v6.prefix} ` +
        `with a prefix length of at most ${v6.prefix}`,
    );
  }
  return {
    field: f,
    tag: `nic${index}`,
    ...link,
    ...(v4 && { v4 }),
    ...(v6 && { v6 }),
    ...(name !== undefined && { hostname: name }),
    ...(router !== undefined && { router }),
    ...dns,
    classless,
    search,
    ...(domain !== undefined && { domain }),
    ...options4,
    ...(raLifetime !== undefined && { raLifetime }),
  };
}
