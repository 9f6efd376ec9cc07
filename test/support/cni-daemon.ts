/**
 * The resident CNI daemon (`virtnet cni-daemon`) in a test "node"
 * namespace, as a node runs it, and a raw client that speaks the framing
 * without the shim.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { decodeReply, encodeRequest, type Reply } from '../../cni/daemon/framing.ts';
import type { Netns } from './netns.ts';

export const CLI = resolve('dist/cli/virtnet');

export interface TestDaemon {
  readonly socket: string;
  readonly process: ChildProcess;
  /** What it wrote to stderr (its log lines). */
  readonly stderr: () => string;
  /** SIGTERM, then the exit; a daemon already gone is fine. */
  stop(): Promise<number | null>;
  /** Resolves with the exit code (null after a signal) once it has exited. */
  readonly exited: Promise<number | null>;
}

export interface DaemonOptions {
  args?: string[];
  env?: Record<string, string>;
}

/** Start a daemon in `node` with its socket in `dir`; resolves once the socket is there. */
export async function startTestDaemon(node: Netns, dir: string, o: DaemonOptions = {}): Promise<TestDaemon> {
  const socket = join(dir, 'cni-daemon', 'cni.sock');
  // A file, not a pipe: a test blocked in spawnSync would not drain a pipe, and the daemon would block on a full one.
  const logFile = join(dir, 'cni-daemon.log');
  mkdirSync(dirname(logFile), { recursive: true });
  const logFd = openSync(logFile, 'a');
  const child = spawn(
    'ip',
    ['netns', 'exec', node.name, process.execPath, CLI, 'cni-daemon', '--socket', socket, ...(o.args ?? [])],
    {
      env: { ...process.env, ...o.env },
      stdio: ['ignore', 'ignore', logFd],
    },
  );
  closeSync(logFd);
  const stderr = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let gone = false;
  void exited.then(() => (gone = true));
  for (const end = Date.now() + 10_000; !existsSync(socket); await new Promise((r) => setTimeout(r, 20))) {
    if (gone || Date.now() > end) {
      child.kill('SIGKILL');
      throw new Error(`cni-daemon did not listen at ${socket}: ${stderr()}`);
    }
  }
  return {
    socket,
    process: child,
    stderr,
    exited,
    stop: () => {
      if (!gone) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** One call over the socket, without the shim: the reply decoded, or the connection's error. */
export function rawCall(socket: string, request: Buffer): Promise<Reply> {
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    const sock = createConnection(socket);
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', reject);
    sock.on('end', () => {
      sock.destroy();
      try {
        resolvePromise(decodeReply(Buffer.concat(chunks)));
      } catch (e) {
        reject(e);
      }
    });
    // As the shim does: no end of our side before the reply, which the daemon would take for a caller gone.
    sock.write(request);
  });
}

/** A CNI call as the shim would make it. */
export function daemonCall(socket: string, env: NodeJS.ProcessEnv, stdin: string): Promise<Reply> {
  return rawCall(socket, encodeRequest(env, stdin));
}
