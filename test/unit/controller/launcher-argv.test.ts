/**
 * How the node runtime starts a launcher (controller/node/sandbox.ts launcherArgv, launcherEnv): in the pod's
 * netns, then under unshare(1) in a private mount namespace, both exec'ing in place, so that the pid started is
 * the launcher's one Node process, marked `pending` for it to record its namespace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeConfig } from '../../../controller/node/config.ts';
import { launcherArgv, launcherEnv } from '../../../controller/node/sandbox.ts';
import { PRIVATE_MOUNTNS_ENV } from '../../../launcher/domain/libvirtd.ts';

const cfg = nodeConfig({ stateDir: '/var/lib/vn', launcher: '/opt/vn/virtnet-launcher', allowedHostPaths: ['/srv'] });
const files = { spec: '/l/spec.json', stateDir: '/l', resolvConf: '/v/resolv.conf' };

test('the launcher runs in the netns, under unshare --mount --propagation private without --fork, then Node', () => {
  assert.deepEqual(launcherArgv(cfg, 'vn-0123456789', files, '/virtnet/vn-0123456789'), [
    ...['ip', 'netns', 'exec', 'vn-0123456789'],
    ...['unshare', '--mount', '--propagation', 'private', '--'],
    process.execPath,
    '/opt/vn/virtnet-launcher',
    ...['run', '--spec', '/l/spec.json', '--state-dir', '/l', '--resolv-conf', '/v/resolv.conf'],
    ...['--libvirt-cache', '/var/cache/virtnet/libvirt-qemu', '--allowed-host-path', '/srv'],
    ...['--cgroup', '/virtnet/vn-0123456789'],
  ]);
});

test('no --fork anywhere: a forking wrapper would leave the started pid a parent that SIGTERM stops alone', () => {
  const argv = launcherArgv(cfg, 'vn-0123456789', files);
  assert.ok(!argv.some((a) => a === '--fork' || a === '-f' || a === '-b' || a === '-batch'));
  assert.ok(!argv.includes('--cgroup'), 'without a pod cgroup, no --cgroup to wait for');
});

test('the environment marks the mount namespace pending, over any marker inherited', () => {
  const env = launcherEnv({ PATH: '/usr/bin', [PRIVATE_MOUNTNS_ENV]: 'mnt:[4026531841]' });
  assert.deepEqual(env, { PATH: '/usr/bin', [PRIVATE_MOUNTNS_ENV]: 'pending' });
});
