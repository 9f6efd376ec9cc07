/**
 * kubectl_complete-virtnet: cobra's completion protocol (candidates one per
 * line, "word<TAB>description", then ":<directive>"), in-process with names
 * from memory, then the built executable, then the real kubectl asking it,
 * as a shell's TAB does (`kubectl __complete virtnet …`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { completeWords } from '../../../controller/kubectl/complete.ts';
import type { LookupFlags, NameSource } from '../../../controller/kubectl/completion.ts';

const DIST = join(import.meta.dirname, '..', '..', '..', 'dist', 'cluster');
const BUNDLE = join(DIST, 'kubectl_complete-virtnet');

/** Names from memory, recording where each lookup pointed. */
function names(asked: Array<{ r: string; flags: LookupFlags }> = []): NameSource {
  const known: Record<string, string[]> = {
    virtualmachineinstances: ['web', 'db'],
    virtualmachines: ['db'],
    'network-attachment-definitions': ['lan'],
    namespaces: ['default', 'team'],
  };
  return async (r, flags) => {
    asked.push({ r, flags });
    return known[r] ?? [];
  };
}

/** Candidates (without descriptions) and the directive of one completion. */
async function complete(...words: string[]): Promise<{ words: string[]; directive: string }> {
  const lines = (await completeWords(words, names())).trimEnd().split('\n');
  return { words: lines.slice(0, -1).map((l) => l.split('\t')[0]!), directive: lines.at(-1)! };
}

test('the commands, each with its description, then :4 (no file completion)', async () => {
  const text = await completeWords([''], names());
  const lines = text.split('\n');
  assert.equal(text.at(-1), '\n');
  assert.equal(lines.at(-2), ':4');
  assert.match(lines[0]!, /^get\tlist VMIs, VMs or NetworkAttachmentDefinitions/u);
  assert.deepEqual((await complete('')).words, ['get', 'describe', 'topology', 'validate', 'console', 'version']);
  assert.deepEqual(await complete('d'), { words: ['describe'], directive: ':4' });
  assert.deepEqual(await complete('__complete', 'to'), { words: ['topology'], directive: ':4' }, "cobra's verb first");
});

test('operands: resource types, then names of that type; files for validate', async () => {
  assert.deepEqual(await complete('get', ''), { words: ['vmis', 'vms', 'nads'], directive: ':4' });
  assert.deepEqual(await complete('get', 'n'), { words: ['nads'], directive: ':4' });
  assert.deepEqual(await complete('get', 'vmis', ''), { words: ['web', 'db'], directive: ':4' });
  assert.deepEqual(await complete('get', 'network-attachment-definitions', 'l'), { words: ['lan'], directive: ':4' });
  assert.deepEqual(await complete('describe', ''), { words: ['vmi', 'web', 'db'], directive: ':4' });
  assert.deepEqual(await complete('describe', 'vmi', 'w'), { words: ['web'], directive: ':4' });
  assert.deepEqual(await complete('console', ''), { words: ['web', 'db'], directive: ':4' });
  assert.deepEqual(await complete('topology', 'web', ''), { words: [], directive: ':4' });
  assert.deepEqual(await complete('validate', ''), { words: [], directive: ':0' }, 'the shell completes files');
});

test("flags: the command's and the global ones; values of -o, -n; files for --kubeconfig and --svg", async () => {
  assert.deepEqual((await complete('get', 'vmis', '--')).words, [
    '--output',
    '--all-namespaces',
    '--kubeconfig',
    '--context',
    '--namespace',
    '--version',
    '--help',
  ]);
  assert.deepEqual((await complete('topology', '--s')).words, ['--svg']);
  assert.ok((await complete('get', '-')).words.includes('-A'), 'a lone dash offers the short flags too');
  assert.deepEqual(await complete('get', 'vmis', '-o', ''), {
    words: ['json', 'yaml', 'wide', 'name'],
    directive: ':4',
  });
  assert.deepEqual(await complete('describe', 'web', '-o', ''), { words: ['json', 'yaml'], directive: ':4' });
  assert.deepEqual(await complete('-n', 't'), { words: ['team'], directive: ':4' });
  assert.deepEqual(await complete('--kubeconfig', ''), { words: [], directive: ':0' });
  assert.deepEqual(await complete('topology', 'web', '--svg', ''), { words: [], directive: ':0' });
});

test('names are looked up where the flags typed so far point', async () => {
  const asked: Array<{ r: string; flags: LookupFlags }> = [];
  await completeWords(['--context', 'lab', 'get', 'vms', '-n', 'team', ''], names(asked));
  await completeWords(['get', 'nads', '-A', '--kubeconfig=/k', ''], names(asked));
  assert.deepEqual(asked, [
    { r: 'virtualmachines', flags: { context: 'lab', namespace: 'team' } },
    { r: 'network-attachment-definitions', flags: { allNamespaces: true, kubeconfig: '/k' } },
  ]);
});

test('the built executable speaks the protocol, and the real kubectl completes through it', () => {
  assert.ok(existsSync(BUNDLE), `${BUNDLE} is built by npm run build`);
  // No cluster behind this kubeconfig: names come back empty, the rest as in-process.
  const env = { ...process.env, KUBECONFIG: '/nonexistent/kubeconfig', PATH: `${DIST}${delimiter}${process.env.PATH}` };
  assert.equal(execFileSync(BUNDLE, ['get', ''], { env, encoding: 'utf8' }), 'vmis\nvms\nnads\n:4\n');
  assert.equal(execFileSync(BUNDLE, ['get', 'vmis', ''], { env, encoding: 'utf8' }), ':4\n');
  // kubectl (1.26+) finds kubectl-virtnet and kubectl_complete-virtnet on PATH and passes the words after "virtnet".
  const viaKubectl = execFileSync('kubectl', ['__complete', 'virtnet', 'get', ''], { env, encoding: 'utf8' });
  assert.equal(viaKubectl, 'vmis\nvms\nnads\n:4\n');
  const commands = execFileSync('kubectl', ['__complete', 'virtnet', 'v'], { env, encoding: 'utf8' });
  assert.deepEqual(
    commands.split('\n').map((l) => l.split('\t')[0]),
    ['validate', 'version', ':4', ''],
  );
});
