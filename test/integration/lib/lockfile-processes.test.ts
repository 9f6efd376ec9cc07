/**
 * The lock between processes, under real contention: 12 processes × 40
 * rounds, and holders killed with SIGKILL while holding (their stale lock
 * is taken over by contenders that all judge it stale at once). At most
 * one holder may exist at any moment, and no round may be lost.
 * VIRTNET_TEST_LOCK_MODULE runs it against another implementation (a path
 * to a module exporting withLock), e.g. the one before issue 11's fix.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const WORKERS = 12;
const ROUNDS = 40;
const VICTIMS = 6;
const lockModule = resolve(process.env.VIRTNET_TEST_LOCK_MODULE ?? 'lib/lockfile.ts');
const worker = resolve('test/integration/lib/lock-worker.ts');

function run(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', worker, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code, signal) => done({ code, signal, stderr }));
  });
}

/** Replays the log: who held the lock at each moment. */
function holders(log: string[]): { overlaps: number; most: number; leaves: Map<string, number> } {
  const inside = new Set<string>();
  const leaves = new Map<string, number>();
  let overlaps = 0;
  let most = 0;
  for (const line of log) {
    const [what, pid] = line.split(' ') as [string, string];
    if (what === 'enter') {
      if (inside.size) overlaps++;
      inside.add(pid);
      most = Math.max(most, inside.size);
    } else if (what === 'overlap') overlaps++;
    else {
      inside.delete(pid);
      if (what === 'leave') leaves.set(pid, (leaves.get(pid) ?? 0) + 1);
    }
  }
  return { overlaps, most, leaves };
}

test(`lock: ${WORKERS} processes × ${ROUNDS} rounds and ${VICTIMS} holders killed while holding: one holder at any ` +
  `moment, no round lost`, {
  timeout: 60_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'virtnet-test-lockprocs-'));
  try {
    const lock = join(dir, 'vmi.lock');
    const log = join(dir, 'log');
    writeFileSync(log, '');
    // A dead holder's lock to begin with: every contender finds it stale at once.
    writeFileSync(lock, `${spawnSync('true').pid} 12345 0000000000000000\n`);
    const args = (rounds: number, mode: string) => [lockModule, lock, log, join(dir, 'inside'), String(rounds), mode];
    const runs = await Promise.all([
      ...Array.from({ length: WORKERS }, () => run(args(ROUNDS, 'hold'))),
      ...Array.from({ length: VICTIMS }, () => run(args(1, 'die'))),
    ]);
    const workers = runs.slice(0, WORKERS);
    for (const r of workers) assert.equal(r.code, 0, r.stderr);
    for (const r of runs.slice(WORKERS)) assert.equal(r.signal, 'SIGKILL', r.stderr);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    const { overlaps, most, leaves } = holders(lines);
    assert.equal(lines.filter((l) => l.startsWith('die ')).length, VICTIMS, 'every victim died holding the lock');
    assert.deepEqual({ overlaps, most }, { overlaps: 0, most: 1 }, 'at most one holder at any moment');
    assert.deepEqual([...leaves.values()], Array(WORKERS).fill(ROUNDS), 'every round of every worker completed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
