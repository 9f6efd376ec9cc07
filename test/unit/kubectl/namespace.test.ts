/**
 * kubectl virtnet's namespace: -n is a DNS-1123 label (an empty one would list every namespace), validate -n refuses
 * an object of another namespace as kubectl apply -n does, and completion hands typed values to kubectl joined to
 * their flags. None of these reaches a cluster: the kubeconfig points at nothing.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubectlGetArgv } from '../../../controller/kubectl/complete.ts';
import { main } from '../../../controller/kubectl/main.ts';

const NOWHERE = ['--kubeconfig', '/nonexistent/kubeconfig'];
const dir = mkdtempSync(join(tmpdir(), 'kubectl-virtnet-ns-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function run(...args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main([...NOWHERE, ...args], { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

/** examples/vm-bridge.yaml, in `namespace` when given. */
function manifest(namespace?: string): string {
  const example = join(import.meta.dirname, '..', '..', '..', 'examples', 'vm-bridge.yaml');
  const file = join(dir, `vm-${namespace ?? 'none'}.yaml`);
  const ns = namespace ? `  namespace: ${namespace}\n` : '';
  writeFileSync(file, readFileSync(example, 'utf8').replace('name: vm-bridge\n', `name: vm-bridge\n${ns}`));
  return file;
}

test("-n: a DNS-1123 label, else exit 2 naming the flag, the value and the rule ('' is not all)", async () => {
  for (const bad of ['', 'BAD', 'a/b', '..']) {
    for (const argv of [
      ['-n', bad, 'get', 'vmis'],
      ['get', 'vmis', `--namespace=${bad}`],
    ]) {
      const { code, out, err } = await run(...argv);
      assert.equal(code, 2, argv.join(' '));
      assert.deepEqual(out, []);
      assert.match(err[0]!, /^error: option '-n, --namespace <namespace>' argument '.*' is invalid\. /u, bad);
      assert.match(err[0]!, /a namespace is a DNS-1123 label: /u, bad);
    }
  }
});

test('validate -n: an object of another namespace is refused; without -n the objects keep theirs', async () => {
  const refused = await run('-n', 'team', 'validate', manifest('apps'));
  assert.equal(refused.code, 1);
  assert.match(refused.err.join('\n'), /metadata\.namespace: "apps" does not match the namespace "team" given by -n/u);
  const same = await run('-n', 'apps', 'validate', '-o', 'json', manifest('apps'));
  assert.equal(same.code, 0, same.err.join('\n'));
  const kept = await run('validate', '-o', 'json', manifest('apps'));
  assert.equal(JSON.parse(kept.out.join('\n')).metadata.namespace, 'apps', kept.err.join('\n'));
  const placed = await run('-n', 'team', 'validate', '-o', 'json', manifest());
  assert.equal(JSON.parse(placed.out.join('\n')).metadata.namespace, 'team', placed.err.join('\n'));
});

test('completion asks kubectl with each typed value joined to its flag, so "-x" stays a value', () => {
  const flags = { namespace: '-n', kubeconfig: '--context=x', context: '-A' };
  assert.deepEqual(kubectlGetArgv('virtualmachineinstances', flags), [
    'kubectl',
    'get',
    'virtualmachineinstances.virtnet.io',
    '-o',
    'name',
    '--namespace=-n',
    '--kubeconfig=--context=x',
    '--context=-A',
  ]);
  assert.deepEqual(kubectlGetArgv('namespaces', { ...flags, allNamespaces: true }).slice(3), [
    '-o',
    'name',
    '--kubeconfig=--context=x',
    '--context=-A',
  ]);
});
