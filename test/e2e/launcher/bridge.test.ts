// The bridge binding end to end: pods wired by virtnet-bridge, a launcher in
// each pod, the test guest booted by libvirt under TCG, checked from its own
// console and from other pods.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { makeNetns, ping, type Netns } from '../../support/netns.ts';
import { bridgeConf, mustCall, nodeFixture } from '../../support/cni.ts';
import {
  LAUNCHER,
  guestSpec,
  podSnapshot,
  startLauncher,
  waitFor,
  type RunningLauncher,
} from '../../support/launcher.ts';

const LEASE_TIMEOUT = 90_000;

describe('launcher: bridge binding with a real guest', { timeout: 400_000 }, () => {
  // Registered before the node fixture's, so launchers stop while their netns and state still exist.
  const running: RunningLauncher[] = [];
  after(async () => {
    await Promise.all(running.map((l) => l.stop()));
  });
  const fx = nodeFixture();

  function pod(name: string, conf: Record<string, unknown>): { ns: Netns; result: Record<string, any> } {
    const ns = makeNetns('vnt-pod');
    const result = mustCall(fx.node, 'ADD', conf, { containerID: name, ifname: 'eth0', netns: ns.path }).json!;
    return { ns, result };
  }

  test(
    'IPv4 pod: the guest gets the ' +
      "pod's IP, router, DNS, search, " +
      'MTU and hostname, and reaches ' +
      'the gateway and another pod',
    async () => {
      const conf = bridgeConf(fx.dir, {
        name: 'e2e4',
        bridge: 'vnt-br4',
        subnet: '10.244.0.0/24',
        extra: { isDefaultGateway: true, mtu: 1400 },
      });
      const vmPod = pod('vm-a', conf);
      const peer = pod('peer-a', conf);
      const podIp = (vmPod.result.ips[0].address as string).split('/')[0]!;
      const before = podSnapshot(vmPod.ns);
      const stateDir = join(fx.dir, 'vm-a');
      const launcher = startLauncher(vmPod.ns, stateDir, guestSpec('vm-a', { hostname: 'alpha' }, 'virtnet.renew=2'));
      running.push(launcher);
      await launcher.waitRunning();
      await waitFor('the IPv4 lease in status', () => launcher.status()?.nics[0]?.leased4, LEASE_TIMEOUT);
      const lease = await waitFor('the guest lease line', () => launcher.consoleLine('VIRTNET-LEASE4'), LEASE_TIMEOUT);
      assert.match(lease, new RegExp(`ip=${podIp.replaceAll('.', '\\.')}/24 `));
      assert.match(lease, / router=10\.244\.0\.1 /);
      assert.match(lease, / dns=10\.96\.0\.10 /);
      assert.match(lease, / search=e2e\.svc\.cluster\.local,svc\.cluster\.local,cluster\.local /);
      assert.match(lease, / hostname=alpha /);
      assert.match(lease, / mtu=1400/);
      await waitFor('guest ready', () => launcher.consoleLine('VIRTNET-READY'), 30_000);

      const toGateway = await launcher.guestRun('ping -c 1 -W 3 10.244.0.1');
      assert.equal(toGateway.rc, 0, toGateway.output);
      const peerIp = (peer.result.ips[0].address as string).split('/')[0]!;
      const toPeer = await launcher.guestRun(`ping -c 1 -W 3 ${peerIp}`);
      assert.equal(toPeer.rc, 0, toPeer.output);
      assert.ok(ping(peer.ns, podIp, 2), 'the peer pod reaches the guest at the pod IP');

      // A second MAC on the VM's bridge gets nothing: dnsmasq answers the VM's MAC only.
      const rogue = makeNetns('vnt-rogue');
      vmPod.ns.run(['ip', 'link', 'add', 'rogue0', 'type', 'veth', 'peer', 'name', 'rogue1', 'netns', rogue.name]);
      vmPod.ns.run(['ip', 'link', 'set', 'rogue0', 'master', 'k6t-eth0', 'up']);
      rogue.run(['ip', 'link', 'set', 'rogue1', 'up']);
      const stolen = rogue.try([
        'busybox',
        'udhcpc',
        '-i',
        'rogue1',
        '-n',
        '-q',
        '-t',
        '3',
        '-T',
        '1',
        '-s',
        '/bin/true',
      ]);
      assert.notEqual(stolen.status, 0, 'no lease for another MAC');
      vmPod.ns.run(['ip', 'link', 'del', 'rogue0']);

      // dnsmasq dies; the launcher restarts it; the guest's next renewal is answered.
      const pid = Number(readFileSync(join(stateDir, 'dnsmasq.pid'), 'utf8'));
      process.kill(pid, 'SIGKILL');
      await waitFor('dnsmasq restarted', () => (launcher.status()?.dnsmasqRestarts ?? 0) >= 1, 10_000);
      const logAfterRestart = () =>
        readFileSync(join(stateDir, 'dnsmasq.log'), 'utf8')
          .split(/started, version/u)
          .at(-1) ?? '';
      await waitFor(
        'a renewal answered by the new dnsmasq',
        () => /DHCPACK\(k6t-eth0\)/u.test(logAfterRestart()),
        20_000,
      );
      const restartedAt = launcher.console().length;
      await waitFor(
        'the guest logs a renewal after the restart',
        () => launcher.consoleLine('VIRTNET-LEASE4 iface=eth0 event=renew', restartedAt),
        20_000,
      );

      await launcher.stop();
      assert.equal(launcher.status()?.phase, 'Stopped');
      assert.equal(podSnapshot(vmPod.ns), before, 'teardown leaves the netns as the CNI plugin left it');
      assert.equal(
        mustCall(
          fx.node,
          'CHECK',
          { ...conf, prevResult: vmPod.result },
          { containerID: 'vm-a', ifname: 'eth0', netns: vmPod.ns.path },
        ).status,
        0,
      );
    },
  );

  test('dual-stack pod with a garbage resolv.conf: the guest gets both addresses and an IPv6 default route', async () => {
    const conf = {
      ...bridgeConf(fx.dir, { name: 'e2e6', bridge: 'vnt-br6', extra: { isDefaultGateway: true } }),
      ipam: {
        type: 'host-local',
        dataDir: join(fx.dir, 'ipam'),
        ranges: [[{ subnet: '10.245.0.0/24' }], [{ subnet: 'fd00:245::/64' }]],
      },
    };
    const vmPod = pod('vm-b', conf);
    const v6 = (vmPod.result.ips as Array<{ address: string }>)
      .find((i) => i.address.includes(':'))!
      .address.split('/')[0]!;
    const before = podSnapshot(vmPod.ns);
    const garbage =
      'nameserver 10.96.0.10\nnameserver not-an-ip\nsearch ok.example bad_domain.example -x.example ' +
      'a..b\n\u0000\u00ff junk line\n';
    const launcher = startLauncher(vmPod.ns, join(fx.dir, 'vm-b'), guestSpec('vm-b'), { resolvConf: garbage });
    running.push(launcher);
    await launcher.waitRunning();
    const lease4 = await waitFor('the IPv4 lease line', () => launcher.consoleLine('VIRTNET-LEASE4'), LEASE_TIMEOUT);
    assert.match(lease4, / search=ok\.example /, 'invalid search domains are dropped, the lease still comes');
    assert.ok(
      launcher.status()!.warnings.some((w) => w.includes('bad_domain.example')),
      'the dropped domains are reported',
    );
    const lease6 = await waitFor('the IPv6 lease line', () => launcher.consoleLine('VIRTNET-LEASE6'), LEASE_TIMEOUT);
    assert.match(lease6, new RegExp(` ip=${v6}/`));
    assert.match(lease6, / router=fe80:[0-9a-f:]+/, 'an IPv6 default route');
    const toGw6 = await launcher.guestRun('ping -c 1 -W 3 fd00:245::1');
    assert.equal(toGw6.rc, 0, toGw6.output);
    await launcher.stop();
    assert.equal(podSnapshot(vmPod.ns), before);
  });

  test('after kill -9, teardown reaps QEMU, libvirtd and dnsmasq and restores the pod', async () => {
    const conf = bridgeConf(fx.dir, {
      name: 'e2ecrash',
      bridge: 'vnt-brc',
      subnet: '10.246.0.0/24',
      extra: { isDefaultGateway: true },
    });
    const vmPod = pod('vm-c', conf);
    const before = podSnapshot(vmPod.ns);
    const stateDir = join(fx.dir, 'vm-c');
    const launcher = startLauncher(vmPod.ns, stateDir, guestSpec('vm-c'));
    running.push(launcher);
    const status = await launcher.waitRunning();
    const pids = status.pids!;
    assert.ok(pids.qemu && pids.libvirtd && pids.dnsmasq, `pids recorded: ${JSON.stringify(pids)}`);
    process.kill(status.pid, 'SIGKILL');
    await launcher.exited;
    assert.ok(alive(pids.qemu), 'QEMU outlives a killed launcher (libvirt daemonizes it)');
    const teardown = vmPod.ns.try([process.execPath, LAUNCHER, 'teardown', '--state-dir', stateDir]);
    assert.equal(teardown.status, 0, teardown.stderr);
    for (const pid of [pids.qemu, pids.libvirtd, pids.dnsmasq]) assert.ok(!alive(pid), `pid ${pid} is gone`);
    assert.equal(podSnapshot(vmPod.ns), before);
    const again = vmPod.ns.try([process.execPath, LAUNCHER, 'teardown', '--state-dir', stateDir]);
    assert.equal(again.status, 0, 'teardown is idempotent');
    assert.equal(podSnapshot(vmPod.ns), before);
  });
});

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] !== 'Z';
  } catch {
    return false;
  }
}
