// VNF L2 networks: VMs on one secondary network reach each other and a VM on
// another cannot; and two VMs on different nodes share one L2 network over
// VXLAN (the nodes are two namespaces joined by an underlay veth).
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { makeNetns, type Netns } from '../../support/netns.ts';
import { nodeFixture, CNI_PATH } from '../../support/cni.ts';
import { guestSpec, startLauncher, waitFor, type RunningLauncher } from '../../support/launcher.ts';
import { attachPod, type AttachOptions } from '../../../netattach/attach.ts';
import type { ConfList } from '../../../netattach/invoke.ts';
import { podIfName } from '../../../launcher/names.ts';

describe('VNF: L2 secondary networks', { timeout: 300_000 }, () => {
  const running: RunningLauncher[] = [];
  after(async () => {
    await Promise.all(running.map((l) => l.stop()));
  });
  const fx = nodeFixture();
  const podnet = (node: string): ConfList => ({
    cniVersion: '1.1.0',
    name: `podnet-${node}`,
    plugins: [
      {
        type: 'virtnet-bridge',
        bridge: 'vnt-l2p',
        isDefaultGateway: true,
        dataDir: join(fx.dir, `vb-${node}`),
        ipam: { type: 'host-local', subnet: '10.150.0.0/24', dataDir: join(fx.dir, `ipam-${node}`) },
      },
    ],
  });

  /** A VM pod on `node` with the pod network (masquerade) and one secondary bridge-bound network. */
  async function vm(
    node: Netns,
    name: string,
    secondary: ConfList,
  ): Promise<{ launcher: RunningLauncher; ip: string }> {
    const pod = makeNetns('vnt-pod');
    const o: AttachOptions = {
      cniPath: CNI_PATH.split(':'),
      dataDir: join(fx.dir, 'd'),
      cacheDir: join(fx.dir, `cache-${node.name}`),
      wrap: ['ip', 'netns', 'exec', node.name],
    };
    const ifname = podIfName({ name: 'l2', multus: { networkName: `e2e/${secondary.name}` } });
    const done = await attachPod(
      { namespace: 'e2e', name, uid: name, containerID: `c-${name}`, netns: pod.path },
      [
        { name: 'podnet', isDefault: true, ifname: 'eth0', list: podnet(node.name) },
        { name: `e2e/${secondary.name}`, isDefault: false, ifname, list: secondary },
      ],
      o,
    );
    const spec = guestSpec(name, {
      interfaces: [
        { name: 'default', masquerade: {} },
        { name: 'l2', bridge: {} },
      ],
      networks: [
        { name: 'default', pod: {} },
        { name: 'l2', multus: { networkName: `e2e/${secondary.name}` } },
      ],
    });
    const launcher = startLauncher(pod, join(fx.dir, name), spec);
    running.push(launcher);
    return { launcher, ip: done[1]!.result.ips![0]!.address.split('/')[0]! };
  }

  const l2 = (
    name: string,
    bridge: string,
    subnet: string,
    start: string,
    extra: Record<string, unknown> = {},
  ): ConfList => ({
    cniVersion: '1.1.0',
    name,
    plugins: [
      {
        type: 'virtnet-bridge',
        bridge,
        dataDir: join(fx.dir, 'vb-l2'),
        ipam: { type: 'host-local', subnet, rangeStart: start, dataDir: join(fx.dir, `ipam-${name}-${start}`) },
        ...extra,
      },
    ],
  });

  async function ready(v: { launcher: RunningLauncher }): Promise<void> {
    await v.launcher.waitRunning();
    await waitFor('the secondary lease', () => v.launcher.status()?.nics[1]?.leased4, 120_000);
    await waitFor('guest ready', () => v.launcher.consoleLine('VIRTNET-READY'), 60_000);
  }

  test('two VMs on one L2 network reach each other; a VM on another network cannot', async () => {
    const a = await vm(fx.node, 'red-a', l2('red', 'vnt-red0', '192.168.10.0/24', '192.168.10.10'));
    const b = await vm(fx.node, 'red-b', l2('red', 'vnt-red0', '192.168.10.0/24', '192.168.10.20'));
    const c = await vm(fx.node, 'green-c', l2('green', 'vnt-green0', '192.168.10.0/24', '192.168.10.30'));
    await Promise.all([ready(a), ready(b), ready(c)]);
    const ab = await a.launcher.guestRun(`ping -c 2 -W 3 ${b.ip}`);
    assert.equal(ab.rc, 0, `red-a reaches red-b:\n${ab.output}`);
    const ac = await a.launcher.guestRun(`ping -c 2 -W 2 ${c.ip}`);
    assert.notEqual(ac.rc, 0, 'red-a cannot reach green-c (same subnet, other L2 network)');
    await Promise.all([a, b, c].map((v) => v.launcher.stop()));
  });

  test('two VMs on different nodes share one L2 network over VXLAN', async () => {
    const n2 = makeNetns('vnt-node');
    fx.node.run(['ip', 'link', 'add', 'underlay', 'type', 'veth', 'peer', 'name', 'underlay', 'netns', n2.name]);
    fx.node.run(['ip', 'addr', 'add', '192.0.2.1/30', 'dev', 'underlay']);
    n2.run(['ip', 'addr', 'add', '192.0.2.2/30', 'dev', 'underlay']);
    fx.node.run(['ip', 'link', 'set', 'underlay', 'up']);
    n2.run(['ip', 'link', 'set', 'underlay', 'up']);
    const overlay = (remote: string, start: string) =>
      l2('blue', 'vnt-vx0', '192.168.20.0/24', start, { mtu: 1450, vxlan: { id: 77, remote, dev: 'underlay' } });
    const a = await vm(fx.node, 'vx-a', overlay('192.0.2.2', '192.168.20.10'));
    const b = await vm(n2, 'vx-b', overlay('192.0.2.1', '192.168.20.20'));
    await Promise.all([ready(a), ready(b)]);
    const ab = await a.launcher.guestRun(`ping -c 2 -W 3 ${b.ip}`);
    assert.equal(ab.rc, 0, `vx-a reaches vx-b across nodes:\n${ab.output}`);
    await Promise.all([a, b].map((v) => v.launcher.stop()));
  });
});
