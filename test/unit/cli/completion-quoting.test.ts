/**
 * The completion scripts' quoting: in bash's and zsh's single quotes a backslash is literal, so it stays single;
 * fish's single quotes read \\ and \' as escapes, so only fish doubles it. A description with a backslash and a
 * quote comes out of each shell as written.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { Command } from 'commander';
import { completionScript } from '../../../controller/view/completion.ts';

const WHAT = String.raw`the back\slash it's`;

function program(): Command {
  return new Command('prog').addCommand(new Command('sub').description(WHAT)).option('--flag', WHAT);
}

test("bash and zsh: single quotes with the backslash as it is, and ' closed and reopened", () => {
  const zsh = completionScript(program(), 'zsh');
  const entries = zsh.split('\n').find((l) => l.includes("('') entries="));
  assert.ok(entries, zsh);
  // zsh's single quotes are POSIX ones (without RC_QUOTES): bash reads the array the same way.
  const list = entries.replace(/^\s*\(''\) /u, '').replace(/ ;;$/u, '');
  const read = spawnSync('bash', ['-c', `${list}; printf '%s\\n' "\${entries[@]}"`], { encoding: 'utf8' });
  assert.equal(read.status, 0, read.stderr);
  assert.deepEqual(read.stdout.trimEnd().split('\n'), [
    `sub:${WHAT}`,
    'help:display help for command',
    `--flag:${WHAT}`,
    '--help:display help for command',
    '-h:display help for command',
  ]);
  assert.ok(!completionScript(program(), 'bash').includes('\\\\'), 'bash: no doubled backslash');
});

test('fish: the backslash doubled and the quote escaped, as fish reads its single quotes', () => {
  const fish = completionScript(program(), 'fish');
  assert.ok(fish.includes(String.raw`-d 'the back\\slash it\'s'`), fish);
});
