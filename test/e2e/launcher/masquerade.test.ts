// The masquerade binding end to end: the guest on its private subnet behind
// the pod's IPs, reached only through the declared ports, in both families.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { makeNetns, nftTables, type Netns } from '../../support/netns.ts';
import { bridgeConf, mustCall, nodeFixture } from '../../support/cni.ts';
import { guestSpec, podSnapshot, startLauncher, waitFor, type RunningLauncher } from '../../support/launcher.ts';

const LEASE_TIMEOUT = 90_000;

function curl(from: Netns, url: string): { ok: boolean; body: string } {
  const r = from.try(['curl', '-s', '-g', '--max-time', '3', url]);
  return { ok: r.status === 0, body: r.stdout };
}

describe('launcher: masquerade binding with a real guest', { timeout: 300_000 }, () => {
  const running: RunningLauncher[] = [];
  after(async () => {
    await Promise.all(running.map((l) => l.stop()));
  });
  const fx = nodeFixture();

  function dualStackPod(name: string): { ns: Netns; v4: string; v6: string } {
    const conf = {
      ...bridgeConf(fx.dir, { name: 'e2emasq', bridge: 'vnt-brm', extra: { isDefaultGateway: true } }),
      ipam: {
        type: 'host-local',
        dataDir: join(fx.dir, 'ipam'),
        ranges: [[{ subnet: '10.248.0.0/24' }], [{ subnet: 'fd00:248::/64' }]],
      },
    };
    const ns = makeNetns('vnt-pod');
    const ips = mustCall(fx.node, 'ADD', conf, { containerID: name, ifname: 'eth0', netns: ns.path }).json!
      .ips as Array<{ address: string }>;
    const addr = (v6: boolean) => ips.find((i) => i.address.includes(':') === v6)!.address.split('/')[0]!;
    return { ns, v4: addr(false), v6: addr(true) };
  }

  test(
    'declared port 80: reachable on the pod IPs (v4 and v6) and the pod loopback; other ports stay in the pod; ' +
      'egress leaves as the pod IP',
    async () => {
      const pod = dualStackPod('masq-a');
      const peer = dualStackPod('masq-peer');
      const before = podSnapshot(pod.ns);
      const spec = guestSpec('masq-a', {
        interfaces: [{ name: 'default', masquerade: {}, ports: [{ name: 'http', port: 80 }] }],
      });
      const launcher = startLauncher(pod.ns, join(fx.dir, 'masq-a'), spec);
      running.push(launcher);
      await launcher.waitRunning();
      const lease4 = await waitFor('the IPv4 lease', () => launcher.consoleLine('VIRTNET-LEASE4'), LEASE_TIMEOUT);
      assert.match(lease4, / ip=10\.0\.2\.2\/24 router=10\.0\.2\.1 /);
      const lease6 = await waitFor('the IPv6 lease', () => launcher.consoleLine('VIRTNET-LEASE6'), LEASE_TIMEOUT);
      assert.match(
        lease6,
        / ip=fd10:0:2::2\/\d+ router=fe80::ff:fe00:0/,
        'an IPv6 default route via the bridge (KubeVirt gives none)',
      );
      assert.ok(launcher.console().includes('VIRTNET-ROUTE default via 10.0.2.1 dev eth0'));

      assert.match(curl(peer.ns, `http://${pod.v4}/`).body, /virtnet guest masq-a/);
      assert.match(curl(peer.ns, `http://[${pod.v6}]/`).body, /virtnet guest masq-a/);
      assert.match(curl(pod.ns, 'http://127.0.0.1/').body, /virtnet guest masq-a/, 'from the pod loopback');

      // A service on an undeclared port: the guest has it, the pod IP does not forward it.
      const httpd = await launcher.guestRun('busybox httpd -p 8080 -h /www');
      assert.equal(httpd.rc, 0);
      assert.equal(curl(peer.ns, `http://${pod.v4}:8080/`).ok, false, 'port 8080 is not forwarded');
      assert.equal(curl(peer.ns, `http://[${pod.v6}]:8080/`).ok, false, 'nor over IPv6');

      // The guest's egress: count what reaches the peer, by source address.
      peer.ns.run(
        ['nft', '-f', '-'],
        `table inet count {\n chain in {\n  type filter hook input priority 0;\n  icmp type echo-request ip saddr ` +
          `${pod.v4} counter\n  icmp type echo-request ip saddr 10.0.2.2 counter\n }\n}\n`,
      );
      const pinged = await launcher.guestRun(`ping -c 2 -W 3 ${peer.v4}`);
      assert.equal(pinged.rc, 0, pinged.output);
      const counters = peer.ns.run(['nft', 'list', 'table', 'inet', 'count']);
      assert.match(counters, new RegExp(`ip saddr ${pod.v4.replaceAll('.', '\\.')} counter packets 2 `), counters);
      assert.match(counters, /ip saddr 10\.0\.2\.2 counter packets 0 /, counters);
      const pinged6 = await launcher.guestRun(`ping -c 1 -W 3 ${peer.v6}`);
      assert.equal(pinged6.rc, 0, pinged6.output);

      await launcher.stop();
      assert.deepEqual(nftTables(pod.ns), [], 'teardown removes the table');
      assert.equal(podSnapshot(pod.ns), before);
    },
  );

  test('no ports and a custom vmNetworkCIDR: everything is forwarded to the guest at 10.11.0.2/29', async () => {
    const pod = dualStackPod('masq-b');
    const peer = dualStackPod('masq-peer-b');
    const spec = guestSpec('masq-b', {
      interfaces: [{ name: 'default', masquerade: {} }],
      networks: [{ name: 'default', pod: { vmNetworkCIDR: '10.11.0.0/29', vmIPv6NetworkCIDR: 'fd11::/124' } }],
    });
    const launcher = startLauncher(pod.ns, join(fx.dir, 'masq-b'), spec);
    running.push(launcher);
    await launcher.waitRunning();
    const lease4 = await waitFor('the IPv4 lease', () => launcher.consoleLine('VIRTNET-LEASE4'), LEASE_TIMEOUT);
    assert.match(lease4, / ip=10\.11\.0\.2\/29 router=10\.11\.0\.1 /);
    await waitFor('guest ready', () => launcher.consoleLine('VIRTNET-READY'), 30_000);
    assert.equal((await launcher.guestRun('busybox httpd -p 8080 -h /www')).rc, 0);
    assert.match(
      curl(peer.ns, `http://${pod.v4}:8080/`).body,
      /virtnet guest masq-b/,
      'any port is forwarded without ports',
    );
    await launcher.stop();
    assert.deepEqual(nftTables(pod.ns), []);
  });
});
