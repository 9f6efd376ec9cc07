/**
 * The CNI daemon's framing, gate and server, in this process: the limits,
 * the refusals and the socket's mode. The plugin's own calls through it are
 * in test/integration/cni/daemon.test.ts.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeReply,
  encodeReply,
  encodeRequest,
  FramingError,
  MAX_STDIN_BYTES,
  parseEnvBlock,
  parseRequestHead,
} from '../../../cni/daemon/framing.ts';
import { CallGate } from '../../../cni/daemon/gate.ts';
import { type CniDaemonOptions, DEFAULT_LIMITS, DEFAULT_SOCKET, startCniDaemon } from '../../../cni/daemon/server.ts';
import { createLogger } from '../../../lib/log.ts';
import { virtnetProgram } from '../../../controller/cli/program.ts';
import { daemonCall, rawCall } from '../../support/cni-daemon.ts';

const SCRATCH = mkdtempSync(join(tmpdir(), 'virtnet-test-daemon-'));
after(() => rmSync(SCRATCH, { recursive: true, force: true }));
let sockets = 0;
const silent = createLogger({ component: 'test', level: 'silent' });

function daemon(o: Partial<CniDaemonOptions> = {}) {
  return startCniDaemon({ ...DEFAULT_LIMITS, socket: join(SCRATCH, `d${sockets++}`, 'cni.sock'), log: silent, ...o });
}

test('framing: a request round-trips, NULs and all; sizes, versions and counts are held to the rules', () => {
  const req = encodeRequest({ CNI_COMMAND: 'ADD', X: 'a=b' }, '{"cniVersion":"1.1.0"}');
  const head = parseRequestHead(req)!;
  assert.deepEqual(parseEnvBlock(req.subarray(head.headerBytes, head.headerBytes + head.envBytes)), {
    CNI_COMMAND: 'ADD',
    X: 'a=b',
  });
  assert.equal(req.subarray(head.headerBytes + head.envBytes).toString(), '{"cniVersion":"1.1.0"}');
  assert.equal(parseRequestHead(Buffer.from('VIRTNET-CNI/1 1')), undefined, 'incomplete: wait for more');
  for (const bad of ['VIRTNET-CNI/2 1 1\n', 'VIRTNET-CNI/1 1e3 1\n', 'VIRTNET-CNI/1 -1 0\n', 'VIRTNET-CNI/1 1 2 3\n'])
    assert.throws(() => parseRequestHead(Buffer.from(bad)), FramingError, bad);
  assert.throws(
    () => parseRequestHead(Buffer.from(`VIRTNET-CNI/1 0 ${MAX_STDIN_BYTES + 1}\n`)),
    /stdin: 8388609 bytes, more than the 8388608 allowed/u,
  );
  assert.throws(() => parseRequestHead(Buffer.alloc(200, 0x41)), /no end of line within 128 bytes/u);
  const reply = { exitCode: 3, stdout: 'out\0put', stderr: 'err' };
  assert.deepEqual(decodeReply(encodeReply(reply)), reply);
});

test('gate: at most maxConcurrent run, in arrival order; admission stops at the queue and the byte budget', async () => {
  const gate = new CallGate(2, 1, 100);
  const tickets = [gate.admit(10), gate.admit(10), gate.admit(10)];
  assert.ok(tickets.every(Boolean));
  assert.equal(gate.admit(1), undefined, 'concurrent + queued admitted');
  tickets[2]!.release();
  tickets[2]!.release(); // idempotent
  assert.equal(gate.admit(81), undefined, 'over the byte budget');
  const order: number[] = [];
  let running = 0;
  let most = 0;
  const call = (i: number) =>
    gate.run(
      () => true,
      async () => {
        most = Math.max(most, ++running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        order.push(i);
        return i;
      },
    );
  assert.deepEqual(await Promise.all([0, 1, 2, 3, 4].map(call)), [0, 1, 2, 3, 4]);
  assert.equal(most, 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4]);
  assert.equal(
    await gate.run(
      () => false,
      async () => 'ran',
    ),
    undefined,
    'a caller gone meanwhile is not run',
  );
});

test("server: a call gets the plugin's reply; the socket is 0600; a second daemon on it is refused", async () => {
  const d = await daemon();
  try {
    assert.equal(statSync(d.socket).mode & 0o777, 0o600);
    const r = await daemonCall(d.socket, { CNI_COMMAND: 'VERSION' }, '');
    assert.equal(r.exitCode, 0);
    assert.ok((JSON.parse(r.stdout) as { supportedVersions: string[] }).supportedVersions.includes('1.1.0'));
    const bad = await daemonCall(d.socket, { CNI_COMMAND: 'ADD' }, '{"cniVersion":"1.0.0"}');
    assert.equal(bad.exitCode, 1);
    assert.deepEqual(JSON.parse(bad.stdout), {
      cniVersion: '1.0.0',
      code: 4,
      msg: 'required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH] missing',
    });
    await assert.rejects(
      startCniDaemon({ ...DEFAULT_LIMITS, socket: d.socket, log: silent }),
      /another CNI daemon answers|is held by another process/u,
    );
  } finally {
    await d.close();
  }
  assert.throws(() => statSync(d.socket), /ENOENT/u, 'the socket goes with the daemon');
});

test('server: a burst beyond concurrent + queued is told to try again (code 11); the rest are served', async () => {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const handle = async () => {
    await held;
    return { exitCode: 0, stdout: 'done', stderr: '' };
  };
  const d = await daemon({ maxConcurrent: 2, maxQueued: 3, handle });
  try {
    const calls = Array.from({ length: 8 }, () => daemonCall(d.socket, { CNI_COMMAND: 'ADD' }, '{}'));
    await new Promise((r) => setTimeout(r, 200));
    release();
    const replies = await Promise.all(calls);
    assert.equal(replies.filter((r) => r.stdout === 'done').length, 5);
    const busy = replies.filter((r) => r.exitCode === 1).map((r) => JSON.parse(r.stdout) as { code: number });
    assert.deepEqual(
      busy.map((b) => b.code),
      [11, 11, 11],
    );
  } finally {
    await d.close();
  }
});

test('server: oversized, malformed and foreign requests get a CNI error naming the rule', async () => {
  const d = await daemon({ maxBufferedBytes: 1000 });
  try {
    const big = await daemonCall(d.socket, { CNI_COMMAND: 'ADD' }, 'x'.repeat(2000));
    assert.equal(JSON.parse(big.stdout).code, 11, 'over the byte budget: busy');
    const foreign = await rawCall(d.socket, Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    assert.match(
      JSON.parse(foreign.stdout).msg,
      /the shim speaks "GET \/ HTTP\/1\.1\?"; this daemon speaks VIRTNET-CNI\/1/u,
    );
    const extra = await rawCall(d.socket, Buffer.concat([encodeRequest({}, '{}'), Buffer.from('more')]));
    assert.match(JSON.parse(extra.stdout).msg, /more bytes than the header says/u);
  } finally {
    await d.close();
  }
});

test('server: a request that does not arrive whole within the timeout is dropped, freeing its slot', async () => {
  const d = await daemon({ requestTimeoutMs: 100, maxConcurrent: 1, maxQueued: 0 });
  try {
    const stalled = createConnection(d.socket);
    stalled.write('VIRTNET-CNI/1 10 10\n');
    const closed = await new Promise<boolean>((r) => {
      stalled.on('close', () => r(true));
      setTimeout(() => r(false), 2000);
    });
    assert.ok(closed, 'the daemon closed the stalled connection');
    const r = await daemonCall(d.socket, { CNI_COMMAND: 'VERSION' }, '');
    assert.equal(r.exitCode, 0, 'its slot is free again');
  } finally {
    await d.close();
  }
});

test('server: a request trickled in is dropped at its deadline from the connect, not at an idle timeout', async () => {
  const d = await daemon({ requestTimeoutMs: 300 });
  try {
    const slow = createConnection(d.socket);
    slow.on('error', () => undefined); // a drip into the closed connection
    const t0 = performance.now();
    slow.write('VIRTNET-CNI/1 10 10\n');
    const drip = setInterval(() => slow.writable && slow.write('A'), 50);
    await new Promise<void>((r) => slow.on('close', () => r()));
    clearInterval(drip);
    const ms = performance.now() - t0;
    assert.ok(ms >= 250 && ms < 2000, `closed after ${ms.toFixed(0)} ms although bytes kept coming`);
  } finally {
    await d.close();
  }
});

test('server: a caller that ends its side before its turn (its runtime gave up) is not run', async () => {
  let ran = 0;
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const handle = async () => {
    ran++;
    await held;
    return { exitCode: 0, stdout: 'done', stderr: '' };
  };
  const d = await daemon({ maxConcurrent: 1, handle });
  try {
    const first = daemonCall(d.socket, { CNI_COMMAND: 'ADD' }, '{}');
    await new Promise((r) => setTimeout(r, 50));
    const gone = createConnection(d.socket);
    const goneClosed = new Promise<void>((r) => gone.on('close', () => r()));
    gone.end(encodeRequest({ CNI_COMMAND: 'ADD' }, '{}'));
    gone.resume();
    await new Promise((r) => setTimeout(r, 100));
    release();
    assert.equal((await first).stdout, 'done');
    await goneClosed;
    assert.equal(ran, 1, 'only the caller still there was run');
  } finally {
    await d.close();
  }
});

test('server: a socket directory others can write to is refused', async () => {
  await assert.rejects(
    daemon({ socket: join(tmpdir(), 'virtnet-cni.sock') }),
    /must be a directory of this user's that only it can write to/u,
  );
});

test("cli: cni-daemon defaults to the daemon's own socket and limits", () => {
  const cmd = virtnetProgram().commands.find((c) => c.name() === 'cni-daemon')!;
  const defaults = Object.fromEntries(cmd.options.map((o) => [o.attributeName(), o.defaultValue]));
  assert.equal(defaults.socket, DEFAULT_SOCKET);
  assert.equal(defaults.maxConcurrent, DEFAULT_LIMITS.maxConcurrent);
  assert.equal(defaults.maxQueued, DEFAULT_LIMITS.maxQueued);
});
