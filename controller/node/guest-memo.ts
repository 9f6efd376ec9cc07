/**
 * A memo of scripts/build-guest.sh's cache check, which costs about 25 ms
 * of bash, dpkg-query and sha256sum on every `virtnet up`. The check's
 * answer can only change when one of its inputs does: the script, the
 * guest's init, the installed packages (/var/lib/dpkg/status), the package
 * lists (they choose the kernel), or the built files. So the answer is kept
 * beside the guest with a fingerprint of those files (size, mtime, inode),
 * and the script runs again whenever the fingerprint differs.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurable } from '../../lib/durable.ts';

const MEMO = '.check-memo.json';
const APT_LISTS = '/var/lib/apt/lists';

/** Where the script builds the guest: its own default, or $VIRTNET_GUEST_DIR as it reads it. */
export function guestDir(env: NodeJS.ProcessEnv = process.env): string {
  return (env.VIRTNET_GUEST_DIR || '/var/cache/virtnet/guest').replace(/\/+$/u, '') || '/';
}

function stamp(path: string): string {
  try {
    const st = statSync(path);
    return `${path} ${st.size} ${st.mtimeMs} ${st.ino}`;
  } catch {
    return `${path} absent`;
  }
}

/** The fingerprint of everything the script's answer depends on. */
export function guestFingerprint(projectDir: string, out: string): string {
  let lists: string[] = [];
  try {
    lists = readdirSync(APT_LISTS).filter((n) => n.includes('_Packages'));
  } catch {
    // No lists: the script resolves the kernel another way, and the fingerprint says "none".
  }
  return [
    join(projectDir, 'scripts', 'build-guest.sh'),
    join(projectDir, 'scripts', 'guest', 'init'),
    '/var/lib/dpkg/status',
    ...lists.sort().map((n) => join(APT_LISTS, n)),
    ...['vmlinuz', 'initrd.img', 'recipe.sha256'].map((n) => join(out, n)),
  ]
    .map(stamp)
    .join('\n');
}

/** The guest directory the script last answered with, if nothing it depends on has changed since. */
export function rememberedGuest(projectDir: string, out: string): string | undefined {
  try {
    const memo = JSON.parse(readFileSync(join(out, MEMO), 'utf8')) as { fingerprint?: unknown; dir?: unknown };
    return memo.fingerprint === guestFingerprint(projectDir, out) && memo.dir === out ? out : undefined;
  } catch {
    return undefined;
  }
}

/** Keep the script's answer `dir` (it printed it last) with the fingerprint of now. */
export function rememberGuest(projectDir: string, out: string, dir: string): void {
  if (dir !== out) return;
  try {
    writeFileDurable(join(out, MEMO), JSON.stringify({ fingerprint: guestFingerprint(projectDir, out), dir }));
  } catch {
    // A memo that cannot be written only costs the next run the script's check.
  }
}
