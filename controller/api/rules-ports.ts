/**
 * An interface's ports, portRanges and dhcpOptions.
 *
 * ports: pkg/network/admitter/netiface.go validatePortConfiguration (names are
 * IANA_SVC_NAME and unique, the port is mandatory and in range, protocol TCP
 * or UDP in upper case). KubeVirt checks them only on the pod network and
 * silently ignores them elsewhere; virtnet says so instead. A port+protocol
 * given twice is rejected too: it would render two identical DNAT rules.
 *
 * portRanges: KubeVirt's PortRangesSpec (Alpha): masquerade only, not with
 * ports, at most 10, protocol required, start ≤ end, no overlap per protocol.
 *
 * dhcpOptions: privateOptions codes unique and in the private-use range
 * 224-254 (RFC 3942), ntpServers IPv4 (option 42 carries IPv4 only). The
 * strings go into dnsmasq's configuration file, each into one DHCP option:
 * they pass the renderer's own rule (lib/dnsmasq-values.ts, the one rule
 * for every value that reaches dnsmasq), so what is admitted also renders.
 */
import { dhcpStringProblem, ntpServerProblem } from '../../lib/dnsmasq-values.ts';
import { index, shown, type RuleProblem } from './paths.ts';
import type { VmiInterface, VmiNetwork } from './schema.ts';

const MAX_PORT_RANGES = 10;
const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9]|-(?!-))*$/u;

/** Kubernetes' IsValidPortName (IANA_SVC_NAME, RFC 6335 §5.1), or undefined when valid. */
export function portNameProblem(name: string): string | undefined {
  if (name.length > 15) return `${shown(name)} is longer than 15 characters (IANA_SVC_NAME)`;
  if (!IANA_SVC_NAME.test(name) || name.endsWith('-')) {
    return `${shown(name)} must be an IANA_SVC_NAME: lower-case letters, digits and single "-" inside`;
  }
  if (!/[a-z]/u.test(name)) return `${shown(name)} must contain at least one letter (IANA_SVC_NAME)`;
  return undefined;
}

const inRange = (n: number) => n > 0 && n < 65536;

export function portProblems(iface: VmiInterface, p: string, net: VmiNetwork | undefined): RuleProblem[] {
  const ports = iface.ports ?? [];
  if (ports.length === 0) return [];
  if (net?.multus)
    return [
      {
        path: `${p}.ports`,
        rule: `ports apply only to the pod network; network ${shown(net.name)} is multus (${net.multus.networkName})`,
      },
    ];
  const out: RuleProblem[] = [];
  const names = new Map<string, number>();
  const keys = new Map<string, number>();
  ports.forEach((port, j) => {
    const pp = index(`${p}.ports`, j);
    if (port.name !== undefined && port.name !== '') {
      const problem = portNameProblem(port.name);
      if (problem) out.push({ path: `${pp}.name`, rule: problem });
      const dup = names.get(port.name);
      if (dup !== undefined)
        out.push({
          path: `${pp}.name`,
          rule: `${shown(port.name)} must be unique; also used by ${index(`${p}.ports`, dup)}`,
        });
      else names.set(port.name, j);
    }
    if (port.port === 0) out.push({ path: `${pp}.port`, rule: 'is required (1-65535; is 0)' });
    else if (!inRange(port.port)) out.push({ path: `${pp}.port`, rule: `must be in 1-65535 (is ${port.port})` });
    const key = `${port.port}/${port.protocol || 'TCP'}`;
    const dup = keys.get(key);
    if (dup !== undefined) out.push({ path: pp, rule: `${key} is already forwarded by ${index(`${p}.ports`, dup)}` });
    else keys.set(key, j);
  });
  return out;
}

export function portRangeProblems(iface: VmiInterface, p: string, net: VmiNetwork | undefined): RuleProblem[] {
  const ranges = iface.portRanges ?? [];
  if (ranges.length === 0) return [];
  const out: RuleProblem[] = [];
  const rp = `${p}.portRanges`;
  if (iface.ports?.length) out.push({ path: rp, rule: 'cannot be used together with ports; use one or the other' });
  if (!iface.masquerade) out.push({ path: rp, rule: 'need the masquerade binding (they are DNAT rules)' });
  else if (net?.multus)
    out.push({ path: rp, rule: `apply only to the pod network; network ${shown(net.name)} is multus` });
  if (ranges.length > MAX_PORT_RANGES)
    out.push({ path: rp, rule: `at most ${MAX_PORT_RANGES} port ranges (has ${ranges.length})` });
  const valid: Array<{ j: number; protocol: string; start: number; end: number }> = [];
  ranges.forEach((r, j) => {
    const pp = index(rp, j);
    let ok = true;
    if (!r.protocol) {
      out.push({ path: `${pp}.protocol`, rule: 'is required (TCP or UDP)' });
      ok = false;
    }
    if (!inRange(r.start)) {
      out.push({ path: `${pp}.start`, rule: `must be in 1-65535 (is ${r.start})` });
      ok = false;
    }
    if (!inRange(r.end)) {
      out.push({ path: `${pp}.end`, rule: `must be in 1-65535 (is ${r.end})` });
      ok = false;
    }
    if (ok && r.start > r.end) {
      out.push({ path: pp, rule: `start ${r.start} is greater than end ${r.end}` });
      ok = false;
    }
    if (!ok || !r.protocol) return;
    const other = valid.find((v) => v.protocol === r.protocol && v.start <= r.end && r.start <= v.end);
    if (other)
      out.push({ path: pp, rule: `overlaps ${index(rp, other.j)} (${other.protocol} ${other.start}-${other.end})` });
    valid.push({ j, protocol: r.protocol, start: r.start, end: r.end });
  });
  return out;
}

export function dhcpProblems(iface: VmiInterface, p: string): RuleProblem[] {
  const opts = iface.dhcpOptions;
  if (!opts) return [];
  const out: RuleProblem[] = [];
  const dp = `${p}.dhcpOptions`;
  for (const key of ['bootFileName', 'tftpServerName'] as const) {
    const problem = opts[key] === undefined ? undefined : dhcpStringProblem(opts[key]);
    if (problem) out.push({ path: `${dp}.${key}`, rule: problem });
  }
  (opts.ntpServers ?? []).forEach((s, j) => {
    const problem = ntpServerProblem(s);
    if (problem) out.push({ path: index(`${dp}.ntpServers`, j), rule: problem });
  });
  const codes = new Map<number, number>();
  (opts.privateOptions ?? []).forEach((o, j) => {
    const op = index(`${dp}.privateOptions`, j);
    if (o.option < 224 || o.option > 254)
      out.push({ path: `${op}.option`, rule: `must be in 224-254, the private-use DHCP options (is ${o.option})` });
    const dup = codes.get(o.option);
    if (dup !== undefined)
      out.push({
        path: `${op}.option`,
        rule: `${o.option} must be unique; also used by ${index(`${dp}.privateOptions`, dup)}`,
      });
    else codes.set(o.option, j);
    const problem = dhcpStringProblem(o.value);
    if (problem) out.push({ path: `${op}.value`, rule: problem });
  });
  return out;
}
