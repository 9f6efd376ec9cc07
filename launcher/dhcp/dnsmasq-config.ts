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
import { dhcpHostNameField, showValue as show } from '../../lib/dnsmasq-values.ts';
import { absolutePath, checkNic, fail, list, RA_INTERVAL, whole, type CheckedNic } from './dnsmasq-check.ts';

export { validSearchDomain } from './dnsmasq-check.ts';

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

function netmask(prefix: number): string {
  return ipaddr.IPv4.subnetMaskFromPrefixLength(prefix).toString();
}

/** The NIC's interface, its static ranges, and the one host that gets them. */
function rangeLines(c: CheckedNic): string[] {
  const { tag, v4, v6 } = c;
  const families = [v4 ? `${v4.address}/${v4.prefix}` : '', v6 ? `${v6.address}/${v6.prefix}` : '']
    .filter(Boolean)
    .join(' and ');
  const out = [
    `# ${tag}: ${c.bridge}, ${c.mac} gets ${families}${c.sharedNetwork ? ' (shared network)' : ''}`,
    `interface=${c.bridge}`,
    `listen-address=${c.server}`,
  ];
  if (v4) out.push(`dhcp-range=set:${tag},${v4.address},static,${netmask(v4.prefix)},${c.lease}`);
  if (v6) out.push(`dhcp-range=set:${tag},${v6.address},static,${v6.prefix},${c.lease}`);
  // The two-address form: `shared-network=<bridge>,…` resolves the link
  // name while parsing, so dnsmasq (and --test) fails if the bridge is not
  // there yet.
  if (c.sharedNetwork && v4) out.push(`shared-network=${c.server},${v4.address}`);
  const host = [c.mac, `set:${tag}`];
  if (v4) host.push(v4.address);
  if (v6) host.push(`[${v6.address}]`);
  if (c.hostname !== undefined) host.push(dhcpHostNameField(c.hostname));
  host.push(c.lease);
  out.push(`dhcp-host=${host.join(',')}`);
  return out;
}

/** DHCPv4's options, forced (KubeVirt sends them whether or not the client asked). */
function ipv4OptionLines(c: CheckedNic): string[] {
  const out: string[] = [];
  const opt = (what: string) => out.push(`dhcp-option-force=tag:${c.tag},${what}`);
  // Without a router option dnsmasq would offer its own address.
  if (c.router !== undefined) opt(`option:router,${c.router}`);
  else out.push(`dhcp-option=tag:${c.tag},option:router`);
  if (c.classless.length > 0)
    opt(`option:classless-static-route,${c.classless.map((r) => `${r.dst},${r.gateway}`).join(',')}`);
  if (c.dns4.length > 0) opt(`option:dns-server,${c.dns4.join(',')}`);
  if (c.search.length > 0) opt(`option:domain-search,${c.search.join(',')}`);
  if (c.domain !== undefined) opt(`option:domain-name,${c.domain}`);
  if (c.hostname !== undefined) opt(`12,${c.hostname}`);
  if (c.mtu !== undefined) opt(`option:mtu,${c.mtu}`);
  if (c.ntp.length > 0) opt(`option:ntp-server,${c.ntp.join(',')}`);
  if (c.tftp !== undefined) opt(`option:tftp-server,${c.tftp}`);
  if (c.boot !== undefined) opt(`option:bootfile-name,${c.boot}`);
  for (const p of c.privateOptions) opt(`${p.code},${p.value}`);
  return out;
}

function ipv6OptionLines(c: CheckedNic): string[] {
  const out: string[] = [];
  if (c.dns6.length > 0)
    out.push(`dhcp-option=tag:${c.tag},option6:dns-server,${c.dns6.map((a) => `[${a}]`).join(',')}`);
  if (c.search.length > 0) out.push(`dhcp-option=tag:${c.tag},option6:domain-search,${c.search.join(',')}`);
  return out;
}

/** A checked NIC's lines, each one that dnsmasq reads as one line. */
function nicLines(c: CheckedNic): string[] {
  const out = [...rangeLines(c), ...(c.v4 ? ipv4OptionLines(c) : []), ...(c.v6 ? ipv6OptionLines(c) : [])];
  if (c.raLifetime !== undefined) {
    const raMtu = c.mtu !== undefined && c.mtu >= 1280 ? `mtu:${c.mtu},` : '';
    out.push(`ra-param=${c.bridge},${raMtu}${RA_INTERVAL},${c.raLifetime}`);
  }
  for (const line of out) whole(c.field, line);
  return out;
}

/** No two NICs share a bridge or a MAC: dnsmasq would serve one of them twice. */
function checkDistinct(nics: readonly DhcpNic[]): void {
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
}

/**
 * enable-ra is global: it advertises on every interface with an IPv6 range.
 * A NIC without routerAdvertisement then gets router lifetime 0 (no route).
 */
function raDefaults(checked: readonly CheckedNic[], warnings: string[]): Map<CheckedNic, string> {
  const lines = new Map<CheckedNic, string>();
  if (!checked.some((c) => c.raLifetime !== undefined)) return lines;
  checked.forEach((c, i) => {
    if (c.v6 === undefined || c.raLifetime !== undefined) return;
    warnings.push(`nics[${i}]: enable-ra is global in dnsmasq; this NIC gets advertisements with router lifetime 0`);
    lines.set(c, `ra-param=${c.bridge},0,0`);
  });
  return lines;
}

const GLOBAL_LINES = [
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

/** The files dnsmasq writes and logs to, checked. */
function fileLines(spec: DnsmasqSpec): string[] {
  const leaseFile = absolutePath('leaseFile', spec.leaseFile);
  const pidFile = absolutePath('pidFile', spec.pidFile);
  const log =
    spec.logFacility === undefined || spec.logFacility === '-'
      ? spec.logFacility
      : absolutePath('logFacility', spec.logFacility);
  return [
    ...(log === undefined ? [] : [whole('logFacility', `log-facility=${log}`)]),
    whole('leaseFile', `dhcp-leasefile=${leaseFile}`),
    whole('pidFile', `pid-file=${pidFile}`),
  ];
}

export function renderDnsmasqConfig(spec: DnsmasqSpec): RenderedDnsmasq {
  if (typeof spec !== 'object' || spec === null) fail('spec', `${show(spec)} is not an object`);
  const warnings: string[] = [];
  const nics = list<DhcpNic>('nics', spec.nics);
  if (nics.length === 0) fail('nics', 'must list at least one NIC (with none, dnsmasq would serve every interface)');
  const files = fileLines(spec);
  const checked = nics.map((nic, i) => checkNic(nic, i, warnings));
  checkDistinct(nics);
  const raZero = raDefaults(checked, warnings);
  const lines = [...GLOBAL_LINES, ...files];
  if (checked.some((c) => c.raLifetime !== undefined)) lines.push('enable-ra');
  for (const c of checked) {
    const zero = raZero.get(c);
    lines.push('', ...nicLines(c), ...(zero ? [zero] : []));
  }
  return { text: `${lines.join('\n')}\n`, warnings };
}
