/**
 * Files that must survive a crash or a power loss: written to a temporary
 * name of this writer's own, fsync'd, renamed over the target, and the
 * directory fsync'd so the rename itself is on disk (rename(2), fsync(2):
 * "Calling fsync() does not necessarily ensure that the entry in the
 * directory containing the file has also reached disk").
 * State is private to root: directories 0700, files 0600.
 */
import {
  chmodSync,
  closeSync,
  fchmodSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
  writeFileSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, relative, sep } from 'node:path';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** The directories from `root` down to `dir` (both included); just `dir` when it is not under `root`. */
function chain(root: string, dir: string): string[] {
  const rel = relative(root, dir);
  if (rel === '' || rel.startsWith('..')) return [dir];
  const parts = rel.split(sep);
  return [root, ...parts.map((_, i) => `${root}${sep}${parts.slice(0, i + 1).join(sep)}`)];
}

/**
 * mkdir -p, every directory from `root` down to `dir` mode 0700: those it
 * creates, and those an older version left with a wider mode. chmod(2)
 * sets the mode exactly; mkdir(2)'s is reduced by the umask. Each new
 * directory's entry is fsync'd in its parent, as a renamed file's is.
 */
export function mkdirPrivate(dir: string, root?: string): void {
  const first = mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  for (const d of chain(root ?? first ?? dir, dir)) {
    if ((lstatSync(d).mode & 0o7777) !== PRIVATE_DIR_MODE) chmodSync(d, PRIVATE_DIR_MODE);
  }
  if (first !== undefined) for (const d of chain(first, dir)) fsyncDir(dirname(d));
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Replace `file` with `data` atomically and durably (mode 0600 unless given). */
export function writeFileDurable(file: string, data: string | Uint8Array, mode = PRIVATE_FILE_MODE): void {
  const tmp = `${file}.${process.pid}.tmp`;
  rmSync(tmp, { force: true }); // a crashed writer's, whose mode may differ
  const fd = openSync(tmp, 'w', mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    fchmodSync(fd, mode); // exactly: open(2)'s mode is reduced by the umask
    for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, file);
  fsyncDir(dirname(file));
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replace `file` with `data` atomically now, and durably by the time the
 * returned promise settles: for a journal entry that other processes (and
 * this one after a crash) must see before the caller acts, while the fsyncs
 * (a millisecond on the thread pool) overlap the act itself. A power loss
 * before they finish may leave the file empty or missing, so its readers must
 * take a damaged file for an absent one.
 */
export function writeFileNowSyncLater(file: string, data: string, mode = PRIVATE_FILE_MODE): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  rmSync(tmp, { force: true }); // a crashed writer's, whose mode may differ
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode); // exactly: open(2)'s mode is reduced by the umask
  renameSync(tmp, file);
  return Promise.all([fsyncPath(file), fsyncPath(dirname(file))]).then(() => undefined);
}
