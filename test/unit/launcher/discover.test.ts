/** podNetworkFrom: the pod's network from `ip -json` output, pure. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { podNetworkFrom } from '../../../launcher/discover.ts';
import type { IpLink, IpRoute } from '../../../lib/iproute.ts';

/** `ip -json -details addr show` in a dual-stack pod, trimmed of fields nobody reads but kept realistic. */
const LINKS = JSON.parse(`[
  {"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"qdisc":"noqueue","operstate":"UNKNOWN","group":"default","txqlen":1000,
   "link_type":"loopback","address":"00:00:00:00:00:00","broadcast":"00:00:00:00:00:00","promiscuity":0,"min_mtu":0,"max_mtu":0,
   "addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host","label":"lo","valid_life_time":4294967295,"preferred_life_time":4294967295},
                {"family":"inet6","local":"::1","prefixlen":128,"scope":"host","valid_life_time":4294967295,"preferred_life_time":4294967295}]},
  {"ifindex":2,"link_index":11,"ifname":"eth0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1450,"qdisc":"noqueue","operstate":"UP","group":"default",
   "link_type":"ether","address":"0A:58:0A:F4:00:05","broadcast":"ff:ff:ff:ff:ff:ff","link_netnsid":0,"promiscuity":0,"min_mtu":68,"max_mtu":65535,
   "linkinfo":{"info_kind":"veth"},
   "addr_info":[{"family":"inet","local":"10.244.0.5","prefixlen":24,"broadcast":"10.244.0.255","scope":"global","label":"eth0","valid_life_time":4294967295,"preferred_life_time":4294967295},
                {"family":"inet6","local":"fd00:10:244::5","prefixlen":64,"scope":"global","valid_life_time":4294967295,"preferred_life_time":4294967295},
                {"family":"inet6","local":"fe80::858:aff:fef4:5","prefixlen":64,"scope":"link","valid_life_time":4294967295,"preferred_life_time":4294967295}]},
  {"ifindex":3,"link_index":12,"ifname":"net1","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","operstate":"UP","group":"default",
   "link_type":"ether","address":"02:00:00:ab:cd:ef","broadcast":"ff:ff:ff:ff:ff:ff","link_netnsid":0,
   "linkinfo":{"info_kind":"veth"},
   "addr_info":[{"family":"inet","local":"192.168.50.7","prefixlen":24,"broadcast":"192.168.50.255","scope":"global","label":"net1","valid_life_time":4294967295,"preferred_life_time":4294967295},
                {"family":"inet6","local":"fe80::ff:fe00:abcd","prefixlen":64,"scope":"link","valid_life_time":4294967295,"preferred_life_time":4294967295}]},
  {"ifindex":4,"ifname":"tunl0","flags":["NOARP"],"mtu":1480,"qdisc":"noop","operstate":"DOWN","group":"default","link_type":"ipip","address":"0.0.0.0","link_pointtopoint":true,"addr_info":[]},
  {"ifindex":5,"ifname":"sit0","flags":["NOARP"],"mtu":1480,"qdisc":"noop","operstate":"DOWN","group":"default","link_type":"sit","addr_info":[]}
]`) as IpLink[];

/** `ip -json route show table main` then `ip -json -6 route show table main`, concatenated as readNetns does. */
const ROUTES = JSON.parse(`[
  {"dst":"default","gateway":"10.244.0.1","dev":"eth0","flags":[]},
  {"dst":"10.96.0.0/12","gateway":"10.244.0.254","dev":"eth0","metric":100,"flags":[]},
  {"dst":"10.244.0.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"10.244.0.5","flags":[]},
  {"dst":"10.250.0.9","dev":"eth0","scope":"link","flags":[]},
  {"dst":"192.168.50.0/24","dev":"net1","protocol":"kernel","scope":"link","prefsrc":"192.168.50.7","flags":[]},
  {"dst":"172.16.0.0/16","gateway":"192.168.50.1","dev":"net1","protocol":"static","flags":[]},
  {"dst":"fd00:10:244::/64","dev":"eth0","protocol":"kernel","metric":256,"flags":[],"pref":"medium"},
  {"dst":"fd00:10:96::/108","gateway":"fd00:10:244::1","dev":"eth0","metric":1024,"flags":[],"pref":"medium"},
  {"dst":"fe80::/64","dev":"eth0","protocol":"kernel","metric":256,"flags":[],"pref":"medium"},
  {"dst":"fe80::/64","dev":"net1","protocol":"kernel","metric":256,"flags":[],"pref":"medium"},
  {"type":"multicast","dst":"ff00::/8","dev":"eth0","metric":256,"flags":[],"pref":"medium"},
  {"dst":"default","gateway":"fd00:10:244::1","dev":"eth0","metric":1024,"flags":[],"pref":"medium"}
]`) as IpRoute[];

const RESOLV =
  'search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n';

test('dual-stack pod with a secondary NIC: addresses, routes, MACs', () => {
  const pod = podNetworkFrom(LINKS, ROUTES, RESOLV);
  assert.deepEqual(pod.interfaces, [
    {
      name: 'eth0',
      mac: '0a:58:0a:f4:00:05',
      mtu: 1450,
      ipv4: [{ address: '10.244.0.5', prefix: 24 }],
      ipv6: [{ address: 'fd00:10:244::5', prefix: 64 }],
      routes4: [
        { dst: '0.0.0.0/0', gateway: '10.244.0.1' },
        { dst: '10.96.0.0/12', gateway: '10.244.0.254', metric: 100 },
        { dst: '10.250.0.9/32' },
      ],
      routes6: [
        { dst: 'fd00:10:96::/108', gateway: 'fd00:10:244::1', metric: 1024 },
        { dst: '::/0', gateway: 'fd00:10:244::1', metric: 1024 },
      ],
    },
    {
      name: 'net1',
      mac: '02:00:00:ab:cd:ef',
      mtu: 1500,
      ipv4: [{ address: '192.168.50.7', prefix: 24 }],
      ipv6: [],
      routes4: [{ dst: '172.16.0.0/16', gateway: '192.168.50.1' }],
      routes6: [],
    },
    // tunl0 has an "address" (0.0.0.0, ipip's link address): kept, but with nothing on it.
    { name: 'tunl0', mac: '0.0.0.0', mtu: 1480, ipv4: [], ipv6: [], routes4: [], routes6: [] },
  ]);
  assert.deepEqual(pod.resolv, {
    nameservers: ['10.96.0.10'],
    search: ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local'],
    skipped: [],
  });
});

test('lo is excluded, and links without a link-layer address', () => {
  const pod = podNetworkFrom(LINKS, [], '');
  assert.ok(!pod.interfaces.some((i) => i.name === 'lo' || i.name === 'sit0'));
});

test('link-local IPv6 addresses are excluded; kernel routes are excluded', () => {
  const pod = podNetworkFrom(LINKS, ROUTES, '');
  for (const i of pod.interfaces) {
    for (const a of i.ipv6) assert.doesNotMatch(a.address, /^fe80:/u);
    for (const r of [...i.routes4, ...i.routes6]) {
      assert.notEqual(r.dst, '10.244.0.0/24');
      assert.notEqual(r.dst, 'fd00:10:244::/64');
      assert.doesNotMatch(r.dst, /^(?:fe80|ff00):/u);
    }
  }
});

test('default routes map to 0.0.0.0/0 and ::/0, by gateway family', () => {
  const links: IpLink[] = [{ ifindex: 2, ifname: 'eth0', address: '02:00:00:00:00:01', mtu: 1500, addr_info: [] }];
  const pod = podNetworkFrom(
    links,
    [
      { dst: 'default', gateway: '10.0.0.1', dev: 'eth0', metric: 0 },
      { dst: 'default', gateway: 'fe80::1', dev: 'eth0', protocol: 'ra', metric: 1024 },
    ],
    '',
  );
  assert.deepEqual(pod.interfaces[0]?.routes4, [{ dst: '0.0.0.0/0', gateway: '10.0.0.1', metric: 0 }]);
  assert.deepEqual(pod.interfaces[0]?.routes6, [{ dst: '::/0', gateway: 'fe80::1', metric: 1024 }]);
});

test('routes on other devices are not attributed; no interfaces, no routes', () => {
  const links: IpLink[] = [{ ifindex: 2, ifname: 'eth0', address: '02:00:00:00:00:01', mtu: 1500 }];
  const pod = podNetworkFrom(links, [{ dst: 'default', gateway: '10.0.0.1', dev: 'eth9' }], 'nameserver bad\n');
  assert.deepEqual(pod.interfaces, [
    { name: 'eth0', mac: '02:00:00:00:00:01', mtu: 1500, ipv4: [], ipv6: [], routes4: [], routes6: [] },
  ]);
  assert.deepEqual(pod.resolv.skipped, ['nameserver bad']);
  assert.deepEqual(podNetworkFrom([], [], '').interfaces, []);
});

test('an IPv6 host route without prefix length gets /128', () => {
  const links: IpLink[] = [{ ifindex: 2, ifname: 'eth0', address: '02:00:00:00:00:01', mtu: 1500 }];
  const pod = podNetworkFrom(links, [{ dst: 'fd00::9', dev: 'eth0', metric: 1024 }], '');
  assert.deepEqual(pod.interfaces[0]?.routes6, [{ dst: 'fd00::9/128', metric: 1024 }]);
});
