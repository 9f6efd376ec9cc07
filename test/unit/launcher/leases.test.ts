/** dnsmasq's lease file: IPv4 lines, the duid line, IPv6 lines. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLeases } from '../../../launcher/dhcp/leases.ts';

const FILE = [
  '0 02:5E:00:00:00:05 10.244.0.5 vm1 01:02:5e:00:00:00:05',
  '1767225600 02:00:00:ab:cd:ef 192.168.50.7 * *',
  'duid 00:01:00:01:2d:5a:1b:2c:02:aa:00:00:00:01',
  '0 1234567 FD00:10:244::5 vm1 00:04:9f:1c:2b:3a:4d:5e:6f:70:81:92:a3:b4:c5:d6:e7:f8',
  '1767225600 99 fd00:20::7 * 00:03:00:01:02:00:00:ab:cd:ef',
  '',
].join('\n');

test('IPv4 leases by MAC, lower-cased; IPv6 leases after the duid line', () => {
  const l = parseLeases(FILE);
  assert.deepEqual(
    [...l.v4],
    [
      ['02:5e:00:00:00:05', '10.244.0.5'],
      ['02:00:00:ab:cd:ef', '192.168.50.7'],
    ],
  );
  assert.deepEqual([...l.v6], ['fd00:10:244::5', 'fd00:20::7']);
});

test('the duid line itself is no lease; without it everything is IPv4', () => {
  assert.deepEqual([...parseLeases('duid 00:01:00:01:2d:5a:1b:2c:02:aa:00:00:00:01\n').v6], []);
  assert.deepEqual(parseLeases('duid 00:01\n').v4.size, 0);
  const v4only = parseLeases('0 02:00:00:00:00:01 10.0.0.1 a *\n');
  assert.deepEqual([...v4only.v4], [['02:00:00:00:00:01', '10.0.0.1']]);
  assert.equal(v4only.v6.size, 0);
});

test('CRLF and extra blanks', () => {
  const l = parseLeases('0  02:00:00:00:00:01\t10.0.0.1 a *\r\nduid 00:01\r\n0 1 fd00::1 a 00:01\r\n');
  assert.deepEqual([...l.v4], [['02:00:00:00:00:01', '10.0.0.1']]);
  assert.deepEqual([...l.v6], ['fd00::1']);
});

test('a renewed lease (same MAC twice): the last line wins', () => {
  const l = parseLeases('0 02:00:00:00:00:01 10.0.0.1 a *\n0 02:00:00:00:00:01 10.0.0.9 a *\n');
  assert.deepEqual([...l.v4], [['02:00:00:00:00:01', '10.0.0.9']]);
});

test('empty and garbage input never throws', () => {
  for (const text of [
    '',
    '\n',
    '\n\n\n',
    '   ',
    'garbage',
    'a b',
    '\u0000\u0001\u0002',
    'duid',
    'x'.repeat(100_000),
    '\r\n\r\n',
  ]) {
    const l = parseLeases(text);
    assert.equal(l.v4.size, 0, JSON.stringify(text.slice(0, 20)));
    assert.equal(l.v6.size, 0, JSON.stringify(text.slice(0, 20)));
  }
});
