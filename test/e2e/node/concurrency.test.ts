/**
 * Concurrency on one VMI (issue 11): eight `virtnet up` of one file at once
 * make exactly one sandbox, and up, down and gc racing on one VMI converge
 * to a VMI that runs whole or to nothing at all.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { TestNode } from '../../support/node-driver.ts';

let node: TestNode;
before(() => {
  node = new TestNode();
});
after(() => node.destroy());

const EXAMPLE = 'examples/vm-bridge.yaml';

function finish(child: ChildProcess): Promise<{ code: number | null; out: string }> {
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d));
  child.stderr?.on('data', (d: Buffer) => (out += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out })));
}

function hostVeths(): string[] {
  return (JSON.parse(node.netns.run(['ip', '-j', 'link', 'show'])) as Array<{ ifname: string }>)
    .map((l) => l.ifname)
    .filter((n) => /^vn[0-9a-f]{11}$/u.test(n));
}

test('eight concurrent up of one file make exactly one sandbox, one IP and one launcher', async () => {
  const runs = await Promise.all(Array.from({ length: 8 }, () => finish(node.start(['up', EXAMPLE]))));
  for (const r of runs) assert.equal(r.code, 0, r.out);
  assert.equal(
    runs.filter((r) => /sandbox\s+[\d.]+ m?s/u.test(r.out)).length,
    1,
    'one of them made the sandbox; the rest found it unchanged',
  );
  assert.equal(node.sandboxes().length, 1);
  assert.equal(hostVeths().length, 1);
  assert.equal(node.ipamAllocations().length, 1);
  node.must(['down', '--all']);
  assert.deepEqual(node.sandboxes(), []);
});

test('up, down and gc racing on one VMI converge: all of it or none of it', async () => {
  for (let round = 0; round < 3; round++) {
    const runs = await Promise.all([
      finish(node.start(['up', EXAMPLE])),
      finish(node.start(['down', 'vm-bridge'])),
      finish(node.start(['gc'])),
      finish(node.start(['up', EXAMPLE])),
    ]);
    // An up may lose its VMI to the racing down: it must say so, and undo nothing that is not its own.
    for (const r of runs)
      assert.ok(
        r.code === 0 || /not found|No resources|held by another|torn down meanwhile/u.test(r.out),
        `round ${round}: ${r.out}`,
      );
    const listed = /vm-bridge/u.test(node.run(['get', 'vmis']).stdout);
    assert.equal(
      node.sandboxes().length,
      listed ? 1 : 0,
      `round ${round}: a listed VMI has its one sandbox, an unlisted one none`,
    );
    assert.equal(node.ipamAllocations().length, listed ? 1 : 0, `round ${round}: and its one IP`);
    node.must(['down', '--all']);
    assert.deepEqual(node.sandboxes(), []);
    assert.deepEqual(hostVeths(), []);
    assert.deepEqual(node.ipamAllocations(), []);
  }
});
