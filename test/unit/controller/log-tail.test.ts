/**
 * The node agent's reading of the plugin's log (issue 11, item 7): on from
 * the last offset, in bounded chunks, through truncation and rotation to
 * <file>.1, skipping lines too long to be ours; and, in a child process
 * whose memory is measured, a 300 MiB log costs the reader a few MiB, not
 * the file's size.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  ftruncateSync,
  mkdtempSync,
  openSync,
  renameSync,
  rmSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LogTail } from '../../../controller/agent/log-tail.ts';
import { NodeMetrics } from '../../../controller/agent/node-metrics.ts';

const dir = mkdtempSync(join(tmpdir(), 'virtnet-test-logtail-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `log-${n++}`);

function collect(tail: LogTail): string[] {
  const lines: string[] = [];
  while (tail.poll((l) => lines.push(l)) > 0);
  return lines;
}

test('lines are handed over once each; a line still being written waits for its newline', () => {
  const file = fresh();
  const tail = new LogTail(file);
  assert.deepEqual(collect(tail), [], 'no file yet');
  writeFileSync(file, 'a\nb\npart');
  assert.deepEqual(collect(tail), ['a', 'b']);
  appendFileSync(file, 'ial\nc\n');
  assert.deepEqual(collect(tail), ['partial', 'c']);
  assert.deepEqual(collect(tail), []);
});

test('skipExisting starts at the end of what is there; a file that appears later is read whole', () => {
  const file = fresh();
  writeFileSync(file, 'old\n');
  const tail = new LogTail(file);
  tail.skipExisting();
  appendFileSync(file, 'new\n');
  assert.deepEqual(collect(tail), ['new']);
  const later = fresh();
  const tail2 = new LogTail(later);
  tail2.skipExisting();
  writeFileSync(later, 'first\n');
  assert.deepEqual(collect(tail2), ['first']);
});

test('a line longer than the bound is skipped up to its newline, across chunks, and the next lines are read', () => {
  const file = fresh();
  writeFileSync(file, `ok1\n${'x'.repeat(300_000)}\nok2\n${'y'.repeat(100)}`);
  const tail = new LogTail(file, { maxLineBytes: 1000 });
  assert.deepEqual(collect(tail), ['ok1', 'ok2']);
  assert.equal(tail.skippedLines, 1);
  appendFileSync(file, `${'y'.repeat(2000)}\nok3\n`);
  assert.deepEqual(collect(tail), ['ok3'], 'a partial line that grows past the bound is skipped too');
  assert.equal(tail.skippedLines, 2);
});

test('a poll reads at most its budget; the backlog comes in the next polls', () => {
  const file = fresh();
  writeFileSync(file, 'line\n'.repeat(100_000));
  const tail = new LogTail(file, { maxBytesPerPoll: 64 * 1024 });
  const counts: number[] = [];
  for (let read = -1; read !== 0; ) {
    let c = 0;
    read = tail.poll(() => c++);
    assert.ok(read <= 64 * 1024);
    counts.push(c);
  }
  assert.equal(
    counts.reduce((a, b) => a + b, 0),
    100_000,
  );
  assert.ok(counts.length > 7);
});

test('truncated in place: read again from the start', () => {
  const file = fresh();
  writeFileSync(file, 'one\ntwo\n');
  const tail = new LogTail(file);
  assert.deepEqual(collect(tail), ['one', 'two']);
  truncateSync(file, 0);
  appendFileSync(file, 'three\n');
  assert.deepEqual(collect(tail), ['three']);
});

test('rotated to <file>.1: the old file is drained to its end, then the new one is read from its start', () => {
  const file = fresh();
  writeFileSync(file, 'a1\na2\n');
  const tail = new LogTail(file);
  assert.deepEqual(collect(tail), ['a1', 'a2']);
  appendFileSync(file, 'a3\n'); // written before the rotation, not read yet
  renameSync(file, `${file}.1`);
  assert.deepEqual(collect(tail), ['a3'], 'between the rename and the new file');
  writeFileSync(file, 'b1\nb2\n');
  assert.deepEqual(collect(tail), ['b1', 'b2']);
  // Twice more, with lines in both files at the moment of the poll.
  appendFileSync(file, 'b3\n');
  renameSync(file, `${file}.1`);
  writeFileSync(file, 'c1\n');
  assert.deepEqual(collect(tail), ['b3', 'c1']);
});

test('NodeMetrics counts only well-formed operation lines with known verbs', async () => {
  const file = fresh();
  const m = new NodeMetrics();
  m.followCniLog(file);
  writeFileSync(
    file,
    [
      '{"msg":"operation","verb":"ADD","result":"ok","ms":40}',
      '{"msg":"operation","verb":"NOPE","ms":1}',
      '{"msg":"operation","verb":"DEL","result":"weird","ms":2}',
      '{"msg":"operation","verb":"ADD","ms":"slow"}',
      '"operation"',
      'null',
      '',
    ].join('\n'),
  );
  m.readCniLog();
  const text = await m.registry.metrics();
  assert.match(text, /virtnet_cni_operation_duration_seconds_count\{verb="ADD",result="ok"\} 1\n/u);
  assert.match(text, /virtnet_cni_operation_duration_seconds_count\{verb="DEL",result="ok"\} 1\n/u);
  assert.doesNotMatch(text, /NOPE|weird/u);
});

test(
  'a 300 MiB log (a 256 MiB line among real ones) adds a few MiB of memory, not its size, and every real line ' +
    'counts',
  () => {
    const file = fresh();
    const fd = openSync(file, 'w');
    const ops = (count: number) => '{"msg":"operation","verb":"ADD","result":"ok","ms":12}\n'.repeat(count);
    writeSync(fd, ops(1000));
    // 256 MiB of zeros without a newline (sparse: quick to make, real to read), then 40 MiB more of real lines.
    const hole = 256 * 1024 * 1024;
    ftruncateSync(fd, 1000 * 55 + hole);
    writeSync(fd, `\n${ops(10)}`, 1000 * 55 + hole);
    const block = ops(20_000);
    for (let i = 0; i < 40; i++) writeSync(fd, block);
    closeSync(fd);
    // A child process, so that its memory is the reader's alone.
    const target = `${file}.log`;
    const child = `
    import { renameSync } from 'node:fs';
    import { NodeMetrics } from ${JSON.stringify(resolve(import.meta.dirname, '..', '..', '..', 'controller/agent/node-metrics.ts'))};
    const metrics = new NodeMetrics();
    metrics.followCniLog(${JSON.stringify(target)}); // not there yet: once it appears, it is read from its start
    renameSync(${JSON.stringify(file)}, ${JSON.stringify(target)});
    const base = process.memoryUsage().rss;
    let peak = base;
    let polls = 0;
    while (metrics.readCniLog() > 0) { polls++; peak = Math.max(peak, process.memoryUsage().rss); }
    const text = await metrics.registry.metrics();
    const count = Number(/virtnet_cni_operation_duration_seconds_count\\{verb="ADD",result="ok"\\} (\\d+)/u.exec(text)?.[1]);
    process.stdout.write(JSON.stringify({ growthMiB: (peak - base) / 2 ** 20, count, polls }));
  `;
    const out = JSON.parse(
      execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], {
        encoding: 'utf8',
        timeout: 60_000,
      }),
    ) as { growthMiB: number; count: number; polls: number };
    assert.equal(out.count, 1000 + 10 + 40 * 20_000, 'every real line, before and after the huge one');
    assert.ok(out.growthMiB < 48, `the reader grew by ${out.growthMiB.toFixed(1)} MiB over ${out.polls} polls`);
    assert.ok(out.polls > 10, 'the backlog is read over several polls');
  },
);
