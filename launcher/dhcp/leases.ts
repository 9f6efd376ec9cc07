/**
 * dnsmasq's lease file (dnsmasq(8), --dhcp-leasefile): IPv4 lines are
 * "<expiry> <mac> <ip> <hostname> <client-id>"; after a "duid <server-duid>"
 * line come IPv6 leases, "<expiry> <iaid> <ip> <hostname> <client-duid>".
 */
export interface Leases {
  /** MAC → IPv4 address. */
  v4: Map<string, string>;
  /** Leased IPv6 addresses. */
  v6: Set<string>;
}

export function parseLeases(text: string): Leases {
  const leases: Leases = { v4: new Map(), v6: new Set() };
  let inV6 = false;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/u);
    if (f[0] === 'duid') {
      inV6 = true;
      continue;
    }
    if (f.length < 3) continue;
    if (inV6) leases.v6.add((f[2] ?? '').toLowerCase());
    else if (/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/iu.test(f[1] ?? '')) leases.v4.set(f[1]!.toLowerCase(), f[2] ?? '');
  }
  return leases;
}
