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
export type LauncherReport = Pick<LauncherStatus, 'phase' | 'nics' | 'steps' | 'error' | 'accel'>;

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

function optString(o: Obj, key: string, at: string): void {
  if (o[key] !== undefined) reqString(o, key, at);
}

function reqBool(o: Obj, key: string, at: string): void {
  if (typeof o[key] !== 'boolean') throw bad(`${at}.${key}`, `must be true or false (is ${shown(o[key])})`);
}

function reqInt(o: Obj, key: string, at: string, min: number, max: number): void {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw bad(`${at}.${key}`, `must be an integer from ${min} to ${max} (is ${shown(v)})`);
  }
}

/** Milliseconds since the launcher started: finite and not negative. */
function optMs(o: Obj, key: string, at: string): void {
  const v = o[key];
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
    throw bad(`${at}.${key}`, `must be a non-negative number of ms (is ${shown(v)})`);
}

function list(o: Obj, key: string, at: string): unknown[] {
  const v = o[key];
  if (!Array.isArray(v)) throw bad(`${at}.${key}`, `must be a list (is ${shown(v)})`);
  return v;
}

function checkNic(n: unknown, at: string): void {
  if (!isObj(n)) throw bad(at, `must be an object (is ${shown(n)})`);
  for (const key of ['name', 'podInterface', 'bridge', 'tap']) reqString(n, key, at);
  if (!(BINDINGS as readonly unknown[]).includes(n.binding))
    throw bad(`${at}.binding`, `must be one of ${BINDINGS.join(', ')} (is ${shown(n.binding)})`);
  if (!isMac(reqString(n, 'mac', at))) throw bad(`${at}.mac`, `${shown(n.mac)} is not a MAC address`);
  reqInt(n, 'mtu', at, 68, 65535);
  list(n, 'ips', at).forEach((ip, i) => {
    if (typeof ip !== 'string' || !(isIp(ip) || parseCidr(ip)))
      throw bad(`${at}.ips[${i}]`, `${shown(ip)} is not an IP address or CIDR`);
  });
  for (const key of ['dhcp', 'leased4', 'leased6']) reqBool(n, key, at);
  optMs(n, 'leasedAtMs', at);
}

function checkReport(o: Obj, at: string): void {
  if (!PHASES.includes(o.phase as LauncherStatus['phase']))
    throw bad(`${at}.phase`, `must be one of ${PHASES.join(', ')} (is ${shown(o.phase)})`);
  list(o, 'nics', at).forEach((n, i) => checkNic(n, `${at}.nics[${i}]`));
  list(o, 'steps', at).forEach((s, i) => {
    if (!isObj(s)) throw bad(`${at}.steps[${i}]`, `must be an object (is ${shown(s)})`);
    reqString(s, 'name', `${at}.steps[${i}]`);
    if (s.ms === undefined) throw bad(`${at}.steps[${i}].ms`, 'is required');
    optMs(s, 'ms', `${at}.steps[${i}]`);
  });
  optString(o, 'error', at);
  optString(o, 'accel', at);
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

/** The pod annotation's report, its shape checked; throws a VirtnetError naming the field (`at` prefixes it). */
export function parseLauncherReport(text: string, at: string): LauncherReport {
  const o = parseObject(text, at);
  checkReport(o, at);
  return o as unknown as LauncherReport;
}

/** status.json, its shape checked; throws a VirtnetError naming the field. */
export function parseLauncherStatus(text: string, at: string): LauncherStatus {
  const o = parseObject(text, at);
  checkReport(o, at);
  // pid 0 would address a whole process group in kill(2); pid_max is at most 2^22 (proc(5)).
  reqInt(o, 'pid', at, 1, 2 ** 22);
  list(o, 'warnings', at).forEach((w, i) => {
    if (typeof w !== 'string') throw bad(`${at}.warnings[${i}]`, `must be a string (is ${shown(w)})`);
  });
  for (const key of ['domain', 'accelReason', 'libvirtUri', 'consoleLog']) optString(o, key, at);
  for (const key of ['tapReadyAtMs', 'teardownMs']) optMs(o, key, at);
  if (o.dnsmasqRestarts !== undefined) reqInt(o, 'dnsmasqRestarts', at, 0, Number.MAX_SAFE_INTEGER);
  if (o.pids !== undefined) {
    if (!isObj(o.pids)) throw bad(`${at}.pids`, `must be an object (is ${shown(o.pids)})`);
    for (const key of ['dnsmasq', 'libvirtd', 'qemu'])
      if (o.pids[key] !== undefined) reqInt(o.pids, key, `${at}.pids`, 1, 2 ** 22);
  }
  if (o.pidStarts !== undefined) {
    if (!isObj(o.pidStarts)) throw bad(`${at}.pidStarts`, `must be an object (is ${shown(o.pidStarts)})`);
    for (const [key, v] of Object.entries(o.pidStarts)) {
      if (!['dnsmasq', 'libvirtd', 'qemu'].includes(key) || typeof v !== 'string' || !/^\d{1,20}$/u.test(v))
        throw bad(`${at}.pidStarts.${key}`, `must be a start time in clock ticks (is ${shown(v)})`);
    }
  }
  return o as unknown as LauncherStatus;
}
