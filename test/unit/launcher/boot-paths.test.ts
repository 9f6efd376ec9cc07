/**
 * The launcher is the last place before QEMU opens a boot file (issue 11,
 * defect 3): it refuses a spec whose files lie outside --allowed-host-path,
 * or a spec of the wrong shape, before it makes anything.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseLauncherSpec } from '../../../launcher/spec.ts';

const dir = mkdtempSync(join(tmpdir(), 'virtnet-test-launcher-paths-'));
after(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'images'));
writeFileSync(join(dir, 'outside.raw'), 'x');

function run(spec: unknown, allowed: string[]): { status: number | null; stderr: string } {
  const state = mkdtempSync(join(dir, 'state-'));
  writeFileSync(join(state, 'spec.json'), JSON.stringify(spec));
  const r = spawnSync(process.execPath, ['--import', 'tsx', resolve('launcher/main.ts'), 'run', '--spec', join(state, 'spec.json'), '--state-dir', state, '--network-only', ...allowed.flatMap((d) => ['--allowed-host-path', d])], { encoding: 'utf8', timeout: 30_000 });
  assert.deepEqual(readdirSync(state), ['spec.json'], 'nothing was made');
  return { status: r.status, stderr: r.stderr };
}

const good = { name: 'vm', namespace: 'default', memoryMiB: 64, cpus: 1, interfaces: [], networks: [] };

test('a disk outside the allowed directories is refused before anything is made', () => {
  const r = run({ ...good, boot: { disk: join(dir, 'outside.raw'), format: 'raw' } }, [join(dir, 'images')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /spec boot\.disk: .*outside\.raw\\?" is outside the directories this node allows/u);
});

test('a launcher given no allowed directory refuses to run', () => {
  const r = run({ ...good, boot: { kernel: join(dir, 'images', 'k') } }, []);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--allowed-host-path: at least one directory is required/u);
});

for (const [what, spec, rule] of [
  ['not an object', [], /spec : must be a JSON object/u],
  ['no name', { ...good, name: '', boot: { kernel: '/k' } }, /spec name: must be a non-empty string/u],
  ['cpus a string', { ...good, cpus: '2', boot: { kernel: '/k' } }, /spec cpus: must be a positive integer/u],
  ['interfaces not a list', { ...good, interfaces: 5, boot: { kernel: '/k' } }, /spec interfaces: must be a list/u],
  ['an interface with no name', { ...good, interfaces: [{}], boot: { kernel: '/k' } }, /spec interfaces\[0\]: must be an object with a string name/u],
  ['a kernel that is not a string', { ...good, boot: { kernel: 7 } }, /spec boot\.kernel: must be a string/u],
  ['a disk of an unknown format', { ...good, boot: { disk: '/d', format: 'vmdk' } }, /spec boot\.format: "vmdk" must be qcow2 or raw/u],
] as const) {
  test(`a spec with ${what} is refused by name`, () => assert.throws(() => parseLauncherSpec(spec), rule));
}
