/**
 * The sparse, capped disk writer (space.ts) and the process output it is
 * fed from (lib/exec.ts execStreaming, stdoutBytes): holes for zero
 * blocks at any chunking, the cap, ENOSPC as "no space left in the image
 * cache", a throwing consumer stopping its child.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SparseWriter, type SpaceLimits } from '../../../../controller/node/images/space.ts';
import { exec, ExecError, execStreaming } from '../../../../lib/exec.ts';

let work: string;
let limits: SpaceLimits;
before(() => {
  work = mkdtempSync(join(tmpdir(), 'virtnet-test-image-space-'));
  limits = { root: work, maxDiskBytes: 1 << 30, reserveBytes: 0 };
});
after(() => rmSync(work, { recursive: true, force: true }));

let n = 0;

test(
  'the sparse writer: the same bytes whatever the chunking, zero blocks left as holes, the full length with ' +
    'trailing zeros',
  () => {
    const data = Buffer.alloc(3 * 1024 * 1024 + 123);
    data.write('head', 0);
    data.fill(9, 1024 * 1024 + 4000, 1024 * 1024 + 4200); // across a 4 KiB boundary
    for (const chunk of [1, 4096, 65_536, 1000, 7777]) {
      const file = join(work, `sparse-${n++}`);
      const w = new SparseWriter('img', file, limits, 'the disk is');
      for (let off = 0; off < data.length; off += chunk * 64)
        w.write(data.subarray(off, Math.min(off + chunk * 64, data.length)));
      assert.equal(w.finish(), data.length);
      assert.ok(readFileSync(file).equals(data), `chunks of ${chunk * 64}`);
      assert.ok(statSync(file).blocks * 512 <= 4 * 4096 * 2, `${statSync(file).blocks * 512} bytes allocated`);
    }
  },
);

test('the sparse writer stops at the cap, naming it; on a full device it says "no space left in the image cache"', () => {
  const w = new SparseWriter(
    'img',
    join(work, `capped-${n++}`),
    { ...limits, maxDiskBytes: 10_000 },
    'the disk /disk/a.raw is',
  );
  w.write(Buffer.alloc(9_000, 1));
  assert.throws(() => w.write(Buffer.alloc(2_000, 1)), {
    name: 'DiskTooLargeError',
    message:
      "image img: the disk /disk/a.raw is more than 10000 bytes, the image cache's maximum disk size (maxDiskBytes)",
  });
  w.abandon();
  // /dev/full: every write(2) fails with ENOSPC (null(4)).
  const full = new SparseWriter('img', '/dev/full', limits, 'the disk is', { open: (f) => openSync(f, 'w') });
  assert.throws(
    () => {
      full.write(Buffer.alloc(8192, 1));
      full.finish();
    },
    {
      name: 'NoSpaceError',
      message:
        `image img: no space left in the image cache (${work}): ENOSPC: no space left on device, write (writing ` +
        `/dev/full)`,
    },
  );
});

test('exec stdoutBytes: the bytes as written, which UTF-8 decoding would change', async () => {
  const res = await exec(['printf', '\\351\\000\\377'], { stdoutBytes: true });
  assert.deepEqual([...res.stdoutBytes!], [0xe9, 0x00, 0xff]);
  assert.notDeepEqual([...Buffer.from(res.stdout, 'utf8')], [0xe9, 0x00, 0xff]);
  assert.equal((await exec(['true'])).stdoutBytes, undefined, 'only when asked');
});

test(
  'execStreaming: stdout chunk by chunk; a throwing consumer kills the child and its error is the result; a failure ' +
    'is an ExecError',
  async () => {
    const got: Buffer[] = [];
    await execStreaming(['head', '-c', '1000000', '/dev/zero'], { onStdout: (c) => got.push(c) });
    assert.equal(Buffer.concat(got).length, 1_000_000);
    let pid = 0;
    const t = performance.now();
    const stop = new Error('enough');
    await assert.rejects(
      execStreaming(['sh', '-c', 'echo $$; exec cat /dev/zero'], {
        onStdout: (c) => {
          if (pid === 0) pid = Number(c.toString('latin1').split('\n')[0]);
          else throw stop;
        },
      }),
      (err) => err === stop,
    );
    assert.ok(performance.now() - t < 5000);
    assert.ok(pid > 0);
    assert.equal(existsSync(`/proc/${pid}`), false, 'the child is killed and reaped');
    await assert.rejects(
      execStreaming(['sh', '-c', 'echo oops >&2; exit 3'], { onStdout: () => {} }),
      (err) => err instanceof ExecError && err.exitCode === 3 && err.stderr === 'oops\n',
    );
  },
);
