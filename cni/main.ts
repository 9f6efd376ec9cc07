/** Entry point of the virtnet-bridge executable: env + stdin → skel → stdout. */
import { readFileSync } from 'node:fs';
import { runPlugin } from './skel.ts';

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch {
    return ''; // stdin closed or absent (VERSION may come without it)
  }
}

const stdin = process.env.CNI_COMMAND && process.env.CNI_COMMAND !== 'VERSION' ? readStdin() : '';
void runPlugin(process.env, stdin).then(({ stdout, stderr, exitCode }) => {
  if (stderr) process.stderr.write(stderr);
  process.stdout.write(stdout, () => process.exit(exitCode));
});
