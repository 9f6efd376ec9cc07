/**
 * The memo of the test guest's cache check (controller/node/guest-memo.ts):
 * it answers only while every input of the check is as it was, and any
 * change, or a damaged memo, sends `up` back to the script.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { guestDir, rememberGuest, rememberedGuest } from '../../../controller/node/guest-memo.ts';

function fixture() {
  const root = mkdtempSync(join(tmpdir(), 'vt-guest-memo-'));
  const project = join(root, 'project');
  const out = join(root, 'guest');
  mkdirSync(join(project, 'scripts', 'guest'), { recursive: true });
  mkdirSync(out);
  writeFileSync(join(project, 'scripts', 'build-guest.sh'), '#!/bin/bash\n');
  writeFileSync(join(project, 'scripts', 'guest', 'init'), '#!/bin/sh\n');
  for (const f of ['vmlinuz', 'initrd.img', 'recipe.sha256']) writeFileSync(join(out, f), f);
  return { root, project, out, done: () => rmSync(root, { recursive: true, force: true }) };
}

test('remembered while nothing changed; forgotten when the script, init or a built file changes', () => {
  const fx = fixture();
  try {
    assert.equal(rememberedGuest(fx.project, fx.out), undefined, 'nothing remembered yet');
    rememberGuest(fx.project, fx.out, fx.out);
    assert.equal(rememberedGuest(fx.project, fx.out), fx.out);
    const later = new Date(Date.now() + 5000);
    utimesSync(join(fx.project, 'scripts', 'build-guest.sh'), later, later);
    assert.equal(rememberedGuest(fx.project, fx.out), undefined, 'the script changed');
    rememberGuest(fx.project, fx.out, fx.out);
    writeFileSync(join(fx.project, 'scripts', 'guest', 'init'), '#!/bin/sh\necho changed\n');
    assert.equal(rememberedGuest(fx.project, fx.out), undefined, 'the init changed');
    rememberGuest(fx.project, fx.out, fx.out);
    rmSync(join(fx.out, 'recipe.sha256'));
    assert.equal(rememberedGuest(fx.project, fx.out), undefined, 'a built file is gone');
  } finally {
    fx.done();
  }
});

test('a damaged memo, or an answer naming another directory, is not taken', () => {
  const fx = fixture();
  try {
    rememberGuest(fx.project, fx.out, '/elsewhere');
    assert.equal(rememberedGuest(fx.project, fx.out), undefined, 'the script printed another directory');
    for (const junk of ['', '{', '[]', 'null', '{"fingerprint":1,"dir":2}']) {
      writeFileSync(join(fx.out, '.check-memo.json'), junk);
      assert.equal(rememberedGuest(fx.project, fx.out), undefined, JSON.stringify(junk));
    }
  } finally {
    fx.done();
  }
});

test("the guest directory is the script's: its default, or VIRTNET_GUEST_DIR without a trailing slash", () => {
  assert.equal(guestDir({}), '/var/cache/virtnet/guest');
  assert.equal(guestDir({ VIRTNET_GUEST_DIR: '' }), '/var/cache/virtnet/guest');
  assert.equal(guestDir({ VIRTNET_GUEST_DIR: '/tmp/g/' }), '/tmp/g');
});
