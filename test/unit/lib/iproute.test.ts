import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderOp, type LinkOp } from '../../../lib/iproute.ts';

test('renderOp: every operation kind renders to its ip(8) batch line', () => {
  const cases: Array<[LinkOp, string]> = [
    [{ op: 'bridge-add', name: 'br0' }, 'link add name br0 type bridge'],
    [
      { op: 'bridge-add', name: 'br0', mtu: 9000, mac: '0A:00:00:00:00:01' },
      'link add name br0 mtu 9000 address 0a:00:00:00:00:01 type bridge',
    ],
    [
      {
        op: 'veth-add',
        name: 'veth0',
        mtu: 1500,
        mac: '02:00:00:00:00:01',
        peer: 'eth0',
        peerMac: '02:00:00:00:00:02',
        peerNetns: '/run/netns/a',
      },
      'link add name veth0 mtu 1500 address 02:00:00:00:00:01 type veth peer name eth0 mtu 1500 address ' +
        '02:00:00:00:00:02 netns /run/netns/a',
    ],
    [
      { op: 'vxlan-add', name: 'vxlan1', id: 1, dstPort: 4789, remote: '192.0.2.1' },
      'link add name vxlan1 type vxlan id 1 remote 192.0.2.1 dstport 4789',
    ],
    [
      {
        op: 'vxlan-add',
        name: 'vxlan2',
        id: 16777215,
        dstPort: 8472,
        group: 'ff05::2',
        local: 'fd00::1',
        dev: 'eth1',
        mtu: 1450,
      },
      'link add name vxlan2 mtu 1450 type vxlan id 16777215 group ff05::2 local fd00::1 dev eth1 dstport 8472',
    ],
    [{ op: 'tap-add', name: 'tap0' }, 'tuntap add dev tap0 mode tap'],
    [{ op: 'link-set', name: 'eth0', up: false }, 'link set dev eth0 down'],
    [
      {
        op: 'link-set',
        name: 'tmp0',
        newName: 'eth1',
        master: 'br0',
        mtu: 1400,
        mac: '02:AA:BB:CC:DD:EE',
        promisc: false,
        alias: 'virtnet/n/c',
        up: true,
      },
      'link set dev tmp0 name eth1 master br0 mtu 1400 address 02:aa:bb:cc:dd:ee promisc off alias virtnet/n/c up',
    ],
    [{ op: 'link-set', name: 'veth0', nomaster: true }, 'link set dev veth0 nomaster'],
    [
      { op: 'bridge-port', name: 'veth0', hairpin: true, learning: false },
      'link set dev veth0 type bridge_slave hairpin on learning off',
    ],
    [{ op: 'link-del', name: 'veth0' }, 'link del dev veth0'],
    [{ op: 'addr-add', dev: 'eth0', cidr: '10.0.0.2/24' }, 'addr add 10.0.0.2/24 dev eth0'],
    [
      { op: 'addr-add', dev: 'br0', cidr: 'fd00::1/64', replace: true, nodad: true },
      'addr replace fd00::1/64 dev br0 nodad',
    ],
    [{ op: 'addr-flush', dev: 'eth0' }, 'addr flush dev eth0'],
    [{ op: 'route-add', dst: '0.0.0.0/0', dev: 'eth0' }, 'route add 0.0.0.0/0 dev eth0'],
    [
      {
        op: 'route-add',
        dst: '10.0.0.0/8',
        dev: 'eth0',
        via: '10.1.0.1',
        metric: 0,
        table: 100,
        scope: 253,
        mtu: 1400,
        advmss: 1360,
      },
      'route add 10.0.0.0/8 via 10.1.0.1 dev eth0 metric 0 table 100 scope 253 mtu 1400 advmss 1360',
    ],
    [{ op: 'link-show', name: 'br0' }, 'link show dev br0'],
  ];
  for (const [op, line] of cases) assert.equal(renderOp(op), line, JSON.stringify(op));
});

const UNSAFE: Array<[string, LinkOp, RegExp]> = [
  ['link name with a space', { op: 'link-del', name: 'eth 0' }, /invalid link name "eth 0"/],
  ['link name with a newline (a second batch command)', { op: 'link-del', name: 'a\nlink' }, /invalid link name/],
  ['link name too long', { op: 'link-show', name: 'abcdefghijklmnop' }, /invalid link name .*at most 15 bytes/],
  ['empty link name', { op: 'tap-add', name: '' }, /invalid link name "": must not be empty/],
  ['link name ".."', { op: 'link-del', name: '..' }, /invalid link name/],
  ['link name with "/"', { op: 'addr-flush', dev: 'a/b' }, /invalid link name/],
  [
    'veth peer with ":"',
    {
      op: 'veth-add',
      name: 'v0',
      mtu: 1500,
      mac: '02:00:00:00:00:01',
      peer: 'eth0:1',
      peerMac: '02:00:00:00:00:02',
      peerNetns: '/n',
    },
    /invalid link name "eth0:1"/,
  ],
  ['master with a tab', { op: 'link-set', name: 'v0', master: 'br\t0' }, /invalid link name/],
  ['newName with a control character', { op: 'link-set', name: 'v0', newName: 'e\u0007' }, /invalid link name/],
  [
    'vxlan dev with a space',
    { op: 'vxlan-add', name: 'vx', id: 1, dstPort: 4789, dev: 'e 1', group: '239.0.0.1' },
    /invalid link name/,
  ],
  ['bridge MAC too short', { op: 'bridge-add', name: 'br0', mac: '02:00:00:00:00' }, /invalid MAC "02:00:00:00:00"/],
  [
    'veth MAC with dashes',
    {
      op: 'veth-add',
      name: 'v0',
      mtu: 1500,
      mac: '02-00-00-00-00-01',
      peer: 'e0',
      peerMac: '02:00:00:00:00:02',
      peerNetns: '/n',
    },
    /invalid MAC/,
  ],
  [
    'peer MAC with a trailing command',
    {
      op: 'veth-add',
      name: 'v0',
      mtu: 1500,
      mac: '02:00:00:00:00:01',
      peer: 'e0',
      peerMac: '02:00:00:00:00:02 up',
      peerNetns: '/n',
    },
    /invalid MAC/,
  ],
  ['link-set MAC not hex', { op: 'link-set', name: 'v0', mac: 'gg:00:00:00:00:01' }, /invalid MAC/],
  ['address without a prefix', { op: 'addr-add', dev: 'eth0', cidr: '10.0.0.2' }, /invalid CIDR "10.0.0.2"/],
  ['address with prefix 33', { op: 'addr-add', dev: 'eth0', cidr: '10.0.0.2/33' }, /invalid CIDR/],
  ['address with an octet of 256', { op: 'addr-add', dev: 'eth0', cidr: '10.0.0.256/24' }, /invalid CIDR/],
  ['address with a trailing word', { op: 'addr-add', dev: 'eth0', cidr: '10.0.0.2/24 dev lo' }, /invalid CIDR/],
  ['IPv6 prefix 129', { op: 'addr-add', dev: 'eth0', cidr: 'fd00::1/129' }, /invalid CIDR/],
  ['route dst "default"', { op: 'route-add', dst: 'default', dev: 'eth0' }, /invalid CIDR "default"/],
  ['route via a name', { op: 'route-add', dst: '0.0.0.0/0', dev: 'eth0', via: 'gateway' }, /invalid IP "gateway"/],
  ['route via with a prefix', { op: 'route-add', dst: '0.0.0.0/0', dev: 'eth0', via: '10.0.0.1/24' }, /invalid IP/],
  [
    'vxlan remote not an IP',
    { op: 'vxlan-add', name: 'vx', id: 1, dstPort: 4789, remote: 'peer.example' },
    /invalid IP/,
  ],
  ['route scope above 255', { op: 'route-add', dst: '0.0.0.0/0', dev: 'eth0', scope: 256 }, /outside 0\.\.255/],
  ['bridge mtu 0', { op: 'bridge-add', name: 'br0', mtu: 0 }, /outside 68\.\.65535/],
  ['link name with #', { op: 'link-del', name: 'a#b' }, /must not contain #/],
  ['empty MAC on link-set', { op: 'link-set', name: 'br0', mac: '' }, /invalid MAC/],
  ['alias with a space', { op: 'link-set', name: 'v0', alias: 'a b' }, /unsafe batch token "a b"/],
  ['alias with "#" (a batch comment)', { op: 'link-set', name: 'v0', alias: 'a#b' }, /unsafe batch token/],
  ['alias with a quote', { op: 'link-set', name: 'v0', alias: '"x' }, /unsafe batch token/],
  [
    'netns with a space',
    {
      op: 'veth-add',
      name: 'v0',
      mtu: 1500,
      mac: '02:00:00:00:00:01',
      peer: 'e0',
      peerMac: '02:00:00:00:00:02',
      peerNetns: '/run/netns/a b',
    },
    /unsafe batch token/,
  ],
  ['mtu 67', { op: 'link-set', name: 'v0', mtu: 67 }, /integer 67 outside 68..65535/],
  [
    'veth mtu 65536',
    {
      op: 'veth-add',
      name: 'v0',
      mtu: 65536,
      mac: '02:00:00:00:00:01',
      peer: 'e0',
      peerMac: '02:00:00:00:00:02',
      peerNetns: '/n',
    },
    /integer 65536 outside/,
  ],
  ['fractional mtu', { op: 'bridge-add', name: 'br0', mtu: 1500.5 }, /integer 1500.5 outside/],
  [
    'vxlan id 2^24',
    { op: 'vxlan-add', name: 'vx', id: 16777216, dstPort: 4789, remote: '192.0.2.1' },
    /integer 16777216 outside 0..16777215/,
  ],
  [
    'vxlan port 0',
    { op: 'vxlan-add', name: 'vx', id: 1, dstPort: 0, remote: '192.0.2.1' },
    /integer 0 outside 1..65535/,
  ],
  ['route table 0', { op: 'route-add', dst: '0.0.0.0/0', dev: 'eth0', table: 0 }, /integer 0 outside 1\.\./],
  ['negative metric', { op: 'route-add', dst: '0.0.0.0/0', dev: 'eth0', metric: -1 }, /integer -1 outside 0\.\./],
  ['advmss 0', { op: 'route-add', dst: '0.0.0.0/0', dev: 'eth0', advmss: 0 }, /integer 0 outside 1..65535/],
];

for (const [what, op, message] of UNSAFE) {
  test(`renderOp rejects ${what} with a TypeError`, () => {
    assert.throws(
      () => renderOp(op),
      (e: unknown) => {
        assert.ok(e instanceof TypeError, `expected TypeError, got ${String(e)}`);
        assert.match(e.message, message);
        return true;
      },
    );
  });
}
