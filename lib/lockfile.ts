/**
 * Advisory locks between processes, as files created with O_EXCL holding
 * "<pid> <start time>". A lock whose holder is gone (a kill -9, a reboot)
 * is taken over; one whose holder lives is waited for, up to a bound.
 */
import { mkdirSync, openSync, closeSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { startTime } from './process.ts';

function holderAlive(file: string): boolean {
  try {
    const [pid, start] = readFileSync(file, 'utf8').trim().split(' ');
    return start !== undefined && startTime(Number(pid)) === start;
  } catch {
    return false; // gone meanwhile: free
  }
}

function tryTake(file: string): 'taken' | 'busy' | 'stale' {
  try {
    const fd = openSync(file, 'wx');
    writeSync(fd, `${process.pid} ${startTime(process.pid)}\n`);
    closeSync(fd);
    return 'taken';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    if (holderAlive(file)) return 'busy';
    rmSync(file, { force: true }); // a dead holder's: take it over at once
    return 'stale';
  }
}

function holder(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return 'gone';
  }
}

export class LockBusyError extends Error {}

/** Run `fn` holding the lock at `file`; waits up to `waitMs` for a living holder, then throws LockBusyError. */
export async function withLock<T>(file: string, fn: () => Promise<T>, waitMs = 30_000): Promise<T> {
  mkdirSync(dirname(file), { recursive: true });
  const end = Date.now() + waitMs;
  for (let got = tryTake(file); got !== 'taken'; got = tryTake(file)) {
    if (got === 'stale') continue;
    if (Date.now() >= end) throw new LockBusyError(`${file} is held by another process (pid and start: ${holder(file)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
  try {
    return await fn();
  } finally {
    rmSync(file, { force: true });
  }
}
