/** Boot files only from the node's allowed directories, also through symlinks (issue 11, defect 3). */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostPathProblem } from '../../../lib/host-paths.ts';

const root = mkdtempSync(join(tmpdir(), 'virtnet-test-paths-'));
after(() => rmSync(root, { recursive: true, force: true }));
const images = join(root, 'images');
mkdirSync(images);
writeFileSync(join(images, 'disk.raw'), 'x');
writeFileSync(join(root, 'secret'), 'x');
symlinkSync(join(root, 'secret'), join(images, 'escape'));
symlinkSync('/dev/null', join(images, 'device'));
mkdirSync(join(images, 'dir'));

test('a regular file inside an allowed directory is allowed', () => {
  assert.equal(hostPathProblem(join(images, 'disk.raw'), [images]), undefined);
  assert.equal(hostPathProblem(join(images, 'disk.raw'), [`${images}/`]), undefined);
  assert.equal(hostPathProblem('/etc/hostname', ['/']), undefined, '/ allows every file');
});

for (const [what, path, rule] of [
  ['a file outside', join(root, 'secret'), /outside the directories/u],
  ['a sibling directory that shares the prefix', `${images}2/disk.raw`, /outside the directories/u],
  ['a relative path', 'images/disk.raw', /absolute path/u],
  ['a path with ..', `${images}/../secret`, /normalised/u],
  ['a path with //', `${images}//disk.raw`, /normalised/u],
  ['a symlink that leads outside', join(images, 'escape'), /resolves to .*outside/u],
  ['a symlink to a device', join(images, 'device'), /resolves to "\/dev\/null", outside/u],
  ['a directory', join(images, 'dir'), /not a regular file/u],
  ['a missing file', join(images, 'nothing'), /does not exist/u],
] as const) {
  test(`refused: ${what}`, () => {
    const problem = hostPathProblem(path, [images]);
    assert.ok(problem, `${path} must be refused`);
    assert.match(problem, rule);
    assert.ok(problem.includes(JSON.stringify(path)), 'the message names the value');
  });
}

test('a block or character device is refused even under /', () => {
  assert.match(hostPathProblem('/dev/null', ['/']) ?? '', /not a regular file/u);
});
