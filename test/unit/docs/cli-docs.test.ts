/** docs/cli.md is what the parsers say, and every command line the README and docs/ show exists. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { virtnetProgram } from '../../../controller/cli/program.ts';
import { clusterProgram } from '../../../controller/cluster/roles.ts';
import { pluginProgram } from '../../../controller/kubectl/program.ts';
import { CLI_DOC, cliDocs } from '../../../scripts/cli-docs.ts';
import { badTokens, checkDocLines, fencedLines, type Program } from './command-lines.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');

const programs = (): Program[] => [
  { prefix: /^kubectl\s+virtnet(?=\s|$)/u, root: pluginProgram() },
  { prefix: /^(\S*\/)?virtnet-cluster(?=\s|$)/u, root: clusterProgram() },
  { prefix: /^(node\s+)?(\S*\/)?virtnet(?=\s|$)/u, root: virtnetProgram() },
];

test('docs/cli.md is what `npm run docs:cli` generates from the parsers (run it after changing a command)', () => {
  assert.equal(readFileSync(CLI_DOC, 'utf8'), cliDocs());
});

test('the checker finds unknown commands and flags, and takes flag values and help CMD', () => {
  const v = virtnetProgram();
  assert.deepEqual(badTokens(v, ['-n', 'team', 'up', '--no-wait', 'a.yaml']), []);
  assert.deepEqual(badTokens(v, ['get', 'vmis', '-o', 'wide', '-A']), []);
  assert.deepEqual(badTokens(v, ['help', 'up']), []);
  assert.deepEqual(badTokens(v, ['start', 'x']), ["start: no such command of 'virtnet'"]);
  assert.deepEqual(badTokens(v, ['get', 'vmis', '--svg', 'x']), ["--svg: not a flag of 'virtnet get'"]);
  assert.deepEqual(
    checkDocLines(
      [
        { file: 'README.md', line: 3, text: '$ sudo virtnet up --wait x.yaml | tee log' },
        { file: 'README.md', line: 4, text: 'kubectl virtnet get vmis -A' },
        { file: 'README.md', line: 5, text: 'virtnet-cluster node-agent --node a --image x' },
        { file: 'README.md', line: 6, text: 'echo virtnet up' },
      ],
      programs(),
    ),
    [
      "README.md:3: --wait: not a flag of 'virtnet up'",
      "README.md:5: --image: not a flag of 'virtnet-cluster node-agent'",
    ],
  );
});

test('every virtnet, virtnet-cluster and kubectl virtnet line in README.md and docs/*.md exists', () => {
  const files = [
    'README.md',
    ...readdirSync(join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
  const lines = files.flatMap((f) => fencedLines(f, readFileSync(join(ROOT, f), 'utf8')));
  assert.ok(
    lines.some((l) => /virtnet up/u.test(l.text)),
    'the docs show `virtnet up` somewhere',
  );
  assert.deepEqual(checkDocLines(lines, programs()), []);
});
