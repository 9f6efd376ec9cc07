/**
 * The plugin's logger: JSON lines on stderr, or appended to `logFile`.
 * stdout belongs to the result (SPEC.md "Result"), so nothing logs there.
 * Deliberately tiny: the plugin is exec'd per call, and a logging library's
 * import would cost more than the whole ADD's own work.
 *
 * The log file is opened the way a root process must open a path under a
 * directory others may name: O_NOFOLLOW (open(2): fail if the last component
 * is a symlink), O_NONBLOCK (a FIFO planted there fails instead of blocking),
 * mode 0600, and only a regular file with a single link is written. The
 * policy check (policy.ts) has already placed its directory under the
 * admin's log root. Once the file reaches `maxBytes` it is renamed to
 * `logFile.1` (one old generation) before this process appends.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, renameSync, writeSync } from 'node:fs';

export interface Log {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

const LEVELS = { debug: 10, info: 20, error: 30 } as const;

export interface LogOptions {
  logFile?: string;
  level?: keyof typeof LEVELS;
  /** Rotate once the file is this big; undefined never rotates. */
  maxBytes?: number;
}

const OPEN_FLAGS =
  constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;
export const LOG_FILE_MODE = 0o600;

function openLog(file: string): number {
  const fd = openSync(file, OPEN_FLAGS, LOG_FILE_MODE);
  const st = fstatSync(fd);
  if (!st.isFile() || st.nlink !== 1) {
    closeSync(fd);
    throw new Error(`${file} is not a plain file of its own`);
  }
  return fd;
}

/**
 * Rename a full log aside. Plugins run concurrently: only the one that finds
 * the path still naming the file it measured renames it, so a second one
 * cannot push the fresh file over the old generation.
 */
function rotatedIfFull(file: string, fd: number, maxBytes: number): boolean {
  const st = fstatSync(fd);
  if (st.size < maxBytes) return false;
  try {
    const now = lstatSync(file);
    if (now.ino === st.ino && now.dev === st.dev) renameSync(file, `${file}.1`);
  } catch {
    // Gone or renamed meanwhile: another plugin rotated it.
  }
  return true;
}

export function createLog(base: Record<string, unknown>, o: LogOptions = {}): Log {
  const level = o.level ?? 'info';
  let checked = false;
  const append = (file: string, line: string): void => {
    let fd = openLog(file);
    // Once per process: the plugin lives for one call, and its few lines may overshoot by that much.
    if (!checked && o.maxBytes !== undefined && rotatedIfFull(file, fd, o.maxBytes)) {
      closeSync(fd);
      fd = openLog(file);
    }
    checked = true;
    try {
      writeSync(fd, line);
    } finally {
      closeSync(fd);
    }
  };
  const write = (lvl: keyof typeof LEVELS, msg: string, fields?: Record<string, unknown>): void => {
    if (LEVELS[lvl] < LEVELS[level]) return;
    const line = JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...base, ...fields }) + '\n';
    try {
      if (o.logFile) append(o.logFile, line);
      else writeSync(2, line);
    } catch {
      // A log that cannot be written must not fail the operation.
    }
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    error: (m, f) => write('error', m, f),
  };
}
