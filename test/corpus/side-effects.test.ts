/**
 * The corpus through the real executables: refused input must create
 * nothing. The CNI env, CNI config and NAD-config cases run the bundled
 * plugin (dist/cni/virtnet-bridge) as a runtime does, CNI_COMMAND=ADD in a
 * throwaway "node" namespace with a real container namespace, everything
 * else valid. The VMI cases run `virtnet validate` and `virtnet up` with a
 * temp state directory. After each case: no new namespace, link, address,
 * nft table or process (on the host or in the test namespaces), and no new
 * file in the places a plugin or the CLI could write, or at any path the
 * case names. Touches the kernel: run under flock /tmp/virtnet-kernel.lock
 * (test/run.mjs runs the corpus tier one file at a time).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CNI_PATH, PLUGIN, scratchDir } from '../support/cni.ts';
import { deleteNetns, makeNetns, type Netns } from '../support/netns.ts';
import { leftovers } from '../support/leftovers.ts';
import { TestNode } from '../support/node-driver.ts';
import { assertNames, loadCases, type CaseBase } from './corpus.ts';
import {
  baseConf,
  baseEnv,
  caseEnv,
  caseNad,
  caseStdin,
  caseVmi,
  nadVia,
  type ConfCase,
  type EnvCase,
  type NadCase,
  type VmiCase,
} from './inputs.ts';

const envCases = loadCases<EnvCase>('cni-env.yaml');
const confCases = loadCases<ConfCase>('cni-config.yaml');
const nadCases = loadCases<NadCase>('nad.yaml').filter((c) => nadVia(c).includes('plugin'));
const vmiCases = loadCases<VmiCase>('vmi.yaml');

/** An existing bridge that virtnet did not create (cni-config.yaml "bridge existing and not virtnet's"). */
const ADMIN_BRIDGE = 'vcorpusadmin0';
/** Where a plugin or the CLI could write outside a test's own directory. */
const WATCHED_DIRS = [
  '/var/lib/cni',
  '/etc/cni',
  '/etc/cron.d',
  '/var/log',
  '/run/virtnet',
  '/var/lib/virtnet',
  '/opt/cni',
];

function listTree(dir: string, depth = 3): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((n) => {
    const p = join(dir, n);
    let sub: string[] = [];
    try {
      if (depth > 0 && statSync(p).isDirectory()) sub = listTree(p, depth - 1);
    } catch {
      // gone meanwhile
    }
    return [p, ...sub];
  });
}

function addrs(ns: Netns): string[] {
  const links = JSON.parse(ns.run(['ip', '-j', 'addr', 'show'])) as Array<{
    ifname: string;
    operstate: string;
    addr_info?: Array<{ local: string; prefixlen: number }>;
  }>;
  // IPv6 link-local addresses come from the kernel, after DAD, at a moment of its choosing: not a plugin's doing.
  return links
    .map(
      (l) =>
        `${l.ifname} ${(l.addr_info ?? [])
          .filter((a) => !a.local.startsWith('fe80:'))
          .map((a) => `${a.local}/${a.prefixlen}`)
          .sort()
          .join(' ')}`,
    )
    .sort();
}

function pids(ns: Netns): string[] {
  return execFileSync('ip', ['netns', 'pids', ns.name], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

/** Everything a case could have created. */
function world(spaces: Netns[], dirs: string[]): Record<string, unknown> {
  const host = leftovers();
  const ns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter(Boolean)
    .sort();
  return {
    namespaces: ns,
    hostLinks: host.links,
    hostTables: host.tables,
    hostProcesses: host.processes,
    ...Object.fromEntries(
      spaces.flatMap((s) => [
        [`${s.name} links`, addrs(s)],
        [`${s.name} nft`, s.run(['nft', 'list', 'tables']).split('\n').filter(Boolean).sort()],
        [`${s.name} pids`, pids(s)],
      ]),
    ),
    files: [...WATCHED_DIRS, ...dirs].flatMap((d) => listTree(d)).sort(),
  };
}

/** Absolute paths a case names (a hostile logFile, dataDir...): none may come into being. */
function namedPaths(text: string): string[] {
  return [...text.matchAll(/\/(?:etc|var|tmp|run|opt|usr|root|home|proc|sys)[A-Za-z0-9_./@+-]*/gu)]
    .map((m) => m[0])
    .filter((p) => p.length < 4096);
}

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/** What the plugin printed must be a CNI error naming the field and the rule, with no crash stack. */
function assertCniError(r: Run, c: CaseBase): void {
  assert.notEqual(r.status, 0, `the plugin accepted it: ${r.stdout}`);
  let doc: { code?: unknown; msg?: unknown };
  try {
    doc = JSON.parse(r.stdout) as typeof doc;
  } catch {
    assert.fail(`stdout is not a CNI error document: ${r.stdout.slice(0, 300)} ${r.stderr.slice(0, 300)}`);
  }
  assert.equal(typeof doc.code, 'number', r.stdout);
  assert.equal(typeof doc.msg, 'string', r.stdout);
  assertNames(doc.msg as string, c, 'CNI error msg');
  assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+:\d+/u, `a crash stack on stderr: ${r.stderr.slice(0, 500)}`);
}

describe('CNI cases through the real plugin create nothing', () => {
  const scratch = scratchDir();
  let node: Netns;
  let ctr: Netns;
  let last: Record<string, unknown>;
  const snapshot = () => world([node, ctr], [scratch.dir]);
  const policyFile = join(scratch.dir, 'cni-policy.json');

  before(() => {
    assert.ok(existsSync(PLUGIN), `${PLUGIN} is missing: npm run --silent build`);
    node = makeNetns('vnt-corpus');
    ctr = makeNetns('vnt-corpus-ctr');
    node.run(['ip', 'link', 'add', ADMIN_BRIDGE, 'type', 'bridge']);
    mkdirSync(join(scratch.dir, 'virtnet'), { recursive: true });
    mkdirSync(join(scratch.dir, 'log'), { recursive: true });
    // The node admin's policy (cni/policy.ts): state and logs only under this test's directory.
    writeFileSync(
      policyFile,
      JSON.stringify({
        dataRoots: [scratch.dir, '/var/lib/cni/virtnet'],
        logRoot: join(scratch.dir, 'log'),
        allowedBridges: [],
      }),
    );
  });
  after(() => {
    deleteNetns(node);
    deleteNetns(ctr);
    scratch.cleanup();
  });

  function exec(env: Record<string, string>, stdin: string): Run {
    const r = spawnSync('ip', ['netns', 'exec', node.name, PLUGIN], {
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', VIRTNET_CNI_POLICY: policyFile, ...env },
      input: stdin,
      encoding: 'utf8',
      timeout: 20_000,
    });
    if (r.error) throw r.error;
    return { status: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
  }

  /** Run one case; whatever it made is reported, then removed, so that the next case starts clean. */
  function runCase(c: CaseBase, env: Record<string, string>, stdin: string): void {
    const named = namedPaths(`${Object.values(env).join(' ')} ${stdin}`).filter((p) => !p.startsWith(scratch.dir));
    const existed = new Set(named.filter((p) => existsSync(p)));
    let r: Run | undefined;
    try {
      r = exec(env, stdin);
    } catch (err) {
      // execve(2) takes no NUL in the environment: such a value never reaches a plugin.
      assert.equal((err as NodeJS.ErrnoException).code, 'ERR_INVALID_ARG_VALUE', String(err));
      assert.ok(
        Object.values(env).some((v) => v.includes('\0')),
        String(err),
      );
    }
    // An accepted ADD is undone at once, so that it fails only its own case.
    if (r?.status === 0) exec({ ...env, CNI_COMMAND: 'DEL' }, stdin);
    const now = snapshot();
    const appeared = named.filter((p) => !existed.has(p) && existsSync(p));
    for (const p of appeared) rmSync(p, { recursive: true, force: true });
    const before = last;
    last = now;
    if (r) assertCniError(r, c);
    assert.deepEqual(appeared, [], 'files appeared at paths the case names');
    assert.deepEqual(now, before, 'the refused ADD left something behind');
  }

  test('control: the base ADD succeeds, and the snapshot sees what it made', () => {
    last = snapshot();
    const env = baseEnv(ctr.path, CNI_PATH);
    const stdin = JSON.stringify(baseConf(scratch.dir));
    const add = exec(env, stdin);
    assert.equal(add.status, 0, `${add.stdout} ${add.stderr}`);
    assert.notDeepEqual(snapshot(), last, 'a successful ADD must show in the snapshot, or the cases prove nothing');
    const del = exec({ ...env, CNI_COMMAND: 'DEL' }, stdin);
    assert.equal(del.status, 0, `${del.stdout} ${del.stderr}`);
    // DEL leaves the bridge and host-local's directory, as the reference plugins do; the cases start from here.
    last = snapshot();
  });

  for (const c of envCases) {
    test(`env: ${c.name}`, () =>
      runCase(c, caseEnv(c, baseEnv(ctr.path, CNI_PATH)), JSON.stringify(baseConf(scratch.dir))));
  }
  for (const c of confCases) {
    test(`config: ${c.name}`, () => runCase(c, baseEnv(ctr.path, CNI_PATH), caseStdin(c, baseConf(scratch.dir))));
  }
  for (const c of nadCases) {
    test(`NAD spec.config: ${c.name}`, () => runCase(c, baseEnv(ctr.path, CNI_PATH), caseNad(c).spec.config));
  }
});

describe('VMI cases through `virtnet validate` and `virtnet up` create nothing', () => {
  let node: TestNode;
  let last: Record<string, unknown>;
  const files = new Map<string, string>();
  const snapshot = () => world([node.netns], []);

  before(() => {
    node = new TestNode();
    const dir = join(node.stateDir, 'corpus');
    mkdirSync(dir);
    vmiCases.forEach((c, i) => {
      const file = join(dir, `case-${i}.json`);
      writeFileSync(file, JSON.stringify(caseVmi(c)));
      files.set(c.name, file);
    });
    last = snapshot();
  });
  after(() => node.destroy());

  /** The CLI prints one problem per record, "<file>#<doc>: <path>: <rule>"; a value may hold a newline. */
  function problemsOf(output: string, file: string): string[] {
    return output.split(`${file}#`).slice(1);
  }

  function records(): string[] {
    return listTree(join(node.stateDir, 'vmis')).filter((p) => p.endsWith('record.json'));
  }

  for (const c of vmiCases) {
    test(`vmi: ${c.name}`, () => {
      const file = files.get(c.name)!;
      const v = node.run(['validate', file], 60_000);
      assert.equal(v.status, 1, `\`virtnet validate\` exit ${v.status}: ${v.stdout.slice(0, 300)}`);
      const report = `${v.stdout}\n${v.stderr}`;
      assertNames(report, c, '`virtnet validate` report', problemsOf(report, file));
      const r = node.run(['up', '--no-wait', '--timeout', '5', file], 60_000);
      const made = records();
      if (r.status === 0 || made.length) node.run(['down', '--all', '--force'], 60_000);
      assert.notEqual(r.status, 0, `\`virtnet up\` accepted it: ${r.stdout}`);
      const output = `${r.stdout}\n${r.stderr}`;
      assertNames(output, c, '`virtnet up` output', problemsOf(output, file));
      assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+:\d+/u, `a crash stack: ${r.stderr.slice(0, 500)}`);
      assert.deepEqual(made, [], 'a VMI record was written');
      assert.deepEqual(node.sandboxes(), [], 'a sandbox namespace was made');
      const now = snapshot();
      const before = last;
      last = now;
      assert.deepEqual(now, before, 'the refused `up` left something behind');
    });
  }
});
