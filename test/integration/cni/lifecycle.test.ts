// Idempotency and rollback (SPEC.md "DEL": repeatable, and fine when the
// netns is gone or ADD never ran; a failed ADD leaves nothing behind).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { makeNetns, deleteAllNetns, deleteNetns, links, nftTables, type Netns } from '../../support/netns.ts';
import { bridgeConf, callPlugin, ipamAllocations, mustCall, scratchDir } from '../../support/cni.ts';

function records(dir: string, network: string): string[] {
  const d = join(dir, 'virtnet', network);
  return existsSync(d) ? readdirSync(d) : [];
}

function veths(node: Netns): string[] {
  return links(node).filter((l) => l.linkinfo?.info_kind === 'veth').map((l) => l.ifname);
}

describe('virtnet-bridge lifecycle', () => {
  let node: Netns;
  const scratch = scratchDir();
  before(() => (node = makeNetns('vnt-node')));
  after(() => {
    deleteAllNetns();
    scratch.cleanup();
  });

  test('ADD→DEL→ADD, and DEL twice', () => {
    const pod = makeNetns('vnt-pod');
    const conf = bridgeConf(scratch.dir, { name: 'cycle' });
    const who = { containerID: 'c-cycle', ifname: 'eth0', netns: pod.path };
    const first = mustCall(node, 'ADD', conf, who).json!;
    mustCall(node, 'DEL', { ...conf, prevResult: first }, who);
    const second = mustCall(node, 'ADD', conf, who).json!;
    assert.equal(second.interfaces.length, 3);
    mustCall(node, 'DEL', { ...conf, prevResult: second }, who);
    mustCall(node, 'DEL', conf, who);
    assert.deepEqual(veths(node), []);
    assert.deepEqual(ipamAllocations(`${scratch.dir}/ipam`, 'cycle'), []);
    assert.deepEqual(records(scratch.dir, 'cycle'), []);
  });

  test('DEL succeeds after the netns is deleted, and releases the IP', () => {
    const pod = makeNetns('vnt-pod');
    const conf = bridgeConf(scratch.dir, { name: 'gone' });
    const who = { containerID: 'c-gone', ifname: 'eth0', netns: pod.path };
    mustCall(node, 'ADD', conf, who);
    assert.equal(ipamAllocations(`${scratch.dir}/ipam`, 'gone').length, 1);
    deleteNetns(pod);
    mustCall(node, 'DEL', conf, who);
    mustCall(node, 'DEL', conf, { ...who, netns: '' } as typeof who);
    assert.deepEqual(ipamAllocations(`${scratch.dir}/ipam`, 'gone'), []);
    assert.deepEqual(veths(node), []);
  });

  test('DEL with no ADD ever made succeeds', () => {
    const conf = bridgeConf(scratch.dir, { name: 'never' });
    mustCall(node, 'DEL', conf, { containerID: 'c-never', ifname: 'eth0' });
  });

  test('a duplicate ADD fails and leaves the first attachment intact', () => {
    const pod = makeNetns('vnt-pod');
    const conf = bridgeConf(scratch.dir, { name: 'dup' });
    const who = { containerID: 'c-dup', ifname: 'eth0', netns: pod.path };
    const first = mustCall(node, 'ADD', conf, who).json!;
    const again = callPlugin(node, 'ADD', conf, who);
    assert.equal(again.status, 1);
    assert.equal(again.json?.code, 101);
    assert.match(again.json?.msg, /already has interface eth0/);
    assert.equal(ipamAllocations(`${scratch.dir}/ipam`, 'dup').length, 1, 'the first IP is still allocated');
    assert.equal(callPlugin(node, 'CHECK', { ...conf, prevResult: first }, who).status, 0);
    mustCall(node, 'DEL', conf, who);
  });

  test('a failure midway rolls back: no veth, no IP, no record, no rules', () => {
    const pod = makeNetns('vnt-pod');
    // The container already has an eth0 (a tap), so the veth cannot be made.
    pod.run(['ip', 'tuntap', 'add', 'dev', 'eth0', 'mode', 'tap']);
    const conf = bridgeConf(scratch.dir, { name: 'rollback', extra: { ipMasq: true, macspoofchk: true } });
    const who = { containerID: 'c-rollback', ifname: 'eth0', netns: pod.path };
    const r = callPlugin(node, 'ADD', conf, who);
    assert.equal(r.status, 1);
    assert.match(r.json?.msg, /File exists/);
    assert.deepEqual(veths(node), []);
    assert.deepEqual(ipamAllocations(`${scratch.dir}/ipam`, 'rollback'), []);
    assert.deepEqual(records(scratch.dir, 'rollback'), []);
    assert.deepEqual(nftTables(node), []);
  });

  test('ADD into a netns that does not exist fails before any side effect', () => {
    const conf = bridgeConf(scratch.dir, { name: 'nons' });
    const r = callPlugin(node, 'ADD', conf, { containerID: 'c-nons', ifname: 'eth0', netns: '/var/run/netns/vnt-does-not-exist' });
    assert.equal(r.json?.code, 4);
    assert.match(r.json?.msg, /CNI_NETNS: .* does not exist/);
    assert.deepEqual(ipamAllocations(`${scratch.dir}/ipam`, 'nons'), []);
  });

  test('runtimeConfig.mac and runtimeConfig.ips reach the interface', () => {
    const pod = makeNetns('vnt-pod');
    const conf = bridgeConf(scratch.dir, { name: 'asked', extra: { runtimeConfig: { mac: '0a:58:0a:63:00:2a', ips: ['10.99.0.42/24'] } } });
    const who = { containerID: 'c-asked', ifname: 'eth0', netns: pod.path };
    const add = mustCall(node, 'ADD', conf, who).json!;
    assert.equal(add.interfaces[2].mac, '0a:58:0a:63:00:2a');
    assert.equal(add.ips[0].address, '10.99.0.42/24');
    const eth0 = links(pod).find((l) => l.ifname === 'eth0')!;
    assert.equal(eth0.address, '0a:58:0a:63:00:2a');
    mustCall(node, 'DEL', conf, who);
  });

  test('args.cni.mac is honoured, and CNI_ARGS needs IgnoreUnknown for foreign keys', () => {
    const pod = makeNetns('vnt-pod');
    const conf = bridgeConf(scratch.dir, { name: 'argsmac', extra: { args: { cni: { mac: '0a:58:0a:63:00:2b' } } } });
    const who = { containerID: 'c-args', ifname: 'net1', netns: pod.path };
    const bad = callPlugin(node, 'ADD', conf, { ...who, args: 'FOO=bar' });
    assert.equal(bad.json?.code, 4);
    const add = mustCall(node, 'ADD', conf, { ...who, args: 'IgnoreUnknown=1;K8S_POD_NAME=vm;FOO=bar' }).json!;
    assert.equal(add.interfaces[2].mac, '0a:58:0a:63:00:2b');
    mustCall(node, 'DEL', conf, who);
  });

  test('GC releases attachments not listed as valid, including vanished ones', () => {
    const conf = bridgeConf(scratch.dir, { name: 'gc', extra: { ipMasq: true } });
    const pods = [makeNetns('vnt-pod'), makeNetns('vnt-pod'), makeNetns('vnt-pod')];
    pods.forEach((pod, i) => mustCall(node, 'ADD', conf, { containerID: `c-gc-${i}`, ifname: 'eth0', netns: pod.path }));
    assert.equal(ipamAllocations(`${scratch.dir}/ipam`, 'gc').length, 3);
    deleteNetns(pods[2]!); // its veth vanishes with it, the IP does not
    mustCall(node, 'GC', { ...conf, 'cni.dev/valid-attachments': [{ containerID: 'c-gc-0', ifname: 'eth0' }] });
    assert.equal(ipamAllocations(`${scratch.dir}/ipam`, 'gc').length, 1);
    assert.equal(veths(node).length, 1);
    assert.equal(nftTables(node).length, 1, 'only the valid attachment keeps its masquerade table');
    assert.ok(links(pods[0]!).some((l) => l.ifname === 'eth0'));
    assert.ok(!links(pods[1]!).some((l) => l.ifname === 'eth0'));
    // The legacy key counts as valid too.
    mustCall(node, 'GC', { ...conf, 'cni.dev/attachments': [{ containerID: 'c-gc-0', ifname: 'eth0' }] });
    assert.equal(ipamAllocations(`${scratch.dir}/ipam`, 'gc').length, 1);
    mustCall(node, 'GC', { ...conf, 'cni.dev/valid-attachments': [] });
    assert.deepEqual(ipamAllocations(`${scratch.dir}/ipam`, 'gc'), []);
    assert.deepEqual(veths(node), []);
    assert.deepEqual(nftTables(node), []);
    assert.deepEqual(records(scratch.dir, 'gc'), []);
  });
});
