/**
 * The node agent installs the shim and, beside it, the Node plugin it falls
 * back to (issue 15); a build without the Node plugin installs the shim alone.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installPlugin, NODE_PLUGIN_NAME, PLUGIN_NAME } from '../../../controller/agent/cni-install.ts';

const dir = mkdtempSync(join(tmpdir(), 'virtnet-test-cni-install-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the shim and the Node plugin are installed 0755; unchanged files are left alone; a new build replaces', () => {
  const build = join(dir, 'build');
  const bin = join(dir, 'bin');
  mkdirSync(build);
  writeFileSync(join(build, PLUGIN_NAME), 'shim v1');
  writeFileSync(join(build, NODE_PLUGIN_NAME), 'node v1');
  assert.equal(installPlugin(join(build, PLUGIN_NAME), bin), true);
  for (const [name, text] of [
    [PLUGIN_NAME, 'shim v1'],
    [NODE_PLUGIN_NAME, 'node v1'],
  ] as const) {
    assert.equal(readFileSync(join(bin, name), 'utf8'), text);
    assert.equal(statSync(join(bin, name)).mode & 0o777, 0o755);
  }
  assert.equal(installPlugin(join(build, PLUGIN_NAME), bin), false, 'nothing changed');
  writeFileSync(join(build, NODE_PLUGIN_NAME), 'node v2');
  assert.equal(installPlugin(join(build, PLUGIN_NAME), bin), true, 'the Node plugin alone changed');
  assert.equal(readFileSync(join(bin, NODE_PLUGIN_NAME), 'utf8'), 'node v2');
});

test('a build with no Node plugin installs the shim alone', () => {
  const build = join(dir, 'shim-only');
  const bin = join(dir, 'bin-shim-only');
  mkdirSync(build);
  writeFileSync(join(build, PLUGIN_NAME), 'shim');
  assert.equal(installPlugin(join(build, PLUGIN_NAME), bin), true);
  assert.ok(existsSync(join(bin, PLUGIN_NAME)));
  assert.ok(!existsSync(join(bin, NODE_PLUGIN_NAME)));
});
