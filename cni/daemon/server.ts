/**
 * The resident CNI daemon: the plugin's runPlugin, served over a Unix
 * socket to the shim (cni/shim/virtnet-bridge-shim.c), the design of
 * Multus 4's thick plugin. Each call is exactly an exec'd plugin's: the
 * shim's environment and stdin in, its stdout, stderr and exit code out.
 *
 * Bounded, so a burst of pods cannot exhaust it (multus-cni#1346): at most
 * `maxConcurrent` calls run, `maxQueued` wait, and the requests buffered
 * meanwhile hold at most `maxBufferedBytes`; beyond that a call is answered
 * at once with CNI code 11 ("Try again later", SPEC.md "Error"), which the
 * runtime retries. A request must arrive whole within `requestTimeoutMs`.
 */
import { chmodSync, lstatSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { ErrorCode } from '../../lib/errors.ts';
import { holdSpareHostBatch } from '../../lib/iproute.ts';
import { withLock } from '../../lib/lockfile.ts';
import type { Logger } from '../../lib/log.ts';
import { runPlugin } from '../skel.ts';
import { LATEST_VERSION } from '../version.ts';
import {
  encodeReply,
  type FramingError,
  parseEnvBlock,
  parseRequestHead,
  type Reply,
  type RequestHead,
} from './framing.ts';
import { CallGate, type Ticket } from './gate.ts';

export const DEFAULT_SOCKET = '/run/virtnet/cni.sock';

export interface CniDaemonOptions {
  socket: string;
  maxConcurrent: number;
  maxQueued: number;
  maxBufferedBytes: number;
  requestTimeoutMs: number;
  /** lib/log.ts's logger, or pino's in the node agent: the two take the same calls. */
  log: Pick<Logger, 'info' | 'debug'>;
  /** What serves a call; the plugin itself unless a test puts a slow or failing one here. */
  handle?: (env: NodeJS.ProcessEnv, stdin: string) => Promise<Reply>;
}

export const DEFAULT_LIMITS = {
  maxConcurrent: 16,
  maxQueued: 256,
  maxBufferedBytes: 64 * 1024 * 1024,
  requestTimeoutMs: 10_000,
} as const;

export interface CniDaemon {
  readonly socket: string;
  /** Stop accepting, let the running calls finish, remove the socket. */
  close(): Promise<void>;
  /** Resolves when the daemon has closed (by close(), or its server failing). */
  readonly closed: Promise<void>;
}

function runInDaemon(env: NodeJS.ProcessEnv, stdin: string): Promise<Reply> {
  return runPlugin(env, stdin, { captureStderr: true });
}

/** The CNI error document a call the daemon refuses gets, in the request's cniVersion where it has one. */
function errorReply(code: number, msg: string, stdin?: Buffer): Reply {
  let cniVersion: string = LATEST_VERSION;
  try {
    const v = (JSON.parse(stdin?.toString('utf8') ?? '') as { cniVersion?: unknown }).cniVersion;
    if (typeof v === 'string' && v) cniVersion = v;
  } catch {
    // no stdin, or not JSON: the latest version
  }
  return { exitCode: 1, stdout: JSON.stringify({ cniVersion, code, msg }), stderr: '' };
}

/**
 * Buffers one connection's request: the header first, then exactly the sizes it declares. Calls `onRequest` once
 * with the environment and stdin, or `onRefusal` with the reply to send.
 */
function readRequest(
  sock: Socket,
  reserve: (head: RequestHead) => boolean,
  onRequest: (env: NodeJS.ProcessEnv, stdin: Buffer) => void,
  onRefusal: (reply: Reply) => void,
): void {
  const chunks: Buffer[] = [];
  let have = 0;
  let head: RequestHead | undefined;
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    have += chunk.length;
    try {
      if (!head) {
        head = parseRequestHead(Buffer.concat(chunks));
        if (head && !reserve(head)) return stop(errorReply(ErrorCode.tryAgainLater, 'the CNI daemon is busy'));
      }
    } catch (e) {
      return stop(errorReply(ErrorCode.badEnvironment, `CNI daemon: ${(e as FramingError).message}`));
    }
    if (!head) return;
    const total = head.headerBytes + head.envBytes + head.stdinBytes;
    if (have < total) return;
    if (have > total) return stop(errorReply(ErrorCode.badEnvironment, 'CNI daemon: more bytes than the header says'));
    sock.off('data', onData);
    const all = Buffer.concat(chunks);
    const envEnd = head.headerBytes + head.envBytes;
    onRequest(parseEnvBlock(all.subarray(head.headerBytes, envEnd)), all.subarray(envEnd));
  };
  const stop = (reply: Reply) => {
    sock.off('data', onData);
    onRefusal(reply);
  };
  sock.on('data', onData);
}

/** Whether a daemon already answers at `socket` (then this one must not take it over). */
function answers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(socket);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/**
 * Listen on a fresh name, make it 0600, and only then rename it to `socket`: no caller can ever reach the socket
 * while it has bind(2)'s umask-derived mode (unix(7): connecting needs write permission on the socket).
 */
async function listenPrivately(server: Server, socket: string): Promise<void> {
  const fresh = `${socket}.${process.pid}.new`;
  rmSync(fresh, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(fresh, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(fresh, 0o600);
  renameSync(fresh, socket);
}

/** The socket's directory must be the daemon's own: a shared sticky one (/tmp) would let others plant names. */
function requireOwnDirectory(socket: string): void {
  if (!socket.startsWith('/')) throw new Error(`--socket: "${socket}" must be an absolute path`);
  const dir = dirname(socket);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.mode & 0o1000 || st.mode & 0o022 || st.uid !== process.getuid?.())
    throw new Error(`--socket: its directory ${dir} must be a directory of this user's that only it can write to`);
}

export async function startCniDaemon(o: CniDaemonOptions): Promise<CniDaemon> {
  requireOwnDirectory(o.socket);
  const gate = new CallGate(o.maxConcurrent, o.maxQueued, o.maxBufferedBytes);
  // Half-open, so that a caller's end is seen as such: the shim never shuts its side before the reply, so an end
  // before it means the caller has gone (its runtime gave up on it), and its call is not run.
  const server = createServer({ allowHalfOpen: true }, (sock) => serve(sock, gate, o));
  // Every admitted call has a connection, and a few more may be arriving; beyond that the kernel's backlog waits.
  server.maxConnections = o.maxConcurrent + o.maxQueued + 64;
  let started!: () => void;
  let failed!: (e: unknown) => void;
  const up = new Promise<void>((res, rej) => {
    started = res;
    failed = rej;
  });
  let stopServer!: () => void;
  const stopped = new Promise<void>((res) => (stopServer = res));
  // The lock is held for the daemon's whole life, so two daemons never race for one socket name.
  const closed = withLock(
    `${o.socket}.lock`,
    async () => {
      if (await answers(o.socket)) throw new Error(`another CNI daemon answers at ${o.socket}`);
      await listenPrivately(server, o.socket);
      // An accept that fails (EMFILE, ENFILE) is an error event: unheard, it would end the process.
      server.on('error', (e) => o.log.info({ err: e }, 'CNI daemon accept failed'));
      // Its ADDs and DELs skip a fork and exec of ip(8) for their host batch (lib/iproute.ts).
      const releaseSpare = holdSpareHostBatch();
      try {
        started();
        await stopped;
        await new Promise<void>((res) => server.close(() => res()));
        await gate.idle();
      } finally {
        releaseSpare();
      }
      rmSync(o.socket, { force: true });
    },
    500,
  );
  closed.catch(failed);
  await up;
  o.log.info({ socket: o.socket, maxConcurrent: o.maxConcurrent, maxQueued: o.maxQueued }, 'CNI daemon listening');
  return {
    socket: o.socket,
    closed: closed.then(() => undefined),
    close: () => {
      stopServer();
      return closed;
    },
  };
}

/** A reply's stderr beyond this is cut: the shim takes at most 16 MiB of each part, and a log needs far less. */
const MAX_REPLY_STDERR = 1024 * 1024;
/** How long a caller has to read its reply and close before the daemon closes the connection itself. */
const LINGER_MS = 5000;

function bounded(reply: Reply): Reply {
  return reply.stderr.length <= MAX_REPLY_STDERR
    ? reply
    : {
        ...reply,
        stderr: `${reply.stderr.slice(0, MAX_REPLY_STDERR)}\n(stderr cut at ${MAX_REPLY_STDERR} characters)\n`,
      };
}

/** One connection: read its request, run it through the gate, reply, close. */
function serve(sock: Socket, gate: CallGate, o: CniDaemonOptions): void {
  let ticket: Ticket | undefined;
  // A request that never arrived whole frees its ticket on close; an admitted call frees it when it has finished.
  let arrived = false;
  let callerEnded = false;
  const finish = (reply: Reply) => {
    ticket?.release();
    if (sock.destroyed) return;
    sock.end(encodeReply(bounded(reply)));
    setTimeout(() => sock.destroy(), LINGER_MS).unref();
  };
  // A deadline from the connect, not an idle timeout: a request trickled in a byte at a time must not hold its
  // ticket and buffer budget for ever.
  const deadline = setTimeout(() => arrived || sock.destroy(), o.requestTimeoutMs);
  deadline.unref();
  sock.on('error', (e) => o.log.debug({ err: e }, 'CNI daemon connection error'));
  sock.on('end', () => (callerEnded = true));
  sock.on('close', () => {
    clearTimeout(deadline);
    if (!arrived) ticket?.release();
  });
  readRequest(
    sock,
    (head) => {
      ticket = gate.admit(head.envBytes + head.stdinBytes);
      return ticket !== undefined;
    },
    (env, stdin) => {
      arrived = true;
      clearTimeout(deadline);
      const t0 = performance.now();
      void gate
        .run(
          () => !sock.destroyed && !callerEnded,
          () => (o.handle ?? runInDaemon)(env, stdin.toString('utf8')),
        )
        .then(
          (reply) => {
            const fields = { verb: env.CNI_COMMAND, containerID: env.CNI_CONTAINERID, ifname: env.CNI_IFNAME };
            o.log.debug({ ...fields, exitCode: reply?.exitCode, ms: +(performance.now() - t0).toFixed(1) }, 'call');
            finish(reply ?? errorReply(ErrorCode.tryAgainLater, 'the caller left before its turn', stdin));
          },
          (e: Error) => finish(errorReply(ErrorCode.ioFailure, `CNI daemon: ${e.message}`, stdin)),
        );
    },
    finish,
  );
}
