/**
 * The lab's processes: virtnet-cluster roles started as on a cluster, each
 * with its log in a file, a simulated node's roles inside that node's
 * network namespace (nsenter --net only: they see the host's files, as a
 * DaemonSet with hostPath mounts does).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export interface Role {
  name: string;
  child: ChildProcess;
  log: string;
  exited: Promise<number | null>;
}

const CLUSTER = resolve('dist/cluster/virtnet-cluster');

export function startRole(name: string, args: string[], log: string, netns?: string): Role {
  const fd = openSync(log, 'a');
  const argv = [process.execPath, CLUSTER, ...args];
  const [cmd, ...rest] = netns ? ['nsenter', `--net=/run/netns/${netns}`, '--', ...argv] : argv;
  const child = spawn(cmd!, rest, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { name, child, log, exited };
}

/**
 * Resolve when the role's log has a line with this pino msg; reject, with the log's tail, when it exits first or time
 * runs out.
 */
export async function waitForLog(role: Role, msg: string, timeoutMs = 30_000): Promise<void> {
  let gone = false;
  void role.exited.then(() => (gone = true));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = readFileSync(role.log, 'utf8');
    if (text.split('\n').some((l) => l.includes(`"msg":${JSON.stringify(msg)}`))) return;
    if (gone || Date.now() > deadline) {
      throw new Error(
        `${role.name}: ${gone ? 'exited' : 'timed out'} before "${msg}"; log tail:\n${text.slice(-2000)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopRole(role: Role, graceMs = 10_000): Promise<void> {
  if (role.child.exitCode !== null || role.child.signalCode !== null) return;
  role.child.kill('SIGTERM');
  const timer = setTimeout(() => role.child.kill('SIGKILL'), graceMs);
  await role.exited;
  clearTimeout(timer);
}
