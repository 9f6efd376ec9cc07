/**
 * What a crashed launcher leaves running: QEMU (libvirt daemonizes it), its
 * libvirtd and its dnsmasq. The status file records their pids; a process is
 * killed only if its command line still names this launcher's state
 * directory (QEMU's: its domain, as libvirt passes it the log by fd), so a
 * reused pid is never hit.
 */
import { readFileSync } from 'node:fs';
import { readStatus } from './status.ts';

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

async function gone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!cmdline(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !cmdline(pid);
}

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
    if (!pid || pid <= 1 || !cmdline(pid).includes(mark)) continue;
    process.kill(pid, 'SIGTERM');
    if (!(await gone(pid, 3000))) process.kill(pid, 'SIGKILL');
    killed.push(pid);
  }
  return killed;
}
