/**
 * A process is named by pid and start time; pid 1 is a process like any other (in a container the node agent, and
 * the CNI daemon in it, is pid 1: its in-flight marks and its locks must hold).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSameProcess, startTime } from '../../../lib/process.ts';

test('isSameProcess: pid 1 with its own start time is alive; with another, or none, it is not', () => {
  const start = startTime(1);
  assert.ok(start, 'pid 1 has a start time');
  assert.equal(isSameProcess(1, start), true);
  assert.equal(isSameProcess(1, `${start}1`), false);
  assert.equal(isSameProcess(1, undefined), false);
  assert.equal(isSameProcess(0, start), false);
  assert.equal(isSameProcess(process.pid, startTime(process.pid)), true);
});
