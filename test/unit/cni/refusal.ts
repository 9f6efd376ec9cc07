/** The message of the typed refusal `fn` throws; fails when it accepts, or throws anything else. */
import assert from 'node:assert/strict';
import { VirtnetError } from '../../../lib/errors.ts';

export function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof VirtnetError, `a VirtnetError, not ${String(e)}`);
    return e.message;
  }
  assert.fail('expected a refusal');
}
