/**
 * The launcher's report, written atomically to <stateDir>/status.json after
 * every change: what each NIC is wired to and whether its guest took its
 * lease. The node runtime and the controller read it; nothing else.
 */
import { readFileSync } from 'node:fs';
import { writeFileDurable } from '../lib/durable.ts';
import { join } from 'node:path';
import { ErrorCode, VirtnetError } from '../lib/errors.ts';
import { isIp, isMac, parseCidr } from '../lib/cidr.ts';
import { showValue as shown } from '../lib/show.ts';
import { isObj } from '../lib/json.ts';
import type { LinkNames } from './names.ts';
import { BINDINGS } from './nic.ts';
import { MAX_GENERATION } from './spec.ts';
import type { NicPlan } from './plan/types.ts';

/** What the launcher observes of a NIC while its VM runs: whether the guest took the leases it was offered. */
export interface NicLeases {
  leased4: boolean;
  leased6: boolean;
  /** ms since the launcher started, when the first lease was seen. */
  leasedAtMs?: number;
}

/** One NIC of status.json: its plan as readers need it (link names flat, whether it has DHCP), and its leases. */
export type NicStatus = Pick<NicPlan, 'name' | 'binding' | 'mac' | 'mtu' | 'ips'> & {
  podInterface: LinkNames['podIf'];
  bridge: LinkNames['bridge'];
  tap: LinkNames['tap'];
  dhcp: boolean;
  /** The guest's link state (libvirt's <link state>); absent in files from before hotplug means up. */
  linkState?: NicPlan['linkState'];
  /** Plugged into the running VM, not there at boot. */
  hotplugged?: boolean;
  /** Asked to leave the VM (state: absent) and not gone yet: the guest has not released it. */
  removing?: boolean;
} & NicLeases;

/** A planned NIC's status before the guest has taken any lease. */
export function nicStatus(nic: NicPlan): NicStatus {
  return {
    name: nic.name,
    binding: nic.binding,
    podInterface: nic.names.podIf,
    bridge: nic.names.bridge,
    tap: nic.names.tap,
    mac: nic.mac,
    mtu: nic.mtu,
    ips: nic.ips,
    dhcp: nic.dhcp !== undefined,
    linkState: nic.linkState,
    leased4: false,
    leased6: false,
  };
}

export interface LauncherStatus {
  phase: 'Starting' | 'Running' | 'Failed' | 'Stopped';
  pid: number;
  domain?: string;
  accel?: string;
  accelReason?: string;
  libvirtUri?: string;
  consoleLog?: string;
  nics: NicStatus[];
  steps: Array<{ name: string; ms: number }>;
  /** ms since the launcher started, when every tap was up on its bridge. */
  tapReadyAtMs?: number;
  teardownMs?: number;
  warnings: string[];
  error?: string;
  dnsmasqRestarts?: number;
  /** Children to reap after a crash (launcher/leftovers.ts). */
  pids?: { dnsmasq?: number; libvirtd?: number; qemu?: number };
  /** Their start times (lib/process.ts startTime): with the pid, each names one process for good. */
  pidStarts?: { dnsmasq?: string; libvirtd?: string; qemu?: string };
  /** The spec generation the launcher has applied to the running VM (launcher/spec.ts generation). */
  observedGeneration?: number;
  /** Why the last live change (hotplug, unplug, link state) failed, if it did; cleared by one that works. */
  liveError?: string;
}

export function statusFile(stateDir: string): string {
  return join(stateDir, 'status.json');
}

export function writeStatus(stateDir: string, status: LauncherStatus): void {
  const file = statusFile(stateDir);
  // The pids it records are what a teardown without cgroup v2 reaps: they must survive a crash.
  writeFileDurable(file, JSON.stringify(status, null, 2));
}

/**
 * A missing, unreadable or malformed file reads as "no report yet": the
 * launcher rewrites it after every change, and a half-written or foreign
 * file must never crash a reader (issue 11 item 13).
 */
export function readStatus(stateDir: string): LauncherStatus | undefined {
  let text: string;
  try {
    text = readFileSync(statusFile(stateDir), 'utf8');
  } catch {
    return undefined;
  }
  try {
    return parseLauncherStatus(text, 'status.json');
  } catch {
    return undefined;
  }
}

/** The compact report that travels on the pod (controller/agent/launcher-report.ts). */
export type LauncherReport = Pick<LauncherStatus, 'phase' | 'nics' | 'steps' | 'error' | 'accel' | 'liveError'>;

const PHASES: ReadonlyArray<LauncherStatus['phase']> = ['Starting', 'Running', 'Failed', 'Stopped'];

type Obj = Record<string, unknown>;

function bad(field: string, rule: string): VirtnetError {
  return new VirtnetError(ErrorCode.decodeFailure, `${field}: ${rule}`);
}

function reqString(o: Obj, key: string, at: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw bad(`${at}.${key}`, `must be a string (is ${shown(v)})`);
  return v;
}

function optString(o: Obj, key: string, at: string): string | undefined {
  return o[key] === undefined ? undefined : reqString(o, key, at);
}

const LINK_STATES = ['up', 'down'] as const;

function optBool(o: Obj, key: string, at: string): boolean | undefined {
  return o[key] === undefined ? undefined : reqBool(o, key, at);
}

function reqBool(o: Obj, key: string, at: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') throw bad(`${at}.${key}`, `must be true or false (is ${shown(v)})`);
  return v;
}

function reqInt(o: Obj, key: string, at: string, min: number, max: number): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw bad(`${at}.${key}`, `must be an integer from ${min} to ${max} (is ${shown(v)})`);
  }
  return v;
}

function optInt(o: Obj, key: string, at: string, min: number, max: number): number | undefined {
  return o[key] === undefined ? undefined : reqInt(o, key, at, min, max);
}

/** Milliseconds since the launcher started: finite and not negative. */
function optMs(o: Obj, key: string, at: string): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
    throw bad(`${at}.${key}`, `must be a non-negative number of ms (is ${shown(v)})`);
  return v;
}

function list(o: Obj, key: string, at: string): unknown[] {
  const v = o[key];
  if (!Array.isArray(v)) throw bad(`${at}.${key}`, `must be a list (is ${shown(v)})`);
  return v;
}

function objectAt(v: unknown, at: string): Obj {
  if (!isObj(v)) throw bad(at, `must be an object (is ${shown(v)})`);
  return v;
}

/** One of `values`, typed as they are. */
function oneOf<T extends string>(o: Obj, key: string, values: readonly T[], at: string): T {
  const found = values.find((x) => x === o[key]);
  if (found === undefined) throw bad(`${at}.${key}`, `must be one of ${values.join(', ')} (is ${shown(o[key])})`);
  return found;
}

function nicOf(v: unknown, at: string): NicStatus {
  const n = objectAt(v, at);
  const name = reqString(n, 'name', at);
  const [podInterface, bridge, tap] = [
    reqString(n, 'podInterface', at),
    reqString(n, 'bridge', at),
    reqString(n, 'tap', at),
  ];
  const binding = oneOf(n, 'binding', BINDINGS, at);
  const mac = reqString(n, 'mac', at);
  if (!isMac(mac)) throw bad(`${at}.mac`, `${shown(mac)} is not a MAC address`);
  const mtu = reqInt(n, 'mtu', at, 68, 65535);
  const ips = list(n, 'ips', at).map((ip, i) => {
    if (typeof ip !== 'string' || !(isIp(ip) || parseCidr(ip)))
      throw bad(`${at}.ips[${i}]`, `${shown(ip)} is not an IP address or CIDR`);
    return ip;
  });
  const [dhcp, leased4, leased6] = [reqBool(n, 'dhcp', at), reqBool(n, 'leased4', at), reqBool(n, 'leased6', at)];
  const leasedAtMs = optMs(n, 'leasedAtMs', at);
  const linkState = n.linkState === undefined ? undefined : oneOf(n, 'linkState', LINK_STATES, at);
  const [hotplugged, removing] = [optBool(n, 'hotplugged', at), optBool(n, 'removing', at)];
  return {
    ...{ name, binding, podInterface, bridge, tap, mac, mtu, ips, dhcp, leased4, leased6 },
    ...(leasedAtMs !== undefined && { leasedAtMs }),
    ...(linkState !== undefined && { linkState }),
    ...(hotplugged !== undefined && { hotplugged }),
    ...(removing !== undefined && { removing }),
  };
}

function stepOf(v: unknown, at: string): LauncherStatus['steps'][number] {
  const s = objectAt(v, at);
  const name = reqString(s, 'name', at);
  const ms = optMs(s, 'ms', at);
  if (ms === undefined) throw bad(`${at}.ms`, 'is required');
  return { name, ms };
}

function reportOf(o: Obj, at: string): LauncherReport {
  const phase = oneOf(o, 'phase', PHASES, at);
  const nics = list(o, 'nics', at).map((n, i) => nicOf(n, `${at}.nics[${i}]`));
  const steps = list(o, 'steps', at).map((s, i) => stepOf(s, `${at}.steps[${i}]`));
  const error = optString(o, 'error', at);
  const accel = optString(o, 'accel', at);
  const liveError = optString(o, 'liveError', at);
  return {
    ...{ phase, nics, steps },
    ...(error !== undefined && { error }),
    ...(accel !== undefined && { accel }),
    ...(liveError !== undefined && { liveError }),
  };
}

function parseObject(text: string, at: string): Obj {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw bad(at, `not valid JSON (${(err as Error).message})`);
  }
  if (!isObj(raw)) throw bad(at, `must be a JSON object (is ${shown(raw)})`);
  return raw;
}

/** The pod annotation's report, rebuilt from its checked fields; throws a VirtnetError naming the field. */
export function parseLauncherReport(text: string, at: string): LauncherReport {
  return reportOf(parseObject(text, at), at);
}

/** pid 0 would address a whole process group in kill(2); pid_max is at most 2^22 (proc(5)). */
const PID_MAX = 2 ** 22;
const CHILDREN = ['dnsmasq', 'libvirtd', 'qemu'] as const;

function pidsOf(o: Obj, at: string): LauncherStatus['pids'] {
  if (o.pids === undefined) return undefined;
  const p = objectAt(o.pids, `${at}.pids`);
  const pids: NonNullable<LauncherStatus['pids']> = {};
  for (const k of CHILDREN) if (p[k] !== undefined) pids[k] = reqInt(p, k, `${at}.pids`, 1, PID_MAX);
  return pids;
}

function pidStartsOf(o: Obj, at: string): LauncherStatus['pidStarts'] {
  if (o.pidStarts === undefined) return undefined;
  const p = objectAt(o.pidStarts, `${at}.pidStarts`);
  const starts: NonNullable<LauncherStatus['pidStarts']> = {};
  for (const [key, v] of Object.entries(p)) {
    const child = CHILDREN.find((c) => c === key);
    if (!child || typeof v !== 'string' || !/^\d{1,20}$/u.test(v))
      throw bad(`${at}.pidStarts.${key}`, `must be a start time in clock ticks (is ${shown(v)})`);
    starts[child] = v;
  }
  return starts;
}

/** The optional fields of status.json past the report's, each present only when given. */
function statusExtrasOf(o: Obj, at: string): Omit<LauncherStatus, keyof LauncherReport | 'pid' | 'warnings'> {
  const [domain, accelReason] = [optString(o, 'domain', at), optString(o, 'accelReason', at)];
  const [libvirtUri, consoleLog] = [optString(o, 'libvirtUri', at), optString(o, 'consoleLog', at)];
  const [tapReadyAtMs, teardownMs] = [optMs(o, 'tapReadyAtMs', at), optMs(o, 'teardownMs', at)];
  const dnsmasqRestarts = optInt(o, 'dnsmasqRestarts', at, 0, Number.MAX_SAFE_INTEGER);
  const [pids, pidStarts] = [pidsOf(o, at), pidStartsOf(o, at)];
  const observedGeneration = optInt(o, 'observedGeneration', at, 0, MAX_GENERATION);
  return {
    ...(domain !== undefined && { domain }),
    ...(accelReason !== undefined && { accelReason }),
    ...(libvirtUri !== undefined && { libvirtUri }),
    ...(consoleLog !== undefined && { consoleLog }),
    ...(tapReadyAtMs !== undefined && { tapReadyAtMs }),
    ...(teardownMs !== undefined && { teardownMs }),
    ...(dnsmasqRestarts !== undefined && { dnsmasqRestarts }),
    ...(pids && { pids }),
    ...(pidStarts && { pidStarts }),
    ...(observedGeneration !== undefined && { observedGeneration }),
  };
}

/** status.json, rebuilt from its checked fields; throws a VirtnetError naming the field. */
export function parseLauncherStatus(text: string, at: string): LauncherStatus {
  const o = parseObject(text, at);
  const report = reportOf(o, at);
  const pid = reqInt(o, 'pid', at, 1, PID_MAX);
  const warnings = list(o, 'warnings', at).map((w, i) => {
    if (typeof w !== 'string') throw bad(`${at}.warnings[${i}]`, `must be a string (is ${shown(w)})`);
    return w;
  });
  return { ...statusExtrasOf(o, at), ...report, pid, warnings };
}
