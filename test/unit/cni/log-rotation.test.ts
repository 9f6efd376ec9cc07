/**
 * The plugin log's rotation by size (cni/log.ts): one old generation, a
 * fresh file that another plugin started is never taken for the full one,
 * and many plugin processes writing and rotating at once keep every line
 * whole and lose none of the two newest generations.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  closeSync,
  linkSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLog, rotateIfFull } from '../../../cni/log.ts';
import { LogTail } from '../../../controller/agent/log-tail.ts';

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

test('a fresh file another plugin started after rotating is put back, not rotated over the full one', () => {
  const file = join(dir, 'race.log');
  writeFileSync(file, 'x'.repeat(5000));
  const measured = openSync(file, 'a'); // this plugin found it full...
  renameSync(file, `${file}.1`); // ...but another rotated it first
  createLog({ by: 'other' }, { logFile: file }).info('fresh');
  assert.equal(rotateIfFull(file, measured, 4096), true);
  closeSync(measured);
  assert.equal(readFileSync(`${file}.1`, 'utf8'), 'x'.repeat(5000), 'the full generation is kept');
  assert.deepEqual(
    linesOf(file).map((l) => l.msg),
    ['fresh'],
    "the other plugin's file is back at the path",
  );
  assert.equal(statSync(file).nlink, 1);
  assert.deepEqual(
    readdirSync(dir)
      .filter((n) => n.startsWith('race'))
      .sort(),
    ['race.log', 'race.log.1'],
  );
});

test('a file under the limit is not rotated', () => {
  const file = join(dir, 'small.log');
  writeFileSync(file, 'y'.repeat(100));
  const fd = openSync(file, 'a');
  assert.equal(rotateIfFull(file, fd, 4096), false);
  closeSync(fd);
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.startsWith('small')),
    ['small.log'],
  );
});

function runWriter(file: string, worker: number, calls: number, lines: number, maxBytes: number): Promise<void> {
  const args = ['--import', 'tsx', WRITER, file, ...[worker, calls, lines, maxBytes].map(String)];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  return new Promise((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`writer ${worker}: ${code} ${stderr}`)))),
  );
}

test('32 plugin processes writing and rotating at once: whole lines, one old generation, nothing lost', async () => {
  const file = join(dir, 'busy.log');
  const [workers, calls, lines, maxBytes] = [32, 200, 3, 4096];
  // Every generation rotated meanwhile is looked at too, not only the last: none may be a fresh file.
  let smallest = Number.POSITIVE_INFINITY;
  const watch = setInterval(() => {
    const size = statSync(`${file}.1`, { throwIfNoEntry: false })?.size;
    if (size !== undefined) smallest = Math.min(smallest, size);
  }, 1);
  await Promise.all(Array.from({ length: workers }, (_, w) => runWriter(file, w, calls, lines, maxBytes))).finally(() =>
    clearInterval(watch),
  );
  assert.ok(smallest >= maxBytes, `every rotated generation was full: the smallest seen had ${smallest} bytes`);
  assert.deepEqual(
    readdirSync(dir)
      .filter((n) => n.startsWith('busy'))
      .sort(),
    ['busy.log', 'busy.log.1'],
    'no file of a rotation is left behind',
  );
  const old = linesOf(`${file}.1`);
  const now = linesOf(file);
  const lineBytes = statSync(file).size / now.length;
  // Only a full file is ever rotated; each writer checks once per call, so a file overshoots by a few calls' lines.
  const slack = workers * lines * lineBytes;
  assert.ok(statSync(`${file}.1`).size >= maxBytes, `the old generation is full: ${statSync(`${file}.1`).size}`);
  assert.ok(statSync(`${file}.1`).size <= maxBytes + slack, `and bounded: ${statSync(`${file}.1`).size}`);
  assert.ok(statSync(file).size <= maxBytes + slack, `the current one is bounded: ${statSync(file).size}`);
  const total = workers * calls * lines;
  assert.ok(old.length + now.length < total, 'the run rotated more than once, older lines are gone');
  for (let w = 0; w < workers; w++) {
    const seqs = [...old, ...now].filter((l) => l.worker === w).map((l) => l.seq);
    // What is kept of a writer's lines is an unbroken run to its last one (sorted: a fresh file put back
    // into a newer one may come after it: rotateIfFull).
    seqs.sort((a, b) => a - b);
    const last = calls * lines - 1;
    assert.deepEqual(
      seqs,
      Array.from({ length: seqs.length }, (_, i) => last - seqs.length + 1 + i),
      `writer ${w} lost no line`,
    );
  }
  for (const l of [...old, ...now]) assert.equal(l.component, 'cni');
});

test("the node agent's reader reads a fresh file that a rotation put back once, not twice", () => {
  const file = join(dir, 'tailed.log');
  const tail = new LogTail(file);
  const seen: string[] = [];
  writeFileSync(file, 'x'.repeat(5000));
  const measured = openSync(file, 'a');
  renameSync(file, `${file}.1`);
  createLog({}, { logFile: file }).info('fresh');
  while (tail.poll((l) => seen.push(l)) > 0);
  const moved = `${file}.rotating-test`;
  renameSync(file, moved); // a rotation takes the fresh file away: the reader is left with nothing at the path
  while (tail.poll((l) => seen.push(l)) > 0);
  linkSync(moved, file); // and puts it back, as rotateIfFull does
  rmSync(moved);
  closeSync(measured);
  createLog({}, { logFile: file }).info('after');
  while (tail.poll((l) => seen.push(l)) > 0);
  assert.deepEqual(
    seen.map((l) => (JSON.parse(l) as Line).msg),
    ['fresh', 'after'],
  );
});
