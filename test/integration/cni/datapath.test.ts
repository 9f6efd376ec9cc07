// Traffic through the plugin's wiring: pods on one bridge reach each other and
// the gateway; pods on different bridges do not; a spoofed MAC is dropped; and
// with every feature on, DEL leaves no link, rule, IP or record behind.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeNetns, links, nftTables, ping } from '../../support/netns.ts';
import { bridgeConf, nodeFixture, ipamAllocations, mustCall } from '../../support/cni.ts';

function ipOf(add: Record<string, any>): string {
  return (add.ips[0].address as string).split('/')[0]!;
}

describe('virtnet-bridge data path', () => {
  const fx = nodeFixture();

  test('two pods on one bridge ping each other and the gateway', () => {
    const conf = bridgeConf(fx.dir, { name: 'pingnet', extra: { isDefaultGateway: true } });
    const [a, b] = [makeNetns('vnt-pod'), makeNetns('vnt-pod')];
    const addA = mustCall(fx.node, 'ADD', conf, { containerID: 'c-a', ifname: 'eth0', netns: a.path }).json!;
    const addB = mustCall(fx.node, 'ADD', conf, { containerID: 'c-b', ifname: 'eth0', netns: b.path }).json!;
    assert.notEqual(ipOf(addA), ipOf(addB));
    assert.ok(ping(a, ipOf(addB)), 'a reaches b');
    assert.ok(ping(b, ipOf(addA)), 'b reaches a');
    assert.ok(ping(a, '10.99.0.1'), 'a reaches the gateway');
    assert.match(a.run(['ip', 'route', 'show', 'default']), /default via 10\.99\.0\.1 dev eth0/);
    mustCall(fx.node, 'DEL', conf, { containerID: 'c-a', ifname: 'eth0', netns: a.path });
    mustCall(fx.node, 'DEL', conf, { containerID: 'c-b', ifname: 'eth0', netns: b.path });
  });

  test('pods on different bridges cannot reach each other', () => {
    // Same subnet, disjoint ranges, no gateway: only L2 could join them, and the bridges differ.
    const left = bridgeConf(fx.dir, {
      name: 'left',
      bridge: 'vleft0',
      extra: { isGateway: false },
      ipamExtra: { rangeStart: '10.97.0.10', rangeEnd: '10.97.0.19' },
      subnet: '10.97.0.0/24',
    });
    const right = bridgeConf(fx.dir, {
      name: 'right',
      bridge: 'vright0',
      extra: { isGateway: false },
      ipamExtra: { rangeStart: '10.97.0.20', rangeEnd: '10.97.0.29' },
      subnet: '10.97.0.0/24',
    });
    const [a, b, c] = [makeNetns('vnt-pod'), makeNetns('vnt-pod'), makeNetns('vnt-pod')];
    const addA = mustCall(fx.node, 'ADD', left, { containerID: 'c-l', ifname: 'eth0', netns: a.path }).json!;
    const addC = mustCall(fx.node, 'ADD', left, { containerID: 'c-l2', ifname: 'eth0', netns: c.path }).json!;
    const addB = mustCall(fx.node, 'ADD', right, { containerID: 'c-r', ifname: 'eth0', netns: b.path }).json!;
    assert.ok(ping(a, ipOf(addC)), 'same bridge: reachable');
    assert.ok(!ping(a, ipOf(addB), 2), 'other bridge: unreachable');
    assert.ok(!ping(b, ipOf(addA), 2), 'other bridge: unreachable');
    for (const [conf, id, ns] of [
      [left, 'c-l', a],
      [left, 'c-l2', c],
      [right, 'c-r', b],
    ] as const) {
      mustCall(fx.node, 'DEL', conf, { containerID: id, ifname: 'eth0', netns: ns.path });
    }
  });

  test("macspoofchk drops frames from any MAC but the container's own", () => {
    const conf = bridgeConf(fx.dir, { name: 'spoof', extra: { macspoofchk: true } });
    const [a, b] = [makeNetns('vnt-pod'), makeNetns('vnt-pod')];
    const addA = mustCall(fx.node, 'ADD', conf, { containerID: 'c-sa', ifname: 'eth0', netns: a.path }).json!;
    const addB = mustCall(fx.node, 'ADD', conf, { containerID: 'c-sb', ifname: 'eth0', netns: b.path }).json!;
    assert.ok(ping(a, ipOf(addB)), 'own MAC passes');
    a.run(['ip', 'neigh', 'flush', 'all']);
    a.run(['ip', 'link', 'set', 'dev', 'eth0', 'address', '02:de:ad:be:ef:01']);
    assert.ok(!ping(a, ipOf(addB), 2), 'a spoofed source MAC is dropped');
    a.run(['ip', 'link', 'set', 'dev', 'eth0', 'address', addA.interfaces[2].mac]);
    assert.ok(ping(a, ipOf(addB), 3), 'the own MAC passes again');
    mustCall(fx.node, 'DEL', conf, { containerID: 'c-sa', ifname: 'eth0', netns: a.path });
    mustCall(fx.node, 'DEL', conf, { containerID: 'c-sb', ifname: 'eth0', netns: b.path });
  });

  test('with every feature on, DEL leaves no veth, rule, IP or record behind', () => {
    const conf = bridgeConf(fx.dir, {
      name: 'everything',
      bridge: 'vall0',
      extra: {
        isDefaultGateway: true,
        ipMasq: true,
        macspoofchk: true,
        hairpinMode: true,
        promiscMode: true,
        mtu: 1400,
        vlanTrunk: [{ id: 100 }, { minID: 200, maxID: 210 }],
      },
    });
    const pods = [makeNetns('vnt-pod'), makeNetns('vnt-pod')];
    const adds = pods.map(
      (p, i) => mustCall(fx.node, 'ADD', conf, { containerID: `c-all-${i}`, ifname: 'eth0', netns: p.path }).json!,
    );
    const br = links(fx.node).find((l) => l.ifname === 'vall0')!;
    assert.ok(br.flags.includes('PROMISC'), 'promiscMode sets the bridge promiscuous');
    assert.equal(links(pods[0]!).find((l) => l.ifname === 'eth0')?.mtu, 1400);
    assert.equal(nftTables(fx.node).length, 4, 'a bridge and an inet table per attachment');
    const hairpin = fx.node.run(['ip', '-d', '-j', 'link', 'show', 'dev', adds[0]!.interfaces[1].name]);
    assert.match(hairpin, /"hairpin":true/);
    pods.forEach((p, i) =>
      mustCall(fx.node, 'DEL', conf, { containerID: `c-all-${i}`, ifname: 'eth0', netns: p.path }),
    );
    assert.deepEqual(
      links(fx.node).filter((l) => l.linkinfo?.info_kind === 'veth'),
      [],
    );
    assert.deepEqual(nftTables(fx.node), []);
    assert.deepEqual(ipamAllocations(`${fx.dir}/ipam`, 'everything'), []);
    const recDir = join(fx.dir, 'virtnet', 'everything');
    assert.deepEqual(existsSync(recDir) ? readdirSync(recDir) : [], []);
  });
});
