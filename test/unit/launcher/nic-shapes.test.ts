/**
 * The NIC's shapes computed from its plan: the DHCP server's input
 * (dhcpNicOf) and the status report's entry (nicStatus), which keep
 * status.json's field names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dhcpNicOf, type NicPlan } from '../../../launcher/plan/types.ts';
import { nicStatus, parseLauncherStatus } from '../../../launcher/status.ts';
import { LAUNCHER_STEPS, NETWORK_SETUP_STEPS } from '../../../launcher/steps.ts';

const NIC: NicPlan = {
  name: 'default',
  index: 0,
  binding: 'bridge',
  names: { podIf: 'eth0', bridge: 'k6t-eth0', podNic: 'eth0-nic', tap: 'tap0' },
  mac: '02:5e:00:00:00:05',
  mtu: 1400,
  model: 'virtio',
  linkState: 'up',
  dhcp: { serverAddress: '169.254.75.10', sharedNetwork: true, ipv4: { address: '10.244.0.5', prefix: 24 } },
  ips: ['10.244.0.5'],
  staticAddresses: [],
};

test("dhcpNicOf: the plan's DHCP part on the NIC's bridge, for its MAC, with its MTU; none without DHCP", () => {
  assert.deepEqual(dhcpNicOf(NIC), {
    serverAddress: '169.254.75.10',
    sharedNetwork: true,
    ipv4: { address: '10.244.0.5', prefix: 24 },
    bridge: 'k6t-eth0',
    mac: '02:5e:00:00:00:05',
    mtu: 1400,
  });
  const { dhcp: _, ...l2 } = NIC;
  assert.equal(dhcpNicOf(l2), undefined);
});

test("nicStatus: status.json's entry for a planned NIC, no lease yet, readable by the status parser", () => {
  const status = nicStatus(NIC);
  assert.deepEqual(status, {
    name: 'default',
    binding: 'bridge',
    podInterface: 'eth0',
    bridge: 'k6t-eth0',
    tap: 'tap0',
    mac: '02:5e:00:00:00:05',
    mtu: 1400,
    ips: ['10.244.0.5'],
    dhcp: true,
    leased4: false,
    leased6: false,
    linkState: 'up',
  });
  const { dhcp: _, ...l2 } = NIC;
  assert.equal(nicStatus(l2).dhcp, false);
  const text = JSON.stringify({ phase: 'Starting', pid: 1, nics: [status], steps: [], warnings: [] });
  assert.deepEqual(parseLauncherStatus(text, 'status.json').nics, [status]);
});

test('the launcher steps: network setup is their first three, in order', () => {
  assert.deepEqual(Object.keys(LAUNCHER_STEPS).slice(0, 3), [...NETWORK_SETUP_STEPS]);
  assert.equal(LAUNCHER_STEPS.discover, 'discover pod');
});
