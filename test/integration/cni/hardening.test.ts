// Issue 11, the plugin's part: hostile configs stop before any side effect,
// delegate chains are bounded, host bridges are the admin's, and what ADD's
// rollback and GC do leaves no IP without a record (defects 1, 2, 9, 10).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { makeNetns, links, type Netns } from '../../support/netns.ts';
import { bridgeConf, callPlugin, CNI_PATH, ipamAllocations, mustCall, nodeFixture, PLUGIN } from '../../support/cni.ts';
import { hostVethName } from '../../../cni/state.ts';
import { startTime } from '../../../lib/process.ts';

const FAKE_IPAM_DIR = resolve('test/support');

function records(dir: string, network: string): string[] {
  const d = join(dir, 'virtnet', network);
  return existsSync(d) ? readdirSync(d) : [];
}

function veths(node: Netns): string[] {
  return links(node)
    .filter((l) => l.linkinfo?.info_kind === 'veth')
    .map((l) => l.ifname);
}

function link(node: Netns, name: string) {
  return links(node).find((l) => l.ifname === name);
}

describe('virtnet-bridge hardening', () => {
  const fx = nodeFixture();

  test('ipam.type virtnet-bridge is refused before any exec or link', () => {
    const pod = makeNetns('vnt-pod');
    const conf = bridgeConf(fx.dir, { name: 'selfnet', bridge: 'vtest-self', ipamExtra: { type: 'virtnet-bridge' } });
    const r = callPlugin(fx.node, 'ADD', conf, { containerID: 'c-self', ifname: 'eth0', netns: pod.path });
    assert.equal(r.json?.code, 7, r.stdout);
    assert.match(r.json?.msg, /^ipam\.type: "virtnet-bridge" is this plugin itself/);
    assert.equal(link(fx.node, 'vtest-self'), undefined, 'no bridge was made');
    assert.deepEqual(records(fx.dir, 'selfnet'), []);
  });

  test('an IPAM that is a symlink to the plugin is refused before any side effect', () => {
    const bin = join(fx.dir, 'bin-sym');
    mkdirSync(bin);
    symlinkSync(PLUGIN, join(bin, 'looper'));
    const pod = makeNetns('vnt-pod');
    const conf = bridgeConf(fx.dir, { name: 'symnet', bridge: 'vtest-sym', ipamExtra: { type: 'looper' } });
    const r = callPlugin(fx.node, 'ADD', conf, {
      containerID: 'c-sym',
      ifname: 'eth0',
      netns: pod.path,
      cniPath: `${bin}:${CNI_PATH}`,
    });
    assert.equal(r.json?.code, 7, r.stdout);
    assert.match(r.json?.msg, /^ipam\.type: "looper" \(.*looper\) is this plugin itself/);
    assert.equal(link(fx.node, 'vtest-sym'), undefined);
    assert.deepEqual(veths(fx.node), []);
    assert.deepEqual(records(fx.dir, 'symnet'), []);
  });

  test('a renamed copy of the plugin (the shim) as IPAM is recognised before any delegate runs', () => {
    const bin = join(fx.dir, 'bin-copy');
    mkdirSync(bin);
    copyFileSync(PLUGIN, join(bin, 'looper'));
    const conf = bridgeConf(fx.dir, { name: 'copynet', bridge: 'vtest-copy', ipamExtra: { type: 'looper' } });
    const r = callPlugin(fx.node, 'DEL', conf, {
      containerID: 'c-copy',
      ifname: 'eth0',
      cniPath: `${bin}:${CNI_PATH}`,
    });
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.json?.msg, /^ipam\.type: "looper" \(.*looper\) is this plugin itself/);
  });

  test('a wrapper that runs the plugin as IPAM stops at the depth cap, fast and with bounded output', () => {
    const bin = join(fx.dir, 'bin-wrap');
    mkdirSync(bin);
    // Not a link and not a copy: only the depth marker can tell that the chain loops.
    writeFileSync(join(bin, 'looper'), `#!/bin/sh\nexec ${PLUGIN} "$@"\n`, { mode: 0o755 });
    const conf = bridgeConf(fx.dir, { name: 'wrapnet', bridge: 'vtest-wrap', ipamExtra: { type: 'looper' } });
    const t0 = performance.now();
    const r = callPlugin(fx.node, 'DEL', conf, {
      containerID: 'c-wrap',
      ifname: 'eth0',
      cniPath: `${bin}:${CNI_PATH}`,
    });
    const ms = performance.now() - t0;
    assert.equal(r.status, 1, r.stdout);
    assert.match(
      r.json?.msg,
      /VIRTNET_DELEGATE_DEPTH: delegate chain is 5 levels deep, more than the cap of 4; a plugin is delegating to itself$/,
    );
    assert.equal(r.json?.code, 104, 'the code of the cap reaches the runtime');
    // Levels 0 to 4 each wrap their child's error once.
    assert.equal(String(r.json?.msg).split('ipam plugin "looper" DEL failed').length - 1, 5);
    assert.ok(r.stdout.length + r.stderr.length < 64 * 1024, `output ${r.stdout.length + r.stderr.length} bytes`);
    assert.ok(ms < 10_000, `${ms.toFixed(0)} ms`);
  });

  test('an existing bridge virtnet did not make is refused before any side effect; allowedBridges admits it', () => {
    fx.node.run(['ip', 'link', 'add', 'vtest-dock0', 'type', 'bridge']);
    fx.node.run(['ip', 'addr', 'add', '172.31.0.1/24', 'dev', 'vtest-dock0']);
    const forwardBefore = fx.node.run(['sysctl', '-n', 'net.ipv4.ip_forward']).trim();
    const pod = makeNetns('vnt-pod');
    const who = { containerID: 'c-dock', ifname: 'eth0', netns: pod.path };
    const conf = bridgeConf(fx.dir, {
      name: 'docknet',
      bridge: 'vtest-dock0',
      subnet: '10.98.0.0/24',
      extra: { promiscMode: true },
    });
    const r = callPlugin(fx.node, 'ADD', conf, who);
    assert.equal(r.json?.code, 7, r.stdout);
    assert.match(
      r.json?.msg,
      /^bridge: link "vtest-dock0" exists and virtnet did not create it \(its alias is not "virtnet-bridge"\), so no network may use it; the node admin may allow it by listing it in allowedBridges/,
    );
    const br = link(fx.node, 'vtest-dock0')!;
    assert.deepEqual(
      br.addr_info?.map((a) => `${a.local}/${a.prefixlen}`).filter((a) => !a.startsWith('fe80')),
      ['172.31.0.1/24'],
      'no gateway address added',
    );
    assert.ok(!br.flags.includes('PROMISC') && !br.flags.includes('UP'), `flags ${br.flags}`);
    assert.equal(fx.node.run(['sysctl', '-n', 'net.ipv4.ip_forward']).trim(), forwardBefore);
    assert.deepEqual(veths(fx.node), []);
    assert.deepEqual(records(fx.dir, 'docknet'), []);
    assert.deepEqual(ipamAllocations(join(fx.dir, 'ipam'), 'docknet'), [], 'no IP allocated');

    const allowing = join(fx.dir, 'allow-dock.json');
    writeFileSync(allowing, JSON.stringify({ dataRoots: [fx.dir], allowedBridges: ['vtest-dock0'] }));
    mustCall(fx.node, 'ADD', conf, { ...who, policy: allowing });
    assert.equal(
      fx.node.run(['cat', '/sys/class/net/vtest-dock0/ifalias']).trim(),
      '',
      "an admin's bridge is not marked as virtnet's",
    );
    mustCall(fx.node, 'DEL', conf, { ...who, policy: allowing });
    fx.node.run(['ip', 'link', 'del', 'vtest-dock0']);
  });

  test('a bridge the plugin made carries its mark, and later ADDs use it', () => {
    const conf = bridgeConf(fx.dir, { name: 'marknet', bridge: 'vtest-mark', subnet: '10.97.0.0/24' });
    const pods = [makeNetns('vnt-pod'), makeNetns('vnt-pod')];
    pods.forEach((p, i) =>
      mustCall(fx.node, 'ADD', conf, { containerID: `c-mark-${i}`, ifname: 'eth0', netns: p.path }),
    );
    assert.equal(fx.node.run(['cat', '/sys/class/net/vtest-mark/ifalias']).trim(), 'virtnet-bridge');
    pods.forEach((p, i) =>
      mustCall(fx.node, 'DEL', conf, { containerID: `c-mark-${i}`, ifname: 'eth0', netns: p.path }),
    );
  });

  test('an existing VXLAN device virtnet did not make is refused', () => {
    fx.node.run([
      'ip',
      'link',
      'add',
      'vxlan4243',
      'type',
      'vxlan',
      'id',
      '4243',
      'dstport',
      '4789',
      'remote',
      '192.0.2.9',
    ]);
    const pod = makeNetns('vnt-pod');
    const conf = bridgeConf(fx.dir, {
      name: 'vxnet',
      bridge: 'vtest-vx',
      extra: { isGateway: false, vxlan: { id: 4243, remote: '192.0.2.9' } },
    });
    const r = callPlugin(fx.node, 'ADD', conf, { containerID: 'c-vx', ifname: 'eth0', netns: pod.path });
    assert.equal(r.json?.code, 7, r.stdout);
    assert.match(r.json?.msg, /^vxlan\.id: link "vxlan4243" exists and virtnet did not create it/);
    assert.equal(link(fx.node, 'vtest-vx'), undefined);
    fx.node.run(['ip', 'link', 'del', 'vxlan4243']);
  });

  test('ADD rollback keeps the record when the IPAM release fails, and GC frees the IP later', () => {
    const pod = makeNetns('vnt-pod');
    // The container already has an eth0, so the veth cannot be made after IPAM answered.
    pod.run(['ip', 'tuntap', 'add', 'dev', 'eth0', 'mode', 'tap']);
    const calls = join(fx.dir, 'fake-ipam-calls');
    const ipam = {
      type: 'fake-ipam.cjs',
      record: calls,
      failVerbs: ['DEL'],
      result: { ips: [{ address: '10.96.5.5/24' }] },
    };
    const conf = { ...bridgeConf(fx.dir, { name: 'keepnet', bridge: 'vtest-keep' }), ipam };
    const cniPath = `${CNI_PATH}:${FAKE_IPAM_DIR}`;
    const who = { containerID: 'c-keep', ifname: 'eth0', netns: pod.path, cniPath };
    const r = callPlugin(fx.node, 'ADD', conf, who);
    assert.equal(r.status, 1);
    assert.match(r.json?.msg, /File exists/);
    assert.deepEqual(readFileSync(calls, 'utf8').trim().split('\n'), ['ADD c-keep', 'DEL c-keep']);
    assert.equal(records(fx.dir, 'keepnet').length, 1, 'the record stays while the IP is not released');
    // GC retries the release; once the IPAM answers, the record goes.
    assert.equal(callPlugin(fx.node, 'GC', { ...conf, 'cni.dev/valid-attachments': [] }, { cniPath }).status, 1);
    assert.equal(records(fx.dir, 'keepnet').length, 1);
    mustCall(
      fx.node,
      'GC',
      { ...conf, ipam: { ...ipam, failVerbs: [] }, 'cni.dev/valid-attachments': [] },
      { cniPath },
    );
    assert.deepEqual(records(fx.dir, 'keepnet'), []);
    assert.equal(
      readFileSync(calls, 'utf8')
        .split('\n')
        .filter((l) => l === 'DEL c-keep').length,
      3,
      'rollback, failed GC, GC',
    );
  });

  test('GC leaves alone an attachment whose ADD is still running', async () => {
    const conf = bridgeConf(fx.dir, { name: 'flightnet', bridge: 'vtest-fl' });
    // An ADD in flight: its record names a live process (pid and start time).
    const adder = spawn('sleep', ['30'], { stdio: 'ignore' });
    await new Promise((r) => adder.once('spawn', r));
    const rec = {
      containerID: 'c-flight',
      ifname: 'eth0',
      netns: '/var/run/netns/vnt-gone',
      hostVeth: hostVethName('c-flight', 'eth0'),
      bridge: 'vtest-fl',
      addPid: adder.pid,
      addStartTime: startTime(adder.pid!),
    };
    mkdirSync(join(fx.dir, 'virtnet', 'flightnet'), { recursive: true });
    writeFileSync(
      join(fx.dir, 'virtnet', 'flightnet', `c-flight_${Buffer.from('eth0').toString('hex')}.json`),
      JSON.stringify(rec),
    );
    try {
      mustCall(fx.node, 'GC', { ...conf, 'cni.dev/valid-attachments': [] });
      assert.equal(records(fx.dir, 'flightnet').length, 1, 'an ADD in flight is not collected');
    } finally {
      adder.kill('SIGKILL');
      await new Promise((r) => adder.once('exit', r));
    }
    mustCall(fx.node, 'GC', { ...conf, 'cni.dev/valid-attachments': [] });
    assert.deepEqual(records(fx.dir, 'flightnet'), [], 'once that ADD is over, GC collects it');
  });

  test('logFile outside the log root is refused on every verb, and nothing is written there', () => {
    const outside = join(fx.dir, '..', `virtnet-test-outside-${process.pid}.log`);
    const conf = bridgeConf(fx.dir, { name: 'lognet', extra: { logFile: resolve(outside) } });
    const policy = join(fx.dir, 'no-log.json');
    writeFileSync(policy, JSON.stringify({ dataRoots: [fx.dir] }));
    for (const verb of ['STATUS', 'GC', 'DEL']) {
      const r = callPlugin(fx.node, verb, conf, { containerID: 'c-log', ifname: 'eth0', policy });
      assert.equal(r.json?.code, 7, `${verb}: ${r.stdout}`);
      assert.match(r.json?.msg, /^logFile: .* is refused: the node admin set no logRoot/);
    }
    assert.equal(existsSync(outside), false);
  });
});
