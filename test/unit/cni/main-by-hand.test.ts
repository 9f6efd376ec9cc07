/**
 * virtnet-bridge run by a person (no CNI_COMMAND): --help and --version on
 * stdout, exit 0; an unknown flag or an argument, one line and a pointer to
 * --help, exit 2; nothing, the about text with the version on stderr. With
 * CNI_COMMAND set the arguments are not looked at (SPEC.md: a runtime passes
 * none). The built bundle is run, as a runtime runs it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { VERSION } from '../../../lib/version.ts';
import { SUPPORTED_VERSIONS } from '../../../cni/version.ts';

const PLUGIN = join(import.meta.dirname, '..', '..', '..', 'dist', 'cni', 'virtnet-bridge');
const PROTOCOLS = `CNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}`;

function run(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; out: string; err: string } {
  assert.ok(existsSync(PLUGIN), `${PLUGIN} is built by npm run build`);
  const { CNI_COMMAND: _, ...base } = process.env;
  const r = spawnSync(PLUGIN, args, { env: { ...base, ...env }, input: '', encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('--help and -h: usage, the CNI environment and an example, exit 0', () => {
  const help = run(['--help']);
  assert.equal(help.code, 0);
  assert.equal(help.err, '');
  assert.match(help.out, /^Usage: virtnet-bridge \[--help \| --version\]\n/u);
  assert.match(help.out, /CNI_COMMAND \(ADD, DEL, CHECK, GC, STATUS or VERSION\)/u);
  assert.match(help.out, /\nExamples:\n {2}# .+\n {2}CNI_COMMAND=VERSION virtnet-bridge/u);
  assert.deepEqual(run(['-h']), help);
});

test('--version: this build and the CNI versions, exit 0', () => {
  assert.deepEqual(run(['--version']), { code: 0, out: `virtnet-bridge ${VERSION}\n${PROTOCOLS}\n`, err: '' });
});

test('no arguments: the about text with the version, on stderr, as the reference plugins', () => {
  assert.deepEqual(run([]), {
    code: 0,
    out: '',
    err: `virtnet-bridge: VM-ready bridge CNI plugin v${VERSION}\n${PROTOCOLS}\n`,
  });
});

test('an unknown flag or an argument: exit 2, one error line and the pointer to --help', () => {
  for (const [args, problem] of [
    [['--bogus'], "unknown option '--bogus'"],
    [['add'], "unexpected argument 'add'"],
    [['--help', 'x'], "unexpected argument 'x'"],
  ] as const) {
    assert.deepEqual(run([...args]), {
      code: 2,
      out: '',
      err: `error: ${problem}\nSee 'virtnet-bridge --help'.\n`,
    });
  }
});

test("with CNI_COMMAND set the arguments are ignored: VERSION answers the spec's JSON", () => {
  for (const args of [[], ['--help'], ['--bogus']]) {
    const r = run(args, { CNI_COMMAND: 'VERSION' });
    assert.equal(r.code, 0, args.join(' '));
    assert.deepEqual(JSON.parse(r.out), { cniVersion: '1.1.0', supportedVersions: [...SUPPORTED_VERSIONS] });
  }
});
