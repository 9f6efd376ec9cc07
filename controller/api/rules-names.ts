/**
 * Names and DNS: object names, hostname/subdomain (KubeVirt
 * vmi-create-admitter: "hostname must be a DNS label", "subdomain must be a
 * DNS subdomain") and the guest's DNS settings, which Kubernetes checks for
 * pods (pkg/apis/core/validation validateDNSPolicy / validatePodDNSConfig) and
 * KubeVirt passes through unchecked. A bad search domain reaching KubeVirt's
 * DHCP server panics virt-launcher (kubevirt/kubevirt#4541, #12615); here it
 * is an admission error, by the same rule the DHCP renderer applies
 * (lib/dnsmasq-values.ts). The guest's DHCP hostname is spec.hostname (a
 * DNS-1123 label) or the name's first label, as KubeVirt derives it
 * (`my.vm` → `my`): every name and hostname admitted here gives one the
 * renderer sends (test/unit/launcher/dhcp-values.test.ts takes a table of
 * names through both).
 */
import { MAX_HOTPLUG_PORTS } from '../../launcher/spec.ts';
import { dns1123LabelProblem, dns1123SubdomainProblem } from '../../lib/names.ts';
import { familyOf } from '../../lib/cidr.ts';
import { searchDomainProblem } from '../../lib/dnsmasq-values.ts';
import { child, index, shown, type RuleProblem } from './paths.ts';
import type { VmiSpec } from './schema.ts';

/** Kubernetes' limits for pod DNS (validation.go MaxDNSNameservers, MaxDNSSearchPaths, MaxDNSSearchListChars). */
const MAX_NAMESERVERS = 3;
const MAX_SEARCHES = 32;
const MAX_SEARCH_CHARS = 2048;

export interface Meta {
  name?: string;
  namespace?: string;
  annotations?: Record<string, string>;
}

/**
 * A VMI's or VM's metadata. The name is a DNS-1123 subdomain of at most 63
 * characters: it becomes a pod-name prefix and a label value
 * (kubevirt.io/domain), and a VM's name is its VMI's.
 */
export function metadataProblems(meta: Meta, at: string): RuleProblem[] {
  const out: RuleProblem[] = [];
  if (meta.name !== undefined) {
    const p = dns1123SubdomainProblem(meta.name, 63);
    if (p) out.push({ path: child(at, 'name'), rule: p });
  }
  if (meta.namespace !== undefined) {
    const p = dns1123LabelProblem(meta.namespace);
    if (p) out.push({ path: child(at, 'namespace'), rule: p });
  }
  const ports = meta.annotations?.[HOTPLUG_PORTS_ANNOTATION];
  if (ports !== undefined && hotplugPortsOf(ports) === undefined)
    out.push({
      path: `${child(at, 'annotations')}[${JSON.stringify(HOTPLUG_PORTS_ANNOTATION)}]`,
      rule:
        `${shown(ports)} must be a whole number from 0 to ${MAX_HOTPLUG_PORTS}: ` +
        'the empty PCIe root ports kept for hot-plugged NICs',
    });
  return out;
}

/**
 * How many empty PCIe root ports a VM keeps for NICs plugged while it runs (launcher/domain/xml.ts); without
 * it, KubeVirt's room for 4 NICs in all.
 */
export const HOTPLUG_PORTS_ANNOTATION = 'virtnet.io/hotplug-ports';

/** The annotation's number, or undefined when it is not a whole number in range (decimal digits only). */
export function hotplugPortsOf(text: string): number | undefined {
  if (!/^\d{1,2}$/u.test(text)) return undefined;
  const n = Number(text);
  return n <= MAX_HOTPLUG_PORTS ? n : undefined;
}

export function dnsProblems(spec: VmiSpec, at: string): RuleProblem[] {
  const out: RuleProblem[] = [];
  if (spec.hostname !== undefined && spec.hostname !== '') {
    const p = dns1123LabelProblem(spec.hostname);
    if (p) out.push({ path: child(at, 'hostname'), rule: p });
  }
  if (spec.subdomain !== undefined && spec.subdomain !== '') {
    const p = dns1123SubdomainProblem(spec.subdomain);
    if (p) out.push({ path: child(at, 'subdomain'), rule: p });
  }
  const cfg = spec.dnsConfig;
  const servers = cfg?.nameservers ?? [];
  if (spec.dnsPolicy === 'None' && servers.length === 0) {
    out.push({
      path: `${at}.dnsConfig.nameservers`,
      rule: 'dnsPolicy None needs at least one nameserver (the guest gets no other)',
    });
  }
  if (servers.length > MAX_NAMESERVERS) {
    out.push({
      path: `${at}.dnsConfig.nameservers`,
      rule: `at most ${MAX_NAMESERVERS} nameservers (has ${servers.length}; resolv.conf reads no more)`,
    });
  }
  servers.forEach((s, i) => {
    if (familyOf(s) === undefined)
      out.push({ path: index(`${at}.dnsConfig.nameservers`, i), rule: `${shown(s)} is not an IP address` });
  });
  const searches = cfg?.searches ?? [];
  const sp = `${at}.dnsConfig.searches`;
  if (searches.length > MAX_SEARCHES)
    out.push({ path: sp, rule: `at most ${MAX_SEARCHES} search domains (has ${searches.length})` });
  const chars = searches.join(' ').length;
  if (chars > MAX_SEARCH_CHARS)
    out.push({ path: sp, rule: `the search list is ${chars} characters; at most ${MAX_SEARCH_CHARS}` });
  searches.forEach((s, i) => {
    // A trailing dot (fully qualified) is allowed, as Kubernetes allows it.
    const name = s.endsWith('.') ? s.slice(0, -1) : s;
    // The renderer's rule first: it names whitespace and newlines (which
    // would start a new resolv.conf line) and 63-byte labels, which the
    // DNS-1123 pattern does not.
    const p = searchDomainProblem(name) ?? dns1123SubdomainProblem(name);
    if (p) out.push({ path: index(sp, i), rule: p });
  });
  out.push(...dnsOptionProblems(cfg?.options ?? [], `${at}.dnsConfig.options`));
  return out;
}

/** One resolv.conf `options` word (resolv.conf(5)): "name" or "name:value", no blanks, no control characters. */
const DNS_OPTION_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/u;
const DNS_OPTION_VALUE = /^[\x21-\x7e]*$/u;

/**
 * dnsConfig.options: Kubernetes requires a name (validatePodDNSConfig); both
 * parts go into the guest's resolv.conf on one `options` line, so a blank, a
 * newline or a ":" in them would change what the line says.
 */
function dnsOptionProblems(options: Array<{ name: string; value?: string }>, at: string): RuleProblem[] {
  const out: RuleProblem[] = [];
  options.forEach((o, i) => {
    const p = index(at, i);
    if (o.name === '') out.push({ path: `${p}.name`, rule: 'is required (is "")' });
    else if (!DNS_OPTION_NAME.test(o.name))
      out.push({
        path: `${p}.name`,
        rule: `${shown(o.name)} must be a resolv.conf option name (letters, digits, "-" and "_", e.g. ndots)`,
      });
    if (o.value !== undefined && (!DNS_OPTION_VALUE.test(o.value) || o.value.includes(':'))) {
      out.push({
        path: `${p}.value`,
        rule:
          `${shown(o.value)} must be printable ASCII without blanks or ":" ` +
          `(it follows "${o.name}:" in resolv.conf)`,
      });
    }
  });
  return out;
}
