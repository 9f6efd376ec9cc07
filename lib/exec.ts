/**
 * The exec driver: the only place that starts child processes.
 * Commands are argv arrays, never shell strings. A failure throws an ExecError
 * that carries argv, the exit code and stderr (execa's shortMessage, in small).
 */
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
}

export interface ExecResult {
  argv: readonly string[];
  exitCode: number;
  stdout: string;
  stderr: string;
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
}

/**
 * Start a child now and give it its stdin later: the spawn (a few ms from
 * Node) then overlaps whatever the caller still has to wait for.
 */
export function start(argv: readonly string[], options: Omit<ExecOptions, 'input'> = {}): PendingExec {
  const [file, ...args] = argv;
  if (file === undefined) throw new TypeError('exec: empty argv');
  execStats.spawned++;
  const child = spawn(file, args, {
    env: options.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: options.timeoutMs ?? 30_000,
    killSignal: 'SIGKILL',
  });
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
      const result: ExecResult = {
        argv,
        exitCode: code ?? 128,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (spawnError) return reject(new ExecError(result, spawnError.message));
      if (signal) return reject(new ExecError(result, `killed by ${signal}`));
      if (result.exitCode !== 0 && !options.allowFailure) return reject(new ExecError(result));
      resolve(result);
    });
  });
  return {
    finish(input) {
      child.stdin.end(input);
      return done;
    },
  };
}

/** A child on this terminal (an interactive console): stdio inherited; resolves with its exit code. */
export function interactive(argv: readonly string[]): Promise<number> {
  const [file, ...args] = argv;
  if (file === undefined) throw new TypeError('interactive: empty argv');
  execStats.spawned++;
  const child = spawn(file, args, { stdio: 'inherit' });
  return new Promise((resolve) => {
    child.on('error', () => resolve(127));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 0)));
  });
}
