/**
 * A pod cgroup contains everything, also what escapes its parent (issue 11,
 * defect 6): a double-forked daemon, reparented away from the launcher, is
 * killed with the cgroup, and the cgroup is gone afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { cgroupPids, createPodCgroup, killCgroup } from '../../../lib/cgroup.ts';

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** The command name of a live process, or undefined once it has exited. */
function commOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Both sleeps are in: the intermediate `sh -c` of setsid has exited, so every member is a sleep. */
function settled(pids: number[]): boolean {
  return pids.length === 2 && pids.every((p) => commOf(p) === 'sleep');
}

test('cgroup.kill takes every member, a reparented grandchild included; a second kill is a no-op', async () => {
  const path = createPodCgroup(`vnt-cg-${randomBytes(3).toString('hex')}`);
  // The machines this runs on have cgroup v2 beside the v1 controllers (a hybrid mount).
  assert.ok(path, 'cgroup v2 with cgroup.kill (Linux 5.14) is mounted');
  // The shell joins first, then forks: its children are born inside (cgroups(7)).
  const script = `echo $$ > ${join(path, 'cgroup.procs')}; setsid sh -c 'sleep 300 & exit 0'; exec sleep 300`;
  const child = spawn('sh', ['-c', script], { stdio: 'ignore' });
  let pids: number[] = [];
  // Polled until settled: the short-lived `sh -c` between setsid and its sleep can be one of two members.
  for (let i = 0; i < 100 && !settled(pids); i++) {
    await new Promise((r) => setTimeout(r, 20));
    pids = cgroupPids(path);
  }
  assert.ok(settled(pids), `the shell (now sleep) and the escaped sleep: ${pids.join(' ')}`);
  assert.ok(
    pids.some((p) => parentOf(p) !== child.pid && p !== child.pid),
    'one of them no longer has the shell as parent',
  );
  const exited = new Promise((r) => child.on('exit', r));
  await killCgroup(path, 5000);
  await exited;
  assert.equal(existsSync(path), false, 'the cgroup is removed');
  for (const p of pids)
    assert.equal(
      existsSync(`/proc/${p}/cmdline`) && readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z',
      false,
      `pid ${p} is gone`,
    );
  await killCgroup(path, 5000);
});
