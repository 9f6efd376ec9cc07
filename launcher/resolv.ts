/**
 * resolv.conf(5), read leniently: a pod's file may hold anything, and a bad
 * line must never stop a VM from getting its lease (KubeVirt's launcher
 * panics on some; pkg/network/dhcp). Unknown or malformed lines are skipped
 * and reported: `skipped` holds them as written, resolvConfProblems() says
 * why, naming the keyword and the rule.
 *
 * What is kept reaches dnsmasq's config as DHCP options 6, 15 and 119, so
 * names are held to what those options can carry (RFC 1035 2.3.4: labels of
 * at most 63 octets, names of at most 253 characters in text form).
 */
import { isIp } from '../lib/cidr.ts';

export interface ResolvConf {
  nameservers: string[];
  search: string[];
  domain?: string;
  skipped: string[];
}

/** Why one line was not used: its 1-based line number, the keyword (or "line") and the rule. */
export interface ResolvProblem {
  line: number;
  field: string;
  rule: string;
}

/** Kubernetes' pod DNS limits (pkg/apis/core/validation MaxDNSSearchPaths); glibc before 2.26 read only 6. */
const MAX_SEARCH_DOMAINS = 32;
const MAX_NAME_CHARS = 253;
/** RFC 952/1123 host names; "_" too, which real search lists carry (SRV-style zones). */
const LABEL = /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/u;

/** Why `name` cannot be sent as a domain in DHCP options 15/119, or undefined. A trailing dot is allowed. */
export function domainNameProblem(name: string): string | undefined {
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  if (bare.length === 0) return 'must not be empty';
  if (bare.length > MAX_NAME_CHARS) return `must be at most ${MAX_NAME_CHARS} characters (is ${bare.length})`;
  const label = bare.split('.').find((l) => !LABEL.test(l));
  if (label !== undefined)
    return (
      `${JSON.stringify(name)} is not a domain name ` +
      '(labels of 1-63 letters, digits, "-" or "_", not starting or ending with "-")'
    );
  return undefined;
}

type Directive =
  | { key: 'nameserver'; value: string }
  | { key: 'search'; values: string[]; dropped: Array<{ domain: string; rule: string }> }
  | { key: 'domain'; value: string }
  | { key: 'ignored' };

/** The meaning of one line, or why it has none. */
/** A code point as U+ writes it: four hex digits at least, upper case. */
const hex4 = (cp: number): string => cp.toString(16).padStart(4, '0').toUpperCase();

function classify(line: string): Directive | { field: string; rule: string } {
  // Control characters other than tab (NUL, CR, vertical tab...) are no part of a resolv.conf line.
  const control = line.match(/[\u0000-\u0008\u000b-\u001f\u007f\u0085\u2028\u2029]/u);
  if (control)
    return {
      field: 'line',
      rule: `contains the control character U+${hex4(control[0].codePointAt(0)!)}`,
    };
  const [key = '', ...values] = line.split(/[ \t]+/u);
  switch (key) {
    case 'nameserver': {
      if (values.length !== 1) return { field: 'nameserver', rule: `takes exactly one address (has ${values.length})` };
      const ip = values[0]!;
      // A scoped address (fe80::1%eth0) means nothing on the guest's link.
      if (ip.includes('%'))
        return {
          field: 'nameserver',
          rule: `${JSON.stringify(ip)} is a scoped address; the guest's link has no such zone`,
        };
      if (!isIp(ip)) return { field: 'nameserver', rule: `${JSON.stringify(ip)} is not an IP address` };
      return { key, value: ip };
    }
    case 'search': {
      if (values.length === 0) return { field: 'search', rule: 'needs at least one domain' };
      if (values.length > MAX_SEARCH_DOMAINS)
        return { field: 'search', rule: `at most ${MAX_SEARCH_DOMAINS} domains (has ${values.length})` };
      // One bad domain costs only itself: the others still reach the guest (and the drop is reported).
      const dropped = values.flatMap((domain) => {
        const rule = domainNameProblem(domain);
        return rule ? [{ domain, rule }] : [];
      });
      if (dropped.length === values.length) return { field: 'search', rule: dropped[0]!.rule };
      return { key, values: values.filter((d) => !dropped.some((x) => x.domain === d)), dropped };
    }
    case 'domain': {
      if (values.length !== 1) return { field: 'domain', rule: `takes exactly one domain name (has ${values.length})` };
      const problem = domainNameProblem(values[0]!);
      return problem ? { field: 'domain', rule: problem } : { key, value: values[0]! };
    }
    case 'options':
    case 'sortlist':
      return { key: 'ignored' };
    default:
      return {
        field: 'line',
        rule:
          `unknown keyword ${JSON.stringify(key.slice(0, 40))} ` +
          '(resolv.conf(5): nameserver, search, domain, options, sortlist)',
      };
  }
}

/** Each meaningful line with its number; comments (# or ;) and blank lines dropped. */
function lines(text: string): Array<{ n: number; raw: string; line: string }> {
  return text.split(/\r?\n/u).flatMap((raw, i) => {
    const line = raw.replace(/[#;].*$/u, '').trim();
    return line ? [{ n: i + 1, raw, line }] : [];
  });
}

export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], search: [], skipped: [] };
  for (const { raw, line } of lines(text)) {
    const d = classify(line);
    if (!('key' in d)) out.skipped.push(raw.trim());
    else if (d.key === 'nameserver') out.nameservers.push(d.value);
    else if (d.key === 'search') {
      out.search = d.values; // the last search line wins (resolv.conf(5))
      out.skipped.push(...d.dropped.map((x) => `search ${x.domain}`));
    } else if (d.key === 'domain') out.domain = d.value;
  }
  return out;
}

/** Why each skipped line was skipped, in file order. */
export function resolvConfProblems(text: string): ResolvProblem[] {
  return lines(text).flatMap(({ n, line }) => {
    const d = classify(line);
    if (!('key' in d)) return [{ line: n, field: d.field, rule: d.rule }];
    return d.key === 'search' ? d.dropped.map((x) => ({ line: n, field: 'search', rule: x.rule })) : [];
  });
}
