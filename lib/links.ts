/**
 * Cheap link facts for our own namespace, read from /proc/self/net.
 * Unlike /sys/class/net, which shows the namespace that mounted sysfs,
 * /proc/self/net always shows the namespace of this process, and a file
 * read costs microseconds where an `ip` exec costs milliseconds.
 */
import { readFileSync } from 'node:fs';
import ipaddr from 'ipaddr.js';

export function linkNames(): Set<string> {
  const text = readFileSync('/proc/self/net/dev', 'utf8');
  const names = new Set<string>();
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon > 0) names.add(line.slice(0, colon).trim());
  }
  return names;
}

/**
 * Whether `dev` holds the address `cidr` ("a.b.c.d/len" or "x::y/len").
 * IPv6 addresses are listed per device in if_inet6 (proc(5)). IPv4 has no
 * such file, so the kernel's prefix route for the address's subnet on `dev`
 * (in /proc/net/route, which the kernel adds with each address) stands in.
 */
export function hasAddress(dev: string, cidr: string): boolean {
  const [addr = '', lenText = ''] = cidr.split('/');
  const len = Number(lenText);
  try {
    if (addr.includes(':')) {
      const hex = ipaddr.IPv6.parse(addr)
        .toByteArray()
        .map((b) => b.toString(16).padStart(2, '0'))
        .join('');
      return readFileSync('/proc/self/net/if_inet6', 'utf8')
        .split('\n')
        .some((l) => {
          const f = l.trim().split(/\s+/u);
          return f[0] === hex && f[5] === dev && parseInt(f[2] ?? '', 16) === len;
        });
    }
    const net = ipaddr.IPv4.networkAddressFromCIDR(cidr).toByteArray();
    const mask = ipaddr.IPv4.subnetMaskFromPrefixLength(len).toByteArray();
    // /proc/net/route prints addresses as host-order (little-endian) hex.
    const le = (b: number[]) =>
      b
        .map((x) => x.toString(16).padStart(2, '0'))
        .reverse()
        .join('')
        .toUpperCase();
    return readFileSync('/proc/self/net/route', 'utf8')
      .split('\n')
      .some((l) => {
        const f = l.split('\t');
        return f[0] === dev && f[1] === le(net) && f[7] === le(mask);
      });
  } catch {
    return false;
  }
}
