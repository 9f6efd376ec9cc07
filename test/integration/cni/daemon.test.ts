/**
 * The resident CNI daemon under load and under crashes (issue 15): 100 ADDs
 * at once through the shim give 100 unique IPs and 100 DELs leave nothing;
 * a daemon killed in the middle of an ADD leaves nothing that the next DEL
 * or GC does not clean, and a new daemon takes over its socket.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CRASH_ENV } from '../../../lib/crash-point.ts';
import { bridgeConf, CNI_PATH, callPlugin, ipamAllocations, nodeFixture, PLUGIN } from '../../support/cni.ts';
import { startTestDaemon } from '../../support/cni-daemon.ts';
import { makeNetns, type Netns } from '../../support/netns.ts';

const N = 100;

/** One call through the shim, asynchronously (callPlugin is synchronous), to the daemon at `socket`. */
function shimCall(node: Netns, socket: string, verb: string, conf: object, containerID: string, netns: string) {
  const env = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: verb,
    CNI_PATH,
    CNI_CONTAINERID: containerID,
    CNI_IFNAME: 'eth0',
    CNI_NETNS: netns,
    VIRTNET_CNI_POLICY: process.env.VIRTNET_CNI_POLICY ?? '',
    VIRTNET_CNI_SOCKET: socket,
  };
  const child = spawn('ip', ['netns', 'exec', node.name, PLUGIN], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.resume();
  child.stdin.end(JSON.stringify(conf));
  return new Promise<{ code: number | null; stdout: string }>((r) => child.on('close', (code) => r({ code, stdout })));
}

function hostVeths(node: Netns): string[] {
  return (JSON.parse(node.run(['ip', '-j', 'link', 'show', 'type', 'veth'])) as { ifname: string }[]).map(
    (l) => l.ifname,
  );
}

function records(dir: string, network: string): string[] {
  try {
    return readdirSync(join(dir, 'virtnet', network)).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
}

describe('the CNI daemon under load and crashes', () => {
  const fx = nodeFixture();

  test('100 ADDs at once through the shim: unique IPs; 100 DELs at once leave nothing', {
    timeout: 240_000,
  }, async () => {
    const daemon = await startTestDaemon(fx.node, join(fx.dir, 'load'), { args: ['--max-concurrent', '8'] });
    try {
      const conf = bridgeConf(fx.dir, { name: 'dpar', bridge: 'vtest-dpar', subnet: '10.97.0.0/24' });
      const pods = Array.from({ length: N }, () => makeNetns('vnt-dpar'));
      const adds = await Promise.all(
        pods.map((p, i) => shimCall(fx.node, daemon.socket, 'ADD', conf, `dpar${i}`, p.path)),
      );
      adds.forEach((r, i) => assert.equal(r.code, 0, `ADD ${i}: ${r.stdout}`));
      const ips = adds.map((r) => (JSON.parse(r.stdout) as { ips: { address: string }[] }).ips[0]!.address);
      assert.equal(new Set(ips).size, N, 'every pod has its own IP');
      assert.equal(ipamAllocations(join(fx.dir, 'ipam'), 'dpar').length, N);
      const dels = await Promise.all(
        pods.map((p, i) => shimCall(fx.node, daemon.socket, 'DEL', conf, `dpar${i}`, p.path)),
      );
      dels.forEach((r, i) => assert.equal(r.code, 0, `DEL ${i}: ${r.stdout}`));
      assert.deepEqual(ipamAllocations(join(fx.dir, 'ipam'), 'dpar'), [], 'every IP released');
      assert.deepEqual(hostVeths(fx.node), [], 'no host veth left');
      assert.deepEqual(records(fx.dir, 'dpar'), [], 'no attachment record left');
      const served = daemon
        .stderr()
        .split('\n')
        .filter((l) => l.includes('"msg":"CNI daemon listening"'));
      assert.equal(served.length, 1, 'one daemon served the whole burst');
    } finally {
      await daemon.stop();
    }
  });

  for (const [k, point] of ['cni.add.journaled', 'cni.add.port.done'].entries()) {
    test(`a daemon killed at ${point}: the ADD fails with code 11; DEL through a new daemon, or GC, cleans`, async () => {
      const dir = join(fx.dir, `crash-${point}`);
      const conf = bridgeConf(fx.dir, { name: `crash${k}`, bridge: 'vtest-crash', subnet: '10.96.0.0/24' });
      const network = conf.name as string;
      const pod = makeNetns('vnt-crash');
      const dying = await startTestDaemon(fx.node, dir, { env: { [CRASH_ENV]: point } });
      const add = await shimCall(fx.node, dying.socket, 'ADD', conf, 'crash1', pod.path);
      assert.equal(await dying.exited, null, 'the daemon died by its signal');
      assert.equal(add.code, 1);
      const err = JSON.parse(add.stdout) as { code: number; msg: string };
      assert.equal(err.code, 11, add.stdout);
      assert.match(err.msg, /closed the connection before it replied/u);
      assert.equal(records(fx.dir, network).length, 1, 'the journal names the half-made attachment');

      // The runtime's next step after a failed ADD is a DEL; a new daemon takes over the stale socket.
      const next = await startTestDaemon(fx.node, dir);
      try {
        const del = callPlugin(fx.node, 'DEL', conf, {
          containerID: 'crash1',
          ifname: 'eth0',
          netns: pod.path,
          env: { VIRTNET_CNI_SOCKET: next.socket },
        });
        assert.equal(del.status, 0, del.stdout);
        assert.deepEqual(ipamAllocations(join(fx.dir, 'ipam'), network), [], 'the IP is released');
        assert.deepEqual(hostVeths(fx.node), [], 'no host veth left');
        assert.deepEqual(records(fx.dir, network), []);
      } finally {
        await next.stop();
      }
    });
  }

  test('a daemon killed mid-ADD whose attachment the runtime forgets: GC releases it', async () => {
    const dir = join(fx.dir, 'crash-gc');
    const conf = bridgeConf(fx.dir, { name: 'crashgc', bridge: 'vtest-crgc', subnet: '10.95.0.0/24' });
    const pod = makeNetns('vnt-crgc');
    const dying = await startTestDaemon(fx.node, dir, { env: { [CRASH_ENV]: 'cni.add.port.done' } });
    await shimCall(fx.node, dying.socket, 'ADD', conf, 'crashgc1', pod.path);
    await dying.exited;
    assert.equal(ipamAllocations(join(fx.dir, 'ipam'), 'crashgc').length, 1, 'the crash left an IP allocated');
    // No daemon now: the shim runs the Node plugin itself.
    const gc = callPlugin(
      fx.node,
      'GC',
      { ...conf, 'cni.dev/valid-attachments': [] },
      { env: { VIRTNET_CNI_SOCKET: dying.socket } },
    );
    assert.equal(gc.status, 0, gc.stdout);
    assert.deepEqual(ipamAllocations(join(fx.dir, 'ipam'), 'crashgc'), []);
    assert.deepEqual(hostVeths(fx.node), []);
    assert.deepEqual(records(fx.dir, 'crashgc'), []);
  });
});
