/**
 * virtnet-launcher's own answers, from the built bundle: --help (usage of
 * each verb and an example, exit 0, also after a verb), --version, and a
 * usage error (exit 2, one line and the pointer to --help) for no verb or an
 * unknown one. None of these starts anything.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { VERSION } from '../../../lib/version.ts';

const LAUNCHER = join(import.meta.dirname, '..', '..', '..', 'dist', 'launcher', 'virtnet-launcher');

function run(...args: string[]): { code: number | null; out: string; err: string } {
  assert.ok(existsSync(LAUNCHER), `${LAUNCHER} is built by npm run build`);
  const r = spawnSync(LAUNCHER, args, { encoding: 'utf8', input: '' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('--help: each verb with its options and an example, exit 0; the same after a verb', () => {
  const help = run('--help');
  assert.equal(help.code, 0);
  assert.equal(help.err, '');
  assert.match(help.out, /^Usage: virtnet-launcher run\|teardown\|console \[options\]\n/u);
  for (const verb of ['run --spec FILE --state-dir DIR', 'teardown --state-dir DIR', 'console --state-dir DIR'])
    assert.ok(help.out.includes(`\n  ${verb}`), verb);
  assert.match(help.out, /\nExamples:\n {2}# .+\n {2}virtnet-launcher run --spec /u);
  assert.deepEqual(run('-h'), help);
  assert.deepEqual(run('run', '--help'), help, 'no VM is started for run --help');
  assert.deepEqual(run('teardown', '-h'), help);
});

test('--version: the version of lib/version.ts', () => {
  assert.deepEqual(run('--version'), { code: 0, out: `virtnet-launcher ${VERSION}\n`, err: '' });
});

test('no verb or an unknown one: exit 2, one error line and the pointer to --help', () => {
  assert.deepEqual(run(), {
    code: 2,
    out: '',
    err: "error: no command given; use run, teardown or console\nSee 'virtnet-launcher --help'.\n",
  });
  assert.deepEqual(run('start'), {
    code: 2,
    out: '',
    err: "error: unknown command 'start'; use run, teardown or console\nSee 'virtnet-launcher --help'.\n",
  });
});
