/**
 * Issue 11, defects 1 and 2 (validate): delegate chains are bounded, a
 * plugin never delegates to itself, and the plugin's own config rules are
 * a pure function that NAD validation runs too.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, linkSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  boundedStderr,
  DELEGATE_DEPTH_ENV,
  delegateDepth,
  delegateEnv,
  isSelf,
  MAX_DELEGATE_DEPTH,
  MAX_LOGGED_STDERR,
  ownExecutable,
  requireDepthWithinCap,
} from '../../../cni/delegate.ts';
import { configProblems, KNOWN_FIELDS } from '../../../cni/config.ts';
import { didYouMean, editDistance } from '../../../lib/names.ts';
import { NadError, resolveNetwork, validateNad, type NetworkAttachmentDefinition } from '../../../netattach/nad.ts';

const SCRATCH = mkdtempSync(join(tmpdir(), 'virtnet-test-delegate-'));
after(() => rmSync(SCRATCH, { recursive: true, force: true }));

test('depth: absent is 0; each delegate exec is one deeper than its parent', () => {
  assert.equal(delegateDepth({}), 0);
  assert.equal(delegateDepth({ [DELEGATE_DEPTH_ENV]: '3' }), 3);
  const saved = process.env[DELEGATE_DEPTH_ENV];
  try {
    delete process.env[DELEGATE_DEPTH_ENV];
    assert.equal(delegateEnv({ A: '1' }, { CNI_COMMAND: 'ADD' })[DELEGATE_DEPTH_ENV], '1');
    process.env[DELEGATE_DEPTH_ENV] = '2';
    const child = delegateEnv(process.env, { CNI_COMMAND: 'DEL', [DELEGATE_DEPTH_ENV]: '0' });
    assert.equal(child[DELEGATE_DEPTH_ENV], '3', 'an override cannot reset the depth');
    assert.equal(child.CNI_COMMAND, 'DEL');
  } finally {
    if (saved === undefined) delete process.env[DELEGATE_DEPTH_ENV];
    else process.env[DELEGATE_DEPTH_ENV] = saved;
  }
});

test('depth: the cap is 4; beyond it a typed error (code 104)', () => {
  assert.equal(MAX_DELEGATE_DEPTH, 4);
  requireDepthWithinCap({ [DELEGATE_DEPTH_ENV]: '4' });
  assert.throws(
    () => requireDepthWithinCap({ [DELEGATE_DEPTH_ENV]: '5' }),
    (e: unknown) => (e as { code: number }).code === 104,
  );
  assert.throws(
    () => requireDepthWithinCap({ [DELEGATE_DEPTH_ENV]: '-1' }),
    (e: unknown) => (e as { code: number }).code === 4,
  );
});

// (requireIpamPlugin's refusal needs an executable plugin file: test/integration/cni/hardening.test.ts runs it with
// dist/.)
test('self: a symlink or a hard link to the plugin is the plugin; a copy is not (the depth cap stops it)', () => {
  const self = ownExecutable();
  const sym = join(SCRATCH, 'sym-ipam');
  symlinkSync(self, sym);
  assert.equal(isSelf(sym), true);
  const hard = join(SCRATCH, 'hard-ipam');
  linkSync(self, hard);
  assert.equal(isSelf(hard), true);
  const copy = join(SCRATCH, 'copy-ipam');
  copyFileSync(self, copy);
  assert.equal(isSelf(copy), false);
  assert.equal(isSelf(join(SCRATCH, 'absent')), false);
});

test('stderr of a delegate is bounded in what it adds to our log', () => {
  assert.equal(boundedStderr('  short\n'), 'short');
  const long = boundedStderr('e'.repeat(MAX_LOGGED_STDERR * 3));
  assert.ok(long.length < MAX_LOGGED_STDERR + 64, `${long.length}`);
  assert.match(long, /… \(8192 more characters\)$/u);
});

test('did you mean: near misses only, case-insensitive', () => {
  assert.equal(editDistance('isGatway', 'isGateway'), 1);
  assert.equal(didYouMean('isGatway', KNOWN_FIELDS), 'isGateway');
  assert.equal(didYouMean('IPMASQ', KNOWN_FIELDS), 'ipMasq');
  assert.equal(didYouMean('mtuu', KNOWN_FIELDS), 'mtu');
  assert.equal(didYouMean('xyz', KNOWN_FIELDS), undefined);
  assert.equal(didYouMean('frobnicate', KNOWN_FIELDS), undefined);
});

const base = { cniVersion: '1.1.0', name: 'n', type: 'virtnet-bridge' };

test('configProblems: [] for a good config, and every problem for a bad one', () => {
  assert.deepEqual(
    configProblems(
      JSON.stringify({
        ...base,
        bridge: 'br-x',
        isGateway: true,
        ipam: { type: 'host-local', subnet: '10.0.0.0/24' },
        'cni.dev/valid-attachments': [],
        capabilities: { mac: true },
        runtimeConfig: { mac: '02:00:00:00:00:01' },
        args: { cni: {} },
        deviceID: '0000:03:00.1',
      }),
    ),
    [],
    'what runtimes and Multus add is accepted',
  );
  assert.deepEqual(configProblems('{"cniVersion": '), ['config: not valid JSON (Unexpected end of JSON input)']);
  assert.deepEqual(configProblems({ ...base, mtu: 99999 }), ['mtu: must be an integer from 68 to 65535']);
  assert.deepEqual(configProblems({ ...base, isGatway: true, mtu: 99999 }), [
    'isGatway: unknown field (did you mean "isGateway"?)',
    'mtu: must be an integer from 68 to 65535',
  ]);
  assert.deepEqual(configProblems({ ...base, ipam: { type: 'virtnet-bridge' } }), [
    'ipam.type: "virtnet-bridge" is this plugin itself; name an IPAM plugin such as "host-local"',
  ]);
});

const nad = (config: unknown): NetworkAttachmentDefinition => ({
  apiVersion: 'k8s.cni.cncf.io/v1',
  kind: 'NetworkAttachmentDefinition',
  metadata: { name: 'blue' },
  spec: { config: typeof config === 'string' ? config : JSON.stringify(config) },
});

function nadRefusal(obj: unknown): NadError {
  try {
    validateNad(obj);
  } catch (e) {
    assert.ok(e instanceof NadError, String(e));
    return e;
  }
  assert.fail('expected a NadError');
}

test("NAD validation runs the plugin's own rules on spec.config (what `virtnet validate` reports)", () => {
  const json = nadRefusal(nad('{"cniVersion":"1.1.0",'));
  assert.equal(json.field, 'spec.config');
  assert.match(json.rule, /^invalid JSON: /);
  const mtu = nadRefusal(nad({ ...base, mtu: 99999 }));
  assert.deepEqual(
    [mtu.field, mtu.rule],
    ['spec.config', 'virtnet-bridge config: mtu: must be an integer from 68 to 65535'],
  );
  const typo = nadRefusal(
    nad({
      cniVersion: '1.1.0',
      name: 'blue',
      plugins: [{ type: 'tuning' }, { type: 'virtnet-bridge', isGatway: true }],
    }),
  );
  assert.deepEqual(
    [typo.field, typo.rule],
    ['spec.config.plugins[1]', 'virtnet-bridge config: isGatway: unknown field (did you mean "isGateway"?)'],
  );
  const self = nadRefusal(nad({ ...base, ipam: { type: 'virtnet-bridge' } }));
  assert.match(self.rule, /ipam\.type: "virtnet-bridge" is this plugin itself/);
  // The plugin gets the NAD's name and the list's version clamped to what it speaks.
  validateNad(nad({ cniVersion: '1.2.0', plugins: [{ type: 'virtnet-bridge', bridge: 'br-l2' }] }));
  // Other plugins' own fields are theirs to judge; the list's shape (cniVersion, type, plugins) is checked as the
  // attach path does.
  validateNad(nad({ cniVersion: '1.0.0', type: 'macvlan', master: 'eth1', isGatway: 1 }));
  const empty = nadRefusal(nad('{}'));
  assert.deepEqual([empty.field, empty.rule], ['spec.config.cniVersion', 'is required']);
  // resolveNetwork (the attach path) applies the same rules, also to conf files.
  assert.throws(
    () => resolveNetwork(nad({ ...base, vxlan: { id: 1, remote: '192.0.2.1', prot: 1 } }), undefined),
    /vxlan\.prot: unknown field/,
  );
  const files = [{ file: '10-x.conf', text: JSON.stringify({ ...base, name: 'blue', hairpinmode: true }) }];
  assert.throws(
    () =>
      resolveNetwork(
        { apiVersion: 'k8s.cni.cncf.io/v1', kind: 'NetworkAttachmentDefinition', metadata: { name: 'blue' } },
        '/conf',
        () => files,
      ),
    /hairpinmode: unknown field \(did you mean "hairpinMode"\?\)/,
  );
});
