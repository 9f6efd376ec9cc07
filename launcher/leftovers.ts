/**
 * What a crashed launcher leaves running where no pod cgroup contains it
 * (lib/cgroup.ts): QEMU (libvirt daemonizes it), its libvirtd and its
 * dnsmasq. The status file records their pids with their start times; a
 * process is killed only while both match, and its command line still names
 * this launcher's state directory (QEMU's: its domain, as libvirt passes it
 * the log by fd), so a reused pid is never hit.
 */
import { isAlive, startTime, terminate } from '../lib/process.ts';
import { readStatus } from './status.ts';

/** Kill the recorded processes that still belong to `stateDir`; returns the pids killed. */
export async function killLeftovers(stateDir: string): Promise<number[]> {
  const status = readStatus(stateDir);
  const owned: Array<[number | undefined, string | undefined, string]> = [
    [status?.pids?.qemu, status?.pidStarts?.qemu, `guest=${status?.domain},`],
    [status?.pids?.libvirtd, status?.pidStarts?.libvirtd, stateDir],
    [status?.pids?.dnsmasq, status?.pidStarts?.dnsmasq, stateDir],
  ];
  const killed: number[] = [];
  for (const [pid, start, mark] of owned) {
    if (!pid || !isAlive(pid, mark)) continue;
    if (start !== undefined && startTime(pid) !== start) continue;
    await terminate(pid, mark, 3000);
    killed.push(pid);
  }
  return killed;
}
