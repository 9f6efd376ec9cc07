/**
 * Renders the configuration file of the one dnsmasq per pod that serves
 * DHCPv4, DHCPv6 and router advertisements to the VM on its k6t bridges.
 *
 * The output is for `dnsmasq --conf-file=FILE`. Everything the caller passes
 * is validated before it reaches the file, and nothing can start a new line:
 * addresses, MACs and link names are checked against strict patterns, and the
 * free-text values (private options, TFTP server, boot file) are written in
 * dnsmasq's double quotes with `\` and `"` escaped and control characters
 * refused. The rules for hostnames, option strings, NTP servers and search
 * domains are lib/dnsmasq-values.ts's, which admission applies too. The hostname goes
 * into dhcp-host as `<name>.`, a form dnsmasq never reads as `ignore`,
 * `infinite` or a lease time (lib/dnsmasq-values.ts). No line passes the 1023 bytes
 * dnsmasq reads as one. Invalid search domains never throw (KubeVirt's
 * launcher panics on them); they are dropped with a warning.
 *
 * dnsmasq behaviour this relies on (dnsmasq 2.90, checked by the tests):
 * - `port=0` turns DNS off, so dnsmasq sends no DNS server of its own.
 * - Without a router option dnsmasq offers its own address as the router;
 *   for a NIC without `router` an empty router option suppresses that.
 * - A `static` range serves only addresses from `dhcp-host`; with
 *   `dhcp-ignore=tag:!known` other MACs get no answer at all.
 * - An IPv4 range outside the serving interface's subnet needs
 *   `shared-network`. The `<server address>,<address>` form is used: the
 *   `<interface>,<address>` form looks the link up while parsing the file and
 *   fails when the bridge does not exist yet.
 * - DHCPv6 ignores shared-network for directly connected clients (2.90 uses
 *   it for relayed requests only): a DHCPv6 range is served on an interface
 *   only if the interface holds a non-link-local address in the range's
 *   subnet, with a prefix length no longer than the range's. Router
 *   advertisements follow the same rule. The bridge binding's k6t bridge,
 *   with only 169.254.75.1x/32 and a link-local address, gets neither; the
 *   renderer warns.
 * - dhcp-host reads a bare `ignore`, `infinite`, `600` or `5m` as a keyword
 *   or a lease time, never as the hostname; `<name>.` is always the name
 *   (lib/dnsmasq-values.ts; a real DHCP exchange in the tests).
 * - IPv4 options are written with `dhcp-option-force`: KubeVirt sends every
 *   option whether or not the client asked (busybox udhcpc, for one, does
 *   not ask for the MTU).
 */
import ipaddr from 'ipaddr.js';
import { linkNameProblem } from '../../lib/names.ts';
import {
  dhcpHostNameField,
  dhcpStringProblem,
  dnsmasqLineProblem,
  hostnameProblem,
  ntpServerProblem,
  quoteDhcpString,
  searchDomainProblem,
  showValue as show,
} from '../../lib/dnsmasq-values.ts';

export interface DhcpNic {
  /** The interface dnsmasq serves, e.g. "k6t-eth0". */
  bridge: string;
  /** IPv4 the server listens on: "169.254.75.10" (bridge) or "10.0.2.1" (masquerade). */
  serverAddress: string;
  /** The only client that gets a lease. */
  mac: string;
  /** The guest's IPv4 address. */
  ipv4?: { address: string; prefix: number };
  /** The guest's IPv6 address (DHCPv6). */
  ipv6?: { address: string; prefix: number };
  /** True when the leased addresses are outside the bridge's own subnets (bridge binding). */
  sharedNetwork: boolean;
  /** When set: enable-ra and ra-param=<bridge>[,mtu:<mtu>],10,<routerLifetime>. */
  routerAdvertisement?: { routerLifetime: number };
  /** Option 12 and the dhcp-host name. */
  hostname?: string;
  /** Option 3. */
  router?: string;
  /** Option 121; the default route is put last, and added from `router` when missing. */
  classlessRoutes?: Array<{ dst: string; gateway: string }>;
  /** IPv4 → option 6; IPv6 → option6:dns-server. */
  dnsServers?: string[];
  /** Option 119 (and option6:domain-search). */
  searchDomains?: string[];
  /** Option 15. */
  domainName?: string;
  /** Option 26 (and the RA's MTU option when at least 1280). */
  mtu?: number;
  /** Option 42 (IPv4 only). */
  ntpServers?: string[];
  /** Option 66. */
  tftpServerName?: string;
  /** Option 67. */
  bootFileName?: string;
  /** Options 224–254, string values. */
  privateOptions?: Array<{ code: number; value: string }>;
  /** Default: infinite. At least 120 (dnsmasq's minimum). */
  leaseSeconds?: number;
}

export interface DnsmasqSpec {
  nics: DhcpNic[];
  /** Absolute path. */
  leaseFile: string;
  /** Absolute path. */
  pidFile: string;
  /** Absolute path for --log-facility, or "-" for stderr. */
  logFacility?: string;
}

export interface RenderedDnsmasq {
  text: string;
  warnings: string[];
}

const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/iu;
/** Characters a link name may have here: dnsmasq gives "," "*" "=" "#" meanings. */
const DNSMASQ_SAFE_LINK = /^[A-Za-z0-9._@+-]+$/u;
const SAFE_PATH = /^\/[A-Za-z0-9._+@%=:,~/-]*$/u;
/** RFC 1035 section 3.1 wire length of option 119's list, without compression. */
const MAX_SEARCH_BYTES = 255;
const RA_INTERVAL = 10;

/** A search domain by lib/dnsmasq-values.ts's rule (RFC 1035 labels, at most 253 in all). */
export function validSearchDomain(d: string): boolean {
  return typeof d === 'string' && searchDomainProblem(d) === undefined;
}

function fail(field: string, message: string): never {
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

function absolutePath(field: string, value: unknown): string {
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
function whole(field: string, line: string): string {
  const problem = dnsmasqLineProblem(line);
  if (problem) fail(field, problem);
  return line;
}

function list<T>(field: string, value: unknown): T[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) fail(field, `${show(value)} is not a list`);
  return value as T[];
}

function netmask(prefix: number): string {
  return ipaddr.IPv4.subnetMaskFromPrefixLength(prefix).toString();
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
        `${field}: the list passes ${MAX_SEARCH_BYTES} bytes; dropped ${value.length - i} domain(s) from index ${i}: ${rest}`,
      );
      break;
    }
    bytes += size;
    kept.push(name);
  }
  return kept;
}

interface NicLines {
  lines: string[];
  ra: boolean;
  hasIpv6: boolean;
  bridge: string;
}

function renderNic(nic: DhcpNic, index: number, warnings: string[]): NicLines {
  const f = `nics[${index}]`;
  if (typeof nic !== 'object' || nic === null) fail(f, `${show(nic)} is not an object`);
  const tag = `nic${index}`;
  const bridge = linkName(`${f}.bridge`, nic.bridge);
  const server = ipv4(`${f}.serverAddress`, nic.serverAddress);
  hostAddress(`${f}.serverAddress`, server, 4);
  const hw = mac(`${f}.mac`, nic.mac);
  if (typeof nic.sharedNetwork !== 'boolean') fail(`${f}.sharedNetwork`, `${show(nic.sharedNetwork)} is not a boolean`);
  const lease =
    nic.leaseSeconds === undefined
      ? 'infinite'
      : String(integer(`${f}.leaseSeconds`, nic.leaseSeconds, 120, 0xffffffff - 1));

  let v4: { address: string; prefix: number } | undefined;
  if (nic.ipv4 !== undefined) {
    const address = ipv4(`${f}.ipv4.address`, nic.ipv4?.address);
    hostAddress(`${f}.ipv4.address`, address, 4);
    const prefix = integer(`${f}.ipv4.prefix`, nic.ipv4?.prefix, 1, 32);
    v4 = { address, prefix };
    if (!nic.sharedNetwork && !inSubnet(server, address, prefix)) {
      fail(
        `${f}.sharedNetwork`,
        `is false, but ${address}/${prefix} does not contain serverAddress ${server}; dnsmasq would find no range for the request`,
      );
    }
  }
  let v6: { address: string; prefix: number } | undefined;
  if (nic.ipv6 !== undefined) {
    const address = ipv6(`${f}.ipv6.address`, nic.ipv6?.address);
    hostAddress(`${f}.ipv6.address`, address, 6);
    // dnsmasq refuses IPv6 ranges shorter than /64.
    const prefix = integer(`${f}.ipv6.prefix`, nic.ipv6?.prefix, 64, 128);
    v6 = { address, prefix };
  }
  if (!v4 && !v6) fail(f, 'has neither ipv4 nor ipv6; a NIC without addresses needs no DHCP');

  const name = nic.hostname === undefined ? undefined : hostname(`${f}.hostname`, nic.hostname);
  const router = nic.router === undefined ? undefined : ipv4(`${f}.router`, nic.router);
  if (router !== undefined && !v4) fail(`${f}.router`, 'needs ipv4');

  const dns4: string[] = [];
  const dns6: string[] = [];
  list<unknown>(`${f}.dnsServers`, nic.dnsServers).forEach((s, i) => {
    const ip = anyIp(`${f}.dnsServers[${i}]`, s);
    const target = ip.family === 4 ? dns4 : dns6;
    if (!target.includes(ip.text)) target.push(ip.text);
  });
  const ntp = list<unknown>(`${f}.ntpServers`, nic.ntpServers).map((s, i) => {
    const field = `${f}.ntpServers[${i}]`;
    if (typeof s === 'string' && s.includes(':'))
      fail(field, `${show(s)} is IPv6; option 42 carries IPv4 addresses only`);
    const problem = typeof s === 'string' ? ntpServerProblem(s) : undefined;
    if (problem) fail(field, problem);
    return ipv4(field, s);
  });

  const routes = list<{ dst: unknown; gateway: unknown }>(`${f}.classlessRoutes`, nic.classlessRoutes).map((r, i) => {
    const field = `${f}.classlessRoutes[${i}]`;
    if (typeof r !== 'object' || r === null) fail(field, `${show(r)} is not a route`);
    const dst = typeof r.dst === 'string' ? r.dst : '';
    const slash = dst.indexOf('/');
    const net = ipv4(`${field}.dst`, slash < 0 ? r.dst : dst.slice(0, slash));
    const lenText = slash < 0 ? '' : dst.slice(slash + 1);
    if (!/^\d{1,2}$/u.test(lenText) || Number(lenText) > 32) fail(`${field}.dst`, `${show(r.dst)} is not an IPv4 CIDR`);
    const len = Number(lenText);
    const base = ipaddr.IPv4.networkAddressFromCIDR(`${net}/${len}`).toString();
    if (base !== net) fail(`${field}.dst`, `${show(r.dst)} has host bits set (the network is ${base}/${len})`);
    return { dst: `${net}/${len}`, gateway: ipv4(`${field}.gateway`, r.gateway) };
  });
  if (routes.length > 0 && !v4) fail(`${f}.classlessRoutes`, 'needs ipv4');
  // RFC 3442: a client that gets option 121 ignores option 3, so the default
  // route goes into 121 too, and last, as KubeVirt orders it.
  const defaults = routes.filter((r) => r.dst === '0.0.0.0/0');
  const classless = routes.filter((r) => r.dst !== '0.0.0.0/0');
  if (defaults.length > 1) fail(`${f}.classlessRoutes`, 'has more than one default route');
  const def = defaults[0];
  if (def) {
    if (router !== undefined && def.gateway !== router) {
      warnings.push(
        `${f}.classlessRoutes: the default route via ${def.gateway} differs from router ${router}; clients that use option 121 follow ${def.gateway}`,
      );
    }
    classless.push(def);
  } else if (routes.length > 0 && router !== undefined) {
    classless.push({ dst: '0.0.0.0/0', gateway: router });
  }

  const search = searchList(`${f}.searchDomains`, nic.searchDomains, warnings);
  let domain: string | undefined;
  if (nic.domainName !== undefined) {
    const d = typeof nic.domainName === 'string' ? nic.domainName.toLowerCase().replace(/\.$/u, '') : nic.domainName;
    if (typeof d === 'string' && validSearchDomain(d)) domain = d;
    else warnings.push(`${f}.domainName: ${show(nic.domainName)} is not a valid domain name; dropped`);
  }
  const mtu = nic.mtu === undefined ? undefined : integer(`${f}.mtu`, nic.mtu, 68, 65535);
  const tftp = nic.tftpServerName === undefined ? undefined : quoted(`${f}.tftpServerName`, nic.tftpServerName);
  const boot = nic.bootFileName === undefined ? undefined : quoted(`${f}.bootFileName`, nic.bootFileName);
  const seen = new Set<number>();
  const priv = list<{ code: unknown; value: unknown }>(`${f}.privateOptions`, nic.privateOptions)
    .map((o, i) => {
      const field = `${f}.privateOptions[${i}]`;
      if (typeof o !== 'object' || o === null) fail(field, `${show(o)} is not an option`);
      const code = integer(`${field}.code`, o.code, 224, 254);
      if (seen.has(code)) fail(`${field}.code`, `${code} is given twice`);
      seen.add(code);
      return { code, value: quoted(`${field}.value`, o.value) };
    })
    .sort((a, b) => a.code - b.code);
  if ((ntp.length || tftp || boot || priv.length || mtu !== undefined) && !v4) {
    warnings.push(`${f}: IPv4-only options (MTU, NTP, TFTP, boot file, private options) are ignored without ipv4`);
  }

  let ra = false;
  let lifetime = 0;
  if (nic.routerAdvertisement !== undefined) {
    const field = `${f}.routerAdvertisement.routerLifetime`;
    lifetime = integer(field, nic.routerAdvertisement?.routerLifetime, 0, 9000);
    // RFC 4861 6.2.1: 0, or at least MaxRtrAdvInterval.
    if (lifetime !== 0 && lifetime < RA_INTERVAL)
      fail(field, `${lifetime} must be 0 or ${RA_INTERVAL}–9000 (RFC 4861: at least the advertisement interval)`);
    if (!v6) fail(`${f}.routerAdvertisement`, 'needs ipv6 (dnsmasq advertises the prefix of the DHCPv6 range)');
    ra = true;
  }

  const out: string[] = [];
  const families = [v4 ? `${v4.address}/${v4.prefix}` : '', v6 ? `${v6.address}/${v6.prefix}` : '']
    .filter(Boolean)
    .join(' and ');
  out.push(`# ${tag}: ${bridge}, ${hw} gets ${families}${nic.sharedNetwork ? ' (shared network)' : ''}`);
  out.push(`interface=${bridge}`);
  out.push(`listen-address=${server}`);
  if (v4) out.push(`dhcp-range=set:${tag},${v4.address},static,${netmask(v4.prefix)},${lease}`);
  if (v6) out.push(`dhcp-range=set:${tag},${v6.address},static,${v6.prefix},${lease}`);
  // The two-address form: `shared-network=<bridge>,…` resolves the link
  // name while parsing, so dnsmasq (and --test) fails if the bridge is not
  // there yet.
  if (nic.sharedNetwork && v4) out.push(`shared-network=${server},${v4.address}`);
  if (nic.sharedNetwork && v6) {
    warnings.push(
      `${f}.ipv6: dnsmasq 2.90 applies shared-network to DHCPv6 only for relayed requests; it serves ${v6.address} only if ${bridge} holds an address in ${v6.address}/${v6.prefix} with a prefix length of at most ${v6.prefix}`,
    );
  }
  const hostFields = [hw, `set:${tag}`];
  if (v4) hostFields.push(v4.address);
  if (v6) hostFields.push(`[${v6.address}]`);
  if (name !== undefined) hostFields.push(dhcpHostNameField(name));
  hostFields.push(lease);
  out.push(`dhcp-host=${hostFields.join(',')}`);

  if (v4) {
    const opt = (what: string) => out.push(`dhcp-option-force=tag:${tag},${what}`);
    // Without a router option dnsmasq would offer its own address.
    if (router !== undefined) opt(`option:router,${router}`);
    else out.push(`dhcp-option=tag:${tag},option:router`);
    if (classless.length > 0)
      opt(`option:classless-static-route,${classless.map((r) => `${r.dst},${r.gateway}`).join(',')}`);
    if (dns4.length > 0) opt(`option:dns-server,${dns4.join(',')}`);
    if (search.length > 0) opt(`option:domain-search,${search.join(',')}`);
    if (domain !== undefined) opt(`option:domain-name,${domain}`);
    if (name !== undefined) opt(`12,${name}`);
    if (mtu !== undefined) opt(`option:mtu,${mtu}`);
    if (ntp.length > 0) opt(`option:ntp-server,${ntp.join(',')}`);
    if (tftp !== undefined) opt(`option:tftp-server,${tftp}`);
    if (boot !== undefined) opt(`option:bootfile-name,${boot}`);
    for (const p of priv) opt(`${p.code},${p.value}`);
  }
  if (v6) {
    if (dns6.length > 0) out.push(`dhcp-option=tag:${tag},option6:dns-server,${dns6.map((a) => `[${a}]`).join(',')}`);
    if (search.length > 0) out.push(`dhcp-option=tag:${tag},option6:domain-search,${search.join(',')}`);
  }
  if (ra) {
    const raMtu = mtu !== undefined && mtu >= 1280 ? `mtu:${mtu},` : '';
    out.push(`ra-param=${bridge},${raMtu}${RA_INTERVAL},${lifetime}`);
  }
  for (const line of out) whole(f, line);
  return { lines: out, ra, hasIpv6: v6 !== undefined, bridge };
}

export function renderDnsmasqConfig(spec: DnsmasqSpec): RenderedDnsmasq {
  if (typeof spec !== 'object' || spec === null) fail('spec', `${show(spec)} is not an object`);
  const warnings: string[] = [];
  const nics = list<DhcpNic>('nics', spec.nics);
  if (nics.length === 0) fail('nics', 'must list at least one NIC (with none, dnsmasq would serve every interface)');
  const leaseFile = absolutePath('leaseFile', spec.leaseFile);
  const pidFile = absolutePath('pidFile', spec.pidFile);
  const log =
    spec.logFacility === undefined || spec.logFacility === '-'
      ? spec.logFacility
      : absolutePath('logFacility', spec.logFacility);

  const rendered = nics.map((nic, i) => renderNic(nic, i, warnings));
  const bridges = new Map<string, number>();
  const macs = new Map<string, number>();
  nics.forEach((nic, i) => {
    const prevBridge = bridges.get(nic.bridge);
    if (prevBridge !== undefined) fail(`nics[${i}].bridge`, `${show(nic.bridge)} is also nics[${prevBridge}].bridge`);
    bridges.set(nic.bridge, i);
    const m = nic.mac.toLowerCase();
    const prevMac = macs.get(m);
    if (prevMac !== undefined) fail(`nics[${i}].mac`, `${show(nic.mac)} is also nics[${prevMac}].mac`);
    macs.set(m, i);
  });
  const anyRa = rendered.some((r) => r.ra);
  // enable-ra is global: it advertises on every interface with an IPv6 range.
  // A NIC without routerAdvertisement then gets router lifetime 0 (no route).
  if (anyRa) {
    rendered.forEach((r, i) => {
      if (r.hasIpv6 && !r.ra) {
        warnings.push(
          `nics[${i}]: enable-ra is global in dnsmasq; this NIC gets advertisements with router lifetime 0`,
        );
        r.lines.push(`ra-param=${r.bridge},0,0`);
      }
    });
  }

  const lines = [
    "# dnsmasq configuration for the VM's NICs: DHCP only, no DNS.",
    '# Generated by virtnet (launcher/dhcp/dnsmasq-config.ts); do not edit.',
    'port=0',
    'no-ping',
    'bind-interfaces',
    'except-interface=lo',
    'dhcp-authoritative',
    'dhcp-no-override',
    'dhcp-ignore=tag:!known',
    'log-dhcp',
  ];
  if (log !== undefined) lines.push(whole('logFacility', `log-facility=${log}`));
  lines.push(whole('leaseFile', `dhcp-leasefile=${leaseFile}`), whole('pidFile', `pid-file=${pidFile}`));
  if (anyRa) lines.push('enable-ra');
  for (const r of rendered) lines.push('', ...r.lines);
  return { text: `${lines.join('\n')}\n`, warnings };
}
