/**
 * 100 ADDs at once through the real plugin and host-local give 100 unique
 * IPs and 100 host veths on one bridge; 100 DELs at once then leave nothing:
 * no veth, no allocation, no attachment record (issue 11, concurrency).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { bridgeConf, CNI_PATH, ipamAllocations, nodeFixture, PLUGIN } from '../../support/cni.ts';
import { makeNetns, type Netns } from '../../support/netns.ts';

const N = 100;

function call(
  node: Netns,
  verb: string,
  conf: object,
  containerID: string,
  netns: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: verb,
    CNI_PATH,
    CNI_CONTAINERID: containerID,
    CNI_IFNAME: 'eth0',
    CNI_NETNS: netns,
    VIRTNET_CNI_POLICY: process.env.VIRTNET_CNI_POLICY ?? '',
  };
  const child = spawn('ip', ['netns', 'exec', node.name, PLUGIN], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  child.stdin.end(JSON.stringify(conf));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

describe('100 parallel ADDs and DELs', () => {
  const fx = nodeFixture();

  test('unique IPs, one veth each, and nothing left after the DELs', { timeout: 240_000 }, async () => {
    const conf = bridgeConf(fx.dir, { name: 'par', bridge: 'vtest-par', subnet: '10.98.0.0/24' });
    const pods = Array.from({ length: N }, () => makeNetns('vnt-par'));
    const adds = await Promise.all(pods.map((p, i) => call(fx.node, 'ADD', conf, `par${i}`, p.path)));
    adds.forEach((r, i) => assert.equal(r.code, 0, `ADD ${i}: ${r.stdout} ${r.stderr}`));
    adds.forEach((r, i) => assert.ok(r.stdout.trim(), `ADD ${i} printed its result: ${r.stderr}`));
    const ips = adds.map((r) => (JSON.parse(r.stdout) as { ips: Array<{ address: string }> }).ips[0]!.address);
    assert.equal(new Set(ips).size, N, 'every pod has its own IP');
    assert.equal(ipamAllocations(join(fx.dir, 'ipam'), 'par').length, N);
    const ports = (JSON.parse(fx.node.run(['ip', '-j', 'link', 'show', 'master', 'vtest-par'])) as unknown[]).length;
    assert.equal(ports, N, 'one host veth per pod on the bridge');

    const dels = await Promise.all(pods.map((p, i) => call(fx.node, 'DEL', conf, `par${i}`, p.path)));
    dels.forEach((r, i) => assert.equal(r.code, 0, `DEL ${i}: ${r.stdout} ${r.stderr}`));
    assert.deepEqual(ipamAllocations(join(fx.dir, 'ipam'), 'par'), [], 'every IP released');
    assert.equal(
      (JSON.parse(fx.node.run(['ip', '-j', 'link', 'show', 'master', 'vtest-par'])) as unknown[]).length,
      0,
      'no veth left',
    );
    const records = join(fx.dir, 'virtnet', 'par');
    assert.deepEqual(
      existsSync(records) ? readdirSync(records).filter((f) => f.endsWith('.json')) : [],
      [],
      'no attachment record left',
    );
  });
});
