/**
 * The C shim installed as virtnet-bridge (cni/shim/virtnet-bridge-shim.c), compiled into a temp dir
 * with scripts/build-shim.mjs and run against an in-test daemon on a Unix socket there: the request
 * framing (environ block + stdin), the reply relayed byte for byte with its exit code, the CNI errors
 * (SPEC.md "Error": JSON on stdout, exit 1) for a wrong protocol, a closed connection, a timeout and
 * an oversized stdin, and the exec of the Node.js plugin when no daemon answers or a person runs it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const BUILD_SHIM = pathToFileURL(join(import.meta.dirname, '..', '..', '..', 'scripts', 'build-shim.mjs')).href;
const STDIN_MAX = 8 << 20;

/** A fake Node.js plugin: says what it was given, as JSON on stdout. */
const FAKE_PLUGIN = `const fs = require('fs');
let stdin = '';
try { stdin = fs.readFileSync(0, 'utf8'); } catch {}
process.stdout.write(JSON.stringify({ argv: process.argv.slice(2), verb: process.env.CNI_COMMAND ?? null, stdin }));
`;

interface Request {
  env: Record<string, string>;
  stdin: Buffer;
}

interface Run {
  code: number | null;
  out: Buffer;
  err: string;
}

let dir = '';
let shim = '';
let socketPath = '';
let server: Server | undefined;
const connections = new Set<Socket>();
const requests: Request[] = [];

/** The request once all of it is in, else undefined. Throws on a framing error. */
function parseRequest(buf: Buffer): Request | undefined {
  const nl = buf.indexOf(10);
  if (nl < 0) return undefined;
  const head = /^VIRTNET-CNI\/1 (\d+) (\d+)$/u.exec(buf.subarray(0, nl).toString());
  assert.ok(head, `request header: ${JSON.stringify(buf.subarray(0, nl).toString())}`);
  const [envBytes, stdinBytes] = [Number(head[1]), Number(head[2])];
  if (buf.length < nl + 1 + envBytes + stdinBytes) return undefined;
  assert.equal(buf.length, nl + 1 + envBytes + stdinBytes, 'nothing after the stdin bytes');
  const block = buf.subarray(nl + 1, nl + 1 + envBytes).toString();
  assert.ok(block.endsWith('\0'), 'every environ entry ends with a NUL');
  const env = Object.fromEntries(
    block
      .slice(0, -1)
      .split('\0')
      .map((kv) => [kv.split('=')[0]!, kv.slice(kv.indexOf('=') + 1)]),
  );
  return { env, stdin: buf.subarray(nl + 1 + envBytes) };
}

/** The daemon's part, chosen by the request's TEST_REPLY. */
function answer(conn: Socket, req: Request): void {
  const stdout = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), req.stdin]);
  const stderr = Buffer.from('warning\n\0end');
  const replies: Record<string, () => void> = {
    ok: () =>
      conn.end(Buffer.concat([Buffer.from(`VIRTNET-CNI/1 7 ${stdout.length} ${stderr.length}\n`), stdout, stderr])),
    'wrong-version': () => conn.end('VIRTNET-CNI/2 0 0 0\n'),
    'bad-exit-code': () => conn.end('VIRTNET-CNI/1 256 0 0\n'),
    close: () => conn.end(),
    truncated: () =>
      conn.end(Buffer.concat([Buffer.from(`VIRTNET-CNI/1 0 ${stdout.length} 0\n`), stdout.subarray(0, 9)])),
    silent: () => {},
  };
  replies[req.env.TEST_REPLY ?? 'ok']!();
}

function startDaemon(path: string): Promise<Server> {
  const daemon = createServer((conn) => {
    connections.add(conn);
    conn.on('close', () => connections.delete(conn));
    conn.on('error', () => {});
    let buf = Buffer.alloc(0);
    conn.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      const req = parseRequest(buf);
      if (!req) return;
      requests.push(req);
      answer(conn, req);
    });
  });
  return new Promise((resolve, reject) => daemon.once('error', reject).listen(path, () => resolve(daemon)));
}

/** Runs the shim with exactly env (plus PATH), stdin on its stdin, and no shell. */
function run(env: Record<string, string>, stdin: string | Buffer = '', exe = shim, args: string[] = []): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(exe, args, { env: { PATH: process.env.PATH ?? '/usr/bin', ...env } });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.stdin.on('error', () => {}); // the shim may stop reading (stdin over 8 MiB)
    child.stdin.end(stdin);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out: Buffer.concat(out), err }));
  });
}

function cniError(r: Run): { code: number; msg: string } {
  assert.equal(r.code, 1, `a CNI error exits 1 (stderr: ${r.err})`);
  const lines = r.out.toString().split('\n');
  assert.deepEqual(lines.slice(1), [''], 'one line of JSON');
  const error = JSON.parse(lines[0]!) as { cniVersion: string; code: number; msg: string };
  assert.equal(error.cniVersion, '1.1.0');
  return { code: error.code, msg: error.msg };
}

const cni = (verb: string, extra: Record<string, string> = {}) => ({
  CNI_COMMAND: verb,
  VIRTNET_CNI_SOCKET: socketPath,
  ...extra,
});

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'virtnet-test-shim-'));
  shim = join(dir, 'virtnet-bridge');
  socketPath = join(dir, 'd.sock');
  const { buildShim } = (await import(BUILD_SHIM)) as { buildShim: (out: string) => Promise<void> };
  await buildShim(shim);
  writeFileSync(join(dir, 'virtnet-bridge-node'), FAKE_PLUGIN);
  server = await startDaemon(socketPath);
});

after(() => {
  for (const conn of connections) conn.destroy();
  server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('virtnet-bridge shim', { concurrency: true }, () => {
  test('sends environ and stdin framed; relays stdout and stderr byte for byte and the exit code', async () => {
    const stdin = Buffer.from('{"cniVersion":"1.1.0"}\0\xff', 'latin1');
    const env = cni('ADD', { TEST_REPLY: 'ok', CNI_ARGS: 'A=1;B=x=y', ODD: 'line\nbreak' });
    const r = await run(env, stdin);
    assert.equal(r.code, 7);
    assert.deepEqual(r.out, Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), stdin]));
    assert.equal(r.err, 'warning\n\0end');
    const req = requests.find((q) => q.env.CNI_ARGS === 'A=1;B=x=y');
    assert.deepEqual(req?.env, { PATH: process.env.PATH ?? '/usr/bin', ...env });
    assert.deepEqual(req.stdin, stdin);
  });

  test('VERSION: no stdin is read or sent', async () => {
    const r = await run(cni('VERSION', { TEST_REPLY: 'ok', MARK: 'version' }), 'not for the daemon');
    assert.equal(r.code, 7);
    assert.equal(requests.find((q) => q.env.MARK === 'version')?.stdin.length, 0);
  });

  test('a daemon speaking another protocol version: code 4 naming both', async () => {
    assert.deepEqual(cniError(await run(cni('ADD', { TEST_REPLY: 'wrong-version' }), '{}')), {
      code: 4,
      msg: `the daemon at ${socketPath} speaks VIRTNET-CNI/2; this shim speaks VIRTNET-CNI/1`,
    });
  });

  test('an exit code over 255 is a malformed reply: code 4', async () => {
    const error = cniError(await run(cni('ADD', { TEST_REPLY: 'bad-exit-code' }), '{}'));
    assert.deepEqual(error, { code: 4, msg: `the daemon at ${socketPath} sent a malformed reply header` });
  });

  test('the daemon closing before the whole reply: code 11, try again', async () => {
    const closed = `the daemon at ${socketPath} closed the connection before it replied (it may have restarted); try again`;
    for (const reply of ['close', 'truncated']) {
      assert.deepEqual(cniError(await run(cni('DEL', { TEST_REPLY: reply }), '{}')), { code: 11, msg: closed });
    }
  });

  test('no reply within VIRTNET_CNI_TIMEOUT: code 11 after that many seconds', async () => {
    const started = performance.now();
    const error = cniError(await run(cni('ADD', { TEST_REPLY: 'silent', VIRTNET_CNI_TIMEOUT: '1' }), '{}'));
    assert.deepEqual(error, { code: 11, msg: `no reply from the daemon at ${socketPath} within 1 s` });
    const elapsed = performance.now() - started;
    assert.ok(elapsed > 900 && elapsed < 2500, `took ${elapsed} ms`);
  });

  test('stdin over 8 MiB: code 4, nothing sent; exactly 8 MiB goes through', async () => {
    const over = cniError(await run(cni('ADD', { TEST_REPLY: 'ok' }), Buffer.alloc(STDIN_MAX + 1)));
    assert.deepEqual(over, { code: 4, msg: 'the network configuration on stdin is larger than 8 MiB' });
    const full = await run(cni('ADD', { TEST_REPLY: 'ok' }), Buffer.alloc(STDIN_MAX, 'x'));
    assert.equal(full.code, 7);
    assert.equal(full.out.length, 256 + STDIN_MAX);
  });

  test('a VIRTNET_CNI_TIMEOUT that is not 1 to 3600 whole seconds: code 4, naming it; nothing sent', async () => {
    for (const bad of ['0', '-1', '1e3', '3601', '99999999999999999999', 'ten', '5 ', ' 5', '1.5', '\u00015']) {
      const error = cniError(await run(cni('ADD', { TEST_REPLY: 'ok', VIRTNET_CNI_TIMEOUT: bad }), '{}'));
      assert.equal(error.code, 4, JSON.stringify(bad));
      assert.match(error.msg, /^VIRTNET_CNI_TIMEOUT: ".*" must be a whole number of seconds, 1 to 3600$/su);
    }
    for (const good of ['1', '3600', '']) {
      const r = await run(cni('ADD', { TEST_REPLY: 'ok', VIRTNET_CNI_TIMEOUT: good }), '{}');
      assert.equal(r.code, 7, `${JSON.stringify(good)} is taken (the test daemon's reply exits 7)`);
    }
  });

  test('a relative VIRTNET_CNI_SOCKET: code 4, naming it', async () => {
    for (const bad of ['cni.sock', './cni.sock', '../run/virtnet/cni.sock']) {
      const error = cniError(await run(cni('ADD', { VIRTNET_CNI_SOCKET: bad }), '{}'));
      assert.deepEqual(error, { code: 4, msg: `VIRTNET_CNI_SOCKET: "${bad}" must be an absolute path` });
    }
  });

  test('a socket path too long for sun_path: code 4', async () => {
    const error = cniError(await run(cni('ADD', { VIRTNET_CNI_SOCKET: `/tmp/${'x'.repeat(110)}` }), '{}'));
    assert.equal(error.code, 4);
    assert.match(error.msg, /is longer than the 107 bytes unix\(7\) sockets allow$/u);
  });

  test('no daemon: the Node.js plugin beside the shim runs with argv, environ and stdin', async () => {
    const env = cni('ADD', { VIRTNET_CNI_SOCKET: join(dir, 'none.sock') });
    const r = await run(env, '{"a":1}', shim, ['x']);
    assert.deepEqual([r.code, JSON.parse(r.out.toString())], [0, { argv: ['x'], verb: 'ADD', stdin: '{"a":1}' }]);
  });

  test('run by hand (no CNI_COMMAND): the Node.js plugin answers, the daemon is not asked', async () => {
    const r = await run({ VIRTNET_CNI_SOCKET: socketPath, MARK: 'by-hand' }, '', shim, ['--help']);
    assert.deepEqual([r.code, JSON.parse(r.out.toString())], [0, { argv: ['--help'], verb: null, stdin: '' }]);
    assert.equal(
      requests.find((q) => q.env.MARK === 'by-hand'),
      undefined,
    );
  });

  test('no daemon and no Node.js plugin beside it: code 11 naming the socket and why', async () => {
    const alone = join(dir, 'alone');
    mkdirSync(alone);
    copyFileSync(shim, join(alone, 'virtnet-bridge'));
    chmodSync(join(alone, 'virtnet-bridge'), 0o755);
    const none = join(dir, 'none.sock');
    const error = cniError(await run(cni('ADD', { VIRTNET_CNI_SOCKET: none }), '{}', join(alone, 'virtnet-bridge')));
    const msg =
      `no virtnet CNI daemon answers at ${none} (connect: No such file or directory) and no Node.js fallback ` +
      `(${join(alone, 'virtnet-bridge-node')}: No such file or directory)`;
    assert.deepEqual(error, { code: 11, msg });
    const byHand = await run({}, '', join(alone, 'virtnet-bridge'));
    assert.deepEqual([byHand.code, byHand.out.length], [2, 0]);
    assert.match(byHand.err, /^virtnet-bridge: cannot answer by hand: .*virtnet-bridge-node: No such file/u);
  });
});
