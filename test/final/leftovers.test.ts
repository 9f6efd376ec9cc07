// The last tier (test/run.mjs runs tiers in order): nothing the tests made
// may outlive them, on the host or in /tmp.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';

test('no test namespace, link, nft table or scratch directory is left behind', () => {
  const namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => /^vnt-/u.test(l));
  assert.deepEqual(namespaces, []);
  const links = (JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as Array<{ ifname: string }>)
    .map((l) => l.ifname).filter((n) => /^vn[0-9a-f]{11}$|^vtest|^vxlan4242$/u.test(n));
  assert.deepEqual(links, []);
  const tables = execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes('virtnet'));
  assert.deepEqual(tables, []);
  assert.deepEqual(readdirSync(tmpdir()).filter((n) => n.startsWith('virtnet-test-')), []);
  const strays = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => /virtnet-launcher run|virtnet-test-/u.test(l));
  assert.deepEqual(strays, [], 'no launcher, dnsmasq, libvirtd or qemu of a test is still running');
});
