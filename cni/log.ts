/**
 * The plugin's log: lib/log.ts's JSON lines (component "cni") on stderr, or
 * appended to `logFile`. stdout belongs to the result (SPEC.md "Result"), so
 * nothing logs there.
 *
 * The log file is opened the way a root process must open a path under a
 * directory others may name: O_NOFOLLOW (open(2): fail if the last component
 * is a symlink), O_NONBLOCK (a FIFO planted there fails instead of blocking),
 * mode 0600, and only a regular file without a second link is written. The
 * policy check (policy.ts) has already placed its directory under the
 * admin's log root. Each line is one write(2) to an O_APPEND descriptor of
 * the file the path names at that moment, so the lines of plugins running
 * at once never mix, and a line goes where the path points.
 *
 * Once the file reaches `maxBytes` (the node policy's maxLogBytes) it is
 * renamed to `logFile.1`, one old generation, before this process appends;
 * how rotation stays safe among plugins running at once is said at
 * rotateIfFull.
 */
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readlinkSync,
  renameSync,
  type Stats,
  symlinkSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { createLogger, type LevelSetting, type LogFields, type Logger } from '../lib/log.ts';
import { isSameProcess, startTime } from '../lib/process.ts';

export type Log = Logger;

export interface LogOptions {
  logFile?: string;
  level?: LevelSetting;
  /** Rotate once the file is this big; undefined never rotates. */
  maxBytes?: number;
  /** Where lines go without a logFile; stderr unless given (the daemon gives each call's reply its own). */
  write?: (line: string) => void;
}

const OPEN_FLAGS =
  constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;
export const LOG_FILE_MODE = 0o600;
/** How long a rotation waits for a living plugin that holds the lock; then it logs without rotating. */
export const LOCK_WAIT_MS = 1000;
/** Tries at a line whose file was rotated out of existence between its open and its write. */
const WRITE_TRIES = 3;

/** A wait without the event loop: the plugin logs synchronously. */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The log's descriptor and what it is: a second link (one planted there) or a non-file is refused. */
function openLog(file: string): { fd: number; st: Stats } {
  const fd = openSync(file, OPEN_FLAGS, LOG_FILE_MODE);
  const st = fstatSync(fd);
  if (st.isFile() && st.nlink <= 1) return { fd, st };
  closeSync(fd);
  throw new Error(`${file} is not a plain file of its own`);
}

/** A lock's holder, "<pid>:<start time>"; undefined when the lock is free. */
function holderOf(lock: string): string | undefined {
  try {
    return readlinkSync(lock);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function holderAlive(holder: string): boolean {
  const [pid, start] = holder.split(':');
  return /^\d+$/u.test(pid ?? '') && isSameProcess(Number(pid), start);
}

/**
 * Take `lock` for `me`: a symlink whose target names its holder, made with
 * symlink(2), which fails with EEXIST when the name exists, atomically and
 * with its content whole. A dead holder's lock (a crashed plugin) is reaped
 * on the way: false then too, and the caller tries again.
 */
function tryLock(lock: string, me: string, depth = 0): boolean {
  try {
    symlinkSync(me, lock);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const held = holderOf(lock);
  if (held !== undefined && !holderAlive(held) && depth < 4) reap(lock, held, me, depth);
  return false;
}

/**
 * Remove `lock` if it still names `dead`. Two plugins may find the same dead
 * holder, and one may already have reaped it and taken the lock anew; so the
 * right to remove that one holder's lock is itself a lock, named after it.
 * Under it the lock is read again: only its dead holder or this reaper could
 * remove the lock naming `dead`, so it is that lock that goes. A reaper that
 * died holding the marker is reaped the same way, one level down.
 */
function reap(lock: string, dead: string, me: string, depth: number): void {
  // The holder is read from a file in a directory others may write: only digits and colons go into a name.
  const marker = `${lock}.reap-${dead.replace(/[^\d:]/gu, '_').slice(0, 48)}`;
  if (!tryLock(marker, me, depth + 1)) return;
  try {
    if (holderOf(lock) === dead) unlinkSync(lock);
  } finally {
    unlinkSync(marker);
  }
}

/** Run `fn` holding `lock`, waiting up to LOCK_WAIT_MS for a living holder; undefined when it was not taken. */
function withLock<T>(lock: string, fn: () => T): T | undefined {
  const start = startTime(process.pid);
  if (start === undefined) return undefined; // no /proc: a holder could not be told dead from alive
  const me = `${process.pid}:${start}`;
  for (const end = Date.now() + LOCK_WAIT_MS; !tryLock(lock, me); pause(1)) if (Date.now() > end) return undefined;
  try {
    return fn();
  } finally {
    // Ours while we live: only a dead holder's lock is reaped.
    if (holderOf(lock) === me) unlinkSync(lock);
  }
}

/**
 * Rename `file` to `file.1` if it is still the full file that `measured`
 * describes (the stat of a descriptor the caller holds open, so its inode
 * cannot be reused meanwhile); true when the path now names another file.
 * Several plugins may find the same file full at once; they take turns at
 * `file.lock`, and under it each looks at what the path names now: the file
 * it measured is renamed, anything else (the fresh file that the plugin
 * before it started) stays. Nothing else renames the log, and a writer's
 * O_CREAT does not replace a file that exists, so the file looked at is the
 * one renamed. A writer that opened it before appends to `file.1`.
 */
export function rotateIfFull(file: string, measured: Stats, maxBytes: number): boolean {
  if (measured.size < maxBytes) return false;
  const moved = withLock(`${file}.lock`, () => {
    const now = lstatSync(file, { throwIfNoEntry: false });
    if (now?.ino === measured.ino && now.dev === measured.dev) renameSync(file, `${file}.1`);
    return true;
  });
  return moved ?? false; // the lock stayed with a living holder: this line goes to the full file
}

/**
 * Append `line` to the file the path names, after `moved` (the rotation
 * check, which may rename it). A file that has no name left was rotated out
 * of existence (renamed to .1 and replaced there) between the open and the
 * write; the line is written again to the path, so it is always in a file
 * that had a name after the write: the log or its .1.
 */
function appendLine(file: string, line: string, moved: (st: Stats) => boolean): void {
  for (let attempt = 1; attempt <= WRITE_TRIES; attempt++) {
    const { fd, st } = openLog(file);
    try {
      if (moved(st) || st.nlink === 0) continue;
      writeSync(fd, line);
      if (fstatSync(fd).nlink > 0) return;
    } finally {
      closeSync(fd);
    }
  }
  throw new Error(`${file} was rotated away under ${WRITE_TRIES} writes in a row`);
}

/** The first line is written after a rotation check: the plugin lives for one call, and logs a few lines. */
function fileSink(file: string, maxBytes: number | undefined): (line: string) => void {
  let unchecked = maxBytes !== undefined;
  const rotateOnce = (st: Stats): boolean => {
    if (!unchecked) return false;
    unchecked = false;
    try {
      return rotateIfFull(file, st, maxBytes!);
    } catch {
      return false; // a rotation that failed leaves the log as it is: the line is still written
    }
  };
  return (line) => appendLine(file, line, rotateOnce);
}

export function createLog(base: LogFields, o: LogOptions = {}): Log {
  return createLogger({
    component: 'cni',
    base,
    ...(o.level && { level: o.level }),
    ...(o.logFile ? { write: fileSink(o.logFile, o.maxBytes) } : o.write && { write: o.write }),
  });
}
