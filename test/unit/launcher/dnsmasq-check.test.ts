/** checkNic: a DHCP NIC's values checked and normalised before anything is rendered. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkNic } from '../../../launcher/dhcp/dnsmasq-check.ts';
import type { DhcpNic } from '../../../launcher/dhcp/dnsmasq-config.ts';

const NIC: DhcpNic = {
  bridge: 'k6t-eth0',
  serverAddress: '169.254.75.10',
  mac: '02:5E:00:00:00:05',
  sharedNetwork: true,
  ipv4: { address: '10.244.0.5', prefix: 24 },
  router: '10.244.0.1',
  classlessRoutes: [{ dst: '10.96.0.0/12', gateway: '10.244.0.254' }],
  dnsServers: ['10.96.0.10', 'fd00::10', '10.96.0.10'],
  searchDomains: ['Default.svc.cluster.local.', 'default.svc.cluster.local'],
  privateOptions: [
    { code: 252, value: 'b' },
    { code: 240, value: 'a' },
  ],
};

test('checkNic: values normalised, the default route added last, options sorted, duplicates dropped', () => {
  const warnings: string[] = [];
  const c = checkNic(NIC, 1, warnings);
  assert.equal(c.field, 'nics[1]');
  assert.equal(c.tag, 'nic1');
  assert.equal(c.mac, '02:5e:00:00:00:05');
  assert.equal(c.lease, 'infinite');
  assert.deepEqual(c.classless, [
    { dst: '10.96.0.0/12', gateway: '10.244.0.254' },
    { dst: '0.0.0.0/0', gateway: '10.244.0.1' },
  ]);
  assert.deepEqual([c.dns4, c.dns6], [['10.96.0.10'], ['fd00::10']]);
  assert.deepEqual(c.search, ['default.svc.cluster.local']);
  assert.deepEqual(
    c.privateOptions.map((o) => o.code),
    [240, 252],
  );
  assert.equal(c.raLifetime, undefined);
  assert.deepEqual(warnings, ['nics[1].searchDomains[1]: "default.svc.cluster.local" is a duplicate; dropped']);
});

test('checkNic: a bad value names its field, and nothing is rendered', () => {
  assert.throws(() => checkNic({ ...NIC, router: '10.244.0.300' }, 0, []), /^TypeError: nics\[0\]\.router: /u);
  assert.throws(
    () => checkNic({ ...NIC, classlessRoutes: [{ dst: '10.96.0.1/12', gateway: '10.244.0.254' }] }, 0, []),
    /nics\[0\]\.classlessRoutes\[0\]\.dst: .* has host bits set/u,
  );
  assert.throws(
    () => checkNic({ ...NIC, routerAdvertisement: { routerLifetime: 1800 } }, 0, []),
    /nics\[0\]\.routerAdvertisement: needs ipv6/u,
  );
});
