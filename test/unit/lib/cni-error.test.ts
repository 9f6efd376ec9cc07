/** pluginFailure: a failed CNI plugin's error JSON, else the fallback (its stderr) with the exec-failure code. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pluginFailure } from '../../../lib/cni-error.ts';
import { ErrorCode } from '../../../lib/errors.ts';

test('the error JSON on stdout: its code, and msg with details', () => {
  const out = JSON.stringify({ cniVersion: '1.1.0', code: 7, msg: 'invalid config', details: 'ipam.type' });
  assert.deepEqual(pluginFailure(out, 'stderr text'), { code: 7, msg: 'invalid config: ipam.type' });
  assert.deepEqual(pluginFailure(JSON.stringify({ code: 11, msg: 'busy' }), 'x'), { code: 11, msg: 'busy' });
});

test('no error JSON: the fallback, with the code of a failed exec', () => {
  for (const stdout of ['', 'panic: runtime error', 'null', '[1]', '"text"']) {
    assert.deepEqual(pluginFailure(stdout, 'exit code 2'), { code: ErrorCode.execFailed, msg: 'exit code 2' }, stdout);
  }
});

test('an error JSON with fields of the wrong type keeps what it can', () => {
  assert.deepEqual(pluginFailure(JSON.stringify({ code: '7', msg: 'bad' }), 'f'), {
    code: ErrorCode.execFailed,
    msg: 'bad',
  });
  assert.deepEqual(pluginFailure(JSON.stringify({ code: 4, msg: 42, details: 'd' }), 'f'), { code: 4, msg: 'f' });
  assert.deepEqual(pluginFailure(JSON.stringify({ code: 4.5, msg: '' }), 'f'), {
    code: ErrorCode.execFailed,
    msg: 'f',
  });
});
