/**
 * Processes by pid, safely: a pid is only signalled while it is still the
 * process the caller recorded, known by its start time (terminateStarted) or
 * by a mark its command line carries (terminate), so a pid the kernel reused
 * for something else is never hit. Processes are never looked up by a
 * substring of their command line: an operator's `tail -f` of a launcher's
 * log would match that too.
 */
import { readFileSync } from 'node:fs';

export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

export function isAlive(pid: number | undefined, mark: string): boolean {
  return pid !== undefined && pid > 1 && cmdline(pid).includes(mark);
}

/** Poll until `done` holds, at most `ms`; whether it came to hold. */
async function until(done: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
    if (done()) return true;
  }
  return done();
}

/** SIGTERM, then SIGKILL after `graceMs`, while `alive()` says it is still the same process. */
async function stopWhile(pid: number, alive: () => boolean, graceMs: number): Promise<void> {
  for (const [signal, wait] of [
    ['SIGTERM', graceMs],
    ['SIGKILL', 5000],
  ] as const) {
    if (!alive()) return;
    try {
      process.kill(pid, signal);
    } catch {
      return; // already gone
    }
    if (await until(() => !alive(), wait)) return;
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export function terminate(pid: number, mark: string, graceMs = 10_000): Promise<void> {
  return stopWhile(pid, () => isAlive(pid, mark), graceMs);
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

/**
 * Whether the process `pid` is the one that started at `start` (startTime's value). Pid 1 counts: in a
 * container the node agent, and the CNI daemon in it, is pid 1, and the start time tells it from any other.
 */
export function isSameProcess(pid: number | undefined, start: string | undefined): boolean {
  return pid !== undefined && pid >= 1 && start !== undefined && start !== '' && startTime(pid) === start;
}

/**
 * SIGTERM, then SIGKILL after `graceMs`, to the process named by pid and
 * start time; a pid the kernel has given to another process is never hit.
 */
export function terminateStarted(pid: number, start: string, graceMs = 10_000): Promise<void> {
  return stopWhile(pid, () => isSameProcess(pid, start), graceMs);
}
