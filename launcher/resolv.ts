/**
 * resolv.conf(5), read leniently: a pod's file may hold anything, and a bad
 * line must never stop a VM from getting its lease (KubeVirt's launcher
 * panics on some; pkg/network/dhcp). Unknown or malformed lines are skipped
 * and reported.
 */
import { isIp } from '../lib/cidr.ts';

export interface ResolvConf {
  nameservers: string[];
  search: string[];
  domain?: string;
  skipped: string[];
}

export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], search: [], skipped: [] };
  for (const raw of text.split(/\r?\n/u)) {
    const line = raw.replace(/[#;].*$/u, '').trim();
    if (!line) continue;
    const [key, ...values] = line.split(/\s+/u);
    // A scoped address (fe80::1%eth0) means nothing on the guest's link.
    if (key === 'nameserver' && values.length === 1 && isIp(values[0] ?? '') && !values[0]!.includes('%')) out.nameservers.push(values[0]!);
    else if (key === 'search' && values.length > 0) out.search = values;
    else if (key === 'domain' && values.length === 1) out.domain = values[0]!;
    else if (key !== 'options' && key !== 'sortlist') out.skipped.push(raw.trim());
  }
  return out;
}
