/**
 * The plugin's log: lib/log.ts's JSON lines (component "cni") on stderr, or
 * appended to `logFile`. stdout belongs to the result (SPEC.md "Result"), so
 * nothing logs there.
 *
 * The log file is opened the way a root process must open a path under a
 * directory others may name: O_NOFOLLOW (open(2): fail if the last component
 * is a symlink), O_NONBLOCK (a FIFO planted there fails instead of blocking),
 * mode 0600, and only a regular file with a single link is written. The
 * policy check (policy.ts) has already placed its directory under the
 * admin's log root. Each line is one write(2) to an O_APPEND descriptor, so
 * the lines of plugins running at once never mix.
 *
 * Once the file reaches `maxBytes` (the node policy's maxLogBytes) it is
 * renamed to `logFile.1`, one old generation, before this process appends.
 * Plugins run concurrently, and the path may name a newer file by the time
 * one renames it; how rotation stays safe is said at rotateIfFull.
 */
import {
  closeSync,
  constants,
  fstatSync,
  linkSync,
  lstatSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { createLogger, type LevelSetting, type LogFields, type Logger } from '../lib/log.ts';

export type Log = Logger;

export interface LogOptions {
  logFile?: string;
  level?: LevelSetting;
  /** Rotate once the file is this big; undefined never rotates. */
  maxBytes?: number;
}

const OPEN_FLAGS =
  constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;
export const LOG_FILE_MODE = 0o600;

/** A wait without the event loop: the plugin logs synchronously. */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * The log's descriptor. A second link is refused, but is tried again twice:
 * a rotation puts a fresh file back with link(2) and then drops its own
 * name (rotateIfFull), and a plugin opening it in between must not lose its
 * line. A link someone planted stays, and is refused every time.
 */
function openLog(file: string): number {
  for (let attempt = 1; ; attempt++) {
    const fd = openSync(file, OPEN_FLAGS, LOG_FILE_MODE);
    const st = fstatSync(fd);
    if (st.isFile() && st.nlink === 1) return fd;
    closeSync(fd);
    if (!st.isFile() || attempt === 3) throw new Error(`${file} is not a plain file of its own`);
    pause(1);
  }
}

function appendTo(file: string, data: string, fd = openLog(file)): void {
  try {
    writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

/**
 * Rename `file` aside if the file `fd` holds open is full; true when
 * something was moved. Several plugins may find the same file full at once,
 * and between one's check and its rename another may already have rotated
 * it and started a fresh file at the path: renamed to logFile.1, that fresh
 * file would replace the full one. So the file at the path is first renamed
 * to a name of this process's own (rename(2) is atomic: whatever is there
 * moves, whole), and looked at there, where nobody else can touch it: a
 * full file goes on to logFile.1; a fresh one goes back to the path (link(2):
 * only if the path is still free) or, when yet another fresh file is there
 * already, its lines are appended to that one.
 */
export function rotateIfFull(file: string, fd: number, maxBytes: number): boolean {
  const measured = fstatSync(fd);
  if (measured.size < maxBytes) return false;
  const mine = `${file}.rotating-${process.pid}`;
  try {
    renameSync(file, mine);
  } catch {
    return true; // gone: another plugin is rotating it
  }
  const moved = lstatSync(mine);
  if ((moved.ino === measured.ino && moved.dev === measured.dev) || moved.size >= maxBytes) {
    renameSync(mine, `${file}.1`);
    return true;
  }
  try {
    linkSync(mine, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    appendTo(file, readFileSync(mine, 'utf8'));
  } finally {
    rmSync(mine, { force: true });
  }
  return true;
}

/** The first line is written after a rotation check: the plugin lives for one call, and logs a few lines. */
function fileSink(file: string, maxBytes: number | undefined): (line: string) => void {
  let checked = maxBytes === undefined;
  return (line) => {
    let fd = openLog(file);
    if (!checked) {
      checked = true;
      let moved = true;
      try {
        moved = rotateIfFull(file, fd, maxBytes!);
      } catch {
        // A rotation that failed leaves the log as it is: the line is still written.
      }
      if (moved) {
        closeSync(fd);
        fd = openLog(file);
      }
    }
    appendTo(file, line, fd);
  };
}

export function createLog(base: LogFields, o: LogOptions = {}): Log {
  return createLogger({
    component: 'cni',
    base,
    ...(o.level && { level: o.level }),
    ...(o.logFile && { write: fileSink(o.logFile, o.maxBytes) }),
  });
}
