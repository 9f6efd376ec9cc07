/**
 * A teardown whose CNI DEL fails keeps the VMI's record (state Deleting)
 * instead of dropping it, so that an IP it may hold is never leaked
 * silently: `gc` retries it, and `down --force` drops it. Driven through the
 * node runtime with a recording fake delegate that fails DEL on demand.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { nodeConfig } from '../../../controller/node/config.ts';
import { NodeRuntime } from '../../../controller/node/runtime.ts';
import type { VmiRecord } from '../../../controller/node/store.ts';
import { scratchDir } from '../../support/cni.ts';

const scratch = scratchDir();
after(() => scratch.cleanup());

function record(rt: NodeRuntime, name: string, failDel: boolean): VmiRecord {
  const rec: VmiRecord = {
    object: {
      metadata: { name, namespace: 'default', uid: 'u' },
      spec: { domain: { devices: { interfaces: [] } }, networks: [] },
    },
    specHash: 'h',
    state: 'Created',
    creator: { pid: 1, start: 'none' },
    netns: 'vn-00000000aa',
    containerID: `c${name}`,
    steps: [],
    attachments: [
      {
        name: 'default/flaky',
        ifname: 'net1',
        isDefault: false,
        list: {
          cniVersion: '1.1.0',
          name: 'flaky',
          plugins: [
            {
              type: 'fake-delegate.cjs',
              record: join(scratch.dir, `${name}.calls`),
              ...(failDel && { fail: { verbs: ['DEL'], code: 11, msg: 'try again later' } }),
            },
          ],
        },
      },
    ],
  };
  rt.store.writeVmi(rec);
  return rec;
}

test('a failed CNI DEL keeps the record as Deleting; gc retries it; --force drops it', async () => {
  const rt = new NodeRuntime(nodeConfig({ stateDir: join(scratch.dir, 'state'), cniPath: [resolve('test/support')] }));
  record(rt, 'flaky', true);
  const first = await rt.destroy('default', 'flaky');
  assert.equal(first.kept, true);
  assert.match(first.problems.join(' '), /try again later/u);
  const kept = rt.store.readVmi('default', 'flaky')!;
  assert.equal(kept.state, 'Deleting');
  assert.equal(rt.status(kept).phase, 'Failed');
  assert.match(rt.status(kept).reason!, /teardown incomplete/u);
  // The delegate recovers: the next gc finishes the job from the journaled request.
  rt.store.writeVmi({
    ...kept,
    attachments: kept.attachments.map((a) => ({
      ...a,
      list: { ...a.list, plugins: a.list.plugins.map(({ fail: _, ...p }) => p) },
    })),
  } as VmiRecord);
  const lines = await rt.gc();
  assert.deepEqual(
    lines.map((l) => l.startsWith('default/flaky')),
    [true],
  );
  assert.equal(rt.store.readVmi('default', 'flaky'), undefined);
  const calls = readFileSync(join(scratch.dir, 'flaky.calls'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { env: { CNI_COMMAND: string; CNI_IFNAME: string } }).env);
  assert.deepEqual(
    calls.map((e) => [e.CNI_COMMAND, e.CNI_IFNAME]),
    [
      ['DEL', 'net1'],
      ['DEL', 'net1'],
    ],
  );

  record(rt, 'stuck', true);
  assert.equal((await rt.destroy('default', 'stuck', true)).kept, false, '--force drops it');
  assert.equal(rt.store.readVmi('default', 'stuck'), undefined);
});
