// The Debian cloud guest (scripts/guest/debian.sh, run through scripts/guest.sh):
// it builds, or reuses its cache, and prints the absolute path of a
// self-contained qcow2 as its last line. A second run must not rebuild, and a
// changed recipe must rebuild (here: fail to, against a mirror that is not
// there) without touching the cached image or leaving anything behind. The
// image is not booted here: the e2e tests boot it through virtnet.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { once } from 'node:events';
import {
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const guestScript = join(repo, 'scripts/guest.sh');
/** A cold build is 1-2 min of mmdebstrap plus ~20 s of compression; a slow mirror can triple that. */
const COLD_BUILD_TIMEOUT_MS = 15 * 60_000;

function runGuest(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  timeout = COLD_BUILD_TIMEOUT_MS,
): SpawnSyncReturns<string> {
  // stdin is /dev/null: mmdebstrap reads apt sources from a stdin that is not a TTY.
  return spawnSync('bash', [guestScript, ...args], {
    cwd: repo,
    encoding: 'utf8',
    env,
    timeout,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** As runGuest, without blocking the event loop (another child must run meanwhile). */
function runGuestAsync(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [guestScript, ...args], { cwd: repo, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stderr }));
  });
}

function lastLine(text: string): string {
  const lines = text.trimEnd().split('\n');
  return lines[lines.length - 1] ?? '';
}

interface QemuImgInfo {
  format: string;
  'virtual-size': number;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
}

function qemuImgInfo(file: string): QemuImgInfo {
  const r = spawnSync('qemu-img', ['info', '--output=json', '-U', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, `qemu-img info ${file} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as QemuImgInfo;
}

function loopDevicesOf(file: string): string {
  const r = spawnSync('losetup', ['--associated', file], { encoding: 'utf8' });
  return r.stdout.trim();
}

describe('debian guest (scripts/guest.sh debian)', { timeout: 2 * COLD_BUILD_TIMEOUT_MS }, () => {
  let image = '';
  let firstRun: SpawnSyncReturns<string>;

  before(() => {
    const started = Date.now();
    firstRun = runGuest(['debian']);
    console.error(`# guest.sh debian (first run): ${Date.now() - started} ms`);
    assert.equal(
      firstRun.status,
      0,
      `guest.sh debian failed (${firstRun.status ?? firstRun.signal}):\n${firstRun.stderr}`,
    );
    image = lastLine(firstRun.stdout);
  });

  test('the last line is the absolute path of a self-contained qcow2', () => {
    assert.ok(isAbsolute(image), `last line is not an absolute path: ${JSON.stringify(image)}`);
    assert.match(basename(image), /\.qcow2$/u);
    assert.ok(statSync(image).isFile(), `${image} is not a file`);
    const info = qemuImgInfo(image);
    assert.equal(info.format, 'qcow2');
    assert.equal(info['backing-filename'], undefined, `${image} has a backing file`);
    assert.equal(info['full-backing-filename'], undefined);
    assert.equal(info['virtual-size'], 2 * 1024 ** 3, 'the disk is 2 GiB');
    // zlib-compressed: far below the ~500 MB the root file system takes.
    assert.ok(statSync(image).size < 400 * 1024 ** 2, `${image} is ${statSync(image).size} bytes; is it compressed?`);
  });

  test('its recipe hash is written beside it, with the inputs it covers', () => {
    const dir = dirname(image);
    assert.match(readFileSync(join(dir, 'recipe.sha256'), 'utf8'), /^[0-9a-f]{64}\n$/u);
    const recipe = readFileSync(join(dir, 'recipe.txt'), 'utf8');
    assert.match(recipe, /^script [0-9a-f]{64}$/mu);
    assert.match(recipe, /^source deb \S+ bookworm main$/mu);
    assert.match(recipe, /^built-kernel \S+-cloud-amd64$/mu);
    const leftovers = readdirSync(dirname(dir)).filter((name) => name.startsWith('.debian-build.'));
    assert.deepEqual(leftovers, [], 'no build directory is left beside the output');
  });

  test('a second run reuses the cache: same path, nothing rewritten, fast', () => {
    const before = { image: statSync(image).mtimeMs, recipe: statSync(join(dirname(image), 'recipe.sha256')).mtimeMs };
    const started = Date.now();
    const again = runGuest(['debian'], process.env, 60_000);
    const took = Date.now() - started;
    assert.equal(again.status, 0, again.stderr);
    assert.equal(lastLine(again.stdout), image);
    assert.match(again.stderr, /debian-guest: cache hit \([0-9a-f]{64}\)/u);
    assert.doesNotMatch(again.stderr, /mmdebstrap/u);
    assert.equal(statSync(image).mtimeMs, before.image, 'the qcow2 was rewritten');
    assert.equal(statSync(join(dirname(image), 'recipe.sha256')).mtimeMs, before.recipe, 'recipe.sha256 was rewritten');
    assert.ok(took < 10_000, `a cache hit took ${took} ms`);
  });

  /** A copy of the cache, in a temp dir, whose recipe no longer matches: the mirror is part of the recipe. */
  function staleCopy(parent: string): { out: string; copy: string; env: NodeJS.ProcessEnv } {
    const out = join(parent, 'debian');
    const copy = join(out, basename(image));
    mkdirSync(out);
    try {
      linkSync(image, copy);
    } catch {
      copyFileSync(image, copy);
    }
    for (const f of ['recipe.sha256', 'recipe.txt']) copyFileSync(join(dirname(image), f), join(out, f));
    // Nothing listens on port 9 (discard) here, so the rebuild fails within seconds.
    return {
      out,
      copy,
      env: { ...process.env, VIRTNET_DEBIAN_GUEST_DIR: out, VIRTNET_DEBIAN_MIRROR: 'http://127.0.0.1:9/debian' },
    };
  }

  test('a changed recipe rebuilds; a failed rebuild keeps the old image and leaves nothing behind', () => {
    const parent = mkdtempSync(join(tmpdir(), 'virtnet-debian-guest-'));
    try {
      const { out, copy, env } = staleCopy(parent);
      const recipeBefore = readFileSync(join(out, 'recipe.sha256'), 'utf8');
      const r = runGuest(['debian'], env, 5 * 60_000);
      assert.notEqual(r.status, 0, `a build from a mirror that is not there succeeded:\n${r.stderr}`);
      assert.match(r.stderr, /debian-guest: building in /u, 'the changed recipe did not start a build');
      assert.match(r.stderr, /debian-guest: error: mmdebstrap failed/u);
      assert.equal(r.stdout, '', 'a failed build printed a path');
      assert.equal(readFileSync(join(out, 'recipe.sha256'), 'utf8'), recipeBefore);
      assert.equal(statSync(copy).size, statSync(image).size);
      assert.deepEqual(
        readdirSync(parent).filter((n) => n.startsWith('.debian-build.')),
        [],
        'the build directory was left behind',
      );
      assert.equal(loopDevicesOf(copy), '');
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });

  test('a builder waits for the one holding the build lock', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'virtnet-debian-guest-'));
    const holdMs = 3_000;
    try {
      const { out, env } = staleCopy(parent);
      const holder = spawn('flock', [join(out, '.build.lock'), '-c', `echo held; sleep ${holdMs / 1000}`], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await once(holder.stdout, 'data');
      const started = Date.now();
      const r = await runGuestAsync(['debian'], env);
      const waited = Date.now() - started;
      assert.notEqual(holder.exitCode, null, 'the builder ran while the lock was held');
      assert.match(r.stderr, /debian-guest: waiting for another build of /u);
      assert.ok(waited >= holdMs - 500, `the builder went on after ${waited} ms, with the lock held for ${holdMs} ms`);
      assert.match(r.stderr, /debian-guest: building in /u, 'after the wait, the stale recipe still needs a build');
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });

  test('an output directory that is not absolute is refused, naming the variable', () => {
    const r = runGuest(['debian'], { ...process.env, VIRTNET_DEBIAN_GUEST_DIR: 'relative/dir' }, 30_000);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /VIRTNET_DEBIAN_GUEST_DIR must be an absolute path, got 'relative\/dir'/u);
    assert.equal(existsSync(join(repo, 'relative')), false);
  });

  test('a mirror that is not an http(s) URL is refused before anything is built', () => {
    const r = runGuest(['debian'], { ...process.env, VIRTNET_DEBIAN_MIRROR: 'file:///etc x' }, 30_000);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /a Debian mirror must be an http\(s\) URL without spaces, got 'file:\/\/\/etc x'/u);
  });
});

describe('scripts/guest.sh dispatch', () => {
  test('an unknown guest name is refused with the list of known ones', () => {
    const r = runGuest(['fedora'], process.env, 30_000);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /guest: unknown guest 'fedora'; known guests: busybox, debian/u);
    assert.equal(r.stdout, '');
  });

  test('more than one argument is refused', () => {
    const r = runGuest(['debian', 'busybox'], process.env, 30_000);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /expected at most one guest name, got 2 arguments/u);
  });

  test('with no argument it builds the busybox guest and prints its directory', {
    timeout: COLD_BUILD_TIMEOUT_MS,
  }, () => {
    const r = runGuest([], process.env, COLD_BUILD_TIMEOUT_MS);
    assert.equal(r.status, 0, r.stderr);
    const dir = lastLine(r.stdout);
    assert.ok(isAbsolute(dir), `last line is not an absolute path: ${JSON.stringify(dir)}`);
    for (const f of ['vmlinuz', 'initrd.img', 'recipe.sha256'])
      assert.ok(statSync(join(dir, f)).isFile(), `${dir}/${f} is missing`);
    assert.match(r.stderr, /^build-guest: /mu, 'it did not run build-guest.sh');
  });
});
