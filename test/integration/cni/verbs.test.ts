// ADD, CHECK, GC and DEL at every supported version, run as a runtime runs the plugin.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeNetns, links } from '../../support/netns.ts';
import { bridgeConf, nodeFixture, callPlugin, ipamAllocations, mustCall } from '../../support/cni.ts';

const VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

describe('virtnet-bridge verbs at each CNI version', () => {
  const fx = nodeFixture();

  for (const version of VERSIONS) {
    test(`ADD, CHECK, GC and DEL at ${version}`, () => {
      const pod = makeNetns('vnt-pod');
      const conf = bridgeConf(fx.dir, { cniVersion: version, name: `net-${version.replaceAll('.', '')}` });
      const who = { containerID: `c-${version}`, ifname: 'eth0', netns: pod.path };
      const add = mustCall(fx.node, 'ADD', conf, who).json!;

      assert.equal(add.cniVersion, version);
      assert.deepEqual(add.interfaces.map((i: { name: string }) => i.name).slice(0, 1), ['vtest0']);
      assert.equal(add.interfaces.length, 3);
      assert.equal(add.interfaces[2].name, 'eth0');
      assert.equal(add.interfaces[2].sandbox, pod.path);
      assert.equal(add.ips.length, 1);
      assert.equal(add.ips[0].interface, 2);
      assert.match(add.ips[0].address, /^10\.99\.0\.\d+\/24$/);
      assert.equal(add.ips[0].gateway, '10.99.0.1');
      assert.deepEqual(add.dns, {});
      if (version === '1.1.0') assert.equal(add.interfaces[2].mtu, 1500);
      else assert.equal(add.interfaces[2].mtu, undefined, 'mtu is new in 1.1.0');
      if (version < '1.0.0') assert.equal(add.ips[0].version, '4');
      else assert.equal(add.ips[0].version, undefined);

      const eth0 = links(pod).find((l) => l.ifname === 'eth0');
      assert.ok(eth0, 'eth0 exists in the pod');
      assert.equal(eth0.address, add.interfaces[2].mac);
      assert.ok(eth0.addr_info?.some((a) => `${a.local}/${a.prefixlen}` === add.ips[0].address));

      const withPrev = { ...conf, prevResult: add };
      const check = callPlugin(fx.node, 'CHECK', withPrev, who);
      if (version >= '0.4.0') assert.equal(check.status, 0, check.stdout);
      else {
        assert.equal(check.json?.code, 1);
        assert.match(check.json?.msg, /config version does not allow CHECK/);
      }

      const gc = callPlugin(fx.node, 'GC', {
        ...conf,
        'cni.dev/valid-attachments': [{ containerID: who.containerID, ifname: 'eth0' }],
      });
      if (version === '1.1.0') {
        assert.equal(gc.status, 0, gc.stdout);
        assert.ok(
          links(pod).some((l) => l.ifname === 'eth0'),
          'GC keeps a valid attachment',
        );
      } else {
        assert.equal(gc.json?.code, 1);
        assert.match(gc.json?.msg, /config version does not allow GC/);
      }

      mustCall(fx.node, 'DEL', withPrev, who);
      assert.ok(!links(pod).some((l) => l.ifname === 'eth0'), 'DEL removes eth0');
      assert.deepEqual(ipamAllocations(`${fx.dir}/ipam`, conf.name as string), []);
    });
  }

  test('CHECK fails when an address or the interface is gone', () => {
    const pod = makeNetns('vnt-pod');
    const conf = bridgeConf(fx.dir, { name: 'checknet' });
    const who = { containerID: 'c-check', ifname: 'eth0', netns: pod.path };
    const add = mustCall(fx.node, 'ADD', conf, who).json!;
    const withPrev = { ...conf, prevResult: add };
    assert.equal(callPlugin(fx.node, 'CHECK', withPrev, who).status, 0);

    pod.run(['ip', 'addr', 'flush', 'dev', 'eth0']);
    const noAddr = callPlugin(fx.node, 'CHECK', withPrev, who);
    assert.equal(noAddr.status, 1);
    assert.match(noAddr.json?.msg, /address 10\.99\.0\.\d+\/24 not found on eth0/);

    const noPrev = callPlugin(fx.node, 'CHECK', conf, who);
    assert.equal(noPrev.json?.code, 7);
    assert.match(noPrev.json?.msg, /prevResult: required for CHECK/);

    pod.run(['ip', 'link', 'del', 'eth0']);
    const noLink = callPlugin(fx.node, 'CHECK', withPrev, who);
    assert.equal(noLink.status, 1);
    assert.match(noLink.json?.msg, /missing|not found/);
    mustCall(fx.node, 'DEL', withPrev, who);
  });

  test('VERSION lists every supported version', () => {
    const r = mustCall(fx.node, 'VERSION', { cniVersion: '1.1.0' });
    assert.deepEqual(r.json?.supportedVersions, VERSIONS);
  });

  test('STATUS is 0 with host-local and 50 when the IPAM plugin is missing', () => {
    const conf = bridgeConf(fx.dir);
    assert.equal(callPlugin(fx.node, 'STATUS', conf).status, 0);
    const missing = callPlugin(fx.node, 'STATUS', { ...conf, ipam: { type: 'no-such-ipam' } });
    assert.equal(missing.status, 1);
    assert.equal(missing.json?.code, 50);
    assert.match(missing.json?.msg, /no-such-ipam.*not found in CNI_PATH/);
  });
});
