/**
 * Processes by pid, safely: a pid is only signalled while its command line
 * still carries a mark the caller recorded (a state directory path), so a pid
 * the kernel reused for something else is never hit.
 */
import { readdirSync, readFileSync } from 'node:fs';

export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** Every live process whose command line contains `mark`. */
export function findProcesses(mark: string): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/u.test(d)).map(Number)
    .filter((pid) => pid !== process.pid && cmdline(pid).includes(mark));
}

export function isAlive(pid: number | undefined, mark: string): boolean {
  return pid !== undefined && pid > 1 && cmdline(pid).includes(mark);
}

async function gone(pid: number, mark: string, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!isAlive(pid, mark)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !isAlive(pid, mark);
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function terminate(pid: number, mark: string, graceMs = 10_000): Promise<void> {
  if (!isAlive(pid, mark)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return; // already gone
  }
  if (await gone(pid, mark, graceMs)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  await gone(pid, mark, 5000);
}

/**
 * When a process started, in clock ticks since boot (proc(5), /proc/pid/stat
 * field 22): with the pid, it names one process for good, however the
 * kernel reuses pids. Undefined when there is no such process, or only its
 * zombie.
 */
export function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) is in parentheses and may hold spaces: count from its end.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // A zombie (state Z) has exited; only its parent's wait is missing.
    return fields[0] === 'Z' ? undefined : fields[19];
  } catch {
    return undefined;
  }
}
