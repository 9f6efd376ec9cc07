/**
 * Progress for work done by a child process that writes files itself
 * (skopeo copy into a directory): the bytes come from the growth of what
 * it writes, polled. (tar and the decompressors write to our stdout
 * instead, counted as they stream: space.ts SparseWriter.)
 */
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ByteProgress } from '../../../lib/progress.ts';

/** Bytes in `path`: a file's size, or the sum of a directory's regular files (not following symlinks). */
export function sizeOf(path: string): number {
  try {
    const st = lstatSync(path);
    if (st.isFile()) return st.size;
    if (!st.isDirectory()) return 0;
    return readdirSync(path).reduce((sum, name) => sum + sizeOf(join(path, name)), 0);
  } catch {
    return 0; // not there yet, or removed meanwhile
  }
}

/** Run `work`, reporting the growth of `path` to `bar` every `everyMs`; `bar.done()` at the end either way. */
export async function whileGrowing<T>(
  path: string,
  bar: ByteProgress,
  work: () => Promise<T>,
  everyMs = 200,
): Promise<T> {
  let seen = 0;
  const poll = () => {
    const now = sizeOf(path);
    if (now > seen) bar.advance(now - seen);
    seen = Math.max(seen, now);
  };
  const timer = setInterval(poll, everyMs);
  try {
    const result = await work();
    poll();
    return result;
  } finally {
    clearInterval(timer);
    bar.done();
  }
}
