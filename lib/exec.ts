/**
 * The exec driver: the only place that starts child processes.
 * Commands are argv arrays, never shell strings. A failure throws an ExecError
 * that carries argv, the exit code and stderr (execa's shortMessage, in small).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { spawn } from 'node:child_process';
import { ErrorCode, VirtnetError } from './errors.ts';

export interface ExecOptions {
  /** Written to the child's stdin, which is then closed. */
  input?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Resolve with the result instead of throwing when the exit code is not 0. */
  allowFailure?: boolean;
  /** Each complete line of stderr as it comes (progress of a long child); stderr is still collected. */
  onStderrLine?: (line: string) => void;
  /** Also give stdout as the bytes the child wrote (result.stdoutBytes): for output that need not be UTF-8. */
  stdoutBytes?: boolean;
}

export interface ExecResult {
  argv: readonly string[];
  exitCode: number;
  stdout: string;
  stderr: string;
  /** With options.stdoutBytes: stdout exactly as written (decoding replaces bytes that are not UTF-8). */
  stdoutBytes?: Buffer;
}

export class ExecError extends VirtnetError {
  readonly argv: readonly string[];
  readonly exitCode: number;
  readonly stderr: string;
  readonly stdout: string;

  constructor(result: ExecResult, reason?: string) {
    const stderr = result.stderr.trim();
    const why = reason ?? `exit code ${result.exitCode}`;
    super(ErrorCode.execFailed, `${result.argv.join(' ')}: ${why}${stderr ? `: ${stderr}` : ''}`, {
      details: stderr,
    });
    this.argv = result.argv;
    this.exitCode = result.exitCode;
    this.stderr = result.stderr;
    this.stdout = result.stdout;
  }
}

Object.defineProperty(ExecError.prototype, 'name', { value: 'ExecError' });

/** How many children this process has started; tests and benchmarks read it. */
export const execStats = { spawned: 0 };

/** The children of one call, where several run in one process at once (the CNI daemon's). */
const perCall = new AsyncLocalStorage<{ spawned: number }>();

/** Run `fn`, counting the children it and what it awaits start, apart from other calls running meanwhile. */
export function countingChildren<T>(fn: () => Promise<T>): Promise<T> {
  return perCall.run({ spawned: 0 }, fn);
}

/** The children of the call running now (countingChildren), else of the whole process. */
export function childrenOfThisCall(): number {
  return perCall.getStore()?.spawned ?? execStats.spawned;
}

function countSpawn(): void {
  execStats.spawned++;
  const call = perCall.getStore();
  if (call) call.spawned++;
}

export function exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return start(argv, options).finish(options.input ?? '');
}

/** Call `onLine` with each complete line read from `stream`, and with what is left at its end. */
function relayLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let pending = '';
  stream.on('data', (c: Buffer) => {
    const lines = (pending + c.toString('utf8')).split('\n');
    pending = lines.pop()!;
    for (const line of lines) onLine(line);
  });
  stream.on('end', () => pending && onLine(pending));
}

/** A started child whose stdin is still open. */
export interface PendingExec {
  /** Write `input`, close stdin and wait for the exit. */
  finish(input: string): Promise<ExecResult>;
  /** Whether the child has already exited (a spare that died while it waited is not worth its input). */
  readonly exited: boolean;
}

export interface StartOptions extends Omit<ExecOptions, 'input'> {
  /**
   * The child may wait for its input as long as it takes (a spare started
   * ahead of need); the timeout then counts from finish().
   */
  deadlineFromFinish?: boolean;
}

/**
 * Start a child now and give it its stdin later: the spawn (a few ms from
 * Node) then overlaps whatever the caller still has to wait for.
 */
export function start(argv: readonly string[], options: StartOptions = {}): PendingExec {
  const [file, ...args] = argv;
  if (file === undefined) throw new TypeError('exec: empty argv');
  countSpawn();
  const timeoutMs = options.timeoutMs ?? 30_000;
  const child = spawn(file, args, {
    env: options.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(!options.deadlineFromFinish && { timeout: timeoutMs }),
    killSignal: 'SIGKILL',
  });
  let exited = false;
  child.on('exit', () => (exited = true));
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  if (options.onStderrLine) relayLines(child.stderr, options.onStderrLine);
  // A child that exits before reading stdin raises EPIPE; its exit code tells the story.
  child.stdin.on('error', () => {});
  let spawnError: Error | undefined;
  child.on('error', (e) => (spawnError = e));
  const done = new Promise<ExecResult>((resolve, reject) => {
    child.on('close', (code, signal) => {
      const bytes = Buffer.concat(out);
      const result: ExecResult = {
        argv,
        exitCode: code ?? 128,
        stdout: bytes.toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ...(options.stdoutBytes && { stdoutBytes: bytes }),
      };
      if (spawnError) return reject(new ExecError(result, spawnError.message));
      if (signal) return reject(new ExecError(result, `killed by ${signal}`));
      if (result.exitCode !== 0 && !options.allowFailure) return reject(new ExecError(result));
      resolve(result);
    });
  });
  // A child that fails before finish() is called (its timeout, the OOM killer, a netns gone) rejects `done` with
  // nobody awaiting it yet; unhandled, that rejection would end the process, the CNI daemon with all its calls.
  // finish() still returns `done`, so the caller sees the failure.
  done.catch(() => undefined);
  return {
    finish(input) {
      if (options.deadlineFromFinish) {
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        void done.finally(() => clearTimeout(timer)).catch(() => undefined);
      }
      child.stdin.end(input);
      return done;
    },
    get exited() {
      return exited;
    },
  };
}

export interface StreamOptions {
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /**
   * Each chunk of stdout as it comes, never collected: output too big to
   * hold (a decompressed disk, a listing of many entries). A throw stops
   * the child (SIGKILL) and the call rejects with what was thrown, so the
   * callback is where a cap on the output is enforced.
   */
  onStdout: (chunk: Buffer) => void;
}

/**
 * Run a child whose stdout goes to `onStdout` chunk by chunk; stdin is
 * closed at once, stderr collected. Resolves when the child has exited 0
 * and all its stdout has been handed over; the result's stdout is empty.
 */
export function execStreaming(argv: readonly string[], options: StreamOptions): Promise<ExecResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new TypeError('exec: empty argv');
  countSpawn();
  const child = spawn(file, args, {
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: options.timeoutMs ?? 30_000,
    killSignal: 'SIGKILL',
  });
  const err: Buffer[] = [];
  let failure: { error: unknown } | undefined;
  child.stdout.on('data', (c: Buffer) => {
    if (failure) return;
    try {
      options.onStdout(c);
    } catch (e) {
      failure = { error: e };
      child.kill('SIGKILL');
      child.stdout.destroy();
    }
  });
  child.stderr.on('data', (c: Buffer) => err.push(c));
  let spawnError: Error | undefined;
  child.on('error', (e) => (spawnError = e));
  return new Promise<ExecResult>((resolve, reject) => {
    child.on('close', (code, signal) => {
      const result: ExecResult = {
        argv,
        exitCode: code ?? 128,
        stdout: '',
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (failure) return reject(failure.error);
      if (spawnError) return reject(new ExecError(result, spawnError.message));
      if (signal) return reject(new ExecError(result, `killed by ${signal}`));
      if (result.exitCode !== 0) return reject(new ExecError(result));
      resolve(result);
    });
  });
}

/** A child on this terminal (an interactive console): stdio inherited; resolves with its exit code. */
export function interactive(argv: readonly string[]): Promise<number> {
  const [file, ...args] = argv;
  if (file === undefined) throw new TypeError('interactive: empty argv');
  countSpawn();
  const child = spawn(file, args, { stdio: 'inherit' });
  return new Promise((resolve) => {
    child.on('error', () => resolve(127));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 0)));
  });
}

/**
 * A child that stands in for this process (a re-exec under unshare(1)):
 * stdio inherited, SIGTERM and SIGINT passed on, resolves with its exit code
 * (1 when a signal ended it).
 */
export function relay(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [file, ...args] = argv;
  if (file === undefined) throw new TypeError('relay: empty argv');
  countSpawn();
  const child = spawn(file, args, { stdio: 'inherit', env });
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => child.kill(sig));
  return new Promise((resolve) => {
    child.on('error', () => resolve(127));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}
