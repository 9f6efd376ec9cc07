/**
 * scripts/install-deps.sh --check-node against fake `node` executables: the
 * check refuses what package.json's engines (>= 20.5) refuses, says how to
 * get Node.js 20, and installs nothing. Every tool the script could install
 * with (apt-get, dpkg-query, npm, groupadd, useradd) is a fake on PATH that
 * records its call, so a call would show.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const SCRIPT = resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'install-deps.sh');
const INSTALLERS = ['apt-get', 'dpkg-query', 'npm', 'groupadd', 'useradd'];

interface CheckResult {
  status: number | null;
  stderr: string;
  installerCalls: string;
}

/** Run the script with ARGS and a PATH whose `node` prints NODE_OUTPUT (no `node` at all when null). */
function runCheck(nodeOutput: string | null, args = ['--check-node']): CheckResult {
  const bin = mkdtempSync(join(tmpdir(), 'virtnet-install-deps-'));
  const calls = join(bin, 'calls.log');
  try {
    if (nodeOutput !== null) fakeTool(bin, 'node', `echo '${nodeOutput}'`);
    for (const tool of INSTALLERS) fakeTool(bin, tool, `echo "${tool} $*" >> '${calls}'`);
    // The fakes and cat (the advice is a here-document) only: the host's own node is in /usr/bin.
    symlinkSync(which('cat'), join(bin, 'cat'));
    const r = spawnSync('/bin/bash', [SCRIPT, ...args], { encoding: 'utf8', env: { PATH: bin } });
    return { status: r.status, stderr: r.stderr, installerCalls: existsSync(calls) ? readFileSync(calls, 'utf8') : '' };
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
}

function which(tool: string): string {
  const r = spawnSync('/bin/bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${tool} is not on this machine's PATH`);
  return r.stdout.trim();
}

function fakeTool(dir: string, name: string, body: string): void {
  const file = join(dir, name);
  writeFileSync(file, `#!/bin/bash\n${body}\n`);
  chmodSync(file, 0o755);
}

test("Debian 12's Node 18 is refused with how to get Node 20, and nothing is installed", () => {
  const r = runCheck('v18.19.0');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /Node\.js >= 20\.5 is needed; .*node is v18\.19\.0/u);
  assert.match(r.stderr, /https:\/\/deb\.nodesource\.com\/node_20\.x/u);
  assert.match(r.stderr, /https:\/\/nodejs\.org\/dist\/latest-v20\.x\//u);
  assert.equal(r.installerCalls, '');
});

test('the whole run (no argument) stops at an old Node before it installs anything', () => {
  const r = runCheck('v18.19.0', []);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /node is v18\.19\.0/u);
  assert.equal(r.installerCalls, '');
});

test('20.4 is refused: the minor version counts', () => {
  const r = runCheck('v20.4.9');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /node is v20\.4\.9/u);
});

test('20.5.0, 20.20.2 and 22.1.0 pass, silently and with nothing installed', () => {
  for (const version of ['v20.5.0', 'v20.20.2', 'v22.1.0']) {
    const r = runCheck(version);
    assert.equal(r.status, 0, `${version}: ${r.stderr}`);
    assert.equal(r.stderr, '', version);
    assert.equal(r.installerCalls, '', version);
  }
});

test('no node on PATH is refused with the same advice', () => {
  const r = runCheck(null);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no node is on PATH/u);
  assert.match(r.stderr, /deb\.nodesource\.com/u);
});

test('a version it cannot read is refused, quoting what node printed', () => {
  const r = runCheck('twenty');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--version printed "twenty", not vMAJOR\.MINOR\.PATCH/u);
});

test('an unknown argument is refused with exit 2, naming it', () => {
  const r = runCheck('v20.20.2', ['--chek-node']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown argument "--chek-node"; the only one is --check-node/u);
  assert.equal(r.installerCalls, '');
});
