/**
 * The one rule for every value that reaches dnsmasq's configuration file.
 * The renderer (launcher/dhcp/dnsmasq-config.ts) checks each value with
 * these functions before it writes it; admission (controller/api rules-*.ts,
 * which `virtnet validate`, `virtnet up` and the webhook run) calls the same
 * functions, so a VMI that is admitted renders, and a value the renderer
 * would refuse is refused at admission, in the same words. It lives in lib/
 * so that every layer may use it (a CNI config's dns.search feeds the same
 * resolv.conf and DHCP search lists).
 *
 * How dnsmasq 2.90 reads its file (src/option.c read_file, one_opt,
 * parse_dhcp_opt; src/util.c check_name), which these rules follow:
 * - A line is read with fgets(buf, MAXDNAME = 1025): from byte 1024 on,
 *   the rest of a line is parsed as a line of its own.
 * - Inside double quotes, `\\ \" \t \n \r \b \e` are escapes and every
 *   other byte is kept (control bytes are "hidden" as 0x00-0x1f there,
 *   so a control byte in a value would be read back as another character).
 * - dhcp-host splits at "," and reads each field by its form: with a ":"
 *   it is a MAC, `id:`, `set:`, `tag:` or `[IPv6]`; a dotted quad is an
 *   IPv4 address; `infinite` is a lease time and `ignore` means "never
 *   answer this host"; digits with at most one trailing s/m/h/d/w are a
 *   lease time; anything else is the hostname. check_name() drops one
 *   trailing ".", so `<label>.` is always read as the hostname <label>:
 *   a VMI named `ignore`, `infinite`, `600` or `5m` keeps its lease and
 *   its name.
 * - Option 12 (hostname) is typed OT_NAME (src/dhcp-common.c opttab), so
 *   `12,600` is the string "600", never a number.
 */
import ipaddr from 'ipaddr.js';
import { showValue } from './show.ts';

export { showValue };

/** RFC 2132 §2: an option's length is one byte. */
export const DHCP_OPTION_MAX_BYTES = 255;
/** fgets(…, MAXDNAME = 1025) reads 1024 bytes; one is the newline. */
export const DNSMASQ_LINE_MAX_BYTES = 1023;
/** RFC 1035 §2.3.4. */
export const DNS_LABEL_MAX = 63;
export const DNS_NAME_MAX = 253;

/** A letter or digit at both ends, "-" inside (RFC 1123 §2.1 host name label). */
const LABEL = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/iu;
/** What dnsmasq cannot take inside quotes (C0, DEL, C1 incl. U+0085), and the Unicode line separators. */
const CONTROL = /[\p{Cc}\u2028\u2029]/u;

/** Why `value` is not a host name label dnsmasq can send as option 12, or undefined. */
export function hostnameProblem(value: string): string | undefined {
  if (LABEL.test(value)) return undefined;
  return (
    `${showValue(value)} is not a DNS label (letters, digits and "-", at most ${DNS_LABEL_MAX}, starting and ` +
    `ending with a letter or digit)`
  );
}

/**
 * The guest's DHCP hostname: spec.hostname, else the VMI name up to its
 * first "." (a DNS-1123 subdomain's first label), cut to 63 characters, as
 * KubeVirt's SanitizeHostname (pkg/util/net/dns/sanitize.go) derives it. So
 * `my.vm` is `my`, and every valid VMI name has one.
 */
export function dhcpHostname(vmiName: string, hostname?: string): string {
  if (hostname) return hostname;
  return (vmiName.split('.')[0] ?? '').slice(0, DNS_LABEL_MAX);
}

/**
 * The hostname field of a dhcp-host line: `<label>.`, which dnsmasq cannot read as a keyword or a lease time (see
 * above).
 */
export function dhcpHostNameField(label: string): string {
  const problem = hostnameProblem(label);
  if (problem) throw new TypeError(problem);
  return `${label}.`;
}

/**
 * Why a free-text option value (boot file, TFTP server, private options)
 * cannot be written in dnsmasq's quotes, or undefined.
 */
export function dhcpStringProblem(value: string): string | undefined {
  if (CONTROL.test(value)) {
    return (
      `${showValue(value)} contains control characters (newlines, tabs, U+0085, U+2028, …), which cannot be ` +
      `written into the DHCP server's configuration`
    );
  }
  // dnsmasq's split() strips blanks next to the commas outside quotes; rather
  // than depend on the quotes keeping them, blanks at either end are refused
  // (they are a paste slip far more often than meant).
  if (/^\s|\s$/u.test(value)) return `${showValue(value)} has leading or trailing whitespace`;
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > DHCP_OPTION_MAX_BYTES)
    return `${showValue(value)} is ${bytes} bytes; one DHCP option holds at most ${DHCP_OPTION_MAX_BYTES}`;
  return undefined;
}

/** `value` in dnsmasq's double quotes, `\` and `"` escaped. Throws a TypeError naming the problem. */
export function quoteDhcpString(value: string): string {
  const problem = dhcpStringProblem(value);
  if (problem) throw new TypeError(problem);
  return `"${value.replace(/[\\"]/gu, (c) => `\\${c}`)}"`;
}

/** Why `value` cannot go into option 42 (NTP servers, RFC 2132 §8.3: IPv4 addresses), or undefined. */
export function ntpServerProblem(value: string): string | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(value)) return undefined;
  return `${showValue(value)} is not an IPv4 address (DHCP option 42 carries IPv4 addresses only)`;
}

/**
 * Why `value` is not a search domain dnsmasq can send in option 119, or
 * undefined: RFC 1035 labels (with RFC 1123's leading digits, which
 * Kubernetes namespaces need), each at most 63 bytes, at most 253 in all,
 * no whitespace or control characters (a newline in a search list would
 * start a new resolv.conf line).
 */
export function searchDomainProblem(value: string): string | undefined {
  if (value.length === 0) return 'must not be empty';
  if (/[\s\p{Cc}]/u.test(value))
    return `${showValue(value)} contains whitespace or control characters; a search domain is one name`;
  if (value.length > DNS_NAME_MAX)
    return `${showValue(value)} is ${value.length} characters; a domain name has at most ${DNS_NAME_MAX}`;
  const bad = value.split('.').find((label) => !LABEL.test(label));
  if (bad !== undefined)
    return (
      `${showValue(value)} has the label ${showValue(bad)}; each label is letters, digits and "-", ` +
      `1-${DNS_LABEL_MAX} characters, starting and ending with a letter or digit`
    );
  return undefined;
}

/** Why a rendered line would not reach dnsmasq whole, or undefined. */
export function dnsmasqLineProblem(line: string): string | undefined {
  const bytes = Buffer.byteLength(line, 'utf8');
  if (bytes <= DNSMASQ_LINE_MAX_BYTES) return undefined;
  return (
    `renders a line of ${bytes} bytes; dnsmasq reads at most ${DNSMASQ_LINE_MAX_BYTES} (the rest would be parsed ` +
    `as a line of its own): ${showValue(line)}`
  );
}
