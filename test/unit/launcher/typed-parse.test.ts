/**
 * The launcher's spec, status.json and the pod's report are rebuilt from their checked fields (launcher/spec.ts
 * parseLauncherSpec, launcher/status.ts parseLauncherStatus / parseLauncherReport): what comes back holds every field
 * its type names, as given, and nothing else, so a key no check has seen never reaches a reader. Pure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLauncherSpec, type LauncherSpec } from '../../../launcher/spec.ts';
import { parseLauncherReport, parseLauncherStatus, type LauncherStatus } from '../../../launcher/status.ts';

const SPEC: LauncherSpec = {
  name: 'web',
  namespace: 'apps',
  hostname: 'web-0',
  subdomain: 'web.apps',
  memoryMiB: 256,
  cpus: 2,
  interfaces: [
    { name: 'default', masquerade: {}, macAddress: '02:00:00:00:00:01', ports: [{ port: 80, protocol: 'TCP' }] },
    { name: 'blue', bridge: {}, pciAddress: '0000:81:00.1', model: 'e1000e', mtu: 9000 },
  ],
  networks: [
    { name: 'default', pod: { vmNetworkCIDR: '10.0.2.0/24' } },
    { name: 'blue', multus: { networkName: 'apps/blue' } },
  ],
  boot: { firmware: 'efi', secureBoot: false },
  disks: [{ name: 'root', file: '/var/lib/virtnet/images/w.qcow2', format: 'qcow2', device: 'disk', bus: 'virtio' }],
  cloudInit: {
    kind: 'noCloud',
    disk: { name: 'ci', device: 'cdrom', bus: 'sata', bootOrder: 2 },
    instanceId: 'uid-1',
    hostname: 'web-0',
    userDataBase64: 'I2Nsb3VkLWNvbmZpZwo=',
  },
  serviceCIDRs: ['10.96.0.0/12'],
};

test('the launcher spec: every field back as given, an unknown key (at any depth) left out', () => {
  assert.deepEqual(parseLauncherSpec(structuredClone(SPEC)), SPEC);
  const extra = {
    ...structuredClone(SPEC),
    qemuArgs: ['-monitor', 'tcp::4444'],
    boot: { ...SPEC.boot, loader: '/tmp/x.fd' },
    disks: [{ ...SPEC.disks![0], cache: 'unsafe' }],
    cloudInit: { ...SPEC.cloudInit, vendorData: 'x' },
  };
  assert.deepEqual(parseLauncherSpec(extra), SPEC);
});

const STATUS: LauncherStatus = {
  phase: 'Running',
  pid: 42,
  domain: 'apps_web',
  accel: 'kvm',
  nics: [
    {
      name: 'default',
      binding: 'masquerade',
      podInterface: 'eth0',
      bridge: 'k6t-eth0',
      tap: 'tap0',
      mac: '02:00:00:00:00:01',
      mtu: 1500,
      ips: ['10.244.1.5'],
      dhcp: true,
      leased4: true,
      leased6: false,
      leasedAtMs: 1200,
    },
  ],
  steps: [{ name: 'network', ms: 12.5 }],
  tapReadyAtMs: 300,
  warnings: ['w'],
  dnsmasqRestarts: 0,
  pids: { dnsmasq: 7, qemu: 9 },
  pidStarts: { qemu: '123456' },
};

test('status.json: every field back as given, an unknown key left out', () => {
  assert.deepEqual(parseLauncherStatus(JSON.stringify(STATUS), 'status.json'), STATUS);
  const extra = {
    ...STATUS,
    debug: { token: 'x' },
    nics: [{ ...STATUS.nics[0], hostPath: '/etc' }],
    pids: { ...STATUS.pids, sshd: 1 },
  };
  assert.deepEqual(parseLauncherStatus(JSON.stringify(extra), 'status.json'), STATUS);
});

test("the pod's report: only the report's fields, even from a whole status", () => {
  const { phase, nics, steps, accel } = STATUS;
  assert.deepEqual(parseLauncherReport(JSON.stringify(STATUS), 'report'), { phase, nics, steps, accel });
});
