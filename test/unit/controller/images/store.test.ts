/**
 * The image store on disk, without a registry: gc's view of what is in
 * use taken under the lock after the pins, entries that vanish under a
 * reader, and the modes that keep images root's alone.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs, {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTime } from '../../../../lib/process.ts';
import { entryName, ImageStore, type CachedImage } from '../../../../controller/node/images/store.ts';

let work: string;
before(() => {
  work = mkdtempSync(join(tmpdir(), 'virtnet-test-image-store-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

let n = 0;
const digestOf = (c: string) => `sha256:${c.repeat(64)}`;

/** A committed entry of `digest` whose disk is a few bytes, as a pull leaves it. */
async function addEntry(store: ImageStore, digest: string): Promise<CachedImage> {
  const staging = await store.tempDir();
  try {
    const disk = join(staging, 'disk');
    writeFileSync(disk, 'disk bytes');
    const staged = store.stage(staging, disk, {
      digest,
      indexDigests: [],
      references: [`r.example/x@${digest}`],
      diskPath: '/disk/x.raw',
      onlyDisk: true,
      format: 'raw',
      size: 10,
      virtualSize: 10,
      pulledAt: '',
    });
    return await store.locked(() => store.commit(staged));
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

test('gc asks what is in use under the lock, after reading the pins: a VMI recorded as its pin goes is never missed', async () => {
  const root = join(work, `cache-${n++}`);
  const store = new ImageStore(root);
  const image = await addEntry(store, digestOf('a'));
  const release = await store.locked(() =>
    store.pin(image.entry, { pid: process.pid, start: startTime(process.pid)! }),
  );
  // A dead process's pin, which reading the pins removes: gone by the time inUse is asked.
  const deadPin = join(root, 'pins', `${image.entry}.4194305.1.0123456789abcdef`);
  writeFileSync(deadPin, '');
  let asked = 0;
  const removed = await store.gc(() => {
    asked++;
    assert.equal(existsSync(deadPin), false, 'the pins were read before inUse is asked');
    assert.ok(existsSync(join(root, 'locks', 'cache.lock')), 'inUse is asked under the cache lock');
    // Meanwhile `virtnet up` records the VMI (naming the digest) and releases its pin.
    release();
    return new Set([image.digest]);
  });
  assert.equal(asked, 1);
  assert.deepEqual(removed, [], 'kept: the pin was live when read, and the record names it now');
  assert.deepEqual(
    store.list().map((i) => i.entry),
    [image.entry],
  );
  assert.deepEqual(
    (await store.gc(() => new Set())).map((i) => i.entry),
    [image.entry],
    'unused and unpinned: removed',
  );
  assert.deepEqual(store.list(), []);
});

test('an entry that vanishes between readdir and its lstat (a concurrent gc) is skipped, not an error', async () => {
  const root = join(work, `cache-${n++}`);
  const store = new ImageStore(root);
  const image = await addEntry(store, digestOf('b'));
  const gone = entryName(digestOf('c'), '/disk/x.raw');
  const real = fs.readdirSync;
  fs.readdirSync = ((path: fs.PathLike, ...rest: unknown[]) => {
    const names = (real as (p: fs.PathLike, ...r: unknown[]) => string[])(path, ...rest);
    return String(path) === root ? [...names, gone] : names;
  }) as typeof fs.readdirSync;
  syncBuiltinESMExports();
  try {
    assert.deepEqual(
      store.list().map((i) => i.entry),
      [image.entry],
    );
    assert.deepEqual(store.junk(), []);
  } finally {
    fs.readdirSync = real;
    syncBuiltinESMExports();
  }
});

test(
  'the root, entries and their ' +
    "files are root's alone (0700 " +
    'and 0400); a root an older ' +
    'version made 0755 is narrowed',
  async () => {
    const root = join(work, `cache-${n++}`);
    mkdirSync(root, { mode: 0o755 });
    chmodSync(root, 0o755);
    const store = new ImageStore(root);
    const image = await addEntry(store, digestOf('d'));
    assert.equal(statSync(root).mode & 0o7777, 0o700);
    assert.equal(statSync(join(root, image.entry)).mode & 0o7777, 0o700);
    assert.equal(statSync(image.file).mode & 0o7777, 0o400);
    assert.equal(statSync(join(root, image.entry, 'meta.json')).mode & 0o7777, 0o400);
    await store.locked(() => store.addReference(image, 'r.example/other:1', undefined));
    assert.equal(statSync(join(root, image.entry, 'meta.json')).mode & 0o7777, 0o400, 'a rewritten meta.json too');
    assert.deepEqual(readdirSync(join(root, image.entry)).sort(), ['disk.raw', 'meta.json']);
  },
);

test('a damaged entry under the name a pull commits to is moved aside, and the pull lands', async () => {
  const root = join(work, `cache-${n++}`);
  const store = new ImageStore(root);
  const name = entryName(digestOf('e'), '/disk/x.raw');
  mkdirSync(join(root, name, 'sub'), { recursive: true });
  writeFileSync(join(root, name, 'meta.json'), '{"dig');
  assert.deepEqual(store.junk(), [
    { name, why: 'meta.json is damaged or does not match the entry name', damagedEntry: true },
  ]);
  const image = await addEntry(store, digestOf('e'));
  assert.equal(image.entry, name);
  assert.deepEqual(
    store.list().map((i) => i.entry),
    [name],
  );
  assert.deepEqual(store.junk(), []);
  assert.deepEqual(readdirSync(join(root, 'tmp')), [], 'the damaged copy is gone, not parked');
});

test('meta.json is read field by field: JSON null is a damaged entry (no crash), an unknown key is left out', async () => {
  const root = join(work, `cache-${n++}`);
  const store = new ImageStore(root);
  const image = await addEntry(store, digestOf('f'));
  const meta = join(root, image.entry, 'meta.json');
  const written = JSON.parse(readFileSync(meta, 'utf8'));
  rmSync(meta);
  writeFileSync(meta, JSON.stringify({ ...written, file: '/etc/shadow', debugShell: true }));
  const [listed] = store.list();
  assert.deepEqual(listed, image, 'the file is where the entry is, and nothing else comes with it');
  rmSync(meta);
  writeFileSync(meta, 'null');
  assert.deepEqual(store.junk(), [
    { name: image.entry, why: 'meta.json is damaged or does not match the entry name', damagedEntry: true },
  ]);
});

test("a pull sweeps the temp dirs of pulls that died, under the lock, and keeps a live one's", async () => {
  const root = join(work, `cache-${n++}`);
  const store = new ImageStore(root);
  await addEntry(store, digestOf('f'));
  const dead = join(root, 'tmp', 'pull.4194305.1.0123456789abcdef');
  mkdirSync(join(dead, 'copy'), { recursive: true });
  const live = await store.tempDir();
  const next = await store.tempDir();
  assert.equal(existsSync(dead), false, "the dead pull's directory is gone");
  assert.deepEqual(
    readdirSync(join(root, 'tmp')).sort(),
    [live, next].map((d) => d.slice(join(root, 'tmp').length + 1)).sort(),
  );
});
