/**
 * The plugin log's rotation by size (cni/log.ts): one old generation, only
 * a full file rotated, a crashed plugin's lock reaped, a living holder
 * waited for a bounded time, and many plugin processes writing and rotating
 * at once keep every line whole and lose none of the two newest
 * generations.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  fstatSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { createLog, LOCK_WAIT_MS, rotateIfFull } from '../../../cni/log.ts';
import { startTime } from '../../../lib/process.ts';

const dir = mkdtempSync(join(tmpdir(), 'virtnet-test-logrotate-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const WRITER = join(dirname(fileURLToPath(import.meta.url)), 'log-writer.ts');

interface Line {
  level: number;
  component: string;
  worker: number;
  seq: number;
  msg: string;
}

function linesOf(file: string): Line[] {
  const text = readFileSync(file, 'utf8');
  assert.ok(text.endsWith('\n'), `${file} ends inside a line`);
  return text
    .slice(0, -1)
    .split('\n')
    .map((l) => JSON.parse(l) as Line);
}

/** The files of one test's log, by the log's name. */
function filesOf(name: string): string[] {
  return readdirSync(dir)
    .filter((n) => n.startsWith(name))
    .sort();
}

/** A holder that is surely dead: a process that has exited, and been waited for. */
function deadHolder(): string {
  return `${spawnSync(process.execPath, ['-e', '']).pid}:1`;
}

test('a file under the limit is not rotated', () => {
  const file = join(dir, 'small.log');
  writeFileSync(file, 'y'.repeat(100));
  const fd = openSync(file, 'a');
  assert.equal(rotateIfFull(file, fstatSync(fd), 4096), false);
  closeSync(fd);
  assert.deepEqual(filesOf('small'), ['small.log']);
});

test('a full file becomes .1, replacing the old one, before the first line; the lock is gone after', () => {
  const file = join(dir, 'full.log');
  writeFileSync(file, 'x'.repeat(5000));
  writeFileSync(`${file}.1`, 'older');
  createLog({}, { logFile: file, maxBytes: 4096 }).info('fresh');
  assert.equal(readFileSync(`${file}.1`, 'utf8'), 'x'.repeat(5000));
  assert.deepEqual(
    linesOf(file).map((l) => l.msg),
    ['fresh'],
  );
  assert.deepEqual(filesOf('full'), ['full.log', 'full.log.1']);
});

test('a plugin that measured a file that another rotated first leaves the fresh file at the path', () => {
  const file = join(dir, 'race.log');
  writeFileSync(file, 'x'.repeat(5000));
  const measured = openSync(file, 'a'); // this plugin found it full...
  renameSync(file, `${file}.1`); // ...but another rotated it first
  createLog({ by: 'other' }, { logFile: file }).info('fresh');
  assert.equal(rotateIfFull(file, fstatSync(measured), 4096), true, 'the path names another file now');
  closeSync(measured);
  assert.equal(readFileSync(`${file}.1`, 'utf8'), 'x'.repeat(5000), 'the full generation is kept');
  assert.deepEqual(
    linesOf(file).map((l) => l.msg),
    ['fresh'],
    "the other plugin's file stays at the path",
  );
  assert.deepEqual(filesOf('race'), ['race.log', 'race.log.1']);
});

test("a crashed plugin's lock, and the marker of a reaper that crashed too, are reaped: the rotation goes on", () => {
  const file = join(dir, 'crashed.log');
  writeFileSync(file, 'x'.repeat(5000));
  const holder = deadHolder();
  symlinkSync(holder, `${file}.lock`);
  symlinkSync(deadHolder(), `${file}.lock.reap-${holder}`);
  createLog({}, { logFile: file, maxBytes: 4096 }).info('after the crash');
  assert.equal(readFileSync(`${file}.1`, 'utf8'), 'x'.repeat(5000));
  assert.deepEqual(
    linesOf(file).map((l) => l.msg),
    ['after the crash'],
  );
  assert.deepEqual(filesOf('crashed'), ['crashed.log', 'crashed.log.1']);
});

test('a lock planted with a path for a holder is reaped like a dead one, and names no file elsewhere', () => {
  const file = join(dir, 'planted.log');
  writeFileSync(file, 'x'.repeat(5000));
  symlinkSync('../../elsewhere/x', `${file}.lock`);
  createLog({}, { logFile: file, maxBytes: 4096 }).info('rotated all the same');
  assert.equal(readFileSync(`${file}.1`, 'utf8'), 'x'.repeat(5000));
  assert.deepEqual(filesOf('planted'), ['planted.log', 'planted.log.1']);
  assert.deepEqual(
    readdirSync(dirname(dir)).filter((n) => n === 'elsewhere'),
    [],
  );
});

test('a living holder is waited for LOCK_WAIT_MS at most; then the line is logged, without rotating', () => {
  const file = join(dir, 'held.log');
  writeFileSync(file, `${'x'.repeat(5000)}\n`);
  const lock = `${file}.lock`;
  symlinkSync(`${process.pid}:${startTime(process.pid)}`, lock); // this process: alive, and busy logging
  const began = Date.now();
  createLog({}, { logFile: file, maxBytes: 4096 }).info('while held');
  const waited = Date.now() - began;
  rmSync(lock);
  assert.ok(waited >= LOCK_WAIT_MS && waited < LOCK_WAIT_MS + 2000, `waited ${waited} ms`);
  const [full, line, rest] = readFileSync(file, 'utf8').split('\n');
  assert.deepEqual([full, (JSON.parse(line!) as Line).msg, rest], ['x'.repeat(5000), 'while held', '']);
  assert.deepEqual(filesOf('held'), ['held.log'], 'nothing rotated, the lock left to its holder');
});

interface Writer {
  ready: Promise<void>;
  /** undefined: it exited 0, having been waited for; else what went wrong. */
  done: Promise<string | undefined>;
}

/** A writer process; it is always waited for (a test leaves no process behind), and killed after 60 s. */
function startWriter(bundle: string, args: (string | number)[]): Writer {
  const child = spawn(process.execPath, [bundle, ...args.map(String)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const done = new Promise<string | undefined>((resolve) => {
    child.on('error', (e) => resolve(`writer ${args[2]}: ${e.message}`));
    child.on('exit', (code, signal) =>
      resolve(code === 0 ? undefined : `writer ${args[2]}: ${code ?? signal} ${stderr}`),
    );
  });
  const ready = new Promise<void>((resolve) => {
    child.stdout.once('data', () => resolve());
    void done.then(() => resolve());
  });
  return { ready, done };
}

/**
 * What the many writers wrote to one of their files: each line once, and a
 * writer's lines in the order it wrote them, the rotated ones first.
 */
function checkFile(file: string, writers: number, seqs: [number, number], maxBytes: number, slack: number): void {
  const [old, now] = [linesOf(`${file}.1`), linesOf(file)];
  const [oldSize, nowSize] = [statSync(`${file}.1`).size, statSync(file).size];
  assert.ok(oldSize >= maxBytes && oldSize < maxBytes + slack, `${file}.1 is full, and bounded: ${oldSize}`);
  assert.ok(nowSize < maxBytes, `${file} was not full again: ${nowSize}`);
  const [first, end] = seqs;
  for (let w = 0; w < writers; w++) {
    assert.deepEqual(
      [...old, ...now].filter((l) => l.worker === w).map((l) => l.seq),
      Array.from({ length: end - first }, (_, i) => first + i),
      `writer ${w} lost no line of ${file}, and wrote them in order`,
    );
  }
  for (const l of [...old, ...now]) assert.equal(l.component, 'cni');
}

test('32 plugin processes writing and rotating at once: whole lines, only full files rotated, none lost', async () => {
  const [prefix, go, bundle] = [join(dir, 'busy'), join(dir, 'go'), join(dir, 'writer.mjs')];
  buildSync({
    entryPoints: [WRITER],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'esm',
    logLevel: 'error',
  });
  // Each file takes `perFile` calls of every writer: 128 lines of 171 to 176 bytes, T = 21.9 to 22.6 KB in all. Once
  // it is full, at most one call of each writer is written to it unchecked (a call checks before its first line):
  // `slack`, 5.6 KB, less than T - maxBytes, so each file is rotated; the fresh file gets T - maxBytes at most, less
  // than maxBytes, so none is rotated twice: every line written is kept, in the file or its .1. The writers come to
  // each file at once (`slot`), so that many find it full together.
  const [workers, files, perFile, lines, maxBytes, slot] = [32, 200, 4, 1, 14 * 1024, 8];
  const slack = workers * lines * 176;
  const writers = Array.from({ length: workers }, (_, w) =>
    startWriter(bundle, [prefix, go, w, files * perFile, perFile, lines, maxBytes, slot]),
  );
  await Promise.all(writers.map((w) => w.ready));
  // All loaded: they start at once, at a time the file holds whole (renamed into place).
  writeFileSync(`${go}.tmp`, String(Date.now() + 20));
  renameSync(`${go}.tmp`, go);
  const failures = await Promise.all(writers.map((w) => w.done));
  assert.deepEqual(
    failures.filter((f) => f !== undefined),
    [],
  );
  const names = Array.from({ length: files }, (_, k) => [`busy-${k}.log`, `busy-${k}.log.1`]);
  assert.deepEqual(filesOf('busy'), names.flat().sort(), 'each file rotated once, no file of a rotation left behind');
  const per = perFile * lines;
  for (let k = 0; k < files; k++) checkFile(`${prefix}-${k}.log`, workers, [k * per, (k + 1) * per], maxBytes, slack);
});
