/**
 * The launcher's report, written atomically to <stateDir>/status.json after
 * every change: what each NIC is wired to and whether its guest took its
 * lease. The node runtime and the controller read it; nothing else.
 */
import { renameSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface NicStatus {
  name: string;
  binding: 'bridge' | 'masquerade';
  podInterface: string;
  bridge: string;
  tap: string;
  mac: string;
  mtu: number;
  ips: string[];
  dhcp: boolean;
  leased4: boolean;
  leased6: boolean;
  /** ms since the launcher started, when the first lease was seen. */
  leasedAtMs?: number;
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
}

export function statusFile(stateDir: string): string {
  return join(stateDir, 'status.json');
}

export function writeStatus(stateDir: string, status: LauncherStatus): void {
  const file = statusFile(stateDir);
  writeFileSync(`${file}.tmp`, JSON.stringify(status, null, 2));
  renameSync(`${file}.tmp`, file);
}

export function readStatus(stateDir: string): LauncherStatus | undefined {
  try {
    return JSON.parse(readFileSync(statusFile(stateDir), 'utf8')) as LauncherStatus;
  } catch {
    return undefined;
  }
}
