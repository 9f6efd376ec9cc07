/** Entry point of the virtnet-bridge executable: env + stdin → skel → stdout. */
import { readFileSync, writeSync } from 'node:fs';
import { runPlugin } from './skel.ts';

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch {
    return ''; // stdin closed or absent (VERSION may come without it)
  }
}

/**
 * fs.writeSync on the raw descriptors, not process.stdout/stderr: touching
 * those streams loads Node's net and tty layers, a few ms of a plugin that
 * is exec'd per call. writeSync also returns only once the bytes are out.
 */
function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(fd, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
    }
  }
}

const stdin = process.env.CNI_COMMAND && process.env.CNI_COMMAND !== 'VERSION' ? readStdin() : '';
void runPlugin(process.env, stdin).then(({ stdout, stderr, exitCode }) => {
  if (stderr) writeAll(2, stderr);
  writeAll(1, stdout);
  process.exit(exitCode);
});
