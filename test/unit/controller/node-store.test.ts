/**
 * The node's records on disk, without the kernel: private modes (issue 11
 * defect 12), a record read as absent, valid or corrupt (defect 9), and a
 * listing that skips what no VMI can have made instead of failing for every
 * VMI (defect 14).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeConfig } from '../../../controller/node/config.ts';
import { NodeRuntime } from '../../../controller/node/runtime.ts';
import type { VmiRecord } from '../../../controller/node/store.ts';
import { withLock } from '../../../lib/lockfile.ts';
import { startTime } from '../../../lib/process.ts';
import { writeCache } from '../../../netattach/cache.ts';

/** Runs `fn` with a scratch directory, removed afterwards. */
async function inScratch(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'virtnet-test-store-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function record(name: string, extra: Partial<VmiRecord> = {}): VmiRecord {
  return {
    object: {
      metadata: { name, namespace: 'default', uid: 'u' },
      spec: {
        domain: { devices: { interfaces: [] } },
        networks: [],
        volumes: [{ name: 'ci', cloudInitNoCloud: { userData: '#cloud-config\npassword: secret' } }],
      },
    },
    specHash: 'h',
    state: 'Created',
    creator: { pid: 1, start: 'none' },
    netns: 'vn-00000000cc',
    containerID: `c${name}`,
    attachments: [],
    steps: [],
    ...extra,
  };
}

/** Every path under `dir` (itself included) with its permission bits. */
function modes(dir: string): Array<[string, string]> {
  const out: Array<[string, string]> = [[dir, (statSync(dir).mode & 0o777).toString(8)]];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...modes(p));
    else out.push([p, (statSync(p).mode & 0o777).toString(8)]);
  }
  return out;
}

test('state is private: directories 0700 and files 0600 under a permissive umask, and an older tree is tightened', () =>
  inScratch(async (dir) => {
    const stateDir = join(dir, 'state');
    const old = process.umask(0);
    try {
      // An older version's tree: 0755 directories.
      mkdirSync(join(stateDir, 'vmis', 'default'), { recursive: true, mode: 0o755 });
      chmodSync(stateDir, 0o755);
      const rt = new NodeRuntime(nodeConfig({ stateDir }));
      rt.store.writeVmi(record('vm'));
      rt.store.saveObject('vms', { metadata: { name: 'vm', namespace: 'default' }, spec: {} });
      rt.store.saveObject('nads', { metadata: { name: 'blue', namespace: 'default' }, spec: { config: '{}' } });
      writeCache(
        join(stateDir, 'cni-cache'),
        { cniVersion: '1.1.0', name: 'blue', plugins: [] },
        { containerID: 'cvm', netns: '/run/netns/vn-00000000cc', ifname: 'net1' },
        { cniVersion: '1.1.0' },
      );
      await withLock(rt.store.lockFile('default', 'vm'), async () => {
        const wide = modes(stateDir).filter(([p, m]) => m !== (statSync(p).isDirectory() ? '700' : '600'));
        assert.deepEqual(wide, [], 'every directory 0700, every file 0600 (the lock file too)');
      });
      assert.deepEqual(
        modes(stateDir)
          .map(([p]) => p.slice(stateDir.length))
          .sort(),
        [
          '',
          '/cni-cache',
          '/cni-cache/results',
          '/cni-cache/results/blue-cvm-net1',
          '/locks',
          '/nads',
          '/nads/default',
          '/nads/default/blue.json',
          '/vmis',
          '/vmis/default',
          '/vmis/default/vm',
          '/vmis/default/vm/record.json',
          '/vms',
          '/vms/default',
          '/vms/default/vm.json',
        ],
      );
    } finally {
      process.umask(old);
    }
  }));

test('a record reads as absent, valid or corrupt; corrupt is never "nothing was made"', () =>
  inScratch((dir) => {
    const rt = new NodeRuntime(nodeConfig({ stateDir: join(dir, 'state') }));
    assert.deepEqual(rt.store.readVmiEntry('default', 'vm'), { kind: 'absent' });
    rt.store.writeVmi(record('vm'));
    assert.equal(rt.store.readVmiEntry('default', 'vm').kind, 'valid');
    const file = join(rt.store.vmiDir('default', 'vm'), 'record.json');
    const corrupt: Array<[string, RegExp]> = [
      ['', /is empty/u],
      ['{"object": {', /is not JSON/u],
      ['[]', /is not an object/u],
      [JSON.stringify(record('other')), /names "default\/other", not default\/vm/u],
      [JSON.stringify(record('vm', { netns: '../../etc' })), /netns "..\/..\/etc" is not a sandbox name/u],
      [JSON.stringify(record('vm', { state: 'Gone' as never })), /state "Gone"/u],
      [JSON.stringify(record('vm', { containerID: 'a b' })), /containerID "a b"/u],
    ];
    for (const [text, why] of corrupt) {
      writeFileSync(file, text);
      const e = rt.store.readVmiEntry('default', 'vm');
      assert.equal(e.kind, 'corrupt', text);
      assert.match(e.kind === 'corrupt' ? e.why : '', why);
      assert.equal(rt.store.readVmi('default', 'vm'), undefined);
      assert.equal(
        rt.plan('default', 'vm', { domain: { devices: {} } }),
        'recreate',
        'up reconciles what it stood for before it makes anything',
      );
    }
  }));

test('gc and the listings skip a name no VMI can have, or a file, and say so; every other VMI is still collected', () =>
  inScratch(async (dir) => {
    const rt = new NodeRuntime(nodeConfig({ stateDir: join(dir, 'state') }));
    const vmis = join(rt.cfg.stateDir, 'vmis');
    mkdirSync(join(vmis, 'default', 'My_VM'), { recursive: true });
    writeFileSync(join(vmis, 'default', 'stray.json'), '{}');
    mkdirSync(join(vmis, 'Bad_NS', 'vm'), { recursive: true });
    writeFileSync(join(vmis, 'README'), 'x');
    // A VMI whose `up` died before its first journal write: gc removes it.
    mkdirSync(join(vmis, 'default', 'half'), { recursive: true });
    // A VMI whose `up` is still at work (this process): gc leaves it.
    rt.store.writeVmi(
      record('kept', { state: 'Creating', creator: { pid: process.pid, start: startTime(process.pid)! } }),
    );
    // One whose lock cannot be taken (its lock path is a directory): reported, and the rest still collected.
    mkdirSync(join(vmis, 'default', 'jammed'), { recursive: true });
    mkdirSync(rt.store.lockFile('default', 'jammed'), { recursive: true });
    const warnings: string[] = [];
    const lines = await rt.gc((l) => warnings.push(l));
    assert.deepEqual(lines, ['default/half']);
    assert.match(warnings.find((w) => w.includes('jammed')) ?? '', /^warning: default\/jammed: not collected: EISDIR/u);
    assert.deepEqual(warnings.filter((w) => !w.includes('jammed')).sort(), [
      `warning: skipped ${join(vmis, 'Bad_NS')}: it is not a valid namespace name: "Bad_NS" must be a DNS-1123 ` +
        `subdomain (lower-case alphanumerics, "-" and ".", each part starting and ending with an alphanumeric)`,
      `warning: skipped ${join(vmis, 'README')}: it is not a directory`,
      `warning: skipped ${join(vmis, 'default', 'My_VM')}: it is not a valid VMI name: "My_VM" must be a DNS-1123 ` +
        `subdomain (lower-case alphanumerics, "-" and ".", each part starting and ending with an alphanumeric)`,
      `warning: skipped ${join(vmis, 'default', 'stray.json')}: it is not a directory`,
    ]);
    assert.deepEqual(
      rt.store.listVmis().map((r) => r.object.metadata.name),
      ['kept'],
      "the kubelet role's start-up lists the rest",
    );
    assert.deepEqual(
      rt.list().map((o) => o.metadata.name),
      ['kept'],
    );
  }));

test('VMs and NADs are stamped with their creation time when first saved, and keep it when saved again', () =>
  inScratch((dir) => {
    const rt = new NodeRuntime(nodeConfig({ stateDir: join(dir, 'state') }));
    type Stored = { metadata: { creationTimestamp?: string }; spec: { config: string } };
    const before = Date.now();
    rt.store.saveObject('nads', { metadata: { name: 'blue', namespace: 'team' }, spec: { config: '{"a":1}' } });
    const first = rt.store.readObject<Stored>('nads', 'team', 'blue')!;
    const stamp = first.metadata.creationTimestamp!;
    assert.match(stamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/u, 'RFC 3339 in seconds, as the API server writes it');
    assert.ok(Date.parse(stamp) >= Math.floor(before / 1000) * 1000 && Date.parse(stamp) <= Date.now());
    // Applied again, possibly with a stale or forged timestamp: the first one stays.
    const again = { name: 'blue', namespace: 'team', creationTimestamp: '2000-01-01T00:00:00Z' };
    rt.store.saveObject('nads', { metadata: again, spec: { config: '{"a":2}' } });
    const second = rt.store.readObject<Stored>('nads', 'team', 'blue')!;
    assert.equal(second.metadata.creationTimestamp, stamp);
    assert.equal(second.spec.config, '{"a":2}');
  }));
