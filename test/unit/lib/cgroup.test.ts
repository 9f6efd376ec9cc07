/** lib/cgroup.ts's pure parts: finding the cgroup2 mount and naming pod cgroups. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cgroup2Mount, podCgroupPath } from '../../../lib/cgroup.ts';

const HYBRID = [
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');
const UNIFIED = '28 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate';

test('the cgroup2 mount is found on hybrid and unified hosts, and nowhere else', () => {
  assert.equal(cgroup2Mount(HYBRID), '/sys/fs/cgroup/unified');
  assert.equal(cgroup2Mount(UNIFIED), '/sys/fs/cgroup', 'optional fields (shared:4) before the separator');
  assert.equal(cgroup2Mount(HYBRID.split('\n').slice(0, 2).join('\n')), undefined, 'v1 only');
});

test('pod cgroups live under virtnet/ and only sandbox-like names are accepted', () => {
  assert.equal(podCgroupPath('vn-0123456789', '/sys/fs/cgroup'), '/sys/fs/cgroup/virtnet/vn-0123456789');
  for (const bad of ['../x', 'a/b', '', '.', 'X'.repeat(10), 'vn 1'])
    assert.throws(() => podCgroupPath(bad, '/sys/fs/cgroup'), /not a pod cgroup name/u);
});
