// Idempotency and rollback (SPEC.md "DEL": repeatable, and fine when the
// netns is gone or ADD never ran; a failed ADD leaves nothing behind).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { makeNetns, deleteNetns, links, nftTables, type Netns } from '../../support/netns.ts';
import { bridgeConf, nodeFixture, callPlugin, ipamAllocations, mustCall } from '../../support/cni.ts';

function records(dir: string, network: string): string[] {
  const d = join(dir, 'virtnet', network);
  return existsSync(d) ? readdirSync(d) : [];
}

function veths(node: Netns): string[] {
  return links(node)
    .filter((l) => l.linkinfo?.info_kind === 'veth')
    .map((l) => l.ifname);
}

describe('virtnet-bridge lifecycle', () => {
  const fx = nodeFixture();

  test('ADD→DEL→ADD, and DEL twice', () => {
    const pod = makeNetns('vnt-pod');
    const conf = bridgeConf(fx.dir, { name: 'cycle' });
    const who = { containerID: 'c-cycle', ifname: 'eth0', netns: pod.path };
    const first = mustCall(fx.node, 'ADD', conf, who).json!;
    mustCall(fx.node, 'DEL', { ...conf, prevResult: first }, who);
    const second = mustCall(fx.node, 'ADD', conf, who).json!;
    assert.equal(second.interfaces.length, 3);
    mustCall(fx.node, 'DEL', { ...conf, prevResult: second }, who);
    mustCall(fx.node, 'DEL', conf, who);
    assert.deepEqual(veths(fx.node), []);
    assert.deepEqual(ipamAllocations(`${fx.dir}/ipam`, 'cycle'), []);
    assert.deepEqual(records(fx.dir, 'cycle'), []);
  });

  test('DEL succeeds after the netns is deleted, and releases the IP', () => {
    const pod = makeNetns('vnt-pod');
    const conf = bridgeConf(fx.dir, { name: 'gone' });
    const who = { containerID: 'c-gone', ifname: 'eth0', netns: pod.path };
    mustCall(fx.node, 'ADD', conf, who);
    assert.equal(ipamAllocations(`${fx.dir}/ipam`, 'gone').length, 1);
    deleteNetns(pod);
    mustCall(fx.node, 'DEL', conf, who);
    mustCall(fx.node, 'DEL', conf, { ...who, netns: '' } as typeof who);
    assert.deepEqual(ipamAllocations(`${fx.dir}/ipam`, 'gone'), []);
    assert.deepEqual(veths(fx.node), []);
  });

  test('DEL with no ADD ever made succeeds', () => {
    const conf = bridgeConf(fx.dir, { name: 'never' });
    mustCall(fx.node, 'DEL', conf, { containerID: 'c-never', ifname: 'eth0' });
  });

  test('a duplicate ADD fails and leaves the first attachment intact', () => {
    const pod = makeNetns('vnt-pod');
    const conf = bridgeConf(fx.dir, { name: 'dup' });
    const who = { containerID: 'c-dup', ifname: 'eth0', netns: pod.path };
    const first = mustCall(fx.node, 'ADD', conf, who).json!;
    const again = callPlugin(fx.node, 'ADD', conf, who);
    assert.equal(again.status, 1);
    assert.equal(again.json?.code, 101);
    assert.match(again.json?.msg, /already has interface eth0/);
    assert.equal(ipamAllocations(`${fx.dir}/ipam`, 'dup').length, 1, 'the first IP is still allocated');
    assert.equal(callPlugin(fx.node, 'CHECK', { ...conf, prevResult: first }, who).status, 0);
    mustCall(fx.node, 'DEL', conf, who);
  });

  test('a failure midway rolls back: no veth, no IP, no record, no rules', () => {
    const pod = makeNetns('vnt-pod');
    // The container already has an eth0 (a tap), so the veth cannot be made.
    pod.run(['ip', 'tuntap', 'add', 'dev', 'eth0', 'mode', 'tap']);
    const conf = bridgeConf(fx.dir, { name: 'rollback', extra: { ipMasq: true, macspoofchk: true } });
    const who = { containerID: 'c-rollback', ifname: 'eth0', netns: pod.path };
    const r = callPlugin(fx.node, 'ADD', conf, who);
    assert.equal(r.status, 1);
    assert.match(r.json?.msg, /File exists/);
    assert.deepEqual(veths(fx.node), []);
    assert.deepEqual(ipamAllocations(`${fx.dir}/ipam`, 'rollback'), []);
    assert.deepEqual(records(fx.dir, 'rollback'), []);
    assert.deepEqual(nftTables(fx.node), []);
  });

  test('ADD into a netns that does not exist fails before any side effect', () => {
    const conf = bridgeConf(fx.dir, { name: 'nons' });
    const r = callPlugin(fx.node, 'ADD', conf, {
      containerID: 'c-nons',
      ifname: 'eth0',
      netns: '/var/run/netns/vnt-does-not-exist',
    });
    assert.equal(r.json?.code, 4);
    assert.match(r.json?.msg, /CNI_NETNS: .* does not exist/);
    assert.deepEqual(ipamAllocations(`${fx.dir}/ipam`, 'nons'), []);
  });

  test('runtimeConfig.mac and runtimeConfig.ips reach the interface', () => {
    const pod = makeNetns('vnt-pod');
    const conf = bridgeConf(fx.dir, {
      name: 'asked',
      extra: { runtimeConfig: { mac: '0a:58:0a:63:00:2a', ips: ['10.99.0.42/24'] } },
    });
    const who = { containerID: 'c-asked', ifname: 'eth0', netns: pod.path };
    const add = mustCall(fx.node, 'ADD', conf, who).json!;
    assert.equal(add.interfaces[2].mac, '0a:58:0a:63:00:2a');
    assert.equal(add.ips[0].address, '10.99.0.42/24');
    const eth0 = links(pod).find((l) => l.ifname === 'eth0')!;
    assert.equal(eth0.address, '0a:58:0a:63:00:2a');
    mustCall(fx.node, 'DEL', conf, who);
  });

  test('args.cni.mac is honoured, and CNI_ARGS needs IgnoreUnknown for foreign keys', () => {
    const pod = makeNetns('vnt-pod');
    const conf = bridgeConf(fx.dir, { name: 'argsmac', extra: { args: { cni: { mac: '0a:58:0a:63:00:2b' } } } });
    const who = { containerID: 'c-args', ifname: 'net1', netns: pod.path };
    const bad = callPlugin(fx.node, 'ADD', conf, { ...who, args: 'FOO=bar' });
    assert.equal(bad.json?.code, 4);
    const add = mustCall(fx.node, 'ADD', conf, { ...who, args: 'IgnoreUnknown=1;K8S_POD_NAME=vm;FOO=bar' }).json!;
    assert.equal(add.interfaces[2].mac, '0a:58:0a:63:00:2b');
    mustCall(fx.node, 'DEL', conf, who);
  });

  test('GC releases attachments not listed as valid, including vanished ones', () => {
    const conf = bridgeConf(fx.dir, { name: 'gc', extra: { ipMasq: true } });
    const pods = [makeNetns('vnt-pod'), makeNetns('vnt-pod'), makeNetns('vnt-pod')];
    pods.forEach((pod, i) =>
      mustCall(fx.node, 'ADD', conf, { containerID: `c-gc-${i}`, ifname: 'eth0', netns: pod.path }),
    );
    assert.equal(ipamAllocations(`${fx.dir}/ipam`, 'gc').length, 3);
    deleteNetns(pods[2]!); // its veth vanishes with it, the IP does not
    mustCall(fx.node, 'GC', { ...conf, 'cni.dev/valid-attachments': [{ containerID: 'c-gc-0', ifname: 'eth0' }] });
    assert.equal(ipamAllocations(`${fx.dir}/ipam`, 'gc').length, 1);
    assert.equal(veths(fx.node).length, 1);
    assert.equal(nftTables(fx.node).length, 1, 'only the valid attachment keeps its masquerade table');
    assert.ok(links(pods[0]!).some((l) => l.ifname === 'eth0'));
    assert.ok(!links(pods[1]!).some((l) => l.ifname === 'eth0'));
    // The legacy key counts as valid too.
    mustCall(fx.node, 'GC', { ...conf, 'cni.dev/attachments': [{ containerID: 'c-gc-0', ifname: 'eth0' }] });
    assert.equal(ipamAllocations(`${fx.dir}/ipam`, 'gc').length, 1);
    mustCall(fx.node, 'GC', { ...conf, 'cni.dev/valid-attachments': [] });
    assert.deepEqual(ipamAllocations(`${fx.dir}/ipam`, 'gc'), []);
    assert.deepEqual(veths(fx.node), []);
    assert.deepEqual(nftTables(fx.node), []);
    assert.deepEqual(records(fx.dir, 'gc'), []);
  });
});

describe('virtnet-bridge child-process budget', () => {
  const fx = nodeFixture();

  /** The `children` count that the plugin logs with each ADD and DEL. */
  function childrenLogged(logFile: string, msg: string): number[] {
    return readFileSync(logFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string; children?: number })
      .filter((e) => e.msg === msg)
      .map((e) => e.children ?? -1);
  }

  test('a steady-state ADD starts at most 3 children, and a DEL at most 2', () => {
    const logFile = join(fx.logDir, 'plugin.log');
    const conf = bridgeConf(fx.dir, { name: 'budget', extra: { logFile } });
    const pods = [makeNetns('vnt-pod'), makeNetns('vnt-pod'), makeNetns('vnt-pod')];
    // The first ADD makes the bridge and its gateway address and asks host-local its versions.
    pods.forEach((p, i) =>
      mustCall(fx.node, 'ADD', conf, { containerID: `c-budget-${i}`, ifname: 'eth0', netns: p.path }),
    );
    pods.forEach((p, i) =>
      mustCall(fx.node, 'DEL', conf, { containerID: `c-budget-${i}`, ifname: 'eth0', netns: p.path }),
    );
    const adds = childrenLogged(logFile, 'added');
    const dels = childrenLogged(logFile, 'deleted');
    assert.equal(adds.length, 3);
    assert.ok(
      adds.slice(1).every((n) => n > 0 && n <= 3),
      `ADD children ${adds}`,
    );
    assert.ok(
      dels.every((n) => n > 0 && n <= 2),
      `DEL children ${dels}`,
    );
  });
});
