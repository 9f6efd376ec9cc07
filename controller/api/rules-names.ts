/**
 * Names and DNS: object names, hostname/subdomain (KubeVirt
 * vmi-create-admitter: "hostname must be a DNS label", "subdomain must be a
 * DNS subdomain") and the guest's DNS settings, which Kubernetes checks for
 * pods (pkg/apis/core/validation validateDNSPolicy / validatePodDNSConfig) and
 * KubeVirt passes through unchecked. A bad search domain reaching KubeVirt's
 * DHCP server panics virt-launcher (kubevirt/kubevirt#4541, #12615); here it
 * is an admission error.
 */
import { dns1123LabelProblem } from '../../netattach/annotation.ts';
import { familyOf } from '../../lib/cidr.ts';
import { child, index, type RuleProblem } from './paths.ts';
import type { VmiSpec } from './schema.ts';

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/u;

/** Kubernetes' limits for pod DNS (validation.go MaxDNSNameservers, MaxDNSSearchPaths, MaxDNSSearchListChars). */
const MAX_NAMESERVERS = 3;
const MAX_SEARCHES = 32;
const MAX_SEARCH_CHARS = 2048;

/** Why `value` is not a DNS-1123 subdomain of at most `max` characters, or undefined. */
export function dns1123SubdomainProblem(value: string, max = 253): string | undefined {
  if (value.length === 0) return 'must not be empty';
  if (value.length > max) return `must be at most ${max} characters (is ${value.length})`;
  if (!DNS1123_SUBDOMAIN.test(value)) return `"${value}" must be a DNS-1123 subdomain (lower-case alphanumerics, "-" and ".", each part starting and ending with an alphanumeric)`;
  return undefined;
}

export interface Meta { name?: string; namespace?: string }

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
  return out;
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
    out.push({ path: `${at}.dnsConfig.nameservers`, rule: 'dnsPolicy None needs at least one nameserver (the guest gets no other)' });
  }
  if (servers.length > MAX_NAMESERVERS) {
    out.push({ path: `${at}.dnsConfig.nameservers`, rule: `at most ${MAX_NAMESERVERS} nameservers (has ${servers.length}; resolv.conf reads no more)` });
  }
  servers.forEach((s, i) => {
    if (familyOf(s) === undefined) out.push({ path: index(`${at}.dnsConfig.nameservers`, i), rule: `"${s}" is not an IP address` });
  });
  const searches = cfg?.searches ?? [];
  const sp = `${at}.dnsConfig.searches`;
  if (searches.length > MAX_SEARCHES) out.push({ path: sp, rule: `at most ${MAX_SEARCHES} search domains (has ${searches.length})` });
  const chars = searches.join(' ').length;
  if (chars > MAX_SEARCH_CHARS) out.push({ path: sp, rule: `the search list is ${chars} characters; at most ${MAX_SEARCH_CHARS}` });
  searches.forEach((s, i) => {
    // A trailing dot (fully qualified) is allowed, as Kubernetes allows it.
    const p = dns1123SubdomainProblem(s.endsWith('.') ? s.slice(0, -1) : s);
    if (p) out.push({ path: index(sp, i), rule: p });
  });
  return out;
}
