/**
 * `virtnet --help | head -1`: the reader closes the pipe early. Both CLIs end
 * as a Unix tool does on SIGPIPE (status 141), with nothing on stderr, not
 * with an EPIPE stack. Runs the built bundles (npm test builds first).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

const ROOT = resolve(import.meta.dirname, '..', '..', '..');

for (const bundle of ['dist/cli/virtnet', 'dist/cluster/kubectl-virtnet']) {
  test(`${bundle} --help into a pipe closed after one byte: status 141, stderr empty`, () => {
    const file = join(ROOT, bundle);
    assert.ok(existsSync(file), `${bundle} is not built: run npm run build`);
    // head reads one byte and exits. If the help was written before that, the CLI
    // never sees the closed pipe and ends with 0; if after, with 141. Never a stack.
    const script = `"$0" "$1" --help | head -c 1 >/dev/null; echo "status=\${PIPESTATUS[0]}"`;
    const r = spawnSync('bash', ['-c', script, process.execPath, file], { encoding: 'utf8' });
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^status=(141|0)$/mu);
  });
}
