/** What the commands print: -n for manifests, "No resources found" on stderr, version, completion scripts. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse } from 'yaml';
import { virtnetProgram } from '../../../controller/cli/program.ts';
import { completionScript, SHELLS } from '../../../controller/view/completion.ts';
import { virtnet } from './run.ts';

const PROJECT = join(import.meta.dirname, '..', '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'virtnet-cli-'));
const state = join(dir, 'state');
after(() => rmSync(dir, { recursive: true, force: true }));

function manifest(name: string, namespace?: string): string {
  const file = join(dir, `${name}.yaml`);
  const text = readFileSync(join(PROJECT, 'examples', 'vm-bridge.yaml'), 'utf8').replace(
    'name: vm-bridge\n',
    `name: ${name}\n${namespace ? `  namespace: ${namespace}\n` : ''}`,
  );
  writeFileSync(file, text);
  return file;
}

test('validate -n: objects without a namespace get it, as with kubectl apply -n (it showed "default")', async () => {
  const file = manifest('plain');
  const r = await virtnet('--state-dir', state, '-n', 'team', 'validate', '-o', 'yaml', file);
  assert.equal(r.code, 0, r.err.join('\n'));
  assert.equal(parse(r.out.join('\n')).metadata.namespace, 'team');
  const after = await virtnet('--state-dir', state, 'validate', '-n', 'team', '-o', 'json', file);
  assert.equal(JSON.parse(after.out.join('\n')).metadata.namespace, 'team', '-n after the command too');
  const none = await virtnet('--state-dir', state, 'validate', '-o', 'json', file);
  assert.equal(JSON.parse(none.out.join('\n')).metadata.namespace, 'default');
});

test('validate -n: an object naming another namespace is refused with the field and both namespaces', async () => {
  const file = manifest('other', 'apps');
  const r = await virtnet('--state-dir', state, '-n', 'team', 'validate', file);
  assert.equal(r.code, 1);
  assert.match(r.err.join('\n'), /metadata\.namespace: "apps" does not match the namespace "team" given by -n/u);
  const same = await virtnet('--state-dir', state, '-n', 'apps', 'validate', file);
  assert.equal(same.code, 0, same.err.join('\n'));
});

test('up -n refuses the same clash before creating anything', async () => {
  const r = await virtnet('--state-dir', state, '-n', 'team', 'up', manifest('other2', 'apps'));
  assert.equal(r.code, 1);
  assert.match(r.err.join('\n'), /does not match the namespace "team"[\s\S]*nothing was created: 1 problem/u);
});

test('"No resources found" goes to stderr in kubectl words, exit 0; -o json still prints an empty List', async () => {
  for (const kind of ['vmis', 'vms', 'nads']) {
    const r = await virtnet('--state-dir', state, 'get', kind);
    assert.deepEqual(r, { code: 0, out: [], err: ['No resources found in default namespace.'] }, kind);
  }
  assert.deepEqual(await virtnet('--state-dir', state, '-n', 'team', 'get', 'vms', '-o', 'name'), {
    code: 0,
    out: [],
    err: ['No resources found in team namespace.'],
  });
  assert.deepEqual(await virtnet('--state-dir', state, 'get', 'nads', '-A'), {
    code: 0,
    out: [],
    err: ['No resources found'],
  });
  const json = await virtnet('--state-dir', state, 'get', 'vmis', '-o', 'json');
  assert.deepEqual([json.code, JSON.parse(json.out.join('\n')).items], [0, []]);
  const missing = await virtnet('--state-dir', state, 'get', 'vmi', 'nope');
  assert.deepEqual(missing.err, ['Error from server (NotFound): vmis "nope" not found in namespace "default"']);
  assert.equal(missing.code, 1);
});

test('version and --version: each part with the package version, and the system tools or "not found"', async () => {
  const { version } = JSON.parse(readFileSync(join(PROJECT, 'package.json'), 'utf8')) as { version: string };
  const r = await virtnet('version', '-o', 'json');
  assert.equal(r.code, 0);
  const report = JSON.parse(r.out.join('\n')) as {
    virtnet: Array<{ name: string; version: string }>;
    tools: Array<{ name: string; version: string }>;
  };
  assert.deepEqual(
    report.virtnet.map((p) => p.name),
    ['virtnet', 'virtnet-bridge', 'virtnet-bridge-node', 'virtnet-launcher', 'virtnet-cluster', 'kubectl-virtnet'],
  );
  assert.equal(report.virtnet[0]!.version, version);
  for (const p of report.virtnet.slice(1))
    assert.ok([version, 'not built'].includes(p.version), `${p.name}: ${p.version}`);
  assert.deepEqual(
    report.tools.map((t) => t.name),
    ['qemu-system-x86_64', 'libvirtd', 'dnsmasq', 'nft', 'ip'],
  );
  for (const t of report.tools) assert.match(t.version, /^(\d[\w.+~-]*|not found)$/u, `${t.name}: ${t.version}`);
  const flag = await virtnet('--version');
  assert.equal(flag.code, 0);
  assert.match(
    flag.out.join('\n'),
    new RegExp(`^NAME +VERSION +WHAT\\nvirtnet +${version.replace(/\./gu, '\\.')} +CLI\\n`, 'u'),
  );
  assert.equal(parse((await virtnet('version', '-o', 'yaml')).out.join('\n')).virtnet[0].version, version);
});

test('completion scripts name every command and its flags, and are valid shell', async () => {
  const names = virtnetProgram().commands.map((c) => c.name());
  for (const shell of SHELLS) {
    const r = await virtnet('completion', shell);
    assert.equal(r.code, 0, shell);
    const script = r.out.join('\n');
    assert.equal(`${script}\n`, completionScript(virtnetProgram(), shell), shell);
    for (const name of names) assert.ok(script.includes(name), `${shell}: ${name}`);
    for (const flag of ['--all-namespaces', '--no-wait', '--svg', '--namespace'])
      assert.ok(script.includes(shell === 'fish' ? `-l ${flag.slice(2)}` : flag), `${shell}: ${flag}`);
  }
  const bash = spawnSync('bash', ['-n'], { input: completionScript(virtnetProgram(), 'bash'), encoding: 'utf8' });
  assert.equal(bash.status, 0, bash.stderr);
  // What bash offers after `virtnet get `: get's flags, not up's.
  const offered = spawnSync(
    'bash',
    [
      '-c',
      `${completionScript(virtnetProgram(), 'bash')}\n` +
        'COMP_WORDS=(virtnet get -); COMP_CWORD=2; _virtnet; declare -p COMPREPLY',
    ],
    { encoding: 'utf8' },
  );
  assert.match(offered.stdout, /--all-namespaces/u, offered.stderr);
  assert.doesNotMatch(offered.stdout, /--no-wait/u);
});
