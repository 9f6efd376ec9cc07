/**
 * Waking on a file's change instead of polling for it: inotify(7) through
 * fs.watch, on the file's directory, since the file may not exist yet or
 * be replaced by a rename. A poll stays underneath at a slow pace: inotify
 * can miss events (its queue overflows), and fs.watch can fail (no watches
 * left: fs.inotify.max_user_watches).
 */
import { type FSWatcher, watch } from 'node:fs';

/**
 * Call `onChange` on every change to the file `name` in `dir` (other files' changes, a guest's console log say,
 * do not count), and every `pollMs` in any case; the returned function stops it.
 */
export function onFileChange(dir: string, name: string, pollMs: number, onChange: () => void): () => void {
  let watcher: FSWatcher | undefined;
  try {
    // Without a name (the kernel's queue overflowed), it may be ours.
    watcher = watch(dir, { persistent: false }, (_, file) => (file === null || file === name) && onChange());
    watcher.on('error', () => watcher?.close());
  } catch {
    watcher = undefined; // the poll alone
  }
  const timer = setInterval(onChange, pollMs);
  return () => {
    clearInterval(timer);
    watcher?.close();
  };
}

/** Resolves on the first change to `name` in `dir`, or after `maxMs`, whichever comes first. */
export function nextFileChange(dir: string, name: string, maxMs: number): Promise<void> {
  return new Promise((resolve) => {
    const stop = onFileChange(dir, name, maxMs, () => {
      stop();
      resolve();
    });
  });
}
