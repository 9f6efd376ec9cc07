/**
 * The standalone node's cluster-default network before `up` has written one (controller/node/sandbox.ts
 * clusterDefault): the list it will write, read through the same check as the file, so that what the sandbox
 * attaches is typed by what was checked and a default the plugin would refuse is refused before a netns is made.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultNetworkConfList, nodeConfig } from '../../../controller/node/config.ts';
import { clusterDefault } from '../../../controller/node/sandbox.ts';
import { NadError } from '../../../netattach/nad.ts';

const work = mkdtempSync(join(tmpdir(), 'virtnet-test-sandbox-default-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('with no config written yet, the default is the list ensureDefaultNetwork will write', () => {
  const cfg = nodeConfig({ stateDir: join(work, 'state'), cniConfDir: join(work, 'net.d') });
  mkdirSync(cfg.cniConfDir, { recursive: true });
  assert.deepEqual(clusterDefault(cfg), defaultNetworkConfList(cfg.stateDir));
});

test('a default the plugin would refuse (its dataDir under a hidden directory) is refused here, by field', () => {
  const cfg = nodeConfig({ stateDir: join(work, '.hidden', 'state'), cniConfDir: join(work, 'empty.d') });
  assert.throws(
    () => clusterDefault(cfg),
    (e: unknown) =>
      e instanceof NadError &&
      /10-virtnet\.conflist.*plugins\[0\].*virtnet-bridge config: .*dataDir.*"\.hidden"/u.test(e.message),
  );
});
