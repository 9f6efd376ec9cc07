/**
 * lib/names.ts linkNameProblem against the names an attacker would try
 * (issue 11 review): "%" templates the kernel expands, and characters that
 * print as nothing or as another name. Pure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linkNameProblem, macAddressProblem, pciAddressProblem } from '../../../lib/names.ts';

test('link names: a "%" is refused, since the kernel would make br0 from "br%d" (dev_alloc_name)', () => {
  for (const name of ['br%d', '%d', 'eth%', 'a%%b']) {
    assert.equal(
      linkNameProblem(name),
      'must not contain "%" (the kernel reads it as a name template, dev_alloc_name)',
      name,
    );
  }
});

test('link names: C1 controls, zero-width and non-ASCII characters are refused', () => {
  for (const name of ['x\u009b31m', 'br\u200b', 'e\u0085', 'brü', 'br\u202e0', 'ｂｒ0']) {
    assert.equal(linkNameProblem(name), 'may hold only ASCII letters, digits and "._@+-"', JSON.stringify(name));
  }
  assert.equal(
    linkNameProblem('br$x'),
    'may hold only ASCII letters, digits and "._@+-"',
    'ASCII outside the allowlist too',
  );
});

test('link names: the names runtimes, KubeVirt and virtnet use still pass', () => {
  for (const name of [
    'eth0',
    'net1',
    'eth0.100',
    'k6t-eth0',
    'tap0',
    'pod6cd0a1b2c3d',
    'virtnet0',
    'vb-0123456789ab',
    'br_uplink',
    'v@x',
    'a+b',
    'vtest-dock0',
  ]) {
    assert.equal(linkNameProblem(name), undefined, name);
  }
});

test('link names: the earlier rules keep their messages', () => {
  assert.equal(linkNameProblem(''), 'must not be empty');
  assert.equal(linkNameProblem('a'.repeat(16)), 'must be at most 15 bytes');
  assert.equal(linkNameProblem('..'), 'must not be "." or ".."');
  assert.equal(linkNameProblem('a b'), 'must not contain "/", ":" or whitespace');
  assert.equal(linkNameProblem('a\u0001'), 'must not contain control characters');
  assert.equal(linkNameProblem('a#b'), 'must not contain #, quotes or backslashes');
});

test('MAC addresses: the launcher form (colons, either case), unicast and not all zeros', () => {
  for (const mac of ['02:00:00:00:00:01', '52:54:00:AB:cd:EF', 'fe:ff:ff:ff:ff:ff'])
    assert.equal(macAddressProblem(mac), undefined, mac);
  assert.equal(
    macAddressProblem('02-00-00-00-00-01'),
    '"02-00-00-00-00-01" is not a MAC address (6 hex octets with colons, e.g. 02:00:00:00:00:01)',
  );
  for (const mac of ['', '02:00:00:00:00', '02:00:00:00:00:01:02', '02:00:00:00:00:0g', '02:00:00:00:00:01\n'])
    assert.match(macAddressProblem(mac) ?? '', /is not a MAC address/u, JSON.stringify(mac));
  assert.equal(
    macAddressProblem('00:00:00:00:00:00'),
    '"00:00:00:00:00:00" must not be all zeros (no NIC has that address)',
  );
  assert.match(macAddressProblem('01:00:5e:00:00:01') ?? '', /^"01:00:5e:00:00:01" is a multicast address/u);
});

test('PCI addresses: DDDD:BB:SS.F, a slot at most 1f and a function at most 7', () => {
  for (const pci of ['0000:81:00.1', '0000:00:1F.7']) assert.equal(pciAddressProblem(pci), undefined, pci);
  for (const pci of ['81:00.1', '0000:81:20.0', '0000:81:00.8', '0000:81:00.1 ', '0000:81:00.1,x'])
    assert.equal(
      pciAddressProblem(pci),
      `${JSON.stringify(pci)} is not a PCI address DDDD:BB:SS.F (hex; slot at most 1f, function 0-7), e.g. 0000:81:00.1`,
    );
});
