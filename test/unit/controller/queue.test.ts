/** The controller's work queue: dedupe, one worker per key, backoff, the retry bound. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from '../../../controller/control/queue.ts';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

test('a key added many times is handled once; a key is never handled by two workers at once', async () => {
  const q = new WorkQueue();
  const seen: string[] = [];
  let inside = 0;
  let overlap = false;
  const run = q.run(async (k) => {
    if (++inside > 1 && k === 'a') overlap = true;
    seen.push(k);
    await tick(20);
    inside--;
  }, 1);
  q.add('a');
  q.add('a');
  q.add('b');
  q.add('a');
  await tick(10);
  q.add('a'); // while 'a' may be active: handled again afterwards, once
  await tick(120);
  q.stop();
  await run;
  assert.equal(overlap, false);
  assert.deepEqual(
    seen.filter((k) => k === 'b'),
    ['b'],
  );
  assert.ok(seen.filter((k) => k === 'a').length <= 2, seen.join(','));
});

test('a failing key is retried with exponential backoff, then dropped after the bound', async () => {
  const dropped: string[] = [];
  const q = new WorkQueue({ baseDelayMs: 5, maxRetries: 3, onDrop: (k) => dropped.push(k) });
  assert.deepEqual(
    [1, 2, 3, 4].map((n) => q.backoff(n)),
    [5, 10, 20, 40],
  );
  let tries = 0;
  const run = q.run(async () => {
    tries++;
    throw new Error('boom');
  });
  q.add('x');
  await tick(150);
  q.stop();
  await run;
  assert.equal(tries, 4);
  assert.deepEqual(dropped, ['x']);
});

test('the backoff is capped', () => {
  assert.equal(new WorkQueue({ baseDelayMs: 100, maxDelayMs: 1000 }).backoff(20), 1000);
});
