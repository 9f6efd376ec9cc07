/**
 * What each command's action receives from its command line, with actions that only record their arguments:
 * describe's optional kind, --timeout's seconds, -n's rule, and the flags `virtnet controller|kubelet` hands on.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Actions, virtnetProgram } from '../../../controller/cli/program.ts';
import { runProgram, withManners } from '../../../controller/view/command.ts';
import { cluster, virtnet } from './run.ts';

interface Recorded {
  code: number;
  calls: Array<{ action: string; args: unknown[] }>;
  err: string[];
}

/** `virtnet ARGV` with actions that record how they were called (the Command objects left out). */
async function recorded(...argv: string[]): Promise<Recorded> {
  const calls: Recorded['calls'] = [];
  const actions = new Proxy({} as Actions, {
    get:
      (_, action: string) =>
      async (...args: unknown[]) => {
        calls.push({ action, args: args.filter((a) => typeof a !== 'object' || !a || !('commands' in a)) });
        return 0;
      },
  });
  const err: string[] = [];
  const program = withManners(virtnetProgram(actions), { out: () => undefined, err: (l) => err.push(l) });
  return { code: await runProgram(program, argv), calls, err };
}

test('describe NAME: the kind may be left out, as --help and docs/cli.md say', async () => {
  const alone = await recorded('describe', 'vm-bridge');
  assert.deepEqual([alone.code, alone.calls[0]?.action, alone.calls[0]?.args[0]], [0, 'describe', 'vm-bridge']);
  const withKind = await recorded('describe', 'vmi', 'vm-bridge', '-o', 'json');
  assert.deepEqual(withKind.calls[0]?.args.slice(0, 2), ['vm-bridge', { output: 'json' }]);
  const wrongKind = await recorded('describe', 'nad', 'x');
  assert.equal(wrongKind.code, 2);
  assert.match(wrongKind.err[0]!, /^error: describe: "nad" is not a VMI kind/u);
});

test('--timeout: decimal seconds of at least 1, nothing Number() would also read', async () => {
  for (const bad of ['0x10', '1e-9', '1e3', ' 5', '5 ', '', '0', '0.5', '-1', 'Infinity', '.5']) {
    const r = await recorded('up', '--timeout', bad, 'x.yaml');
    assert.equal(r.code, 2, `--timeout ${JSON.stringify(bad)}`);
    assert.match(r.err[0]!, /argument '.*' is invalid\. a number of seconds, at least 1$/u, bad);
  }
  for (const [good, seconds] of [
    ['1', 1],
    ['1.5', 1.5],
    ['180', 180],
  ] as const) {
    const r = await recorded('up', '--timeout', good, 'x.yaml');
    const flags = r.calls[0]?.args[1] as { timeout: number } | undefined;
    assert.deepEqual([r.code, flags?.timeout], [0, seconds], good);
  }
});

test('-n: a DNS-1123 label, else exit 2 naming the flag, the value and the rule', async () => {
  for (const bad of ['', 'BAD', 'a/b', '-x', 'a'.repeat(64)]) {
    const r = await virtnet('-n', bad, 'get', 'vmis');
    assert.equal(r.code, 2, `-n ${JSON.stringify(bad)}`);
    assert.match(r.err[0]!, /^error: option '-n, --namespace <ns>' argument '.*' is invalid\. /u, bad);
    assert.match(r.err[0]!, /a namespace is a DNS-1123 label: /u, bad);
    assert.equal(r.err[1], "See 'virtnet --help'.");
  }
  assert.match((await virtnet('get', 'vmis', '--namespace=BAD')).err[0]!, /argument 'BAD' is invalid/u);
  assert.deepEqual((await recorded('-n', 'team-1', 'gc')).calls[0]?.args, [{ namespace: 'team-1' }]);
});

test("virtnet controller|kubelet hand on the role's flags as given, and the global ones the role takes", async () => {
  const cases: Array<[string[], string, string[]]> = [
    [['-n', 'controller', 'controller'], 'controller', ['--namespace=controller']],
    [
      ['controller', '--metrics-port', '8080', '-n', 'kube-system', '--log-level', 'debug'],
      'controller',
      ['--log-level=debug', '--metrics-port=8080', '--namespace=kube-system'],
    ],
    [
      ['--state-dir', '/s', 'kubelet', '--node', '-odd', '--bound-only', '--allowed-host-path', '/a'],
      'kubelet',
      ['--node=-odd', '--allowed-host-path=/a', '--bound-only', '--state-dir=/s'],
    ],
    [['kubelet'], 'kubelet', []],
  ];
  for (const [argv, role, args] of cases) {
    const r = await recorded(...argv);
    assert.deepEqual([r.code, r.calls], [0, [{ action: 'cluster', args: [role, args] }]], argv.join(' '));
  }
  for (const argv of [
    ['controller', '--state-dir', '/s'],
    ['--registries-conf', 'r.conf', 'kubelet'],
    ['kubelet', '--cni-conf-dir', '/c'],
  ]) {
    const r = await recorded(...argv);
    assert.deepEqual([r.code, r.calls], [2, []], argv.join(' '));
    assert.match(r.err[0]!, /^error: --[\w-]+ is not a flag of virtnet (controller|kubelet) \(see its --help\)$/u);
  }
});

test('version needs only the project directory: a stale $VIRTNET_REGISTRIES_CONF does not fail it', async () => {
  const before = process.env.VIRTNET_REGISTRIES_CONF;
  process.env.VIRTNET_REGISTRIES_CONF = '/nonexistent/registries.conf';
  try {
    const r = await virtnet('version', '-o', 'json');
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.ok(JSON.parse(r.out.join('\n')).virtnet.length > 0);
  } finally {
    if (before === undefined) delete process.env.VIRTNET_REGISTRIES_CONF;
    else process.env.VIRTNET_REGISTRIES_CONF = before;
  }
});

test('the roles: -n is a DNS-1123 label; --tls-cert and --tls-key only together (not plain HTTP), exit 2', async () => {
  const nowhere = ['--kubeconfig', '/nonexistent/kubeconfig'];
  for (const role of ['controller', 'webhook', 'kubelet', 'node-agent']) {
    const r = await cluster(role, ...nowhere, '-n', 'a/b');
    assert.equal(r.code, 2, role);
    assert.match(r.err[0]!, /argument 'a\/b' is invalid\. a namespace is a DNS-1123 label: /u, role);
  }
  for (const role of ['controller', 'webhook']) {
    for (const [given, missing] of [
      ['--tls-cert', '--tls-key'],
      ['--tls-key', '--tls-cert'],
    ]) {
      const r = await cluster(role, ...nowhere, '--webhook-port', '9443', given!, 'tls.pem');
      assert.deepEqual(
        r,
        {
          code: 2,
          out: [],
          err: [
            `error: ${given} needs ${missing}: give both (TLS) or neither (plain HTTP)`,
            `See 'virtnet-cluster ${role} --help'.`,
          ],
        },
        `${role} ${given}`,
      );
    }
    const empty = await cluster(role, ...nowhere, '--tls-cert', '', '--tls-key', 'k');
    assert.equal(empty.code, 2);
  }
  const viaVirtnet = await virtnet('controller', '--tls-key', 'tls.key');
  assert.deepEqual(viaVirtnet.err[1], "See 'virtnet controller --help'.");
  assert.equal(viaVirtnet.code, 2);
});
