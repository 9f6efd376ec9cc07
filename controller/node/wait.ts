/**
 * Following a launcher until its VM is usable: each of its steps as it is
 * reported (network, DHCP server, accelerator, libvirt, boot), then each
 * NIC's lease. It ends when every NIC that is served by DHCP has a lease for
 * each address family it was given, or fails naming the step and the reason.
 */
import { readFileSync } from 'node:fs';
import { messageOf } from '../../lib/log.ts';
import { basename, join } from 'node:path';
import { nextFileChange } from '../../lib/watch.ts';
import { statusFile, type LauncherStatus } from '../../launcher/status.ts';
import { StepError, type NodeRuntime, type StepReporter } from './runtime.ts';
import type { VmiRecord } from './store.ts';
import { LAUNCHER_STEPS as STEP_NAMES } from '../../launcher/steps.ts';

const ORDER = Object.keys(STEP_NAMES);
/** The step a launcher that has finished `done` steps is at. */
const stepAt = (done: number) => STEP_NAMES[ORDER[done] ?? ''] ?? 'launcher';

function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-3).map(messageOf).join(' | ');
  } catch {
    return '';
  }
}

function wants(nic: LauncherStatus['nics'][number]): { v4: boolean; v6: boolean } {
  return { v4: nic.ips.some((ip) => !ip.includes(':')), v6: nic.ips.some((ip) => ip.includes(':')) };
}

export function nicLeased(nic: LauncherStatus['nics'][number]): boolean {
  const w = wants(nic);
  return (!w.v4 || nic.leased4) && (!w.v6 || nic.leased6);
}

export async function waitReady(
  rt: NodeRuntime,
  rec: VmiRecord,
  report: StepReporter,
  timeoutMs: number,
): Promise<void> {
  const { name } = rec.object.metadata;
  const launcherDir = rt.store.launcherDir(rec.netns);
  const start = performance.now();
  let stepsShown = 0;
  const leasedShown = new Set<string>();
  let noDhcpShown = false;
  for (;;) {
    const st = rt.launcherStatus(rec);
    for (const s of (st?.steps ?? []).slice(stepsShown)) {
      const detail = s.name === 'accel' ? `${st!.accel}${st!.accelReason ? ` (${st!.accelReason})` : ''}` : undefined;
      report(STEP_NAMES[s.name] ?? s.name, s.ms, detail);
    }
    stepsShown = st?.steps.length ?? 0;
    if (st?.phase === 'Failed') throw new StepError(stepAt(stepsShown), st.error ?? 'failed');
    if (!rt.launcherAlive(rec))
      throw new StepError('launcher', `exited: ${logTail(join(launcherDir, 'launcher.log')) || 'no output'}`);
    if (st?.phase === 'Running') {
      // A NIC whose link is down (state: down) takes no lease until it is up.
      const dhcp = st.nics.filter((n) => n.dhcp && n.linkState !== 'down');
      if (!noDhcpShown) {
        for (const n of st.nics.filter((x) => !x.dhcp))
          report(`lease ${n.name}`, 0, 'no DHCP: the pod interface has no IP (L2 only)');
        for (const n of st.nics.filter((x) => x.dhcp && x.linkState === 'down'))
          report(`lease ${n.name}`, 0, 'link down: no lease until it is up');
        noDhcpShown = true;
      }
      for (const n of dhcp.filter((x) => nicLeased(x) && !leasedShown.has(x.name))) {
        leasedShown.add(n.name);
        report(`lease ${n.name}`, +(performance.now() - start).toFixed(0), n.ips.join(' '));
      }
      if (dhcp.every(nicLeased)) return;
    }
    if (performance.now() - start > timeoutMs) {
      const waiting =
        st?.phase === 'Running'
          ? `lease ${st.nics
              .filter((n) => n.dhcp && n.linkState !== 'down' && !nicLeased(n))
              .map((n) => n.name)
              .join(', ')}`
          : stepAt(stepsShown);
      throw new StepError(
        waiting,
        `not done within ${(timeoutMs / 1000).toFixed(0)} s; the VM keeps running: see \`virtnet console ${name}\` ` +
          `or \`virtnet down ${name}\``,
      );
    }
    // The launcher replaces status.json by a rename on each change: woken by that, with a poll beneath.
    await nextFileChange(launcherDir, basename(statusFile(launcherDir)), 100);
  }
}
