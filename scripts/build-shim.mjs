// Compiles the static C shim that is installed as the virtnet-bridge CNI executable
// (cni/shim/virtnet-bridge-shim.c). Static, so it runs on any node whatever its libc;
// -s strips it at link time, so no separate strip(1) run.
//   node scripts/build-shim.mjs <out>
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), '..', 'cni', 'shim', 'virtnet-bridge-shim.c');

/** Compiles the shim to outFile with the system cc; throws with argv, exit code and stderr. */
export async function buildShim(outFile) {
  mkdirSync(dirname(resolve(outFile)), { recursive: true });
  const argv = ['-std=c11', '-static', '-Os', '-s', '-Wall', '-Wextra', '-Werror', '-o', outFile, SOURCE];
  try {
    execFileSync('cc', argv, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (e) {
    // status: cc's exit code; without one, cc did not start (code: ENOENT when there is no cc).
    const how = e.status != null ? `exit code ${e.status}` : `${e.code ?? e.signal ?? 'failed to run'}`;
    const stderr = String(e.stderr ?? '').trim();
    throw new Error(`cc ${argv.join(' ')} failed (${how})${stderr ? `:\n${stderr}` : ''}`, { cause: e });
  }
  chmodSync(outFile, 0o755);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: node scripts/build-shim.mjs <out>');
    process.exit(2);
  }
  await buildShim(out);
  console.error(`built ${out}`);
}
