/**
 * dnsmasq's lease file (dnsmasq(8), --dhcp-leasefile): IPv4 lines are
 * "<expiry> <mac> <ip> <hostname> <client-id>"; after a "duid <server-duid>"
 * line come IPv6 leases, "<expiry> <iaid> <ip> <hostname> <client-duid>".
 *
 * The hostname and client id come from the guest, so a line is taken only
 * when every field has the form dnsmasq itself writes (lease.c
 * lease_update_file); any other line is skipped, and leaseFileProblems()
 * says why, naming the field and the rule.
 */
import { familyOf } from '../../lib/cidr.ts';
import { showValue as shown } from '../../lib/show.ts';

export interface Leases {
  /** MAC → IPv4 address. */
  v4: Map<string, string>;
  /** Leased IPv6 addresses. */
  v6: Set<string>;
}

/** Why one line was skipped: its 1-based number, the field and the rule. */
export interface LeaseProblem {
  line: number;
  field: string;
  rule: string;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/iu;
/** Client ids and DUIDs: colon-separated hex bytes, or "*" for none. */
const HEX_BYTES = /^[0-9a-f]{2}(:[0-9a-f]{2})*$/iu;
/** dnsmasq writes only legal host names (util.c legal_hostname), or "*". */
const HOSTNAME = /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*$/u;
/** Expiry is a time_t, or 0 for an infinite lease; an IAID is 32 bits (RFC 8415 21.4). */
const MAX_TIME = 2 ** 40;
const MAX_IAID = 2 ** 32 - 1;

type Lease = { family: 4; mac: string; ip: string } | { family: 6; ip: string };
type Classified = Lease | { duid: true } | { field: string; rule: string };

function decimal(text: string, max: number): boolean {
  return /^\d{1,13}$/u.test(text) && Number(text) <= max;
}

function classify(f: string[], inV6: boolean): Classified {
  if (f[0] === 'duid') {
    if (f.length !== 2 || !HEX_BYTES.test(f[1] ?? ''))
      return {
        field: 'duid',
        rule: `must be "duid" and the server's DUID in hex bytes (is ${shown(f.slice(1).join(' '))})`,
      };
    return { duid: true };
  }
  if (f.length !== 5)
    return {
      field: 'line',
      rule: `must have 5 fields: expiry, ${inV6 ? 'iaid' : 'mac'}, ip, hostname, client id (has ${f.length})`,
    };
  const [expiry, id, ip, hostname, client] = f as [string, string, string, string, string];
  if (!decimal(expiry, MAX_TIME)) return { field: 'expiry', rule: `${shown(expiry)} is not a time in seconds` };
  if (inV6 && !decimal(id, MAX_IAID)) return { field: 'iaid', rule: `${shown(id)} is not a 32-bit IAID` };
  if (!inV6 && !MAC.test(id)) return { field: 'mac', rule: `${shown(id)} is not a MAC address (aa:bb:cc:dd:ee:ff)` };
  const family = ip.includes('%') ? undefined : familyOf(ip);
  if (family !== (inV6 ? 6 : 4)) return { field: 'ip', rule: `${shown(ip)} is not an IPv${inV6 ? 6 : 4} address` };
  if (hostname !== '*' && !(hostname.length <= 253 && HOSTNAME.test(hostname)))
    return { field: 'hostname', rule: `${shown(hostname)} is not a host name or "*"` };
  if (client !== '*' && !HEX_BYTES.test(client))
    return { field: 'client id', rule: `${shown(client)} is not hex bytes or "*"` };
  return inV6 ? { family: 6, ip: ip.toLowerCase() } : { family: 4, mac: id.toLowerCase(), ip };
}

/** Every non-blank line, classified in order (the duid line switches to IPv6). */
function walk(text: string, visit: (c: Classified, line: number) => void): void {
  let inV6 = false;
  text.split('\n').forEach((raw, i) => {
    const trimmed = raw.trim();
    if (!trimmed) return;
    const c = classify(trimmed.split(/[ \t]+/u), inV6);
    if ('duid' in c) inV6 = true;
    visit(c, i + 1);
  });
}

export function parseLeases(text: string): Leases {
  const leases: Leases = { v4: new Map(), v6: new Set() };
  walk(text, (c) => {
    if (!('family' in c)) return;
    if (c.family === 4)
      leases.v4.set(c.mac, c.ip); // a renewal rewrites the line: the last one wins
    else leases.v6.add(c.ip);
  });
  return leases;
}

/** Why each skipped line was skipped, in file order. */
export function leaseFileProblems(text: string): LeaseProblem[] {
  const out: LeaseProblem[] = [];
  walk(text, (c, line) => {
    if ('field' in c) out.push({ line, ...c });
  });
  return out;
}
