/**
 * lib/progress.ts: one line per step and a start/done pair per transfer on
 * a plain stream; a single self-redrawing bar with bytes and rate on a
 * terminal (a fake stream with isTTY). The clock is injected.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { barLine, createProgress, formatBytes, type ProgressStream } from '../../../lib/progress.ts';

function fakeStream(isTTY: boolean, columns?: number): ProgressStream & { out: string } {
  const s = {
    out: '',
    isTTY,
    ...(columns !== undefined && { columns }),
    write(t: string) {
      s.out += t;
      return true;
    },
  };
  return s;
}

function clock() {
  const c = { t: 1000, now: () => c.t };
  return c;
}

test('formatBytes: binary units, one decimal below 10', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(100 * 1024 * 1024), '100 MiB');
  assert.equal(formatBytes(3.25 * 1024 ** 3), '3.3 GiB');
});

test('not a terminal: one line per step, and only a start and a done line per transfer', () => {
  const s = fakeStream(false);
  const c = clock();
  const p = createProgress(s, { now: c.now });
  p.step('pulling quay.io/x:1');
  const bar = p.bytes('pull quay.io/x:1', 4 * 1024 * 1024);
  for (let i = 0; i < 4; i++) {
    c.t += 500;
    bar.advance(1024 * 1024);
  }
  bar.done();
  bar.done(); // a second done prints nothing more
  const unknown = p.bytes('decompress (xz)');
  c.t += 1000;
  unknown.advance(512);
  unknown.done();
  assert.deepEqual(s.out.split('\n'), [
    'pulling quay.io/x:1',
    'pull quay.io/x:1: started (4.0 MiB)',
    'pull quay.io/x:1: done, 4.0 MiB in 2.0 s (2.0 MiB/s)',
    'decompress (xz): started',
    'decompress (xz): done, 512 B in 1.0 s (512 B/s)',
    '',
  ]);
});

test('terminal: one bar redrawn in place with bytes, total and rate, at most every redrawMs, then a newline', () => {
  const s = fakeStream(true);
  const c = clock();
  const bar = createProgress(s, { now: c.now, redrawMs: 100 }).bytes('pull x', 1024 * 1024);
  c.t += 200;
  bar.advance(256 * 1024);
  c.t += 50;
  bar.advance(256 * 1024); // within 100 ms of the last draw: not drawn
  c.t += 250;
  bar.advance(512 * 1024);
  bar.done();
  const frames = s.out.split('\r').filter((f) => f !== '');
  assert.deepEqual(frames, [
    'pull x [------------------------] 0 B / 1.0 MiB  0 B/s\u001b[K',
    'pull x [######------------------] 256 KiB / 1.0 MiB  1.3 MiB/s\u001b[K',
    'pull x [########################] 1.0 MiB / 1.0 MiB  2.0 MiB/s\u001b[K',
    'pull x [########################] 1.0 MiB / 1.0 MiB  2.0 MiB/s\u001b[K\n',
  ]);
  assert.equal(s.out.split('\n').length, 2, 'a single line on the terminal');
});

test('terminal: the bar is cut to the terminal width; an unknown total shows bytes and rate only', () => {
  const s = fakeStream(true, 20);
  createProgress(s, { now: () => 0 })
    .bytes('a very long label for a pull', 100)
    .done();
  assert.ok(
    s.out
      .split('\r')
      .filter(Boolean)
      .every((f) => f.replace('\u001b[K', '').replace('\n', '').length <= 19),
    JSON.stringify(s.out),
  );
  assert.equal(barLine('decompress', 3 * 1024 * 1024, undefined, 1000), 'decompress  3.0 MiB  3.0 MiB/s');
});
