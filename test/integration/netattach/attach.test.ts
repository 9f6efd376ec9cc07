// netattach against real delegates (Debian's reference bridge, macvlan and
// host-local, and virtnet-bridge) and a recording fake delegate that shows
// exactly what each plugin was handed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { makeNetns, links } from '../../support/netns.ts';
import { ipamAllocations, nodeFixture, CNI_PATH } from '../../support/cni.ts';
import { attachPod, detachPod, type AttachOptions, type PodRef } from '../../../netattach/attach.ts';
import { networkStatus } from '../../../netattach/status.ts';
import type { ConfList } from '../../../netattach/invoke.ts';

const FAKE = 'fake-delegate.cjs';

describe('netattach: delegate attachments', () => {
  const fx = nodeFixture();
  const options = (): AttachOptions => ({
    cniPath: [...CNI_PATH.split(':'), resolve('test/support')],
    dataDir: join(fx.dir, 'delegates'),
    cacheDir: join(fx.dir, 'cache'),
    wrap: ['ip', 'netns', 'exec', fx.node.name],
  });
  const recorded = (file: string) =>
    existsSync(file)
      ? readFileSync(file, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { env: Record<string, string>; conf: Record<string, any> })
      : [];

  test('each plugin gets the CNI environment, its declared capabilities only, cni-args, and the previous result', async () => {
    const record = join(fx.dir, 'calls-a.jsonl');
    const resultA = {
      cniVersion: '1.1.0',
      interfaces: [{ name: 'net1', mac: '0a:00:00:00:00:01', sandbox: '/var/run/netns/x' }],
      ips: [{ address: '192.0.2.10/24', interface: 0 }],
    };
    const list: ConfList = {
      cniVersion: '1.1.0',
      name: 'blue',
      plugins: [
        { type: FAKE, record, result: resultA, capabilities: { mac: true, ips: true } },
        { type: FAKE, record, args: { cni: { keep: 'me' } } },
      ],
    };
    const pod: PodRef = {
      namespace: 'ns1',
      name: 'vm-pod',
      uid: 'uid-1',
      containerID: 'c-fake',
      netns: '/var/run/netns/x',
    };
    const [done] = await attachPod(
      pod,
      [
        {
          name: 'ns1/blue',
          list,
          ifname: 'net1',
          isDefault: false,
          capabilityArgs: {
            mac: '0a:00:00:00:00:01',
            ips: ['192.0.2.10/24'],
            portMappings: [{ hostPort: 80, containerPort: 80 }],
          },
          argsCni: { logicNetworkName: 'blue' },
        },
      ],
      options(),
    );
    const [a, b] = recorded(record);
    assert.equal(a!.env.CNI_COMMAND, 'ADD');
    assert.equal(a!.env.CNI_IFNAME, 'net1');
    assert.equal(a!.env.CNI_CONTAINERID, 'c-fake');
    assert.match(a!.env.CNI_ARGS!, /K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=vm-pod/);
    assert.deepEqual(
      a!.conf.runtimeConfig,
      { mac: '0a:00:00:00:00:01', ips: ['192.0.2.10/24'] },
      'undeclared portMappings are not passed',
    );
    assert.deepEqual(a!.conf.args, { cni: { logicNetworkName: 'blue' } });
    assert.equal(a!.conf.prevResult, undefined, 'the first plugin has no prevResult');
    assert.equal(b!.conf.runtimeConfig, undefined, 'a plugin with no capabilities gets no runtimeConfig');
    assert.deepEqual(b!.conf.args, { cni: { keep: 'me', logicNetworkName: 'blue' } }, 'cni-args merged into args.cni');
    assert.equal(b!.conf.prevResult.ips[0].address, '192.0.2.10/24');
    assert.equal(b!.conf.name, 'blue');
    assert.equal(done!.result.ips?.[0]?.address, '192.0.2.10/24');
    const cached = JSON.parse(readFileSync(join(fx.dir, 'cache', 'results', 'blue-c-fake-net1'), 'utf8'));
    assert.equal(cached.kind, 'cniCacheV1');
    assert.equal(JSON.parse(Buffer.from(cached.config, 'base64').toString()).name, 'blue');

    // DEL comes from the cache alone (the NAD may be gone), in reverse, with the cached result.
    assert.deepEqual(await detachPod(pod, options()), []);
    const dels = recorded(record).slice(2);
    assert.deepEqual(
      dels.map((d) => d.env.CNI_COMMAND),
      ['DEL', 'DEL'],
    );
    assert.equal(dels[0]!.conf.args.cni.keep, 'me', 'the second plugin is deleted first');
    assert.equal(dels[0]!.conf.prevResult.ips[0].address, '192.0.2.10/24');
    assert.ok(!existsSync(join(fx.dir, 'cache', 'results', 'blue-c-fake-net1')));
  });

  test('a failing attachment deletes every attachment made before it, and the error names the pod and network', async () => {
    const record = join(fx.dir, 'calls-b.jsonl');
    const ok: ConfList = {
      cniVersion: '1.0.0',
      name: 'first',
      plugins: [{ type: FAKE, record, result: { interfaces: [], ips: [] } }],
    };
    const bad: ConfList = {
      cniVersion: '1.0.0',
      name: 'second',
      plugins: [{ type: FAKE, record, fail: { verbs: ['ADD'], code: 11, msg: 'try again' } }],
    };
    const pod: PodRef = { namespace: 'ns1', name: 'p2', uid: 'u2', containerID: 'c-fail', netns: '/var/run/netns/y' };
    await assert.rejects(
      attachPod(
        pod,
        [
          { name: 'first', list: ok, ifname: 'eth0', isDefault: true },
          { name: 'ns1/second', list: bad, ifname: 'net1', isDefault: false },
        ],
        options(),
      ),
      /\[ns1\/p2\/u2:second\]: error adding container to network "second": plugin "fake-delegate.cjs" ADD failed: try again/,
    );
    const calls = recorded(record).map((c) => `${c.env.CNI_COMMAND} ${c.conf.name}`);
    assert.deepEqual(calls, ['ADD first', 'ADD second', 'DEL second', 'DEL first']);
    assert.deepEqual(
      readdirSync(join(fx.dir, 'cache', 'results')).filter((f) => f.includes('c-fail')),
      [],
    );
  });

  test(
    'real delegates: virtnet-bridge as the default, Debian bridge+host-local and macvlan as secondaries; DEL leaks ' +
      'nothing',
    async () => {
      const pod = makeNetns('vnt-pod');
      fx.node.run(['ip', 'link', 'add', 'uplink0', 'type', 'veth', 'peer', 'name', 'uplink1']);
      fx.node.run(['ip', 'link', 'set', 'uplink0', 'up']);
      const ipam = (subnet: string, dir: string) => ({ type: 'host-local', subnet, dataDir: join(fx.dir, dir) });
      const lists: ConfList[] = [
        {
          cniVersion: '1.1.0',
          name: 'podnet',
          plugins: [
            {
              type: 'virtnet-bridge',
              bridge: 'vnt-na0',
              isDefaultGateway: true,
              dataDir: join(fx.dir, 'vb'),
              ipam: ipam('10.120.0.0/24', 'ipam-a'),
            },
          ],
        },
        {
          cniVersion: '1.1.0',
          name: 'blue',
          plugins: [{ type: 'bridge', bridge: 'vnt-blue0', ipam: ipam('10.121.0.0/24', 'ipam-b') }],
        },
        {
          cniVersion: '0.4.0',
          name: 'mac',
          plugins: [{ type: 'macvlan', master: 'uplink0', mode: 'bridge', ipam: ipam('10.122.0.0/24', 'ipam-c') }],
        },
      ];
      const ref: PodRef = { namespace: 'ns1', name: 'real', uid: 'u3', containerID: 'c-real', netns: pod.path };
      const done = await attachPod(
        ref,
        [
          { name: 'podnet', list: lists[0]!, ifname: 'eth0', isDefault: true },
          { name: 'ns1/blue', list: lists[1]!, ifname: 'net1', isDefault: false },
          { name: 'ns1/mac', list: lists[2]!, ifname: 'net2', isDefault: false },
        ],
        options(),
      );
      const inside = links(pod)
        .map((l) => l.ifname)
        .sort();
      assert.deepEqual(inside, ['eth0', 'lo', 'net1', 'net2']);
      const status = done.flatMap((d) => networkStatus(d.request.name, d.result, d.request.isDefault));
      assert.deepEqual(
        status.map((s) => [s.name, s.interface, s.default ?? false]),
        [
          ['podnet', 'eth0', true],
          ['ns1/blue', 'net1', false],
          ['ns1/mac', 'net2', false],
        ],
      );
      assert.match(status[0]!.ips![0]!, /^10\.120\.0\.\d+$/);
      assert.deepEqual(status[0]!.gateway, ['10.120.0.1']);
      assert.match(status[1]!.ips![0]!, /^10\.121\.0\.\d+$/);
      assert.match(status[2]!.ips![0]!, /^10\.122\.0\.\d+$/);
      assert.deepEqual(await detachPod(ref, options()), []);
      for (const dir of ['ipam-a', 'ipam-b', 'ipam-c']) {
        const net = { 'ipam-a': 'podnet', 'ipam-b': 'blue', 'ipam-c': 'mac' }[dir]!;
        assert.deepEqual(ipamAllocations(join(fx.dir, dir), net), [], `${dir} released`);
      }
      assert.deepEqual(
        links(pod).map((l) => l.ifname),
        ['lo'],
      );
    },
  );
});
