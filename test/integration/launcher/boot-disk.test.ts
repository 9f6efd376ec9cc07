/**
 * A VM boots from an overlay of its own over the node's image, and the image
 * is opened only as what it really is (launcher/domain/disk.ts): a raw image
 * holding a qcow2 header that names a node file as its backing, or a qcow2
 * image with a backing file, is refused before QEMU sees it.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { overlayFile, prepareDiskOverlay } from '../../../launcher/domain/disk.ts';
import { qemuImgInfo } from '../../../lib/qemu-img.ts';

const dir = mkdtempSync(join(tmpdir(), 'virtnet-test-disk-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { encoding: 'utf8' });

test('a raw image gets a qcow2 overlay in the state directory; the image itself is never written', async () => {
  const image = join(dir, 'base.raw');
  writeFileSync(image, Buffer.alloc(1 << 20, 0));
  const before = readFileSync(image);
  const state = mkdtempSync(join(dir, 'state-'));
  const overlay = await prepareDiskOverlay(image, 'raw', overlayFile(state, 0));
  assert.equal(overlay, join(state, 'disk-0-overlay.qcow2'));
  const info = JSON.parse(qemuImg('info', '--output=json', overlay)) as Record<string, unknown>;
  assert.equal(info.format, 'qcow2');
  assert.equal(info['backing-filename'], image);
  assert.equal(info['backing-filename-format'], 'raw', 'the backing format is recorded, never probed again');
  assert.deepEqual(readFileSync(image), before);
});

test('a "raw" image that holds a qcow2 header naming a node file as backing is refused', async () => {
  const trap = join(dir, 'trap.raw');
  qemuImg('create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', '/etc/hostname', trap, '1M');
  assert.equal((await qemuImgInfo(trap)).format, 'qcow2');
  await assert.rejects(
    prepareDiskOverlay(trap, 'raw', overlayFile(mkdtempSync(join(dir, 'state-')), 0)),
    /disk: ".*trap\.raw" is a qcow2 image, not raw as the spec says/u,
  );
});

test('a qcow2 image with a backing file of its own is refused', async () => {
  const base = join(dir, 'inner.raw');
  writeFileSync(base, Buffer.alloc(1 << 16, 0));
  const chained = join(dir, 'chained.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', base, chained);
  await assert.rejects(
    prepareDiskOverlay(chained, 'qcow2', overlayFile(mkdtempSync(join(dir, 'state-')), 0)),
    /has a backing file \(.*inner\.raw\); a disk image must be self-contained/u,
  );
});

test('a qcow2 image with an external data file is refused: the guest would read that host file (review of issue 12)', async () => {
  const secret = join(dir, 'outside-secret');
  writeFileSync(secret, Buffer.alloc(1 << 16, 0x53));
  const image = join(dir, 'datafile.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', '-o', `data_file=${secret},data_file_raw=on`, image, '64K');
  await assert.rejects(
    prepareDiskOverlay(image, 'qcow2', overlayFile(mkdtempSync(join(dir, 'state-')), 0)),
    /has an external data file \(.*outside-secret\); a disk image must be self-contained/u,
  );
});

test('a raw image declared qcow2 is refused', async () => {
  const image = join(dir, 'plain.raw');
  writeFileSync(image, Buffer.alloc(1 << 16, 7));
  await assert.rejects(
    prepareDiskOverlay(image, 'qcow2', overlayFile(mkdtempSync(join(dir, 'state-')), 0)),
    /is a raw image, not qcow2/u,
  );
});
