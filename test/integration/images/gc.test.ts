/**
 * The image cache shared between processes: concurrent pulls of one image
 * end with one valid entry; pins keep gc off an image until released or
 * until their process dies; gc keeps digests in use and sweeps what dead
 * pulls left. Real registry, real skopeo, separate Node processes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImageCache, type CachedImage } from '../../../controller/node/images/cache.ts';
import { cacheState, qcow2Disk, rawDisk, sha256 } from '../../support/disks.ts';
import { registriesConf, startRegistry, type TestRegistry } from '../../../harness/registry.ts';

const WORKER = fileURLToPath(new URL('./ensure-worker.ts', import.meta.url));
const MODULE = fileURLToPath(new URL('../../../controller/node/images/cache.ts', import.meta.url));

let reg: TestRegistry;
let work: string;
let conf: string;
let disk: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'virtnet-test-image-gc-'));
  reg = await startRegistry();
  disk = qcow2Disk(work, 'a.qcow2', rawDisk(work, 'a.raw', 8, 'gc'));
  reg.push(disk, 'kubevirt/a:1');
  reg.push(qcow2Disk(work, 'b.qcow2', rawDisk(work, 'b.raw', 1, 'b')), 'kubevirt/b:1');
  conf = registriesConf(
    work,
    ['[[registry]]', 'prefix = "registry:5000"', `location = "${reg.address}"`, 'insecure = true', ''].join('\n'),
  );
});

after(() => {
  reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

interface WorkerRun {
  result: Promise<{ pid: number; pulled: boolean; image: CachedImage }>;
  exited: Promise<number | null>;
  /** Close its stdin: a "hold" worker then releases and exits. */
  finish(): void;
}

function worker(root: string, image: string, mode: 'hold' | 'die' | 'once'): WorkerRun {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, MODULE, root, conf, image, mode], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  const result = new Promise<{ pid: number; pulled: boolean; image: CachedImage }>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!));
    });
    child.on('exit', (code) => reject(new Error(`worker exited ${code} before a result: ${out}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { result, exited, finish: () => child.stdin.end() };
}

test('two processes ensure one image at once: one valid cache entry, both get it', async () => {
  const root = join(work, 'cache-concurrent');
  const runs = [worker(root, 'registry:5000/kubevirt/a:1', 'once'), worker(root, 'registry:5000/kubevirt/a:1', 'once')];
  const results = await Promise.all(runs.map((r) => r.result));
  assert.deepEqual(await Promise.all(runs.map((r) => r.exited)), [0, 0]);
  assert.equal(results[0]!.image.file, results[1]!.image.file);
  const cache = new ImageCache({ root, skopeo: { registriesConf: conf } });
  const entries = cache.list();
  assert.equal(entries.length, 1);
  assert.deepEqual(entries[0]!.references, ['registry:5000/kubevirt/a:1']);
  assert.equal(sha256(entries[0]!.file), sha256(disk));
  execFileSync('qemu-img', ['check', '-q', entries[0]!.file]);
  assert.deepEqual(
    cacheState(root),
    { entries: [entries[0]!.entry], tmp: [], pins: [] },
    'no temp dir and no pin left',
  );
  assert.deepEqual(cache.junk(), []);
});

test("a live pin keeps gc off an image until released; a dead pinner's pin does not", async () => {
  const root = join(work, 'cache-pins');
  const cache = new ImageCache({ root, skopeo: { registriesConf: conf } });
  const holder = worker(root, 'registry:5000/kubevirt/a:1', 'hold');
  const held = await holder.result;
  try {
    assert.deepEqual(await cache.gc(new Set()), [], 'pinned by a live process');
    assert.equal(cache.list().length, 1);
  } finally {
    holder.finish();
  }
  assert.equal(await holder.exited, 0);
  assert.deepEqual(
    (await cache.gc(new Set())).map((i) => i.digest),
    [held.image.digest],
    'released: removed',
  );
  assert.deepEqual(cache.list(), []);

  const dying = worker(root, 'registry:5000/kubevirt/a:1', 'die');
  const died = await dying.result;
  await dying.exited;
  assert.equal(cacheState(root).pins.length, 1, 'the dead process left its pin');
  assert.deepEqual(
    (await cache.gc(new Set())).map((i) => i.digest),
    [died.image.digest],
    'a pin of a dead process protects nothing',
  );
  assert.deepEqual(cacheState(root), { entries: [], tmp: [], pins: [] });
});

test(
  'gc keeps digests in use, removes the ' +
    "rest, sweeps dead pulls' temp dirs, " +
    'removes damaged entries (never following ' +
    'a symlink), and leaves strangers alone',
  async () => {
    const root = join(work, 'cache-gc');
    const cache = new ImageCache({ root, skopeo: { registriesConf: conf } });
    const a = await cache.ensure({ image: 'registry:5000/kubevirt/a:1' });
    const b = await cache.ensure({ image: 'registry:5000/kubevirt/b:1' });
    a.release();
    b.release();
    // What a crash leaves: a pull's temp dir named after a dead process (pid 2^22+1 never exists on Linux, pid_max ≤
    // 2^22).
    mkdirSync(join(root, 'tmp', 'pull.4194305.1.0123456789abcdef', 'copy'), { recursive: true });
    const outside = mkdtempSync(join(work, 'outside-'));
    writeFileSync(join(outside, 'precious'), 'x');
    const planted = `sha256-${'0'.repeat(64)}-${'0'.repeat(12)}`;
    symlinkSync(outside, join(root, planted));
    writeFileSync(join(root, 'stray-file'), 'junk');
    assert.deepEqual(cache.junk(), [
      { name: planted, why: 'not a directory', damagedEntry: true },
      { name: 'stray-file', why: 'not a cache entry name', damagedEntry: false },
    ]);
    const removed = await cache.gc(() => new Set([a.image.digest]));
    assert.deepEqual(
      removed.map((i) => i.digest),
      [b.image.digest],
    );
    assert.deepEqual(
      cache.list().map((i) => i.digest),
      [a.image.digest],
    );
    assert.deepEqual(cacheState(root).tmp, [], "the dead pull's temp dir is swept");
    assert.deepEqual(
      cache.junk(),
      [{ name: 'stray-file', why: 'not a cache entry name', damagedEntry: false }],
      'the planted symlink is gone, the stranger stays',
    );
    assert.equal(
      execFileSync('cat', [join(outside, 'precious')], { encoding: 'utf8' }),
      'x',
      'gc never follows a symlink out of the root',
    );
    // A damaged entry is junk: kept while its digest is in use (a VM may run on its disk), removed once not.
    rmSync(join(a.image.file), { force: true });
    assert.deepEqual(cache.list(), []);
    assert.deepEqual(
      cache
        .junk()
        .map((j) => j.why)
        .sort(),
      ['disk.qcow2 is missing or not a regular file', 'not a cache entry name'],
    );
    assert.deepEqual(await cache.gc(() => new Set([a.image.digest])), []);
    assert.deepEqual(cacheState(root).entries, [a.image.entry, 'stray-file']);
    assert.deepEqual(await cache.gc(new Set()), [], 'a damaged entry is no image to report');
    assert.deepEqual(cacheState(root), { entries: ['stray-file'], tmp: [], pins: [] });
  },
);

test('a pull sweeps what dead pulls left in tmp/, and a damaged entry with the name it commits to is moved aside', async () => {
  const root = join(work, 'cache-recover');
  const cache = new ImageCache({ root, skopeo: { registriesConf: conf } });
  const first = await cache.ensure({ image: 'registry:5000/kubevirt/b:1' });
  first.release();
  // A pull SIGKILLed mid-copy (pid 2^22+1 never exists), and the entry damaged (its meta.json truncated by a crash of
  // an older version).
  mkdirSync(join(root, 'tmp', 'pull.4194305.1.0123456789abcdef', 'copy'), { recursive: true });
  rmSync(join(root, first.image.entry, 'meta.json'), { force: true });
  writeFileSync(join(root, first.image.entry, 'meta.json'), '{"dig');
  assert.deepEqual(cache.list(), []);
  const again = await cache.ensure({ image: 'registry:5000/kubevirt/b:1' });
  again.release();
  assert.equal(again.pulled, true);
  assert.equal(again.image.entry, first.image.entry);
  assert.deepEqual(
    cache.list().map((i) => i.entry),
    [first.image.entry],
  );
  assert.deepEqual(cache.junk(), []);
  assert.deepEqual(
    cacheState(root),
    { entries: [first.image.entry], tmp: [], pins: [] },
    "the dead pull's directory is gone without a gc",
  );
});
