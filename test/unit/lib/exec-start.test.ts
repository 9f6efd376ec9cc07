/**
 * start() with deadlineFromFinish: a spare child waits for its input past
 * its timeout, and the timeout then counts from finish() (lib/iproute.ts
 * keeps such a spare ip(8) for the CNI daemon).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExecError, start } from '../../../lib/exec.ts';

test('a spare waits past its timeout for its input, then runs with it', async () => {
  const spare = start(['cat'], { deadlineFromFinish: true, timeoutMs: 100 });
  await sleep(300);
  assert.equal(spare.exited, false, 'still waiting');
  const { stdout } = await spare.finish('batch\n');
  assert.equal(stdout, 'batch\n');
  assert.equal(spare.exited, true);
});

test('the timeout counts from finish(): a child that hangs on is killed', async () => {
  const t0 = Date.now();
  const spare = start(['sleep', '30'], { deadlineFromFinish: true, timeoutMs: 200 });
  await assert.rejects(
    spare.finish(''),
    (e: unknown) => e instanceof ExecError && /killed by SIGKILL/u.test(e.message),
  );
  assert.ok(Date.now() - t0 < 5000, 'killed at its deadline, not after 30 s');
});

test('without it, the timeout counts from the start, input or not', async () => {
  const child = start(['cat'], { timeoutMs: 100 });
  await sleep(400);
  assert.equal(child.exited, true, 'killed while it waited');
  await assert.rejects(child.finish('late'), /killed by SIGKILL/u);
});

test('exited tells a spare that died while it waited', async () => {
  const spare = start(['true'], { deadlineFromFinish: true });
  for (const end = Date.now() + 5000; !spare.exited && Date.now() < end; ) await sleep(10);
  assert.equal(spare.exited, true);
  await spare.finish('');
});
