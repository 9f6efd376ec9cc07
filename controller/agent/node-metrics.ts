/**
 * The node agent's metrics: CNI operation durations, read from the plugin's
 * log (one "operation" line per call, cni/skel.ts), launcher network setup
 * durations and DHCP leases, read from the launchers' reports.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import type { LauncherStatus } from '../../launcher/status.ts';
import { NETWORK_SETUP_STEPS } from '../../launcher/steps.ts';
import { LogTail } from './log-tail.ts';

/** The verbs of CNI 1.1 (SPEC.md "Parameters": CNI_COMMAND). */
const CNI_VERBS = new Set(['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION']);

export class NodeMetrics {
  readonly registry = new Registry();
  readonly cniDuration = new Histogram({
    name: 'virtnet_cni_operation_duration_seconds',
    help: 'virtnet-bridge operations by verb and result',
    labelNames: ['verb', 'result'],
    buckets: [0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly networkSetup = new Histogram({
    name: 'virtnet_launcher_network_setup_duration_seconds',
    help: "A launcher's discover + plan + apply of the pod network",
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  readonly leases = new Counter({
    name: 'virtnet_dhcp_leases_total',
    help: "DHCP leases the launchers' servers handed out, by address family",
    labelNames: ['family'],
    registers: [this.registry],
  });
  private readonly seen = new Set<string>();
  private cniLog: LogTail | undefined;

  /** Count what a launcher's report shows for the first time (setup once per pod, each lease once). */
  observeLauncher(podUid: string, st: LauncherStatus): void {
    const setup = st.steps.filter((s) => (NETWORK_SETUP_STEPS as readonly string[]).includes(s.name));
    if (setup.length === NETWORK_SETUP_STEPS.length && !this.seen.has(`${podUid}/setup`)) {
      this.seen.add(`${podUid}/setup`);
      this.networkSetup.observe(setup.reduce((a, s) => a + s.ms, 0) / 1000);
    }
    for (const nic of st.nics) {
      for (const [family, leased] of [
        ['ipv4', nic.leased4],
        ['ipv6', nic.leased6],
      ] as const) {
        const key = `${podUid}/${nic.name}/${family}`;
        if (leased && !this.seen.has(key)) {
          this.seen.add(key);
          this.leases.inc({ family });
        }
      }
    }
  }

  /**
   * Follows the plugin's log from its current end (operations before the agent started are not counted: counters start
   * at 0).
   */
  followCniLog(file: string): void {
    this.cniLog?.close();
    this.cniLog = new LogTail(file);
    this.cniLog.skipExisting();
  }

  stopCniLog(): void {
    this.cniLog?.close();
    this.cniLog = undefined;
  }

  /** Reads the plugin's log on from where the last read stopped, a bounded amount at a time; returns the bytes read. */
  readCniLog(): number {
    return this.cniLog?.poll((line) => this.observeCniLine(line)) ?? 0;
  }

  private observeCniLine(line: string): void {
    if (!line.includes('"operation"')) return;
    let e: unknown;
    try {
      e = JSON.parse(line);
    } catch {
      return; // not a log line of ours
    }
    if (typeof e !== 'object' || e === null) return;
    const { msg, verb, result, ms } = e as Record<string, unknown>;
    if (
      msg !== 'operation' ||
      typeof verb !== 'string' ||
      !CNI_VERBS.has(verb) ||
      typeof ms !== 'number' ||
      !Number.isFinite(ms) ||
      ms < 0
    )
      return;
    // Label values from a file: only the known ones, so that no line can make a new time series.
    this.cniDuration.observe({ verb, result: result === 'error' ? 'error' : 'ok' }, ms / 1000);
  }
}
