/**
 * The daemon driver: long-running children (dnsmasq, libvirtd) with their
 * output appended to a log file, an exit callback for supervisors, and a
 * stop that escalates from SIGTERM to SIGKILL. Like exec.ts, argv only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';

export interface Daemon {
  readonly pid: number;
  readonly argv: readonly string[];
  /** Resolves with the exit code (or 128+signal) when the process ends. */
  readonly exited: Promise<number>;
  stop(graceMs?: number): Promise<number>;
}

export function startDaemon(argv: readonly string[], logFile: string, env: NodeJS.ProcessEnv = process.env): Daemon {
  const [file, ...args] = argv;
  if (file === undefined) throw new TypeError('startDaemon: empty argv');
  const log = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(file, args, { stdio: ['ignore', log, log], env });
  } finally {
    closeSync(log);
  }
  const exited = new Promise<number>((resolve) => {
    child.on('error', () => resolve(127));
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? 15 : 0)));
  });
  if (child.pid === undefined) throw new Error(`${argv.join(' ')}: could not start`);
  return {
    pid: child.pid,
    argv,
    exited,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * Start a process that outlives its starter (a launcher outlives `virtnet
 * up`): its own session, output to a log file, no handle kept.
 */
export function startDetached(argv: readonly string[], logFile: string, env: NodeJS.ProcessEnv = process.env): number {
  const [file, ...args] = argv;
  if (file === undefined) throw new TypeError('startDetached: empty argv');
  const log = openSync(logFile, 'a');
  try {
    const child = spawn(file, args, { stdio: ['ignore', log, log], env, detached: true });
    if (child.pid === undefined) throw new Error(`${argv.join(' ')}: could not start`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(log);
  }
}
