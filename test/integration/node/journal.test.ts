/**
 * The journal never loses what it stands for (issue 11 defect 9): a record
 * left empty or corrupt by a crash is "unknown", and gc reconciles it with
 * what exists (the CNI result cache, the launcher's directory) instead of
 * reading it as "nothing was made"; a failed `create` whose rollback DEL
 * fails too keeps its record as Deleting, so that gc retries the DEL.
 * Driven through the node runtime with the recording fake delegate; the
 * rollback case makes a real (empty) network namespace.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { nodeConfig } from '../../../controller/node/config.ts';
import { NodeRuntime } from '../../../controller/node/runtime.ts';
import type { VmiRecord } from '../../../controller/node/store.ts';
import { netnsExists, netnsPath } from '../../../lib/netns.ts';
import { cachedFor, writeCache } from '../../../netattach/cache.ts';
import type { ConfList } from '../../../netattach/invoke.ts';
import { scratchDir } from '../../support/cni.ts';

const scratch = scratchDir();
after(() => scratch.cleanup());

type Call = {
  env: { CNI_COMMAND: string; CNI_IFNAME: string; CNI_CONTAINERID: string };
  conf: { prevResult?: unknown };
};
const calls = (file: string): Call[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Call)
    : [];
const fake = (record: string, failDel: boolean, failAdd = false): ConfList['plugins'][number] => ({
  type: 'fake-delegate.cjs',
  record,
  ...((failDel || failAdd) && {
    fail: { verbs: [...(failAdd ? ['ADD'] : []), ...(failDel ? ['DEL'] : [])], code: 11, msg: 'no IPAM today' },
  }),
});
const healed = (rec: VmiRecord): VmiRecord => ({
  ...rec,
  attachments: rec.attachments.map((a) => ({
    ...a,
    list: { ...a.list, plugins: a.list.plugins.map(({ fail: _, ...p }) => p) },
  })),
});

function runtime(name: string): NodeRuntime {
  return new NodeRuntime(
    nodeConfig({
      stateDir: join(scratch.dir, name, 'state'),
      cniConfDir: join(scratch.dir, name, 'net.d'),
      cniPath: [resolve('test/support')],
    }),
  );
}

/**
 * What a sandbox of default/<vmi> leaves when `up` was cut off by a power loss: a cache entry, a launcher directory, an
 * empty record.
 */
function crashedSandbox(rt: NodeRuntime, vmi: string, netns: string, record: string, failDel: boolean): void {
  const containerID = `c${vmi}`;
  const list: ConfList = { cniVersion: '1.1.0', name: 'podnet', plugins: [fake(record, failDel)] };
  const cniArgs: Array<[string, string]> = [
    ['K8S_POD_NAMESPACE', 'default'],
    ['K8S_POD_NAME', `virt-launcher-${vmi}`],
    ['K8S_POD_INFRA_CONTAINER_ID', containerID],
    ['K8S_POD_UID', `u-${vmi}`],
  ];
  writeCache(
    join(rt.cfg.stateDir, 'cni-cache'),
    list,
    { containerID, netns: netnsPath(netns), ifname: 'eth0', cniArgs },
    { cniVersion: '1.1.0', ips: [{ address: '10.244.0.9/16' }] } as never,
  );
  const launcher = join(rt.cfg.stateDir, 'launchers', netns);
  mkdirSync(launcher, { recursive: true });
  writeFileSync(join(launcher, 'spec.json'), JSON.stringify({ name: vmi, namespace: 'default' }));
  mkdirSync(join(rt.cfg.stateDir, 'vmis', 'default', vmi), { recursive: true });
  writeFileSync(join(rt.cfg.stateDir, 'vmis', 'default', vmi, 'record.json'), '');
}

test(
  'an empty record is reconciled with what exists: the cached attachment is DELeted (its IP freed), then everything ' +
    'goes',
  async () => {
    const rt = runtime('empty');
    const record = join(scratch.dir, 'empty.calls');
    crashedSandbox(rt, 'lost', 'vn-00000000d1', record, false);
    const lines = await rt.gc();
    assert.equal(lines.length, 1);
    assert.match(
      lines[0]!,
      /^default\/lost: record\.json is empty .*; reconciled with what exists: netns vn-00000000d1 \(1 cached attachment\)$/u,
    );
    assert.deepEqual(
      calls(record).map((c) => [
        c.env.CNI_COMMAND,
        c.env.CNI_IFNAME,
        c.env.CNI_CONTAINERID,
        Boolean(c.conf.prevResult),
      ]),
      [['DEL', 'eth0', 'clost', true]],
    );
    assert.deepEqual(cachedFor(join(rt.cfg.stateDir, 'cni-cache'), 'clost'), []);
    assert.equal(existsSync(join(rt.cfg.stateDir, 'launchers', 'vn-00000000d1')), false);
    assert.equal(existsSync(join(rt.cfg.stateDir, 'vmis', 'default', 'lost')), false);
  },
);

test('a corrupt record whose DEL fails is kept as a rebuilt Deleting record; the next gc finishes the DEL', async () => {
  const rt = runtime('corrupt');
  const record = join(scratch.dir, 'corrupt.calls');
  crashedSandbox(rt, 'torn', 'vn-00000000d2', record, true);
  writeFileSync(join(rt.cfg.stateDir, 'vmis', 'default', 'torn', 'record.json'), '{"object": {"metadata": {"na');
  const first = await rt.gc();
  assert.match(first.join('\n'), /^kept for another try: default\/torn: record\.json is not JSON.*no IPAM today/u);
  const kept = rt.store.readVmi('default', 'torn')!;
  assert.equal(kept.state, 'Deleting');
  assert.deepEqual(
    [kept.netns, kept.containerID, kept.object.metadata.uid, kept.attachments.map((a) => a.ifname)],
    ['vn-00000000d2', 'ctorn', 'u-torn', ['eth0']],
  );
  assert.equal(rt.status(kept).phase, 'Failed');
  rt.store.writeVmi(healed(kept));
  const second = await rt.gc();
  assert.deepEqual(
    second.map((l) => l.split(' ')[0]),
    ['default/torn'],
  );
  assert.equal(existsSync(join(rt.cfg.stateDir, 'vmis', 'default', 'torn')), false);
  assert.equal(existsSync(join(rt.cfg.stateDir, 'launchers', 'vn-00000000d2')), false);
  const dels = calls(record).map((c) => [c.env.CNI_COMMAND, c.env.CNI_CONTAINERID]);
  assert.ok(dels.length >= 2 && dels.every(([verb, id]) => verb === 'DEL' && id === 'ctorn'), JSON.stringify(dels));
});

test(
  'a failed create whose rollback DEL fails keeps its record as Deleting (no IP leaks); gc retries it; the netns is ' +
    'gone',
  async () => {
    const rt = runtime('rollback');
    const record = join(scratch.dir, 'rollback.calls');
    mkdirSync(rt.cfg.cniConfDir, { recursive: true });
    writeFileSync(
      join(rt.cfg.cniConfDir, '10-podnet.conflist'),
      JSON.stringify({ cniVersion: '1.1.0', name: 'podnet', plugins: [fake(record, true, true)] }),
    );
    const vmi = {
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachineInstance',
      metadata: { name: 'rollback', namespace: 'default' },
      spec: {
        domain: { devices: { interfaces: [{ name: 'default', masquerade: {} }] } },
        networks: [{ name: 'default', pod: {} }],
      },
    };
    // The spec is checked before any network is made; the launcher itself never starts after the failed ADD.
    const spec = {
      name: 'rollback',
      namespace: 'default',
      memoryMiB: 64,
      cpus: 1,
      interfaces: [],
      networks: [],
      boot: { kernel: '/nonexistent/vmlinuz' },
    };
    await assert.rejects(
      rt.create(
        vmi,
        () => spec,
        () => {},
      ),
      (err: Error) => {
        assert.match(
          err.message,
          /^pod networks: .*no IPAM today.*rolling back was incomplete too.*kept as Deleting/su,
        );
        return true;
      },
    );
    const kept = rt.store.readVmi('default', 'rollback');
    assert.ok(kept, 'the journal of what may hold an IP is kept');
    assert.equal(kept.state, 'Deleting');
    assert.equal(kept.launcherPid, undefined, 'no launcher was started after the failed ADD');
    assert.match(kept.teardownProblems!.join(' '), /no IPAM today/u);
    assert.equal(netnsExists(netnsPath(kept.netns)), false, 'the sandbox itself is gone');
    rt.store.writeVmi(healed(kept));
    assert.deepEqual(
      (await rt.gc()).map((l) => l.split(' ')[0]),
      ['default/rollback'],
    );
    assert.equal(rt.store.readVmi('default', 'rollback'), undefined);
    assert.deepEqual(
      calls(record)
        .map((c) => c.env.CNI_COMMAND)
        .at(-1),
      'DEL',
    );
  },
);
