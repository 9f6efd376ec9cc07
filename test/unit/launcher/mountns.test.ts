/**
 * The launcher's check of a `pending` mount-namespace marker (launcher/domain/libvirtd.ts
 * mountsPropagateNowhere): after `unshare --mount --propagation private` no mount carries a `shared:N`
 * field (mountinfo(5)); the host's namespace, where systemd makes / shared, does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mountsPropagateNowhere } from '../../../launcher/domain/libvirtd.ts';

const HOST = [
  '24 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda1 rw',
  '25 24 0:22 / /run rw,nosuid,nodev shared:12 - tmpfs tmpfs rw,mode=755',
].join('\n');
const IP_NETNS_EXEC = [
  '300 299 254:0 / / rw,relatime master:1 - ext4 /dev/vda1 rw',
  '301 300 0:22 / /run rw,nosuid,nodev master:12 - tmpfs tmpfs rw,mode=755',
  '302 300 0:90 / /sys rw,relatime - sysfs vn-0123456789 rw',
].join('\n');
const UNSHARED = [
  '400 399 254:0 / / rw,relatime - ext4 /dev/vda1 rw',
  '401 400 0:22 / /run rw,nosuid,nodev - tmpfs tmpfs rw,mode=755',
  '',
].join('\n');

test('a private namespace passes; one that only receives (master:N, as under ip netns exec) passes too', () => {
  assert.equal(mountsPropagateNowhere(UNSHARED), true);
  assert.equal(mountsPropagateNowhere(IP_NETNS_EXEC), true);
});

test('any shared mount fails, wherever its tag stands among the optional fields', () => {
  assert.equal(mountsPropagateNowhere(HOST), false);
  assert.equal(mountsPropagateNowhere(`${UNSHARED}402 400 0:30 / /mnt rw master:3 shared:7 - tmpfs t rw\n`), false);
});

test('a "shared:" in a mount point or the super options is not a propagation field', () => {
  assert.equal(mountsPropagateNowhere('500 400 0:31 / /srv/shared:1 rw - tmpfs shared:2 rw,shared:3'), true);
});
