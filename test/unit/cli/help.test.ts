/** Every command explains itself (--help, help CMD: exit 0, an example) and refuses bad usage in one line (exit 2). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Command } from 'commander';
import { virtnetProgram } from '../../../controller/cli/program.ts';
import { clusterProgram, ROLES } from '../../../controller/cluster/roles.ts';
import { commandsOf } from '../../../controller/view/command.ts';
import { cluster, virtnet } from './run.ts';

/** Each command's words after "virtnet" ([] for the program), walked from the tree so a new command is covered. */
function paths(root: Command): string[][] {
  const pathOf = (c: Command): string[] => (c.parent ? [...pathOf(c.parent), c.name()] : []);
  return commandsOf(root).map(pathOf);
}

test('every virtnet command answers --help with its usage and an example, exit 0, on stdout only', async () => {
  const all = paths(virtnetProgram());
  assert.ok(all.length >= 16, `the tree has ${all.length} commands`);
  for (const path of all) {
    const r = await virtnet(...path, '--help');
    const text = r.out.join('\n');
    assert.equal(r.code, 0, `virtnet ${path.join(' ')} --help: ${r.err.join('\n')}`);
    assert.deepEqual(r.err, [], path.join(' '));
    assert.match(text, new RegExp(`^Usage: virtnet${path.map((w) => ` ${w}`).join('')} `, 'u'), path.join(' '));
    assert.match(text, /\nExamples:\n {2}# .+\n {2}(\S.*)?virtnet/u, `virtnet ${path.join(' ')} --help has no example`);
  }
});

test('help CMD is the same as CMD --help', async () => {
  for (const path of paths(virtnetProgram()).filter((p) => p.length === 1)) {
    const viaHelp = await virtnet('help', ...path);
    assert.equal(viaHelp.code, 0, path.join(' '));
    assert.deepEqual(viaHelp.out, (await virtnet(...path, '--help')).out, path.join(' '));
  }
});

test('virtnet with no command prints its help, exit 0', async () => {
  const r = await virtnet();
  assert.equal(r.code, 0);
  assert.match(r.out.join('\n'), /^Usage: virtnet \[options\] \[command\]/u);
});

test('an unknown flag is refused by its command: exit 2, one error line and a pointer to its help', async () => {
  for (const path of paths(virtnetProgram())) {
    const r = await virtnet(...path, '--no-such-flag');
    assert.equal(r.code, 2, `virtnet ${path.join(' ')} --no-such-flag`);
    assert.deepEqual(r.out, []);
    assert.deepEqual(
      r.err,
      ["error: unknown option '--no-such-flag'", `See 'virtnet${path.map((w) => ` ${w}`).join('')} --help'.`],
      path.join(' '),
    );
  }
});

test('flags of another command are refused (issue 14: get vmis --timeout abc --force --svg x)', async () => {
  const r = await virtnet('get', 'vmis', '--timeout', 'abc', '--force', '--svg', 'x');
  assert.deepEqual([r.code, r.err], [2, ["error: unknown option '--timeout'", "See 'virtnet get --help'."]]);
});

test('wrong arguments and values are usage errors, exit 2, in one line', async () => {
  const cases: Array<[string[], RegExp, string]> = [
    [['up'], /^error: missing required argument 'files'$/u, 'up'],
    [['images', 'extra'], /^error: too many arguments for 'images'/u, 'images'],
    [['up', '--timeout', 'abc', 'x.yaml'], /^error: option '--timeout <seconds>' argument 'abc' is invalid/u, 'up'],
    [['get', 'vmis', '-o', 'xml'], /^error: option '-o, --output <format>' argument 'xml' is invalid/u, 'get'],
    [['completion', 'tcsh'], /^error: command-argument value 'tcsh' is invalid/u, 'completion'],
    [['down'], /^error: down: give VMI names, or --all$/u, 'down'],
    [['describe', 'nad', 'x'], /^error: describe: "nad" is not a VMI kind/u, 'describe'],
  ];
  for (const [argv, line, cmd] of cases) {
    const r = await virtnet(...argv);
    assert.equal(r.code, 2, argv.join(' '));
    assert.equal(r.err.length, 2, `${argv.join(' ')}: ${r.err.join('\n')}`);
    assert.match(r.err[0]!, line, argv.join(' '));
    assert.equal(r.err[1], `See 'virtnet ${cmd} --help'.`);
  }
  const unknown = await virtnet('frobnicate');
  assert.deepEqual([unknown.code, unknown.err], [2, ["error: unknown command 'frobnicate'", "See 'virtnet --help'."]]);
});

test('virtnet controller|kubelet --help come from the cluster roles, without running the cluster binary', async () => {
  for (const role of ['controller', 'kubelet']) {
    const r = await virtnet(role, '--help');
    assert.equal(r.code, 0, role);
    assert.match(r.out.join('\n'), new RegExp(`^Usage: virtnet ${role} \\[options\\]`, 'u'));
    assert.match(r.out.join('\n'), /--kubeconfig <file>/u);
    const bad = await virtnet(role, '--bogus');
    assert.deepEqual([bad.code, bad.err[1]], [2, `See 'virtnet ${role} --help'.`]);
  }
});

test("virtnet-cluster: each role has its own --help with an example, and refuses other roles' flags", async () => {
  assert.deepEqual(
    clusterProgram().commands.map((c) => c.name()),
    [...ROLES],
  );
  for (const role of ROLES) {
    const r = await cluster(role, '--help');
    assert.equal(r.code, 0, role);
    assert.match(r.out.join('\n'), new RegExp(`^Usage: virtnet-cluster ${role} \\[options\\]`, 'u'));
    assert.match(r.out.join('\n'), /\nExamples:\n {2}# /u, role);
  }
  const wrongRole = await cluster('controller', '--node', 'n1');
  assert.deepEqual(wrongRole, {
    code: 2,
    out: [],
    err: ["error: unknown option '--node'", "See 'virtnet-cluster controller --help'."],
  });
  const bad = await cluster('node-agent', '--backend', 'carrier-pigeon');
  assert.equal(bad.code, 2);
  assert.match(bad.err[0]!, /argument 'carrier-pigeon' is invalid\. Allowed choices are auto, host-gw, vxlan/u);
  const port = await cluster('controller', '--metrics-port', '99999');
  assert.equal(port.code, 2);
  assert.match(port.err[0]!, /'99999' is invalid\. a TCP port, 1 to 65535/u);
  assert.equal((await cluster('--help')).code, 0);
  assert.equal((await cluster('no-such-role')).code, 2);
});
