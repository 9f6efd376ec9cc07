/**
 * The host ip(8) the CNI daemon keeps ready (lib/iproute.ts): each batch
 * goes to a fresh spare, so N batches cost N children and no more; and
 * deleteLink answers once the kernel has unlisted a veth, when its names
 * are free for a new pair, well before ip(8) exits.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { deleteAllNetns, makeNetns } from '../../support/netns.ts';

after(deleteAllNetns);

test('spare host batches, and deletions answered when the link is gone', () => {
  const node = makeNetns('vt-spare-node');
  const pod = makeNetns('vt-spare-pod');
  const worker = resolve('test/integration/lib/iproute-worker.ts');
  const r = spawnSync('ip', ['netns', 'exec', node.name, process.execPath, '--import', 'tsx', worker, pod.path], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const seen = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.deepEqual(
    seen.macs,
    ['02:00:00:00:00:00', '02:00:00:00:00:01', '02:00:00:00:00:02', '02:00:00:00:00:03', '02:00:00:00:00:04'],
    'a link-show at the end of a spare batch is read back',
  );
  assert.equal(seen.spawnedForFive, 5, 'one child per batch: the spare used, the next one started');
  assert.equal(seen.listedAfterGone, false);
  assert.equal(seen.wasFinished, false, `gone (${seen.goneMs} ms) came before ip(8) exited (${seen.finishedMs} ms)`);
  const missing = seen.missing as { gone: string; finished: string };
  assert.equal(missing.gone, 'resolved', 'a link that is not there is gone');
  assert.match(missing.finished, /Cannot find device "spv-none"/u, 'and ip(8) still says why it failed');
  assert.match(
    String(seen.lo),
    /Operation not supported/u,
    'a delete that fails on a listed link rejects with its error',
  );
  assert.equal(seen.burstLeft, 0, 'a burst of 20 deletions: every link gone');
  assert.equal(seen.notResidentWaited, true, 'without the spare held, gone waits for ip(8) to exit');
  assert.equal(node.run(['ip', '-o', 'link', 'show', 'type', 'veth']), '', 'the node namespace has no veth left');
});
