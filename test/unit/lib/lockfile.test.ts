/** Locks between processes: exclusion, a dead holder's lock taken over, a living holder's waited for or refused. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LockBusyError, withLock } from '../../../lib/lockfile.ts';
import { startTime } from '../../../lib/process.ts';

test('withLock: one holder at a time; the lock is gone afterwards, also after a throw', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'virtnet-test-lock-'));
  try {
    const file = join(dir, 'a.lock');
    const order: string[] = [];
    await Promise.all([1, 2, 3].map((i) => withLock(file, async () => {
      order.push(`in${i}`);
      await new Promise((r) => setTimeout(r, 30));
      order.push(`out${i}`);
    })));
    for (let i = 0; i < order.length; i += 2) assert.equal(order[i]!.slice(2), order[i + 1]!.slice(3), order.join(' '));
    await assert.rejects(withLock(file, async () => { throw new Error('boom'); }), /boom/u);
    assert.equal(existsSync(file), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('withLock: a dead holder\'s lock is taken over; a living holder\'s is refused with waitMs 0', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'virtnet-test-lock-'));
  try {
    const file = join(dir, 'b.lock');
    const dead = spawnSync('true').pid!; // exited: its pid names nobody now
    writeFileSync(file, `${dead} 12345\n`);
    assert.equal(await withLock(file, async () => 'taken', 0), 'taken');
    writeFileSync(file, `${process.pid} ${startTime(process.pid)}\n`); // a holder that lives: this very process
    await assert.rejects(withLock(file, async () => 'never', 0), LockBusyError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('startTime names a process: ours is stable, a dead pid has none', () => {
  assert.equal(startTime(process.pid), startTime(process.pid));
  assert.match(startTime(process.pid)!, /^\d+$/u);
  assert.equal(startTime(2 ** 22 + 7), undefined);
});
