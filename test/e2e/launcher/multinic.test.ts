// A 3-NIC VM: the pod network with masquerade, a secondary network from a
// NAD-style conflist on Debian's bridge plugin with host-local (bridge-bound,
// the guest gets its IP by DHCP), and an L2-only secondary (no IPAM: no lease).
// Attachments are made by netattach, as the node runtime will make them.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { makeNetns } from '../../support/netns.ts';
import { nodeFixture, CNI_PATH } from '../../support/cni.ts';
import { guestSpec, podSnapshot, startLauncher, waitFor, type RunningLauncher } from '../../support/launcher.ts';
import { attachPod, detachPod, type AttachOptions, type PodRef } from '../../../netattach/attach.ts';
import { podIfName } from '../../../launcher/names.ts';

describe('launcher: a multi-NIC VM on attachments made by netattach', { timeout: 200_000 }, () => {
  const running: RunningLauncher[] = [];
  after(async () => {
    await Promise.all(running.map((l) => l.stop()));
  });
  const fx = nodeFixture();

  test('masquerade on the pod network, DHCP on a bridge+host-local secondary, nothing on an L2 secondary', async () => {
    const pod = makeNetns('vnt-pod');
    const o: AttachOptions = {
      cniPath: [...CNI_PATH.split(':'), resolve('test/support')],
      dataDir: join(fx.dir, 'd'),
      cacheDir: join(fx.dir, 'cache'),
      wrap: ['ip', 'netns', 'exec', fx.node.name],
    };
    const ref: PodRef = { namespace: 'e2e', name: 'multinic', uid: 'u1', containerID: 'c-multi', netns: pod.path };
    const blueIf = podIfName({ name: 'blue', multus: { networkName: 'e2e/blue' } });
    const l2If = podIfName({ name: 'l2', multus: { networkName: 'e2e/l2' } });
    const done = await attachPod(
      ref,
      [
        {
          name: 'podnet',
          isDefault: true,
          ifname: 'eth0',
          list: {
            cniVersion: '1.1.0',
            name: 'podnet',
            plugins: [
              {
                type: 'virtnet-bridge',
                bridge: 'vnt-mn0',
                isDefaultGateway: true,
                dataDir: join(fx.dir, 'vb'),
                ipam: { type: 'host-local', subnet: '10.130.0.0/24', dataDir: join(fx.dir, 'ipam') },
              },
            ],
          },
        },
        {
          name: 'e2e/blue',
          isDefault: false,
          ifname: blueIf,
          list: {
            cniVersion: '1.0.0',
            name: 'blue',
            plugins: [
              {
                type: 'bridge',
                bridge: 'vnt-mblue',
                ipam: { type: 'host-local', subnet: '10.131.0.0/24', dataDir: join(fx.dir, 'ipam') },
              },
            ],
          },
        },
        {
          name: 'e2e/l2',
          isDefault: false,
          ifname: l2If,
          list: {
            cniVersion: '1.1.0',
            name: 'l2',
            plugins: [{ type: 'virtnet-bridge', bridge: 'vnt-ml2', dataDir: join(fx.dir, 'vb') }],
          },
        },
      ],
      o,
    );
    const blueIp = done[1]!.result.ips![0]!.address.split('/')[0]!;
    const before = podSnapshot(pod);
    const spec = guestSpec('multinic', {
      interfaces: [
        { name: 'default', masquerade: {} },
        { name: 'blue', bridge: {} },
        { name: 'l2', bridge: {} },
      ],
      networks: [
        { name: 'default', pod: {} },
        { name: 'blue', multus: { networkName: 'e2e/blue' } },
        { name: 'l2', multus: { networkName: 'e2e/l2' } },
      ],
    });
    const launcher = startLauncher(pod, join(fx.dir, 'multinic'), spec);
    running.push(launcher);
    const status = await launcher.waitRunning();
    assert.deepEqual(
      status.nics.map((n) => [n.name, n.binding, n.podInterface, n.tap, n.dhcp]),
      [
        ['default', 'masquerade', 'eth0', 'tap0', true],
        ['blue', 'bridge', blueIf, `tap${blueIf.slice(3)}`, true],
        ['l2', 'bridge', l2If, `tap${l2If.slice(3)}`, false],
      ],
    );
    await waitFor(
      'both leases',
      () => {
        const s = launcher.status();
        return s?.nics[0]?.leased4 && s.nics[1]?.leased4;
      },
      90_000,
    );
    await waitFor('guest ready', () => launcher.consoleLine('VIRTNET-READY'), 60_000);
    const leases = launcher
      .console()
      .split(/\r?\n/u)
      .filter((l) => l.startsWith('VIRTNET-LEASE4'));
    assert.ok(
      leases.some((l) => l.includes(' ip=10.0.2.2/24 ')),
      leases.join('\n'),
    );
    assert.ok(
      leases.some((l) => l.includes(` ip=${blueIp}/24 `)),
      leases.join('\n'),
    );
    assert.equal(new Set(leases.map((l) => / iface=(\S+)/u.exec(l)?.[1])).size, 2, 'the L2-only NIC gets no lease');
    await launcher.stop();
    assert.equal(podSnapshot(pod), before);
    assert.deepEqual(await detachPod(ref, o), []);
  });
});
