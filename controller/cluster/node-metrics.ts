/**
 * The node agent's metrics: CNI operation durations, read from the plugin's
 * log (one "operation" line per call, cni/skel.ts), launcher network setup
 * durations and DHCP leases, read from the launchers' reports.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { Counter, Histogram, Registry } from 'prom-client';
import type { LauncherStatus } from '../../launcher/status.ts';

export class NodeMetrics {
  readonly registry = new Registry();
  readonly cniDuration = new Histogram({
    name: 'virtnet_cni_operation_duration_seconds', help: 'virtnet-bridge operations by verb and result',
    labelNames: ['verb', 'result'], buckets: [0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5], registers: [this.registry],
  });
  readonly networkSetup = new Histogram({
    name: 'virtnet_launcher_network_setup_duration_seconds', help: 'A launcher\'s discover + plan + apply of the pod network',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], registers: [this.registry],
  });
  readonly leases = new Counter({
    name: 'virtnet_dhcp_leases_total', help: 'DHCP leases the launchers\' servers handed out, by address family',
    labelNames: ['family'], registers: [this.registry],
  });
  private readonly seen = new Set<string>();
  private logOffset = 0;

  /** Count what a launcher's report shows for the first time (setup once per pod, each lease once). */
  observeLauncher(podUid: string, st: LauncherStatus): void {
    const setup = st.steps.filter((s) => ['discover', 'plan', 'network'].includes(s.name));
    if (setup.length === 3 && !this.seen.has(`${podUid}/setup`)) {
      this.seen.add(`${podUid}/setup`);
      this.networkSetup.observe(setup.reduce((a, s) => a + s.ms, 0) / 1000);
    }
    for (const nic of st.nics) {
      for (const [family, leased] of [['ipv4', nic.leased4], ['ipv6', nic.leased6]] as const) {
        const key = `${podUid}/${nic.name}/${family}`;
        if (leased && !this.seen.has(key)) {
          this.seen.add(key);
          this.leases.inc({ family });
        }
      }
    }
  }

  /** Read the plugin's log from where the last read stopped (a new, shorter file starts over). */
  readCniLog(file: string): void {
    if (!existsSync(file)) return;
    const size = statSync(file).size;
    if (size < this.logOffset) this.logOffset = 0;
    if (size === this.logOffset) return;
    const fd = openSync(file, 'r');
    const buf = Buffer.alloc(size - this.logOffset);
    try {
      readSync(fd, buf, 0, buf.length, this.logOffset);
    } finally {
      closeSync(fd);
    }
    const text = buf.toString('utf8');
    const complete = text.lastIndexOf('\n') + 1; // a line still being written waits for the next read
    this.logOffset += Buffer.byteLength(text.slice(0, complete));
    for (const line of text.slice(0, complete).split('\n')) {
      if (!line.includes('"operation"')) continue;
      try {
        const e = JSON.parse(line) as { msg?: string; verb?: string; result?: string; ms?: number };
        if (e.msg === 'operation' && e.verb && typeof e.ms === 'number') this.cniDuration.observe({ verb: e.verb, result: e.result ?? 'ok' }, e.ms / 1000);
      } catch {
        // not a log line of ours
      }
    }
  }
}
