/**
 * lib/names.ts linkNameProblem against the names an attacker would try
 * (issue 11 review): "%" templates the kernel expands, and characters that
 * print as nothing or as another name. Pure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linkNameProblem } from '../../../lib/names.ts';

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
