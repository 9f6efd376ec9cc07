/** Locks between processes: exclusion, a dead holder's lock taken over, a living holder's waited for or refused. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LockBusyError, reap, withLock } from '../../../lib/lockfile.ts';
import { startTime } from '../../../lib/process.ts';

test('withLock: one holder at a time; the lock is gone afterwards, also after a throw', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'virtnet-test-lock-'));
  try {
    const file = join(dir, 'a.lock');
    const order: string[] = [];
    await Promise.all(
      [1, 2, 3].map((i) =>
        withLock(file, async () => {
          order.push(`in${i}`);
          await new Promise((r) => setTimeout(r, 30));
          order.push(`out${i}`);
        }),
      ),
    );
    for (let i = 0; i < order.length; i += 2) assert.equal(order[i]!.slice(2), order[i + 1]!.slice(3), order.join(' '));
    await assert.rejects(
      withLock(file, async () => {
        throw new Error('boom');
      }),
      /boom/u,
    );
    assert.equal(existsSync(file), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("withLock: a dead holder's lock is taken over; a living holder's is refused with waitMs 0", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'virtnet-test-lock-'));
  try {
    const file = join(dir, 'b.lock');
    const dead = spawnSync('true').pid!; // exited: its pid names nobody now
    writeFileSync(file, `${dead} 12345\n`);
    assert.equal(await withLock(file, async () => 'taken', 0), 'taken');
    writeFileSync(file, `${process.pid} ${startTime(process.pid)}\n`); // a holder that lives: this very process
    await assert.rejects(
      withLock(file, async () => 'never', 0),
      LockBusyError,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('startTime names a process: ours is stable, a dead pid has none', () => {
  assert.equal(startTime(process.pid), startTime(process.pid));
  assert.match(startTime(process.pid)!, /^\d+$/u);
  assert.equal(startTime(2 ** 22 + 7), undefined);
});

test(
  'reap: removes the stale lock ' +
    'it judged, never a fresh ' +
    "one made since; a dead reaper's " +
    'marker is reaped in turn',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'virtnet-test-lock-'));
    try {
      const file = join(dir, 'c.lock');
      const dead = spawnSync('true').pid!;
      const stale = `${dead} 12345 00000000000000aa\n`;
      writeFileSync(file, stale);
      assert.equal(reap(file, stale), true);
      assert.equal(existsSync(file), false, 'the stale lock is gone');
      // A slow contender that judged the same stale lock comes late: the fresh lock made meanwhile stays.
      const fresh = `${process.pid} ${startTime(process.pid)} 00000000000000bb\n`;
      writeFileSync(file, fresh);
      assert.equal(reap(file, stale), true);
      assert.equal(readFileSync(file, 'utf8'), fresh);
      // A reaper that died holding its marker: the first call reaps the marker, the next the lock.
      writeFileSync(file, stale);
      writeFileSync(
        `${file}.reap-${createHash('sha256').update(stale).digest('hex').slice(0, 12)}`,
        `${dead} 12345 00000000000000cc\n`,
      );
      assert.equal(reap(file, stale), false);
      assert.equal(readFileSync(file, 'utf8'), stale, 'not while another reaper held the marker');
      assert.equal(reap(file, stale), true);
      assert.deepEqual(readdirSync(dir), [], 'no marker and no temporary file is left');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'withLock: an empty or damaged ' +
    'lock file names no living ' +
    'holder and is taken over; release ' +
    "leaves another's lock alone",
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'virtnet-test-lock-'));
    try {
      const file = join(dir, 'd.lock');
      for (const content of ['', 'garbage\n', `${process.pid}\n`]) {
        writeFileSync(file, content);
        assert.equal(
          await withLock(file, async () => readFileSync(file, 'utf8').split(' ')[0], 0),
          String(process.pid),
          JSON.stringify(content),
        );
      }
      const other = `${process.pid} ${startTime(process.pid)} 00000000000000dd\n`;
      await withLock(file, async () => writeFileSync(file, other), 0);
      assert.equal(readFileSync(file, 'utf8'), other);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
