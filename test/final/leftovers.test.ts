// The last tier (test/run.mjs runs tiers in order): nothing the tests made
// may outlive them, on the host or in /tmp. What was there before the run
// (test/run.mjs records it) is not the tests' doing and is left out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { leftovers, type Leftovers } from '../support/leftovers.ts';

test('no test namespace, link, nft table, scratch directory or process is left behind', () => {
  let before: Leftovers = { namespaces: [], links: [], tables: [], scratch: [], processes: [] };
  try {
    before = JSON.parse(readFileSync('dist/.test-baseline.json', 'utf8')) as Leftovers;
  } catch {
    // run on its own: everything counts
  }
  const now = leftovers();
  for (const key of Object.keys(now) as Array<keyof Leftovers>) {
    assert.deepEqual(
      now[key].filter((x) => !before[key].includes(x)),
      [],
      `${key} left behind`,
    );
  }
});
