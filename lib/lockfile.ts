/**
 * Advisory locks between processes, as files holding "<pid> <start time>
 * <nonce>". A lock whose holder is gone (a kill -9, a reboot) is taken
 * over; one whose holder lives is waited for, up to a bound.
 *
 * A lock file appears with its whole content at once: the holder line is
 * written to a temporary file of this contender's own, which is then
 * link(2)ed to the lock's name. link fails with EEXIST when the name exists
 * ("newpath already exists", link(2)), atomically, so no contender ever
 * reads a lock that is still empty.
 *
 * Taking over a dead holder's lock must not delete a fresh lock that another
 * contender made meanwhile. So the right to remove one particular stale
 * lock (one content: the nonce makes it unique) is itself a lock, the
 * "reap" marker named after that content. Only its holder unlinks the lock,
 * and only after reading again, under the marker, that the lock still holds
 * the content judged stale. Nobody else can remove that content meanwhile:
 * its holder is dead, and other reapers of it wait for the marker. A marker
 * whose reaper died is reaped the same way, one level down.
 */
import { randomBytes, createHash } from 'node:crypto';
import { closeSync, linkSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { mkdirPrivate } from './durable.ts';
import { isSameProcess, startTime } from './process.ts';

export class LockBusyError extends Error {}

/** This contender's holder line: pid and start time name the process for good; the nonce names this one taking. */
function holderLine(): string {
  return `${process.pid} ${startTime(process.pid) ?? ''} ${randomBytes(8).toString('hex')}\n`;
}

/** undefined: the file is absent. */
function readHolder(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Whether the process a holder line names still runs; a line that names none (empty, damaged) names nobody alive. */
function holderAlive(line: string): boolean {
  const [pid, start] = line.trim().split(' ');
  return /^\d+$/u.test(pid ?? '') && /^\d+$/u.test(start ?? '') && isSameProcess(Number(pid), start);
}

/**
 * Make `file` hold `line`, atomically, unless it exists: true when placed.
 * The temporary name carries the line's nonce, so it is this contender's alone.
 */
function place(file: string, line: string): boolean {
  const nonce = line.trim().split(' ')[2]!;
  const tmp = `${file}.${nonce}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, line);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
}

function reapMarker(file: string, staleLine: string): string {
  return `${file}.reap-${createHash('sha256').update(staleLine).digest('hex').slice(0, 12)}`;
}

/**
 * Remove `file` if it still holds `staleLine`, whose holder is dead. Returns
 * whether this call got to decide (false: another reaper is at work, or
 * was, and the caller should look again later). Exported for its tests.
 */
export function reap(file: string, staleLine: string, depth = 0): boolean {
  const marker = reapMarker(file, staleLine);
  const mine = holderLine();
  if (!place(marker, mine)) {
    const other = readHolder(marker);
    // A reaper that died in its few microseconds holding the marker: reap its marker, one level down.
    if (other !== undefined && !holderAlive(other) && depth < 8) reap(marker, other, depth + 1);
    return false;
  }
  try {
    if (readHolder(file) === staleLine) rmSync(file, { force: true });
  } finally {
    rmSync(marker, { force: true });
  }
  return true;
}

/**
 * A contender that died between writing its temporary file and removing it
 * left the file behind; remove those of dead writers (only with a holder
 * line: a file still being written has none yet, and is skipped).
 */
function sweepTemporaries(file: string): void {
  const prefix = `${basename(file)}.`;
  for (const name of readdirSync(dirname(file))) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const path = join(dirname(file), name);
    const line = readHolder(path);
    if (line !== undefined && line.trim().split(' ').length === 3 && !holderAlive(line)) rmSync(path, { force: true });
  }
}

function tryTake(file: string, line: string): 'taken' | 'busy' | 'retry' {
  if (place(file, line)) return 'taken';
  const held = readHolder(file);
  if (held === undefined) return 'retry'; // released meanwhile
  if (holderAlive(held)) return 'busy';
  sweepTemporaries(file);
  return reap(file, held) ? 'retry' : 'busy';
}

function describeHolder(file: string): string {
  const line = readHolder(file);
  return line === undefined ? 'gone' : line.trim().split(' ').slice(0, 2).join(' ');
}

/** Run `fn` holding the lock at `file`; waits up to `waitMs` for a living holder, then throws LockBusyError. */
export async function withLock<T>(file: string, fn: () => Promise<T>, waitMs = 30_000): Promise<T> {
  mkdirPrivate(dirname(file));
  const end = Date.now() + waitMs;
  const line = holderLine();
  for (let got = tryTake(file, line); got !== 'taken'; got = tryTake(file, line)) {
    if (got === 'retry') continue;
    if (Date.now() >= end)
      throw new LockBusyError(`${file} is held by another process (pid and start: ${describeHolder(file)})`);
    // Jittered, so that contenders polling one lock do not wake in step.
    await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
  }
  try {
    return await fn();
  } finally {
    // Ours as long as we live (only a dead holder's lock is reaped); checked all the same.
    if (readHolder(file) === line) rmSync(file, { force: true });
  }
}
