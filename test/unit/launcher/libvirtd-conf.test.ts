/**
 * The per-pod libvirtd's trims (launcher/domain/libvirtd.ts): thread pools started at one worker each, and a
 * driver directory holding only the QEMU driver, given to libvirtd as LIBVIRT_DRIVER_DIR.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  connectionDriverDirs,
  libvirtdArgv,
  libvirtdConf,
  libvirtdEnv,
  lowestAllowedCpu,
  qemuOnlyDriverDir,
} from '../../../launcher/domain/libvirtd.ts';

const work = mkdtempSync(join(tmpdir(), 'virtnet-test-libvirtd-conf-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('libvirtd.conf starts one worker per pool, and keeps the socket settings', () => {
  const lines = libvirtdConf('/s').split('\n');
  for (const l of ['min_workers = 1', 'prio_workers = 1', 'admin_min_workers = 1', 'unix_sock_dir = "/s"'])
    assert.ok(lines.includes(l), l);
  assert.ok(!lines.some((l) => l.startsWith('max_workers')), 'the pools still grow on demand');
});

test("the driver directories: Debian's multiarch one first, then lib64 and lib", () => {
  assert.deepEqual(connectionDriverDirs('x64'), [
    '/usr/lib/x86_64-linux-gnu/libvirt/connection-driver',
    '/usr/lib64/libvirt/connection-driver',
    '/usr/lib/libvirt/connection-driver',
  ]);
  assert.equal(connectionDriverDirs('riscv64').length, 2);
});

test('the QEMU-only directory links the QEMU driver of the first directory that has it, again on a rerun', () => {
  const missing = join(work, 'missing');
  const system = join(work, 'system');
  mkdirSync(system);
  for (const d of ['qemu', 'network', 'nodedev']) writeFileSync(join(system, `libvirt_driver_${d}.so`), '');
  const base = join(work, 'libvirt');
  for (let run = 0; run < 2; run++) {
    const dir = qemuOnlyDriverDir(base, [missing, system]);
    assert.equal(dir, join(base, 'drivers'));
    assert.deepEqual(readdirSync(dir), ['libvirt_driver_qemu.so']);
    assert.equal(readlinkSync(join(dir, 'libvirt_driver_qemu.so')), join(system, 'libvirt_driver_qemu.so'));
  }
});

test('without a QEMU driver to link, libvirtd keeps its own directory and environment', () => {
  assert.equal(qemuOnlyDriverDir(join(work, 'none'), [join(work, 'missing')]), undefined);
  const base = { PATH: '/usr/bin' };
  assert.equal(libvirtdEnv(undefined, base), base);
  assert.deepEqual(libvirtdEnv('/d', base), { PATH: '/usr/bin', LIBVIRT_DRIVER_DIR: '/d' });
});

test('libvirtd runs on the lowest allowed CPU, so every pod reads the same CPUID', () => {
  const status = (list: string) => `Name:\tnode\nCpus_allowed:\tff\nCpus_allowed_list:\t${list}\nMems_allowed:\t1\n`;
  assert.equal(lowestAllowedCpu(status('0-1')), 0);
  assert.equal(lowestAllowedCpu(status('3')), 3);
  assert.equal(lowestAllowedCpu(status('8-11,2-3')), 2);
  assert.equal(lowestAllowedCpu(status('')), undefined);
  assert.equal(lowestAllowedCpu('Name:\tnode\n'), undefined);
  assert.equal(lowestAllowedCpu(status('x-y')), undefined);
  assert.deepEqual(libvirtdArgv('/e/libvirtd.conf', 2), [
    'taskset',
    '--cpu-list',
    '2',
    'libvirtd',
    '--config',
    '/e/libvirtd.conf',
    '--pid-file',
    '/run/libvirt/libvirtd.pid',
  ]);
  assert.deepEqual(libvirtdArgv('/e/libvirtd.conf', undefined).slice(0, 1), ['libvirtd']);
});
