/**
 * kubectl virtnet's manners, in-process: every command's --help (usage and an
 * example, exit 0), one line and a pointer to that command's help for an
 * unknown flag (exit 2), and the version. None of these reaches a cluster:
 * the kubeconfig points at nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { main } from '../../../controller/kubectl/main.ts';
import { pluginProgram } from '../../../controller/kubectl/program.ts';
import { commandPath, commandsOf, examplesOf } from '../../../controller/view/command.ts';
import { VERSION } from '../../../lib/version.ts';

const NOWHERE = ['--kubeconfig', '/nonexistent/kubeconfig'];

async function run(...args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main([...NOWHERE, ...args], { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

/** The words after `kubectl virtnet` that name each command of the tree ([] for the plugin itself). */
const COMMANDS = commandsOf(pluginProgram()).map((cmd) => commandPath(cmd).split(' ').slice(2));

test('the tree has the commands the plugin documents', () => {
  assert.deepEqual(
    COMMANDS.map((words) => words.join(' ')),
    ['', 'get', 'describe', 'topology', 'validate', 'console', 'version'],
  );
});

test('every command answers --help with its usage and an example, exit 0, on stdout', async () => {
  for (const words of COMMANDS) {
    const { code, out, err } = await run(...words, '--help');
    const text = out.join('\n');
    const path = ['kubectl virtnet', ...words].join(' ');
    assert.equal(code, 0, path);
    assert.deepEqual(err, [], path);
    assert.match(text, new RegExp(`^Usage: ${path} `, 'u'), path);
    assert.match(text, /\nExamples:\n {2}# .+\n {2}kubectl virtnet /u, path);
    assert.match(text, /--kubeconfig <file>/u, `${path}: the global options are shown`);
  }
});

test('every command has an example that runs that command', () => {
  for (const cmd of commandsOf(pluginProgram())) {
    const examples = examplesOf(cmd);
    assert.ok(examples.length > 0, commandPath(cmd));
    for (const e of examples) assert.ok(e.line.startsWith(commandPath(cmd)), `${commandPath(cmd)}: ${e.line}`);
  }
});

test('-h is --help; help CMD shows the command', async () => {
  assert.deepEqual((await run('get', '-h')).out, (await run('get', '--help')).out);
  const help = await run('help', 'topology');
  assert.equal(help.code, 0);
  assert.match(help.out.join('\n'), /^Usage: kubectl virtnet topology /u);
});

test("an unknown flag: exit 2, one error line and a pointer to that command's help", async () => {
  for (const words of COMMANDS) {
    const { code, out, err } = await run(...words, '--bogus');
    const path = ['kubectl virtnet', ...words].join(' ');
    assert.equal(code, 2, path);
    assert.deepEqual(out, [], path);
    assert.deepEqual(err, ["error: unknown option '--bogus'", `See '${path} --help'.`], path);
  }
});

test('other usage mistakes: exit 2, the same two lines', async () => {
  const cases: Array<[string[], RegExp, string]> = [
    [['frobnicate'], /^error: unknown command 'frobnicate'$/u, 'kubectl virtnet'],
    [['get'], /^error: missing required argument 'type'$/u, 'kubectl virtnet get'],
    [
      ['get', 'vmis', '-o', 'xml'],
      /^error: option '-o, --output <format>' argument 'xml' is invalid/u,
      'kubectl virtnet get',
    ],
    [
      ['get', 'vmis', 'web', '-A'],
      /^error: a resource cannot be retrieved by name across all namespaces$/u,
      'kubectl virtnet get',
    ],
    [['describe', 'vmi'], /^error: describe: give one VMI name \(describe vmi NAME\)$/u, 'kubectl virtnet describe'],
    [['describe', 'web', '-o', 'wide'], /^error: option .* argument 'wide' is invalid/u, 'kubectl virtnet describe'],
    [['topology', 'a', 'b'], /^error: too many arguments for 'topology'/u, 'kubectl virtnet topology'],
    [['topology', 'web', '-A'], /^error: unknown option '-A'$/u, 'kubectl virtnet topology'],
    [['validate'], /^error: missing required argument 'files'$/u, 'kubectl virtnet validate'],
  ];
  for (const [args, line, path] of cases) {
    const { code, err } = await run(...args);
    assert.equal(code, 2, args.join(' '));
    assert.equal(err.length, 2, `${args.join(' ')}: ${err.join(' | ')}`);
    assert.match(err[0]!, line, args.join(' '));
    assert.equal(err[1], `See '${path} --help'.`, args.join(' '));
  }
});

test('--version and version print the version of lib/version.ts, exit 0', async () => {
  assert.match(VERSION, /^\d+\.\d+\.\d+/u);
  assert.deepEqual(await run('--version'), { code: 0, out: [`kubectl-virtnet ${VERSION}`], err: [] });
  assert.deepEqual(await run('version'), { code: 0, out: [`kubectl-virtnet ${VERSION}`], err: [] });
  const json = await run('version', '-o', 'json');
  assert.deepEqual(JSON.parse(json.out.join('\n')), { kubectlVirtnet: VERSION });
  assert.equal((await run('version', '-o', 'yaml')).out.join('\n'), `kubectlVirtnet: ${VERSION}`);
});

test('no command: the usage on stderr, exit 2', async () => {
  const { code, out, err } = await run();
  assert.equal(code, 2);
  assert.deepEqual(out, []);
  assert.match(err.join('\n'), /^Usage: kubectl virtnet \[options\] \[command\]/u);
});

test('a kubeconfig that cannot be read: one line, exit 1', async () => {
  const { code, err } = await run('get', 'vmis');
  assert.equal(code, 1);
  assert.equal(err.length, 1);
  assert.match(err[0]!, /^error: cannot load kubeconfig: /u);
});
