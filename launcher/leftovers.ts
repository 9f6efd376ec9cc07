/**
 * What a crashed launcher leaves running: QEMU (libvirt daemonizes it), its
 * libvirtd and its dnsmasq. The status file records their pids; a process is
 * killed only if its command line still names this launcher's state
 * directory (QEMU's: its domain, as libvirt passes it the log by fd), so a
 * reused pid is never hit.
 */
import { isAlive, terminate } from '../lib/process.ts';
import { readStatus } from './status.ts';

/** Kill the recorded processes that still belong to `stateDir`; returns the pids killed. */
export async function killLeftovers(stateDir: string): Promise<number[]> {
  const status = readStatus(stateDir);
  const owned: Array<[number | undefined, string]> = [
    [status?.pids?.qemu, `guest=${status?.domain},`],
    [status?.pids?.libvirtd, stateDir],
    [status?.pids?.dnsmasq, stateDir],
  ];
  const killed: number[] = [];
  for (const [pid, mark] of owned) {
    if (!pid || !isAlive(pid, mark)) continue;
    await terminate(pid, mark, 3000);
    killed.push(pid);
  }
  return killed;
}
