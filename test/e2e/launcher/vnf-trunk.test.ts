// A VNF that tags its own frames: the guest (whose kernel has 8021q) sends on
// VLANs 100 and 200 through its L2-only secondary NIC; that attachment's
// vlanTrunk allows only 100, so a peer on the same bridge sees 100 and never
// 200. The host kernel here has neither 8021q nor VLAN filtering: the trunk
// is enforced by virtnet-bridge's nftables bridge-family rules.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { makeNetns } from '../../support/netns.ts';
import { mustCall, nodeFixture, CNI_PATH } from '../../support/cni.ts';
import { guestSpec, startLauncher, waitFor, type RunningLauncher } from '../../support/launcher.ts';
import { attachPod, detachPod, type AttachOptions, type PodRef } from '../../../netattach/attach.ts';
import { podIfName } from '../../../launcher/names.ts';

describe('VNF: a guest-tagged VLAN trunk', { timeout: 200_000 }, () => {
  const running: RunningLauncher[] = [];
  after(async () => {
    await Promise.all(running.map((l) => l.stop()));
  });
  const fx = nodeFixture();

  test('frames tagged 100 pass the trunk port, frames tagged 200 are dropped', async () => {
    const pod = makeNetns('vnt-pod');
    const o: AttachOptions = {
      cniPath: CNI_PATH.split(':'),
      dataDir: join(fx.dir, 'd'),
      cacheDir: join(fx.dir, 'cache'),
      wrap: ['ip', 'netns', 'exec', fx.node.name],
    };
    const ref: PodRef = { namespace: 'e2e', name: 'vnf', uid: 'u1', containerID: 'c-vnf', netns: pod.path };
    const trunkIf = podIfName({ name: 'trunk', multus: { networkName: 'e2e/trunk' } });
    const trunkList = (name: string, trunk: boolean) => ({
      cniVersion: '1.1.0',
      name,
      plugins: [
        {
          type: 'virtnet-bridge',
          bridge: 'vnt-vnf0',
          dataDir: join(fx.dir, 'vb'),
          ...(trunk && { vlanTrunk: [{ id: 100 }] }),
        },
      ],
    });
    await attachPod(
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
                bridge: 'vnt-vnfp',
                isDefaultGateway: true,
                dataDir: join(fx.dir, 'vb'),
                ipam: { type: 'host-local', subnet: '10.140.0.0/24', dataDir: join(fx.dir, 'ipam') },
              },
            ],
          },
        },
        { name: 'e2e/trunk', isDefault: false, ifname: trunkIf, list: trunkList('trunk', true) },
      ],
      o,
    );
    // The peer: a plain port on the same bridge, listening for tags.
    const peer = makeNetns('vnt-peer');
    const open = trunkList('open', false);
    mustCall(
      fx.node,
      'ADD',
      { cniVersion: open.cniVersion, name: open.name, ...open.plugins[0] },
      { containerID: 'c-peer', ifname: 'eth0', netns: peer.path },
    );
    const spec = guestSpec('vnf', {
      interfaces: [
        { name: 'default', masquerade: {} },
        { name: 'trunk', bridge: {} },
      ],
      networks: [
        { name: 'default', pod: {} },
        { name: 'trunk', multus: { networkName: 'e2e/trunk' } },
      ],
    });
    const launcher = startLauncher(pod, join(fx.dir, 'vnf'), spec);
    running.push(launcher);
    await launcher.waitRunning();
    await waitFor('guest ready', () => launcher.consoleLine('VIRTNET-READY'), 90_000);
    // The guest's second NIC is the trunk: find it by the MAC the launcher gave it.
    const mac = launcher.status()!.nics[1]!.mac;
    const nic = await launcher.guestRun(
      `ip -o link | grep -i ${mac} | cut -d: -f2 | tr -d ' ' > /tmp/trunk; cat /tmp/trunk`,
    );
    assert.equal(nic.rc, 0, nic.output);
    for (const vid of [100, 200]) {
      const made = await launcher.guestRun(
        `T=$(cat /tmp/trunk); ip link add link $T name vl${vid} type vlan id ${vid} && ip addr add ` +
          `192.168.${vid - 99}.2/24 dev vl${vid} && ip link set vl${vid} up`,
      );
      assert.equal(made.rc, 0, made.output);
    }
    const listener = spawn('ip', [
      'netns',
      'exec',
      peer.name,
      'python3',
      resolve('test/support/vlan_frames.py'),
      'vids',
      'eth0',
      '6',
    ]);
    let seen = '';
    listener.stdout.on('data', (d: Buffer) => (seen += d.toString()));
    const closed = new Promise((r) => listener.on('close', r));
    await new Promise((r) => setTimeout(r, 500));
    // ARP for addresses nobody has: broadcast frames on each VLAN.
    await launcher.guestRun('ping -c 3 -W 1 192.168.1.1; ping -c 3 -W 1 192.168.101.1; true');
    await closed;
    assert.deepEqual(
      seen.trim().split(/\s+/u).filter(Boolean),
      ['100'],
      `the peer saw VLANs: ${seen.trim() || 'none'}\n${launcher.console().slice(-1500)}`,
    );
    await launcher.stop();
    assert.deepEqual(await detachPod(ref, o), []);
  });
});
