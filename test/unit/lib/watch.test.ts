/** lib/watch.ts: woken by its own file's change (a rename over it included), not by its neighbours'. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nextFileChange, onFileChange } from '../../../lib/watch.ts';

const dir = mkdtempSync(join(tmpdir(), 'virtnet-test-watch-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a rename over the file wakes the waiter long before its poll', async () => {
  const t0 = performance.now();
  const woken = nextFileChange(dir, 'status.json', 5000);
  setTimeout(() => {
    writeFileSync(join(dir, 'status.json.tmp'), '{}');
    renameSync(join(dir, 'status.json.tmp'), join(dir, 'status.json'));
  }, 20);
  await woken;
  assert.ok(performance.now() - t0 < 1000, `woken after ${(performance.now() - t0).toFixed(0)} ms`);
});

test("another file's changes do not count; the poll still calls at its pace", async () => {
  let calls = 0;
  const stop = onFileChange(dir, 'leases', 200, () => calls++);
  for (let i = 0; i < 20; i++) writeFileSync(join(dir, 'console.log'), `line ${i}\n`, { flag: 'a' });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(calls, 0, 'the console log woke nobody');
  writeFileSync(join(dir, 'leases'), 'lease');
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(calls >= 1, 'its own file did');
  const before = calls;
  await new Promise((r) => setTimeout(r, 450));
  stop();
  assert.ok(calls - before >= 1, 'and the poll went on beneath');
});
